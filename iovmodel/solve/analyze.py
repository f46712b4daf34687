"""analyze, compare, sweep: the analytic solution of a path under a workload.

The front end of the solvers: it resolves the defaults (:func:`resolve`), builds the
:class:`~iovmodel.network.Network`, solves it open (:mod:`.open`) or closed (:mod:`.closed`),
adds what :mod:`.percentiles`, :mod:`.batching` and :mod:`.streams` predict, and returns a
:class:`~iovmodel.result.Result`.

Open workloads solve the open network station by station (M/G/1 by
Pollaczek-Khinchine for one server, M/G/c by Allen-Cunneen for several, no
queueing at delay stations), taking each station's visits as Poisson.  Closed
workloads (jobs x iodepth in flight) use exact Mean Value Analysis with
load-dependent multi-server stations; MVA assumes product form, so it uses
the mean costs only (a hop's ``scv`` matters to the open solution and to the
simulator).

Accuracy: the open solution is exact for a chain of single-visit M/M/1 stations; where
one request visits a station several times with unequal costs the Poisson assumption
overestimates the wait. At bottleneck utilisation <= 0.8 the simulator's mean latency
stays within 15 % of it (measured on every catalog path at batch 1 and 4: -12.4 % to
+0.1 %; ``tests/test_solvers_agree.py``).
"""

from __future__ import annotations

import itertools
import math
import warnings
from collections.abc import Iterable, Sequence
from dataclasses import replace
from typing import Any

import numpy as np
import pandas as pd

from .. import _validate
from ..assumptions import KEYS as ASSUMPTION_KEYS
from ..assumptions import assumptions, groups_text, workload_text
from ..errors import ParameterError, UnstableQueueWarning
from ..network import Network, build, vcpu_groups
from ..result import Result
from ..spec.catalog import Path
from ..spec.catalog import path as get_path
from ..spec.profile import HostProfile, as_host, parameters
from ..spec.scenario import Scenario
from ..spec.workload import Workload
from .batching import BATCH_MAX, BATCHING, in_flight, load_batched, open_gap
from .batching import resolve as resolve_batching
from .closed import solve_closed
from .consolidation import analyze_scenario, sweep_scenario
from .holding import held
from .layered import needs_layers, solve_closed_layered_xru
from .locks import contended
from .open import solve_open
from .packets import solve_flood, solve_stream
from .percentiles import percentile_key
from .streams import stream_bound


def _as_path(p: str | Path) -> Path:
    if not isinstance(p, str | Path):
        raise ParameterError(f"path must be a catalog name or a Path, got {type(p).__name__} {p!r}")
    return p if isinstance(p, Path) else get_path(p)


_host = as_host  # the host argument of every solver: HostProfile, mapping or None


def _breakdown(net: Network, wait_per_visit: np.ndarray) -> pd.DataFrame:
    rows = []
    for v in net.route:
        n = v.per_io(net.batch)
        w = n * wait_per_visit[v.station]
        rows.append({"hop": v.hop, "resource": net.stations[v.station].name, "switch": v.switch,
                     "count": n, "service_us": n * v.mean_us, "wait_us": w,
                     "latency_us": n * v.mean_us + w})
    return pd.DataFrame(rows)


def _result(net: Network, p: Path, h: HostProfile, w: Workload, X: float, R: float,
            waits: np.ndarray, util: np.ndarray, solver: str, batching: str = "amortised",
            dropped: float = 0.0, drops_at: str = "") -> Result:
    host, guest = net.cpu_per_io(X)
    return Result(dropped_per_s=dropped, drops_at=drops_at,
        path=p.name, workload=w, throughput_per_s=X, latency_us=R,
        breakdown=_breakdown(net, waits),
        utilization={**{s.name: float(u) for s, u in zip(net.stations, util, strict=True)},
                     **net.limit_utilisation(X)},
        cpu_us_per_io=float(host), guest_cpu_us_per_io=guest, bottleneck=net.bottleneck().name,
        saturation_per_s=net.saturation_per_s, zero_load_latency_us=net.zero_load_latency_us,
        solver=solver, extra={"path_obj": p, "net": net, "waits": waits, "util": util},
        assumptions=assumptions(p, h, w, net, batching),
    )


