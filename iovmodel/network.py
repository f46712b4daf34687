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
from array import array
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

import numpy as np

from . import _validate
from .errors import ParameterError, UnstableError

if TYPE_CHECKING:
    from .spec.catalog import Hop, Path
    from .spec.profile import HostProfile
    from .spec.traffic import Units
    from .spec.workload import Workload

INF = math.inf
#: the delay station that polling hops (``switch = "poll"``) are served at
POLL_STATION = "poll"


def check_servers(name: str, servers: float) -> float:
    """``servers`` as a float if it is a whole number >= 1 or ``math.inf``; else ParameterError.

    The one check (and message) every solver relies on: Erlang formulas, MVA and
    the simulator all need whole servers.
    """
    try:
        return float(_validate.number("servers", servers, lo=1, integer=True, allow_inf=True))
    except ParameterError:  # one wording for every way it can be wrong
        raise ParameterError(f"servers of {name!r} must be a whole number >= 1 or inf, "
                             f"got {servers!r}") from None


def _nonneg(what: str, v: float) -> None:
    _validate.number(what, v, lo=0)


def unstable_message(station: str, rho: float, rate_per_s: float, capacity_per_s: float,
                     path: str) -> str:
    """The one wording of an open load at or beyond a station's capacity."""
    return (f"utilisation of {station!r} is {rho:.3g} >= 1: the offered load {rate_per_s:.0f}/s "
            f"exceeds its capacity {capacity_per_s:.0f}/s (path {path!r})")


def _same(a: float, b: float) -> bool:
    """Whether two costs are the same float, a zero's sign included (-0.0 == 0.0, but a
    fresh build keeps the sign it computed)."""
    return a == b and (a != 0.0 or math.copysign(1.0, a) == math.copysign(1.0, b))


@dataclass(frozen=True)
class Station:
    """One resource of the network.

    Attributes
    ----------
    name : str
        Resource name (``"vcpu"``, ``"bql"``, ``"vhost"``, ``"device"``, ...).
    servers : float
        Number of identical FIFO servers (a whole number >= 1); ``math.inf`` for a
        delay station (every request served at once, no queueing).
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
    private : bool
        Replicated per group (:attr:`Network.groups`): instance ``g`` serves only
        group ``g``'s requests, each instance with ``servers`` servers.
    thread : bool
        Each server is a host thread: a visit needs its server *and* a core from
        the host's pool (:attr:`Network.cores`).
    lock_waiters : float
        A lock (its servers: the lock's instances): the most threads that can wait at it
        at once (the vCPUs in use beyond one per instance); 0 for anything else. Its
        ``per="waiter"`` visits cost once per waiting thread (:mod:`iovmodel.solve.locks`).
    held_us : float
        Service demand per I/O, µs, of other stations' visits that hold this station's
        server meanwhile (:attr:`Visit.holds`: a vCPU blocked while QEMU emulates its exit
        under the global mutex); 0 when nothing holds it. At zero load the server is then
        occupied ``demand_us + held_us`` per I/O (:mod:`iovmodel.solve.holding`).
    """

    name: str
    servers: float
    demand_us: float
    visits: float
    scv: float = 1.0
    host_cpu: bool = True
    #: replicated per group (one instance per vCPU group, each with ``servers`` servers)
    private: bool = False
    #: a host thread: while serving it needs a host core (:attr:`Network.cores`)
    thread: bool = False
    #: a lock: the most threads that can wait at it (0: not a lock, or no one to contend)
    lock_waiters: float = 0.0
    #: demand per I/O of other stations' visits that hold this station's server meanwhile
    held_us: float = 0.0

    @property
    def service_us(self) -> float:
        """Mean service time of one visit, µs."""
        return self.demand_us / self.visits if self.visits > 0 else 0.0

    @property
    def is_delay(self) -> bool:
        return math.isinf(self.servers)

    @property
    def occupied_us(self) -> float:
        """Time per I/O a server is occupied at zero load: its own demand and the visits
        elsewhere that hold it (``held_us``), µs."""
        return self.demand_us + self.held_us

    @property
    def capacity_per_s(self) -> float:
        """I/O per second that saturates this station (inf for a delay station): its
        servers over the time per I/O they are occupied (:attr:`occupied_us`)."""
        if self.is_delay or self.occupied_us <= 0:
            return INF
        return self.servers / self.occupied_us * 1e6


@dataclass(frozen=True)
class Visit:
    """One step of the route: a hop served at a station.

    ``count`` occurrences happen per I/O (``per == "io"``) or per batch
    (``per == "batch"``: one kick, one interrupt); ``per == "waiter"``: per I/O and per
    thread waiting at the visit's lock, none at zero load (the solvers multiply it by the
    waiters they find: :mod:`iovmodel.solve.locks`). A batch is *amortised
    notification*: a per-batch hop happens ``count / batch`` times per I/O on
    average (``batch`` a mean >= 1, fractional allowed). ``mean_us`` and ``scv``
    describe one occurrence. ``poll`` marks the time until a spinning thread
    notices work: a pure delay (at a delay station) with the uniform law of a
    poll interval's residual in the simulator. ``holds``: the index of another station
    whose server the visit holds from before it queues here until its service ends
    (simultaneous resource possession: the vCPU thread that exited to QEMU waits for the
    global mutex and emulates the access under it, running no guest code meanwhile;
    :mod:`iovmodel.solve.holding`); -1: none. ``after_pass``: the back-end runs the hop
    after its pass re-armed notifications (:attr:`~iovmodel.spec.catalog.Hop.after_pass`).
    """

    hop: str
    station: int
    mean_us: float
    scv: float = 1.0
    count: float = 1.0
    per: str = "io"
    switch: str | None = None
    host_cpu: bool = True
    guest_cpu: bool = False
    poll: bool = False
    holds: int = -1
    #: run after the back-end's pass re-armed notifications (:attr:`Hop.after_pass`): not
    #: part of the load that grows a notification-suppressing back-end's batch
    after_pass: bool = False

    def per_io(self, batch: float) -> float:
        """Occurrences per I/O (at zero load: a ``waiter`` visit has none)."""
        return self.count / batch if self.per == "batch" else \
            0.0 if self.per == "waiter" else self.count


#: route -> per station [per-I/O, per-batch, in-pass per-I/O, in-pass per-batch] demand (µs),
#: or None when no visit is after a pass: keyed by the route tuple's id, the tuple kept so the
#: id stays its own (Network.with_batch shares its route; a rebuild makes a new one)
_PASS_SUMS: dict[int, tuple[tuple, dict | None]] = {}


def _pass_sums(route: tuple) -> dict | None:
    hit = _PASS_SUMS.get(id(route))
    if hit is not None and hit[0] is route:
        return hit[1]
    sums: dict | None = None
    if any(v.after_pass for v in route):
        sums = {}
        for v in route:
            if v.per == "waiter":  # none at zero load (Visit.per_io)
                continue
            a = sums.setdefault(v.station, [0.0, 0.0, 0.0, 0.0])
            k = 1 if v.per == "batch" else 0
            a[k] += v.count * v.mean_us
            if not v.after_pass:
                a[2 + k] += v.count * v.mean_us
    if len(_PASS_SUMS) >= 4096:  # a fit makes many networks: keep the latest few
        _PASS_SUMS.clear()
    _PASS_SUMS[id(route)] = (route, sums)
    return sums


