"""The fit's fast path against a fresh prediction of each row on its own.

A fit evaluates one ``_Model`` at many points: networks are rebuilt from prepared templates
keeping the visits and stations whose costs did not move, solutions and row values are
remembered with the network entry they came from. None of it may change a number: at every
point, each row must be what a model that never saw another point predicts for that row
alone (within 1e-9 relative). The points move costs the rows read, several at once, then one,
then come back, so a stale visit, station, solution or row value fails here.
"""

from __future__ import annotations

import importlib
import warnings

import numpy as np
import pandas as pd
import pytest

import iovmodel as iov
from iovmodel.calibrate.predict import _Model
from iovmodel.calibrate.rows import _parse
from iovmodel.fit import predict, predictable
from iovmodel.spec.profile import HostProfile

_fit = importlib.import_module("iovmodel.calibrate.fit")

#: closed block rows, exits, open and saturated rows, network exchanges, streams and floods
DATASETS = ["exit_rates", "firecracker_docs", "io_comparisons", "kata_ci_net", "network_misc",
            "qemu_nvme_userspace", "xen_blk_multiqueue"]


def _rows(name: str) -> pd.DataFrame:
    df = iov.datasets.load(name)
    return df[predictable(df)["predictable"].to_numpy()].reset_index(drop=True)


def _points(rows) -> list[HostProfile]:
    """The default profile; every third cost the rows read moved; one cost moved; back;
    every cost moved, each by its own factor."""
    host = HostProfile.default()
    used = [k for k in _fit._used_costs(rows) if not _fit._is_count(k)]
    several = host.replace(**{k: host[k] * 1.3 for k in used[::3]})
    one = host.replace(**{used[-1]: host[used[-1]] * 0.7})
    every = host.replace(**{k: host[k] * (1.1 + 0.01 * i) for i, k in enumerate(used)})
    return [host, several, one, host, every, several]


def _alone(df: pd.DataFrame, host: HostProfile) -> np.ndarray:
    """Each row predicted by a model of its own (nothing remembered from other rows)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return np.array([predict(df.iloc[[i]], host)["predicted"].iloc[0]
                         for i in range(len(df))])


@pytest.mark.parametrize("name", DATASETS)
def test_the_fast_path_predicts_each_row_as_a_fresh_model(name):
    df = _rows(name)
    rows, _ = _parse(df)
    model = _Model(rows)
    checked = 0
    for host in _points(rows):
        got = model.predict(host)
        want = _alone(df, host)
        ok = np.isfinite(want)
        assert np.array_equal(ok, np.isfinite(got)), name
        np.testing.assert_allclose(got[ok], want[ok], rtol=1e-9, atol=0)
        checked += int(ok.sum())
    assert checked >= len(df)


def test_the_datasets_cover_every_kind_of_row():
    # the cross-check above means something only if the rows take every branch of predict
    kinds = set()
    for name in DATASETS:
        rows, _ = _parse(_rows(name))
        for r in rows:
            t = r.workload.traffic
            kinds.add(t.kind if t is not None else "open" if r.workload.is_open
                      else "saturated" if r.saturated else "closed")
            if r.metric.startswith("exits"):
                kinds.add("exits")
    assert {"closed", "open", "exits", "rr", "stream"} <= kinds, kinds


@pytest.mark.parametrize("name", ["kata_ci_net", "network_misc", "io_comparisons",
                                  "xen_blk_multiqueue"])
def test_a_rebuild_of_the_same_network_shares_its_solutions(name):
    # a network path reads the traffic costs (host_reads) though a stream's route uses no
    # guest_pkt_us: moving it alone, or coming back to a point, rebuilds a network of the
    # same route costs; xen's block sizes within one page make one network: the memo
    # entries share their solutions (_Model._solved); the rows must stay those of a fresh
    # model at every point
    df = _rows(name)
    rows, _ = _parse(df)
    model = _Model(rows)
    host = HostProfile.default()
    used = [k for k in _fit._used_costs(rows) if not _fit._is_count(k)]
    pkt = host.replace(guest_pkt_us=host["guest_pkt_us"] * 1.5)
    moved = pkt.replace(**{used[0]: host[used[0]] * 1.2})
    for h in (host, pkt, moved, pkt, host):
        got = model.predict(h)
        want = _alone(df, h)
        ok = np.isfinite(want)
        assert np.array_equal(ok, np.isfinite(got)), name
        np.testing.assert_allclose(got[ok], want[ok], rtol=1e-9, atol=0)
    shared = len({id(sols) for _, sols in model._memo.values()})
    assert shared < len(model._memo), "no memo entry shared its network's solutions"
