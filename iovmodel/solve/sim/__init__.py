"""Monte Carlo simulation of a path's queueing network (numba discrete events).

``simulate(path, host, workload)`` builds the same :class:`~iovmodel.network.Network`
the analytic solvers see and simulates it request by request:

* open Poisson arrivals (``Workload.open``) or a closed population
  (``jobs x iodepth`` requests, each followed by an exponential think time of
  mean ``think_us``);
* FIFO stations with ``c`` servers, delay stations (``servers = inf``), one
  station visited several times per I/O (QEMU's global mutex), requests from
  every vCPU competing for it;
* batching (amortised notification, as ``analyze``): a hop with
  ``per == "batch"`` happens ``count / batch`` times per I/O; each request
  carries it with that probability (batches of geometric size, mean
  ``batch``), nobody waits. ``batching="fork-join"``: the ``Network.batch``
  requests of a batch (consecutive sequence numbers) wait for each other
  there, the hop runs once for the whole batch, then each continues;
* polling: a hop with ``Visit.poll`` (at the delay station ``network.build``
  gives polling hops) is a pure delay uniform on ``[0, 2 x mean_us]``; the catalog declares such a hop
  with ``cost = 0.5 * poll_interval_us`` and ``scv = 1/3``, so the poll
  interval is ``poll_interval_us``;
* per-hop service laws (see :mod:`iovmodel.solve.sim.dists`); fractional visit
  counts are Bernoulli extra visits; zero-cost per-I/O hops are skipped;
* groups (``Network.groups``: fio jobs pinned to vCPUs): every request belongs to
  one group (closed: fixed numbers per group; open: each arrival draws its group
  from the shares, on a stream of its own); a ``Station.private`` station has an
  instance per group, each with the station's servers, serving only that group;
  ``utilization`` is the mean over the instances;
* host cores (``Network.cores``, finite): a visit to a ``Station.thread``
  station needs its server (the thread) *and* a core from the pool; a request
  that got its thread waits for a core while holding it (simultaneous
  resource possession), FIFO over all threads; a finishing visit hands its core
  on first, then its thread. Polling stations hold their cores all the time (the
  pool is ``cores`` minus their servers, times their instances) and take none
  from it per visit;
* an in-flight limit (``Network.inflight``, finite): at most that many
  requests are past the start of the route; the others wait, FIFO, before the
  first hop (their latency counts the wait, and ``breakdown`` shows it as the
  first hop's ``wait_us``).

Fork-join batching is not simulated together with groups, cores or an
in-flight limit (ParameterError).

Engines: the event loop (:mod:`iovmodel.solve.sim.kernel`) handles everything; an
open network without batching whose FIFO stations are each visited once is
simulated exactly by Lindley / Kiefer-Wolfowitz recursions, station after
station (``engine="auto"`` picks it up to 4 million requests per replication). Both draw from the same random streams:
on a chain of single-server FIFO stations they give the same numbers (to
rounding); elsewhere they agree statistically. The event loop itself decides a
visit to a single-server FIFO station that only that visit uses, has no host core
and no fork-join, at the request's arrival there (its start is known then, as in
Lindley's recursion), and goes straight on through a chain of such visits: events
only where requests meet shared state (multi-server and shared stations, the
core pool, the in-flight gate, batches); its numbers are those of queueing every
visit. The core pool is decided when a request asks for a core
(Kiefer-Wolfowitz), but every such visit still takes an event.

Accounting: ``utilization`` is busy time per server (delay stations: mean
busy servers, polling hops included, as ``analyze``); a polling hop counts as host CPU (its
thread spins), and a busy-polling resource counts at its full cores, as
:func:`~iovmodel.analyze` does. In ``breakdown``, the time a request waits for
its batch-mates at a per-batch hop is that hop's ``wait_us``.

Compile cost: nothing compiles at import. ``make``'s set-up (:func:`precompile`)
builds the kernels ahead of time (:mod:`.aot`, a plain extension module: the first
simulation of a process then costs milliseconds and never imports numba) and also
fills numba's on-disk JIT cache (``iovmodel/solve/sim/__pycache__`` or
``NUMBA_CACHE_DIR``), the fallback when the AOT module is missing or stale
(``iovmodel.solve.sim.aot.engine_kind()`` says which one a process uses). With the
JIT, loading costs ~0.5 s once per process, most of it numba's own start-up (its
registries import ``scipy.linalg`` to look for BLAS); without any set-up the first
simulation compiles the event loop itself (a few seconds). ``benchmarks/bench_sim.py``
measures each case.

Statistics: per replication, the first 10 % of completions are dropped as
warm-up (replication/deletion, Law 2015 s.9.5.2; see :mod:`.stats` for why not
MSER-5, and ``tests/sim/test_sim_coverage.py`` for the measured coverage),
then means, percentiles and a log-grid histogram; across replications,
Student-t 95% intervals. Replication ``i`` uses
``SeedSequence(seed).spawn(replications)[i]``, and every stream inside it
(arrivals, each step's service times) is a child of that: the same seed gives
bit-identical numbers serially or on any ``concurrent.futures.Executor``.
"""

