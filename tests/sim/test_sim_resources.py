"""Issue 11's resources in the simulator: groups with private stations, host cores
shared by thread stations (simultaneous resource possession), an in-flight limit.

References, all from outside the simulator:

* two groups (classes) in a closed product-form network: exact multiclass MVA
  (Reiser & Lavenberg 1980; ``iovmodel.solve.analytic.multiclass``);
* open groups with private stations: each instance is an M/M/1 fed by its
  group's Poisson share (Poisson splitting, Jackson);
* one core shared by two single-thread stations in tandem: the continuous-time
  Markov chain of (requests at A, requests at B, who holds the core), solved
  here directly; it is not product-form (a thread waits for the core while
  holding itself);
* threads at least as many as requests, ``c`` cores: the machine-repairman
  M/M/c//N (Gross, Shortle, Thompson & Harris, *Fundamentals of Queueing
  Theory*, 4th ed., s.2.7);
* an in-flight limit of one in front of a delay station: an M/M/1 (open) or
  M/M/1//N (closed).
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest
from _sim_reference import mm1_w, network
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_sim_networks import check, check_laws, run, small_networks

from iovmodel.errors import ParameterError, UnstableError
from iovmodel.solve.analytic.multiclass import mva_multiclass
from iovmodel.solve.sim import simulate_network


def with_resources(net, private=(), thread=(), **fields):
    sts = tuple(dataclasses.replace(s, private=s.name in private, thread=s.name in thread)
                for s in net.stations)
    return dataclasses.replace(net, stations=sts, **fields)


def repairman_x(n: int, c: int, s: float, z: float) -> float:
    """Throughput of M/M/c//N: n sources of mean think z, c servers of mean service s."""
    p = np.zeros(n + 1)
    p[0] = 1.0
    for k in range(1, n + 1):
        p[k] = p[k - 1] * (n - k + 1) / z * s / min(k, c)
    p /= p.sum()
    return float(sum(p[k] * min(k, c) / s for k in range(n + 1)))


def one_core_tandem_x(n: int, a: float, b: float, z: float) -> float:
    """Throughput of two single-thread stations A, B in tandem sharing one core, n
    requests thinking z between I/Os; the core goes FIFO to threads waiting for it.

    State (nA, nB, h), h = who holds the core (0 nobody, 1 A, 2 B). At an instant
    where several things happen, the order is the simulator's (documented in
    ``kernel.py``): the finishing request frees the core (the thread longest waiting
    for one gets it), then its thread (the next in line takes it and asks for a
    core), then moves on.
    """
    states = [(i, j, h) for i in range(n + 1) for j in range(n + 1 - i) for h in range(3)
              if (h == 0) == (i + j == 0) and not (h == 1 and i == 0)
              and not (h == 2 and j == 0)]
    idx = {s: k for k, s in enumerate(states)}
    q = np.zeros((len(states), len(states)))
    for (i, j, h), k in idx.items():
        out = []
        if i + j < n:  # a think ends: the request goes to A
            out.append(((i + 1, j, h or 1), (n - i - j) / z))
        if h == 1:  # A finishes
            if j >= 1:
                h2 = 2  # B's thread was waiting for the core
            else:
                h2 = 1 if i - 1 >= 1 else 2
            out.append(((i - 1, j + 1, h2), 1 / a))
        if h == 2:  # B finishes
            h2 = 1 if i >= 1 else (2 if j - 1 >= 1 else 0)
            out.append(((i, j - 1, h2), 1 / b))
        for s2, r in out:
            q[k, idx[s2]] += r
            q[k, k] -= r
    m = np.vstack([q.T, np.ones(len(states))])
    rhs = np.zeros(len(states) + 1)
    rhs[-1] = 1.0
    p = np.linalg.lstsq(m, rhs, rcond=None)[0]
    return float(sum(p[k] / b for (i, j, h), k in idx.items() if h == 2))


