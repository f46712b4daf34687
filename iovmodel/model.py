"""analyze, compare, sweep: the analytic solution of a path under a workload.

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

import html
import itertools
import math
import warnings
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from .analytic.mva import mva as _mva
from .analytic.single import mgc as _mgc
from .errors import ParameterError, UnstableQueueWarning
from .network import Network, build
from .spec.catalog import Path
from .spec.catalog import path as get_path
from .spec.profile import HostProfile, parameters
from .spec.workload import Workload

if TYPE_CHECKING:
    from matplotlib.axes import Axes


@dataclass(frozen=True, repr=False)
class Result:
    """What a path delivers under a workload.

    Attributes
    ----------
    path : str
    workload : Workload
    throughput_per_s : float
        I/O completed per second.
    latency_us : float
        Mean response time of one I/O, µs (excluding think time).
    breakdown : DataFrame
        One row per hop: ``hop, resource, switch, count`` (per I/O), ``service_us``
        (count x cost), ``wait_us`` (queueing at its resource), ``latency_us``.
    utilization : dict
        Resource -> busy fraction per server (delay stations: mean busy servers).
    cpu_us_per_io : float
        Host CPU µs per I/O spent outside the guest (KVM, QEMU, vhost, host kernel,
        busy-polling cores at their full cost).
    guest_cpu_us_per_io : float
        Guest CPU µs per I/O (driver and stack; on native paths, the OS).
    bottleneck : str
        The resource with the largest demand per server.
    saturation_per_s : float
        Throughput bound: servers / demand at the bottleneck, I/O per second.
    zero_load_latency_us : float
        Sum of all demands: the latency of an I/O that never waits.
    solver : str
        ``"open"`` or ``"mva"`` (or ``"simulation"`` for a SimResult).
    """

    path: str
    workload: Workload
    throughput_per_s: float
    latency_us: float
    breakdown: pd.DataFrame
    utilization: Mapping[str, float]
    cpu_us_per_io: float
    guest_cpu_us_per_io: float
    bottleneck: str
    saturation_per_s: float
    zero_load_latency_us: float
    solver: str = "open"
    extra: Mapping[str, Any] = field(default_factory=dict)
    percentiles_us: Mapping[str, float] = field(default_factory=dict)

    def percentile_us(self, pct: float) -> float:
        """A latency percentile (µs), e.g. ``r.percentile_us(99)``.

        From ``percentiles_us`` when it holds it (a simulation's, or the ones
        ``analyze(..., percentiles=...)`` computed), else by the gamma approximation of
        :mod:`iovmodel.solve.percentiles` (the same number :func:`iovmodel.fit` fits to).

        Parameters
        ----------
        pct : float
            Percent, 0 < pct < 100.
        """
        from .solve.percentiles import latency_quantile, latency_variance, percentile_key

        if isinstance(pct, bool) or not isinstance(pct, int | float) or not 0 < pct < 100:
            raise ParameterError(f"pct must be a percent between 0 and 100 (exclusive), got {pct!r}")
        if percentile_key(pct) in self.percentiles_us:
            return float(self.percentiles_us[percentile_key(pct)])
        if "net" not in self.extra:
            raise ParameterError(f"percentile {pct!r} is not among this result's "
                                 f"{sorted(self.percentiles_us)}; ask the simulator for it")
        var = latency_variance(self.extra["net"], self.extra["waits"], self.extra["util"])
        return latency_quantile(self.latency_us, var, pct / 100.0)

    def metric(self, name: str) -> float:
        """Any metric the model predicts (:data:`iovmodel.solve.metrics.PREDICTABLE`), e.g.
        ``r.metric("exits_per_io")``, ``r.metric("cpu_util_vmm_pct")``: the number
        :func:`iovmodel.fit` compares with a measurement of that metric."""
        from .solve.metrics import PREDICTABLE, VMM_METRICS, value

        if name not in PREDICTABLE and name not in VMM_METRICS:
            raise ParameterError(f"metric {name!r} is not predictable; predictable metrics: "
                                 f"{', '.join(PREDICTABLE)}")
        if "net" not in self.extra:
            raise ParameterError(f"metric {name!r} needs the analytic solution (analyze)")
        p = self.extra["path_obj"]
        return value(name, p, self.workload, self.extra["net"], self.throughput_per_s,
                     self.latency_us, self.extra["waits"], self.extra["util"], self.cpu_us_per_io)


    def to_frame(self) -> pd.DataFrame:
        """One tidy row: path, workload fields, metrics, and ``util_<resource>`` columns."""
        row = {"path": self.path, **{k: v for k, v in self.workload.to_dict().items()},
               "throughput_per_s": self.throughput_per_s, "latency_us": self.latency_us,
               "cpu_us_per_io": self.cpu_us_per_io, "guest_cpu_us_per_io": self.guest_cpu_us_per_io,
               "bottleneck": self.bottleneck,
               "bottleneck_utilization": self.utilization.get(self.bottleneck, math.nan),
               "saturation_per_s": self.saturation_per_s,
               "zero_load_latency_us": self.zero_load_latency_us, "solver": self.solver}
        row.update({f"{k}_us": v for k, v in self.percentiles_us.items()})
        row.update({f"util_{k}": v for k, v in self.utilization.items()})
        return pd.DataFrame([row])

    def summary(self) -> str:
        util = ", ".join(f"{k} {v:.0%}" if v <= 1 else f"{k} {v:.2f}" for k, v in self.utilization.items())
        return (f"{self.path} under {self.workload!r} ({self.solver})\n"
                f"  throughput {self.throughput_per_s:,.0f} IO/s, latency {self.latency_us:.2f} µs "
                f"(zero-load {self.zero_load_latency_us:.2f} µs)\n"
                f"  host CPU {self.cpu_us_per_io:.2f} µs/IO, guest CPU {self.guest_cpu_us_per_io:.2f} µs/IO\n"
                f"  bottleneck {self.bottleneck} (saturates at {self.saturation_per_s:,.0f} IO/s); "
                f"utilisation: {util}")

    def __repr__(self) -> str:
        return (f"<Result {self.path}: {self.throughput_per_s:,.0f} IO/s, {self.latency_us:.2f} µs, "
                f"bottleneck {self.bottleneck} ({self.utilization.get(self.bottleneck, math.nan):.0%})>")

    def _repr_html_(self) -> str:
        esc = html.escape
        head = (f"<b>{esc(self.path)}</b> — {esc(repr(self.workload))} ({esc(self.solver)})<br>"
                f"throughput <b>{self.throughput_per_s:,.0f}</b> IO/s · latency <b>{self.latency_us:.2f}</b> µs · "
                f"host CPU {self.cpu_us_per_io:.2f} µs/IO · bottleneck {esc(self.bottleneck)}")
        bd = self.breakdown[["hop", "resource", "switch", "count", "service_us", "wait_us", "latency_us"]]
        return f"<div>{head}{bd.to_html(index=False, float_format=lambda x: f'{x:.3g}')}</div>"

    def latex(self) -> str:
        """The closed-form mean latency of this path and workload, as ``$...$`` LaTeX.

        Only on request: building it imports sympy (seconds), so a Result has no
        ``_repr_latex_`` and displaying one in a notebook stays fast.
        """
        import sympy

        from .symbolic import latency

        p = self.extra.get("path_obj") or get_path(self.path)  # keeps options such as workers=4
        return "$" + sympy.latex(latency(p, workload=self.workload)) + "$"

    def plot(self, ax: Axes | None = None, **kwargs: Any) -> Axes:
        """Stacked per-hop latency breakdown (see :func:`iovmodel.plot.breakdown`)."""
        from . import plot as _plot

        return _plot.breakdown([self], ax=ax, **kwargs)


def _as_path(p: str | Path) -> Path:
    if not isinstance(p, str | Path):
        raise ParameterError(f"path must be a catalog name or a Path, got {type(p).__name__} {p!r}")
    return p if isinstance(p, Path) else get_path(p)


def _host(host: HostProfile | None) -> HostProfile:
    """The host argument of every solver: a HostProfile, or None for the default."""
    if host is None:
        return HostProfile.default()
    if not isinstance(host, HostProfile):
        raise ParameterError(f"host must be a HostProfile, got {type(host).__name__} {host!r}")
    return host


def _breakdown(net: Network, wait_per_visit: np.ndarray) -> pd.DataFrame:
    rows = []
    for v in net.route:
        n = v.per_io(net.batch)
        w = n * wait_per_visit[v.station]
        rows.append({"hop": v.hop, "resource": net.stations[v.station].name, "switch": v.switch,
                     "count": n, "service_us": n * v.mean_us, "wait_us": w,
                     "latency_us": n * v.mean_us + w})
    return pd.DataFrame(rows)


def solve_open(net: Network, rate_per_s: float | np.ndarray, *,
               nan_policy: str = "raise") -> tuple[Any, np.ndarray, np.ndarray]:
    """Open-network solution at one rate or an array of rates (I/O per second).

    Returns latency (µs), per-visit wait (µs) and utilisation per station; with
    ``nan_policy="nan"`` points at or beyond a capacity give NaN instead of raising.
    """
    rates = np.atleast_1d(np.asarray(rate_per_s, dtype=float))
    lam = rates / 1e6  # per µs
    K = len(net.stations)
    R = np.zeros(rates.shape)
    waits = np.zeros((rates.size, K))
    util = np.zeros((rates.size, K))
    bad = np.zeros(rates.shape, dtype=bool)
    for i, s in enumerate(net.stations):
        if s.demand_us <= 0 or s.visits <= 0:
            continue
        if s.is_delay:
            util[:, i] = lam * s.demand_us  # mean busy servers
            R += s.demand_us
            continue
        rho = lam * s.demand_us / s.servers
        over = rho >= 1
        if over.any() and nan_policy == "raise":
            net.check_stable(float(rates[int(np.flatnonzero(over)[0])]))  # raises, one wording
        bad |= over
        ok = np.where(over, 0.0, lam)
        q = _mgc(ok * s.visits, s.service_us, s.scv, int(s.servers), name=s.name)
        waits[:, i] = np.where(over, np.nan, q.Wq)
        util[:, i] = rho
        R = R + np.where(over, np.nan, s.visits * np.asarray(q.W))
    if bad.any():
        R = np.where(bad, np.nan, R)
    if np.ndim(rate_per_s) == 0:
        return float(R[0]), waits[0], util[0]
    return R, waits, util


def solve_closed(net: Network, populations: Sequence[int] | None = None
                 ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Exact MVA of the closed network at the given populations (default: the network's).

    Returns arrays: throughput (I/O per s), latency (µs), per-visit waits (µs) and
    utilisation, one row per population.
    """
    pops = np.asarray([net.population] if populations is None else list(populations), dtype=int)
    if pops.size and pops.min() < net.batch:
        raise ParameterError(f"batch {net.batch:g} > population {int(pops.min())} of {net.name!r}: "
                             "a batch larger than the requests in flight can never fill")
    dem = [s.demand_us for s in net.stations]
    srv = [s.servers for s in net.stations]
    res = _mva(dem, int(pops.max()), think=net.think_us, servers=srv)
    X = np.asarray(res.X, dtype=float)[pops - 1]  # per µs
    R = np.asarray(res.R, dtype=float)[pops - 1]
    Q = np.asarray(res.Q, dtype=float)[pops - 1]
    D = np.asarray(dem, dtype=float)
    V = np.array([s.visits for s in net.stations])
    delay = np.array([s.is_delay for s in net.stations])
    c = np.where(delay, 1.0, np.asarray(srv, dtype=float))
    util = X[:, None] * D[None, :] / c[None, :]
    with np.errstate(divide="ignore", invalid="ignore"):
        waits = np.where((V > 0) & ~delay & (X[:, None] > 0),
                         np.maximum(Q / X[:, None] - D[None, :], 0.0) / np.where(V > 0, V, 1.0), 0.0)
    return X * 1e6, R, waits, util