@dataclass(frozen=True)
class Network:
    """A path under a workload with numeric costs.

    Exactly one of ``rate_per_s`` (open, Poisson arrivals) and ``population``
    (closed: jobs x iodepth requests in flight, each followed by ``think_us``)
    is set. ``batch`` is the mean number of requests per notification (>= 1,
    at most the population of a closed network). ``polling`` names the stations
    that are busy-polling cores (they burn their whole time, whatever the load).

    ``groups`` (empty: one group) splits the requests over groups that follow the
    same route (fio jobs pinned to vCPUs): closed, the requests in flight of each
    group (whole numbers summing to ``population``); open, each group's share of
    the arrival rate (summing to 1). ``cores`` is the host's core pool shared by
    every visit to a ``thread`` station (``inf``: a core per thread); polling
    stations hold theirs all the time. ``inflight`` caps the requests past the
    start of the route (the device's command limit; ``inf``: none), the others
    wait in FIFO order before the first hop. ``queues`` is the device queues the
    requests are spread over, each drained and notified on its own (a pass of the
    back-end finds at most one queue's requests; ``inf``: one shared queue).

    The invariants are checked when a Network is made (ParameterError naming the
    field and value); the load-independent questions every solver and consumer
    asks (bottleneck, saturation, CPU per I/O, stability) are answered here, once.
    """

    name: str
    stations: tuple[Station, ...]
    route: tuple[Visit, ...]
    batch: float = 1.0
    rate_per_s: float | None = None
    population: int | None = None
    think_us: float = 0.0
    polling: tuple[str, ...] = ()
    #: fio jobs pinned to vCPUs: closed, the requests in flight of each group (whole, summing
    #: to the population); open, each group's share of the rate (summing to 1). Empty: one
    #: group. A private station has one instance per group.
    groups: tuple[float, ...] = ()
    #: host cores the thread stations share (inf: a core for every thread)
    cores: float = INF
    #: most requests past the route's first hop at once (inf: no limit)
    inflight: float = INF
    #: a network workload's unit of work (payload, frames, packets per I/O); None: one
    #: small exchange (or a block request) per I/O
    units: Units | None = None
    #: a lossy workload's finite ring: (its name, slots, the resource that drains it)
    ring: tuple[str, int, str] | None = None
    #: the most interrupts per second the device raises (inf: no limit): under a
    #: load-dependent batch a notification covers at least the units of one interval
    irq_max_per_s: float = INF
    #: how long KVM spins a halted vCPU's thread before it sleeps (µs; the host's
    #: halt_poll_us; 0: no KVM guest, i.e. bare metal or Xen)
    halt_poll_us: float = 0.0
    #: the device queues (rings, NVMe queue pairs) the requests are spread over, each
    #: notified and drained on its own (inf: one shared queue, or no queue structure)
    queues: float = INF

    def __post_init__(self) -> None:
        where = f"network {self.name!r}"
        b = self.batch
        _validate.number(f"{where}: batch", b, lo=1)
        check_servers(f"{where}: queues", self.queues)
        if (self.rate_per_s is None) == (self.population is None):
            raise ParameterError(f"{where}: give exactly one of rate_per_s (open) and population "
                                 f"(closed), got {self.rate_per_s!r} and {self.population!r}")
        if self.rate_per_s is not None:
            _validate.number(f"{where}: rate_per_s", self.rate_per_s, lo=0, strict=True)
        else:
            n = _validate.number(f"{where}: population", self.population, lo=1, integer=True)
            if b > n:
                raise ParameterError(f"{where}: batch {b!r} > population {n!r}: a batch larger "
                                     "than the requests in flight can never fill")
        _nonneg(f"{where}: think_us", self.think_us)
        _validate.number(f"{where}: irq_max_per_s", self.irq_max_per_s, lo=0, strict=True,
                         allow_inf=True)
        names = [s.name for s in self.stations]
        for s in self.stations:
            check_servers(s.name, s.servers)
        for v in self.route:
            if not (0 <= v.station < len(self.stations)):
                raise ParameterError(f"{where}, hop {v.hop!r}: station index {v.station!r} "
                                     f"out of range (0..{len(self.stations) - 1})")
            for f in ("mean_us", "scv", "count"):
                _nonneg(f"{where}, hop {v.hop!r}: {f}", getattr(v, f))
            if v.per not in ("io", "batch", "waiter"):
                raise ParameterError(f"{where}, hop {v.hop!r}: per must be 'io', 'batch' or "
                                     f"'waiter', got {v.per!r}")
            if v.per == "waiter" and self.stations[v.station].is_delay:
                raise ParameterError(f"{where}, hop {v.hop!r}: a 'waiter' visit needs a lock "
                                     f"station, not the delay station "
                                     f"{names[v.station]!r}")
            if v.holds != -1 and (v.holds == v.station or not (
                    0 <= v.holds < len(self.stations)) or v.poll or v.per == "waiter"):
                raise ParameterError(
                    f"{where}, hop {v.hop!r}: holds must name another station's index "
                    f"(0..{len(self.stations) - 1}, not its own {v.station}) on a visit that "
                    f"is neither a poll nor per 'waiter', got {v.holds!r}")
            if v.poll and not self.stations[v.station].is_delay:
                raise ParameterError(
                    f"{where}, hop {v.hop!r}: a polling hop holds no server; it must visit a "
                    f"delay station (servers = inf), not {names[v.station]!r} with "
                    f"{self.stations[v.station].servers:g} server(s)")
        for s in self.stations:  # after the hops, whose messages say more
            _nonneg(f"{where}, station {s.name!r}: demand_us", s.demand_us)
        for p in self.polling:
            if p not in names:
                raise ParameterError(f"{where}: polling station {p!r} is not one of {names}")
        self._check_structure(where)

    def at_load(self, population: int, groups: tuple[float, ...], think_us: float,
                batch: float) -> Network:
        """This network at another closed load: the same stations and route, with only the
        load's fields (population, groups, think time, batch) replaced and checked -- a
        sweep's points differ only there, and re-checking every hop was most of its time."""
        where = f"network {self.name!r}"
        n = _validate.number(f"{where}: population", population, lo=1, integer=True)
        _validate.number(f"{where}: batch", batch, lo=1)
        if batch > n:
            raise ParameterError(f"{where}: batch {batch!r} > population {n!r}: a batch larger "
                                 "than the requests in flight can never fill")
        _nonneg(f"{where}: think_us", think_us)
        new = object.__new__(Network)
        new.__dict__.update(self.__dict__, population=population, groups=groups,
                            think_us=think_us, batch=batch, rate_per_s=None)
        new._check_structure(where)
        return new

    def with_costs(self, means_us: list[float], scvs: list[float]) -> Network:
        """This network with new per-visit mean costs (µs) and scvs, one per route step (each
        already checked finite and >= 0 by the caller): the same stations, route structure
        and load.

        A fit's next point moves costs only, and re-checking the whole structure was most
        of the time of :func:`build`; :class:`Rebuilder` is the one caller and
        ``tests/test_network_rebuild.py`` checks that it equals a fresh build. Visits whose
        mean and scv did not change are kept, and so are the stations none of whose visits
        changed.
        """
        route = list(self.route)
        dirty = [False] * len(self.stations)
        for i, (v, m, c) in enumerate(zip(self.route, means_us, scvs, strict=True)):
            om, oc = v.mean_us, v.scv
            if m == om and c == oc and (m != 0.0 or _same(m, om)) and (c != 0.0 or _same(c, oc)):
                continue
            nv = object.__new__(Visit)
            object.__setattr__(nv, "__dict__", {**v.__dict__, "mean_us": m, "scv": c})
            route[i] = nv
            dirty[v.station] = True
        if not any(dirty):
            return self
        new = object.__new__(Network)
        new.__dict__.update(self.__dict__, route=tuple(route),
                            stations=self._stations_of(route, self.batch, dirty))
        if math.isfinite(self.cores):  # a thread station's demand may have turned > 0
            new._check_cores(f"network {self.name!r}")
        return new

    def _stations_of(self, route, batch: float,
                     dirty: list[bool] | None = None) -> tuple[Station, ...]:
        """This network's stations with the demand, visits and visit-mix scv of ``route`` at
        ``batch`` (as :func:`aggregate`: the same sums, the same rounding); with ``dirty``,
        only the stations it marks are made anew, the others are this network's."""
        n = len(self.stations)
        dem = [0.0] * n
        vis = [0.0] * n
        m2 = [0.0] * n
        held = [0.0] * n
        if dirty is not None:  # a held station's sum changes with its holders' visits
            dirty = list(dirty)
            for v in route:
                if v.holds >= 0 and dirty[v.station]:
                    dirty[v.holds] = True
        for v in route:
            i = v.station
            # Visit.per_io, inlined: this loop runs for every network a fit makes
            per = v.per
            k = v.count / batch if per == "batch" else 0.0 if per == "waiter" else v.count
            if v.holds >= 0 and (dirty is None or dirty[v.holds]):
                held[v.holds] += k * v.mean_us
            if dirty is not None and not dirty[i]:  # its station is kept: its sums unused
                continue
            m = v.mean_us
            dem[i] += k * m
            vis[i] += k
            m2[i] += k * m**2 * (1.0 + v.scv)
        stations = []
        for i, s in enumerate(self.stations):
            if dirty is not None and not dirty[i]:
                stations.append(s)
                continue
            mean = dem[i] / vis[i] if vis[i] > 0 else 0.0
            scv = max(m2[i] / vis[i] / (mean * mean) - 1.0, 0.0) if mean * mean > 0 else 1.0
            ns = object.__new__(Station)
            object.__setattr__(ns, "__dict__", {**s.__dict__, "demand_us": dem[i], "visits": vis[i],
                                               "scv": scv, "held_us": held[i]})
            stations.append(ns)
        return tuple(stations)

    def with_batch(self, batch: float) -> Network:
        """This network at another batch (requests or packets per notification): the same
        route and costs, each station's visits and demand re-aggregated for the per-batch hops.

        No hop cost reads the batch, so this is ``build`` at the new batch without
        evaluating a cost again; the packets-per-notification fixed point
        (:mod:`iovmodel.solve.packets`) tries many batches of one network.
        ``tests/test_network_rebuild.py`` checks it equals a fresh build.
        """
        where = f"network {self.name!r}"
        _validate.number(f"{where}: batch", batch, lo=1)
        if self.population is not None and batch > self.population:
            raise ParameterError(f"{where}: batch {batch!r} > population {self.population!r}: a "
                                 "batch larger than the requests in flight can never fill")
        new = object.__new__(Network)  # the route (its visits' costs) is shared, unchanged
        new.__dict__.update(self.__dict__, batch=batch,
                            stations=self._stations_of(self.route, batch))
        return new

    def pass_share(self, i: int) -> float:
        """The share of station ``i``'s demand at this network's batch that its visits spend
        inside the back-end's pass over its ring (not :attr:`Visit.after_pass`): the part of
        its utilisation during which arriving requests ride on the pass instead of
        notifying (:mod:`iovmodel.solve.batching`); 1 where no visit is after the pass."""
        sums = _pass_sums(self.route)
        if not sums or i not in sums:
            return 1.0
        io, batch, in_io, in_batch = sums[i]
        total = io + batch / self.batch
        return (in_io + in_batch / self.batch) / total if total > 0 else 1.0

    def _check_structure(self, where: str) -> None:
        g = self.groups
        if g:
            plain = all(type(x) is float and 0.0 <= x < INF for x in g)  # the usual case, fast
            if (not plain and any(isinstance(x, bool) or not (
                    isinstance(x, int | float | np.integer | np.floating)
                    and math.isfinite(x) and x >= 0) for x in g)) \
                    or not any(x > 0 for x in g):
                raise ParameterError(f"{where}: groups must be finite numbers >= 0, one of them "
                                     f"> 0, got {g!r}")
            if self.population is not None:
                if any(float(x) != int(x) for x in g) or sum(g) != self.population:
                    raise ParameterError(f"{where}: groups {g!r} must be whole numbers of requests "
                                         f"summing to the population {self.population}")
            elif abs(sum(g) - 1.0) > 1e-9:
                raise ParameterError(f"{where}: open groups are shares of the rate summing to 1, "
                                     f"got {g!r}")
        check_servers(f"{where}: cores", self.cores)
        check_servers(f"{where}: inflight", self.inflight)
        self._check_cores(where)

    def _check_cores(self, where: str) -> None:
        free = self.cores - self.polling_cores
        if free < 1 and any(s.thread and s.name not in self.polling and s.demand_us > 0
                            for s in self.stations):
            raise ParameterError(
                f"{where}: {self.polling_cores:g} busy-polling thread(s) hold all {self.cores:g} "
                "host core(s): no core is left for the other threads (cores must exceed the "
                "polling threads)")

    @property
    def n_groups(self) -> int:
        """Groups (vCPUs in use), at least 1."""
        return max(len(self.groups), 1)

    def instances(self, s: Station) -> int:
        """Instances of a station: one per group if it is private, else 1."""
        return self.n_groups if s.private else 1

    def effective_servers(self, s: Station) -> float:
        """Servers of a station over all its instances."""
        return s.servers * self.instances(s)

    @property
    def thread_demand_us(self) -> float:
        """Demand per I/O on host threads that need a core (busy-polling ones excluded), µs."""
        return float(sum(s.demand_us for s in self.stations
                         if s.thread and s.name not in self.polling))

    def _limits(self) -> list[Station]:
        """The stations that bound throughput, as Stations over all instances, plus the host
        cores (servers = cores left by polling threads, demand = thread demand) and the
        in-flight limit (servers = inflight, demand = the zero-load latency: the bound
        inflight / R0 is exact at inflight = 1 and an upper bound above)."""
        # a server held by visits elsewhere (Visit.holds) is occupied for those too
        out = [replace(s, servers=self.effective_servers(s), demand_us=s.occupied_us,
                       held_us=0.0)
               for s in self.stations if not s.is_delay and s.occupied_us > 0]
        if math.isfinite(self.cores) and self.thread_demand_us > 0:
            out.append(Station("host cores", self.cores - self.polling_cores,
                               self.thread_demand_us, 1.0))
        if math.isfinite(self.inflight):
            out.append(Station("inflight", self.inflight, self.zero_load_latency_us, 1.0))
        return out

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
        """The resource with the largest demand per server over all its instances (delay
        stations excluded; with only delay stations, the one with the largest demand).
        Besides the stations, the host cores (``cores``: "host cores") and the in-flight
        limit ("inflight") can be it."""
        lim = self._limits()
        if not lim:  # only delay stations: nothing saturates
            return max(self.stations, key=lambda s: s.demand_us)
        return max(lim, key=lambda s: s.demand_us / s.servers)

    @property
    def saturation_per_s(self) -> float:
        """Throughput bound servers / demand at the bottleneck, I/O per s (inf: none).

        ``bottleneck().capacity_per_s`` without making a Station per limit: a stream's
        packets-per-notification fixed point asks it at every batch it tries."""
        best, cap = -1.0, INF  # the first of equal demands per server wins, as max() picks
        for s in self.stations:
            d = s.demand_us + s.held_us  # occupied_us, without the property call
            if s.is_delay or d <= 0:
                continue
            c = self.effective_servers(s)
            if d / c > best:
                best, cap = d / c, c / d * 1e6
        extra = []
        if math.isfinite(self.cores) and self.thread_demand_us > 0:
            extra.append((self.cores - self.polling_cores, self.thread_demand_us))
        if math.isfinite(self.inflight):
            extra.append((self.inflight, self.zero_load_latency_us))
        for c, d in extra:
            if d / c > best:
                best, cap = d / c, (c / d * 1e6 if d > 0 else INF)
        return cap

    @property
    def zero_load_latency_us(self) -> float:
        """Sum of all demands: the latency of an I/O that never waits, µs."""
        return float(sum(s.demand_us for s in self.stations))

    def utilisation(self, throughput_per_s: float | np.ndarray) -> np.ndarray:
        """Busy fraction per server of each station (over all its instances) at a throughput
        (I/O per s; scalar or array -> array with a last axis over stations). Delay stations:
        mean busy servers."""
        x = np.asarray(throughput_per_s, dtype=float)[..., None] / 1e6
        c = np.array([1.0 if s.is_delay else self.effective_servers(s) for s in self.stations])
        return x * self.demands_us() / c

    def limit_utilisation(self, throughput_per_s: float) -> dict[str, float]:
        """Busy fraction of the host cores and of the in-flight slots at a throughput
        (I/O per s), for the limits that exist (cores: threads' demand over the cores
        polling leaves; in flight: throughput x zero-load latency over the slots, a lower
        bound on the slots in use)."""
        out = {}
        for s in self._limits():
            if s.name in ("host cores", "inflight"):
                out[s.name] = float(throughput_per_s * s.demand_us / s.servers / 1e6)
        return out

    def check_stable(self, rate_per_s: float) -> None:
        """Raise UnstableError (one wording) if an open load saturates a FIFO station, the
        host cores or the in-flight limit; it names the most loaded of them (the
        bottleneck), not the first on the route."""
        lim = self._limits()
        if not lim:
            return
        s = max(lim, key=lambda x: x.demand_us / x.servers)
        rho = rate_per_s * s.demand_us / s.servers / 1e6
        if rho >= 1:
            raise UnstableError(unstable_message(s.name, rho, rate_per_s, s.capacity_per_s,
                                                 self.name))

    def cpu_parts(self) -> tuple[float, float]:
        """Load-independent host and guest CPU µs per I/O (busy-polling stations excluded)."""
        polling = set(self.polling)
        host = guest = 0.0
        for v in self.route:
            n = v.per_io(self.batch) * v.mean_us
            if v.guest_cpu:
                guest += n
            elif v.host_cpu and self.stations[v.station].name not in polling:
                host += n
        return host, guest

    def vcpu_pays_us(self) -> dict[str, float]:
        """What the guest's vCPUs pay per I/O, µs: the demand of the vCPU stations split by
        whose work it is.

        ``guest`` is the guest OS and the application (block layer, driver, ISR, fio): the
        work a bare-metal CPU would do too. ``exits`` is the time the vCPU thread spends in
        the VM exits the guest takes (kicks, interrupt delivery and EOI without posted
        interrupts, emulated register accesses, exits to the VMM): host CPU on the vCPU's
        thread, which the guest counts as its own busy time. ``other`` holds the vCPU with
        no CPU counted (a posted interrupt). ``held`` is the emulation QEMU runs on the
        vCPU's thread under the global mutex (hops that hold the vCPU, :attr:`Visit.holds`;
        its wait for the mutex comes on top under load). ``total`` is their sum, the time
        that bounds one vCPU at ``1e6 / total`` I/O per second. Zeros on a path without a
        vCPU.
        """
        out = {"guest": 0.0, "exits": 0.0, "other": 0.0, "held": 0.0}
        for v in self.route:
            n = v.per_io(self.batch) * v.mean_us
            if v.holds >= 0 and self.stations[v.holds].name.startswith("vcpu") \
                    and not self.stations[v.holds].is_delay:
                out["held"] += n
            if not self.stations[v.station].name.startswith("vcpu"):
                continue
            out["guest" if v.guest_cpu else "exits" if v.host_cpu else "other"] += n
        out["total"] = out["guest"] + out["exits"] + out["other"] + out["held"]
        return out

    @property
    def polling_cores(self) -> float:
        """Cores that busy-poll (each burns all its time whatever the load)."""
        polling = set(self.polling)
        return float(sum(s.servers for s in self.stations if s.name in polling))

    def cpu_per_io(self, throughput_per_s: float | np.ndarray
                   ) -> tuple[float | np.ndarray, float]:
        """Host and guest CPU µs per I/O at a throughput (scalar or array, I/O per s):
        the load-independent parts plus every polling core in full (1e6 / X per core)."""
        host, guest = self.cpu_parts()
        cores = self.polling_cores
        if cores:
            x = np.asarray(throughput_per_s, dtype=float)
            with np.errstate(divide="ignore", invalid="ignore"):
                extra = np.where(x > 0, cores * 1e6 / np.where(x > 0, x, 1.0), 0.0)
            host = host + (float(extra) if extra.ndim == 0 else extra)
        return host, guest

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
              host_cpu: list[bool], batch: float) -> tuple[Station, ...]:
    """Sum a route's visits into per-station demand, visits and visit-mix scv."""
    n = len(names)
    dem = np.zeros(n)
    vis = np.zeros(n)
    m2 = np.zeros(n)  # sum over visits of per_io * E[S^2]
    held = np.zeros(n)  # demand of the visits elsewhere that hold the station's server
    for v in route:
        k = v.per_io(batch)
        dem[v.station] += k * v.mean_us
        vis[v.station] += k
        m2[v.station] += k * v.mean_us**2 * (1.0 + v.scv)
        if v.holds >= 0:
            held[v.holds] += k * v.mean_us
    out = []
    for i in range(n):
        mean = dem[i] / vis[i] if vis[i] > 0 else 0.0
        if mean * mean > 0:  # also guards sub-femtosecond costs whose square underflows
            scv = max(m2[i] / vis[i] / mean**2 - 1.0, 0.0)
        else:
            scv = 1.0
        out.append(Station(names[i], check_servers(names[i], servers[i]), float(dem[i]), float(vis[i]),
                           float(scv), bool(host_cpu[i]), held_us=float(held[i])))
    return tuple(out)