def test_two_groups_closed_against_multiclass_mva():
    # two fio jobs pinned to their own vCPU (private), sharing the mutex and the device
    base = network("groups", [("vcpu", 1), ("bql", 1), ("dev", 1)],
                   [("sub", 0, 10.0), ("kick", 1, 6.0), ("io", 2, 8.0), ("reap", 0, 4.0)],
                   population=5, think_us=20.0)
    net = with_resources(base, private=("vcpu",), groups=(2, 3))
    d = [[14.0, 0.0, 6.0, 8.0], [0.0, 14.0, 6.0, 8.0]]
    ref = mva_multiclass(d, [2, 3], [20.0, 20.0], [1, 1, 1, 1], method="exact")
    x = float(ref.X.sum())  # per µs
    r = run(net, 60_000)
    check(r, x * 1e6, "throughput_per_s", width=0.05)
    check(r, 5 / x - 20.0, width=0.05)
    # utilisation of a private station: the mean over its instances
    assert r.utilization["vcpu"] == pytest.approx((ref.U[0] + ref.U[1]) / 2, rel=0.05)
    assert r.utilization["bql"] == pytest.approx(ref.U[2], rel=0.05)


def test_one_group_private_is_todays_network():
    base = network("one", [("vcpu", 1), ("dev", 1)], [("sub", 0, 3.0), ("io", 1, 5.0)],
                   population=4, think_us=10.0)
    a = simulate_network(base, requests=5000, replications=2, seed=3, progress=False)
    b = simulate_network(with_resources(base, private=("vcpu",)), requests=5000,
                         replications=2, seed=3, progress=False)
    assert a.replications.equals(b.replications)


def test_open_groups_private_mm1_instances():
    lam, shares = 0.1, (0.25, 0.75)  # per µs
    base = network("og", [("vcpu", 1), ("dev", 1)], [("sub", 0, 8.0), ("io", 1, 4.0)],
                   rate_per_s=lam * 1e6)
    net = with_resources(base, private=("vcpu",), groups=shares)
    r = run(net, 100_000)
    truth = sum(p * mm1_w(lam * p, 1 / 8.0) for p in shares) + mm1_w(lam, 1 / 4.0)
    check(r, truth)
    assert r.utilization["vcpu"] == pytest.approx(lam * 8.0 / 2, rel=0.03)
    assert r.engine == "event"  # the recursion knows nothing of groups


@pytest.mark.parametrize("n,z", [(2, 40.0), (6, 5.0)])  # low and high load
def test_one_core_two_threads_against_ctmc(n, z):
    a, b = 3.0, 5.0
    base = network("ctmc", [("A", 1), ("B", 1)], [("a", 0, a), ("b", 1, b)],
                   population=n, think_us=z)
    net = with_resources(base, thread=("A", "B"), cores=1)
    x = one_core_tandem_x(n, a, b, z)
    r = run(net, 60_000)
    check(r, x * 1e6, "throughput_per_s", width=0.05)
    check(r, n / x - z, width=0.05)
    # with a core per thread no one waits for a core: shorter latency
    free = run(base, 20_000)
    assert r.latency_us > free.latency_us * 1.03


@pytest.mark.parametrize("cores", [1, 2, 3])
def test_machine_repairman_cores_as_servers(cores):
    n, s, z = 5, 4.0, 10.0
    base = network("mr", [("io", 8)], [("work", 0, s)], population=n, think_us=z)
    net = with_resources(base, thread=("io",), cores=cores)
    x = repairman_x(n, cores, s, z)
    r = run(net, 40_000)
    check(r, x * 1e6, "throughput_per_s", width=0.05)
    check(r, n / x - z, width=0.05)


def test_polling_station_holds_its_cores():
    # 3 cores, a busy-polling back-end holding one whatever the load: the thread
    # station's requests share the other 2, an M/M/2//5
    n, s, z = 5, 4.0, 10.0
    base = network("pollcores", [("io", 8), ("pmd", 1)], [("work", 0, s)],
                   population=n, think_us=z)
    net = with_resources(base, thread=("io", "pmd"), cores=3, polling=("pmd",))
    x = repairman_x(n, 2, s, z)
    r = run(net, 40_000)
    check(r, x * 1e6, "throughput_per_s", width=0.05)
    # the Network itself refuses polling threads that hold every core
    with pytest.raises(ParameterError, match="polling thread"):
        with_resources(base, thread=("io", "pmd"), cores=1, polling=("pmd",))


