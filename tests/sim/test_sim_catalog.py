"""Every catalog path: simulate() against the analytic solution, with exponential costs.

Where the analytic answer is exact, the simulated interval must hold it (each at
1 - 0.01 / CHECKS, the family's chance miss at most 1 %: ``LEVEL`` below):

* one request in flight (no queueing): latency = sum of demands and the CPU per I/O,
  for any service law (``analyze`` on the path, unchanged, declared laws);
* 4 jobs x iodepth 8: the bottleneck saturates, X = servers / demand (``analyze``);
* product form (every visit to a FIFO station has the station's mean, all exponential):
  exact MVA (Reiser & Lavenberg 1980) for a closed load, the Kelly / Jackson
  decomposition with Erlang C for an open load (Kelly 1979, s.3.1; Gross et al. s.2.3).

A hop with ``switch == "poll"`` is a pure delay (``network.build`` serves it at
a shared delay station; the simulator also treats any poll hop so).
Shared stations visited by hops of unequal cost are not product form: there MVA
and the open decomposition are approximations (errors of a few per cent at
moderate load), which is what the simulator is for.
"""

from __future__ import annotations

import dataclasses
import math
import os
import zlib

import pytest
from _sim_reference import mmc_w

import iovmodel as iov
from iovmodel.network import Network, aggregate
from iovmodel.solve.sim import simulate_network

HOST = iov.HostProfile.default()
NAMES = iov.paths()["name"].tolist()


def case_seed() -> int:
    return zlib.crc32(os.environ["PYTEST_CURRENT_TEST"].split(" ")[0].encode())


def reshape(net: Network, product_form: bool) -> Network:
    """Exponential costs; poll hops on a delay station; optionally equal means per station
    and no visit holding a second station (a vCPU held under the global mutex is not product
    form: tests/solve/test_holding.py checks it)."""
    names = [s.name for s in net.stations]
    servers = [s.servers for s in net.stations]
    cpu = [s.host_cpu for s in net.stations]
    route = []
    for v in net.route:
        if v.switch == "poll":
            key = f"poll:{names[v.station]}"
            if key not in names:
                names.append(key)
                servers.append(math.inf)
                cpu.append(False)
            v = dataclasses.replace(v, station=names.index(key))
        route.append(dataclasses.replace(v, scv=1.0))
    stations = aggregate(tuple(route), names, servers, cpu, net.batch)
    if product_form:
        route = [dataclasses.replace(v, holds=-1) for v in route]
        stations = aggregate(tuple(route), names, servers, cpu, net.batch)
        route = [dataclasses.replace(v, mean_us=stations[v.station].service_us)
                 if not stations[v.station].is_delay else v for v in route]
        stations = aggregate(tuple(route), names, servers, cpu, net.batch)
    # the route's stations only: an in-flight limit (emulated-ide) is checked elsewhere
    # (tests/sim/test_sim_resources.py, tests/solve/test_layered.py)
    return dataclasses.replace(net, stations=stations, route=tuple(route),
                               inflight=math.inf if product_form else net.inflight)


def sim(net: Network, requests=10_000):
    return simulate_network(net, requests=requests, replications=8, seed=case_seed(),
                            progress=False)


#: intervals this module checks: at most 9 per catalog path (4 + 2 + 2 + 1 in the tests
#: below). Each is taken at 1 - 0.01 / CHECKS (Bonferroni), so the whole family misses an
#: exact truth by chance with probability <= 1 %. At 0.99 each, ~280 checks would miss about
#: 3 by chance, and with each case's seed fixed a change of any default cost re-draws which
#: (vhost-blk's open case missed by 0.03 % of its value at a vhost_us of 0.54, where 20 other
#: seeds missed 0 times, mean standardized deviation -0.06): a failure then says nothing
CHECKS = 9 * len(NAMES)
LEVEL = 1 - 0.01 / CHECKS


def inside(res, truth, metric="latency_us"):
    lo, hi = res.interval(metric, LEVEL)
    assert lo <= truth <= hi, \
        f"{metric}: {truth:.6g} outside the {100 * LEVEL:.3f} % CI [{lo:.6g}, {hi:.6g}]"
    assert (hi - lo) / 2 < 0.08 * truth, f"{metric}: CI [{lo:.6g}, {hi:.6g}] too wide to test"


@pytest.mark.parametrize("name", NAMES)
def test_one_request_in_flight(name):
    w = iov.Workload.closed(1, 1)
    a = iov.analyze(name, HOST, w, batching="amortised")  # the built network's batch
    # the path as built (declared service laws): without queueing only the means matter
    r = sim(iov.build(iov.path(name), HOST, w))
    inside(r, a.latency_us)
    inside(r, a.throughput_per_s, "throughput_per_s")
    for metric in ("cpu_us_per_io", "guest_cpu_us_per_io"):
        if getattr(a, metric) > 0:
            inside(r, getattr(a, metric), metric)
        else:
            assert getattr(r, metric) == 0.0


@pytest.mark.parametrize("name", NAMES)
def test_saturated(name):
    # vcpus="inf": the premise is one dominant bottleneck that 32 requests saturate
    # (X = servers / demand, which analyze's MVA then gives exactly). The default single
    # vCPU is a queue of demand comparable to the BQL or a worker on many paths: the
    # network is then not saturated at 32 requests and MVA of its shared, unequal-cost
    # stations (not product form) is an approximation, which the interval (LEVEL) resolves
    w = iov.Workload.closed(4, 8)
    net = reshape(iov.build(iov.path(name, vcpus="inf"), HOST, w), product_form=False)
    a = iov.analyze(name, HOST, w, vcpus="inf", batching="amortised")
    r = sim(net)
    inside(r, a.throughput_per_s, "throughput_per_s")
    inside(r, a.latency_us)


@pytest.mark.parametrize("name", NAMES)
def test_product_form_closed_vs_exact_mva(name):
    w = iov.Workload.closed(3, 1)
    net = reshape(iov.build(iov.path(name), HOST, w), product_form=True)
    m = iov.analytic.mva([s.demand_us for s in net.stations], 3,
                         servers=[s.servers for s in net.stations])
    r = sim(net)
    inside(r, float(m.R[-1]))
    inside(r, float(m.X[-1]) * 1e6, "throughput_per_s")


@pytest.mark.parametrize("name", NAMES)
def test_product_form_open_vs_kelly_decomposition(name):
    w0 = iov.Workload.closed(1, 1)
    net = reshape(iov.build(iov.path(name), HOST, w0), product_form=True)
    # 60% of the busiest FIFO station's capacity (1e5/s when every station is a delay)
    per_server = [s.demand_us / s.servers for s in net.stations
                  if not s.is_delay and s.demand_us > 0]
    rate = 0.6e6 / max(per_server) if per_server else 1e5
    net = dataclasses.replace(net, rate_per_s=rate, population=None, think_us=0.0)
    lam = rate / 1e6  # per µs
    truth = 0.0
    for s in net.stations:
        if s.is_delay or s.demand_us == 0:
            truth += s.demand_us
        else:  # each visit: an M/M/c sojourn at the station's total visit rate
            truth += s.visits * mmc_w(lam * s.visits, 1.0 / s.service_us, int(s.servers))
    inside(sim(net, 20_000), truth)
