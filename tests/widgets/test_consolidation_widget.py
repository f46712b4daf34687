"""The consolidation explorer is a view of ``iov.sweep(scenario, vms=...)``: what it holds is
what sweep gives at the controls' setting; errors go to its Output widget."""

from __future__ import annotations

import pandas as pd

import iovmodel as iov
from iovmodel.widgets import consolidation_explorer


def test_explorer_shows_the_sweep_of_its_controls():
    w = iov.Workload.closed(2, 4)
    sc = {"virtio-blk": iov.Scenario([iov.Guest("virtio-blk", w, vcpus=2)], cores=16),
          "vhost-scsi": iov.Scenario([iov.Guest("vhost-scsi", w, vcpus=2)], cores=16)}
    ex = consolidation_explorer(sc, max_vms=8)
    assert set(ex.frames) == set(sc)
    vms = list(ex.frames["virtio-blk"]["vms_per_guest"])
    want = iov.sweep(sc["virtio-blk"], vms=vms)
    pd.testing.assert_series_equal(ex.frames["virtio-blk"]["throughput_per_s"],
                                   want["throughput_per_s"])
    ex.cores.value = 4  # fewer cores: the sweep follows
    want4 = iov.sweep(sc["vhost-scsi"].replace(cores=4.0), vms=vms)
    pd.testing.assert_series_equal(ex.frames["vhost-scsi"]["throughput_per_s"],
                                   want4["throughput_per_s"])


def test_explorer_errors_are_shown_not_lost():
    w = iov.Workload.closed(1, 1)
    sc = {"a": iov.Scenario([iov.Guest("vhost-user-blk", w)], shared={"backend": 2}, cores=8)}
    ex = consolidation_explorer(sc, max_vms=4)
    ex.cores.value = 2  # 2 polling back-end threads on 2 cores: a ParameterError
    assert "ParameterError" in "".join(o.get("text", "") for o in ex.errors.outputs)
    assert "2 core" in ex.last_error
