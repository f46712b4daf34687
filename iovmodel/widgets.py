"""The explorer: an ipywidgets app over the analytic model (and the simulator).

``iov.explorer()`` returns an :class:`Explorer`, a ``VBox`` you display in a
notebook (or serve with Voila).  It holds

* a multi-select of catalog paths and the options they share (parallel
  backends: vhost ``workers``, ``iothreads``, Xen ``rings``; posted interrupts);
* one slider per host cost, its range, step, label and tooltip taken from the
  parameter declarations (:func:`iovmodel.spec.profile.parameters`);
* workload controls: closed (jobs x iodepth) or open (rate), request size, batch;
* a live figure: throughput vs outstanding I/Os (closed) or latency vs offered
  load (open) per path, and the per-resource latency breakdown at the current point;
* an HTML table of the numbers behind the figure (stable ids/classes:
  ``#iov-table``, ``td.iov-throughput[data-path=NAME]`` with the exact value in
  ``data-value``), so a browser test can read what is displayed;
* a button that runs the Monte Carlo simulator (:func:`iovmodel.simulate`) for the
  current point with a progress bar and shows its confidence intervals;
* an ``Output`` widget where exceptions raised in callbacks are shown.

Every analytic update measures its own time, from the control change to the
redrawn figure: :attr:`Explorer.last_update_ms` and :attr:`Explorer.update_times_ms`.
"""

from __future__ import annotations

import contextlib
import html
import io
import math
import time
import traceback
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Executor, Future
from typing import Any

import ipywidgets as W
import numpy as np
import pandas as pd
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.collections import PolyCollection
from matplotlib.colors import to_rgba
from matplotlib.figure import Figure
from matplotlib.ticker import (
    FixedLocator,
    FuncFormatter,
    LogLocator,
    MaxNLocator,
    NullFormatter,
    NullLocator,
)

from .analytic import mva
from .errors import ParameterError, UnstableError
from .model import Result, analyze, solve_open
from .network import build
from .spec.catalog import Path, path_names
from .spec.catalog import path as get_path
from .spec.profile import HostProfile, Parameter, parameters
from .spec.workload import Workload

__all__ = ["Explorer", "explorer", "cost_slider"]

#: Okabe-Ito: distinguishable under the common colour-vision deficiencies
PALETTE = ("#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9", "#F0E442", "#000000")
#: Paul Tol's "muted" scheme for resources, so they do not reuse the path colours
RESOURCE_PALETTE = ("#332288", "#88CCEE", "#44AA99", "#117733", "#999933", "#DDCC77",
                    "#CC6677", "#882255", "#AA4499", "#DDDDDD")
#: options that mean "how many parallel backends": one slider drives whichever a path has
PARALLEL_OPTIONS = ("workers", "iothreads", "rings")
SIZES = (("512 B", 512), ("4 KiB", 4096), ("16 KiB", 16384), ("64 KiB", 65536),
         ("128 KiB", 131072), ("1 MiB", 1 << 20))
DEFAULT_PATHS = ("virtio-blk", "virtio-blk-iothread", "vhost-scsi")


def _si(v: float, _pos=None) -> str:
    """Tick label with a k/M suffix (300000 -> 300k)."""
    a = abs(v)
    if a >= 1e6:
        return f"{v / 1e6:g}M"
    if a >= 1e3:
        return f"{v / 1e3:g}k"
    return f"{v:g}"


def _plain(v: float, _pos=None) -> str:
    return f"{v:g}"


def _nice_step(span: float) -> float:
    """A 1-2-5 step giving about 200 positions over ``span``."""
    if not span > 0:
        return 0.01
    raw = span / 200.0
    e = math.floor(math.log10(raw))
    for m in (1.0, 2.0, 5.0, 10.0):
        if m * 10.0**e >= raw:
            return m * 10.0**e
    return 10.0 ** (e + 1)  # pragma: no cover - the loop always returns


def _slider_range(p: Parameter) -> tuple[float, float, float]:
    """min, max, step of a cost's slider: the typical range, widened to hold the default."""
    lo = max(min(p.typical[0], p.value), p.bounds[0])
    hi = min(max(p.typical[1], p.value), p.bounds[1])
    if p.unit == "count":
        return math.floor(lo), math.ceil(hi), 1.0
    step = _nice_step(hi - lo)
    lo = max(math.floor(lo / step) * step, p.bounds[0])
    hi = min(math.ceil(hi / step) * step, p.bounds[1])
    return round(lo, 12), round(hi, 12), step