def resolve(path: str | Path, host: HostProfile | None = None, workload: Workload | None = None,
            **options: Any) -> tuple[Path, HostProfile, Workload, Network]:
    """The defaults every solver applies: (Path with options, host, workload, its Network).

    ``host`` defaults to :meth:`HostProfile.default`, ``workload`` to one job at iodepth 1.
    """
    p = _as_path(path).with_options(**options)
    host = _host(host)
    w = workload if workload is not None else Workload.closed(1, 1)
    if not isinstance(w, Workload):
        raise ParameterError(f"workload must be a Workload, got {type(w).__name__} {w!r:.80}")
    return p, host, w, build(p, host, w)


def open_load_batched(p: Path, h: HostProfile, w: Workload) -> tuple:
    """An open workload with the load-dependent batch (:func:`load_batched` on
    :func:`open_gap`): (network at the batch found, X per s, R µs, waits, utilisation).

    Raises
    ------
    UnstableError
        The offered rate is beyond capacity at every batch.
    """
    rate = w.rate_per_s
    base = build(p, h, w)

    def build_at(batch: float) -> Network:
        return base.with_batch(batch)  # build's network at that batch

    def solve_open_at(batch: float) -> tuple:
        nb = build_at(batch)
        R, waits, util = solve_open(nb, rate)
        return nb, rate, R, waits, util

    return load_batched(solve_open_at, int(BATCH_MAX), gap=open_gap(build_at, rate))


def analyze(path: str | Path | Scenario, host: HostProfile | None = None, workload: Workload | None = None,
            *, percentiles: Sequence[float] = (), batching: str | None = None, streams: bool = False,
            **options: Any) -> Result:
    """Solve a path under a workload analytically.

    Parameters
    ----------
    path : str, Path or Scenario
        A catalog name or a Path; or a :class:`~iovmodel.spec.scenario.Scenario` (many VMs
        on one host, alone: it carries its host and workloads), which returns a
        :class:`~iovmodel.solve.consolidation.ScenarioResult`.
    host : HostProfile or mapping, optional
        Costs (default: :meth:`HostProfile.default`); a mapping such as
        ``{"vmexit_us": 0.5}`` is checked like a HostProfile, missing costs at their defaults.
    workload : Workload, optional
        Default: one job at iodepth 1 (``Workload.closed(1, 1)``).
    percentiles : sequence of float, optional
        Latency percentiles (percent, e.g. ``(50, 99)``) to put in
        :attr:`Result.percentiles_us` (gamma approximation, :mod:`iovmodel.solve.percentiles`;
        :meth:`Result.percentile_us` gives any other on request).
    batching : {None, "amortised", "load"}
        ``"amortised"``: the workload's batch (amortised notification: per-batch hops
        count 1/batch per I/O).  ``"load"``: the batch notification suppression (virtio
        EVENT_IDX) gives at this load, b = 1/(1 - rho) of the notified back-end
        (:mod:`iovmodel.solve.batching`), at most the requests in flight (closed) or 256
        (open); the Result's workload carries the batch found.  On a path whose options
        suppress no notification (:meth:`Path.suppresses_notifications`: emulated NVMe
        without shadow doorbells) ``"load"`` is ``"amortised"``.  None (default): the
        path's own, :attr:`Path.batching`: ``"load"`` on ``firecracker-virtio-blk`` and
        ``cloudhv-virtio-blk``, whose back-ends drain their ring and signal once per pass,
        ``"amortised"`` elsewhere.
    streams : bool
        A bulk transfer (iperf3 streams, closed workload) that keeps its bottleneck busy:
        throughput at the asymptotic bound min c_k/D_k (:mod:`iovmodel.solve.streams`).
    **options
        Path options (``workers=4``), applied on top of the path's.

    Returns
    -------
    Result

    Raises
    ------
    UnstableError
        An open load at or beyond a resource's capacity (names the resource).
    ParameterError
        A bad ``percentiles``, ``batching`` or ``streams`` (``batching="fork-join"``
        exists in :func:`iovmodel.simulate` only).
    """
    if isinstance(path, Scenario):  # many VMs on one host: iovmodel.solve.consolidation
        if host is not None or workload is not None or options:
            raise ParameterError("a Scenario carries its host, workloads and options: pass "
                                 "analyze(scenario) alone (got host, workload or options)")
        return analyze_scenario(path, percentiles=tuple(percentiles) or (50, 99))
    if batching is not None and batching not in BATCHING:
        hint = (" (requests of a batch waiting for each other exist only in simulate)"
                if batching == "fork-join" else "")
        raise ParameterError(f"batching must be one of {', '.join(map(repr, BATCHING))}, "
                             f"got {batching!r}{hint}")
    if isinstance(percentiles, str) or not hasattr(percentiles, "__iter__"):
        raise ParameterError(f"percentiles must be a sequence of percents, got {percentiles!r}")
    if not isinstance(streams, bool):
        raise ParameterError(f"streams must be True or False, got {streams!r}")
    p, h, w, net = resolve(path, host, workload, **options)
    batching = resolve_batching(batching, p)
    if batching == "load" and not p.suppresses_notifications():
        batching = "amortised"  # nothing skips a kick or an interrupt: the workload's batch
    if w.traffic is not None and batching == "amortised" and not streams:
        r = _analyze_traffic(p, h, w)
        if percentiles:
            r = replace(r, percentiles_us={percentile_key(q): r.percentile_us(q)
                                           for q in percentiles})
        return r
    if streams and w.is_open:
        raise ParameterError(f"streams=True needs a closed workload, got {w!r}")
    if streams and batching == "load":
        raise ParameterError("streams=True runs at the throughput bound, where the batch does "
                             "not matter: use batching='amortised'")
    if streams:
        X, util = stream_bound(net)
        R = w.population / X * 1e6 if X > 0 else math.inf
        r = _result(net, p, h, w, X, R, np.zeros(len(net.stations)), util, "bound")
    elif batching == "load" and w.is_open:
        net, X, R, waits, util = open_load_batched(p, h, w)
        r = _result(net, p, h, replace(w, batch=net.batch), X, R, waits, util, "open", "load")
    elif batching == "load":
        n = w.population

        def solve_at(batch: float) -> tuple:
            nb = net.with_batch(batch)  # build's network at that batch
            X, R, waits, util = solve_closed(nb, [n])
            return nb, float(X[0]), float(R[0]), waits[0], util[0]

        # a pass finds at most the requests the device lets in flight (Path.inflight)
        net, X, R, waits, util = load_batched(solve_at, in_flight(net, n))
        r = _result(net, p, h, replace(w, batch=net.batch), X, R, waits, util, "mva", "load")
    elif w.is_open:
        R, waits, util = solve_open(net, w.rate_per_s)
        r = _result(net, p, h, w, w.rate_per_s, R, waits, util, "open")
    else:
        X, R, waits, util = solve_closed(net)
        r = _result(net, p, h, w, float(X[0]), float(R[0]), waits[0], util[0], "mva")
    if percentiles:
        r = replace(r, percentiles_us={percentile_key(q): r.percentile_us(q) for q in percentiles})
    return r


