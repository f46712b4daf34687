"""Reproducibility, executors, engines, errors, output analysis and the result object."""

from __future__ import annotations

import math
import subprocess
import sys
from concurrent.futures import ProcessPoolExecutor

import numpy as np
import pandas as pd
import pytest
import scipy.stats
from _sim_reference import network
from hypothesis import given, settings
from hypothesis import strategies as st

from iovmodel.errors import ParameterError, UnstableError
from iovmodel.solve.sim import SimResult, mser, simulate, simulate_network, t_interval
from iovmodel.solve.sim import dists as D


def kelly_net(rate_per_s=4e5):
    return network("kelly", [("vcpu", math.inf), ("bql", 1), ("dev", 2)],
                   [("guest", 0, 1.0), ("pop", 1, 0.2), ("io", 2, 2.0, 0.0), ("reap", 1, 0.2),
                    ("irq", 1, 0.2, 2.0, 1.0, "batch")], rate_per_s=rate_per_s, batch=2)


def tandem_net(rate_per_s=1.2e6):
    means = [0.1, 0.2, 0.5, 0.3, 0.1]
    return network("tandem", [(f"s{i}", 1) for i in range(5)],
                   [(f"h{i}", i, m) for i, m in enumerate(means)], rate_per_s=rate_per_s)


def closed_net():
    return network("closed", [("vcpu", math.inf), ("bql", 1), ("dev", 4)],
                   [("guest", 0, 1.0), ("kick", 1, 0.3, 1.0, 1.0, "batch"), ("io", 2, 3.0),
                    ("irq", 1, 0.3, 1.0, 1.0, "batch")], population=16, think_us=1.0, batch=4)


KW = dict(requests=5_000, replications=4, progress=False)


def same(a: SimResult, b: SimResult) -> None:
    pd.testing.assert_frame_equal(a.replications, b.replications, check_exact=True)
    pd.testing.assert_frame_equal(a.breakdown, b.breakdown, check_exact=True)
    pd.testing.assert_frame_equal(a.histogram, b.histogram, check_exact=True)


# ---------------------------------------------------------------- reproducibility


@pytest.mark.parametrize("make", [kelly_net, tandem_net, closed_net])
def test_same_seed_same_numbers_different_seed_different(make):
    a = simulate_network(make(), seed=7, **KW)
    b = simulate_network(make(), seed=7, **KW)
    same(a, b)
    c = simulate_network(make(), seed=8, **KW)
    assert c.latency_us != a.latency_us
    # replications are distinct streams
    assert a.replications["latency_us"].nunique() == 4
    assert a.seed == 7


def test_seed_none_is_reported_and_reproduces():
    a = simulate_network(tandem_net(), seed=None, **KW)
    b = simulate_network(tandem_net(), seed=a.seed, **KW)
    same(a, b)


def test_process_pool_is_bit_identical_to_serial():
    serial = simulate_network(kelly_net(), seed=3, **KW)
    with ProcessPoolExecutor(max_workers=2) as ex:
        par = simulate_network(kelly_net(), seed=3, executor=ex, **KW)
    same(serial, par)


@pytest.mark.slow
def test_dask_local_cluster_is_bit_identical_to_serial():
    distributed = pytest.importorskip("distributed")
    serial = simulate_network(closed_net(), seed=11, **KW)
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=None) as cluster, \
            distributed.Client(cluster) as client:
        # the default pure=True would merge identical tasks: replications differ by seed
        # and index, so none is merged
        par = simulate_network(closed_net(), seed=11, executor=client.get_executor(), **KW)
    same(serial, par)
    assert par.replications["latency_us"].nunique() == 4


# ---------------------------------------------------------------- engines


def test_recursion_and_event_loop_give_the_same_numbers():
    # single-server FIFO tandem: same streams, same arithmetic, same order
    a = simulate_network(tandem_net(), seed=5, engine="event", **KW)
    b = simulate_network(tandem_net(), seed=5, engine="recursion", **KW)
    assert a.engine == "event" and b.engine == "recursion"
    np.testing.assert_allclose(a.replications["latency_us"], b.replications["latency_us"],
                               rtol=1e-12)
    np.testing.assert_allclose(a.replications["p99_us"], b.replications["p99_us"], rtol=1e-12)


