"""Result: what a path delivers under a workload (means, utilisations, CPU, breakdown).

A Result only holds numbers; the solvers (:mod:`iovmodel.solve`) make it.  Its displays
import nothing heavy: LaTeX of the closed form only on :meth:`Result.latex`.
"""

from __future__ import annotations

import html
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import pandas as pd

from .assumptions import UNBOUNDED, html_block, text_block
from .errors import ParameterError
from .spec.catalog import path as get_path
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
        Resource -> busy fraction per server (delay stations, which have unlimited
        servers: mean busy servers; the displays and :meth:`to_frame` keep the two apart).
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
    dropped_per_s : float
        Units dropped per second by a lossy network workload (a flood or UDP above what the
        path delivers; ``throughput_per_s`` is then the delivered rate); 0 otherwise.
    drops_at : str
        The resource whose finite ring drops them ("" when nothing drops).
    assumptions : dict
        What the numbers rest on (workload, batch, device, vCPUs, options, in-flight limit,
        host; why the bound is infinite where it is): :func:`iovmodel.assumptions.assumptions`.
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
    assumptions: Mapping[str, str] = field(default_factory=dict)
    dropped_per_s: float = 0.0
    drops_at: str = ""

    @property
    def packets_per_s(self) -> float:
        """Packets per second (a network workload's packets per unit x the throughput)."""
        return self.metric("packets_per_s")

    @property
    def throughput_gbps(self) -> float:
        """Payload throughput, Gbit/s."""
        return self.metric("throughput_gbps")

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
        from .solve.metrics import PREDICTABLE, VCPU_METRICS, VMM_METRICS, value

        if name not in PREDICTABLE and name not in VMM_METRICS + VCPU_METRICS:
            raise ParameterError(f"metric {name!r} is not predictable; predictable metrics: "
                                 f"{', '.join(PREDICTABLE)}")
        if "net" not in self.extra:
            raise ParameterError(f"metric {name!r} needs the analytic solution (analyze)")
        p = self.extra["path_obj"]
        return value(name, p, self.workload, self.extra["net"], self.throughput_per_s,
                     self.latency_us, self.extra["waits"], self.extra["util"], self.cpu_us_per_io)


    def _unlimited(self) -> set[str]:
        """Resources with unlimited servers (delay stations): their utilisation is a count."""
        net = self.extra.get("net")
        if net is not None:
            return {st.name for st in net.stations if st.is_delay}
        if "unlimited" in self.extra:  # a simulation's
            return set(self.extra["unlimited"])
        return {k for k, v in self.utilization.items() if v > 1}  # made by hand: a guess

    def to_frame(self) -> pd.DataFrame:
        """One tidy row: path, workload fields, metrics, ``util_<resource>`` (busy fraction
        of its servers), ``busy_<resource>`` (mean busy servers of a resource with unlimited
        servers) and ``assumed_<entry>`` (the assumptions block, as text)."""
        return pd.DataFrame([self._row()])

    def _row(self) -> dict:
        """:meth:`to_frame`'s row as a dict (a sweep makes one frame of many)."""
        row = {"path": self.path, **{k: v for k, v in self.workload.to_dict().items()},
               "throughput_per_s": self.throughput_per_s, "latency_us": self.latency_us,
               "cpu_us_per_io": self.cpu_us_per_io, "guest_cpu_us_per_io": self.guest_cpu_us_per_io,
               "bottleneck": self.bottleneck,
               "bottleneck_utilization": self.utilization.get(self.bottleneck, math.nan),
               "saturation_per_s": self.saturation_per_s,
               "zero_load_latency_us": self.zero_load_latency_us, "solver": self.solver}
        if self.workload.traffic is not None:
            row.update({"packets_per_s": self.packets_per_s,
                        "throughput_gbps": self.throughput_gbps,
                        "dropped_per_s": self.dropped_per_s, "drops_at": self.drops_at})
        row.update({f"{k}_us": v for k, v in self.percentiles_us.items()})
        free = self._unlimited()
        row.update({f"{'busy' if k in free else 'util'}_{k}": v for k, v in self.utilization.items()})
        row.update({f"assumed_{k.replace(' ', '_')}": v for k, v in self.assumptions.items()})
        return row

    def utilisation_text(self) -> str:
        """Utilisation, one unit per line: the busy fraction of each resource's servers, then
        the mean busy servers of resources with unlimited servers (delay stations)."""
        free = self._unlimited()
        frac = ", ".join(f"{k} {v:.0%}" for k, v in self.utilization.items() if k not in free)
        busy = ", ".join(f"{k} {v:.2f}" for k, v in self.utilization.items() if k in free)
        out = f"utilisation (busy fraction of its servers): {frac or 'none'}"
        return out + (f"\nbusy servers (unlimited resources): {busy}" if busy else "")

    def _bottleneck_text(self) -> str:
        if math.isinf(self.saturation_per_s):
            return f"no bottleneck: {UNBOUNDED} (largest demand at {self.bottleneck})"
        note = self._vcpu_note()
        return (f"bottleneck {self.bottleneck} (saturates at {self.saturation_per_s:,.0f} IO/s)"
                + (f": {note}" if note else ""))

    def _vcpu_note(self) -> str:
        """Which vCPUs bound a closed block workload (fio's jobs are threads, one per vCPU
        while there are vCPUs enough): so that "vcpu 100 %" of a 4-vCPU guest running one
        job reads as the job's own thread, not the guest."""
        w = self.workload
        if self.bottleneck != "vcpu" or w.kind != "closed" or w.traffic is not None:
            return ""
        try:
            vcpus = int(str(self.assumptions.get("vcpus", "")).split()[0])
        except (ValueError, IndexError):
            return ""
        jobs = int(w.jobs)
        if jobs < vcpus:
            who = ("the one vCPU running fio's job thread" if jobs == 1 else
                   f"the {jobs} vCPUs running fio's {jobs} job threads, one each")
            return f"{who}; {vcpus - jobs} of the {vcpus} vCPUs idle (more jobs would use them)"
        if vcpus > 1:
            return (f"{'both' if vcpus == 2 else f'all {vcpus}'} vCPUs, shared by fio's {jobs} "
                    f"job threads")
        return ""

    def _summary_body(self) -> str:
        from ._text import wrap

        util = self.utilisation_text().replace("\n", "\n  ")
        net = ""
        if self.workload.traffic is not None and "net" in self.extra:
            net = (f"  {self.packets_per_s:,.0f} packets/s, {self.throughput_gbps:.3g} Gbit/s"
                   + (f"; dropping {self.dropped_per_s:,.0f}/s at {self.drops_at}"
                      if self.dropped_per_s > 0.5 else "") + "\n")
        return wrap(f"{self.path} under {self.workload!r} ({self.solver})\n{net}"
                    f"  throughput {self.throughput_per_s:,.0f} IO/s, latency {self.latency_us:.2f} µs "
                    f"(zero-load {self.zero_load_latency_us:.2f} µs)\n"
                    f"  host CPU {self.cpu_us_per_io:.2f} µs/IO, guest CPU "
                    f"{self.guest_cpu_us_per_io:.2f} µs/IO\n"
                    f"  {self._bottleneck_text()}\n  {util}")

    def _assumptions_text(self) -> str:
        return ("\n" + text_block({self.path: self.assumptions}, indent=2)) if self.assumptions else ""

    def summary(self) -> str:
        """The numbers, their units, and the assumptions they rest on, as text."""
        return self._summary_body() + self._assumptions_text()

    def __repr__(self) -> str:
        neck = (f"no bottleneck ({UNBOUNDED})" if math.isinf(self.saturation_per_s) else
                f"bottleneck {self.bottleneck} ({self.utilization.get(self.bottleneck, math.nan):.0%})")
        drop = (f", dropping {self.dropped_per_s:,.0f}/s at {self.drops_at}"
                if self.dropped_per_s > 0.5 else "")
        return (f"<Result {self.path}: {self.throughput_per_s:,.0f} IO/s, {self.latency_us:.2f} µs, "
                f"{neck}{drop}>")

    def _html_head(self) -> str:
        esc = html.escape
        return (f"<b>{esc(self.path)}</b> — {esc(repr(self.workload))} ({esc(self.solver)})<br>"
                f"throughput <b>{self.throughput_per_s:,.0f}</b> IO/s · latency <b>{self.latency_us:.2f}</b> µs · "
                f"host CPU {self.cpu_us_per_io:.2f} µs/IO · {esc(self._bottleneck_text())}<br>"
                + esc(self.utilisation_text()).replace("\n", "<br>"))

    def _html_tail(self) -> str:
        bd = self.breakdown[["hop", "resource", "switch", "count", "service_us", "wait_us", "latency_us"]]
        table = bd.to_html(index=False, float_format=lambda x: f"{x:.3g}")
        block = html_block({self.path: self.assumptions}) if self.assumptions else ""
        return f"{table}{block}</div>"

    def _repr_html_(self) -> str:
        return f"<div>{self._html_head()}{self._html_tail()}"

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