def station_of(path: Path, hop: Hop) -> str:
    """The station a hop is served at: a polling hop (the time until a spinning thread
    notices work) delays the request but serves no one, so it goes to the shared delay
    station :data:`POLL_STATION`, not to the polling thread. The one place that reads
    ``switch == "poll"`` (``build`` and ``symbolic.stations`` call it)."""
    return POLL_STATION if hop.switch_kind == "poll" else hop.resource


def build(path: Path, host: HostProfile, workload: Workload) -> Network:
    """Turn a Path, a HostProfile and a Workload into a :class:`Network`.

    Stations appear in the order their resource is first used on the path.
    Costs are evaluated with the host's costs, the path's options and the
    workload's ``size_bytes``, ``read_frac``, ``write_frac`` and ``fsync_per_io``; a
    negative or NaN result raises ParameterError.
    """
    from .spec.catalog import Path as _Path
    from .spec.catalog import path as _path
    from .spec.profile import as_host
    from .spec.workload import Workload as _Workload

    if isinstance(path, str) or not isinstance(path, _Path):
        path = _path(path)  # a catalog name is fine; anything else raises ParameterError
    host = as_host(host)
    if not isinstance(workload, _Workload):
        raise ParameterError(f"workload must be a Workload, got {type(workload).__name__} "
                             f"{workload!r}")
    if path.options.get("readonly") and (workload.write_frac > 0 or workload.fsync):
        raise ParameterError(f"path {path.name!r} has readonly=True (a read-only drive: the "
                             f"device model fails every write), but the workload is "
                             f"rw={workload.rw!r}; use a read workload or readonly=False")
    plan, nic_at, units, ring = _traffic_plan(path, workload)
    env = _env(path, host, workload, units)
    names: list[str] = []
    index: dict[str, int] = {}
    origin: dict[str, str] = {}  # station -> the catalog resource it instantiates
    route = []

    def station(name: str, res_name: str) -> int:
        if name not in index:
            index[name] = len(names)
            names.append(name)
            origin[name] = res_name
        return index[name]

    wire = _visit_units(workload.traffic, units, len(nic_at)) if nic_at else None
    for k, (h, suffix) in enumerate(plan):
        if k in nic_at:
            route.append(_nic_visit(station(nic_at[k], NIC_STATION), host, wire))
        res = station_of(path, h)
        k_st = station(res + suffix if res != POLL_STATION else res, res)
        mean = _hop_mean(path, h, env)
        # the spin of a busy-polling core is already counted in full (Network.cpu_per_io)
        host_cpu = path.cpu_of(h) == "host" and not path.resources[h.resource].polling
        scv = _hop_scv(path, h, env)
        # the thread the hop runs on, held while it queues here (a vCPU in an MMIO handler)
        held = station(h.holds + suffix, h.holds) if h.holds else -1
        route.append(Visit(h.name, k_st, float(mean), scv, h.count_in(env),
                           h.per, h.switch_kind, host_cpu, guest_cpu=path.cpu_of(h) == "guest",
                           poll=res == POLL_STATION, holds=held, after_pass=h.after_pass))
    if len(plan) in nic_at:
        route.append(_nic_visit(station(nic_at[len(plan)], NIC_STATION), host, wire))
    groups = vcpu_groups(path, workload)
    g = max(len(groups), 1)
    queues = path.options.get("queues", INF)
    # finite vCPUs: blk-mq / XPS map each vCPU in use to a queue; unlimited: no cap from them
    queues_used = queues if math.isinf(path.options.get("vcpus", INF)) else min(queues, g)
    res = path.resources

    def servers_of(name: str) -> float:
        r = origin[name]
        if r == POLL_STATION:
            return INF
        if r == NIC_STATION:
            return 1.0
        n = path.servers_of(r, host)
        if res[r].per_group:
            # unlimited vCPUs: every request has a CPU of its own (a delay station)
            return INF if math.isinf(path.options.get("vcpus", INF)) else n
        if res[r].per_queue:
            n = min(n, queues_used)  # one thread per virtqueue in use at most
        return n

    servers = [servers_of(r) for r in names]
    host_cpu = [True if origin[r] == POLL_STATION else
                False if origin[r] == NIC_STATION else res[origin[r]].cpu == "host" for r in names]
    stations = aggregate(tuple(route), names, servers, host_cpu, workload.batch)
    # the threads that take a guest lock: the vCPUs in use (unlimited vCPUs: each job its own
    # CPU, an open load any number); beyond one holder per instance of the lock they wait
    contenders = (g if groups or not math.isinf(path.options.get("vcpus", INF)) else
                  INF if workload.is_open else float(workload.jobs))
    stations = tuple(s if origin[s.name] in (POLL_STATION, NIC_STATION) else
                     replace(s, private=res[origin[s.name]].per_group and bool(groups)
                             and not s.is_delay, thread=res[origin[s.name]].thread,
                             lock_waiters=max(contenders - s.servers, 0.0)
                             if res[origin[s.name]].lock and not s.is_delay else 0.0)
                     for s in stations)
    polling = tuple(r for r in names if origin[r] not in (POLL_STATION, NIC_STATION)
                    and res[origin[r]].polling)
    return Network(
        name=path.name, stations=stations, route=tuple(route), batch=workload.batch,
        rate_per_s=workload.rate_per_s if workload.is_open else None,
        population=None if workload.is_open else workload.population,
        think_us=0.0 if workload.is_open else workload.think_us, polling=polling,
        groups=groups, cores=float(path.options.get("cores", INF)),
        inflight=path.inflight_limit(env), units=units, ring=ring,
        irq_max_per_s=path.irq_max_per_s(), halt_poll_us=halt_poll_of(path, host),
        # a multi-queue device (the path has a queues option) with finite vCPUs: each vCPU
        # in use submits to a queue of its own (blk-mq), at most queues of them
        queues=(float(queues_used) if "queues" in path.options and math.isfinite(queues_used)
                and queues_used > 1 else INF),
    )