def _analyze_traffic(p: Path, h: HostProfile, w: Workload) -> Result:
    """A network workload with a Traffic: a saturating stream at its bound, a flood at a rate
    with its finite ring, exchanges as a closed loop; per-notification packets from the
    load (:mod:`iovmodel.solve.packets`)."""
    t = w.traffic
    if t.saturating and not w.is_open:
        net, X, R, waits, util = solve_stream(p, h, w)
        return _result(net, p, h, replace(w, batch=net.batch), X, R, waits, util, "bound", "load")
    if w.is_open:
        f = solve_flood(p, h, w)
        return _result(f.net, p, h, replace(w, batch=f.net.batch), f.delivered_per_s,
                       f.latency_us, f.waits, f.util, "open", "load", f.dropped_per_s,
                       f.drops_at)
    net = build(p, h, w)
    X, R, waits, util = solve_closed(net)
    return _result(net, p, h, w, float(X[0]), float(R[0]), waits[0], util[0], "mva")


def compare(names: Iterable[str | Path], host: HostProfile | None = None,
            workload: Workload | None = None) -> pd.DataFrame:
    """Analyze several paths under one workload: one row per path (plus mode switches).

    Each row ends with its ``assumed_<entry>`` columns (device, vCPUs, batch, options, ...:
    :mod:`iovmodel.assumptions`); ``assumptions.text_block(frame_blocks(df))`` prints them,
    shared entries once.
    """
    if isinstance(names, str | Path):
        raise ParameterError(f"compare takes a sequence of paths, got the single path {names!r}: "
                             "use analyze, or wrap it in a list")
    if names is None or not hasattr(names, "__iter__"):
        raise ParameterError(f"compare takes a sequence of paths, got {names!r}")
    host = _host(host)
    frames = []
    for n in names:
        p = _as_path(n)
        r = analyze(p, host, workload)
        row = r.to_frame()
        row = row.drop(columns=[c for c in row if c.startswith(("util_", "busy_"))])
        assumed = [c for c in row if c.startswith("assumed_")]
        ms = p.mode_switches(batch=r.workload.batch, workload=r.workload).reset_index(drop=True)
        frames.append(pd.concat([row.drop(columns=assumed), ms, row[assumed]], axis=1))
    if not frames:
        raise ParameterError("compare needs at least one path name")
    return pd.concat(frames, ignore_index=True)


