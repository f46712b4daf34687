"""The explorer (an ipywidgets app) and its parts: :mod:`.controls` (cost sliders),
:mod:`.canvas` (the figure), :mod:`.views` (HTML table and legend), :mod:`.app` (the
app: state, callbacks, the Monte Carlo button). Numbers come from ``analyze``/``sweep``/
``simulate``; nothing here solves a network."""

from __future__ import annotations

from .app import Explorer, explorer
from .consolidation import ConsolidationExplorer, consolidation_explorer
from .controls import cost_slider

__all__ = ["ConsolidationExplorer", "Explorer", "consolidation_explorer", "cost_slider",
           "explorer"]