#: path families whose guest runs under KVM: an idle vCPU halts (HLT or WFI exit) and KVM
#: polls for its wake-up before it puts the thread to sleep (virt/kvm/kvm_main.c)
KVM_FAMILIES = frozenset({"emulated", "virtio", "vhost", "vhost-user", "passthrough",
                          "userspace-net"})


def halt_poll_of(path: Path, host: HostProfile) -> float:
    """KVM's halt-polling window for this path's vCPUs (µs): the host's ``halt_poll_us``
    for a KVM guest (its idle vCPUs halt); 0 on bare metal and under Xen."""
    if path.family not in KVM_FAMILIES:
        return 0.0
    return float(host["halt_poll_us"])


#: the station of a physical NIC's wire (line rate, frame rate)
NIC_STATION = "nic"
#: the hop of the physical link between two hosts' NICs, one way: an exchange with a VM on
#: another host crosses it each way (the NIC station's line time comes before it)
LINK_HOP = ("physical link: NIC to NIC, one way (both NICs, the cable, a switch)", "wire",
            "wire_us")
#: suffix of the stations of the receiving VM (or host) of a one-way transfer
RECEIVER = " (receiver)"


def _env(path: Path, host: HostProfile, workload: Workload, units: Units | None) -> dict:
    """The names a hop's cost reads: the host's costs, the path's options and the size of
    the workload's unit (``units``, a network workload's; a flood changes the guest's and
    the host's stack costs, :func:`_stack_costs`)."""
    env = dict(host)
    env.update(_own_names(path, workload, units))
    env.update(_stack_costs(path, host, workload, units))
    return env


