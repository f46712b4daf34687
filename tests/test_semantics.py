"""Issue 10, "one network, one meaning": a regression test for each disagreement the issue
lists between analyze, iovmodel.symbolic and the simulator (batch, polling, servers,
Schweitzer), and the Network invariants and shared questions they now all call.

Truths come from outside the code: closed forms (M/M/1, a uniform poll residual), exact MVA,
and cross-checks between the three solvers. Simulations use fixed seeds.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

import iovmodel as iov
import iovmodel.symbolic as S
from iovmodel.errors import ParameterError, UnstableError
from iovmodel.network import Network, Station, Visit, aggregate
from iovmodel.solve.analytic import mm1, mva, schweitzer_mva
from iovmodel.solve.open import solve_open
from iovmodel.solve.sim import simulate_network

HOST = iov.HostProfile.default()
SIM = {"requests": 40_000, "replications": 6, "seed": 10, "progress": False}


def _sym(p, w) -> float:
    return float(S.latency(p, w).subs(dict(HOST)))


def _within(sim, value: float, k: float = 3.0) -> None:
    lo, hi = sim.latency_ci_us
    half = (hi - lo) / 2
    assert abs(sim.latency_us - value) <= k * half, (sim.latency_us, (lo, hi), value)


# ------------------------------------------------------------------------------ batch
@pytest.mark.parametrize("batch", [4, 2.5])
def test_batch_is_amortised_notification_in_all_three_solvers(batch):
    # issue 10: virtio-blk at 20k IO/s, batch=4 gave 49.2 µs (analyze, symbolic) but 176.7 µs
    # (simulate); a fractional batch was truncated by symbolic and refused by simulate
    w = iov.Workload.open(2e4, batch=batch)
    a = iov.analyze("virtio-blk", HOST, w).latency_us
    assert _sym("virtio-blk", w) == pytest.approx(a, rel=1e-12)
    _within(iov.simulate("virtio-blk", HOST, w, **SIM), a)


def test_fractional_batch_is_not_truncated_by_symbolic():
    lat = {b: iov.analyze("virtio-blk", HOST, iov.Workload.open(2e4, batch=b)).latency_us
           for b in (2, 2.5, 3)}
    assert lat[2] > lat[2.5] > lat[3]  # per-batch hops cost 1/b per I/O: strictly between
    assert _sym("virtio-blk", iov.Workload.open(2e4, batch=2.5)) == pytest.approx(lat[2.5], rel=1e-12)


def test_amortised_kick_is_a_thinned_poisson_mm1():
    # one kick of 1 µs per batch of b at a single server: each request carries it with
    # probability 1/b, so the kick station sees Poisson arrivals at lam/b (thinning) and the
    # mean latency per I/O is (1/b) s / (1 - lam s / b) (M/M/1, Kleinrock vol. 1 s.3.2)
    b, s, lam = 4, 1.0, 2.8  # per µs: rho = 0.7
    st = aggregate((Visit("kick", 0, s, 1.0, 1.0, "batch"),), ["kick"], [1], [True], b)
    net = Network("kick", st, (Visit("kick", 0, s, 1.0, 1.0, "batch"),), batch=b,
                  rate_per_s=lam * 1e6)
    exact = float(mm1(lam / b, 1 / s).W) / b
    assert solve_open(net, lam * 1e6)[0] == pytest.approx(exact, rel=1e-12)
    r = simulate_network(net, **SIM)
    _within(r, exact)
    assert r.utilization["kick"] == pytest.approx(0.7, abs=0.01)


def test_fork_join_is_a_named_simulator_option():
    w = iov.Workload.open(2e4, batch=4)
    fj = iov.simulate("virtio-blk", HOST, w, batching="fork-join", **SIM).latency_us
    assert fj > 2 * iov.analyze("virtio-blk", HOST, w).latency_us  # waiting for batch-mates
    with pytest.raises(ParameterError, match="whole batch"):
        iov.simulate("virtio-blk", HOST, iov.Workload.open(2e4, batch=2.5), batching="fork-join",
                     **SIM)
    with pytest.raises(ParameterError, match="batching"):
        iov.simulate("virtio-blk", HOST, w, batching="leader", **SIM)
    with pytest.raises(ParameterError, match="fork-join.*simulate"):
        iov.analyze("virtio-blk", HOST, w, batching="fork-join")


def test_batch_larger_than_the_population_is_refused():
    # issue 10: analyze accepted batch=8 with jobs=1 (+15 % throughput from a batch that
    # never fills); simulate refused it
    with pytest.raises(ParameterError, match="batch 8 > population 1"):
        iov.Workload.closed(1, 1, batch=8)
    with pytest.raises(ParameterError, match="batch"):
        iov.analyze("virtio-blk", HOST, iov.Workload.closed(2, 1).replace(batch=8))
    with pytest.raises(ParameterError, match="population"):
        iov.sweep("virtio-blk", HOST, iov.Workload.closed(8, 1, batch=4), jobs=[1, 8])
    iov.analyze("virtio-blk", HOST, iov.Workload.closed(2, 2, batch=4))  # fills exactly: fine


def test_fit_with_a_free_batch_and_simulated_percentiles_runs():
    # issue 10: crashed with "batch must be an integer >= 1, got 2.03"
    from iovmodel.fit import fit, predict

    df = pd.DataFrame([{"path": "virtio-blk", "jobs": j, "iodepth": 4, "metric": m, "value": 1.0}
                       for j in (1, 4) for m in ("iops", "latency_p99_us")])
    sim = {"requests": 4000, "replications": 2, "seed": 3}
    truth = HOST.replace(device_blk_us=70.0)
    df["value"] = predict(df, truth, percentiles="sim", sim_options=sim)["predicted"].to_numpy()
    f = fit(df, free=["device_blk_us", "batch"], percentiles="sim", sim_options=sim)
    assert f.profile["device_blk_us"] == pytest.approx(70.0, rel=0.05)
    assert 1.0 <= f.batch <= 4.0


# ------------------------------------------------------------------------------ polling
def test_polling_hop_is_one_delay_in_every_solver():
    # issue 10: the poll network gave 5.43 µs / 60 % (solve_open) and 3.41 µs / 0 % (simulator);
    # the closed form is P/2 + 1/(mu - lam) = 2 + 1/0.7 = 3.43 µs for a poll interval P = 4 µs,
    # a 1 µs exponential server and 0.3 I/O per µs
    p = iov.Path.from_hops("poll", [
        iov.Hop("notice", resource="iothread", cost=2.0, scv=1 / 3, switch="poll"),
        iov.Hop("serve", resource="dev", cost=1.0),
    ], servers={"iothread": 1, "dev": 1})
    w = iov.Workload.open(3e5)
    truth = 2.0 + float(mm1(0.3, 1.0).W)
    assert truth == pytest.approx(3.4286, abs=1e-4)
    net = iov.build(p, HOST, w)
    assert net.stations[0].is_delay and net.route[0].poll
    R, _, util = solve_open(net, 3e5)
    assert R == pytest.approx(truth, rel=1e-12)
    r = iov.analyze(p, HOST, w)
    assert r.latency_us == pytest.approx(truth, rel=1e-12)
    assert _sym(p, w) == pytest.approx(truth, rel=1e-12)
    sim = iov.simulate(p, HOST, w, **SIM)
    _within(sim, truth)
    for k, v in r.utilization.items():  # the poll delay station: mean number in it, lam P/2
        assert sim.utilization[k] == pytest.approx(v, rel=0.03, abs=0.005), k
    assert r.utilization["poll"] == pytest.approx(0.6)


def test_a_polling_hop_must_visit_a_delay_station():
    st = (Station("iothread", 1, 2.0, 1.0),)
    with pytest.raises(ParameterError, match="polling hop.*delay station"):
        Network("x", st, (Visit("notice", 0, 2.0, poll=True),), rate_per_s=1e5)


# ------------------------------------------------------------------------------ servers
def _two_and_a_half():
    return iov.Path.from_hops("frac", [iov.Hop("a", resource="x", cost=4.0)],
                              servers={"x": 2.5})


@pytest.mark.parametrize("solve", [
    lambda p: iov.analyze(p, HOST, iov.Workload.open(3e5)),
    lambda p: iov.analyze(p, HOST, iov.Workload.closed(4, 1)),
    lambda p: S.latency(p, iov.Workload.open(3e5)),
    lambda p: iov.simulate(p, HOST, iov.Workload.open(3e5), **SIM),
], ids=["open", "mva", "symbolic", "simulate"])
def test_fractional_servers_raise_one_error_in_every_solver(solve):
    # issue 10: 14.73 µs (open), 11.06 µs (symbolic), two different errors elsewhere
    with pytest.raises(ParameterError) as e:
        solve(_two_and_a_half())
    assert str(e.value) == "servers of 'x' must be a whole number >= 1 or inf, got 2.5"


# ------------------------------------------------------------------------------ invariants
@pytest.mark.parametrize(("kw", "match"), [
    ({"batch": 0.5}, "batch must be finite and >= 1, got 0.5"),
    ({"batch": math.nan}, "batch"),
    ({"rate_per_s": 0.0}, "rate_per_s must be finite and > 0, got 0.0"),
    ({"rate_per_s": None, "population": 2, "batch": 3}, "batch 3 > population 2"),
    ({"rate_per_s": None, "population": 1.5}, "population must be a whole number"),
    ({"rate_per_s": None}, "exactly one of rate_per_s"),
])
def test_network_checks_its_invariants(kw, match):
    st = (Station("q", 1, 1.0, 1.0),)
    args = {"rate_per_s": 1e5, **kw}
    with pytest.raises(ParameterError, match=match):
        Network("x", st, (Visit("a", 0, 1.0),), **args)


@pytest.mark.parametrize(("visit", "match"), [
    (Visit("a", 0, -1.0), "hop 'a': mean_us must be finite and >= 0, got -1.0"),
    (Visit("a", 0, math.inf), "mean_us"),
    (Visit("a", 3, 1.0), "station index 3 out of range"),
    (Visit("a", 0, 1.0, per="ring"), "per must be 'io', 'batch' or 'waiter'"),
])
def test_network_checks_its_hops(visit, match):
    with pytest.raises(ParameterError, match=match):
        Network("x", (Station("q", 1, 1.0, 1.0),), (visit,), rate_per_s=1e5)


def test_the_shared_questions_are_answered_by_the_network():
    # saturation = c / D at the bottleneck (Lazowska et al. 1984, s.5.2); CPU per I/O counts a
    # busy-polling core in full: 1e6 / X µs per core at X I/O per s
    net = iov.build(iov.path("vhost-user-blk"), HOST, iov.Workload.open(1e5))
    b = net.bottleneck()
    assert net.saturation_per_s == pytest.approx(b.servers / b.demand_us * 1e6)
    assert all(s.demand_us / s.servers <= b.demand_us / b.servers for s in net.stations
               if not s.is_delay)
    host0, guest0 = net.cpu_parts()
    assert net.polling, "vhost-user-blk busy-polls"
    host, guest = net.cpu_per_io(1e5)
    assert host == pytest.approx(host0 + net.polling_cores * 10.0) and guest == guest0
    r = iov.analyze("vhost-user-blk", HOST, iov.Workload.open(1e5))
    assert (r.cpu_us_per_io, r.guest_cpu_us_per_io) == pytest.approx((host, guest))
    assert r.saturation_per_s == net.saturation_per_s and r.bottleneck == b.name
    with pytest.raises(UnstableError, match=r"\(path 'vhost-user-blk'\)$"):
        net.check_stable(1.01 * net.saturation_per_s)


def test_stability_message_is_the_same_in_analyze_and_simulate():
    w = iov.Workload.open(1e6)
    msgs = []
    for solve in (iov.analyze, lambda *a: iov.simulate(*a, **SIM)):
        with pytest.raises(UnstableError) as e:
            solve("virtio-blk", HOST, w)
        msgs.append(str(e.value))
    assert msgs[0] == msgs[1]


# ------------------------------------------------------------------------------ Schweitzer
def test_schweitzer_multiserver_is_continuous_in_the_population():
    # issue 10: X[1] was 1.1716 at N = 4 and 1.1475 at N = 5 (a station with c >= N became a
    # delay for the whole sweep). Now X(n) does not depend on the sweep's end N, grows with n,
    # and is within 3 % of exact MVA at n = 2 (exact X(2) = 1.2: a 2-customer network that
    # never queues at the 4-server station)
    x1 = [schweitzer_mva([1, .5], N, servers=[4, 1]).X[1] for N in range(2, 9)]
    assert np.ptp(x1) == 0.0
    s = schweitzer_mva([1, .5], 5, servers=[4, 1])
    e = mva([1, .5], 5, servers=[4, 1])
    assert e.X[1] == pytest.approx(1.2, rel=1e-12)
    assert abs(s.X[1] / 1.2 - 1) < 0.03
    assert np.all(np.diff(s.X) > 0)
    assert np.all(np.abs(s.X / e.X - 1) < 0.07)  # the bound schweitzer_mva documents (6.6 %)


@pytest.mark.parametrize("call", [
    lambda: mm1([2, 2], [1, 1, 1]),
    lambda: mva([1, 2], 3, think=[0, 0]),
    lambda: schweitzer_mva([1, 2], 3, think=[0, 0]),
], ids=["mm1-shapes", "mva-think", "schweitzer-think"])
def test_analytic_bad_shapes_raise_parameter_errors(call):
    with pytest.raises(ParameterError):
        call()
