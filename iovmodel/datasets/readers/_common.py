"""What the tool readers share: a row accumulator and reading text/JSON input."""

from __future__ import annotations

import functools
import json
import math
import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import pandas as pd

from ...errors import DatasetError, IovModelError
from ..schema import _NAME_RE, METRICS, SCHEMA_COLUMNS, _validate, format_options


# ------------------------------------------------------------- row builder
class _Rows:
    """Accumulates tidy rows sharing the same context columns."""

    def __init__(self, **context: Any) -> None:
        self.context = context
        self.rows: Any = []

    def add(self, metric: str, value: Any, **cols: Any) -> None:
        if value is None:
            return
        value = float(value)
        if not math.isfinite(value):
            return
        row = {c: "" for c in SCHEMA_COLUMNS}
        for c in ("jobs", "iodepth", "size_bytes", "batch", "rate_per_s"):
            row[c] = None
        row.update(self.context)
        row.update(cols)
        row["metric"] = metric
        row["value"] = value
        row["unit"] = METRICS[metric].unit
        self.rows.append(row)

    def frame(self, where: str) -> pd.DataFrame:
        df = pd.DataFrame.from_records(self.rows, columns=SCHEMA_COLUMNS)
        return _validate(df, where=where, row_offset=1, strict=False)


def _context(kind: str, source: str | None, origin: str, path: str, options: Any, hardware: str,
             note: str) -> dict[str, Any]:
    if path and not _NAME_RE.match(path):
        raise DatasetError(f"path {path!r} is not a path name (lowercase, digits, '-', e.g. 'virtio-blk')")
    return {
        "source": source or origin or kind,
        "path": path or "unknown",
        "options": format_options(options),
        "hardware": hardware or "",
        "note": note or "",
        "extraction": "tool_output",
    }


def _read_text(obj: Any, what: str) -> tuple[str, str]:
    """Return (text, origin name) from a path, a text, bytes or a file object."""
    if hasattr(obj, "read"):
        data = obj.read()
        text = data.decode() if isinstance(data, bytes) else str(data)
        return text, str(getattr(obj, "name", ""))
    if isinstance(obj, bytes):
        return obj.decode(), ""
    if isinstance(obj, os.PathLike) or (isinstance(obj, str) and "\n" not in obj
                                         and not obj.lstrip().startswith("{")):
        p = Path(obj)
        try:
            with open(p, encoding="utf-8", errors="replace") as fh:
                return fh.read(), p.name
        except OSError as exc:
            raise DatasetError(f"cannot read {what} file {str(p)!r}: {exc.strerror}") from None
    if isinstance(obj, str):
        return obj, ""
    raise DatasetError(f"{what}: expected a file path, text or file object, got {type(obj).__name__} {obj!r:.80}")


def _load_json(obj: Any, what: str) -> tuple[dict[str, Any], str]:
    if isinstance(obj, Mapping):
        return json.loads(json.dumps(obj)), ""  # a private deep copy
    text, origin = _read_text(obj, what)
    start = text.find("{")  # fio may print notes before the JSON document
    if start < 0:
        raise DatasetError(f"{origin or what}: no JSON object found")
    try:
        doc, _ = json.JSONDecoder().raw_decode(text[start:])
    except json.JSONDecodeError as exc:
        raise DatasetError(f"{origin or what}: invalid JSON: {exc}") from None
    if not isinstance(doc, dict):
        raise DatasetError(f"{origin or what}: the JSON document is not an object")
    return doc, origin


def guarded(what: str) -> Callable[[Callable[..., pd.DataFrame]], Callable[..., pd.DataFrame]]:
    """A reader whose input has a field of the wrong type (``"iops": "abc"``, a json+ bin
    key ``"abc"``, ``{"jobs": [1, 2]}``) raises DatasetError naming the file, never a raw
    TypeError/ValueError/KeyError from deep inside."""

    def wrap(reader: Callable[..., pd.DataFrame]) -> Callable[..., pd.DataFrame]:
        @functools.wraps(reader)
        def read(file_or_str: Any, *args: Any, **kwargs: Any) -> pd.DataFrame:
            try:
                return reader(file_or_str, *args, **kwargs)
            except IovModelError:
                raise
            except (TypeError, ValueError, KeyError, AttributeError, IndexError,
                    OverflowError) as exc:
                origin = (str(file_or_str) if isinstance(file_or_str, os.PathLike | str)
                          and len(str(file_or_str)) < 200 and "\n" not in str(file_or_str)
                          else what)
                raise DatasetError(f"{origin}: malformed {what} ({type(exc).__name__}: "
                                   f"{exc})") from None
        return read
    return wrap


def nonneg(where: str, field: str, value: Any) -> None:
    """A count, rate or time from a tool's output must be a number >= 0."""
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, int | float) or not value >= 0:
        raise DatasetError(f"{where}: {field} = {value!r} must be a number >= 0")


def _join(*parts: str) -> str:
    return "; ".join(p for p in parts if p)