def _own_names(path: Path, workload: Workload, units: Units | None) -> dict:
    """The names over the host's costs that do not depend on the host: the path's options,
    the workload's names and, for a network workload, the size of its unit."""
    names = dict(path.options)
    names.update(workload.cost_names())
    if units is not None:
        names["size_bytes"] = units.bytes_per_unit
        # the application's write (iperf3 --len): a stream's packets carry several or part
        names[WRITE_BYTES] = float(workload.traffic.size_bytes)
    return names


#: the name a stream's per-call hops read: the application's write (and read) size in bytes
WRITE_BYTES = "write_bytes"


def guest_pkt_reads(path: Path, traffic) -> tuple[str, ...]:
    """The guest driver costs per packet a network workload reads (:func:`_guest_net_us`):
    a flood's sending and receiving guest sides, and a TCP stream's segments where the
    back-end takes no super-packets."""
    from .spec.traffic import path_packets

    if traffic is None:
        return ()
    if traffic.kind == "flood":
        return {"tx": ("guest_pkt_us",), "rx": ("guest_pkt_rx_us",)}.get(
            traffic.direction, ("guest_pkt_us", "guest_pkt_rx_us"))
    if traffic.kind == "stream" and traffic.protocol == "tcp" and traffic.tso:
        pk = path_packets(path.name)
        if traffic.units(pk.takes_tso(path.options), pk.mtu).payload_bytes \
                < traffic.units(True).payload_bytes:
            return ("guest_pkt_us", "guest_pkt_rx_us")
    return ()


