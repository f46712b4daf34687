"""The fit's network memo: keyed on the values a path reads, so it can never serve a stale
network. A path that starts reading a host cost some other way (not in a hop's cost
expression or a resource's server count) fails here, for every catalog path."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

import iovmodel as iov
from iovmodel.calibrate.predict import _Model, host_reads
from iovmodel.network import build
from iovmodel.spec.catalog import path as get_path
from iovmodel.spec.profile import HostProfile
from iovmodel.spec.workload import Workload

WORKLOADS = [Workload.closed(jobs=2, iodepth=4), Workload.open(5000.0)]


def _numbers(net) -> tuple:
    return (tuple((v.station, v.mean_us, v.count, v.scv) for v in net.route),
            tuple((s.name, s.servers, s.demand_us, s.visits) for s in net.stations))


@pytest.mark.parametrize("name", list(iov.paths()["name"]))
def test_costs_a_path_does_not_read_do_not_change_its_network(name):
    p = get_path(name)
    host = HostProfile.default()
    reads = set(host_reads(p))
    others = [k for k in host if k not in reads]
    for w in WORKLOADS:
        base = _numbers(build(p, host, w))
        # every unread cost at once, moved well off its default
        # (whole numbers stay whole: counts must be)
        moved = host.replace(**{k: host[k] * 2 + 1 for k in others})
        assert _numbers(build(p, moved, w)) == base, (
            f"{name}: the network changed when only costs outside host_reads() moved")


def test_predicting_only_some_rows_gives_those_rows_as_predicting_all():
    # a Jacobian column group asks only the rows its costs move: those must be the values
    # of a full prediction at the same point, the groups none of whose rows it asks NaN
    from iovmodel.calibrate.rows import _parse

    df = pd.concat([iov.datasets.load(n) for n in ("xen_blk_multiqueue", "io_comparisons")],
                   ignore_index=True)
    df = df[iov.fit.predictable(df).predictable.to_numpy()]
    rows, _ = _parse(df.reset_index(drop=True))
    host = HostProfile.default()
    full = _Model(rows).predict(host)
    rng = np.random.default_rng(7)
    for _ in range(3):
        only = rng.random(len(rows)) < 0.2
        m = _Model(rows)
        part = m.predict(host, only=only)
        np.testing.assert_array_equal(part[only], full[only])
        asked = np.zeros(len(rows), dtype=bool)
        for g in m.groups:
            asked[g] = only[g].any()
        assert np.isnan(part[~asked]).all()
        np.testing.assert_array_equal(part[asked], full[asked])


def test_memo_gives_the_same_fit_as_no_memo(monkeypatch):
    df = iov.datasets.load("xen_blk_multiqueue")
    df = df[iov.fit.predictable(df).predictable.to_numpy()]
    # the locks' warm starts depend on what was solved before (next test): off here, so
    # the memo alone is compared, bit for bit
    monkeypatch.setattr(_Model, "WARM_LOCKS", False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        a = iov.fit(df)
        monkeypatch.setattr(_Model, "MEMO_SIZE", 0)  # start afresh at every network
        b = iov.fit(df)
    assert a.mape == b.mape
    for k in a.free:
        assert a.profile[k] == b.profile[k]
    np.testing.assert_array_equal(a.residuals["predicted"], b.residuals["predicted"])


def test_warm_started_locks_give_the_cold_fit_within_its_posterior(monkeypatch):
    # xen_blk_multiqueue's S13/S14 rows wait at blkfront's io_lock: the fit's Jacobian
    # solves each row's lock at costs a step apart, from the waiters it found last. Those
    # predictions differ from the cold start's (W = 0 every time) within the waiters'
    # tolerance, so the fit may stop elsewhere in its flat valley (the stop rule,
    # tests/fit/test_stop.py): every cost within half a posterior standard deviation of
    # the cold fit's, and the same median error to 0.1 point
    df = iov.datasets.load("xen_blk_multiqueue")
    df = df[iov.fit.predictable(df).predictable.to_numpy()]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        warm = iov.fit(df)
        monkeypatch.setattr(_Model, "WARM_LOCKS", False)
        cold = iov.fit(df)
    assert abs(warm.mape - cold.mape) < 0.1
    p, q = warm.params, cold.params
    sd = np.log(q["ci_hi"] / q["ci_lo"]) / (2 * 1.959964)  # log sd from the 95 % interval
    moved = np.abs(np.log(p["value"] / q["value"]))
    assert float((moved / sd).max()) < 0.5, (moved / sd).sort_values().tail(3)
