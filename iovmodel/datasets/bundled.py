"""The bundled datasets: :func:`list`, :func:`load` and :func:`info`.

They live in ``data/`` of the source tree, shipped inside the package as
``iovmodel/_data`` (a symlink in the checkout); ``IOVMODEL_DATA_DIR`` or the
``data_dir`` argument point at another directory with the same layout
(``datasets.toml`` + CSV files).
"""

from __future__ import annotations

import os
import tomllib
from functools import lru_cache
from pathlib import Path
from typing import Any

import pandas as pd

from ..errors import DatasetError
from .schema import _validate


# --------------------------------------------------------- bundled datasets
def _default_data_dir() -> Path:
    package = Path(__file__).parent.parent  # iovmodel/
    here = package.resolve()
    for cand in (package / "_data", here / "_data", here.parent / "data"):
        if (cand / "datasets.toml").is_file():
            return cand
    raise DatasetError(
        f"the bundled datasets are missing: no datasets.toml in {here / '_data'} "
        f"or {here.parent / 'data'} (is the package installed with its data?)")


def _data_dir(data_dir: str | os.PathLike[str] | None) -> Path:
    if data_dir is None:
        env = os.environ.get("IOVMODEL_DATA_DIR")
        return Path(env) if env else _default_data_dir()
    return Path(data_dir)


@lru_cache(maxsize=8)
def _read_metadata(meta_path: str, mtime_ns: int) -> dict[str, Any]:
    del mtime_ns  # part of the cache key only
    try:
        with open(meta_path, "rb") as fh:
            meta = tomllib.load(fh)
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise DatasetError(f"{meta_path}: cannot read dataset metadata: {exc}") from None
    if meta.get("format_version") != 1:
        raise DatasetError(f"{meta_path}: format_version must be 1, got {meta.get('format_version')!r}")
    datasets = meta.get("datasets")
    if not isinstance(datasets, dict) or not datasets:
        raise DatasetError(f"{meta_path}: no [datasets.<name>] tables")
    for name, entry in datasets.items():
        for key in ("file", "title", "sources", "hardware", "extraction", "notes"):
            if key not in entry:
                raise DatasetError(f"{meta_path}: dataset {name!r} lacks the key {key!r}")
        for sid in entry["sources"]:
            if sid not in meta.get("sources", {}):
                raise DatasetError(f"{meta_path}: dataset {name!r} cites unknown source {sid!r}")
    return meta


def _metadata(data_dir: str | os.PathLike[str] | None) -> tuple[Path, dict[str, Any]]:
    root = _data_dir(data_dir)
    meta_path = root / "datasets.toml"
    try:
        mtime = meta_path.stat().st_mtime_ns
    except OSError:
        raise DatasetError(f"{meta_path}: dataset metadata file not found") from None
    return root, _read_metadata(str(meta_path), mtime)


def info(name: str, *, data_dir: str | os.PathLike[str] | None = None) -> dict[str, Any]:
    """Metadata of one bundled dataset: title, file, sources (with citations),
    hardware, extraction (how the numbers were read) and notes."""
    _, meta = _metadata(data_dir)
    entry = _entry(meta, name)
    out = dict(entry)
    out["name"] = name
    out["sources"] = {sid: dict(meta["sources"][sid]) for sid in entry["sources"]}
    return out


def _entry(meta: dict[str, Any], name: str) -> dict[str, Any]:
    if not isinstance(name, str) or name not in meta["datasets"]:
        raise DatasetError(f"unknown dataset {name!r}; known: {', '.join(sorted(meta['datasets']))}")
    return meta["datasets"][name]


@lru_cache(maxsize=64)
def _load_cached(file: str, mtime_ns: int, name: str) -> pd.DataFrame:
    del mtime_ns
    try:
        raw = pd.read_csv(file, dtype=str, keep_default_na=False, na_values=[])
    except (OSError, pd.errors.ParserError, UnicodeDecodeError) as exc:
        raise DatasetError(f"{file}: cannot read CSV: {exc}") from None
    df = _validate(raw, where=file, row_offset=2, strict=True)
    df["dataset"] = pd.Series([name] * len(df), index=df.index, dtype=object)  # as validate's
    return df


def load(name: str, *, data_dir: str | os.PathLike[str] | None = None) -> pd.DataFrame:
    """Load one bundled dataset as a tidy frame (checked against the schema).

    Parameters
    ----------
    name : str
        A name from :func:`list`, e.g. ``"firecracker_ci_block"``.
    data_dir : path, optional
        Read another directory with the same layout (``datasets.toml`` + CSV).

    Returns
    -------
    pandas.DataFrame
        Columns :data:`SCHEMA_COLUMNS`; ``df.attrs["dataset"]`` holds
        :func:`info` of the dataset. A fresh copy on every call.

    Raises
    ------
    DatasetError
        Unknown name, or a malformed file (naming file, line and column).
    """
    root, meta = _metadata(data_dir)
    entry = _entry(meta, name)
    file = root / entry["file"]
    try:
        mtime = file.stat().st_mtime_ns
    except OSError:
        raise DatasetError(f"{file}: data file of dataset {name!r} not found") from None
    df = _load_cached(str(file), mtime, name).copy()
    df.attrs["dataset"] = info(name, data_dir=root)
    return df


def list(*, data_dir: str | os.PathLike[str] | None = None) -> pd.DataFrame:  # noqa: A001
    """The bundled datasets, one row each.

    Returns
    -------
    pandas.DataFrame
        Columns ``name, rows, paths, metrics, source, hardware, extraction,
        title``: ``paths`` and ``metrics`` list the distinct values (comma
        separated), ``source`` the cited source ids.
    """
    root, meta = _metadata(data_dir)
    records = []
    for name in sorted(meta["datasets"]):
        entry = meta["datasets"][name]
        df = load(name, data_dir=root)
        records.append({
            "name": name,
            "rows": len(df),
            "paths": ", ".join(sorted(set(df["path"]))),
            "metrics": ", ".join(sorted(set(df["metric"]))),
            "source": ", ".join(entry["sources"]),
            "hardware": entry["hardware"],
            "extraction": entry["extraction"],
            "title": entry["title"],
        })
    return pd.DataFrame.from_records(records, columns=["name", "rows", "paths", "metrics", "source",
                                                      "hardware", "extraction", "title"])