_WORKLOAD_KNOBS = ("rate_per_s", "jobs", "iodepth", "think_us", "size_bytes", "batch")


def sweep(path: str | Path | Scenario, host: HostProfile | None = None, workload: Workload | None = None,
          *, nan_policy: str = "raise", **knobs: Sequence[Any]) -> pd.DataFrame:
    """Analyze a path over a grid of knobs; one row per point.

    Knobs are workload fields (``jobs``, ``iodepth``, ``rate_per_s``, ``think_us``,
    ``size_bytes``, ``batch``), path options (``workers``, ``iothreads``, ...) or
    host costs (``vmexit_us``, ...), each a sequence; several knobs give their
    Cartesian product.  Columns: the knobs, the metrics, ``util_<resource>`` (busy
    fraction of its servers), ``busy_<resource>`` (mean busy servers of a resource with
    unlimited servers) and ``assumed_<entry>`` (:mod:`iovmodel.assumptions`).

    Points solved by the method of layers (finite vCPUs with several jobs, host cores, an
    in-flight limit) start from the previous point's core stretches, which cuts a 64-job
    sweep's layer iterations by about two thirds; they equal :func:`analyze`'s answer
    (started cold) to the layers' tolerance, ~1e-4 relative, not bit for bit.

    A :class:`~iovmodel.spec.scenario.Scenario` sweeps one knob, ``vms=[...]`` (VMs of each
    guest kind): one row per point (:func:`~iovmodel.solve.consolidation.sweep_scenario`).

    Parameters
    ----------
    nan_policy : {"raise", "nan"}
        What an unstable open point does: raise :class:`UnstableError`, or give NaN
        metrics with an :class:`UnstableQueueWarning`.

    Examples
    --------
    >>> sweep("virtio-blk", jobs=[1, 2, 4, 8, 16, 32, 64])  # doctest: +SKIP
    """
    if nan_policy not in ("raise", "nan"):
        raise ParameterError(f"nan_policy must be 'raise' or 'nan', got {nan_policy!r}")
    if isinstance(path, Scenario):  # "how many VMs": iovmodel.solve.consolidation
        if set(knobs) != {"vms"} or host is not None or workload is not None:
            raise ParameterError(f"a Scenario sweeps one knob, vms=[...] (VMs per guest "
                                 f"kind), with no host or workload; got knobs {sorted(knobs)}")
        return sweep_scenario(path, knobs["vms"])
    if not knobs:
        raise ParameterError("sweep needs at least one knob, e.g. jobs=[1, 2, 4]")
    p0 = _as_path(path)
    host = _host(host)
    costs = set(parameters())
    for k, vals in knobs.items():
        if k not in _WORKLOAD_KNOBS and k not in p0.options and k not in costs:
            raise ParameterError(f"unknown sweep knob {k!r}: not a workload field "
                                 f"({', '.join(_WORKLOAD_KNOBS)}), an option of {p0.name!r} "
                                 f"({', '.join(p0.options)}) or a host cost")
        if isinstance(vals, str) or not hasattr(vals, "__iter__"):
            raise ParameterError(f"sweep knob {k!r} must be a sequence of values, got {vals!r}")
        # each value is checked where it lands (Workload, option, cost); here: non-empty
        # numbers, numpy scalars as plain ones (np.arange(1, 65) is a fine jobs knob)
        knobs[k] = [v.item() if isinstance(v, np.generic) else v for v in vals]
        if not knobs[k]:
            raise ParameterError(f"sweep knob {k!r} is empty: give at least one value")
    if workload is not None and not isinstance(workload, Workload):
        raise ParameterError(f"workload must be a Workload, got {type(workload).__name__} "
                             f"{workload!r}")
    closed_knobs = sorted({"jobs", "iodepth", "think_us"} & set(knobs))
    if closed_knobs and ("rate_per_s" in knobs or (workload is not None and workload.is_open)):
        # an open workload has no jobs: every point would be the same (issue 16)
        raise ParameterError(f"sweep knob(s) {', '.join(closed_knobs)} need a closed workload, "
                             f"got {'rate_per_s=' + repr(knobs['rate_per_s']) if 'rate_per_s' in knobs else repr(workload)}")
    if workload is None:
        workload = (Workload.open(min(_validate.values("sweep knob 'rate_per_s'",
                                                       knobs["rate_per_s"], lo=0, strict=True)))
                    if "rate_per_s" in knobs else Workload.closed(1, 1))
    keys = list(knobs)
    grid = list(itertools.product(*(list(knobs[k]) for k in keys)))
    if workload.traffic is not None:
        return _sweep_traffic(p0, host, workload, keys, grid, costs)
    if p0.batching == "load" and "batch" not in knobs:
        # the path's batch follows the load (Path.batching): each point its own fixed point
        return _sweep_points(p0, host, workload, keys, grid, costs)
    pop_keys = {"jobs", "iodepth"}
    # Points that differ only in jobs/iodepth (closed) or rate (open) share one network:
    # one MVA pass, or one vectorised open solution, serves them all.
    groups: dict[tuple, list[int]] = {}
    for i, pt in enumerate(grid):
        sig = tuple((k, v) for k, v in zip(keys, pt, strict=True)
                    if k not in pop_keys and k != "rate_per_s")
        groups.setdefault(sig, []).append(i)
    cols: dict[str, np.ndarray] = {}
    n = len(grid)

    def put(name: str, idxs: list[int], values) -> None:
        if name not in cols:
            text = name in ("path", "bottleneck", "solver") or name.startswith("assumed_")
            cols[name] = np.full(n, None if text else np.nan, dtype=object if text else float)
        cols[name][idxs] = values

    for sig, idxs in groups.items():
        fixed = dict(sig)
        wk = {k: v for k, v in fixed.items() if k in _WORKLOAD_KNOBS}
        opts = {k: v for k, v in fixed.items() if k in p0.options}
        cst = {k: v for k, v in fixed.items() if k in costs and k not in p0.options}
        p = p0.with_options(**opts)
        h = host.replace(**cst) if cst else host
        pts = [dict(zip(keys, grid[i], strict=True)) for i in idxs]
        if pop_keys & set(keys) and (wk.get("batch", workload.batch) != 1):
            # the group's largest population: a batch knob must fit it (a point whose
            # own requests in flight are fewer than the batch is then refused)
            def _pop(pt: dict) -> int:
                return pt.get("jobs", workload.jobs or 1) * pt.get("iodepth", workload.iodepth or 1)

            top = max(pts, key=_pop)
            wk.update({k: top[k] for k in pop_keys if k in top})
        w_base = workload.replace(**wk) if wk else workload
        if "rate_per_s" in keys:
            w_base = w_base.replace(rate_per_s=pts[0]["rate_per_s"])
        net = build(p, h, w_base)
        neck = net.bottleneck()
        if w_base.is_open:
            rates = np.array([pt.get("rate_per_s", w_base.rate_per_s) for pt in pts], dtype=float)
            R, _, util = solve_open(net, rates, nan_policy="nan")
            bad = np.isnan(R)
            if bad.any():
                j = int(np.flatnonzero(bad)[0])
                if nan_policy == "raise":
                    solve_open(net, rates[j])  # raises the UnstableError that names the resource
                warnings.warn(f"{int(bad.sum())} point(s) of the sweep of {p.name!r} are unstable "
                              f"(rate >= {net.saturation_per_s:,.0f}/s at {neck.name!r}); "
                              "returned NaN there", UnstableQueueWarning, stacklevel=2)
            X = np.where(bad, np.nan, rates)
            solver = "open"
        else:
            ws = [w_base.replace(**{k: pt[k] for k in pop_keys if k in pt})
                  if pop_keys & set(pt) else w_base for pt in pts]
            nets = _point_networks(net, p, h, ws)
            if any(needs_layers(pn) for pn in nets):
                # vCPU groups, host cores or an in-flight limit: the network depends on the
                # jobs and iodepth themselves; each point is its own network (and bottleneck)
                _put_layered(put, idxs, p, h, ws, nets)
                continue
            X, R, _, util = solve_closed(net, [w.population for w in ws])
            solver = "mva"
        cpu, guest_cpu = net.cpu_per_io(X)
        names = [s.name for s in net.stations]
        # the bottleneck may be a limit rather than a station (host cores, in flight)
        neck_util = (util[:, names.index(neck.name)] if neck.name in names
                     else np.asarray(X, dtype=float) * neck.demand_us / neck.servers / 1e6)
        put("path", idxs, p.name)
        put("throughput_per_s", idxs, X)
        put("latency_us", idxs, R)
        put("cpu_us_per_io", idxs, cpu)
        put("guest_cpu_us_per_io", idxs, guest_cpu)
        put("bottleneck", idxs, neck.name)
        put("bottleneck_utilization", idxs, neck_util)
        put("saturation_per_s", idxs, net.saturation_per_s)
        put("zero_load_latency_us", idxs, net.zero_load_latency_us)
        put("solver", idxs, solver)
        for k, s in enumerate(net.stations):
            put(f"{'busy' if s.is_delay else 'util'}_{s.name}", idxs, util[:, k])
        told = assumptions(p, h, w_base, net)
        for k, text in told.items():
            put(f"assumed_{k.replace(' ', '_')}", idxs, text)
        if pop_keys & set(keys) or "rate_per_s" in keys:  # the workload differs point by point
            varying = pop_keys | {"rate_per_s"}
            put("assumed_workload", idxs, [workload_text(w_base, **{k: v for k, v in pt.items()
                                                                    if k in varying})
                                           for pt in pts])
    data = {k: [pt[j] for pt in grid] for j, k in enumerate(keys)}
    data.update(cols)
    return pd.DataFrame(data)  # one construction: column-by-column insertion is the slow part



