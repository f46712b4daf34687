"""Every paper figure, rendered as the fast build renders it, read back from its Matplotlib
artists: no two resources (or switch kinds) look alike, and no legend covers data.

The figures are captured in-process (``save_figure`` is wrapped to keep the figure open), so
the test reads the artists the build saved, not an image.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import matplotlib.colors as mcolors
import pytest
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.patches import Rectangle

ROOT = Path(__file__).resolve().parents[2]
PAPER = ROOT / "paper"
FIGURES = sorted((PAPER / "figures").glob("fig_*.py"))


def _load(script: Path):
    spec = importlib.util.spec_from_file_location(f"iovmodel_paper_test_{script.stem}", script)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


@pytest.fixture(scope="module")
def figures(tmp_path_factory):
    """stem -> the Figure each script saved (fast mode)."""
    sys.path.insert(0, str(PAPER))
    import _common as C

    captured: dict[str, object] = {}
    original = C.save_figure

    def keep(fig, out, stem):
        captured[stem] = fig
        return []

    C.save_figure = keep
    try:
        out = tmp_path_factory.mktemp("figs")
        for script in FIGURES:
            _load(script).main(out, fast=True)
    finally:
        C.save_figure = original
    return captured


def _bars(ax) -> list[Rectangle]:
    return [p for p in ax.patches if isinstance(p, Rectangle) and p.get_gid()
            and p.get_width() > 0]


def _look(p: Rectangle) -> tuple:
    return (mcolors.to_hex(p.get_facecolor()), p.get_hatch() or "")


@pytest.mark.slow
@pytest.mark.parametrize("stem", [s.stem for s in FIGURES])
def test_no_two_resources_look_alike(figures, stem):
    fig = figures[stem]
    looks: dict[str, set] = {}
    for ax in fig.axes:
        for p in _bars(ax):
            kind, _, name = p.get_gid().partition(":")
            if kind in ("service", "switch"):
                looks.setdefault(name, set()).add(_look(p))
    if stem in ("fig_breakdown", "fig_mode_switches"):
        assert len(looks) >= 5, (stem, looks)  # the bars were found (a gid per segment)
    for name, seen in looks.items():
        assert len(seen) == 1, (stem, name, seen)  # one look per resource in the figure
    for ax in fig.axes:  # and the legend shows each with the look of its bars
        leg = ax.get_legend()
        for handle, text in zip(leg.legend_handles if leg else [],
                                leg.get_texts() if leg else [], strict=True):
            if isinstance(handle, Rectangle) and text.get_text() in looks:
                assert {_look(handle)} == looks[text.get_text()], (stem, text.get_text())
    flat = [next(iter(s)) for s in looks.values()]
    assert len(set(flat)) == len(flat), (stem, looks)  # and no two resources share one


@pytest.mark.slow
@pytest.mark.parametrize("stem", [s.stem for s in FIGURES])
def test_legends_cover_no_data(figures, stem):
    fig = figures[stem]
    canvas = FigureCanvasAgg(fig)  # the build's backend, whatever the figure was made with
    canvas.draw()
    r = canvas.get_renderer()
    legends = [ax.get_legend() for ax in fig.axes if ax.get_legend() is not None]
    legends += list(fig.legends)
    assert legends, stem
    for leg in legends:
        box = leg.get_window_extent(r)
        for ax in fig.axes:
            for p in _bars(ax):
                assert not box.overlaps(p.get_window_extent(r)), (stem, p.get_gid())
            for t in ax.texts:  # the totals written at the bars' ends
                assert not box.overlaps(t.get_window_extent(r)), (stem, t.get_text())
            # outside every Axes: no line, point or bound of any panel is under it
            assert not box.overlaps(ax.get_window_extent(r)), (stem, ax.get_title())
