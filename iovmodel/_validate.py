"""Boundary validators: one per kind of input, so every public function checks it the same way.

* :func:`number` -- a real number (Python or numpy scalar), with bounds, finiteness and
  wholeness, raising :class:`~iovmodel.errors.ParameterError` that names the argument and value;
* :func:`values` -- a non-empty sequence of such numbers (sweep knobs, percentiles);
* hosts -- :func:`iovmodel.spec.profile.as_host` (it lives beside ``HostProfile``, whose
  constructor is the check: a mapping goes through it, so every cost is checked and the
  missing ones take their defaults);
* :func:`choice` -- one of a fixed set of strings;
* :func:`input_file` / :func:`output_file` -- a file to read (exists, is a file, text) or to
  write (its folder exists and is writable, it does not exist unless ``overwrite``), checked
  before any long work starts, naming the user's path.

The network's invariants (:mod:`iovmodel.network`), the workload, the path options, the
solvers, the loaders and the CLI call these; nothing else re-implements them.
"""

from __future__ import annotations

import math
import numbers
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np

from .errors import IovModelError, ParameterError


def is_number(v: Any) -> bool:
    """True for a real number (int, float, numpy integer/floating), False for bool and the rest."""
    t = type(v)
    if t is float or t is int:  # the common case, without the abstract-class checks
        return True
    return isinstance(v, numbers.Real) and not isinstance(v, bool | np.bool_)


def number(name: str, v: Any, *, lo: float | None = None, hi: float | None = None,
           strict: bool = False, integer: bool = False, finite: bool = True,
           allow_inf: bool = False, error: type[IovModelError] = ParameterError) -> Any:
    """Check one number and return it as ``int`` (``integer=True``) or ``float``.

    Parameters
    ----------
    name : str
        What the caller calls it (``"workload jobs"``, ``"cost 'vmexit_us'"``); put in the message.
    v : object
        The value: an int, a float or a numpy scalar (``np.int64(4)`` is accepted).
    lo, hi : float, optional
        Bounds; ``lo`` is exclusive when ``strict``.
    integer : bool
        Must be a whole number (returned as ``int``).
    finite : bool
        NaN and +-inf refused (``allow_inf`` lets +inf through, e.g. delay-station servers).
    error : exception class
        The package error to raise (``ParameterError`` by default, ``CatalogError`` for files).

    Raises
    ------
    ParameterError
        Naming ``name`` and ``v``.
    """
    if not is_number(v):
        raise error(f"{name} must be a number, got {type(v).__name__} {v!r}")
    f = float(v)
    if math.isnan(f):
        raise error(f"{name} must be a number, got NaN ({v!r})")
    if math.isinf(f) and finite and not (allow_inf and f > 0):
        raise error(f"{name} must be finite, got {v!r}")
    if lo is not None and (f < lo or (strict and f == lo)):
        fin = "finite and " if finite else ""
        raise error(f"{name} must be {fin}{'>' if strict else '>='} {lo:g}, got {v!r}")
    if hi is not None and f > hi:
        raise error(f"{name} must be <= {hi:g}, got {v!r}")
    if integer and not math.isinf(f):
        if not f.is_integer():
            raise error(f"{name} must be a whole number, got {v!r}")
        return int(v)
    return f


def values(name: str, seq: Any, **check: Any) -> list[Any]:
    """A non-empty sequence of numbers, each checked by :func:`number`; a list of them.

    A string, a scalar or an empty sequence raises :class:`ParameterError` naming ``name``.
    """
    if isinstance(seq, str | bytes) or not isinstance(seq, Iterable):
        raise ParameterError(f"{name} must be a sequence of numbers, got {seq!r}")
    items = list(seq)
    if not items:
        raise ParameterError(f"{name} is empty: give at least one value")
    return [number(f"{name}[{i}]", x, **check) for i, x in enumerate(items)]


def choice(name: str, v: Any, options: Iterable[str]) -> str:
    """``v`` if it is one of ``options``; else ParameterError listing them."""
    opts = tuple(options)
    if not isinstance(v, str) or v not in opts:
        raise ParameterError(f"{name} must be one of {', '.join(map(repr, opts))}, got {v!r}")
    return v


def input_file(path: Any, what: str = "file", *, error: type[IovModelError] = ParameterError) -> Path:
    """A path to read: exists and is a regular file; else ``error`` naming it."""
    if not isinstance(path, str | os.PathLike) or str(path) == "":
        raise error(f"{what} must be a file path, got {path!r}")
    p = Path(path)
    if not p.exists():
        raise error(f"{what} {str(p)!r} does not exist")
    if not p.is_file():
        raise error(f"{what} {str(p)!r} is not a file")
    if not os.access(p, os.R_OK):
        raise error(f"{what} {str(p)!r} is not readable")
    return p


def read_text(path: Any, what: str = "file", *, error: type[IovModelError] = ParameterError) -> str:
    """The UTF-8 text of a file (a leading byte-order mark dropped); ``error`` if it is not text."""
    p = input_file(path, what, error=error)
    try:
        text = p.read_text("utf-8")
    except UnicodeDecodeError as exc:
        raise error(f"{what} {str(p)!r} is not UTF-8 text (byte {exc.start}: {exc.reason})") from None
    except OSError as exc:
        raise error(f"{what} {str(p)!r} cannot be read: {exc.strerror}") from None
    if "\x00" in text:
        raise error(f"{what} {str(p)!r} is binary, not text")
    return text.removeprefix("\ufeff")


def output_file(path: Any, *, overwrite: bool = False, what: str = "output file",
                flag: str = "overwrite=True") -> Path:
    """A path to write, checked before any work: its folder exists and is writable, and it
    does not exist unless ``overwrite``.  ``flag`` is how the caller asks to overwrite
    (``"--overwrite"`` on the command line).

    Raises
    ------
    FileExistsError
        The file exists and ``overwrite`` is false (names the path and ``flag``).
    ParameterError
        Not a path, a folder, or its folder is missing or not writable.
    """
    if not isinstance(path, str | os.PathLike) or str(path) == "":
        raise ParameterError(f"{what} must be a file path, got {path!r}")
    p = Path(path)
    if p.is_dir():
        raise ParameterError(f"{what} {str(p)!r} is a folder, not a file")
    if p.exists() and not overwrite:
        raise FileExistsError(f"{what} {str(p)!r} exists; pass {flag} to replace it")
    output_dir(p.parent if str(p.parent) else Path("."), what=f"folder of {what} {str(p)!r}")
    return p


def output_dir(path: Any, *, create: bool = False, what: str = "output folder") -> Path:
    """A folder to write into: exists (or is created when ``create``) and is writable."""
    if not isinstance(path, str | os.PathLike) or str(path) == "":
        raise ParameterError(f"{what} must be a folder path, got {path!r}")
    d = Path(path)
    if create and not d.exists():
        try:
            d.mkdir(parents=True)
        except OSError as exc:
            raise ParameterError(f"{what} {str(d)!r} cannot be created: {exc.strerror}") from None
    if not d.is_dir():
        raise ParameterError(f"{what} {str(d)!r} does not exist or is not a folder")
    if not os.access(d, os.W_OK | os.X_OK):
        raise ParameterError(f"{what} {str(d)!r} is not writable")
    return d


__all__ = ["choice", "input_file", "is_number", "number", "output_dir", "output_file",
           "read_text", "values"]