#: the workload's own columns of Result.to_frame that a sweep leaves to its knobs
_WORKLOAD_COLUMNS = ("kind", "rate_per_s", "jobs", "iodepth", "think_us", "size_bytes", "rw",
                     "rwmixread", "fsync")


def _sweep_points(p0: Path, host: HostProfile, workload: Workload, keys: list[str],
                  grid: list[tuple], costs: set[str]) -> pd.DataFrame:
    """A sweep of a path whose batch follows the load (:attr:`Path.batching` ``"load"``):
    each point analyzed on its own (:func:`analyze`, its own fixed point), the columns of
    the other sweeps plus ``batch``, the batch each point found."""
    rows = []
    for pt in grid:
        d = dict(zip(keys, pt, strict=True))
        wk = {k: v for k, v in d.items() if k in _WORKLOAD_KNOBS}
        opts = {k: v for k, v in d.items() if k in p0.options}
        cst = {k: v for k, v in d.items() if k in costs and k not in p0.options}
        row = analyze(p0.with_options(**opts), host.replace(**cst) if cst else host,
                      workload.replace(**wk) if wk else workload)._row()
        # dicts, one frame at the end: a frame per point was most of the time
        rows.append({**d, **{k: v for k, v in row.items()
                             if k not in d and k not in _WORKLOAD_COLUMNS}})
    return pd.DataFrame(rows)