def _mixed_net(**fields):
    """Open: a private single server, shared single servers, a 2-server station, a
    delay and a fractional visit (lognormal services: no ties)."""
    import dataclasses

    net = network("mixed", [("vcpu", 1), ("a", 1), ("b", 2), ("wire", math.inf), ("c", 1)],
                  [("sub", 0, 0.6, 2.0), ("a1", 1, 0.3, 0.5), ("b1", 2, 0.8),
                   ("w", 3, 0.4), ("c1", 4, 0.2), ("c2", 4, 0.1, 1.0, 0.5), ("a2", 1, 0.2)],
                  rate_per_s=7e5)
    sts = tuple(dataclasses.replace(s, private=s.name == "vcpu") for s in net.stations)
    return dataclasses.replace(net, stations=sts, **fields)


@pytest.mark.parametrize("mixed, fields, modes", [
    # shared stations visited once in a row chain, through to the end
    (False, {}, "CCCCC"),
    # the in-flight gate sees completions at their time: an event at the last departure
    (False, {"inflight": 3}, "CCCCA"),
    # a at steps 1 and 6, c at 4 and 5: visited twice, queued as before; b has 2 servers
    (True, {}, "AGGGGGG"),
    # the private station's departures are in order per group only: an event before the
    # shared station
    (True, {"groups": (0.3, 0.7)}, "AGGGGGG"),
])
def test_steps_decided_ahead_give_the_event_loops_numbers(mixed, fields, modes):
    # a FIFO single-server visit decided at entry (Lindley inside the event loop) gives
    # the same latencies, percentiles and throughput as queueing it with events: same
    # streams, same arithmetic, same order (only the block a wait is counted in moves).
    # Private instances share their step's stream: decided ahead, it is handed out in
    # arrival order instead of start order, the same law (test_sim_resources checks
    # that case against M/M/1 closed forms), so there only the modes are compared here.
    import dataclasses

    from iovmodel.solve.sim import engine as E
    from iovmodel.solve.sim import events as K

    net = _mixed_net(**fields) if mixed else dataclasses.replace(tandem_net(1.6e6), **fields)
    spec = E.compile_network(net)
    code = {K.GENERAL: "G", K.AHEAD: "A", K.CHAIN: "C"}
    assert "".join(code[int(m)] for m in spec.st_fast) == modes
    general = dataclasses.replace(spec, st_fast=np.full_like(spec.st_fast, K.GENERAL))
    ss = np.random.SeedSequence(3)
    a = E.replicate(spec, 20_000, ss, 0.1, engine="event")
    b = E.replicate(general, 20_000, ss, 0.1, engine="event")
    if "groups" in fields:
        assert a["latency_us"] == pytest.approx(b["latency_us"], rel=0.03)
        return
    for key in ("latency_us", "throughput_per_s", "sim_time_us"):
        assert a[key] == b[key], key
    np.testing.assert_array_equal(a["percentiles_us"], b["percentiles_us"])
    np.testing.assert_array_equal(a["hist"], b["hist"])
    np.testing.assert_allclose(a["utilization"], b["utilization"], rtol=0.02)


def test_auto_engine_choice():
    assert simulate_network(tandem_net(), seed=1, **KW).engine == "recursion"
    assert simulate_network(kelly_net(), seed=1, **KW).engine == "event"
    assert simulate_network(closed_net(), seed=1, **KW).engine == "event"
    with pytest.raises(ParameterError, match="engine='recursion'"):
        simulate_network(closed_net(), seed=1, engine="recursion", **KW)


def test_event_loop_grows_its_arrays():
    # 2000 requests in flight at the start: the slot pool, heap and queue grow on demand
    net = network("big", [("q", 1), ("d", math.inf)], [("a", 0, 0.01), ("b", 1, 5.0)],
                  population=2000)
    r = simulate_network(net, requests=20_000, replications=1, seed=1, progress=False)
    # Little: X (R + Z) = N
    assert r.throughput_per_s / 1e6 * r.latency_us == pytest.approx(2000, rel=0.02)
    # open network near saturation: queues far beyond the initial capacity
    net = network("busy", [("q", 1)], [("a", 0, 1.0)], rate_per_s=0.99e6)
    r = simulate_network(net, requests=50_000, replications=1, seed=1, progress=False,
                         engine="event", warmup=0)
    assert r.latency_us > 20
    # ~10^4 requests (5000 batches) in flight: slot pool, heap and batch pool grow
    net = network("batches", [("d", math.inf), ("k", 1)],
                  [("a", 0, 1000.0, 0.0), ("kick", 1, 0.05, 1.0, 1.0, "batch")],
                  rate_per_s=1e7, batch=2)
    r = simulate_network(net, requests=60_000, replications=1, seed=1, progress=False,
                         warmup=0.25)
    assert r.throughput_per_s == pytest.approx(1e7, rel=0.05)
    assert r.utilization["k"] == pytest.approx(1e7 / 2 * 0.05e-6, rel=0.05)
    assert r.latency_us == pytest.approx(1000.0, rel=0.01)