def test_inflight_one_open_is_mm1():
    lam, s = 0.15, 5.0  # per µs, µs: a delay station behind a one-command gate
    base = network("ide", [("dev", math.inf)], [("cmd", 0, s)], rate_per_s=lam * 1e6)
    r = run(with_resources(base, inflight=1), 100_000)
    check(r, mm1_w(lam, 1 / s))


@pytest.mark.parametrize("limit", [1, 2])
def test_inflight_closed_is_repairman(limit):
    n, s, z = 6, 3.0, 10.0
    base = network("ide", [("dev", math.inf)], [("cmd", 0, s)], population=n, think_us=z)
    r = run(with_resources(base, inflight=limit), 40_000)
    x = repairman_x(n, limit, s, z)
    check(r, x * 1e6, "throughput_per_s", width=0.05)
    check(r, n / x - z, width=0.05)
    # the wait at the gate is the first hop's wait: the breakdown adds up to the latency
    assert r.breakdown["latency_us"].sum() == pytest.approx(r.latency_us, rel=0.03)
    assert r.breakdown["wait_us"].iloc[0] > 0.1 * r.latency_us


def test_bad_resources_raise():
    base = network("bad", [("v", 1)], [("a", 0, 1.0)], population=4)
    for kw, word in [({"groups": (1, 2)}, "groups"), ({"groups": (1.5, 2.5)}, "groups"),
                     ({"cores": 0}, "cores"), ({"cores": 1.5}, "cores"),
                     ({"inflight": 0}, "inflight")]:
        with pytest.raises(ParameterError, match=word):
            with_resources(base, **kw)
    op = network("bad", [("v", 1)], [("a", 0, 1.0)], rate_per_s=1e5)
    with pytest.raises(ParameterError, match="groups"):
        with_resources(op, groups=(0.5, 0.6))
    hot = network("hot", [("v", 1), ("w", 1)], [("a", 0, 6.0), ("b", 1, 6.0)], rate_per_s=1e5)
    with pytest.raises(UnstableError, match="host cores"):
        simulate_network(with_resources(hot, thread=("v", "w"), cores=1), requests=1000,
                         replications=1, progress=False)
    fj = network("fj", [("v", 1)], [("a", 0, 1.0, 1.0, 1.0, "batch")], population=4, batch=2)
    with pytest.raises(ParameterError, match="fork-join"):
        simulate_network(with_resources(fj, inflight=2), requests=1000, replications=1,
                         progress=False, batching="fork-join")


@st.composite
def resourced_networks(draw):
    net = draw(small_networks())
    names = [x.name for x in net.stations]
    private = [n for n in names if draw(st.booleans())]
    thread = [n for n in names if draw(st.booleans())]
    first = draw(st.integers(0, net.population))
    groups = (first, net.population - first) if draw(st.booleans()) else ()
    cores = draw(st.sampled_from([1, 2, 3, math.inf]))
    inflight = draw(st.sampled_from([1, 2, math.inf]))
    return with_resources(net, private, thread, groups=groups, cores=cores, inflight=inflight)


@settings(max_examples=25, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow])
@given(net=resourced_networks(), seed=st.integers(0, 2**32 - 1))
def test_laws_with_groups_cores_and_inflight(net, seed):
    r = simulate_network(net, requests=6_000, replications=2, seed=seed, progress=False)
    check_laws(net, r, 6_000 * 2)
    assert r.breakdown["latency_us"].sum() == pytest.approx(r.latency_us, rel=0.03)
    x = r.throughput_per_s / 1e6  # per µs
    # bounds: the cores serve every thread visit; past the gate a request spends at
    # least its whole demand
    core_demand = sum(s.demand_us for s in net.stations if s.thread)
    if math.isfinite(net.cores) and core_demand > 0:
        assert x <= net.cores / core_demand * 1.05
    if math.isfinite(net.inflight):
        assert x <= net.inflight / net.zero_load_latency_us * 1.05
