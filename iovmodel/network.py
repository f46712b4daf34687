"""The queueing network every solver sees.

A :class:`Network` is what a (Path, HostProfile, Workload) triple becomes once
costs are numbers: a tuple of :class:`Station` (one per resource: vCPU, QEMU's
global mutex, an iothread, a vhost worker, the host kernel, the device, ...)
and the ordered ``route`` of :class:`Visit` a request takes through them.

The closed forms and MVA use the per-station aggregates (``demand_us``,
``visits``, ``servers``, ``scv``); the Monte Carlo simulator walks the route.
All times are µs; numba kernels get the plain arrays from :meth:`Network.arrays`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

INF = math.inf
#: the delay station that polling hops (``switch = "poll"``) are served at
POLL_STATION = "poll"


@dataclass(frozen=True)
class Station:
    """One resource of the network.

    Attributes
    ----------
    name : str
        Resource name (``"vcpu"``, ``"bql"``, ``"vhost"``, ``"device"``, ...).
    servers : float
        Number of identical FIFO servers; ``math.inf`` for a delay station
        (every request served at once, no queueing).
    demand_us : float
        Total service demand per I/O at this station, µs (visits x mean service).
    visits : float
        Mean number of visits per I/O (per-batch hops count 1/batch).
    scv : float
        Squared coefficient of variation of one visit's service time
        (the visit mix's second moment, so a station visited by several hops of
        different cost is not treated as exponential).
    host_cpu : bool
        Whether busy time here is host CPU time (counted in ``cpu_us_per_io``).
    """

    name: str
    servers: float
    demand_us: float
    visits: float
    scv: float = 1.0
    host_cpu: bool = True

    @property
    def service_us(self) -> float:
        """Mean service time of one visit, µs."""
        return self.demand_us / self.visits if self.visits > 0 else 0.0

    @property
    def is_delay(self) -> bool:
        return math.isinf(self.servers)

    @property
    def capacity_per_s(self) -> float:
        """I/O per second that saturates this station (inf for a delay station)."""
        if self.is_delay or self.demand_us <= 0:
            return INF
        return self.servers / self.demand_us * 1e6


@dataclass(frozen=True)
class Visit:
    """One step of the route: a hop served at a station.

    ``count`` occurrences happen per I/O (``per == "io"``) or per batch of
    ``Network.batch`` requests (``per == "batch"``: one kick, one interrupt).
    ``mean_us`` and ``scv`` describe one occurrence.
    """

    hop: str
    station: int
    mean_us: float
    scv: float = 1.0
    count: float = 1.0
    per: str = "io"
    switch: str | None = None
    host_cpu: bool = True

    def per_io(self, batch: int) -> float:
        """Occurrences per I/O."""
        return self.count / batch if self.per == "batch" else self.count


@dataclass(frozen=True)
class Network:
    """A path under a workload with numeric costs.

    Exactly one of ``rate_per_s`` (open, Poisson arrivals) and ``population``
    (closed: jobs x iodepth requests in flight, each followed by ``think_us``)
    is set.
    """

    name: str
    stations: tuple[Station, ...]
    route: tuple[Visit, ...]
    batch: int = 1
    rate_per_s: float | None = None
    population: int | None = None
    think_us: float = 0.0
    meta: dict = field(default_factory=dict, compare=False, repr=False)

    @property
    def is_open(self) -> bool:
        return self.rate_per_s is not None

    def station_index(self, name: str) -> int:
        for i, s in enumerate(self.stations):
            if s.name == name:
                return i
        raise KeyError(name)

    def demands_us(self) -> np.ndarray:
        """Per-station demand per I/O, µs."""
        return np.array([s.demand_us for s in self.stations], dtype=float)

    def servers(self) -> np.ndarray:
        return np.array([s.servers for s in self.stations], dtype=float)

    def bottleneck(self) -> Station:
        """The station with the largest demand per server (delay stations excluded)."""
        best, key = None, -1.0
        for s in self.stations:
            if s.is_delay:
                continue
            k = s.demand_us / s.servers
            if k > key:
                best, key = s, k
        if best is None:  # only delay stations: nothing saturates
            return max(self.stations, key=lambda s: s.demand_us)
        return best

    def arrays(self) -> dict[str, np.ndarray]:
        """Plain arrays of the route for numba kernels (units: µs)."""
        return {
            "visit_station": np.array([v.station for v in self.route], dtype=np.int64),
            "visit_mean_us": np.array([v.mean_us for v in self.route], dtype=float),
            "visit_scv": np.array([v.scv for v in self.route], dtype=float),
            "visit_count": np.array([v.count for v in self.route], dtype=float),
            "visit_per_batch": np.array([v.per == "batch" for v in self.route], dtype=np.bool_),
            "station_servers": self.servers(),
        }


def aggregate(route: tuple[Visit, ...], names: list[str], servers: list[float],
              host_cpu: list[bool], batch: int) -> tuple[Station, ...]:
    """Sum a route's visits into per-station demand, visits and visit-mix scv."""
    n = len(names)
    dem = np.zeros(n)
    vis = np.zeros(n)
    m2 = np.zeros(n)  # sum over visits of per_io * E[S^2]
    for v in route:
        k = v.per_io(batch)
        dem[v.station] += k * v.mean_us
        vis[v.station] += k
        m2[v.station] += k * v.mean_us**2 * (1.0 + v.scv)
    out = []
    for i in range(n):
        mean = dem[i] / vis[i] if vis[i] > 0 else 0.0
        if mean * mean > 0:  # also guards sub-femtosecond costs whose square underflows
            scv = max(m2[i] / vis[i] / mean**2 - 1.0, 0.0)
        else:
            scv = 1.0
        out.append(Station(names[i], float(servers[i]), float(dem[i]), float(vis[i]),
                           float(scv), bool(host_cpu[i])))
    return tuple(out)


