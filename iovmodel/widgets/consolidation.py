"""How many VMs fit: an ipywidgets view of ``iov.sweep(scenario, vms=...)`` for two or three
scenarios, with a p99 and a host-CPU target. Numbers come from ``sweep``; the figure from
:func:`iovmodel.plot.consolidation`."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..errors import ParameterError
from ..solve.analyze import sweep
from ..spec.scenario import Scenario

__all__ = ["ConsolidationExplorer", "consolidation_explorer"]


class ConsolidationExplorer:
    """Controls: the largest VM count, the host cores, the p99 target (µs), the host-CPU
    target and contention on/off; recomputes on release (``continuous_update=False``);
    errors go to an ``Output`` widget instead of being lost.

    Attributes
    ----------
    widget : ipywidgets.VBox
        What to display.
    frames : dict
        The last sweeps, label -> DataFrame.
    last_error : str or None
        The last error a recomputation raised (also shown in the ``errors`` Output).
    """

    def __init__(self, scenarios: Mapping[str, Scenario], *, max_vms: int = 32,
                 p99_us: float = 1000.0, host_cpu: float = 0.8) -> None:
        import ipywidgets as W

        if not isinstance(scenarios, Mapping) or not scenarios:
            raise ParameterError("consolidation_explorer needs a mapping label -> Scenario")
        for k, v in scenarios.items():
            if not isinstance(v, Scenario):
                raise ParameterError(f"scenario {k!r} must be a Scenario, got "
                                     f"{type(v).__name__}")
        self.scenarios = dict(scenarios)
        self.frames: dict = {}
        self.last_error: str | None = None
        opts = dict(continuous_update=False, style={"description_width": "120px"})
        self.max_vms = W.IntSlider(value=max_vms, min=2, max=64, description="VMs up to", **opts)
        cores = [s.cores for s in self.scenarios.values() if s.cores != float("inf")]
        self.cores = W.IntSlider(value=int(cores[0]) if cores else 64, min=2, max=256,
                                 description="host cores", **opts)
        self.p99 = W.FloatLogSlider(value=p99_us, base=10, min=1, max=5,
                                    description="p99 target (µs)", **opts)
        self.cpu = W.FloatSlider(value=host_cpu, min=0.1, max=1.0, step=0.05,
                                 description="host CPU target", **opts)
        self.contention = W.Checkbox(value=True, description="contention")
        self.out = W.Output()
        self.errors = W.Output(layout=W.Layout(border="1px solid #d55e00", max_height="150px",
                                               overflow="auto"))
        for w in (self.max_vms, self.cores, self.p99, self.cpu, self.contention):
            w.observe(self._on_change, "value")
        self.widget = W.VBox([W.HBox([self.max_vms, self.cores]),
                              W.HBox([self.p99, self.cpu, self.contention]),
                              self.out, self.errors])
        self.update()

    def _on_change(self, _change: Any) -> None:
        self.update()

    def compute(self) -> dict:
        """Sweep every scenario at the current controls."""
        n = int(self.max_vms.value)
        vms = sorted({1, 2, *range(4, n + 1, max(n // 16, 1)), n})
        return {k: sweep(s.replace(cores=float(self.cores.value),
                                   contention=bool(self.contention.value)), vms=vms)
                for k, s in self.scenarios.items()}

    def update(self) -> None:
        import matplotlib.pyplot as plt

        from ..plot import consolidation

        self.errors.outputs = ()
        self.last_error = None
        try:
            self.frames = self.compute()
        except Exception as exc:  # shown, not lost (a callback's exception vanishes)
            self.last_error = f"{type(exc).__name__}: {exc}"
            # append_stderr works with or without a running kernel (tests drive it headless)
            self.errors.append_stderr(self.last_error + "\n")
            return
        from IPython.display import display

        self.out.clear_output(wait=True)
        with self.out:
            axes = consolidation(self.frames, p99_us=float(self.p99.value),
                                 host_cpu=float(self.cpu.value))
            fig = axes[0].figure
            display(fig)
            plt.close(fig)  # shown once, in the Output, not again by the inline backend

    def _ipython_display_(self) -> None:
        from IPython.display import display

        display(self.widget)


def consolidation_explorer(scenarios: Mapping[str, Scenario], **kw: Any) -> ConsolidationExplorer:
    """An interactive "how many VMs" view of two or three scenarios (see
    :class:`ConsolidationExplorer`)."""
    return ConsolidationExplorer(scenarios, **kw)
