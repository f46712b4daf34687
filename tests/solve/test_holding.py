"""A vCPU held while QEMU emulates its exit under the global mutex (iovmodel.solve.holding).

Reference values come from outside the layers:

* one request in flight never waits, so X = 1 / (the sum of the demands) (Little's law);
* a vCPU whose held visits are the only work at the mutex is occupied for its own demand
  plus the held visits' per I/O, whatever the load: the closed network's throughput tends
  to the asymptotic bound 1 / (D_vcpu + D_held) (Lazowska, Zahorjan, Graham & Sevcik,
  *Quantitative System Performance*, 1984, section 5.2), which the simulator, holding the
  vCPU itself, reaches exactly at saturation;
* elsewhere the simulator (its confidence interval) is the truth the layers approximate.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

import iovmodel as iov
from iovmodel.errors import CatalogError, ParameterError
from iovmodel.network import build
from iovmodel.solve.closed import solve_closed
from iovmodel.solve.holding import held
from iovmodel.solve.open import solve_open
from iovmodel.solve.sim import simulate_network
from iovmodel.spec.catalog import Hop, Path

HOST = iov.HostProfile.default()
EMULATED = ["emulated-ide", "emulated-ahci", "emulated-e1000", "emulated-nvme"]


def toy(a: float, b: float, c: float, main: float = 0.0, vcpus: float = 1) -> Path:
    """Guest work ``a`` on the vCPU, an emulation ``b`` under the mutex holding the vCPU, a
    device delay ``c``; ``main``: the main loop's own work under the mutex."""
    hops = [Hop("guest", "vcpu", cost=a), Hop("emulate (vCPU thread)", "bql", cost=b, holds="vcpu"),
            Hop("device", "dev", cost=c)]
    if main:
        hops.append(Hop("main loop", "bql", cost=main))
    return Path.from_hops("toy", hops, servers={"dev": math.inf}, options={"vcpus": vcpus})


def unheld(net):
    """The same network with nothing held (each visit holds only its own station)."""
    from iovmodel.network import aggregate

    route = tuple(dataclasses.replace(v, holds=-1) for v in net.route)
    st = aggregate(route, [s.name for s in net.stations], [s.servers for s in net.stations],
                   [s.host_cpu for s in net.stations], net.batch)
    st = tuple(dataclasses.replace(s, private=o.private, thread=o.thread)
               for s, o in zip(st, net.stations, strict=True))
    return dataclasses.replace(net, route=route, stations=st)


@pytest.mark.parametrize("name", EMULATED)
def test_one_request_in_flight_never_waits(name):
    r = iov.analyze(name, HOST, iov.Workload.closed(1, 1), batching="amortised")
    net = r.extra["net"]
    assert r.throughput_per_s == pytest.approx(1e6 / net.zero_load_latency_us, rel=1e-9)
    assert r.breakdown["latency_us"].sum() == pytest.approx(r.latency_us, rel=1e-9)


def test_the_held_vcpu_saturates_at_its_occupancy():
    a, b, c = 6.0, 4.0, 30.0
    p = toy(a, b, c)
    w = iov.Workload.closed(1, 64)
    net = build(p, HOST, w)
    assert held(net)
    assert net.stations[0].held_us == pytest.approx(b)
    # the vCPU, occupied a + b per I/O, bounds it (without holding: the vCPU's a alone)
    assert net.bottleneck().name == "vcpu"
    assert net.saturation_per_s == pytest.approx(1e6 / (a + b), rel=1e-12)
    r = iov.analyze(p, HOST, w)
    assert r.throughput_per_s == pytest.approx(1e6 / (a + b), rel=1e-6)
    assert r.utilization["vcpu"] == pytest.approx(1.0, rel=1e-6)  # running or emulating
    assert r.utilization["bql"] == pytest.approx(b / (a + b), rel=1e-6)  # the mutex's share
    s = simulate_network(net, requests=20_000, replications=4, seed=3, progress=False)
    lo, hi = s.interval("throughput_per_s", 0.999)
    assert lo <= 1e6 / (a + b) <= hi
    # the simulator's vCPU is never idle: its own service plus the time held
    assert s.utilization["vcpu"] == pytest.approx(1.0, abs=2e-3)
    # without holding the same network is bound at 1 / a
    x = solve_closed(unheld(net))[0][0]
    assert x == pytest.approx(1e6 / max(a, b), rel=2e-3)