def xdp_tx_flood(path: Path, traffic) -> bool:
    """Whether ``traffic`` on ``path`` is a guest's TX flood into its host's tap with an XDP
    program there (a flood from the guest that bypasses the host stack on a path whose
    frames reach the host): vhost-net then transmits in batches of XDP buffers and reads
    ``vhost_xdp_tx_us`` where its hops read ``vhost_us``."""
    from .spec.traffic import path_packets

    return (traffic is not None and traffic.kind == "flood" and traffic.direction == "tx"
            and not traffic.host_stack and path_packets(path.name).nic != "always")


def _stack_costs(path: Path, host: HostProfile, workload: Workload,
                 units: Units | None) -> dict:
    """The stack costs a network workload changes (:func:`_guest_net_us`; a flood whose host
    end bypasses the host stack pays ``host_pkt_us`` where the path reads ``host_net_us``,
    on a path whose frames reach the host at all: not one bound to a physical NIC), and what
    ``host_net_us`` stands for under the path's options (:func:`host_stack_expr`: ``nat``,
    ``macvtap``)."""
    from ._expr import evaluate
    from .spec.traffic import path_packets

    out = {}
    stack = host_stack_expr(path)
    if stack is not None:
        out["host_net_us"] = float(evaluate(stack, host))
    guest = _guest_net_us(host, workload, units)
    if guest is not None:
        out["guest_net_us"] = guest
    t = workload.traffic
    if path.options.get("macvtap") and t is not None and t.direction in ("tx", "rx"):
        raise ParameterError(
            f"path {path.name!r} with macvtap=True cannot take {t!r}: traffic between a guest "
            f"and its own host needs the host to reach the guest, and a macvtap does not "
            f"hairpin to its lower device's own stack (cloud-hypervisor docs/macvtap-bridge.md:"
            f" 'not usually possible to reach the guest directly from the host'), nor has it "
            f"an XDP hook or a queue pktgen can feed (drivers/net/tap.c); use macvtap=False "
            f"(a tap), or direction 'hosts' or 'vm2vm' (macvtaps in bridge mode on one NIC)")
    if units is not None and t is not None and not t.host_stack \
            and path_packets(path.name).nic != "always":
        # XDP_DROP on the tap (tun_xdp_one in the writer's context) or pktgen's xmit into
        # the tap (tun_net_xmit): no socket stack, no bridge on the host
        out["host_net_us"] = host["host_pkt_us"]
        if xdp_tx_flood(path, t):
            # a tap with an XDP program is a SOCK_XDP socket: vhost-net's handle_tx builds
            # XDP buffers and hands them to tun in batches (vhost_net_build_xdp), no skb each
            out["vhost_us"] = host["vhost_xdp_tx_us"]
    return out


def host_stack_expr(path: Path) -> str | None:
    """What a path's ``host_net_us`` stands for under its options, as a cost expression
    (None: ``host_net_us`` itself). ``nat``: a guest behind masquerade, each packet the host
    stack moves between the tap and the wire also passes conntrack and NAT. ``pod_net``: the
    tap in a Kubernetes pod's network namespace, bridged to the pod's veth pair, so each pass
    also crosses that bridge and veth pair (``host_podnet_us``). ``macvtap``:
    the VMM's fd is a macvtap on the NIC (libvirt's ``<interface type='direct'>``), so a
    frame goes from the tap queue to the lower device through macvlan, no bridge and no IP
    layer: ``host_macvtap_us`` in its place. :func:`iovmodel.symbolic.stations` reads it
    too, so both solvers price the same host stack."""
    if path.options.get("macvtap"):
        return "host_macvtap_us"
    extra = [c for c, on in (("host_nat_us", path.options.get("nat")),
                             ("host_podnet_us", path.options.get("pod_net"))) if on]
    return " + ".join(["host_net_us", *extra]) if extra else None


def _guest_net_us(host: HostProfile, workload: Workload, units: Units | None) -> float | None:
    """The guest's stack cost per unit where a network workload changes it (None: the
    host's ``guest_net_us`` stands)."""
    if units is None:
        return None
    t = workload.traffic
    if t.kind == "flood":
        # a generator in the kernel (pktgen's netdev_start_xmit) or an XDP/AF_XDP consumer
        # bypasses the socket stack: each side's guest work is the driver's, guest_pkt_us
        # where the guest sends and guest_pkt_rx_us where it receives (a flood to or from
        # its host has one guest side, priced for both halves; between guests one of each)
        if t.direction == "tx":
            return 2.0 * host["guest_pkt_us"]
        if t.direction == "rx":
            return 2.0 * host["guest_pkt_rx_us"]
        return host["guest_pkt_us"] + host["guest_pkt_rx_us"]
    if t.kind == "stream" and t.protocol == "tcp" and t.tso:
        gso = t.units(True).payload_bytes  # what the guest's TCP stack builds at once
        if units.payload_bytes < gso:
            # a back-end without TSO: the stack still builds GSO super-packets and segments
            # them in software just before the driver (net/core/dev.c validate_xmit_skb ->
            # skb_gso_segment), and GRO merges the received segments before the stack
            # (virtio_net receive_buf -> napi_gro_receive): per segment the guest pays its
            # driver work and its share of one stack pass
            return (host["guest_net_us"] * units.payload_bytes / gso
                    + host["guest_pkt_us"] + host["guest_pkt_rx_us"])
    return None


def _hop_mean(path: Path, h: Hop, env: dict) -> float:
    """One occurrence of a hop, µs: its cost evaluated in ``env``, checked finite and >= 0."""
    from ._expr import evaluate

    mean = evaluate(h.cost, env)
    if not (mean >= 0) or math.isinf(mean):
        raise ParameterError(f"path {path.name!r}, hop {h.name!r}: cost {h.cost!r} evaluates "
                             f"to {mean!r} µs; it must be finite and >= 0")
    return float(mean)


def _hop_scv(path: Path, h: Hop, env: dict) -> float:
    """The scv of one occurrence of a hop (a number or an expression of costs), checked."""
    from ._expr import evaluate

    scv = evaluate(h.scv, env)
    if not (scv >= 0) or math.isinf(scv):
        raise ParameterError(f"path {path.name!r}, hop {h.name!r}: scv {h.scv!r} evaluates "
                             f"to {scv!r}; it must be finite and >= 0")
    return float(scv)


def _nic_mean(host: HostProfile, units: Units) -> float:
    """A unit's frames on a physical NIC, µs: each frame holds the wire for its bytes plus
    FCS, preamble and inter-frame gap at the line rate (``nic_ns_per_byte``), or the NIC's
    per-frame time (``nic_frame_us``, its frame-rate limit), whichever is longer."""
    per_frame = max((units.wire_bytes / units.frames) * host["nic_ns_per_byte"] / 1000.0,
                    host["nic_frame_us"])
    return units.frames * per_frame


