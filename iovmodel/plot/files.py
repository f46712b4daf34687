"""Saving figures atomically and reproducibly (byte-identical builds)."""

from __future__ import annotations

import io
import os
import re
from pathlib import Path as FsPath
from typing import Any

import matplotlib as mpl

from .._io import write_atomic
from ..errors import ParameterError

__all__ = ["save"]

# Metadata that would differ between two builds of the same figure, per format.
_NO_DATE = {"pdf": {"CreationDate": None, "ModDate": None},
            "ps": {"CreationDate": None}, "eps": {"CreationDate": None},
            "svg": {"Date": None}, "png": {"Software": None}}


def save(fig: Any, path: str | os.PathLike, overwrite: bool = False, **savefig_kw: Any) -> FsPath:
    """Write a figure atomically and reproducibly; refuse to overwrite unless asked.

    Parameters
    ----------
    fig : Figure
    path : str or path-like
        Target file; the format comes from its suffix (pdf, svg, png, eps, ps).
    overwrite : bool
        Replace an existing file (default: raise :class:`FileExistsError`).
    **savefig_kw
        Passed to ``Figure.savefig`` (``metadata`` entries are merged).

    Returns
    -------
    pathlib.Path
        The file written. Two saves of the same figure are byte-identical: no
        creation date, fixed SVG ids, Type 42 fonts in PDF and PostScript.
    """
    if not hasattr(fig, "savefig"):
        fig = getattr(fig, "figure", fig)
        if not hasattr(fig, "savefig"):
            raise ParameterError(f"fig: expected a matplotlib Figure or Axes, got {type(fig).__name__} {fig!r:.80}")
    p = FsPath(path)
    fmt = p.suffix.lstrip(".").lower()
    if fmt not in _NO_DATE:
        raise ParameterError(f"path: unknown figure format {p.suffix!r}; use one of "
                             f"{', '.join('.' + k for k in _NO_DATE)}")
    if p.exists() and not overwrite:
        raise FileExistsError(f"{p} exists; pass overwrite=True to replace it")
    meta = dict(_NO_DATE[fmt])
    meta.update(savefig_kw.pop("metadata", {}) or {})
    rc = {"pdf.fonttype": 42, "ps.fonttype": 42, "svg.hashsalt": "iovmodel"}
    buf = io.BytesIO()  # a file object: no temporary file name leaks into the output
    with mpl.rc_context(rc):
        fig.savefig(buf, format=fmt, metadata=meta, **savefig_kw)
    data = buf.getvalue()
    if fmt in ("ps", "eps"):  # the PostScript backend always stamps the time
        data = re.sub(rb"%%CreationDate: [^\n]*\n", b"", data, count=1)
    write_atomic(p, data, overwrite=overwrite)
    return p
