"""What the explorer shows as HTML: the table of numbers (stable ids and classes a browser test
reads), the figure's legend, the Monte Carlo table. Text in HTML, not in the figure: text drawn
by matplotlib costs about 1 ms a label."""

from __future__ import annotations

import html
import math
from collections.abc import Sequence
from typing import Any

from ..assumptions import UNBOUNDED, html_block
from ..result import Result
from ..spec.workload import Workload

__all__ = ["fmt", "legend_html", "sim_html", "table_html"]


def fmt(x: float, digits: int = 3) -> str:
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


def legend_html(res_colour: dict[str, str], w: Workload, unstable: Sequence[str] = ()) -> str:
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


def table_html(results: dict, w: Workload, colours: dict[str, str] | None = None) -> str:
    esc = html.escape
    head = ("<tr><th>path</th><th>throughput (IO/s)</th><th>mean latency (µs)</th>"
            "<th>zero-load latency (µs)</th><th>saturation (IO/s)</th><th>bottleneck</th>"
            "<th>its utilisation (of its servers)</th><th>host CPU (µs/IO)</th><th>guest CPU (µs/IO)</th></tr>")
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
                    f"data-value='{float(v)!r}'>{fmt(v)}</td>")

        util = r.utilization.get(r.bottleneck, math.nan)
        if math.isinf(r.saturation_per_s):  # no finite resource: no bound, no bottleneck
            why = esc(r.assumptions.get("saturation", UNBOUNDED), quote=True)
            sat = (f"<td class='iov-saturation' id='iov-saturation-{esc(r.path)}' {a} "
                   f"data-value='inf' title='{why}'>{UNBOUNDED}</td>")
            neck = f"<td class='iov-bottleneck' {a} title='{why}'>none</td>"
            use = f"<td class='iov-util' {a} data-value='{util!r}'>–</td>"
        else:
            sat = cell("saturation", r.saturation_per_s)
            neck = f"<td class='iov-bottleneck' {a}>{esc(r.bottleneck)}</td>"
            use = f"<td class='iov-util' {a} data-value='{util!r}'>{util:.0%}</td>"
        rows.append(
            f"<tr class='iov-row' {a}><td class='iov-path'>{sw}{esc(name)}</td>"
            + cell("throughput", r.throughput_per_s) + cell("latency", r.latency_us)
            + cell("zero-load", r.zero_load_latency_us) + sat + neck + use
            + cell("cpu", r.cpu_us_per_io) + cell("guest-cpu", r.guest_cpu_us_per_io)
            + "</tr>")
    if not rows:
        rows.append("<tr><td colspan='9'>select at least one path</td></tr>")
    style = ("<style>.iov-table td,.iov-table th{padding:2px 6px;text-align:right;"
             "font-size:12px}.iov-table td.iov-path{text-align:left}</style>")
    told = {n: r.assumptions for n, r in results.items() if isinstance(r, Result) and r.assumptions}
    return (f"{style}<table id='iov-table' class='iov-table'>"
            f"<caption style='text-align:left;font-size:12px'>analytic "
            f"({'open network, M/G/c per station' if w.is_open else 'exact MVA'}) at "
            f"<span id='iov-workload'>{esc(repr(w))}</span></caption>"
            f"{head}{''.join(rows)}</table>{html_block(told) if told else ''}")


def sim_html(sims: dict, analytic: dict) -> str:
    esc = html.escape

    def ci(v: Any) -> str:
        try:
            lo, hi = (float(x) for x in v)
        except (TypeError, ValueError):
            return "–"
        return f"[{fmt(lo, 4)}, {fmt(hi, 4)}]"

    rows = []
    for name, s in sims.items():
        a = f"data-path='{esc(name)}'"
        if isinstance(s, str):
            rows.append(f"<tr {a}><td>{esc(name)}</td><td colspan='6'>{esc(s)}</td></tr>")
            continue
        r = analytic.get(name)
        ana_x = fmt(r.throughput_per_s) if isinstance(r, Result) else "–"
        ana_r = fmt(r.latency_us, 4) if isinstance(r, Result) else "–"
        pct = getattr(s, "percentiles_us", None)
        p99 = "–"
        if pct is not None:
            try:
                p99 = fmt(float(dict(pct).get("p99", math.nan)), 4)
            except (TypeError, ValueError):
                p99 = "–"
        rows.append(
            f"<tr class='iov-sim-row' {a}><td>{esc(name)}</td>"
            f"<td class='iov-sim-throughput' {a} data-value='{float(s.throughput_per_s)!r}'>"
            f"{fmt(s.throughput_per_s)}</td><td>{ci(getattr(s, 'throughput_ci_per_s', None))}"
            f"</td><td>{ana_x}</td>"
            f"<td class='iov-sim-latency' {a} data-value='{float(s.latency_us)!r}'>"
            f"{fmt(s.latency_us, 4)}</td><td>{ci(getattr(s, 'latency_ci_us', None))}</td>"
            f"<td>{ana_r}</td><td>{p99}</td></tr>")
    head = ("<tr><th>path</th><th>sim IO/s</th><th>95% CI</th><th>analytic IO/s</th>"
            "<th>sim latency (µs)</th><th>95% CI</th><th>analytic (µs)</th><th>p99 (µs)</th></tr>")
    return (f"<table id='iov-sim-table' class='iov-table'>{head}{''.join(rows)}</table>")