# ---------------------------------------------------------------- progress


def test_progress_bar_on_and_off(capsys, monkeypatch):
    import iovmodel.solve.sim as sim

    monkeypatch.delenv("CI", raising=False)
    # a run of a few ms stays silent: the bar is for runs that need more than ~1 s
    simulate_network(tandem_net(), seed=1, requests=2_000, replications=4, progress=True)
    assert capsys.readouterr().err == ""
    # with no threshold the bar appears once a rate is measured (after the first update)
    monkeypatch.setattr(sim, "PROGRESS_AFTER_S", 0.0)
    simulate_network(tandem_net(), seed=1, requests=2_000, replications=4, progress=True)
    assert "simulate tandem" in capsys.readouterr().err
    simulate_network(tandem_net(), seed=1, requests=2_000, replications=4, progress=False)
    assert capsys.readouterr().err == ""
    monkeypatch.setenv("CI", "1")
    simulate_network(tandem_net(), seed=1, requests=2_000, replications=4, progress=True)
    assert capsys.readouterr().err == ""


def test_progress_eta_ignores_the_first_update(monkeypatch):
    # the first update carries the kernel compile / load time: the rate starts after it
    import iovmodel.solve.sim as sim

    monkeypatch.delenv("CI", raising=False)
    clock = iter([100.0, 100.1, 100.2])
    monkeypatch.setattr(sim.time, "perf_counter", lambda: next(clock))
    p = sim._Progress(total=100, enabled=True, desc="x")
    p.update(10)  # at t = 100 after a long compile: only marks
    assert p.bar is None
    p.update(10)  # 10 more in 0.1 s: 80 left need 0.8 s < 1 s
    assert p.bar is None
    p.update(1)  # 11 in 0.2 s since the mark: 79 left need 1.4 s
    assert p.bar is not None and p.bar.n == 21
    p.close()


# ---------------------------------------------------------------- errors


@pytest.mark.parametrize("kw, match", [
    ({"requests": 10}, "requests"),
    ({"requests": 1.5e4}, "requests"),
    ({"replications": 0}, "replications"),
    ({"seed": -1}, "seed"),
    ({"seed": "x"}, "seed"),
    ({"warmup": "welch"}, "warmup"),
    ({"warmup": 0.7}, "warmup"),
    ({"warmup": 10**6}, "warmup"),
    ({"engine": "gpu"}, "engine"),
    ({"dists": {"nope": "exponential"}}, "nope"),
    ({"dists": {"h0": "weibull"}}, "h0"),
    ({"dists": {"h0": object()}}, "h0"),
    ({"dists": {"h0": [1.0, -2.0]}}, "h0"),
])
def test_bad_arguments_name_the_parameter(kw, match):
    args = dict(KW, seed=1) | kw
    with pytest.raises(ParameterError, match=match):
        simulate_network(tandem_net(), **args)


def test_unstable_open_load_names_the_station():
    with pytest.raises(UnstableError, match="'s2'.*>= 1"):
        simulate_network(tandem_net(rate_per_s=2.1e6), **KW)


def test_bad_networks():
    with pytest.raises(ParameterError, match="servers"):
        simulate_network(network("x", [("q", 1.5)], [("a", 0, 1.0)], rate_per_s=1e5), **KW)
    with pytest.raises(ParameterError, match="batch"):
        simulate_network(network("x", [("q", 1)], [("a", 0, 1.0)], population=2, batch=4), **KW)
    with pytest.raises(ParameterError, match="mean_us"):
        simulate_network(network("x", [("q", 1)], [("a", 0, -1.0)], rate_per_s=1e5), **KW)


def test_simulate_rejects_host_with_a_network():
    from iovmodel.spec.profile import HostProfile

    with pytest.raises(ParameterError, match="Network"):
        simulate(tandem_net(), HostProfile.default(), **KW)


