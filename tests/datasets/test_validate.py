"""Schema checks: a malformed row raises DatasetError naming file, row and column."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from iovmodel import datasets as ds
from iovmodel.errors import DatasetError

DATA = Path(__file__).resolve().parents[2] / "data"

GOOD = {
    "source": "lab", "path": "virtio-blk", "metric": "iops", "value": 1000.0, "unit": "IOPS",
    "jobs": 4, "iodepth": 32, "size_bytes": 4096, "rw": "randread", "rate_per_s": "",
    "batch": "", "options": "iothread=1", "hardware": "x", "note": "", "label": "",
    "extraction": "read_directly",
}


def frame(**changes) -> pd.DataFrame:
    rows = [dict(GOOD), dict(GOOD, metric="latency_us", unit="us", value=120.0)]
    rows[1].update(changes)
    return pd.DataFrame(rows)


@pytest.mark.parametrize(("changes", "column", "message"), [
    ({"metric": "latency_ms"}, "metric", "unknown metric 'latency_ms'"),
    ({"value": float("nan")}, "value", "not a finite number"),
    ({"value": "fast"}, "value", "'fast' is not a number"),
    ({"value": -1.0}, "value", "negative; 'latency_us' cannot be"),
    ({"unit": "ms"}, "unit", "unit 'ms' is not 'us'"),
    ({"jobs": -2}, "jobs", "count -2 is negative"),
    ({"iodepth": 0}, "iodepth", "not a positive integer"),
    ({"size_bytes": 4096.5}, "size_bytes", "not a positive integer"),
    ({"rate_per_s": -5}, "rate_per_s", "must be a positive number"),
    ({"rw": "sideways"}, "rw", "'sideways' is not one of"),
    ({"extraction": "guessed"}, "extraction", "'guessed' is not one of"),
    ({"path": "Virtio Blk"}, "path", "is not a path name"),
    ({"options": "iothread"}, "options", "not key=value"),
    ({"options": "a=1;a=2"}, "options", "given twice"),
    ({"source": ""}, "source", "is empty"),
    ({"note": "two\nlines"}, "note", "line break"),
])
def test_validate_names_row_and_column(changes, column, message):
    with pytest.raises(DatasetError) as exc:
        ds.validate(frame(**changes), source="mine.csv")
    text = str(exc.value)
    assert text.startswith("mine.csv: row 2, column ")
    assert f"column '{column}'" in text
    assert message in text


def test_validate_missing_required_column():
    with pytest.raises(DatasetError, match="<DataFrame>: missing column 'unit'"):
        ds.validate(frame().drop(columns="unit"))


def test_validate_fills_optional_columns_and_keeps_extras():
    df = pd.DataFrame({"source": ["a"], "path": ["vhost-net"], "metric": ["throughput_gbps"],
                       "value": [9.5], "unit": ["Gbps"], "weight": [2.0]})
    out = ds.validate(df)
    assert tuple(out.columns) == (*ds.SCHEMA_COLUMNS, "weight")
    assert out["jobs"].isna().all() and out["options"].iloc[0] == ""
    assert str(out["jobs"].dtype) == "Int64" and out["value"].dtype == np.float64


def test_validate_does_not_modify_its_input():
    df = frame()
    keep = df.copy(deep=True)
    ds.validate(df)
    pd.testing.assert_frame_equal(df, keep)


def test_validate_rejects_non_frames():
    with pytest.raises(DatasetError, match="needs a pandas DataFrame"):
        ds.validate([GOOD])


def test_signed_metric_may_be_negative():
    df = frame(metric="cpu_util_change_pct", unit="%", value=-9.4)
    assert ds.validate(df)["value"].iloc[1] == -9.4


def test_every_metric_declares_unit_and_description():
    for name, info in ds.METRICS.items():
        assert re.fullmatch(r"[a-z0-9_]+", name)
        assert info.unit and info.description
    # the DESIGN.md schema metrics are all there
    for name in ("iops", "throughput_gbps", "latency_us", "latency_p50_us", "latency_p99_us",
                 "cpu_us_per_io", "exits_per_io", "exits_per_s"):
        assert name in ds.METRICS


# ------------------------------------------------------------- files on disk
@pytest.fixture
def data_copy(tmp_path):
    """A private copy of data/ with two small datasets."""
    for name in ("datasets.toml", "vfio_user_spdk.csv", "qemu_dataplane_batching.csv"):
        shutil.copy(DATA / name, tmp_path / name)
    meta = (tmp_path / "datasets.toml").read_text()
    return tmp_path, meta


def test_load_from_a_copy(data_copy):
    root, _ = data_copy
    df = ds.load("qemu_dataplane_batching", data_dir=root)
    pd.testing.assert_frame_equal(df, ds.load("qemu_dataplane_batching"))


@pytest.mark.parametrize(("edit", "line", "column", "message"), [
    (lambda r: r.replace("iops,92000,IOPS", "iops,nan,IOPS"), 3, "value", "not a finite number"),
    (lambda r: r.replace("iops,92000,IOPS", "bogus_metric,92000,IOPS"), 3, "metric",
     "unknown metric"),
    (lambda r: r.replace("IOPS,4,64,", "IOPS,-4,64,", 1), 2, "jobs", "negative"),
    (lambda r: r.replace("92000,IOPS", "92000,kIOPS"), 3, "unit", "is not 'IOPS'"),
])
def test_load_names_file_line_column(data_copy, edit, line, column, message):
    root, _ = data_copy
    csv = root / "qemu_dataplane_batching.csv"
    csv.write_text(edit(csv.read_text()))
    with pytest.raises(DatasetError) as exc:
        ds.load("qemu_dataplane_batching", data_dir=root)
    text = str(exc.value)
    assert str(csv) in text
    assert f"row {line}, column '{column}'" in text  # row = line number in the file
    assert message in text


def test_load_missing_and_unknown_columns(data_copy):
    root, _ = data_copy
    csv = root / "vfio_user_spdk.csv"
    original = csv.read_text()
    df = pd.read_csv(csv, dtype=str, keep_default_na=False)
    df.drop(columns="rw").to_csv(csv, index=False)
    with pytest.raises(DatasetError, match=re.escape(f"{csv}: missing column 'rw'")):
        ds.load("vfio_user_spdk", data_dir=root)
    csv.write_text(original)
    df.assign(colour="blue").to_csv(csv, index=False)
    with pytest.raises(DatasetError, match=r"unknown column\(s\) \['colour'\]"):
        ds.load("vfio_user_spdk", data_dir=root)


def test_metadata_errors(data_copy):
    root, meta = data_copy
    with pytest.raises(DatasetError, match="unknown dataset 'nope'"):
        ds.load("nope", data_dir=root)
    (root / "datasets.toml").write_text(meta.replace("format_version = 1", "format_version = 7"))
    with pytest.raises(DatasetError, match="format_version must be 1"):
        ds.list(data_dir=root)
    (root / "datasets.toml").write_text(meta.replace('sources = ["S36_vfio_user_spdk"]',
                                                     'sources = ["S99"]'))
    with pytest.raises(DatasetError, match="unknown source 'S99'"):
        ds.load("vfio_user_spdk", data_dir=root)
    with pytest.raises(DatasetError, match="not found"):
        ds.load("vfio_user_spdk", data_dir=root / "missing")


def test_load_returns_fresh_copies():
    a = ds.load("vfio_user_spdk")
    a.loc[0, "value"] = -1
    assert ds.load("vfio_user_spdk")["value"].iloc[0] == 4.3e6


# ------------------------------------------------------------------ properties
_keys = st.from_regex(r"[a-z][a-z0-9_]{0,8}", fullmatch=True)
_vals = st.one_of(st.integers(0, 10**6), st.from_regex(r"[a-z][a-z0-9.-]{0,8}", fullmatch=True))


@given(st.dictionaries(_keys, _vals, max_size=5))
def test_options_round_trip(opts):
    text = ds.format_options(opts)
    back = ds.parse_options(text)
    assert {k: str(v) for k, v in back.items()} == {k: str(v) for k, v in opts.items()}
    assert ds.format_options(back) == text


_metric = st.sampled_from(sorted(m for m, i in ds.METRICS.items() if not i.signed))
_row = st.builds(
    lambda metric, value, jobs, depth, rw, opts: {
        **GOOD, "metric": metric, "unit": ds.METRICS[metric].unit, "value": value,
        "jobs": jobs, "iodepth": depth, "rw": rw, "options": ds.format_options(opts)},
    _metric,
    st.floats(0, 1e12, allow_nan=False, allow_infinity=False),
    st.one_of(st.none(), st.integers(1, 1024)),
    st.one_of(st.none(), st.integers(1, 4096)),
    st.sampled_from(["", *sorted(ds.RW_VALUES)]),
    st.dictionaries(_keys, st.integers(1, 64), max_size=3),
)


@settings(max_examples=40, deadline=None)
@given(st.lists(_row, min_size=1, max_size=6))
def test_csv_round_trip(tmp_path_factory, rows):
    """Any valid frame written as CSV loads back with the same numbers and labels."""
    root = tmp_path_factory.mktemp("rt")
    meta = (DATA / "datasets.toml").read_text()
    (root / "datasets.toml").write_text(meta)
    df = ds.validate(pd.DataFrame(rows)).drop(columns="dataset")
    df.to_csv(root / "vfio_user_spdk.csv", index=False, float_format="%.17g")
    back = ds.load("vfio_user_spdk", data_dir=root)
    pd.testing.assert_frame_equal(back.drop(columns="dataset"), df, check_exact=True)
