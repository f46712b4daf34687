"""Colours, hatches, markers and line styles: one name, one look, never two names alike
within a figure.

Paths get colours in order of appearance (:func:`colors`). Resources get a fixed look
(:func:`resource_styles`), the same in every figure: the catalog's resources take the
eight Okabe-Ito colours, then Paul Tol's "muted" scheme; a resource the catalog does not
know takes the first look no other resource of the figure has: an unused colour, then
the colours again with a hatch. Queueing is drawn with :data:`WAIT_HATCH`, which no
resource uses.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, NamedTuple

from ..errors import ParameterError

__all__ = ["PALETTE", "PALETTE_EXTRA", "WAIT_HATCH", "Look", "colors", "line_style",
           "resource_styles"]

#: Okabe & Ito (2008), "Color Universal Design": eight colours distinguishable under
#: the common colour-vision deficiencies. Ordered so that the first ones print well
#: on white (yellow last but one, black last).
PALETTE: tuple[str, ...] = ("#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9",
                            "#F0E442", "#000000")
#: Paul Tol's "muted" scheme (also colour-blind safe), after the first eight names.
PALETTE_EXTRA: tuple[str, ...] = ("#332288", "#CC6677", "#117733", "#88CCEE", "#882255",
                                  "#44AA99", "#999933", "#AA4499", "#DDCC77")
#: Hatch of a queueing (wait) segment; resources never use it.
WAIT_HATCH = "////"
# Hatches that tell apart resources beyond the 17 colours (none looks like WAIT_HATCH).
_HATCHES = ("..", "xx", "oo", "++", "\\\\\\\\", "--", "||", "**")

MARKERS = ("o", "s", "^", "D", "v", "P", "X", "*")
LINESTYLES = ("-", "--", "-.", ":", (0, (5, 1)), (0, (3, 1, 1, 1, 1, 1)), (0, (1, 1)), "-")


class Look(NamedTuple):
    """How a resource is drawn: a face colour and a hatch ("" for none)."""

    color: str
    hatch: str


# The catalog's resources, in the order they take the colours: Okabe-Ito first (the
# resources of most paths), Tol's muted after. Fixed, so a resource looks the same in
# every figure.
_RESOURCE_ORDER = ("vcpu", "bql", "iothread", "vhost", "backend", "xenback", "host", "device",
                   "devbus", "wire", "poll", "vmm", "vmm_worker", "backend_thread")
_ALL = PALETTE + PALETTE_EXTRA
_FIXED = {r: Look(_ALL[i], "") for i, r in enumerate(_RESOURCE_ORDER)}


def colors(names: Iterable[str]) -> dict[str, str]:
    """Stable colour per name: Okabe-Ito, then Tol's muted, in order of first appearance."""
    out: dict[str, str] = {}
    for n in names:
        if n not in out:
            out[n] = _ALL[len(out) % len(_ALL)]
    return out


def resource_styles(resources: Iterable[str]) -> dict[str, Look]:
    """A look per resource of one figure; no two resources share colour and hatch.

    Parameters
    ----------
    resources : iterable of str
        The resources the figure draws (repeats are ignored).

    Returns
    -------
    dict of str to Look
        Catalog resources keep their fixed look; others take the first free look:
        an unused colour, then each colour with a hatch.
    """
    names = list(dict.fromkeys(resources))
    out = {r: _FIXED[r] for r in names if r in _FIXED}
    taken = set(out.values())
    free = [lk for lk in (Look(c, h) for h in ("", *_HATCHES) for c in _ALL) if lk not in taken]
    extra = [r for r in names if r not in out]
    if len(extra) > len(free):
        raise ParameterError(f"resources: {len(names)} in one figure, more than the "
                             f"{len(taken) + len(free)} distinct looks")
    out.update(zip(extra, free, strict=False))
    return out


def line_style(i: int) -> dict[str, Any]:
    """Marker and line style of the i-th line: figures survive greyscale printing."""
    return {"marker": MARKERS[i % len(MARKERS)], "linestyle": LINESTYLES[i % len(LINESTYLES)]}