# ---------------------------------------------------------------- distributions


@pytest.mark.parametrize("dist, mean, scv", [
    (D.exponential(), 2.0, 1.0),
    (D.deterministic(), 2.0, 0.0),
    (D.erlang(3), 2.0, 1 / 3),
    (D.gamma(4.0), 2.0, 4.0),
    (D.lognormal(2.0), 2.0, 2.0),
    (D.uniform(), 2.0, 1 / 3),
    (D.scipy_dist(scipy.stats.weibull_min(1.5, scale=2.0)), None, None),
])
def test_bulk_samplers_have_the_declared_moments(dist, mean, scv):
    if mean is None:  # scipy: its own moments
        fz = dist.frozen
        mean, scv = fz.mean(), fz.var() / fz.mean() ** 2
    x = dist.sampler(2.0)(np.random.default_rng(1), 400_000)
    # 6 standard errors of the mean (the variance is finite for all of these)
    se = math.sqrt(scv) * mean / math.sqrt(x.size)
    assert abs(x.mean() - mean) <= 6 * se + 1e-12
    assert x.var() / x.mean() ** 2 == pytest.approx(scv, rel=0.05, abs=1e-9)
    assert dist.mean_us(2.0) == pytest.approx(mean)


def test_default_dist_follows_scv_and_switch():
    assert D.default_dist(0.0).family == "deterministic"
    assert D.default_dist(1.0).family == "exponential"
    assert D.default_dist(0.25) == D.gamma(0.25)
    assert D.default_dist(1.0, "poll").family == "uniform"


def test_empirical_and_scipy_overrides_change_the_simulation():
    net = network("one", [("q", 1)], [("serve", 0, 1.0)], rate_per_s=1e5)
    a = simulate_network(net, seed=1, **KW)
    b = simulate_network(net, seed=1, dists={"serve": np.full(10, 3.0)}, **KW)
    c = simulate_network(net, seed=1, dists={"serve": scipy.stats.uniform(0, 6.0)}, **KW)
    assert a.latency_us == pytest.approx(1.1, rel=0.1)  # M/M/1 at rho 0.1: 1/(1-0.1) µs
    assert b.percentiles_us["p50"] >= 3.0  # every service is 3 µs
    assert c.latency_us > 2.5


# ---------------------------------------------------------------- output analysis


def test_mser5_finds_an_initial_transient():
    rng = np.random.default_rng(2)
    x = np.concatenate([np.linspace(50.0, 0.0, 1000), np.zeros(19_000)]) + rng.normal(0, 1, 20_000)
    d = mser(x)
    assert d % 5 == 0
    assert 600 <= d <= 1200
    # a stationary sequence keeps almost everything
    assert mser(rng.normal(0, 1, 20_000)) < 10_000


@given(st.lists(st.floats(-1e3, 1e3), min_size=2, max_size=30), st.sampled_from([0.9, 0.95, 0.99]))
@settings(max_examples=50, deadline=None, derandomize=True)
def test_t_interval_matches_scipy(values, level):
    v = np.asarray(values)
    lo, hi = t_interval(v, level)
    if v.std(ddof=1) == 0:
        assert lo == pytest.approx(v.mean()) and hi == pytest.approx(v.mean())
        return
    ref = scipy.stats.t.interval(level, v.size - 1, loc=v.mean(), scale=scipy.stats.sem(v))
    assert (lo, hi) == pytest.approx(ref, rel=1e-9, abs=1e-9)


@given(st.integers(1, 400), st.floats(0.5001, 0.99999))
@settings(max_examples=200, deadline=None, derandomize=True)
def test_t_quantile_matches_scipy(df, p):
    from iovmodel.solve.sim.stats import t_quantile

    assert t_quantile(p, df) == pytest.approx(scipy.stats.t.ppf(p, df), rel=1e-9)


def test_one_replication_has_no_interval():
    r = simulate_network(tandem_net(), seed=1, requests=2_000, replications=1, progress=False)
    assert all(math.isnan(v) for v in r.latency_ci_us)


# ---------------------------------------------------------------- result object


