"""From a Network to arrays, and one replication of the event loop.

The route is expanded into *steps*: a visit with ``count = 2.5`` becomes two
certain steps and one that happens with probability 0.5. Zero-cost visits are
dropped, except fork-join per-batch ones (they still synchronise the batch). Every
visit to a delay station (``servers = inf``, where ``network.build`` puts polling
hops) is a pure delay: it holds no server and queues nowhere.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from types import SimpleNamespace

import numpy as np

from ...errors import ParameterError, UnstableError
from ...network import Network, unstable_message
from ..locks import handoff_us
from . import events as K
from .aot import kernels
from .dists import Dist, as_dist, default_dist
from .stats import log_hist, mser

#: latency histogram grid, µs: 16 bins per octave from 2**-10 (~1 ns) to 2**27 (~134 s)
HIST_LO_EXP, HIST_HI_EXP, HIST_SUB_BITS = -10, 27, 4
HIST_EDGES_US = np.array(
    [2.0**e * (1 + m / 2**HIST_SUB_BITS) for e in range(HIST_LO_EXP, HIST_HI_EXP)
     for m in range(2**HIST_SUB_BITS)] + [2.0**HIST_HI_EXP])
PERCENTILES = (50.0, 90.0, 99.0, 99.9)


@dataclass(frozen=True)
class Spec:
    """Everything a replication needs (picklable, no Network inside)."""

    name: str
    station_names: tuple[str, ...]
    station_servers: np.ndarray  # float, inf for delay
    station_host_cpu: np.ndarray  # bool
    st_station: np.ndarray
    st_mode: np.ndarray
    st_batch: np.ndarray
    st_prob: np.ndarray
    st_visit: np.ndarray  # index into the route
    st_poll: np.ndarray  # bool
    st_host_cpu: np.ndarray  # bool: host CPU time outside polling cores
    st_guest: np.ndarray  # bool: guest CPU time
    station_polling: np.ndarray  # bool: a busy-polling core (burns its CPU whatever the load)
    samplers: tuple  # one per step, then arrival/think
    batch: int
    is_open: bool
    population: int
    think_us: float
    # issue 11 resources (defaults: one group, a core per thread, no in-flight limit)
    st_inst: np.ndarray  # first instance of each step's station
    st_private: np.ndarray  # bool: the station has an instance per group
    st_core: np.ndarray  # bool: the step needs a host core too
    station_instances: np.ndarray  # instances per station (groups if private, else 1)
    inst_servers: np.ndarray  # int64 per instance, then the core pool and the gate
    group_cum: np.ndarray  # open: cumulative shares of the groups (empty: one group)
    group_sizes: np.ndarray  # closed: requests of each group
    inflight: int  # requests past the start of the route at once (huge: no limit)
    st_fast: np.ndarray  # int64: how the kernel runs each step (events.GENERAL, AHEAD, CHAIN)
    st_hand: np.ndarray  # float: a lock step's hand-off per waiting thread (µs; 0: none)
    st_cap: np.ndarray  # int64: most threads that can wait at that lock
    # simultaneous possession: the station a step holds besides its own
    st_hold: np.ndarray  # int64: first instance of the held station (-1: none)
    st_hold_priv: np.ndarray  # bool: the held station has an instance per group
    st_hold_station: np.ndarray  # int64: the held station (-1: none)

    @property
    def plain(self) -> bool:
        """One group, a core per thread and no in-flight limit (today's network)."""
        return (self.station_instances.max(initial=1) == 1 and not self.st_core.any()
                and self.inflight >= NO_LIMIT and self.group_cum.size == 0
                and not (self.st_hold >= 0).any())


def _visit_dists(net: Network, dists: dict | None) -> dict[int, Dist]:
    out: dict[int, Dist] = {}
    names = {v.hop for v in net.route}
    for key, spec in (dists or {}).items():
        if key in ("arrival", "think"):
            continue
        if key not in names:
            raise ParameterError(
                f"dists: no hop named {key!r} in {net.name!r}; hops are {sorted(names)} "
                "(and 'arrival' / 'think')")
        d = as_dist(spec, key)
        for i, v in enumerate(net.route):
            if v.hop == key:
                out[i] = d
    return out


BATCHING = ("amortised", "fork-join")
#: a count that stands for "unlimited" in the kernel (servers of a delay station, ...)
NO_LIMIT = 1 << 40


def _resources(net: Network, fork_join: bool) -> dict:
    """Instances, the core pool and the in-flight gate of ``net`` as kernel arrays."""
    ngroups = max(len(net.groups), 1)
    polling = set(net.polling)
    inst = np.array([ngroups if s.private else 1 for s in net.stations], dtype=np.int64)
    base = np.concatenate([[0], np.cumsum(inst)[:-1]]).astype(np.int64)
    srv = [NO_LIMIT if math.isinf(s.servers) else int(s.servers)
           for s, n in zip(net.stations, inst, strict=True) for _ in range(n)]
    # polling stations hold their cores all the time: the pool is what is left
    held = sum(s.servers * n for s, n in zip(net.stations, inst, strict=True)
               if s.name in polling)
    threads = [s.thread and s.name not in polling for s in net.stations]
    if math.isinf(net.cores):
        pool = NO_LIMIT
        threads = [False] * len(threads)  # a core per thread: nothing to wait for
    else:
        pool = net.cores - held
        if any(threads) and pool < 1:
            raise ParameterError(
                f"network {net.name!r}: cores={net.cores:g} leave {pool:g} for threads once the "
                f"polling stations hold theirs ({held:g}); at least 1 is needed")
        pool = int(max(pool, 1))
    inflight = NO_LIMIT if math.isinf(net.inflight) else int(net.inflight)
    if fork_join and (ngroups > 1 or any(threads) or inflight < NO_LIMIT):
        raise ParameterError(
            f"network {net.name!r}: batching='fork-join' is not simulated together with groups, "
            "host cores or an in-flight limit; use batching='amortised'")
    g = np.asarray(net.groups, dtype=float)
    return dict(
        inst=inst, base=base, threads=np.array(threads, dtype=bool),
        inst_servers=np.array(srv + [pool, NO_LIMIT], dtype=np.int64),
        group_cum=np.cumsum(g) if (net.is_open and ngroups > 1) else np.zeros(0),
        group_sizes=(g.astype(np.int64) if (not net.is_open and ngroups > 1)
                     else np.zeros(0, dtype=np.int64)),
        inflight=inflight)


def compile_network(net: Network, dists: dict | None = None,
                    batching: str = "amortised") -> Spec:
    """Validate ``net`` and expand its route into the kernel's step arrays.

    ``batching="amortised"`` (the model's meaning, as ``analyze`` and ``symbolic``):
    a per-batch hop happens ``count / batch`` times per I/O; each request carries
    it with that probability, independently (batches of geometric size with
    mean ``batch``), and nobody waits for anyone. ``"fork-join"``: the
    ``batch`` requests of a batch (a whole number) wait for each other at a
    per-batch hop, which runs once for all of them.
    """
    if not isinstance(net, Network):
        raise ParameterError(f"expected an iovmodel.network.Network, got {type(net).__name__} {net!r:.80}")
    if batching not in BATCHING:
        raise ParameterError(f"batching must be one of {BATCHING}, got {batching!r}")
    fork_join = batching == "fork-join" and net.batch > 1
    if fork_join and not float(net.batch).is_integer():
        raise ParameterError(f"batching='fork-join' needs a whole batch, got {net.batch!r}")
    batch = int(net.batch) if fork_join else 1
    nst = len(net.stations)
    res = _resources(net, fork_join)
    servers = net.servers()
    overrides = _visit_dists(net, dists)
    st_station, st_mode, st_batch, st_prob, st_visit, st_poll, st_cpu, st_guest, st_held = (
        [] for _ in range(9))
    polling = set(net.polling)
    samplers: list = []
    step_means: list[float] = []
    for i, v in enumerate(net.route):
        per_batch = v.per == "batch" and fork_join
        # amortised: a per-batch hop is a per-I/O hop visited count / batch times
        count = v.count if per_batch else v.per_io(net.batch)
        d = overrides.get(i) or default_dist(v.scv, v.poll)
        mean = d.mean_us(v.mean_us)
        if count == 0 or (mean == 0 and not per_batch):
            continue
        whole = math.floor(count + 1e-12)
        frac = count - whole
        probs = [1.0] * whole + ([frac] if frac > 1e-12 else [])
        delay = math.isinf(servers[v.station]) or mean == 0
        for pr in probs:
            st_station.append(v.station)
            st_mode.append(1 if delay else 0)
            st_batch.append(per_batch)
            st_prob.append(pr)
            st_visit.append(i)
            st_poll.append(v.poll)
            st_cpu.append(bool(v.host_cpu and net.stations[v.station].name not in polling))
            st_guest.append(v.guest_cpu)
            samplers.append(d.sampler(v.mean_us, v.hop))
            step_means.append(mean * pr / (batch if per_batch else 1))
            # a held station with finite servers (a delay station is never short of one)
            st_held.append(v.holds if v.holds >= 0 and math.isfinite(servers[v.holds])
                           else -1)
    if fork_join and any(h >= 0 for h in st_held):
        raise ParameterError(
            f"network {net.name!r}: batching='fork-join' is not simulated together with "
            "visits that hold a second station (Visit.holds); use batching='amortised'")
    if len(st_station) >= K.PASS - 1:
        raise ParameterError(f"route of {net.name!r} expands to too many steps ({len(st_station)})")
    if net.is_open:
        rate = net.rate_per_s
        arr = as_dist((dists or {}).get("arrival", "exponential"), "arrival")
        samplers.append(arr.sampler(1e6 / rate, "arrival"))
        # stability: busy servers needed at each FIFO station (with the laws' own means,
        # which a user's dists may change)
        load = np.zeros(nst)
        core_load = 0.0
        for j, st in enumerate(st_station):
            if st_mode[j] == 0:
                load[st] += step_means[j]
            if st_held[j] >= 0:  # held meanwhile: at least its service
                load[st_held[j]] += step_means[j]
            if res["threads"][st]:
                core_load += step_means[j]
        rhos = [(rate * load[k] * 1e-6 / servers[k], k) for k in range(nst)
                if math.isfinite(servers[k]) and load[k] > 0 and res["inst"][k] == 1]
        if rhos:  # the most loaded station, as Network.check_stable names it
            rho, k = max(rhos)
            if rho >= 1.0:
                raise UnstableError(unstable_message(net.stations[k].name, rho, rate,
                                                     servers[k] / (load[k] * 1e-6), net.name))
        _check_instances_and_cores(net, res, load, core_load, rate)
        population = 0
    else:
        population = int(net.population)  # whole, >= batch: Network checks it
        th = as_dist((dists or {}).get("think", "exponential"), "think")
        samplers.append(th.sampler(net.think_us, "think"))
    st_core = res["threads"][np.array(st_station, dtype=np.int64)]
    held_a = np.array(st_held, dtype=np.int64)
    st_hold = np.where(held_a >= 0, res["base"][np.maximum(held_a, 0)], -1).astype(np.int64)
    st_hold_priv = (held_a >= 0) & (res["inst"][np.maximum(held_a, 0)] > 1)
    st_hand, st_cap = _handoffs(net, st_station, st_mode, st_batch, st_prob,
                                res["inst_servers"][res["base"]])
    return Spec(
        name=net.name,
        station_names=tuple(s.name for s in net.stations),
        station_servers=servers,
        station_host_cpu=np.array([s.host_cpu for s in net.stations], dtype=bool),
        st_station=np.array(st_station, dtype=np.int64),
        st_mode=np.array(st_mode, dtype=np.int64),
        st_batch=np.array(st_batch, dtype=np.bool_),
        st_prob=np.array(st_prob, dtype=float),
        st_visit=np.array(st_visit, dtype=np.int64),
        st_poll=np.array(st_poll, dtype=np.bool_),
        st_host_cpu=np.array(st_cpu, dtype=np.bool_),
        st_guest=np.array(st_guest, dtype=np.bool_),
        station_polling=np.array([s.name in polling for s in net.stations], dtype=bool),
        samplers=tuple(samplers),
        batch=batch,
        is_open=net.is_open,
        population=population,
        think_us=float(net.think_us),
        st_inst=res["base"][np.array(st_station, dtype=np.int64)],
        st_private=res["inst"][np.array(st_station, dtype=np.int64)] > 1,
        st_core=st_core,
        station_instances=res["inst"],
        inst_servers=res["inst_servers"],
        group_cum=res["group_cum"],
        group_sizes=res["group_sizes"],
        inflight=res["inflight"],
        st_fast=_decided_ahead(st_station, st_mode, st_batch, st_prob, st_core,
                               res["inst"][np.array(st_station, dtype=np.int64)] > 1, servers,
                               batch, res["inflight"], st_hand, held_a),
        st_hand=st_hand,
        st_cap=st_cap,
        st_hold=st_hold,
        st_hold_priv=np.ascontiguousarray(st_hold_priv, dtype=np.bool_),
        st_hold_station=held_a,
    )


def _handoffs(net: Network, st_station: list, st_mode: list, st_batch: list, st_prob: list,
              inst_servers: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per step: the hand-off per waiting thread of a lock step (µs) and the most threads
    that can wait there.

    A lock station's hand-off per I/O per waiter (:func:`iovmodel.solve.locks.handoff_us`)
    is spread over its visits per I/O, and divided by the servers of one instance: with
    the station's one queue those are the waiters at the releasing instance, on average.
    """
    n = len(st_station)
    hand = np.zeros(n)
    cap = np.zeros(n, dtype=np.int64)
    h = handoff_us(net)
    if not (h > 0).any():
        return hand, cap
    visits = np.zeros(len(net.stations))
    for j in range(n):
        if st_mode[j] == 0 and not st_batch[j]:
            visits[st_station[j]] += st_prob[j]
    for j in range(n):
        k = st_station[j]
        if h[k] > 0 and st_mode[j] == 0 and not st_batch[j] and visits[k] > 0:
            hand[j] = h[k] / visits[k] / float(inst_servers[k])
            w = net.stations[k].lock_waiters
            # a thread per request (vcpus="inf"): no bound on the waiters
            cap[j] = int(round(w)) if math.isfinite(w) else np.iinfo(np.int64).max
    return hand, cap


def _decided_ahead(st_station: list, st_mode: list, st_batch: list, st_prob: list,
                   st_core: np.ndarray, st_private: np.ndarray, servers: np.ndarray,
                   batch: int, inflight: int, st_hand: np.ndarray,
                   st_held: np.ndarray) -> np.ndarray:
    """Which steps the kernel decides at entry, without events (``events.AHEAD``/``CHAIN``).

    A step qualifies when it is a certain (``prob = 1``) per-I/O visit to a FIFO station
    with one server (per instance) that no other step visits and that needs no host
    core: then the arrivals at each of its instances are processed in time order (it
    is entered either at its true time or straight from another such step, whose
    departures keep the order of its arrivals), and its start is ``max(arrival, server
    free)``. A qualifying step chains into the next when that one qualifies too and
    sees its arrivals in order (a private station's departures are in order per group
    only: it chains into another private station, not into a shared one), or when it
    is the last, shared, and completing ahead of time is invisible (no in-flight gate,
    no fork-join batch; completions then stay in time order).
    """
    n = len(st_station)
    visits = np.bincount(np.asarray(st_station, dtype=np.int64), minlength=servers.size)
    held = set(int(h) for h in st_held if h >= 0)  # held servers change hands off the queue
    ok = [st_mode[j] == 0 and servers[st_station[j]] == 1 and visits[st_station[j]] == 1
          and not st_batch[j] and st_prob[j] == 1.0 and not st_core[j]
          and st_hand[j] == 0.0  # a lock's hand-off needs its queue
          and st_held[j] < 0 and st_station[j] not in held for j in range(n)]
    done_ahead = inflight >= NO_LIMIT and batch == 1
    out = np.full(n, K.GENERAL, dtype=np.int64)
    for j in range(n):
        if ok[j]:
            if j + 1 < n:
                nxt = ok[j + 1] and (st_private[j + 1] or not st_private[j])
            else:
                nxt = done_ahead and not st_private[j]
            out[j] = K.CHAIN if nxt else K.AHEAD
    return out


def _check_instances_and_cores(net: Network, res: dict, load: np.ndarray, core_load: float,
                               rate: float) -> None:
    """Open stability of a private station's busiest instance and of the core pool."""
    shares = np.asarray(net.groups, dtype=float) if net.groups else np.ones(1)
    for k, s in enumerate(net.stations):
        if res["inst"][k] > 1 and math.isfinite(s.servers) and load[k] > 0:
            r = rate * shares.max()
            rho = r * load[k] * 1e-6 / s.servers
            if rho >= 1.0:
                raise UnstableError(unstable_message(f"{s.name}[busiest group]", rho, r,
                                                     s.servers / (load[k] * 1e-6), net.name))
    pool = res["inst_servers"][-2]
    if pool < NO_LIMIT and core_load > 0:
        rho = rate * core_load * 1e-6 / pool
        if rho >= 1.0:
            raise UnstableError(unstable_message("host cores", rho, rate,
                                                 pool / (core_load * 1e-6), net.name))


class _State:
    """The kernel's arrays for one replication (grown on request)."""

    def __init__(self, spec: Spec, requests: int, gens: list[np.random.Generator]):
        self.spec = spec
        self.gens = gens
        nsteps = spec.st_station.size
        b = spec.batch
        self.nwork = (nsteps + 2) * b + 4
        self.K = max(16384, 8 * (self.nwork + 8))
        self.refill_at = self.K - (self.nwork + 8)
        ns = nsteps + 3
        self.buf = np.empty((ns, self.K))
        for j in range(ns):
            self.buf[j] = self._draw(j, self.K)
        self.pos = np.zeros(ns, dtype=np.int64)
        self.ints = np.zeros(K.N_INTS, dtype=np.int64)
        self.ints[K.I_TARGET] = requests
        self.now = np.zeros(2)  # the clock, the next arrival (open: the first at t = 0)
        pop = spec.population
        cap_slots = pop if not spec.is_open else 4096
        cap_slots = max(cap_slots, 4 * self.nwork)
        self.heap_t = np.empty(cap_slots + 4 * self.nwork + 64)
        self.heap_p = np.empty(self.heap_t.size, dtype=np.int64)
        nq = spec.inst_servers.size  # station instances, the core pool, the gate
        self.q_tok = np.empty((nq, 256 + 2 * self.nwork), dtype=np.int64)
        self.q_t = np.empty(self.q_tok.shape)
        self.q_head = np.zeros(nq, dtype=np.int64)
        self.q_len = np.zeros(nq, dtype=np.int64)
        self.busy = np.zeros(nq, dtype=np.int64)
        self.free_t = np.full(nq, -np.inf)
        pool = int(spec.inst_servers[-2])  # host cores for threads (NO_LIMIT: none needed)
        self.core_t = np.full(pool if pool < NO_LIMIT else 1, -np.inf)
        self.arr_t = np.zeros(cap_slots)
        self.slot_group = np.zeros(cap_slots, dtype=np.int64)
        if spec.group_sizes.size:  # closed: request i belongs to its group for good
            self.slot_group[:pop] = np.repeat(np.arange(spec.group_sizes.size), spec.group_sizes)
        self.slot_held = np.full(cap_slots, -1, dtype=np.int64)
        self.slot_hold_t = np.zeros(cap_slots)
        self.slot_batch = np.zeros(cap_slots, dtype=np.int64)
        self.free_slots = np.arange(cap_slots - 1, -1, -1, dtype=np.int64)
        self.ints[K.I_FREE_N] = cap_slots
        nb = cap_slots // b + 16
        self.b_count = np.zeros(nb, dtype=np.int64)
        self.b_done = np.zeros(nb, dtype=np.int64)
        self.b_members = np.zeros((nb, b), dtype=np.int64)
        self.b_arrt = np.zeros((nb, b))
        self.b_start = np.zeros(nb)
        self.b_serv = np.zeros(nb)
        self.free_batches = np.arange(nb - 1, -1, -1, dtype=np.int64)
        self.ints[K.I_BFREE_N] = nb
        self.blk = max(1, min(1000, requests // 200))
        nblk = -(-requests // self.blk)
        self.lat = np.empty(requests)
        self.blk_wait = np.zeros((nblk, nsteps))
        self.blk_serv = np.zeros((nblk, nsteps))
        self.blk_busy = np.zeros((nblk, nsteps))
        self.blk_tend = np.zeros(nblk)
        # initial events: open, none (the first arrival, at t = 0, is kept beside the
        # event list, in now[1]); closed, every request entering at t = 0
        if spec.is_open:
            self.ints[K.I_HEAP_N] = 0
            self.ints[K.I_FREE_N] = cap_slots
        else:
            self.ints[K.I_FREE_N] = 0  # every slot is a circulating request
            for i in range(pop):
                self.heap_t[i] = 0.0
                self.heap_p[i] = (i << (2 + K.STEP_BITS)) | K.K_THINK
            self.ints[K.I_HEAP_N] = pop

    def _draw(self, j: int, n: int) -> np.ndarray:
        if j > self.spec.st_station.size:  # fractional steps and groups: uniforms
            return self.gens[j].random(n)
        x = self.spec.samplers[j](self.gens[j], n)
        return np.asarray(x, dtype=float)

    def run(self, limit: int) -> int:
        s = self.spec
        while True:
            code = kernels().run(
                self.ints, self.now, limit,
                s.st_inst, s.st_mode, s.st_batch, s.st_prob, s.inst_servers, s.batch,
                s.is_open, s.think_us,
                s.st_private, s.st_core, s.st_fast, s.st_hand, s.st_cap, s.st_hold,
                s.st_hold_priv, self.slot_group, self.slot_held, self.slot_hold_t,
                s.group_cum, s.inflight,
                self.buf, self.pos, self.refill_at,
                self.heap_t, self.heap_p,
                self.q_tok, self.q_t, self.q_head, self.q_len,
                self.busy, self.free_t, self.core_t,
                self.arr_t, self.slot_batch, self.free_slots,
                self.b_count, self.b_done, self.b_members, self.b_arrt, self.b_start,
                self.b_serv, self.free_batches,
                self.lat, self.blk, self.blk_wait, self.blk_serv, self.blk_busy, self.blk_tend)
            if code in (K.DONE, K.CHECKPOINT):
                return code
            self.ints[K.I_FLAGS] = 0
            if code & K.F_OVERFLOW:
                raise UnstableError(
                    f"{s.name!r}: more than 5e7 requests in flight; the network is unstable "
                    "in the simulation (a resource is saturated)")
            if code & K.F_REFILL:
                self._refill()
            if code & K.F_HEAP:
                self._grow_heap()
            if code & K.F_QUEUE:
                self._grow_queue()
            if code & K.F_SLOTS:
                self._grow_slots()
            if code & K.F_BATCHES:
                self._grow_batches()

    def _refill(self) -> None:
        half = self.K // 2
        for j in range(self.pos.size):
            p = int(self.pos[j])
            if p >= half:
                rest = self.K - p
                self.buf[j, :rest] = self.buf[j, p:]
                self.buf[j, rest:] = self._draw(j, p)
                self.pos[j] = 0

    def _grow_heap(self) -> None:
        n = self.heap_t.size
        self.heap_t = np.concatenate([self.heap_t, np.empty(n)])
        self.heap_p = np.concatenate([self.heap_p, np.empty(n, dtype=np.int64)])

    def _grow_queue(self) -> None:
        nst, cap = self.q_tok.shape
        tok = np.empty((nst, 2 * cap), dtype=np.int64)
        tt = np.empty((nst, 2 * cap))
        for k in range(nst):
            idx = (self.q_head[k] + np.arange(self.q_len[k])) % cap
            tok[k, : idx.size] = self.q_tok[k, idx]
            tt[k, : idx.size] = self.q_t[k, idx]
        self.q_tok, self.q_t = tok, tt
        self.q_head[:] = 0

    def _grow_slots(self) -> None:
        n = self.arr_t.size
        self.arr_t = np.concatenate([self.arr_t, np.zeros(n)])
        self.slot_group = np.concatenate([self.slot_group, np.zeros(n, dtype=np.int64)])
        self.slot_held = np.concatenate([self.slot_held, np.full(n, -1, dtype=np.int64)])
        self.slot_hold_t = np.concatenate([self.slot_hold_t, np.zeros(n)])
        self.slot_batch = np.concatenate([self.slot_batch, np.zeros(n, dtype=np.int64)])
        fs = np.empty(2 * n, dtype=np.int64)
        f = int(self.ints[K.I_FREE_N])
        fs[:f] = self.free_slots[:f]
        fs[f: f + n] = np.arange(2 * n - 1, n - 1, -1)
        self.free_slots = fs
        self.ints[K.I_FREE_N] = f + n

    def _grow_batches(self) -> None:
        n = self.b_count.size
        b = self.spec.batch
        self.b_count = np.concatenate([self.b_count, np.zeros(n, dtype=np.int64)])
        self.b_done = np.concatenate([self.b_done, np.zeros(n, dtype=np.int64)])
        self.b_members = np.concatenate([self.b_members, np.zeros((n, b), dtype=np.int64)])
        self.b_arrt = np.concatenate([self.b_arrt, np.zeros((n, b))])
        self.b_start = np.concatenate([self.b_start, np.zeros(n)])
        self.b_serv = np.concatenate([self.b_serv, np.zeros(n)])
        fb = np.empty(2 * n, dtype=np.int64)
        f = int(self.ints[K.I_BFREE_N])
        # new slots go under the existing free ones: the forming batch stays where it is
        fb[:n] = np.arange(2 * n - 1, n - 1, -1)
        fb[n: n + f] = self.free_batches[:f]
        self.free_batches = fb
        self.ints[K.I_BFREE_N] = f + n


def _streams(seed_seq: np.random.SeedSequence, n: int) -> list[np.random.Generator]:
    # rebuild from entropy + spawn_key so a pickled (or reused) SeedSequence
    # always spawns the same children
    ss = np.random.SeedSequence(entropy=seed_seq.entropy, spawn_key=seed_seq.spawn_key,
                                pool_size=seed_seq.pool_size)
    return [np.random.Generator(np.random.PCG64(c)) for c in ss.spawn(n)]


def recursion_ok(spec: Spec) -> bool:
    """Whether the exact recursion engine applies.

    It does for an open network without batching or fractional visits whose
    FIFO stations are each visited once per I/O: then every station's
    arrival stream is the previous step's departure stream, and Lindley's
    (one server) or Kiefer-Wolfowitz's (``c`` servers) recursion gives every
    request's wait, station after station.
    """
    if not spec.is_open or spec.st_batch.any() or (spec.st_prob < 1.0).any() or not spec.plain \
            or (spec.st_hand > 0).any():  # a lock's hand-off depends on its queue
        return False
    fifo = spec.st_station[spec.st_mode == 0]
    return np.unique(fifo).size == fifo.size


def _run_recursion(spec: Spec, n: int, gens: list[np.random.Generator]) -> SimpleNamespace:
    kern = kernels()
    nsteps = spec.st_station.size
    blk = max(1, min(1000, n // 200))
    nblk = -(-n // blk)
    # the k-th arrival comes at the sum of k interarrival times (the first at t = 0),
    # the same stream and arithmetic as the event loop
    a0 = np.empty(n)
    a0[0] = 0.0
    a0[1:] = np.cumsum(np.asarray(spec.samplers[nsteps](gens[nsteps], n - 1), dtype=float))
    t = a0
    order = np.empty(0, dtype=np.int64)  # customer numbers in arrival order (empty: 0..n-1)
    dirty = False
    out = SimpleNamespace(lat=np.empty(n), blk=blk, blk_wait=np.zeros((nblk, nsteps)),
                          blk_serv=np.zeros((nblk, nsteps)), blk_busy=None, blk_tend=None)
    for j in range(nsteps):
        s = np.ascontiguousarray(spec.samplers[j](gens[j], n), dtype=float)
        d = np.empty(n)
        if spec.st_mode[j] == 0:
            if dirty:
                perm = np.argsort(t, kind="stable")
                t = t[perm]
                order = perm if order.size == 0 else order[perm]
                dirty = False
            c = int(spec.station_servers[spec.st_station[j]])
            kern.fifo_pass(t, s, c, d, order, blk, out.blk_wait, out.blk_serv, j)
            dirty = c > 1
        else:
            kern.delay_pass(t, s, d, order, blk, out.blk_serv, j)
            dirty = True
        t = d
    out.blk_busy = out.blk_serv
    if order.size == 0:
        np.subtract(t, a0, out=out.lat)
    else:
        out.lat[order] = t - a0[order]
    out.blk_tend = kern.block_max(t, order, blk, nblk)
    return out


def replicate(spec: Spec, requests: int, seed_seq: np.random.SeedSequence,
              warmup, index: int = 0,
              progress: Callable[[int], None] | None = None,
              engine: str = "auto") -> dict:
    """Run one replication and summarise it (small, picklable dict).

    ``index`` only labels the result; it also makes every task's arguments
    distinct (Dask's ``pure=True`` would otherwise merge identical tasks).
    ``engine``: ``"event"`` (the event loop), ``"recursion"`` (exact
    Lindley / Kiefer-Wolfowitz recursions, open feed-forward networks only) or
    ``"auto"`` (recursion where it applies).
    """
    gens = _streams(seed_seq, spec.st_station.size + 3)
    if engine == "recursion" or (engine == "auto" and recursion_ok(spec)):
        if not recursion_ok(spec):
            raise ParameterError(
                f"engine='recursion' needs an open network without batching whose FIFO "
                f"stations are visited once per I/O; {spec.name!r} is not one")
        out = _run_recursion(spec, requests, gens)
        if progress is not None:
            progress(requests)
        return summarise(spec, out, warmup, index)
    st = _State(spec, requests, gens)
    if progress is None:
        st.run(requests)
    else:
        step = max(requests // 50, 1000)
        done = 0
        while st.run(min(done + step, requests)) != K.DONE:
            c = int(st.ints[K.I_COMPLETED])
            progress(c - done)
            done = c
        progress(requests - done)
    return summarise(spec, st, warmup, index)


def summarise(spec: Spec, st, warmup, index: int) -> dict:
    """Statistics of one replication after warm-up truncation."""
    n_req = st.lat.size
    blk = st.blk
    nblk = st.blk_tend.size
    if isinstance(warmup, str):
        d = mser(st.lat)
    elif isinstance(warmup, float) and not warmup.is_integer():
        d = int(warmup * n_req)
    else:
        d = int(warmup)
    b0 = min(-(-d // blk), nblk // 2) if d > 0 else 0
    cut = b0 * blk
    post = st.lat[cut:]
    n = post.size
    t0 = st.blk_tend[b0 - 1] if b0 > 0 else 0.0
    span = st.blk_tend[-1] - t0
    wait = st.blk_wait[b0:].sum(axis=0) / n
    serv = st.blk_serv[b0:].sum(axis=0) / n
    # server time: a per-batch step's batches; any other step's is its service time
    busy = np.where(spec.st_batch, st.blk_busy[b0:].sum(axis=0), st.blk_serv[b0:].sum(axis=0))
    nst = spec.station_servers.size
    util = np.zeros(nst)
    for j in range(spec.st_station.size):
        util[spec.st_station[j]] += busy[j]
        if spec.st_hold_station[j] >= 0:  # the server it held meanwhile (its vCPU)
            util[spec.st_hold_station[j]] += st.blk_busy[b0:, j].sum()
    # per server of one instance: a private station's busy time is shared by its instances
    srv = np.where(np.isinf(spec.station_servers), 1.0, spec.station_servers) \
        * spec.station_instances
    util = util / span / srv if span > 0 else util * np.nan
    # a polling hop holds no server but its thread spins meanwhile: it is CPU time
    cpu = float(busy[spec.st_host_cpu & ~spec.st_guest].sum() / n)
    guest = float(busy[spec.st_guest].sum() / n)
    x_per_s = n / span * 1e6 if span > 0 else math.nan
    # a busy-polling core burns all its time, whatever the load (as analyze() counts it)
    pol = spec.station_polling & np.isfinite(spec.station_servers)
    if pol.any() and x_per_s > 0:
        cpu += float((spec.station_servers[pol] * spec.station_instances[pol]).sum() * 1e6 / x_per_s)
    hist = log_hist(np.ascontiguousarray(post), HIST_LO_EXP, HIST_SUB_BITS,
                      HIST_EDGES_US.size - 1)
    pct = np.percentile(post, PERCENTILES)
    return {
        "replication": index,
        "requests": n,
        "warmup_requests": cut,
        "sim_time_us": float(span),
        "throughput_per_s": float(x_per_s),
        "latency_us": float(post.mean()),
        "percentiles_us": pct,
        "step_wait_us": wait,
        "step_service_us": serv,
        "utilization": util,
        "cpu_us_per_io": cpu,
        "guest_cpu_us_per_io": guest,
        "hist": hist.astype(np.int64),
    }