def _sweep_traffic(p0: Path, host: HostProfile, workload: Workload, keys: list[str],
                   grid: list[tuple], costs: set[str]) -> pd.DataFrame:
    """A sweep of a network workload with a Traffic: each point analyzed on its own (its
    packets per notification, its bound or its drops). ``size_bytes`` sets the traffic's
    packet or message size, ``rate_per_s`` a flood's offered rate, ``jobs`` its streams."""
    t0 = workload.traffic
    frames = []
    for pt in grid:
        d = dict(zip(keys, pt, strict=True))
        tk = {}
        if "size_bytes" in d:
            tk["size_bytes"] = d["size_bytes"]
        if "rate_per_s" in d:
            tk["rate_pps"] = d["rate_per_s"]
        if "jobs" in d:
            tk["streams"] = d["jobs"]
        bad = set(d) & {"iodepth", "think_us", "batch"}
        if bad:
            raise ParameterError(f"sweep knob(s) {', '.join(sorted(bad))} do not apply to a "
                                 f"workload with {t0!r}: sweep size_bytes, rate_per_s (a flood's "
                                 "offered rate) or jobs (streams)")
        t = replace(t0, **tk) if tk else t0
        opts = {k: v for k, v in d.items() if k in p0.options}
        cst = {k: v for k, v in d.items() if k in costs and k not in p0.options}
        r = analyze(p0.with_options(**opts), host.replace(**cst) if cst else host,
                    Workload.of(t, batch=workload.batch))
        row = r.to_frame()
        for k in keys:
            row[k] = d[k]
        frames.append(row)
    out = pd.concat(frames, ignore_index=True)
    return out[keys + [c for c in out.columns if c not in keys]]


