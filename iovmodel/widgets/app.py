"""The explorer: an ipywidgets app over the analytic model (and the simulator).

``iov.explorer()`` returns an :class:`Explorer`, a ``VBox`` you display in a
notebook (or serve with Voila).  It holds

* a multi-select of catalog paths and the options they share (parallel
  backends: vhost ``workers``, ``iothreads``, Xen ``rings``; posted interrupts);
* one slider per host cost, its range, step, label and tooltip taken from the
  parameter declarations (:func:`iovmodel.parameters`);
* workload controls: closed (jobs x iodepth) or open (rate), request size, batch;
* a live figure: throughput vs outstanding I/Os (closed) or latency vs offered
  load (open) per path, and the per-resource latency breakdown at the current point;
* an HTML table of the numbers behind the figure (stable ids/classes:
  ``#iov-table``, ``td.iov-throughput[data-path=NAME]`` with the exact value in
  ``data-value``), so a browser test can read what is displayed;
* a button that runs the Monte Carlo simulator (:func:`iovmodel.simulate`) for the
  current point with a progress bar and shows its confidence intervals;
* an ``Output`` widget where exceptions raised in callbacks are shown.

Every number comes from :func:`iovmodel.analyze`, :func:`iovmodel.sweep` or
:func:`iovmodel.simulate`. Every analytic update measures its own time, from the control
change to the redrawn figure: :attr:`Explorer.last_update_ms` and
:attr:`Explorer.update_times_ms`.
"""

from __future__ import annotations

import contextlib
import html
import math
import time
import traceback
import warnings
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Executor, Future
from typing import Any

import ipywidgets as W
import numpy as np
import pandas as pd

from ..errors import ParameterError, UnstableError, UnstableQueueWarning
from ..plot.palette import colors
from ..result import Result
from ..solve.analyze import analyze, sweep
from ..spec.catalog import Path, path_names
from ..spec.catalog import path as get_path
from ..spec.profile import HostProfile, as_host, parameters
from ..spec.workload import Workload
from .canvas import LoadFigure
from .controls import DEFAULT_PATHS, PARALLEL_OPTIONS, SIZES, cost_slider
from .views import legend_html, sim_html, table_html

__all__ = ["Explorer", "explorer"]


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


def _simulator_missing() -> str:
    """Why the simulator cannot run here ("" when it can), without importing it: importing
    numba and scipy.stats takes seconds, which the first paint of the page must not wait for."""
    import importlib.util

    for mod in ("numba", "scipy"):
        if importlib.util.find_spec(mod) is None:
            return f"ModuleNotFoundError: No module named {mod!r}"
    return ""


def _load_simulate() -> tuple[Any, str]:
    """(simulate or None, why not); imported on the first click of the button."""
    try:
        from ..solve.sim import simulate  # the simulator compiles numba code: import on demand
    except Exception as exc:  # noqa: BLE001 - any import failure disables the button
        return None, f"{type(exc).__name__}: {exc}"
    return simulate, ""