def build(path, host, workload) -> Network:
    """Turn a Path, a HostProfile and a Workload into a :class:`Network`.

    Stations appear in the order their resource is first used on the path.
    Costs are evaluated with the host's costs, the path's options and the
    workload's ``size_bytes``; a negative or NaN result raises ParameterError.
    """
    from ._expr import evaluate
    from .errors import ParameterError

    env = dict(host)
    env.update(path.options)
    env["size_bytes"] = workload.size_bytes
    names: list[str] = []
    index: dict[str, int] = {}
    route = []
    for h in path.active_hops():
        # A polling hop (the time until a spinning thread notices work) delays the request
        # but serves no one: it goes to a shared delay station, not to the polling thread.
        res = POLL_STATION if h.switch_kind == "poll" else h.resource
        if res not in index:
            index[res] = len(names)
            names.append(res)
        mean = evaluate(h.cost, env)
        if not (mean >= 0) or math.isinf(mean):
            raise ParameterError(f"path {path.name!r}, hop {h.name!r}: cost {h.cost!r} evaluates "
                                 f"to {mean!r} µs; it must be finite and >= 0")
        # the spin of a busy-polling core is already counted in full (see model._cpu)
        host_cpu = path.cpu_of(h) == "host" and not path.resources[h.resource].polling
        route.append(Visit(h.name, index[res], float(mean), float(h.scv), float(h.count),
                           h.per, h.switch_kind, host_cpu))
    servers = [INF if r == POLL_STATION else path.servers_of(r, host) for r in names]
    host_cpu = [True if r == POLL_STATION else path.resources[r].cpu == "host" for r in names]
    stations = aggregate(tuple(route), names, servers, host_cpu, workload.batch)
    polling = tuple(r for r in names if r != POLL_STATION and path.resources[r].polling)
    return Network(
        name=path.name, stations=stations, route=tuple(route), batch=workload.batch,
        rate_per_s=workload.rate_per_s if workload.is_open else None,
        population=None if workload.is_open else workload.population,
        think_us=0.0 if workload.is_open else workload.think_us,
        meta={"polling": polling, "guest_cpu": [path.cpu_of(h) == "guest" for h in path.active_hops()]},
    )
