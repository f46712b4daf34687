"""What the tool readers share: a row accumulator and reading text/JSON input."""

from __future__ import annotations

import json
import math
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pandas as pd

from ...errors import DatasetError
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
    raise DatasetError(f"{what}: expected a file path, text or file object, got {type(obj).__name__}")


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


def _join(*parts: str) -> str:
    return "; ".join(p for p in parts if p)