def _curve(p: Path, host: HostProfile, w: Workload) -> tuple[float, tuple[np.ndarray, np.ndarray]]:
    """(saturation IO/s, (x, y) of the load curve): (I/Os in flight, IO/s) for a closed
    workload, (IO/s offered, mean latency µs) for an open one; both from :func:`sweep`."""
    if not w.is_open:
        n_max = max(256, 2 * w.population)
        # a batch never fills below its size: the curve starts where one can
        first = max(1, math.ceil(w.batch))
        pops = np.unique(np.geomspace(first, n_max, 40).round().astype(int))
        # points differing only in population share one exact-MVA pass inside sweep
        df = sweep(p, host, w.replace(jobs=1), iodepth=[int(n) for n in pops])
        return float(df["saturation_per_s"].iloc[0]), (pops.astype(float),
                                                       df["throughput_per_s"].to_numpy(float))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UnstableQueueWarning)
        sat = float(sweep(p, host, w, nan_policy="nan",
                          rate_per_s=[w.rate_per_s])["saturation_per_s"].iloc[0])
        top = sat if math.isfinite(sat) else 2.0 * w.rate_per_s
        # log-spaced at light load, dense near saturation where the curve bends
        frac = np.concatenate([np.geomspace(0.01, 0.5, 16, endpoint=False),
                               1.0 - np.geomspace(0.5, 0.03, 20)])
        rates = frac * top
        df = sweep(p, host, w, nan_policy="nan", rate_per_s=[float(r) for r in rates])
    return sat, (rates, df["latency_us"].to_numpy(float))


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
        self._host0 = as_host(host)  # a mapping of costs is checked like a HostProfile
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
        self._canvas = LoadFigure(self.figure_dpi)

        # -- controls -----------------------------------------------------------
        self.path_select = W.SelectMultiple(options=names, value=tuple(paths), rows=9,
                                            layout=W.Layout(width="330px"))
        self.path_select.add_class("iov-paths")
        self.parallel = W.IntSlider(value=1, min=1, max=16, description="parallel backends",
                                    continuous_update=False, style={"description_width": "150px"},
                                    tooltip="parallel backends of paths that have them "
                                            "(vhost workers, iothreads, Xen rings)",
                                    layout=W.Layout(width="430px"))
        # the guest's vCPUs (the path option every catalog path has; the catalog's default is
        # one, QEMU's when -smp is not given): with one vCPU a guest uses one virtqueue, so
        # parallel backends only help once the guest has more vCPUs
        self.vcpus = W.IntSlider(value=1, min=1, max=64, description="guest vCPUs",
                                 continuous_update=False, style={"description_width": "150px"},
                                 tooltip="the guest's vCPUs: fio's jobs spread over them, "
                                         "one virtqueue per vCPU in use",
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
                         (self.batch, "iov-batch"), (self.parallel, "iov-parallel"),
                         (self.vcpus, "iov-vcpus")):
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
        self._simulate: Any = None  # imported on the first run (seconds of numba/scipy)
        why = _simulator_missing()
        if why:
            self._sim_unavailable(why)

        self.path_select.observe(self._on_change, "value")
        for wdg in (self.parallel, self.vcpus, self.posted, self.mode, self.jobs, self.iodepth,
                    self.rate,
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
            self.parallel, self.vcpus, self.posted,
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
            # the checkbox is the VFIO paths' VT-d posted interrupts (default off); the other
            # KVM paths keep their catalog default (APICv posting on)
            if "posted_interrupts" in p.options and p.family == "passthrough":
                opts["posted_interrupts"] = bool(self.posted.value)
            if "vcpus" in p.options and int(self.vcpus.value) != p.options["vcpus"]:
                opts["vcpus"] = int(self.vcpus.value)
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
        table, and record the time taken in :attr:`last_update_ms`.

        The numbers come from :func:`iovmodel.analyze` (the current point) and
        :func:`iovmodel.sweep` (the load curve): the explorer never solves on its own.
        """
        t0, c0 = time.perf_counter(), time.thread_time()
        host, w = self.host, self.workload
        paths = self.selected_paths
        results: dict[str, Result | str] = {}
        curves = []
        for p in paths:
            try:
                results[p.name] = analyze(p, host, w)
            except UnstableError as exc:
                results[p.name] = str(exc)
            sat, xy = _curve(p, host, w)
            curves.append((p.name, {"saturation_per_s": sat}, xy))
        self.results = results
        t1 = time.perf_counter()
        path_colour = colors(results)
        res_colour = self._canvas.draw(curves, results, w, path_colour)
        t2 = time.perf_counter()
        png = self._canvas.png()
        t3 = time.perf_counter()
        # legends live in HTML: text drawn by matplotlib is most of the render time
        unstable = [n for n, r in results.items() if not isinstance(r, Result)]
        self.legend.value = legend_html(res_colour, w, unstable)
        self.table.value = table_html(results, w, path_colour)
        self.figure.value = png
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

    # -- Monte Carlo ------------------------------------------------------------------------
    def _on_simulate(self, _button=None) -> None:
        self.run_simulation()

    def _sim_unavailable(self, why: str) -> None:
        self.sim_button.disabled = True
        self.sim_button.tooltip = "the Monte Carlo simulator is not available"
        self.sim_table.value = (
            "<div class='iov-sim-unavailable'>Monte Carlo simulator unavailable "
            f"(<code>{html.escape(why)}</code>); the analytic model still works.</div>")

    def run_simulation(self, seed: int = 1) -> dict[str, Any]:
        """Simulate every selected path at the current point (button action).

        Returns the SimResult per path and shows throughput and latency with their
        confidence intervals next to the analytic values.
        """
        if self._simulate is None:
            self._simulate, why = _load_simulate()
            if self._simulate is None:
                self._sim_unavailable(why)
                raise RuntimeError(f"the Monte Carlo simulator (iovmodel.solve.sim) is not available: "
                                   f"{why}")
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
        self.sim_table.value = sim_html(out, self.results)
        return out

    def _advance(self, n: int) -> None:
        self.sim_progress.value = min(self.sim_progress.value + int(n), self.sim_progress.max)

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