def _result(net: Network, p: Path, w: Workload, X: float, R: float, waits: np.ndarray,
            util: np.ndarray, solver: str) -> Result:
    host, guest = net.cpu_per_io(X)
    return Result(
        path=p.name, workload=w, throughput_per_s=X, latency_us=R,
        breakdown=_breakdown(net, waits),
        utilization={s.name: float(u) for s, u in zip(net.stations, util, strict=True)},
        cpu_us_per_io=float(host), guest_cpu_us_per_io=guest, bottleneck=net.bottleneck().name,
        saturation_per_s=net.saturation_per_s, zero_load_latency_us=net.zero_load_latency_us,
        solver=solver, extra={"path_obj": p, "net": net, "waits": waits, "util": util},
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
        raise ParameterError(f"workload must be a Workload, got {type(w).__name__}")
    return p, host, w, build(p, host, w)


def analyze(path: str | Path, host: HostProfile | None = None, workload: Workload | None = None,
            *, percentiles: Sequence[float] = (), batching: str = "stated", streams: bool = False,
            **options: Any) -> Result:
    """Solve a path under a workload analytically.

    Parameters
    ----------
    path : str or Path
        A catalog name or a Path.
    host : HostProfile, optional
        Costs (default: :meth:`HostProfile.default`).
    workload : Workload, optional
        Default: one job at iodepth 1 (``Workload.closed(1, 1)``).
    percentiles : sequence of float, optional
        Latency percentiles (percent, e.g. ``(50, 99)``) to put in
        :attr:`Result.percentiles_us` (gamma approximation, :mod:`iovmodel.solve.percentiles`;
        :meth:`Result.percentile_us` gives any other on request).
    batching : {"stated", "load"}
        ``"stated"``: the workload's batch (amortised notification: per-batch hops
        count 1/batch per I/O).  ``"load"`` (closed workloads): the batch notification
        suppression gives at this load, b = 1/(1 - rho) (:mod:`iovmodel.solve.batching`);
        the Result's workload carries the batch found.
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
    from .solve.batching import BATCHING, load_batched
    from .solve.percentiles import percentile_key
    from .solve.streams import stream_bound

    if batching not in BATCHING:
        hint = (" (requests of a batch waiting for each other exist only in simulate)"
                if batching == "fork-join" else "")
        raise ParameterError(f"batching must be one of {', '.join(map(repr, BATCHING))}, "
                             f"got {batching!r}{hint}")
    if isinstance(percentiles, str) or not hasattr(percentiles, "__iter__"):
        raise ParameterError(f"percentiles must be a sequence of percents, got {percentiles!r}")
    if not isinstance(streams, bool):
        raise ParameterError(f"streams must be True or False, got {streams!r}")
    p, h, w, net = resolve(path, host, workload, **options)
    if (streams or batching == "load") and w.is_open:
        raise ParameterError(f"{'streams=True' if streams else 'batching=' + repr(batching)} "
                             f"needs a closed workload, got {w!r}")
    if streams and batching == "load":
        raise ParameterError("streams=True runs at the throughput bound, where the batch does "
                             "not matter: use batching='stated'")
    if streams:
        X, util = stream_bound(net)
        R = w.population / X * 1e6 if X > 0 else math.inf
        r = _result(net, p, w, X, R, np.zeros(len(net.stations)), util, "bound")
    elif batching == "load":
        n = w.population

        def solve_at(batch: float) -> tuple:
            nb = build(p, h, replace(w, batch=batch))
            X, R, waits, util = solve_closed(nb, [n])
            return nb, float(X[0]), float(R[0]), waits[0], util[0]

        net, X, R, waits, util = load_batched(solve_at, n)
        r = _result(net, p, replace(w, batch=net.batch), X, R, waits, util, "mva")
    elif w.is_open:
        R, waits, util = solve_open(net, w.rate_per_s)
        r = _result(net, p, w, w.rate_per_s, R, waits, util, "open")
    else:
        X, R, waits, util = solve_closed(net)
        r = _result(net, p, w, float(X[0]), float(R[0]), waits[0], util[0], "mva")
    if percentiles:
        r = replace(r, percentiles_us={percentile_key(q): r.percentile_us(q) for q in percentiles})
    return r


def compare(names: Iterable[str | Path], host: HostProfile | None = None,
            workload: Workload | None = None) -> pd.DataFrame:
    """Analyze several paths under one workload: one row per path (plus mode switches)."""
    if isinstance(names, str | Path):
        raise ParameterError(f"compare takes a sequence of paths, got the single path {names!r}: "
                             "use analyze, or wrap it in a list")
    host = _host(host)
    frames = []
    for n in names:
        p = _as_path(n)
        r = analyze(p, host, workload)
        row = r.to_frame().drop(columns=[c for c in r.to_frame() if c.startswith("util_")])
        ms = p.mode_switches(batch=r.workload.batch).reset_index(drop=True)
        frames.append(pd.concat([row, ms], axis=1))
    if not frames:
        raise ParameterError("compare needs at least one path name")
    return pd.concat(frames, ignore_index=True)


_WORKLOAD_KNOBS = ("rate_per_s", "jobs", "iodepth", "think_us", "size_bytes", "batch")


def sweep(path: str | Path, host: HostProfile | None = None, workload: Workload | None = None,
          *, nan_policy: str = "raise", **knobs: Sequence[Any]) -> pd.DataFrame:
    """Analyze a path over a grid of knobs; one row per point.

    Knobs are workload fields (``jobs``, ``iodepth``, ``rate_per_s``, ``think_us``,
    ``size_bytes``, ``batch``), path options (``workers``, ``iothreads``, ...) or
    host costs (``vmexit_us``, ...), each a sequence; several knobs give their
    Cartesian product.

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
    if workload is None:
        workload = (Workload.open(float(np.min(knobs["rate_per_s"])))
                    if "rate_per_s" in knobs else Workload.closed(1, 1))
    keys = list(knobs)
    grid = list(itertools.product(*(list(knobs[k]) for k in keys)))
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
            cols[name] = np.full(n, np.nan, dtype=object if name in ("path", "bottleneck", "solver") else float)
        cols[name][idxs] = values

    for sig, idxs in groups.items():
        fixed = dict(sig)
        wk = {k: v for k, v in fixed.items() if k in _WORKLOAD_KNOBS}
        opts = {k: v for k, v in fixed.items() if k in p0.options}
        cst = {k: v for k, v in fixed.items() if k in costs and k not in p0.options}
        p = p0.with_options(**opts)
        h = host.replace(**cst) if cst else host
        w_base = workload.replace(**wk) if wk else workload
        pts = [dict(zip(keys, grid[i], strict=True)) for i in idxs]
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
            ws_pop = [w_base.replace(**{k: pt[k] for k in pop_keys if k in pt}).population
                      if pop_keys & set(pt) else w_base.population for pt in pts]
            X, R, _, util = solve_closed(net, ws_pop)
            solver = "mva"
        cpu, guest_cpu = net.cpu_per_io(X)
        b = net.station_index(neck.name)
        put("path", idxs, p.name)
        put("throughput_per_s", idxs, X)
        put("latency_us", idxs, R)
        put("cpu_us_per_io", idxs, cpu)
        put("guest_cpu_us_per_io", idxs, guest_cpu)
        put("bottleneck", idxs, neck.name)
        put("bottleneck_utilization", idxs, util[:, b])
        put("saturation_per_s", idxs, net.saturation_per_s)
        put("zero_load_latency_us", idxs, net.zero_load_latency_us)
        put("solver", idxs, solver)
        for k, s in enumerate(net.stations):
            put(f"util_{s.name}", idxs, util[:, k])
    data = {k: [pt[j] for pt in grid] for j, k in enumerate(keys)}
    data.update(cols)
    return pd.DataFrame(data)  # one construction: column-by-column insertion is the slow part


def _row(r: Result) -> dict:
    d = r.to_frame().iloc[0].to_dict()
    for k in ("kind", "rate_per_s", "jobs", "iodepth", "think_us", "size_bytes", "batch"):
        d.pop(k, None)
    return d