#: (path, options, bql_emulate_us multiplier, jobs, iodepth): the emulated paths where a
#: held visit exists (e1000 without mitigation raises TX-done in the TDT write; NVMe without
#: shadow doorbells exits for the CQ head), at a load that queues, with one and several vCPUs
#: and a main loop four times as busy. Measured (this grid and more: 30 points): the layers
#: against the simulator, throughput -3.4 % to +4.2 %, median |error| 0.5 %
GRID = [
    ("emulated-ahci", {}, 1.0, 1, 8),
    ("emulated-ahci", {}, 4.0, 1, 2),
    ("emulated-ahci", {"vcpus": 4}, 1.0, 4, 8),
    ("emulated-e1000", {"mitigation": False}, 4.0, 1, 8),
    ("emulated-e1000", {"vcpus": 2}, 1.0, 4, 8),
    ("emulated-nvme", {"shadow_doorbell": False}, 1.0, 1, 8),
]


@pytest.mark.parametrize("name, opts, bqlx, jobs, iodepth", GRID)
def test_layers_against_the_simulator(name, opts, bqlx, jobs, iodepth):
    h = HOST.replace(bql_emulate_us=HOST["bql_emulate_us"] * bqlx)
    w = iov.Workload.closed(jobs, iodepth)
    a = iov.analyze(name, h, w, batching="amortised", **opts)
    net = build(iov.path(name, **opts), h, w)
    assert held(net)
    s = simulate_network(net, requests=20_000, replications=4, seed=5, progress=False)
    assert a.throughput_per_s == pytest.approx(s.throughput_per_s, rel=0.06)
    assert a.latency_us == pytest.approx(s.latency_us, rel=0.06)
    # holding can only cost throughput: the same network with nothing held
    x = solve_closed(unheld(net))[0][0]
    assert a.throughput_per_s <= x * (1 + 1e-9)
    assert s.throughput_per_s <= x * 1.01


@pytest.mark.parametrize("name, frac", [("emulated-e1000", 0.5), ("emulated-e1000", 0.8),
                                        ("emulated-ahci", 0.8)])
def test_open_load_against_the_simulator(name, frac):
    # the open decomposition (M/G/1 per station) already errs where a station is visited
    # with unequal costs (the vCPU here; open.py's docstring): the layers must add little
    # to that. Measured at 30/50/80 % of the zero-load capacity: held -0.6 to +28.8 %
    # against the simulator, unheld -> held error change -1.9 to +2.7 points on e1000 and
    # 2.1 to 9.6 points *closer* on AHCI; vCPU utilisation within 0.5 %
    p = iov.path(name)
    cap = build(p, HOST, iov.Workload.closed(1, 1)).saturation_per_s
    w = iov.Workload.open(frac * cap)
    net = build(p, HOST, w)
    a = iov.analyze(p, HOST, w)
    s = simulate_network(net, requests=40_000, replications=4, seed=7, progress=False)
    u = unheld(net)
    au = solve_open(u, w.rate_per_s)[0]
    su = simulate_network(u, requests=40_000, replications=4, seed=7, progress=False)
    err, err_free = a.latency_us / s.latency_us - 1, au / su.latency_us - 1
    assert abs(err) <= abs(err_free) + 0.04, (err, err_free)
    # the vCPU's occupancy includes the held time: at least its zero-load share
    assert a.utilization["vcpu"] >= frac * (1 - 1e-9)
    assert s.utilization["vcpu"] == pytest.approx(a.utilization["vcpu"], rel=0.02)
    # holding costs latency, in the simulator as in the layers
    assert s.latency_us > su.latency_us and a.latency_us > au


def test_an_open_load_beyond_the_held_vcpu_is_unstable():
    a, b, c = 6.0, 4.0, 30.0
    p = toy(a, b, c)
    with pytest.raises(iov.errors.UnstableError, match="vcpu"):
        iov.analyze(p, HOST, iov.Workload.open(1e6 / (a + b) * 1.01))
    iov.analyze(p, HOST, iov.Workload.open(1e6 / (a + b) * 0.9))  # below: fine


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(a=st.floats(0.5, 20), b=st.floats(0.5, 20), main=st.floats(0.0, 20),
       n=st.integers(1, 24), vcpus=st.sampled_from([1, 2]))
