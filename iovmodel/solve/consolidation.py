r"""Many VMs on one host: the multiclass solution of a :class:`~iovmodel.spec.scenario.Scenario`.

Each VM is a class of its own (its ``jobs x iodepth`` requests circulate through its own
vCPUs, global mutex, iothreads and vhost workers, and through the resources the scenario
shares between VMs). The stations of one VM come from :func:`iovmodel.network.build` of its
path; a station the scenario shares is one station for every VM with the servers the
scenario gives it; delay stations are summed into one delay per VM.

Solution
    Exact multiclass MVA (Reiser & Lavenberg 1980, through
    :func:`~iovmodel.solve.analytic.multiclass.mva_multiclass`, one class per VM) while the
    population vectors number at most :data:`EXACT_STATES`. Beyond, Bard-Schweitzer
    approximate MVA (Schweitzer 1979; Bard 1979), written over *kinds* of VM:
    identical VMs have identical solutions, so one representative per kind carries the
    fixed point, an arriving request seeing its own VM's queue scaled by
    :math:`(N_c - 1)/N_c` at the VM's own stations and the sum over every VM (its own
    scaled the same way) at a shared station. Its cost does not grow with the number of
    VMs. At an m-server station a request waits only behind the requests it finds beyond
    the m - 1 other servers, :math:`D(1 + \max(Q_{seen} - m + 1, 0)/m)`: exact with no one
    ahead and at saturation (Seidmann's transformation, which the general multiclass solver
    uses, charges :math:`D(m-1)/m` of delay plus a queue and is 50 % off on a 4-slot device
    with 4 requests). A station with at least as many servers as requests in the scenario
    is a delay. Its error against the exact solution is measured in
    ``tests/solve/test_consolidation.py``: within 6.4 % on 18 networks of 2-8 device
    slots and 2-10 VMs (Seidmann's pair: up to 31 % on the same grid).

Host cores
    Every thread (vCPU, main loop, iothread, vhost worker, back-end thread) needs a host
    core while it serves; busy-polling back-end threads hold theirs. With fewer cores than
    threads, the method of layers (Rolia & Sevcik 1995) stretches each thread's service by
    its wait for a core (:func:`_core_stretch`, the lower layer
    :func:`iovmodel.solve.layered._core_factors` solves for one path, over the columns).

Contention as load-dependent service (``Scenario.contention``)
    * **Lock hand-off growing with the waiters.** At a VM's global mutex (``bql``) each
      visit takes :math:`s + h\,W` where W is the mean number of threads waiting there
      (the requests queued, at most the VM's vCPU threads in use; none where only the main
      loop takes the mutex, as on virtio paths kicked through ioeventfd, so the mutex is
      contended only on paths whose vCPUs exit to QEMU) and h is ``lock_waiter_us``: a contended release must move the lock's cache line past every
      spinning or queued waiter, so the time to pass the lock grows linearly with them
      (Boyd-Wickizer, Kaashoek, Morris & Zeldovich, "Non-scalable locks are dangerous",
      Linux Symposium 2012, section 3, whose Markov model has the same linear hand-off).
      A contended acquisition of a sleeping lock (not a busy-polling thread's) also pays
      the wake-up of the waiter;
      with a fraction :math:`u` of acquisitions contended (the utilisation, arrival
      theorem) the visit takes :math:`u \cdot` (``syscall_us`` + ``wakeup_us``) more: the
      hand-off of :mod:`iovmodel.probe.mutex`, with the probe's measured costs when the
      host profile comes from ``iov.probe.to_profile``.
    * **A guest lock the path declares** (a catalog resource with ``lock = true``, as
      xen-blkfront's per-device ``io_lock``): its hand-off per waiting thread comes from
      the path's ``per = "waiter"`` hops and the waiters from the same count (requests
      queued, at most the station's ``lock_waiters``), each instance's visit paying
      :math:`t\,W/m` more, as :mod:`iovmodel.solve.locks` does for one path. Being part
      of the path, it applies whether or not ``contention`` is on, so a one-VM scenario
      solves as :func:`iovmodel.analyze` does.
    * **A polling core's scan.** A busy-polling thread serving q queues checks all of them
      on every loop: each request it serves costs ``poll_scan_us`` :math:`\times (q - 1)`
      more (QEMU's aio-posix polling over many devices is the published case: its
      ``run_poll_handlers_once`` calls every handler's poll function per loop), and waits
      half a loop more to be noticed.
    * **Busy-polling threads outnumbering cores** (back-end cores, busy-polling guests'
      vCPUs): each gets C / P of a core, and a request that needs k of them at once (its
      in-flight requests drain within a scheduler slice, ``sched_slice_us``) progresses
      :math:`(C/P)^k` of the time (:func:`_timeshare`).
    * **Threads outnumbering cores.** When more (non-polling) threads than free cores
      exist, a thread finds its core running another with probability
      :math:`1 - c_{free}/T` and pays a context switch (``wakeup_us``) per visit.
    * **Hardware threads sharing a core** (``Scenario.threads_per_core`` = k > 1, SMT): the
      host's ``cores`` are k-thread physical cores, P = cores / k of them. While the busy
      threads' work W (core-seconds per second, busy-polling threads counting one each)
      fits the physical cores, the scheduler gives each its own core (Linux places a
      waking thread on an idle core first, ``select_idle_core``). Beyond, busy threads
      pair up on siblings and a core with all k threads busy delivers 1 + y times one
      thread's throughput (y = ``smt_yield_ratio``): delivering W takes
      :math:`B = P + (W - P)(k - 1)/y` busy hardware threads, so every thread's work is
      stretched by B / W, up to k / (1 + y) once all hardware threads are busy (beyond,
      the cores queue: the method of layers above).

    W and u come from the solution itself: the demands and the solution are iterated to a
    fixed point (damped). With ``contention=False`` none of these apply.

All times are µs; throughputs are returned per second.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from .._validate import number
from ..errors import ParameterError
from ..network import Network, build
from ..spec.scenario import Scenario
from .analytic.multiclass import mva_multiclass
from .layered import EXACT_STATES as LAYER_EXACT_STATES
from .locks import handoff_us
from .percentiles import _erlang_c, latency_quantile, latency_variance, percentile_key

#: population vectors up to which the scenario is solved by exact multiclass MVA
EXACT_STATES = 20_000
#: fixed-point iterations (contention, cores, Bard-Schweitzer) and their tolerance
MAX_ITER = 5_000
TOL = 1e-9
#: relative change of the contention terms and core stretch factors that ends the outer
#: fixed point (as the method of layers' LAYER_TOL)
FP_TOL = 1e-4
MAX_OUTER = 2_000
#: resources whose visits pass a lock between threads (a VM's global mutex)
LOCKS = ("bql",)
DELAY = "delay"


@dataclass
class _Model:
    """The scenario as columns (stations) and kinds (one representative VM each)."""

    kinds: list[str]
    mult: np.ndarray  # VMs per kind
    N: np.ndarray  # requests in flight per VM of each kind
    Z: np.ndarray  # think time per kind
    cols: list[str]  # column names
    owner: np.ndarray  # kind owning a private column, -1 for shared
    m: np.ndarray  # servers per instance of each column
    D0: np.ndarray  # (G, K) base demand per request
    V: np.ndarray  # (G, K) visits per request
    thread: np.ndarray  # (K,) bool
    polling: np.ndarray  # (K,) bool
    lock: np.ndarray  # (K,) bool: hand-off grows with waiters
    res: list[str]  # resource name of each column
    waiters: np.ndarray  # (K,) most threads that can wait at a lock column (its vCPUs in use)
    hand: np.ndarray  # (G, K) a declared lock's hand-off per request per waiter (µs; 0: none)
    N_full: np.ndarray  # requests in flight per VM before the in-flight limit
    nets: list[Network] = field(default_factory=list)


def _columns(sc: Scenario, nets: list[Network] | None = None) -> _Model:
    """The scenario's columns; ``nets`` are its guests' networks when already built (a sweep
    builds them once: a guest's network does not depend on how many VMs run it)."""
    host = sc.host
    built = nets
    kinds, mult, N, Z, nets, Nfull = [], [], [], [], [], []
    cols: list[str] = []
    owner: list[int] = []
    m: list[float] = []
    res: list[str] = []
    thread: list[bool] = []
    polling: list[bool] = []
    lock: list[bool] = []
    index: dict[tuple[int, str], int] = {}
    entries: list[tuple[int, int, float, float]] = []  # kind, col, demand, visits
    declared: list[tuple[int, int, float, float]] = []  # kind, col, hand-off, lock_waiters

    def col(key: tuple[int, str], name: str, servers: float, r: str, th: bool, po: bool,
            lk: bool) -> int:
        if key not in index:
            index[key] = len(cols)
            cols.append(name)
            owner.append(key[0])
            m.append(servers)
            res.append(r)
            thread.append(th)
            polling.append(po)
            lock.append(lk)
        return index[key]

    for g, guest in enumerate(sc.guests):
        net = built[g] if built is not None else build(guest.path, host, guest.workload)
        nets.append(net)
        kinds.append(guest.name if guest.name not in kinds else f"{guest.name}#{g}")
        mult.append(guest.count)
        # a device model's in-flight limit (PIIX3 IDE: one command): the rest wait in the
        # guest before the first hop; latency over the whole population by Little's law
        N.append(min(guest.workload.population, net.inflight))
        Nfull.append(guest.workload.population)
        Z.append(guest.workload.think_us)
        pres = guest.path.resources
        hand_of = handoff_us(net)
        for si, s in enumerate(net.stations):
            if s.demand_us <= 0 and s.visits <= 0:
                continue
            if s.is_delay:
                k = col((-1, DELAY), DELAY, math.inf, DELAY, False, False, False)
            elif s.name in sc.shared:
                r = pres[s.name]
                k = col((-1, s.name), s.name, sc.shared[s.name], s.name, r.thread, r.polling,
                        False)
            else:
                r = pres.get(s.name)
                # a busy-polling guest's vCPUs spin: they hold their cores as a poller does
                po = s.name in net.polling or (guest.busy_poll and bool(r and r.per_group))
                k = col((g, s.name), f"{kinds[-1]}/{s.name}", net.effective_servers(s), s.name,
                        bool(r and r.thread), po, s.name in LOCKS)
                if hand_of[si] > 0:
                    declared.append((g, k, float(hand_of[si]), float(s.lock_waiters)))
            entries.append((g, k, s.demand_us, s.visits))
    G, K = len(kinds), len(cols)
    D0 = np.zeros((G, K))
    V = np.zeros((G, K))
    for g, k, d, v in entries:
        D0[g, k] += d
        V[g, k] += v
    hand = np.zeros((G, K))
    for g, k, h, _ in declared:
        hand[g, k] = h
    own = np.array([-1 if o < 0 else o for o in owner])
    # at a VM's global mutex the threads that contend are its vCPU threads in use, when their
    # exits to QEMU are handled under the mutex (a path with a user_exit hop: emulated
    # devices), and the main loop; at most the vCPU threads wait while one holds it. A path
    # whose mutex only the main loop takes (virtio through ioeventfd) has no waiter: the
    # requests queued there wait for the loop, not for the lock.
    exits = [any(h.switch_kind == "user_exit" for h in gu.path.active_hops())
             for gu in sc.guests]
    waiters = np.array([float(nets[o].n_groups) if o >= 0 and lock[k] and exits[o] else 0.0
                        for k, o in enumerate(own)])
    for _, k, _, cap in declared:
        waiters[k] = cap
    return _Model(kinds, np.array(mult, dtype=float), np.array(N, dtype=float),
                  np.array(Z, dtype=float), cols, own, np.array(m, dtype=float), D0, V,
                  np.array(thread), np.array(polling), np.array(lock), res, waiters, hand,
                  np.array(Nfull, dtype=float), nets)


def _scan_demand(sc: Scenario, md: _Model) -> np.ndarray:
    """Extra demand per request of a shared polling core's scan over its queues (µs)."""
    extra = np.zeros_like(md.D0)
    if not sc.contention:
        return extra
    scan = float(sc.host["poll_scan_us"])
    for k in range(len(md.cols)):
        if not (md.polling[k] and md.owner[k] < 0):
            continue
        users = md.V[:, k] > 0
        q = float((md.mult * users).sum()) / md.m[k]  # queues per polling thread
        if q > 1:
            extra[:, k] += md.V[:, k] * scan * (q - 1.0)
            # noticed half a loop later: a delay, on the delay column
            if DELAY in md.cols:
                extra[users, md.cols.index(DELAY)] += 0.5 * scan * (q - 1.0) * md.V[users, k]
    return extra


def _pollers(md: _Model) -> float:
    """Busy-polling threads in the scenario (shared pollers once, a VM's own per VM)."""
    inst = np.array([1.0 if o < 0 else md.mult[o] for o in md.owner])
    return float((md.m * inst)[md.polling & np.isfinite(md.m)].sum())


def _smt_stretch(sc: Scenario, md: _Model, X: np.ndarray, D: np.ndarray, prev: float
                 ) -> float:
    """Stretch of every thread's work when busy threads share physical cores (SMT).

    ``D`` is the demand at full speed and ``prev`` the current stretch: the hardware threads
    kept busy are B = W x prev (busy-polling threads one each), and delivering the work
    needs B / capacity(B) of it (module docstring, hardware threads). Iterating on B rather
    than on W keeps the fixed point a contraction (an always-busy thread's B does not move).
    """
    k = sc.threads_per_core
    if k <= 1 or not sc.contention or not math.isfinite(sc.cores):
        return 1.0
    P = sc.cores / k
    y = float(sc.host["smt_yield_ratio"])
    if y > k - 1:
        raise ParameterError(f"smt_yield_ratio = {y:g} exceeds threads_per_core - 1 = {k - 1}: "
                             f"a core with {k} busy threads cannot deliver more than {k} "
                             "times one thread's throughput")
    busy = (md.mult[:, None] * X[:, None] * D).sum(0)
    B = float(busy[md.thread & ~md.polling & np.isfinite(md.m)].sum()) * prev + _pollers(md)
    if B <= P:
        return 1.0
    if B >= k * P:
        return k / (1.0 + y)
    return B / (P + y * (B - P) / (k - 1))


def _timeshare(sc: Scenario, md: _Model) -> np.ndarray:
    """Stretch of each kind's polling stations when busy-polling threads outnumber cores.

    P spinning threads on C < P cores each run a fraction C / P of the time. A request
    needs every polling thread on its route (its VM's spinning vCPU, the back-end core
    serving it); when its VM's requests in flight drain within one scheduler slice
    (``sched_slice_us``), the stages cannot run ahead of each other, so the request moves
    only while all k of them hold a core at once: :math:`(C/P)^k` (coscheduling, Ousterhout,
    "Scheduling techniques for concurrent systems", ICDCS 1982). With a deeper buffer the
    stages decouple and each runs at C / P.
    """
    G, K = md.D0.shape
    out = np.ones(G)
    P = _pollers(md)
    if not math.isfinite(sc.cores) or P <= sc.cores:
        return out
    share = sc.cores / P
    slice_us = float(sc.host["sched_slice_us"])
    for g in range(G):
        ks = np.flatnonzero(md.polling & (md.D0[g] > 0))
        if not len(ks):
            continue
        buffer_us = md.N[g] * float(np.max(md.D0[g, ks]))  # in-flight work at its poller
        k = len(ks) if buffer_us < slice_us else 1
        out[g] = share ** (-k)
    return out


def _schweitzer(D: np.ndarray, md: _Model, Q0: np.ndarray | None) -> tuple[np.ndarray, ...]:
    """Bard-Schweitzer over kinds with multiplicity; multi-server by Seidmann.

    Returns X (per VM of each kind, per µs), Rk (G, K) residence per request, Q (G, K)."""
    G, K = D.shape
    m = md.m
    # a station with at least as many servers as requests in the whole scenario never queues
    delay = np.isinf(m) | (m >= float((md.mult * md.N).sum()))
    mm = np.where(delay, 1.0, m)
    N = md.N
    shared = md.owner < 0
    mine = (md.owner[None, :] == np.arange(G)[:, None])
    Q = (np.where(D > 0, 1.0, 0.0) * N[:, None] / np.maximum((D > 0).sum(1), 1)[:, None]
         if Q0 is None else Q0.copy())
    for _ in range(MAX_ITER):
        tot = (md.mult[:, None] * Q).sum(0)  # every VM's requests at each shared column
        frac = (N - 1.0) / N
        seen = np.where(shared[None, :], tot[None, :] - Q + Q * frac[:, None],
                        np.where(mine, Q * frac[:, None], 0.0))
        # a request waits only behind those found beyond the m - 1 other servers:
        # D (1 + max(seen - m + 1, 0) / m); exact with no one ahead and at saturation,
        # D (1 + seen) at one server
        Rk = np.where(delay, D, D * (1.0 + np.maximum(seen - mm + 1.0, 0.0) / mm))
        R = Rk.sum(1)
        X = N / (md.Z + R)
        Qn = X[:, None] * Rk
        if np.max(np.abs(Qn - Q)) <= TOL * max(1.0, float(N.max())):
            Q = Qn
            break
        Q = Qn
    return X, Rk, Q


def _exact(D: np.ndarray, md: _Model) -> tuple[np.ndarray, ...]:
    """Exact multiclass MVA with one class per VM; results averaged per kind (identical)."""
    G, K = D.shape
    cls_kind = np.repeat(np.arange(G), md.mult.astype(int))
    C = len(cls_kind)
    # columns: shared ones once, private ones once per VM
    cols, colk, owner = [], [], []
    for k in range(K):
        if md.owner[k] < 0:
            cols.append(k)
            owner.append(-1)
        else:
            for c in np.flatnonzero(cls_kind == md.owner[k]):
                cols.append(k)
                owner.append(int(c))
    colk = np.array(cols)
    own = np.array(owner)
    Dm = np.zeros((C, len(colk)))
    for c in range(C):
        ok = (own < 0) | (own == c)
        Dm[c, ok] = D[cls_kind[c], colk[ok]]
    r = mva_multiclass(Dm, md.N[cls_kind].astype(int), md.Z[cls_kind], md.m[colk],
                       method="exact")
    X = np.zeros(G)
    Rk = np.zeros((G, K))
    for g in range(G):
        cs = np.flatnonzero(cls_kind == g)
        X[g] = r.X[cs].mean()
        for j, k in enumerate(colk):
            Rk[g, k] += r.Rk[cs, j].mean()
    return X, Rk, X[:, None] * Rk


def _core_stretch(md: _Model, X: np.ndarray, D: np.ndarray, cores: float,
                  f: np.ndarray) -> np.ndarray:
    """Lower layer of the method of layers over the columns: the core pool seen by every
    thread, as :func:`iovmodel.solve.layered._core_factors` does for one path (each thread a
    customer that needs a core for one service and is away for 1/lambda - R between)."""
    K = len(md.cols)
    out = np.ones(K)
    inst = np.array([1.0 if o < 0 else md.mult[o] for o in md.owner])
    lam_all = (md.mult[:, None] * X[:, None] * md.V).sum(0)  # visits per µs per column
    busy = (md.mult[:, None] * X[:, None] * D).sum(0)  # busy µs per µs (before stretch)
    thr = np.flatnonzero(md.thread & ~md.polling & np.isfinite(md.m) & (busy > 0)
                         & (lam_all > 0))
    if not len(thr):
        return out
    T = (md.m * inst)[thr]
    free = cores - _pollers(md)
    if T.sum() <= free:
        return out  # a core for every thread: no waiting
    s = busy[thr] / lam_all[thr]  # mean service per visit
    lam = lam_all[thr] / T  # visits per µs per thread
    resp = s * f[thr]
    think = np.maximum(1.0 / np.maximum(lam, 1e-300) - resp, 0.0)
    Ti = T.astype(int)
    exact = float(np.prod(T + 1.0)) <= LAYER_EXACT_STATES
    r = mva_multiclass(s[:, None], Ti, think, [free], method="exact" if exact else "schweitzer")
    out[thr] = np.maximum(r.Rk[:, 0], s) / s
    return out


def solve(sc: Scenario, method: str = "auto", nets: list[Network] | None = None) -> dict:
    """Solve a scenario; returns the raw solution (see :func:`analyze_scenario`).

    ``nets``: the guests' networks, when the caller has built them (:func:`sweep_scenario`).

    A vCPU held while QEMU emulates its exits (:mod:`.holding`, one path's ``analyze``) is
    not held here: a scenario's vCPU threads wait at their VM's mutex as the contention
    model has them (``contention=True``: the hand-off grows with them), each held visit
    served at the mutex while its vCPU serves the next request. Both are fixed points over
    the same waiting, and stacking them double-counts it (a one-VM emulated-e1000 scenario
    with contention rose from 12.6k to 26.5k IO/s at 4 vCPUs when tried, the contention's
    waiters having moved into the vCPUs' service). On such a path a one-VM scenario and
    ``analyze`` therefore differ by the held time: 22.7k against 18.2k IO/s for
    emulated-ahci at QD 32 without contention.
    """
    if method not in ("auto", "exact", "schweitzer"):
        raise ParameterError(f"method must be 'auto', 'exact' or 'schweitzer', got {method!r}")
    md = _columns(sc, nets)
    G, K = md.D0.shape
    states = float(np.prod((md.N + 1.0) ** md.mult))
    if method == "auto":
        method = "exact" if states <= EXACT_STATES else "schweitzer"
    if method == "exact" and states > 400_000:
        raise ParameterError(f"the exact solution needs {states:,.0f} population vectors "
                             "(> 400,000); use method='schweitzer'")
    host = sc.host
    base = md.D0 + _scan_demand(sc, md)
    f = np.ones(K)
    handoff = np.zeros((G, K))
    Q = None
    X = np.zeros(G)
    wake = float(host["syscall_us"]) + float(host["wakeup_us"])
    waiter = float(host["lock_waiter_us"])
    # threads that outnumber the free cores: a context switch per visit (uniform spread)
    sched = np.zeros((G, K))
    if sc.contention and math.isfinite(sc.cores):
        inst = np.array([1.0 if md.owner[k] < 0 else md.mult[md.owner[k]] for k in range(K)])
        busy_threads = md.thread & ~md.polling & np.isfinite(md.m)
        T = float((md.m * inst)[busy_threads].sum())
        free = sc.cores - float((md.m * inst)[md.polling & np.isfinite(md.m)].sum())
        if T > 0 and T > free:
            sched[:, busy_threads] = md.V[:, busy_threads] * float(host["wakeup_us"]) \
                * (1.0 - max(free, 0.0) / T)
    base = base * _timeshare(sc, md)[:, None] ** np.where(md.polling, 1.0, 0.0)[None, :] \
        if sc.contention else base
    declared = np.flatnonzero((md.hand > 0).any(axis=0) & (md.waiters > 0))
    pollers = _pollers(md)
    layer_cores = sc.cores if pollers < sc.cores else math.inf  # else: _timeshare's job
    smt_state = 1.0  # the SMT stretch (1: no hardware threads share a core)
    it = 0
    for it in range(1, MAX_OUTER):
        D = (base + sched + handoff) * f[None, :]
        X, Rk, Qn = _exact(D, md) if method == "exact" else _schweitzer(D, md, Q)
        Q = Qn
        new_h = np.zeros((G, K))
        if sc.contention or declared.size:
            tot = np.where(md.owner < 0, (md.mult[:, None] * Q).sum(0), 0.0)
            tot = tot + np.where(md.owner >= 0, Q[np.maximum(md.owner, 0), np.arange(K)], 0.0)
            busy_srv = np.where(md.owner < 0, (md.mult[:, None] * X[:, None] * D).sum(0),
                                (X[:, None] * D)[np.maximum(md.owner, 0), np.arange(K)])
            m_fin = np.where(np.isinf(md.m), 1.0, md.m)
            util = np.minimum(busy_srv / m_fin, 1.0)
            # mean waiters: requests queued, but no more than the threads that can wait
            W = np.minimum(np.maximum(tot - busy_srv, 0.0), md.waiters)
            if sc.contention:
                for k in np.flatnonzero(md.lock & np.isfinite(md.m) & (md.waiters > 0)):
                    # a busy-polling thread never sleeps: no wake-up to pass it work
                    sleep = 0.0 if md.polling[k] else util[k] * wake
                    new_h[:, k] = md.V[:, k] * (waiter * W[k] + sleep)
            # a lock the path declares: the waiters at its own instance (iovmodel.solve.locks)
            for k in declared:
                new_h[:, k] = md.hand[:, k] * W[k] / m_fin[k]
        # hardware threads sharing a core slow every thread's work (1 without SMT); the core
        # layer then queues the slowed work for the hardware threads
        smt = _smt_stretch(sc, md, X, base + sched + new_h, smt_state)
        sig = np.where(md.thread & np.isfinite(md.m), smt, 1.0)
        f_new = sig
        if math.isfinite(layer_cores):
            f_new = sig * _core_stretch(md, X, (base + sched + new_h) * sig[None, :],
                                        layer_cores, f / sig)
        dh = float(np.max(np.abs(new_h - handoff)))
        df = float(np.max(np.abs(f_new - f)))
        # relative change of the contention terms and core stretch (as the layers' LAYER_TOL);
        # past 20 iterations the step shrinks (averaging), and the averaged iterate is
        # accepted once a step moves it less than 10x that (the inner solutions' own
        # tolerance makes the map jitter by ~1e-3 where many threads share few cores)
        a = 0.8 if it <= 20 else 1.0 / (it - 18)
        tol_h = FP_TOL * max(float(np.max(base + new_h)), 1e-12)
        tol_f = FP_TOL * float(np.max(f_new))
        if (dh <= tol_h and df <= tol_f) \
                or (it > 20 and a * dh <= 10 * tol_h and a * df <= 10 * tol_f):
            break
        handoff = (1 - a) * handoff + a * new_h
        f = (1 - a) * f + a * f_new
        smt_state = (1 - a) * smt_state + a * smt
    else:
        raise ParameterError(f"{sc.name!r}: the contention fixed point did not converge")
    D = (base + sched + handoff) * f[None, :]
    return {"model": md, "X": X, "Rk": Rk, "Q": Q, "D": D, "method": method,
            "iterations": it, "stretch": f}


@dataclass(frozen=True, repr=False)
class ScenarioResult:
    """What a scenario delivers: per VM kind and in aggregate.

    Attributes
    ----------
    scenario : Scenario
    rows : tuple of dict
        :attr:`per_vm` as records.
    per_vm : DataFrame
        One row per kind of VM: ``guest, path, vms, throughput_per_s`` (one VM),
        ``latency_us`` (mean), ``p<q>_us`` percentiles (gamma approximation),
        ``total_throughput_per_s`` (all VMs of the kind).
    throughput_per_s : float
        Aggregate over every VM (I/O per s).
    latency_us : float
        Throughput-weighted mean latency over every VM (µs).
    percentiles_us : dict
        Of the VM kind with the worst latency (µs).
    utilization : dict
        Busy fraction per server of every resource (a VM's own: the mean VM; shared: the
        shared instance), and ``"host cores"`` when cores are finite.
    bottleneck : str
    host_cpu_cores : float
        Host cores busy on average (threads' demand + busy-polling threads).
    method : str
        ``"exact"`` or ``"schweitzer"``.
    """

    scenario: Scenario
    rows: tuple
    throughput_per_s: float
    latency_us: float
    percentiles_us: dict
    utilization: dict
    bottleneck: str
    host_cpu_cores: float
    method: str
    iterations: int = 0

    @property
    def per_vm(self) -> pd.DataFrame:
        return pd.DataFrame(list(self.rows))

    def to_frame(self) -> pd.DataFrame:
        """One row: ``vms, throughput_per_s, latency_us, p<q>_us, host_cpu_cores,
        bottleneck, method, util_<resource>``."""
        return pd.DataFrame([self._row()])

    def _row(self) -> dict:
        return {"vms": self.scenario.vms, "throughput_per_s": self.throughput_per_s,
               "latency_us": self.latency_us,
               **{f"{k}_us": v for k, v in self.percentiles_us.items()},
               "host_cpu_cores": self.host_cpu_cores, "bottleneck": self.bottleneck,
               "method": self.method,
               **{f"util_{k}": v for k, v in self.utilization.items()}}

    def summary(self) -> str:
        lines = [repr(self), self.per_vm.to_string(index=False, float_format="{:.4g}".format),
                 "utilisation: " + ", ".join(f"{k} {v:.2f}" for k, v in self.utilization.items()
                                             if np.isfinite(v))]
        return "\n".join(lines)

    def __repr__(self) -> str:
        return (f"ScenarioResult({self.scenario.vms} VMs, {self.method}: "
                f"{self.throughput_per_s:,.0f} IO/s, {self.latency_us:.3g} µs mean, "
                f"bottleneck {self.bottleneck!r})")

    def _repr_html_(self) -> str:
        import html

        return (f"<p>{html.escape(repr(self))}</p>"
                + self.per_vm.to_html(index=False, escape=True, float_format="{:.4g}".format))


def analyze_scenario(sc: Scenario, *, percentiles=(50, 99), method: str = "auto"
                     ) -> ScenarioResult:
    """Solve a :class:`~iovmodel.spec.scenario.Scenario` (see the module docstring).

    Parameters
    ----------
    sc : Scenario
    percentiles : sequence of float
        Latency percentiles per VM kind (gamma approximation, :mod:`.percentiles`).
    method : {"auto", "exact", "schweitzer"}
        ``"auto"``: exact multiclass MVA up to :data:`EXACT_STATES` population vectors.

    Returns
    -------
    ScenarioResult
    """
    if not isinstance(sc, Scenario):
        raise ParameterError(f"expected a Scenario, got {type(sc).__name__} {sc!r:.80}")
    for q in percentiles:
        number("percentile", q, lo=0, strict=True)
        if q >= 100:
            raise ParameterError(f"percentile must be < 100, got {q!r}")
    return _analyze(sc, percentiles, method, None)


def _analyze(sc: Scenario, percentiles, method: str, nets: list[Network] | None
             ) -> ScenarioResult:
    sol = solve(sc, method, nets)
    md: _Model = sol["model"]
    X, Rk, D = sol["X"], sol["Rk"], sol["D"]
    G, K = D.shape
    rows = []
    busy_all = np.where(md.owner < 0, (md.mult[:, None] * X[:, None] * D).sum(0),
                        (X[:, None] * D)[np.maximum(md.owner, 0), np.arange(K)])
    m_fin = np.where(np.isinf(md.m), 1.0, md.m)
    util_col = busy_all / m_fin
    worst = None
    for g in range(G):
        net = md.nets[g]
        R = float(md.N_full[g] / X[g] - md.Z[g]) if X[g] > 0 else math.inf
        waits = np.zeros(len(net.stations))
        util = np.zeros(len(net.stations))
        for i, s in enumerate(net.stations):
            if s.is_delay or s.visits <= 0:
                continue
            key = s.name if s.name in md.res and md.owner[md.res.index(s.name)] < 0 \
                and s.name in sc.shared else f"{md.kinds[g]}/{s.name}"
            if key not in md.cols:
                continue
            k = md.cols.index(key)
            # the wait for a core (stretch) and contention count as service, not queueing
            waits[i] = max(Rk[g, k] - D[g, k], 0.0) / s.visits
            util[i] = min(util_col[k], 1.0)
            if s.servers > 1 and _erlang_c(s.servers, util[i]) < 1e-3:
                # Seidmann's pair leaves a small wait at a lightly used multi-server
                # station that almost never queues: no queueing variance from it
                waits[i] = 0.0
        if md.N_full[g] > md.N[g] and net.route:  # the wait for a slot, before the first hop
            first = net.route[0].station
            slot = R - float(md.N[g] / X[g] - md.Z[g])
            waits[first] += slot / max(net.stations[first].visits, 1e-300)
        var = latency_variance(net, waits, util, population=int(md.N_full[g]))
        pct = {percentile_key(q): latency_quantile(R, var, q / 100.0) for q in percentiles}
        rows.append({"guest": md.kinds[g], "path": net.name, "vms": int(md.mult[g]),
                     "throughput_per_s": X[g] * 1e6, "latency_us": R,
                     **{f"{k}_us": v for k, v in pct.items()},
                     "total_throughput_per_s": X[g] * 1e6 * md.mult[g]})
        if worst is None or R > worst[0]:
            worst = (R, pct)
    total = float((md.mult * X).sum()) * 1e6
    lat = sum(r["latency_us"] * r["total_throughput_per_s"] for r in rows) / total \
        if total > 0 else math.inf
    utilization = {}
    for k, name in enumerate(md.cols):
        if np.isinf(md.m[k]):
            continue
        utilization[md.res[k] if md.owner[k] < 0 else name] = float(util_col[k])
    # host CPU: busy threads' demand plus the busy-polling threads in full
    inst = np.array([1.0 if md.owner[k] < 0 else md.mult[md.owner[k]] for k in range(K)])
    cpu = float((busy_all * inst)[md.thread & ~md.polling].sum())
    cpu += float((md.m * inst)[md.polling & np.isfinite(md.m)].sum())
    if math.isfinite(sc.cores):
        cpu = min(cpu, sc.cores)  # spinning threads beyond the cores share them
        utilization["host cores"] = cpu / sc.cores
    bottleneck = max(utilization, key=utilization.get) if utilization else DELAY
    return ScenarioResult(sc, tuple(rows), total, lat, worst[1], utilization, bottleneck, cpu,
                          sol["method"], sol["iterations"])


def sweep_scenario(sc: Scenario, vms, *, percentiles=(50, 99), method: str = "auto"
                   ) -> pd.DataFrame:
    """Solve a scenario at each number of VMs per guest kind; one row per point.

    Columns: ``vms_per_guest``, the :meth:`ScenarioResult.to_frame` columns, and per kind
    ``throughput_per_s[<guest>]`` / ``latency_us[<guest>]``.
    """
    if isinstance(vms, str) or not hasattr(vms, "__iter__"):
        raise ParameterError(f"vms must be a sequence of VM counts, got {vms!r}")
    vms = list(vms)
    if not vms:
        raise ParameterError("vms must hold at least one VM count, got []")
    first = analyze_scenario(sc.with_vms(vms[0]), percentiles=percentiles, method=method)
    nets = [build(g.path, sc.host, g.workload) for g in sc.guests]  # the same at every count
    out = []
    for i, n in enumerate(vms):
        r = first if i == 0 else _analyze(sc.with_vms(n), percentiles, method, nets)
        row = {"vms_per_guest": int(n), **r._row()}
        for pv in r.rows:
            row[f"throughput_per_s[{pv['guest']}]"] = pv["throughput_per_s"]
            row[f"latency_us[{pv['guest']}]"] = pv["latency_us"]
        out.append(row)
    return pd.DataFrame(out)
