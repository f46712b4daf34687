"""The consolidation figure draws sweeps and marks where targets break."""

from __future__ import annotations

import math

import numpy as np
import pytest

import iovmodel as iov
from iovmodel.errors import ParameterError
from iovmodel.plot import consolidation, target_breaks


def sweeps():
    w = iov.Workload.closed(2, 4)
    a = iov.Scenario([iov.Guest("virtio-blk", w, vcpus=2)], cores=16)
    b = iov.Scenario([iov.Guest("vhost-scsi", w, vcpus=2)], cores=16)
    return {"virtio-blk": iov.sweep(a, vms=[1, 2, 4, 8, 16]),
            "vhost-scsi": iov.sweep(b, vms=[1, 2, 4, 8, 16])}


def test_target_breaks_is_the_first_vm_count_over_the_target():
    df = sweeps()["virtio-blk"]
    p = df["p99_us"].to_numpy()
    assert np.all(np.diff(p) >= 0) and p[3] > p[2]  # flat until the cores are shared
    b = target_breaks(df, p99_us=0.5 * (p[2] + p[3]), host_cpu=2.0)
    assert b["p99"] == df["vms"].iloc[3]
    assert math.isnan(b["host cpu"])  # never 200 % busy


def test_consolidation_figure_has_three_panels_and_marks():
    s = sweeps()
    axes = consolidation(s, p99_us=float(s["virtio-blk"]["p99_us"].iloc[3]) - 1, host_cpu=0.5)
    assert len(axes) == 3
    # one line per scenario on each panel plus the markers of broken targets
    assert sum(len(a.get_lines()) for a in axes) >= 2 * 3 + 1
    y = axes[0].get_lines()[0].get_ydata()
    assert y[-1] == pytest.approx(s["virtio-blk"]["throughput_per_s"].iloc[-1] / 1e3)


def test_consolidation_bad_input():
    with pytest.raises(ParameterError, match="non-empty mapping"):
        consolidation({})
    with pytest.raises(ParameterError, match="panels"):
        consolidation(sweeps(), panels=("cpu",))