def cost_slider(p: Parameter, value: float | None = None) -> W.FloatSlider:
    """A slider for one declared cost: range = typical range (widened to hold the
    default), a 1-2-5 step, described by the cost name, tooltip = symbol, meaning, unit.

    The slider carries the DOM classes ``iov-cost`` and ``iov-cost-<name>``.
    """
    lo, hi, step = _slider_range(p)
    v = p.value if value is None else p.check(value)
    # the declared typical range may not hold a calibrated value: widen, never clip
    lo, hi = min(lo, v), max(hi, v)
    s = W.FloatSlider(
        value=v, min=lo, max=hi, step=step, description=p.name,
        # 3 significant digits: shows a default like 2.49 as it is declared
        readout_format=".4g" if p.unit == "count" else ".3g", continuous_update=False,
        tooltip=(f"{p.symbol} — {p.meaning} [{p.unit}]; typical {p.typical[0]:g}–"
                 f"{p.typical[1]:g}, default {p.value:g}"),
        style={"description_width": "150px"}, layout=W.Layout(width="430px"),
    )
    s.add_class("iov-cost")
    s.add_class(f"iov-cost-{p.name}")
    return s


def _fmt(x: float, digits: int = 3) -> str:
    if x is None or not math.isfinite(x):
        return "∞" if x == math.inf else "–"
    if abs(x) >= 1000:
        return f"{x:,.0f}"
    return f"{x:.{digits}g}"


def _swatch(colour: str, kind: str = "box", pale: bool = False) -> str:
    if kind == "line":
        return (f"<span style='display:inline-block;width:14px;height:3px;background:{colour};"
                "vertical-align:middle;margin-right:4px'></span>")
    return (f"<span style='display:inline-block;width:10px;height:10px;background:{colour};"
            f"opacity:{0.4 if pale else 1.0};"
            "vertical-align:middle;margin:0 3px 0 8px;border:1px solid #888'></span>")


def _legend_html(res_colour: dict[str, str], w: Workload, unstable: Sequence[str] = ()) -> str:
    """Titles and legends of the figure, in HTML (text drawn by matplotlib costs ~1 ms a label)."""
    items = "".join(f"{_swatch(c)}{html.escape(r)}" for r, c in res_colour.items())
    left = ("<b>left</b>: mean latency (µs) vs offered load (IO/s), log-log; dashed: each "
            "path's saturation" if w.is_open else
            "<b>left</b>: throughput (IO/s) vs outstanding I/Os (jobs × iodepth); dashed: each "
            "path's saturation bound")
    warn = (f" <span class='iov-unstable-note' style='color:#D55E00'>unstable here: "
            f"{html.escape(', '.join(unstable))}</span>" if unstable else "")
    return (f"<div class='iov-legend' style='font-size:11px'>{left}; dots: the current point."
            f"<br><b>right</b>: latency per I/O (µs) by resource: {items} "
            f"&nbsp;·&nbsp; {_swatch('#555')}service {_swatch('#555', pale=True)}waiting"
            f"{warn}</div>")


class _InlineExecutor(Executor):
    """Runs each task at submit time and calls ``done()`` after it (progress reporting)."""

    def __init__(self, done: Callable[[], None]) -> None:
        self._done = done

    def submit(self, fn, /, *args, **kwargs) -> Future:
        f: Future = Future()
        try:
            f.set_result(fn(*args, **kwargs))
        except BaseException as exc:  # noqa: BLE001 - delivered through the future
            f.set_exception(exc)
        self._done()
        return f


def _load_simulate() -> tuple[Any, str]:
    """(simulate or None, why not)."""
    try:
        from .sim import simulate  # the simulator compiles numba code: import on demand
    except Exception as exc:  # noqa: BLE001 - any import failure disables the button
        return None, f"{type(exc).__name__}: {exc}"
    return simulate, ""