def _nic_visit(k: int, host: HostProfile, units: Units) -> Visit:
    """A unit's frames on a physical NIC (:func:`_nic_mean`) as a visit to station ``k``."""
    return Visit(f"NIC: {units.frames:g} frame(s) on the wire", k, _nic_mean(host, units),
                 0.0, 1.0, "io", None, False, guest_cpu=False)


def rebuild(template: Network, path: Path, host: HostProfile, workload: Workload) -> Network:
    """``build(path, host, workload)`` for a host that differs from the template's only in
    costs: ``template`` is ``build(path, other_host, workload)``, with the same values of
    every name a resource's server count reads. Only the route's costs are evaluated again,
    in :func:`build`'s order and with its checks (``tests/test_network_rebuild.py`` compares
    the two for every catalog path and workload kind). A caller that rebuilds one template
    many times (the fit's network memo, :mod:`iovmodel.calibrate.predict`) keeps a
    :class:`Rebuilder` instead."""
    return Rebuilder(template, path, workload)(host)


class Rebuilder:
    """:func:`rebuild` of one template, prepared once and called for many hosts.

    What does not depend on the host is worked out here, once: the hop plan of the
    workload's traffic, the unit on the wire, the names the options and the workload give
    the expressions, and one code object that evaluates every cost and scv of the route
    (:func:`~iovmodel._expr.compile_many`: the same values as one evaluation per cost).
    Each call then evaluates that code in the host's scope and re-aggregates only the
    stations whose visits changed since the previous call, reusing the other visits and
    stations: the result equals ``build(path, host, workload)``
    (``tests/test_network_rebuild.py`` checks it over sequences of hosts).
    :attr:`signature` holds the latest network's route costs (bytes): two calls whose
    signatures are equal returned equal networks; so did two Rebuilders' whose
    :attr:`structure` (the template without its costs) and signature are equal.
    """

    def __init__(self, template: Network, path: Path, workload: Workload) -> None:
        from ._expr import compile_many

        plan, nic_at, units, _ = _traffic_plan(path, workload)
        self.path, self.workload, self.units = path, workload, units
        self.wire = _visit_units(workload.traffic, units, len(nic_at)) if nic_at else None
        self.plan = plan
        # route step -> index of its hop in the plan (None: a NIC visit)
        steps: list[int | None] = []
        exprs: list[float | str] = []
        for k, (h, _suffix) in enumerate(plan):
            if k in nic_at:
                steps.append(None)
            steps.append(k)
            exprs.extend((h.cost, h.scv))
        if len(plan) in nic_at:
            steps.append(None)
        if len(steps) != len(template.route):
            raise ParameterError(f"network {template.name!r} is not a build of path "
                                 f"{path.name!r} under this workload")
        self.steps = tuple(steps)
        self.code = compile_many(tuple(exprs))
        self.names = _own_names(path, workload, units)
        self.last = template
        self.signature = _signature([v.mean_us for v in template.route],
                                    [v.scv for v in template.route])
        self.structure = _structure(template)
        self.halt_poll_us = template.halt_poll_us

    def _local(self, host: HostProfile) -> dict:
        """The names over the host's (:func:`_env`'s, without the host's costs)."""
        stack = _stack_costs(self.path, host, self.workload, self.units)
        return {**self.names, **stack} if stack else self.names

    def __call__(self, host: HostProfile, scope: dict | None = None) -> Network:
        """The template's network under ``host``; ``scope``, if given, is
        ``_expr.scope(host)`` (shared by every network of one host)."""
        return self.make(*self.costs(host, scope))

    def costs(self, host: HostProfile, scope: dict | None = None
              ) -> tuple[list[float], list[float]]:
        """The route's mean costs (µs) and scvs under ``host``, checked as :func:`build`
        checks them; :attr:`signature` becomes theirs (:meth:`make` makes their network)."""
        from ._expr import scope as _scope

        g = _scope(host) if scope is None else scope
        try:
            vals = eval(self.code, g, self._local(host))  # noqa: S307 (checked trees only)
        except ArithmeticError:
            vals = None
        # every value finite and >= 0 (a NaN or an infinity makes the sum non-finite; a sum
        # that only overflows is checked one by one and passes)
        if vals is None or not (min(vals, default=0.0) >= 0 and math.isfinite(sum(vals))):
            self._one_by_one(host)  # raises with build's message, for the first bad cost
            if vals is None:
                raise AssertionError("a cost failed evaluated at once but not one by one")
        means: list[float] = []
        scvs: list[float] = []
        for k in self.steps:
            if k is None:
                means.append(_nic_mean(host, self.wire))
                scvs.append(0.0)
            else:
                means.append(float(vals[2 * k]))
                scvs.append(float(vals[2 * k + 1]))
        self.signature = _signature(means, scvs)
        self.halt_poll_us = halt_poll_of(self.path, host)
        return means, scvs

    def make(self, means: list[float], scvs: list[float], net: Network | None = None
             ) -> Network:
        """The network of the route costs :meth:`costs` returned: ``net`` when given (a
        network equal to it, made before: same :attr:`structure` and signature), else the
        previous network with those costs (:meth:`Network.with_costs`)."""
        net = self.last.with_costs(means, scvs) if net is None else net
        if net.halt_poll_us != self.halt_poll_us:  # a host setting, not a route cost
            net = replace(net, halt_poll_us=self.halt_poll_us)
        self.last = net
        return net

    def _one_by_one(self, host: HostProfile) -> None:
        """Evaluate and check the route's costs one by one, in build's order (raises
        ParameterError or CatalogError as build does; returns if every cost passes)."""
        env = _env(self.path, host, self.workload, self.units)
        for h, _suffix in self.plan:
            _hop_mean(self.path, h, env)
            _hop_scv(self.path, h, env)


def _signature(means: list[float], scvs: list[float]) -> bytes:
    """The route's costs, bit for bit (a zero's sign too): with the template they make the
    network :class:`Rebuilder` returns, so equal signatures mean equal networks."""
    return array("d", means + scvs).tobytes()


def _structure(net: Network) -> str:
    """Everything of ``net`` but its route's costs and what they make (the stations'
    demands, visits, scvs and held demand), as text: with the route's costs
    (:func:`_signature`) it makes the network. Every attribute is in it but those, so a new
    one cannot be missed."""
    derived = ("demand_us", "visits", "scv", "held_us")
    return repr((sorted((k, v) for k, v in net.__dict__.items() if k not in ("route", "stations")),
                 [sorted((k, v) for k, v in s.__dict__.items() if k not in derived)
                  for s in net.stations],
                 [sorted((k, v) for k, v in v.__dict__.items() if k not in ("mean_us", "scv"))
                  for v in net.route]))


def _wire_units(t, units: Units) -> Units:
    """The frames a unit makes on the physical wire: the traffic's own MTU (a back-end's
    larger virtual MTU, passt's 65520, ends at the host socket), the same payload."""
    from .spec.traffic import Units as _Units

    w = t.units(True)
    if w.payload_bytes == units.payload_bytes or t.kind != "stream":
        return units
    frames = units.payload_bytes / w.payload_bytes * w.frames
    return _Units(units.payload_bytes, units.bytes_per_unit, frames, w.frame_bytes, frames)