def _point_networks(net: Network, p: Path, h: HostProfile, ws: list[Workload]) -> list[Network]:
    """The network of each closed point: ``net`` with the point's population and vCPU
    groups (built anew only when the number of groups changes the servers, e.g. a thread
    per virtqueue in use)."""
    by_g: dict[int, Network] = {}
    out = []
    for w in ws:
        g = vcpu_groups(p, w)
        if len(g) not in by_g:
            by_g[len(g)] = build(p, h, w)
        base = by_g[len(g)]
        out.append(base if base.population == w.population and base.groups == g
                   else base.at_load(w.population, g, w.think_us, w.batch))
    return out


def _put_layered(put, idxs: list[int], p: Path, h: HostProfile, ws: list[Workload],
                 nets: list[Network]) -> None:
    """Fill a sweep's rows ``idxs`` from the layered closed solution of each point's network.

    Points whose networks share their stations (same vCPU groups count: the same servers)
    share the load-independent answers (bottleneck, bound, zero-load latency, assumptions
    but the workload and the groups), computed once; the columns are put once each."""
    shared: dict[int, tuple] = {}
    n = len(idxs)
    X, R = np.empty(n), np.empty(n)
    utils: list[np.ndarray] = []
    f = None  # the previous point's core stretches: the next point's layers start there
    hs: dict = {}  # the last two points' stretches of a held vCPU (.holding.next_start)
    for j, pn in enumerate(nets):
        if contended(pn) or held(pn):  # a fixed point of their own (.locks, .holding)
            Xa, Ra, _, ua = solve_closed(pn, layers=hs)
            X[j], R[j], u = Xa[0], Ra[0], ua[0]
        else:
            X[j], R[j], u, f = solve_closed_layered_xru(pn, f)
        utils.append(u)
    by_key: dict[int, list[int]] = {}
    for j, pn in enumerate(nets):
        by_key.setdefault(id(pn.stations), []).append(j)
    for key, js in by_key.items():
        pn = nets[js[0]]
        if key not in shared:
            shared[key] = (pn.bottleneck(), pn.saturation_per_s, pn.zero_load_latency_us,
                           assumptions(p, h, ws[js[0]], pn))
        neck, sat, zl, told = shared[key]
        rows = [idxs[j] for j in js]
        x = X[js]
        cpu, guest = pn.cpu_per_io(x)
        lim = {name: x * s.demand_us / s.servers / 1e6 for s in pn._limits()
               for name in (s.name,) if name in ("host cores", "inflight")}
        u = np.array([utils[j] for j in js])
        k = {s.name: i for i, s in enumerate(pn.stations)}
        put("path", rows, p.name)
        put("throughput_per_s", rows, x)
        put("latency_us", rows, R[js])
        put("cpu_us_per_io", rows, cpu)
        put("guest_cpu_us_per_io", rows, guest)
        put("bottleneck", rows, neck.name)
        put("bottleneck_utilization", rows, lim[neck.name] if neck.name in lim
            else u[:, k[neck.name]])
        put("saturation_per_s", rows, sat)
        put("zero_load_latency_us", rows, zl)
        put("solver", rows, "mva")
        for i, s in enumerate(pn.stations):
            put(f"{'busy' if s.is_delay else 'util'}_{s.name}", rows, u[:, i])
        for name_, v in lim.items():
            put(f"util_{name_}", rows, v)
        gts = [groups_text(nets[j]) for j in js]
        for k_ in [*ASSUMPTION_KEYS, *(x for x in told if x not in ASSUMPTION_KEYS)]:
            col = f"assumed_{k_.replace(' ', '_')}"
            if k_ == "workload":
                put(col, rows, [workload_text(ws[j]) for j in js])
            elif k_ == "groups":
                if any(gts):
                    put(col, rows, gts)
            elif k_ in told:
                put(col, rows, told[k_])