from __future__ import annotations

import os
import time
from concurrent.futures import Executor, as_completed
from dataclasses import replace
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from ...errors import ParameterError
from ...network import Network
from . import dists
from .dists import Dist
from .engine import HIST_EDGES_US, PERCENTILES, compile_network, recursion_ok, replicate
from .result import SimResult, histogram_frame
from .stats import WARMUP_FRACTION, mser, t_interval

if TYPE_CHECKING:
    from ...spec.catalog import Path
    from ...spec.profile import HostProfile
    from ...spec.workload import Workload

_PCT_NAMES = tuple(f"p{p:g}" for p in PERCENTILES)
#: most requests (x replications) one call simulates: beyond, hours of work, refused up front
MAX_TOTAL_REQUESTS = 10**9
#: largest ``requests`` for which ``engine="auto"`` uses the recursion (~50 MB per 10^6)
RECURSION_MAX_REQUESTS = 4_000_000
#: the progress bar shows only when the rest of the run should take longer than this (s)
PROGRESS_AFTER_S = 1.0


class _Progress:
    """A ``tqdm.auto`` bar that appears only once the run is known to need more than
    :data:`PROGRESS_AFTER_S` more seconds.

    The rate is measured between two updates, after the first one, so the time spent
    compiling or loading kernels (all inside the first update) never enters the ETA.
    """

    def __init__(self, total: int, enabled: bool, desc: str):
        self.total, self.desc = total, desc
        self.enabled = enabled and not os.environ.get("CI")
        self.done = 0
        self.mark: tuple[float, int] | None = None
        self.bar = None

    def update(self, n: int) -> None:
        self.done += n
        if self.bar is not None:
            self.bar.update(n)
            return
        if not self.enabled or self.done >= self.total:
            return
        now = time.perf_counter()
        if self.mark is None:
            self.mark = (now, self.done)
            return
        t1, d1 = self.mark
        rate = (self.done - d1) / max(now - t1, 1e-9)
        if (self.total - self.done) / rate > PROGRESS_AFTER_S:
            from tqdm.auto import tqdm

            self.bar = tqdm(total=self.total, initial=self.done, desc=self.desc, unit="req",
                            unit_scale=True, leave=False)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def _check_args(requests, replications, warmup, engine):
    if isinstance(requests, bool) or not isinstance(requests, int | np.integer) or requests < 100:
        raise ParameterError(f"requests must be an integer >= 100, got {requests!r}")
    if (isinstance(replications, bool) or not isinstance(replications, int | np.integer)
            or replications < 1):
        raise ParameterError(f"replications must be an integer >= 1, got {replications!r}")
    if requests * replications > MAX_TOTAL_REQUESTS:
        raise ParameterError(
            f"requests x replications = {requests:,} x {replications} = "
            f"{requests * replications:,} exceeds {MAX_TOTAL_REQUESTS:,} simulated requests "
            f"(about {requests * replications / 2e6 / 3600:.1f} h at 2 million requests/s); "
            "use fewer, or run replications on an executor in batches")
    if isinstance(warmup, str):
        if warmup.lower() not in ("mser5", "mser-5"):
            raise ParameterError(f"warmup must be 'mser5', a count or a fraction, got {warmup!r}")
    elif isinstance(warmup, float) and not warmup.is_integer():
        if not (0 <= warmup < 0.5):
            raise ParameterError(f"warmup as a fraction must be in [0, 0.5), got {warmup!r}")
    elif isinstance(warmup, int | float | np.integer) and not isinstance(warmup, bool):
        if not (0 <= warmup <= requests // 2):
            raise ParameterError(
                f"warmup must be between 0 and requests/2 = {requests // 2}, got {warmup!r}")
    else:
        raise ParameterError(f"warmup must be 'mser5', a count or a fraction, got {warmup!r}")
    if engine not in ("auto", "event", "recursion"):
        raise ParameterError(f"engine must be 'auto', 'event' or 'recursion', got {engine!r}")


def _seed_sequence(seed) -> np.random.SeedSequence:
    if isinstance(seed, np.random.SeedSequence):
        # a fresh copy: spawning from the caller's object would advance it, and the same
        # SeedSequence passed twice would give different numbers
        return np.random.SeedSequence(seed.entropy, spawn_key=seed.spawn_key,
                                      pool_size=seed.pool_size)
    if seed is None:
        return np.random.SeedSequence()
    if isinstance(seed, bool) or not isinstance(seed, int | np.integer) or seed < 0:
        raise ParameterError(f"seed must be a non-negative integer, a SeedSequence or None, "
                             f"got {seed!r}")
    return np.random.SeedSequence(int(seed))


def simulate_network(net: Network, *, requests: int = 100_000, replications: int = 8,
                     seed: int | np.random.SeedSequence | None = None, warmup: Any = WARMUP_FRACTION,
                     executor: Executor | None = None, progress: bool = True,
                     dists: dict | None = None, engine: str = "auto",
                     workload: Workload | None = None, path_name: str | None = None,
                     batching: str = "amortised") -> SimResult:
    """Simulate a :class:`~iovmodel.network.Network` (see :func:`simulate`)."""
    _check_args(requests, replications, warmup, engine)
    if executor is not None and not callable(getattr(executor, "submit", None)):
        raise ParameterError(f"executor must be a concurrent.futures.Executor (with .submit), "
                             f"got {type(executor).__name__} {executor!r}")
    spec = compile_network(net, dists, batching)
    if engine == "recursion" and not recursion_ok(spec):
        raise ParameterError(
            f"engine='recursion' needs an open network without batching whose FIFO stations "
            f"are visited once per I/O; {net.name!r} is not one")
    # the recursion holds a few arrays of `requests` floats: above RECURSION_MAX_REQUESTS
    # "auto" takes the event loop, whose memory follows the requests in flight
    used = "recursion" if engine == "recursion" or (
        engine == "auto" and recursion_ok(spec) and requests <= RECURSION_MAX_REQUESTS) \
        else "event"
    root = _seed_sequence(seed)
    children = root.spawn(replications)
    warm = "mser5" if isinstance(warmup, str) else warmup
    requests = int(requests)
    bar = _Progress(replications * requests, progress, f"simulate {net.name}")
    try:
        if executor is None:
            reps = [replicate(spec, requests, c, warm, i, bar.update, used)
                    for i, c in enumerate(children)]
        else:
            futs = {executor.submit(replicate, spec, requests, c, warm, i, None, used): i
                    for i, c in enumerate(children)}
            reps = [None] * replications
            for f in as_completed(futs):
                reps[futs[f]] = f.result()
                bar.update(requests)
    finally:
        bar.close()
    return _combine(net, spec, reps, requests, root, used, workload, path_name)


def precompile(aot: bool = True) -> float:
    """Compile every simulator kernel now; returns the seconds it took.

    ``make`` runs this once after installing. It builds the ahead-of-time kernels
    (:mod:`.aot`: later processes load them in milliseconds, without numba) when
    ``aot`` is true and a C compiler is at hand, and compiles the numba JIT kernels
    into numba's on-disk cache (``iovmodel/solve/sim/__pycache__`` or
    ``NUMBA_CACHE_DIR``), the fallback when the AOT module is missing or stale. The
    compile cost is paid at set-up, not by the first simulation.
    """
    from ...network import Visit, aggregate
    from . import aot as _aot
    from . import kernel

    t0 = time.perf_counter()
    if aot:
        try:
            _aot.build()
        except Exception as exc:  # noqa: BLE001 - the JIT below still works; say why
            print(f"iovmodel: ahead-of-time simulator kernels not built ({type(exc).__name__}: "
                  f"{exc}); simulations use numba's JIT (~0.5 s more per new process)")
    route = (Visit("a", 0, 1.0, 1.0), Visit("b", 1, 0.5, 1.0))
    st = aggregate(route, ["s0", "s1"], [1, 2], [True, True], 1)
    _aot._cache["k"] = kernel  # the JIT kernels, whatever the AOT state
    try:
        for net in (Network("precompile", st, route, rate_per_s=1e5),
                    Network("precompile", st, route, population=2, think_us=1.0)):
            simulate_network(net, requests=200, replications=1, seed=0, progress=False,
                             engine="recursion" if net.is_open else "event")
    finally:
        _aot._cache.clear()
    return time.perf_counter() - t0


def _combine(net, spec, reps, requests, root, engine, workload, path_name) -> SimResult:
    from ...spec.workload import Workload

    nst = len(net.stations)
    rows = []
    for r in reps:
        row = {k: r[k] for k in ("replication", "requests", "warmup_requests", "sim_time_us",
                                 "throughput_per_s", "latency_us")}
        row.update({f"{k}_us": float(v) for k, v in zip(_PCT_NAMES, r["percentiles_us"],
                                                       strict=True)})
        row["cpu_us_per_io"] = r["cpu_us_per_io"]
        row["guest_cpu_us_per_io"] = r["guest_cpu_us_per_io"]
        row.update({f"util_{s.name}": float(u)
                    for s, u in zip(net.stations, r["utilization"], strict=True)})
        rows.append(row)
    table = pd.DataFrame(rows)
    wait = np.mean([r["step_wait_us"] for r in reps], axis=0)
    serv = np.mean([r["step_service_us"] for r in reps], axis=0)
    util = np.mean([r["utilization"] for r in reps], axis=0)
    hist = np.sum([r["hist"] for r in reps], axis=0)
    # per hop (a visit may be several steps; skipped zero-cost hops show zeros)
    nv = len(net.route)
    hw = np.bincount(spec.st_visit, wait, minlength=nv) if wait.size else np.zeros(nv)
    hs = np.bincount(spec.st_visit, serv, minlength=nv) if serv.size else np.zeros(nv)
    bd = pd.DataFrame([{
        "hop": v.hop, "resource": net.stations[v.station].name, "switch": v.switch,
        "count": v.per_io(net.batch), "service_us": float(hs[i]), "wait_us": float(hw[i]),
        "latency_us": float(hs[i] + hw[i])} for i, v in enumerate(net.route)],
        columns=["hop", "resource", "switch", "count", "service_us", "wait_us", "latency_us"])
    finite = [i for i, s in enumerate(net.stations) if not s.is_delay and s.demand_us > 0]
    if finite:
        bottleneck = net.stations[max(finite, key=lambda i: util[i])].name
    else:
        bottleneck = net.bottleneck().name
    if workload is None:
        workload = (Workload.open(net.rate_per_s, batch=net.batch) if net.is_open else
                    Workload.closed(jobs=net.population, iodepth=1, think_us=net.think_us,
                                    batch=net.batch))
    lat = table["latency_us"].to_numpy()
    thr = table["throughput_per_s"].to_numpy()
    return SimResult(
        path=path_name or net.name, workload=workload,
        throughput_per_s=float(thr.mean()), latency_us=float(lat.mean()), breakdown=bd,
        utilization={s.name: float(util[i]) for i, s in enumerate(net.stations) if i < nst},
        cpu_us_per_io=float(table["cpu_us_per_io"].mean()),
        guest_cpu_us_per_io=float(table["guest_cpu_us_per_io"].mean()),
        bottleneck=bottleneck, saturation_per_s=net.saturation_per_s,
        zero_load_latency_us=net.zero_load_latency_us, solver="simulation",
        latency_ci_us=t_interval(lat), throughput_ci_per_s=t_interval(thr),
        percentiles_us={k: float(table[f"{k}_us"].mean()) for k in _PCT_NAMES},
        histogram=histogram_frame(HIST_EDGES_US, hist), replications=table,
        requests=requests,
        seed=root.entropy if isinstance(root.entropy, int) and not root.spawn_key else None,
        engine=engine, extra={"unlimited": tuple(s.name for s in net.stations if s.is_delay)},
    )


def simulate(path: str | Path, host: HostProfile | None = None,
             workload: Workload | None = None, *, requests: int = 100_000,
             replications: int = 8, seed: int | np.random.SeedSequence | None = None,
             warmup: Any = WARMUP_FRACTION, executor: Executor | None = None,
             progress: bool = True, dists: dict | None = None, engine: str = "auto",
             batching: str | None = None, **options: Any) -> SimResult:
    """Simulate a path under a workload, with confidence intervals.

    Parameters
    ----------
    path : str, Path or Network
        A catalog name, a :class:`~iovmodel.spec.catalog.Path`, or a ready
        :class:`~iovmodel.network.Network` (then ``host`` and ``workload``
        must be omitted).
    host : HostProfile, optional
        Costs (default :meth:`HostProfile.default`).
    workload : Workload, optional
        Default ``Workload.closed(1, 1)``, as :func:`~iovmodel.analyze`.
    requests : int
        Completions recorded per replication, warm-up included (>= 100).
    replications : int
        Independent replications (>= 2 for confidence intervals).
    seed : int, SeedSequence or None
        Root of ``numpy.random.SeedSequence``; ``None`` draws fresh entropy
        (reported as ``SimResult.seed``).
    warmup : float, int or "mser5"
        A fraction of ``requests`` in [0, 0.5) to drop from the start of every
        replication (default ``WARMUP_FRACTION`` = 0.1: Law's replication/deletion,
        see :mod:`iovmodel.solve.sim.stats`), a number of requests, or ``"mser5"``
        (data-chosen MSER-5 truncation; biased low on variable service, not
        the default).
    executor : concurrent.futures.Executor, optional
        Runs replications in parallel (``ProcessPoolExecutor``,
        ``dask.distributed.Client.get_executor()``, ...); the numbers do not
        depend on it.
    progress : bool
        A ``tqdm.auto`` bar, shown only when the rest of the run should take longer
        than ``PROGRESS_AFTER_S`` (1 s), its rate measured after the kernels are
        loaded; never when the environment variable ``CI`` is set.
    dists : dict, optional
        Hop name -> service law (see :mod:`iovmodel.solve.sim.dists`); ``"arrival"``
        and ``"think"`` replace the exponential interarrival / think times.
    engine : {"auto", "event", "recursion"}
        Event loop, exact recursions (open feed-forward networks only), or the
        recursions where they apply and ``requests`` <= ``RECURSION_MAX_REQUESTS``
        (their memory grows with ``requests``; the event loop's with the requests
        in flight).
    batching : {None, "amortised", "load", "fork-join"}
        ``"amortised"`` (as ``analyze``): a per-batch hop happens ``count / batch``
        times per I/O, each request carrying it with that probability, nobody
        waiting. ``"fork-join"``: the ``batch`` requests of a batch wait for each
        other at a per-batch hop, served once for all (a whole ``batch``).
        ``"load"``: amortised at the batch :func:`~iovmodel.analyze` finds with
        ``batching="load"`` (its fixed point b = 1/(1 - rho) is a mean-value argument;
        the simulation then checks the queueing at that batch, not the fixed point).
        None (default): the path's own, :attr:`Path.batching` (``"load"`` on
        ``firecracker-virtio-blk`` and ``cloudhv-virtio-blk``).
    **options
        Path options (``workers=4``) on top of the path's.

    Returns
    -------
    SimResult
        The :class:`~iovmodel.result.Result` fields (means over replications)
        plus ``latency_ci_us``, ``throughput_ci_per_s``, ``percentiles_us``,
        ``histogram`` and ``replications``.

    Raises
    ------
    UnstableError
        An open load at or beyond a resource's capacity.
    ParameterError
        A bad argument (the message names it).
    """
    if isinstance(path, Network):
        if host is not None or workload is not None or options:
            raise ParameterError("simulate: pass host, workload and options only with a path, "
                                 "not with a ready Network")
        if batching == "load":
            raise ParameterError("simulate: batching='load' needs a path (analyze finds its "
                                 "batch); a ready Network runs at its own batch")
        return simulate_network(path, requests=requests, replications=replications, seed=seed,
                                warmup=warmup, executor=executor, progress=progress,
                                dists=dists, engine=engine, batching=batching or "amortised")
    from ...assumptions import assumptions
    from ..analyze import resolve
    from ..batching import resolve as resolve_batching

    p, host, w, net = resolve(path, host, workload, **options)
    if w.traffic is not None and w.is_open and net.ring is not None:
        return _simulate_flood(p, host, w, requests, replications, seed, warmup)
    batching = resolve_batching(batching, p)
    if batching == "load":
        from ..analyze import analyze

        b = analyze(p, host, w, batching="load").workload.batch
        w = replace(w, batch=b)
        net, batching, told = net.with_batch(b), "amortised", "load"
    else:
        told = batching
    r = simulate_network(net, requests=requests, replications=replications, seed=seed,
                         warmup=warmup, executor=executor, progress=progress, dists=dists,
                         engine=engine, workload=w, path_name=p.name, batching=batching)
    return replace(r, assumptions=assumptions(p, host, w, net, told))


def _simulate_flood(p, host, w, requests, replications, seed, warmup) -> SimResult:
    """A lossy network workload at an offered rate: the packets per notification of
    :func:`~iovmodel.solve.packets.solve_flood`, then the tandem simulation with the finite
    ring (:mod:`iovmodel.solve.sim.lossy`)."""
    import dataclasses

    from ...assumptions import assumptions
    from ..analyze import _analyze_traffic
    from .lossy import simulate_lossy

    a = _analyze_traffic(p, host, w)
    net = a.extra["net"]
    frac = warmup if isinstance(warmup, float) else WARMUP_FRACTION
    root = seed if isinstance(seed, np.random.SeedSequence) else np.random.SeedSequence(seed)
    s = simulate_lossy(net, w.rate_per_s, requests=requests, replications=replications,
                       seed=root, warmup=frac)
    base = {f.name: getattr(a, f.name) for f in dataclasses.fields(a)}
    base.update(throughput_per_s=s["delivered_per_s"], latency_us=s["latency_us"],
                dropped_per_s=s["dropped_per_s"], drops_at=s["drops_at"], solver="simulation",
                percentiles_us={}, assumptions=assumptions(p, host, a.workload, net, "load"))
    return SimResult(**base, latency_ci_us=s["latency_us_ci"],
                     throughput_ci_per_s=s["delivered_per_s_ci"], replications=s["replications"],
                     requests=requests,
                     seed=root.entropy if isinstance(root.entropy, int) and not root.spawn_key
                     else None, engine="lossy recursion")


__all__ = ["WARMUP_FRACTION", "Dist", "SimResult", "dists", "mser", "precompile", "simulate",
           "simulate_network", "t_interval"]