@example(a=1.0, b=2.0, main=16.0, n=3, vcpus=1)  # 1.06 % above the unheld MVA
@example(a=0.5, b=20.0, main=20.0, n=2, vcpus=2)  # 2.73 %, the grid's largest
def test_holding_costs_throughput_and_keeps_littles_law(a, b, main, n, vcpus):
    p = toy(a, b, 10.0, main=main, vcpus=vcpus)
    w = iov.Workload.closed(min(n, vcpus), max(n // vcpus, 1))
    r = iov.analyze(p, HOST, w)
    net = r.extra["net"]
    free = solve_closed(unheld(net))[0][0]
    # holding takes nothing away from anyone else's work, so it cannot add throughput; the
    # layers may pass the unheld MVA by a little where the mutex binds (MVA of the unheld
    # network queues below the bound the layers are capped at: 0.16 % at a = b = main = 1
    # us, 14 requests on 2 vCPUs; 1.06 % at a = 1, b = 2, main = 16 us, 3 requests on 1
    # vCPU, which hypothesis found; at most 2.73 % over the grid a, b in {0.5, 1, 2, 4, 8,
    # 16, 20}, main in {0} and those, 1-24 requests, 1-2 vCPUs: 0.5, 20, 20 us, 2 requests
    # on 2 vCPUs, measured 2026-12-07), never the asymptotic bound
    assert r.throughput_per_s <= free * 1.03
    assert r.throughput_per_s <= net.saturation_per_s * (1 + 1e-9)
    for k, u in r.utilization.items():
        if k in ("vcpu", "bql"):
            assert u <= 1 + 1e-9, k
    N = w.population
    assert r.latency_us == pytest.approx(N / r.throughput_per_s * 1e6, rel=1e-6)
    assert r.breakdown["latency_us"].sum() == pytest.approx(r.latency_us, rel=1e-6)


def test_bad_holds():
    with pytest.raises(CatalogError, match="holds must name another resource"):
        Hop("x", "bql", cost=1.0, holds="bql")
    with pytest.raises(CatalogError, match="which no hop of the path uses"):
        Path.from_hops("bad", [Hop("x", "bql", cost=1.0, holds="vcpu")])
    net = build(toy(1.0, 1.0, 1.0), HOST, iov.Workload.closed(1, 2))
    bad = tuple(dataclasses.replace(v, holds=v.station) if v.holds >= 0 else v
                for v in net.route)
    with pytest.raises(ParameterError, match="holds must name another station"):
        dataclasses.replace(net, route=bad)
    with pytest.raises(ParameterError, match="fork-join"):
        simulate_network(build(toy(1.0, 1.0, 1.0), HOST, iov.Workload.closed(1, 2, batch=2)),
                         requests=100, batching="fork-join", progress=False)


def test_the_catalog_holds_the_vcpu_where_qemu_emulates_on_it():
    # the hops QEMU runs in a register access's handler on the exiting vCPU's thread
    for name in EMULATED:
        hops = [h for h in iov.path(name).hop_list if h.holds]
        assert hops and all(h.holds == "vcpu" and h.resource == "bql" for h in hops), name
    # virtio's main loop takes the kick from an ioeventfd: nothing is held
    for name in ("virtio-blk", "virtio-net", "virtio-scsi"):
        assert not any(h.holds for h in iov.path(name).hop_list)
    assert np.isfinite(iov.analyze("emulated-ahci", HOST, iov.Workload.closed(1, 32))
                       .throughput_per_s)


def test_what_the_vcpu_pays_names_the_held_emulation():
    net = build(iov.path("emulated-ahci"), HOST, iov.Workload.closed(1, 32))
    pays = net.vcpu_pays_us()
    vcpu = net.stations[net.station_index("vcpu")]
    assert pays["held"] == pytest.approx(vcpu.held_us) and pays["held"] > 0
    assert pays["total"] == pytest.approx(vcpu.occupied_us)
    assert 1e6 / pays["total"] == pytest.approx(net.saturation_per_s)  # the vCPU binds
    a = iov.analyze("emulated-ahci", HOST, iov.Workload.closed(1, 32)).assumptions
    assert f"{pays['held']:.3g} held while QEMU emulates its exits" in a["vcpu pays"]
    assert "held" not in iov.analyze("virtio-blk").assumptions["vcpu pays"]


@pytest.mark.parametrize("name", EMULATED)
def test_a_sweep_starting_each_point_from_the_last_ones_finds_each_points_fixed_point(name):
    # a sweep starts each point's layers where the previous points' stretches point
    # (extrapolated in the population): a start saves iterations, it must not move the
    # answer beyond the layers' own tolerance (TOL = 1e-4 on the stretches)
    from iovmodel.solve.holding import TOL

    depths = [1, 2, 3, 5, 8, 13, 21, 34, 55, 64]
    sw = iov.sweep(name, jobs=[1], iodepth=depths)
    for q, x in zip(depths, sw["throughput_per_s"], strict=True):
        one = iov.analyze(name, workload=iov.Workload.closed(1, q)).throughput_per_s
        assert x == pytest.approx(one, rel=10 * TOL), (name, q)