class Explorer(W.VBox):
    """The interactive explorer (an ``ipywidgets.VBox``).

    Parameters
    ----------
    paths : sequence of str
        Paths selected at start (several may be chosen in the app).
    host : HostProfile, optional
        Starting costs (default :meth:`HostProfile.default`); the sliders start there.
    workload : Workload, optional
        Starting workload (default: closed, 4 jobs x iodepth 32).
    figure_dpi : int
        Resolution of the rendered figure (dots per inch).

    Attributes
    ----------
    path_select, mode, jobs, iodepth, rate, size, batch, parallel, posted : widgets
        The controls.
    cost_sliders : dict of str -> FloatSlider
        One slider per host cost.
    figure : ipywidgets.Image
        The rendered figure (PNG).
    table : ipywidgets.HTML
        The numbers behind the figure.
    sim_button, sim_progress, sim_table : widgets
        The Monte Carlo runner.
    errors : ipywidgets.Output
        Tracebacks of failed callbacks.
    results : dict of str -> Result or str
        The analytic result per selected path at the current point (the
        UnstableError message where an open load exceeds a capacity).
    last_update_ms : float
        Time of the last analytic update, from the control change to the redrawn
        figure, ms.
    update_times_ms : list of float
        Every update's time, ms.
    """

    def __init__(self, paths: Sequence[str] = DEFAULT_PATHS, host: HostProfile | None = None,
                 workload: Workload | None = None, *, figure_dpi: int = 80) -> None:
        if host is not None and not isinstance(host, HostProfile):
            raise ParameterError(f"host must be a HostProfile, got {type(host).__name__}")
        self._host0 = host if host is not None else HostProfile.default()
        w0 = workload if workload is not None else Workload.closed(jobs=4, iodepth=32)
        if not isinstance(w0, Workload):
            raise ParameterError(f"workload must be a Workload, got {type(w0).__name__}")
        names = path_names()
        if isinstance(paths, str):
            paths = (paths,)
        for n in paths:
            if n not in names:
                raise ParameterError(f"paths: {n!r} is not a catalog path; known: {', '.join(names)}")
        if isinstance(figure_dpi, bool) or not isinstance(figure_dpi, int | float) \
                or not 20 <= figure_dpi <= 400:
            raise ParameterError(f"figure_dpi must be a number in [20, 400], got {figure_dpi!r}")
        self.figure_dpi = int(figure_dpi)
        self.results: dict[str, Result | str] = {}
        self.sim_results: dict[str, Any] = {}
        self.last_update_ms = math.nan
        self.update_times_ms: list[float] = []
        self.last_error: str | None = None
        self._hold = 0
        self._fig = Figure(figsize=(9.6, 3.0))
        FigureCanvasAgg(self._fig)
        self._ax = None
        self._ax_mode: bool | None = None

        # -- controls -----------------------------------------------------------
        self.path_select = W.SelectMultiple(options=names, value=tuple(paths), rows=9,
                                            layout=W.Layout(width="330px"))
        self.path_select.add_class("iov-paths")
        self.parallel = W.IntSlider(value=1, min=1, max=16, description="parallel backends",
                                    continuous_update=False, style={"description_width": "150px"},
                                    tooltip="parallel backends of paths that have them "
                                            "(vhost workers, iothreads, Xen rings)",
                                    layout=W.Layout(width="430px"))
        self.posted = W.Checkbox(value=False, description="posted interrupts (VFIO paths)",
                                 indent=False)
        self.mode = W.ToggleButtons(options=[("closed: jobs × iodepth", "closed"),
                                             ("open: Poisson rate", "open")],
                                    value="open" if w0.is_open else "closed",
                                    style={"button_width": "160px"})
        self.mode.add_class("iov-mode")
        def slider_kw() -> dict:  # a Layout per widget: a shared one would hide them together
            return {"continuous_update": False, "style": {"description_width": "150px"},
                    "layout": W.Layout(width="430px")}

        self.jobs = W.IntSlider(value=w0.jobs, min=1, max=max(64, w0.jobs), description="jobs",
                                **slider_kw())
        self.iodepth = W.IntSlider(value=w0.iodepth, min=1, max=max(256, w0.iodepth),
                                   description="iodepth", **slider_kw())
        rate0 = w0.rate_per_s if w0.is_open else 1e5
        self.rate = W.FloatLogSlider(value=rate0, base=10, min=min(3.0, math.log10(rate0)),
                                     max=max(7.0, math.log10(rate0)),
                                     step=0.01, description="rate (IO/s)", readout_format=".3g",
                                     **slider_kw())
        sizes = list(SIZES)
        if w0.size_bytes not in [v for _, v in sizes]:
            sizes.append((f"{w0.size_bytes} B", w0.size_bytes))
        self.size = W.Dropdown(options=sizes, value=w0.size_bytes, description="request size",
                               style={"description_width": "150px"}, layout=W.Layout(width="300px"))
        self.batch = W.IntSlider(value=w0.batch, min=1, max=max(32, w0.batch),
                                 description="batch (per kick/IRQ)", **slider_kw())
        for wdg, cls in ((self.jobs, "iov-jobs"), (self.iodepth, "iov-iodepth"),
                         (self.rate, "iov-rate"), (self.size, "iov-size"),
                         (self.batch, "iov-batch"), (self.parallel, "iov-parallel")):
            wdg.add_class(cls)

        decl = parameters()
        self.cost_sliders: dict[str, W.FloatSlider] = {
            n: cost_slider(p, self._host0[n]) for n, p in decl.items()}
        self.reset_button = W.Button(description="reset costs", icon="undo",
                                     tooltip="back to the starting host profile")
        self.reset_button.add_class("iov-reset")
        costs_box = W.VBox([self.reset_button, *self.cost_sliders.values()],
                           layout=W.Layout(max_height="420px", overflow="auto"))
        self.costs_panel = W.Accordion(children=[costs_box], selected_index=0)
        self.costs_panel.set_title(0, "host costs (µs unless the name says otherwise)")

        # -- outputs ---------------------------------------------------------------
        self.figure = W.Image(format="png", layout=W.Layout(width="100%", max_width="780px"))
        self.figure.add_class("iov-figure")
        self.table = W.HTML()
        self.table.add_class("iov-table-widget")
        self.legend = W.HTML()
        self.legend.add_class("iov-legend-widget")
        self.last_phases_ms: dict[str, float] = {}
        self.status = W.HTML()
        self.status.add_class("iov-status")
        self.errors = W.Output(layout=W.Layout(border="1px solid #d55e00", max_height="200px",
                                               overflow="auto"))
        self.errors.add_class("iov-errors")
        self.errors.layout.display = "none"

        self.sim_requests = W.Dropdown(options=[("20 000", 20_000), ("100 000", 100_000),
                                                ("1 000 000", 1_000_000)], value=20_000,
                                       description="requests", layout=W.Layout(width="220px"))
        self.sim_replications = W.IntSlider(value=4, min=2, max=16, description="replications",
                                            layout=W.Layout(width="300px"))
        self.sim_button = W.Button(description="simulate this point", icon="play",
                                   button_style="primary", layout=W.Layout(width="200px"))
        self.sim_button.add_class("iov-simulate")
        self.sim_progress = W.IntProgress(value=0, min=0, max=1, description="",
                                          layout=W.Layout(width="300px"))
        self.sim_progress.add_class("iov-sim-progress")
        self.sim_table = W.HTML()
        self.sim_table.add_class("iov-sim-table")
        self._simulate, why = _load_simulate()
        if self._simulate is None:
            self.sim_button.disabled = True
            self.sim_button.tooltip = "the Monte Carlo simulator is not available"
            self.sim_table.value = (
                "<div class='iov-sim-unavailable'>Monte Carlo simulator unavailable "
                f"(<code>{html.escape(why)}</code>); the analytic model still works.</div>")

        self.path_select.observe(self._on_change, "value")
        for wdg in (self.parallel, self.posted, self.mode, self.jobs, self.iodepth, self.rate,
                    self.size, self.batch, *self.cost_sliders.values()):
            wdg.observe(self._on_change, "value")
        self.reset_button.on_click(self._guarded(self._on_reset))
        self.sim_button.on_click(self._guarded(self._on_simulate))

        self.workload_box = W.VBox([self.mode, self.jobs, self.iodepth, self.rate, self.size,
                                    self.batch])
        controls = W.VBox([
            W.HTML("<b>paths</b> (ctrl/shift-click for several; parallel backends = vhost "
                   "workers, iothreads or Xen rings of the paths that have them)"),
            self.path_select,
            self.parallel, self.posted,
            W.HTML("<b>workload</b>"), self.workload_box, self.costs_panel,
        ], layout=W.Layout(width="450px", min_width="450px"))
        sim_box = W.VBox([
            W.HTML("<b>Monte Carlo</b> at the current point"),
            W.HBox([self.sim_button, self.sim_requests, self.sim_replications]),
            self.sim_progress, self.sim_table,
        ])
        view = W.VBox([self.figure, self.legend, self.table, self.status, sim_box],
                      layout=W.Layout(flex="1 1 auto", min_width="500px"))
        super().__init__([
            W.HTML("<h3 style='margin:0'>iovmodel explorer</h3>"
                   "<small>virtual-machine I/O paths as queueing networks: move a cost or the "
                   "load and watch throughput, latency and the bottleneck move.</small>"),
            W.HBox([controls, view]), self.errors,
        ])
        self.add_class("iov-explorer")
        self._sync_visibility()
        self._guarded(self.update)()

    # -- state ---------------------------------------------------------------------
    @property
    def host(self) -> HostProfile:
        """The host profile the sliders describe."""
        changed = {n: float(s.value) for n, s in self.cost_sliders.items()
                   if float(s.value) != self._host0[n]}
        return self._host0.replace(**changed) if changed else self._host0

    @property
    def workload(self) -> Workload:
        """The workload the controls describe."""
        if self.mode.value == "open":
            return Workload.open(float(self.rate.value), size_bytes=int(self.size.value),
                                 batch=int(self.batch.value))
        return Workload.closed(int(self.jobs.value), int(self.iodepth.value),
                               size_bytes=int(self.size.value), batch=int(self.batch.value))

    @property
    def selected_paths(self) -> list[Path]:
        """The selected paths with the app's options applied where a path has them."""
        out = []
        for n in self.path_select.value:
            p = get_path(n)
            opts: dict[str, Any] = {k: int(self.parallel.value)
                                    for k in PARALLEL_OPTIONS if k in p.options}
            if "posted_interrupts" in p.options:
                opts["posted_interrupts"] = bool(self.posted.value)
            out.append(p.with_options(**opts))
        return out

    @contextlib.contextmanager
    def hold(self) -> Iterator[None]:
        """Change several controls with one update at the end::

            with app.hold():
                app.jobs.value = 8
                app.cost_sliders["wakeup_us"].value = 5.0
        """
        self._hold += 1
        try:
            yield
        finally:
            self._hold -= 1
            if self._hold == 0:
                self._guarded(self.update)()

    # -- callbacks -------------------------------------------------------------------
    def _guarded(self, fn):
        def run(*args, **kwargs):
            try:
                return fn(*args, **kwargs)
            except Exception as exc:  # noqa: BLE001 - shown in the app instead of lost
                self._report(exc)
                return None
        return run

    def _report(self, exc: BaseException) -> None:
        text = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
        self.last_error = f"{type(exc).__name__}: {exc}"
        self.errors.layout.display = None
        # append_stderr works with or without a running kernel (tests drive the app headless)
        self.errors.append_stderr(text)
        self.status.value = (f"<span class='iov-error' style='color:#d55e00'>error: "
                             f"{html.escape(self.last_error)}</span>")

    def clear_errors(self) -> None:
        """Empty the error pane."""
        self.errors.outputs = ()
        self.errors.layout.display = "none"
        self.last_error = None

    def _on_change(self, change: dict) -> None:
        if change.get("owner") is self.mode:
            self._sync_visibility()
        if self._hold:
            return
        self._guarded(self.update)()

    def _sync_visibility(self) -> None:
        closed = self.mode.value == "closed"
        self.jobs.layout.display = None if closed else "none"
        self.iodepth.layout.display = None if closed else "none"
        self.rate.layout.display = "none" if closed else None

    def _on_reset(self, _button=None) -> None:
        with self.hold():
            for n, s in self.cost_sliders.items():
                s.value = self._host0[n]

    # -- the analytic update ---------------------------------------------------------------
    def update(self) -> None:
        """Recompute every selected path at the current point, redraw the figure and the
        table, and record the time taken in :attr:`last_update_ms`."""
        t0, c0 = time.perf_counter(), time.thread_time()
        host, w = self.host, self.workload
        paths = self.selected_paths
        results: dict[str, Result | str] = {}
        curves = []
        for p in paths:
            net = build(p, host, w)
            static = {"saturation_per_s": net.saturation_per_s}
            try:
                results[p.name] = analyze(p, host, w)
            except UnstableError as exc:
                results[p.name] = str(exc)
            curves.append((p.name, static, self._curve(net, static, w)))
        self.results = results
        t1 = time.perf_counter()
        path_colour = {n: PALETTE[i % len(PALETTE)] for i, n in enumerate(results)}
        res_colour = self._draw(curves, results, w)
        t2 = time.perf_counter()
        buf = io.BytesIO()
        # fast zlib level: the PNG is a few tens of kB either way
        self._fig.savefig(buf, format="png", dpi=self.figure_dpi, pil_kwargs={"compress_level": 1})
        t3 = time.perf_counter()
        # legends live in HTML: text drawn by matplotlib is most of the render time
        unstable = [n for n, r in results.items() if not isinstance(r, Result)]
        self.legend.value = _legend_html(res_colour, w, unstable)
        self.table.value = self._table_html(results, w, path_colour)
        self.figure.value = buf.getvalue()
        ms = (time.perf_counter() - t0) * 1e3
        self.last_update_ms = ms
        # cpu_ms: this thread's CPU time, the part of the wall time a busy host cannot inflate
        self.last_phases_ms = {"solve_ms": (t1 - t0) * 1e3, "draw_ms": (t2 - t1) * 1e3,
                               "render_ms": (t3 - t2) * 1e3, "total_ms": ms,
                               "cpu_ms": (time.thread_time() - c0) * 1e3}
        self.update_times_ms.append(ms)
        self.status.value = (f"<small class='iov-timing'>updated in "
                             f"<span id='iov-update-ms'>{ms:.0f}</span> ms "
                             f"(control change → redrawn figure)</small>")
        if self.last_error is None:
            self.errors.layout.display = "none"

    @staticmethod
    def _curve(net, static: dict, w: Workload) -> tuple[np.ndarray, np.ndarray]:
        """x, y of the load curve: (outstanding I/Os, IO/s) closed; (IO/s, µs) open."""
        if not w.is_open:
            n_max = max(256, 2 * w.population)
            pops = np.unique(np.geomspace(1, n_max, 40).round().astype(int))
            # one exact-MVA pass gives every population 1..n_max
            res = mva([s.demand_us for s in net.stations], int(pops.max()), think=net.think_us,
                      servers=[s.servers for s in net.stations])
            return pops.astype(float), np.asarray(res.X, dtype=float)[pops - 1] * 1e6
        sat = static["saturation_per_s"]
        top = sat if math.isfinite(sat) else 2.0 * w.rate_per_s
        # log-spaced at light load, dense near saturation where the curve bends
        frac = np.concatenate([np.geomspace(0.01, 0.5, 16, endpoint=False),
                               1.0 - np.geomspace(0.5, 0.03, 20)])
        rates = frac * top
        lat = np.array([solve_open(net, float(r))[0] for r in rates])
        return rates, lat

    def _axes(self, is_open: bool):
        """The two axes, made once (re-creating axes costs more than the whole solve)."""
        if self._ax is None:
            # fixed margins: constrained layout would cost a second draw per update
            ax_load = self._fig.add_axes((0.07, 0.14, 0.37, 0.83))
            ax_bd = self._fig.add_axes((0.60, 0.14, 0.385, 0.83))
            self._ax = (ax_load, ax_bd)
            self._ax_mode = None
        ax_load, ax_bd = self._ax
        if self._ax_mode != is_open:
            if is_open:
                ax_load.set_xscale("log")
                ax_load.set_yscale("log")
                for axis in (ax_load.xaxis, ax_load.yaxis):
                    axis.set_major_locator(LogLocator(numticks=6))
                    axis.set_major_formatter(FuncFormatter(_si))
                    axis.set_minor_formatter(NullFormatter())
                ax_load.set_xlabel("IO/s offered", fontsize=8)
                ax_load.set_ylabel("µs", fontsize=8)
            else:
                ax_load.set_xscale("log", base=2)
                ax_load.set_yscale("linear")
                # plain tick labels: mathtext 2^k labels cost ~10 ms per draw
                ax_load.xaxis.set_major_locator(FixedLocator([4.0**k for k in range(12)]))
                ax_load.xaxis.set_major_formatter(FuncFormatter(_plain))
                ax_load.xaxis.set_minor_locator(NullLocator())
                ax_load.yaxis.set_major_locator(MaxNLocator(5))
                ax_load.yaxis.set_minor_locator(NullLocator())
                ax_load.yaxis.set_major_formatter(FuncFormatter(_si))
                ax_load.set_xlabel("I/Os in flight", fontsize=8)
                ax_load.set_ylabel("IO/s", fontsize=8)
            ax_bd.set_xlabel("µs per I/O", fontsize=8)
            ax_bd.xaxis.set_major_locator(MaxNLocator(5))
            for ax in self._ax:
                ax.tick_params(labelsize=7)
                ax.grid(alpha=0.3)
            self._ax_mode = is_open
        for ax in self._ax:
            for c in list(ax.containers):
                c.remove()
            for art in [*ax.lines, *ax.patches, *ax.texts, *ax.collections]:
                art.remove()
            if ax.get_legend() is not None:
                ax.get_legend().remove()
        return ax_load, ax_bd

    def _draw(self, curves, results: dict, w: Workload) -> dict[str, str]:
        ax_load, ax_bd = self._axes(w.is_open)
        for i, (name, static, (x, y)) in enumerate(curves):
            c = PALETTE[i % len(PALETTE)]
            ax_load.plot(x, y, color=c, lw=1.6, label=name)
            sat = static["saturation_per_s"]
            r = results.get(name)
            if not w.is_open:
                if math.isfinite(sat):
                    ax_load.axhline(sat, color=c, lw=0.8, ls="--")
                if isinstance(r, Result):
                    ax_load.plot([w.population], [r.throughput_per_s], "o", color=c, ms=6)
            else:
                if math.isfinite(sat):
                    ax_load.axvline(sat, color=c, lw=0.8, ls="--")
                if isinstance(r, Result):
                    ax_load.plot([w.rate_per_s], [r.latency_us], "o", color=c, ms=6)
        # explicit limits: autoscaling is slow and set_ylim would freeze it afterwards
        ys = [y[np.isfinite(y) & (y > 0)] for _, _, (_, y) in curves]
        ys = np.concatenate(ys) if ys else np.array([])
        sats = [s["saturation_per_s"] for _, s, _ in curves if math.isfinite(s["saturation_per_s"])]
        if w.is_open:
            xmax = max([*sats, *(float(x.max()) for _, _, (x, _) in curves if x.size), w.rate_per_s])
            xmin = min([*(float(x.min()) for _, _, (x, _) in curves if x.size), w.rate_per_s])
            ax_load.set_xlim(xmin / 1.2, xmax * 1.2)
            if ys.size:
                ax_load.set_ylim(ys.min() / 1.3, ys.max() * 1.3)
        else:
            xmax = max([float(x.max()) for _, _, (x, _) in curves if x.size] or [w.population])
            ax_load.set_xlim(1.0, xmax)
            top = max([*sats, *(ys.tolist() or [1.0])])
            ax_load.set_ylim(0.0, top * 1.08)
        return self._draw_breakdown(ax_bd, results)

    @staticmethod
    def _draw_breakdown(ax, results: dict) -> dict[str, str]:
        """Horizontal stacked bars: per path, µs per resource (service solid, waiting pale).

        Returns the colour of each resource (the legend is drawn in HTML)."""
        ok = [(n, r) for n, r in results.items() if isinstance(r, Result)]
        resources: list[str] = []
        for _, r in ok:
            for res in r.breakdown["resource"]:
                if res not in resources:
                    resources.append(res)
        colour = {res: RESOURCE_PALETTE[i % len(RESOURCE_PALETTE)]
                  for i, res in enumerate(resources)}
        segs = np.zeros((len(ok), len(resources), 2))
        for y, (_, r) in enumerate(ok):
            g = r.breakdown.groupby("resource", sort=False)[["service_us", "wait_us"]].sum()
            for res, row in g.iterrows():
                segs[y, resources.index(res)] = (float(row["service_us"]), float(row["wait_us"]))
        flat = segs.reshape(len(ok), 2 * len(resources))
        lefts = np.cumsum(flat, axis=1) - flat
        # one PolyCollection for every bar: ax.barh costs ~1 ms per bar in limit bookkeeping
        verts, faces = [], []
        for y in range(len(ok)):
            for col in range(flat.shape[1]):
                wd = flat[y, col]
                if wd <= 0:
                    continue
                x0 = lefts[y, col]
                verts.append(((x0, y - 0.38), (x0 + wd, y - 0.38), (x0 + wd, y + 0.38),
                              (x0, y + 0.38)))
                # waiting is the pale half of the resource's colour (hatching costs ~20 ms)
                faces.append(to_rgba(colour[resources[col // 2]], 1.0 if col % 2 == 0 else 0.4))
        if verts:
            ax.add_collection(PolyCollection(verts, facecolors=faces, edgecolors="white",
                                             linewidths=0.5), autolim=False)
        total = float(flat.sum(axis=1).max()) if len(ok) else 0.0
        ax.set_xlim(0.0, total * 1.03 if total > 0 else 1.0)
        ax.set_yticks(range(len(ok)), [n for n, _ in ok], fontsize=7)
        ax.set_ylim(max(len(ok), 1) - 0.5, -0.5)  # first path on top
        return colour

    @staticmethod
    def _table_html(results: dict, w: Workload, colours: dict[str, str] | None = None) -> str:
        esc = html.escape
        head = ("<tr><th>path</th><th>throughput (IO/s)</th><th>mean latency (µs)</th>"
                "<th>zero-load latency (µs)</th><th>saturation (IO/s)</th><th>bottleneck</th>"
                "<th>its utilisation</th><th>host CPU (µs/IO)</th><th>guest CPU (µs/IO)</th></tr>")
        rows = []
        for name, r in results.items():
            a = f"data-path='{esc(name)}'"
            sw = _swatch((colours or {}).get(name, "#000"), "line")
            if not isinstance(r, Result):
                rows.append(f"<tr class='iov-row iov-unstable' {a}><td class='iov-path'>{sw}{esc(name)}"
                            f"</td><td colspan='8' class='iov-message' {a}>{esc(r)}</td></tr>")
                continue

            def cell(cls: str, v: float, r_=r, a_=a) -> str:
                return (f"<td class='iov-{cls}' id='iov-{cls}-{esc(r_.path)}' {a_} "
                        f"data-value='{float(v)!r}'>{_fmt(v)}</td>")

            util = r.utilization.get(r.bottleneck, math.nan)
            rows.append(
                f"<tr class='iov-row' {a}><td class='iov-path'>{sw}{esc(name)}</td>"
                + cell("throughput", r.throughput_per_s) + cell("latency", r.latency_us)
                + cell("zero-load", r.zero_load_latency_us) + cell("saturation", r.saturation_per_s)
                + f"<td class='iov-bottleneck' {a}>{esc(r.bottleneck)}</td>"
                + f"<td class='iov-util' {a} data-value='{util!r}'>{util:.0%}</td>"
                + cell("cpu", r.cpu_us_per_io) + cell("guest-cpu", r.guest_cpu_us_per_io)
                + "</tr>")
        if not rows:
            rows.append("<tr><td colspan='9'>select at least one path</td></tr>")
        style = ("<style>.iov-table td,.iov-table th{padding:2px 6px;text-align:right;"
                 "font-size:12px}.iov-table td.iov-path{text-align:left}</style>")
        return (f"{style}<table id='iov-table' class='iov-table'>"
                f"<caption style='text-align:left;font-size:12px'>analytic "
                f"({'open network, M/G/c per station' if w.is_open else 'exact MVA'}) at "
                f"<span id='iov-workload'>{esc(repr(w))}</span></caption>"
                f"{head}{''.join(rows)}</table>")

    # -- Monte Carlo ------------------------------------------------------------------------
    def _on_simulate(self, _button=None) -> None:
        self.run_simulation()

    def run_simulation(self, seed: int = 1) -> dict[str, Any]:
        """Simulate every selected path at the current point (button action).

        Returns the SimResult per path and shows throughput and latency with their
        confidence intervals next to the analytic values.
        """
        if self._simulate is None:
            raise RuntimeError("the Monte Carlo simulator (iovmodel.sim) is not available")
        host, w = self.host, self.workload
        paths = self.selected_paths
        requests, reps = int(self.sim_requests.value), int(self.sim_replications.value)
        per_path = requests * reps
        self.sim_progress.max = max(per_path * len(paths), 1)
        self.sim_progress.value = 0
        self.sim_progress.bar_style = "info"
        self.sim_button.disabled = True
        # a synchronous executor: the simulator hands it one replication at a time, so the
        # bar moves per replication (numbers do not depend on the executor)
        executor = _InlineExecutor(lambda: self._advance(requests))
        out: dict[str, Any] = {}
        try:
            for p in paths:
                try:
                    out[p.name] = self._simulate(p, host, w, requests=requests, replications=reps,
                                                 seed=seed, executor=executor, progress=False)
                except UnstableError as exc:
                    out[p.name] = str(exc)
                    self._advance(per_path)
        finally:
            self.sim_button.disabled = False
        self.sim_progress.bar_style = "success"
        self.sim_results = out
        self.sim_table.value = self._sim_html(out, self.results)
        return out

    def _advance(self, n: int) -> None:
        self.sim_progress.value = min(self.sim_progress.value + int(n), self.sim_progress.max)

    @staticmethod
    def _sim_html(sims: dict, analytic: dict) -> str:
        esc = html.escape

        def ci(v: Any) -> str:
            try:
                lo, hi = (float(x) for x in v)
            except (TypeError, ValueError):
                return "–"
            return f"[{_fmt(lo, 4)}, {_fmt(hi, 4)}]"

        rows = []
        for name, s in sims.items():
            a = f"data-path='{esc(name)}'"
            if isinstance(s, str):
                rows.append(f"<tr {a}><td>{esc(name)}</td><td colspan='6'>{esc(s)}</td></tr>")
                continue
            r = analytic.get(name)
            ana_x = _fmt(r.throughput_per_s) if isinstance(r, Result) else "–"
            ana_r = _fmt(r.latency_us, 4) if isinstance(r, Result) else "–"
            pct = getattr(s, "percentiles_us", None)
            p99 = "–"
            if pct is not None:
                try:
                    p99 = _fmt(float(dict(pct).get("p99", math.nan)), 4)
                except (TypeError, ValueError):
                    p99 = "–"
            rows.append(
                f"<tr class='iov-sim-row' {a}><td>{esc(name)}</td>"
                f"<td class='iov-sim-throughput' {a} data-value='{float(s.throughput_per_s)!r}'>"
                f"{_fmt(s.throughput_per_s)}</td><td>{ci(getattr(s, 'throughput_ci_per_s', None))}"
                f"</td><td>{ana_x}</td>"
                f"<td class='iov-sim-latency' {a} data-value='{float(s.latency_us)!r}'>"
                f"{_fmt(s.latency_us, 4)}</td><td>{ci(getattr(s, 'latency_ci_us', None))}</td>"
                f"<td>{ana_r}</td><td>{p99}</td></tr>")
        head = ("<tr><th>path</th><th>sim IO/s</th><th>95% CI</th><th>analytic IO/s</th>"
                "<th>sim latency (µs)</th><th>95% CI</th><th>analytic (µs)</th><th>p99 (µs)</th></tr>")
        return (f"<table id='iov-sim-table' class='iov-table'>{head}{''.join(rows)}</table>")

    # -- reporting --------------------------------------------------------------------------
    def to_frame(self) -> pd.DataFrame:
        """The numbers behind the figure: one tidy row per selected path (``Result.to_frame``
        columns; an unstable path has NaN metrics and its reason in ``message``)."""
        frames = []
        for name, r in self.results.items():
            if isinstance(r, Result):
                f = r.to_frame()
                f["message"] = ""
            else:
                f = pd.DataFrame([{"path": name, **self.workload.to_dict(),
                                   "throughput_per_s": math.nan, "latency_us": math.nan,
                                   "message": r}])
            frames.append(f)
        if not frames:
            return pd.DataFrame(columns=["path", "throughput_per_s", "latency_us", "message"])
        return pd.concat(frames, ignore_index=True)

    def timing(self) -> dict[str, float]:
        """Summary of the measured update times (wall clock, ms): count, median, p90, max."""
        t = np.asarray(self.update_times_ms, dtype=float)
        if t.size == 0:
            return {"updates": 0, "median_ms": math.nan, "p90_ms": math.nan, "max_ms": math.nan}
        return {"updates": int(t.size), "median_ms": float(np.median(t)),
                "p90_ms": float(np.percentile(t, 90)), "max_ms": float(t.max())}

    def __repr__(self) -> str:
        return (f"<Explorer: {', '.join(self.path_select.value) or 'no path'} under "
                f"{self.workload!r}; last update {self.last_update_ms:.0f} ms>")


def explorer(paths: Sequence[str] = DEFAULT_PATHS, host: HostProfile | None = None,
             workload: Workload | None = None, **kwargs: Any) -> Explorer:
    """The interactive explorer (display it in a notebook, or serve with Voila).

    Parameters
    ----------
    paths : sequence of str
        Catalog paths selected at start.
    host : HostProfile, optional
        Starting costs (e.g. a calibrated profile from :func:`iovmodel.fit`).
    workload : Workload, optional
        Starting workload (default ``Workload.closed(jobs=4, iodepth=32)``).

    Returns
    -------
    Explorer

    Examples
    --------
    >>> app = explorer(["virtio-blk", "vhost-scsi"])  # doctest: +SKIP
    >>> app.cost_sliders["wakeup_us"].value = 5.0      # doctest: +SKIP
    >>> app.results["virtio-blk"].throughput_per_s     # doctest: +SKIP
    """
    return Explorer(paths, host, workload, **kwargs)