def test_simresult_presents_itself():
    r = simulate_network(kelly_net(), seed=2, **KW)
    text = repr(r)
    assert text.startswith("<SimResult kelly:") and "np.float64" not in text and len(text) < 160
    html = r._repr_html_()
    assert "<table" in html and "95% CI" in html
    f = r.to_frame()
    assert len(f) == 1
    for col in ("throughput_per_s", "latency_us", "latency_ci_low_us", "latency_ci_high_us",
                "throughput_ci_low_per_s", "p99_us", "p99.9_us", "util_bql", "solver"):
        assert col in f
    assert f["solver"].iloc[0] == "simulation"
    lo, hi = r.latency_ci_us
    assert lo < r.latency_us < hi
    lo99, hi99 = r.interval("latency_us", 0.99)
    assert lo99 < lo and hi < hi99
    with pytest.raises(ParameterError, match="metric"):
        r.interval("nope")
    # histogram: counts of the recorded (post-warm-up) requests, a density integrating to 1
    h = r.histogram
    assert h["count"].sum() == r.replications["requests"].sum()
    assert (h["density_per_us"] * (h["hi_us"] - h["lo_us"])).sum() == pytest.approx(1.0)
    # percentiles increase
    p = list(r.percentiles_us.values())
    assert list(r.percentiles_us) == ["p50", "p90", "p99", "p99.9"] and p == sorted(p)
    # breakdown has the analytic Result's columns, one row per hop
    assert list(r.breakdown.columns) == ["hop", "resource", "switch", "count", "service_us",
                                         "wait_us", "latency_us"]
    assert len(r.breakdown) == 5


def test_plot_latency_returns_axes():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    r = simulate_network(kelly_net(), seed=2, **KW)
    ax = r.plot_latency()
    assert ax.get_xscale() == "log" and ax.get_xlabel() == "latency (µs)"
    assert len(ax.patches) == 1  # the histogram
    plt.close(ax.figure)


def test_import_compiles_nothing():
    code = ("import iovmodel, iovmodel.solve.sim, iovmodel.solve.sim.kernel as k; "
            "print(len(k.run.signatures), len(k.fifo_pass.signatures))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["0", "0"]


@pytest.mark.parametrize("per, count, batch", [("batch", 0.5, 2), ("io", 0.1, 1), ("batch", 0.1, 4)])
def test_rare_visits_with_no_think_time(per, count, batch):
    # regression: a closed request whose only visit is often skipped used to loop in zero
    # time inside one event, past the end of its buffers
    # (the fork-join kernel path: with amortised batching a per-batch visit is a per-I/O one)
    net = network("rare", [("q", 1)], [("a", 0, 1.0, 1.0, count, per)], population=batch,
                  batch=batch)
    r = simulate_network(net, requests=20_000, replications=2, seed=1, progress=False,
                         batching="fork-join")
    # the server is busy whenever a visit happens: utilisation 1, X x demand = 1
    assert r.utilization["q"] == pytest.approx(1.0)
    assert r.throughput_per_s / 1e6 * net.stations[0].demand_us == pytest.approx(1.0, rel=0.1)


@given(st.lists(st.floats(2.0**-10, 2.0**27, exclude_max=True), min_size=1, max_size=200))
@settings(max_examples=50, deadline=None, derandomize=True)
def test_log_hist_matches_numpy_histogram(xs):
    from iovmodel.solve.sim import stats
    from iovmodel.solve.sim.engine import HIST_EDGES_US, HIST_LO_EXP, HIST_SUB_BITS

    x = np.array(xs)
    got = stats.log_hist(x, HIST_LO_EXP, HIST_SUB_BITS, HIST_EDGES_US.size - 1)
    want, _ = np.histogram(x, HIST_EDGES_US)
    np.testing.assert_array_equal(got, want)


def test_log_hist_end_bins():
    # outside the grid: zero, negative and tiny values count in the first bin, huge and
    # infinite ones in the last (the histogram's edges widened to -inf and +inf)
    from iovmodel.solve.sim import stats
    from iovmodel.solve.sim.engine import HIST_EDGES_US, HIST_LO_EXP, HIST_SUB_BITS

    x = np.array([0.0, -0.0, -3.0, 1e-300, 2.0**-11, 2.0**-10, 1.0, 2.0**27, 1e300, np.inf])
    got = stats.log_hist(x, HIST_LO_EXP, HIST_SUB_BITS, HIST_EDGES_US.size - 1)
    edges = HIST_EDGES_US.copy()
    edges[0], edges[-1] = -np.inf, np.inf
    want, _ = np.histogram(x, edges)
    np.testing.assert_array_equal(got, want)
    assert got[0] == 6 and got[-1] == 3