def _visit_units(t, units: Units, visits: int) -> Units:
    """What one of a unit's ``visits`` NIC visits puts on the wire: the unit's frames
    (:func:`_wire_units`), split evenly when the unit crosses the link more than once (an
    exchange with a VM on another host: the request one way, the answer the other)."""
    from .spec.traffic import Units as _Units

    w = _wire_units(t, units)
    if visits <= 1:
        return w
    return _Units(w.payload_bytes, w.bytes_per_unit, w.frames / visits, w.frame_bytes,
                  w.packets / visits)


def _traffic_plan(path: Path, workload: Workload):
    """The hops a network workload's unit takes: (hop, station suffix) in order, where the
    NIC visits go ({position: station name}), the unit of work and the lossy ring.

    Without traffic (or for exchanges) every hop of the path, as the catalog states them
    (send, wire + peer, receive). A one-way transfer (stream, flood) takes the hops before
    the path's "wire" hop when the guest sends (``tx``), those after it when it receives
    (``rx``), and both for VM to VM: the receiving VM's resources are its own stations
    (suffix " (receiver)") unless the resource is shareable on one host (a polling back-end
    core) and both VMs are on it; the peer's turnaround (the wire hop) is not waited for.
    Across hosts the receiving VM's resources are always its own (another machine's), and
    with ``peer="host"`` there is no receiving VM: the transfer ends at the NIC.
    An exchange between two VMs on one host (``vm2vm``, no physical NIC) takes, in place of
    the wire-and-peer hop (a remote end's fixed turnaround, ``device_net_us``), the peer's
    own receive and send hops on the same path: this VM's send hops, the peer's receive and
    send hops, this VM's receive hops. An exchange with a VM on another host (``hosts``,
    ``peer="vm"``) takes the same hops, the far VM's on stations of its own, with the
    physical link between them each way: the NIC's line time and ``wire_us`` (both NICs,
    the cable, a switch); with a host peer (the default) it keeps the turnaround.
    """
    hops = list(path.active_hops())
    t = workload.traffic
    if t is None:
        return [(h, "") for h in hops], {}, None, None
    from .spec.traffic import path_packets

    pk = path_packets(path.name)
    units = t.units(pk.takes_tso(path.options), pk.mtu)
    crosses = pk.nic == "always" or (pk.nic == "wire" and t.direction == "hosts")
    wire = next((i for i, h in enumerate(hops) if h.resource == "wire"), None)
    ring = None
    if t.can_drop:
        slots = int(path.options.get("ring_slots", pk.ring_slots))
        ring = (pk.ring, slots, pk.ring_resource)
    tx = hops if wire is None else hops[:wire]
    rx = hops if wire is None else hops[wire + 1:]
    vm_peer = t.direction in ("vm2vm", "hosts") and t.peer == "vm"
    if t.kind == "rr" and vm_peer and wire is None:
        raise ParameterError(f"path {path.name!r} has no wire hop (resource 'wire') to split "
                             f"its exchange at, so it cannot reach a peer VM ({t!r})")
    if t.kind == "rr" and not (vm_peer and (t.direction == "hosts" or not crosses)):
        nic = {wire if wire is not None else len(hops): NIC_STATION} if crosses else {}
        return [(h, "") for h in hops], nic, units, ring
    if t.kind == "stream":
        tx, rx = _with_app_copies(path, tx, rx)
    if t.direction == "tx" or (t.direction == "hosts" and t.peer == "host"):
        return [(h, "") for h in tx], ({len(tx): NIC_STATION} if crosses else {}), units, ring
    if t.direction == "rx":
        return [(h, "") for h in rx], ({0: NIC_STATION} if crosses else {}), units, ring
    res = path.resources

    def suffix(h: Hop) -> str:
        r = res.get(h.resource)
        shared = t.direction == "vm2vm" and (r is None or r.shareable or math.isinf(
            _servers_hint(r)))
        return "" if shared else RECEIVER

    if t.kind == "rr":
        # an exchange between two VMs: the request through this VM's send hops and the
        # peer's receive hops, the answer back through the peer's send hops and this VM's
        # receive hops (the peer runs the same path); the wire-and-peer hop of an exchange
        # with a remote end (a fixed turnaround) is not taken. Across hosts the physical
        # link lies between them each way: the NIC's line time, then wire_us
        from .spec.catalog import Hop as _Hop

        link = [(_Hop(*LINK_HOP), "")] if t.direction == "hosts" else []
        plan = ([(h, "") for h in tx] + link + [(h, suffix(h)) for h in rx]
                + [(h, suffix(h)) for h in tx] + link + [(h, "") for h in rx])
        nic = {len(tx): NIC_STATION, 2 * len(tx) + len(rx) + 1: NIC_STATION} if link else {}
        return plan, nic, units, ring
    plan = [(h, "") for h in tx] + [(h, suffix(h)) for h in rx]
    # one NIC station for the link: the receiving NIC runs at the same line rate
    return plan, ({len(tx): NIC_STATION} if crosses else {}), units, ring


def _with_app_copies(path: Path, tx: list, rx: list) -> tuple[list, list]:
    """A socket stream's copies between the application and the kernel: tcp_sendmsg copies
    the user's data into skbs (net/ipv4/tcp.c, skb_copy_to_page_nocache) on the sender's
    CPU, tcp_recvmsg copies it out (skb_copy_datagram_msg) on the receiver's; the catalog's
    exchange hops count them only where a hop says so (then they are not added twice)."""
    from .spec.catalog import Hop

    if "vcpu" not in path.resources:
        return tx, rx

    def copies(hs: list) -> bool:
        return any(h.resource == "vcpu" and isinstance(h.cost, str)
                   and "copy_ns_per_byte" in h.cost for h in hs)

    cost = "copy_ns_per_byte*size_bytes/1000"
    if not copies(tx):
        tx = [Hop("guest: copy the payload from the application (tcp_sendmsg)", "vcpu", cost),
              *tx]
    if not copies(rx):
        rx = [*rx, Hop("guest: copy the payload to the application (tcp_recvmsg)", "vcpu",
                       cost)]
    # one system call per application write on the sender and per read on the receiver
    # (iperf3 reads with the same --len buffer): size_bytes / write_bytes of them per packet
    calls = f"syscall_us*size_bytes/{WRITE_BYTES}"
    tx = [Hop("guest: send() calls, one per application write", "vcpu", calls), *tx]
    rx = [*rx, Hop("guest: recv() calls, one per application read", "vcpu", calls)]
    return tx, rx


def _servers_hint(r) -> float:
    """A resource's servers when stated as a number (inf for a delay station)."""
    s = r.servers
    return math.inf if s == "inf" else float(s) if not isinstance(s, str) else 1.0


def vcpu_groups(path, workload) -> tuple[float, ...]:
    """How a workload's requests spread over the guest's vCPUs.

    fio runs each job as one thread; the guest scheduler spreads the threads over the
    vCPUs, so ``min(jobs, vcpus)`` vCPUs are busy, each serving ``jobs // vcpus`` or one more
    job (``iodepth`` requests each). Closed: the requests in flight per group; open (Poisson
    arrivals spread over the vCPUs): equal shares of the rate, one group per vCPU. One group
    (or unlimited vCPUs under an open load) gives ``()``.
    """
    v = path.options.get("vcpus", INF)
    if math.isinf(v):
        return ()  # a CPU for every request: no vCPU to share
    if workload.is_open:
        return () if v <= 1 else tuple([1.0 / v] * int(v))
    jobs = workload.jobs
    g = int(min(jobs, v))
    if g <= 1:
        return ()
    base, extra = divmod(jobs, g)
    return tuple(float((base + (i < extra)) * workload.iodepth) for i in range(g))
