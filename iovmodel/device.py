"""Storage devices: presets with sources, and a device fitted from a native fio sweep.

A :class:`Device` is a named set of the HostProfile's device costs (``device_blk_us``,
``device_write_us``, ``device_flush_us``, ``device_blk_slots``, ``device_ns_per_byte``,
``device_scv``): the profile stays the one place numbers live, and a device is applied to a
profile with :meth:`Device.apply`. Presets (``iovmodel/data/devices.toml``) each carry their
source; :meth:`Device.from_fio` fits one from fio runs on the bare device (the ``native-blk``
path) with :func:`iovmodel.fit`, the same fit that calibrates every other cost.
"""

from __future__ import annotations

import html
import math
import tomllib
import warnings
from dataclasses import dataclass, fields
from functools import cache
from importlib import resources
from typing import Any

import pandas as pd

from . import _validate
from .errors import FitError, ParameterError
from .spec.profile import HostProfile, as_host, parameters

DEVICES_FILE = "devices.toml"
#: Device field -> the HostProfile cost it sets
COSTS = {"read_us": "device_blk_us", "write_us": "device_write_us",
         "flush_us": "device_flush_us", "slots": "device_blk_slots",
         "ns_per_byte": "device_ns_per_byte", "scv": "device_scv"}


@dataclass(frozen=True)
class Device:
    """A storage device as the model sees it.

    Parameters
    ----------
    name : str
        A label (the preset's name, or yours).
    read_us, write_us : float
        Service time of one 4 KiB random read / write at the device, µs.
    flush_us : float
        Time to make a flush durable, µs (0: no volatile write cache).
    slots : float
        Requests the device serves at once (internal parallelism).
    ns_per_byte : float
        The data path beyond a request's first 4 KiB, ns per byte (1 / bandwidth).
    scv : float
        Squared coefficient of variation of the service time (0 deterministic, 1 exponential).
    title, source : str
        What it is, and where every number comes from.
    """

    name: str
    read_us: float
    write_us: float
    flush_us: float = 0.0
    slots: float = 1.0
    ns_per_byte: float = 0.0
    scv: float = 1.0
    title: str = ""
    source: str = ""

    def __post_init__(self) -> None:
        decl = parameters()
        for f, cost in COSTS.items():
            object.__setattr__(self, f, decl[cost].check(getattr(self, f)))
        if self.slots != int(self.slots):
            raise ParameterError(f"device {self.name!r}: slots must be a whole number, "
                                 f"got {self.slots!r}")

    # -- presets ---------------------------------------------------------------------------
    @classmethod
    def preset(cls, name: str) -> Device:
        """A bundled preset by name (see :func:`presets`)."""
        table = _presets()
        if name not in table:
            raise ParameterError(f"unknown device preset {name!r}; presets: "
                                 f"{', '.join(table)}")
        return table[name]

    @classmethod
    def from_fio(cls, measurements: pd.DataFrame | Any, name: str = "fitted", *,
                 host: HostProfile | None = None, **fit_kw: Any) -> Device:
        """Fit a device to fio runs on the bare device (no VM).

        ``measurements`` are rows in the tidy schema (what
        :func:`iovmodel.datasets.read_fio_json` returns, or a fio JSON file to read): the
        ``iops`` and ``latency_us`` rows of random reads fit ``device_blk_us``, those of
        random writes ``device_write_us`` (through :func:`iovmodel.fit` on the
        ``native-blk`` path, the software costs held at ``host``'s). The highest-iodepth
        read IOPS, when above one request's rate, sets ``slots`` by Little's law; QD1 rows
        with ``latency_p50_us`` and ``latency_p99_us`` set ``scv`` so the model's
        p99/p50 equals the measured one.
        """
        from . import fit as _fit
        from .datasets import read_fio_json

        if not isinstance(measurements, pd.DataFrame):
            measurements = read_fio_json(measurements, path="native-blk")
        df = measurements.copy()
        if "rw" not in df.columns:
            raise FitError("fio rows need an 'rw' column (randread, randwrite, ...)")
        df["path"] = "native-blk"
        df["options"] = df["options"].fillna("") if "options" in df.columns else ""
        base = as_host(host) if host is not None else HostProfile.default()
        reads = df.rw.isin(["randread", "read"])
        writes = df.rw.isin(["randwrite", "write"])
        use = df.metric.isin(["iops", "latency_us"]) & (reads | writes)
        free = [c for c, m in (("device_blk_us", reads), ("device_write_us", writes))
                if (use & m).any()]
        if not free:
            raise FitError("no iops or latency_us rows of reads or writes to fit a device to")
        dev = dict(read_us=base["device_blk_us"], write_us=base["device_write_us"],
                   flush_us=base["device_flush_us"], slots=base["device_blk_slots"],
                   ns_per_byte=base["device_ns_per_byte"], scv=base["device_scv"])
        qd1 = df[use & (pd.to_numeric(df.get("iodepth"), errors="coerce").fillna(1) <= 1)]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            f = _fit(qd1 if len(qd1) else df[use], free=free, host=base, prior=None, **fit_kw)
        dev["read_us"] = f.profile["device_blk_us"]
        dev["write_us"] = f.profile["device_write_us"]
        iops = df[reads & (df.metric == "iops")]
        if len(iops):
            deep = iops.loc[(pd.to_numeric(iops.iodepth, errors="coerce").fillna(1)
                             * pd.to_numeric(iops.get("jobs", 1), errors="coerce").fillna(1)).idxmax()]
            dev["slots"] = _fit_slots(deep, f.profile.replace(device_blk_us=dev["read_us"]))
        dev["scv"] = _fit_scv(df, f.profile.replace(**{COSTS[k]: v for k, v in dev.items()}),
                              dev["scv"])
        return cls(name, **dev, title=f"fitted to {len(df)} fio rows",
                   source=f"Device.from_fio: {', '.join(free)} fitted by iovmodel.fit on "
                          f"native-blk; slots by Little's law; scv from p99/p50 at QD1")

    # -- use -------------------------------------------------------------------------------
    def costs(self) -> dict[str, float]:
        """The HostProfile costs this device sets."""
        return {cost: float(getattr(self, f)) for f, cost in COSTS.items()}

    def apply(self, host: HostProfile | None = None) -> HostProfile:
        """``host`` (default: the default profile) with this device's costs."""
        h = as_host(host) if host is not None else HostProfile.default()
        src = f"device {self.name!r}: {self.source}" if self.source else f"device {self.name!r}"
        return HostProfile({**dict(h), **self.costs()}, name=h.name,
                           sources={**h.sources, **dict.fromkeys(self.costs(), src)})

    def to_frame(self) -> pd.DataFrame:
        return pd.DataFrame([{f.name: getattr(self, f.name) for f in fields(self)}])

    def __repr__(self) -> str:
        return (f"<Device {self.name!r}: read {self.read_us:g} µs, write {self.write_us:g} µs, "
                f"{self.slots:g} slots, scv {self.scv:g}>")

    def _repr_html_(self) -> str:
        e = html.escape
        return (f"<b>{e(self.name)}</b> {e(self.title)}<br>read {self.read_us:g} µs, write "
                f"{self.write_us:g} µs, flush {self.flush_us:g} µs, {self.slots:g} slots, "
                f"{self.ns_per_byte:g} ns/B, scv {self.scv:g}<br><small>{e(self.source)}</small>")


def _fit_slots(row: pd.Series, host: HostProfile) -> float:
    """The fewest whole slots with which native-blk reaches ``row``'s IOPS (bisection: the
    throughput grows with the slots). When another station bounds the run (the CPU), more
    slots change nothing and this is a lower bound."""
    from .datasets import parse_options
    from .solve.analyze import analyze
    from .spec.catalog import path as get_path
    from .spec.workload import Workload

    def num(col: str) -> int:
        v = pd.to_numeric(pd.Series([row.get(col)]), errors="coerce").iloc[0]
        return 1 if pd.isna(v) else int(v)

    opts = {k: v for k, v in parse_options(row.get("options")).items() if k == "vcpus"}
    p = get_path("native-blk", **opts)
    w = Workload.closed(num("jobs"), num("iodepth"))
    target = float(row["value"])

    def x(s: int) -> float:
        return analyze(p, host.replace(device_blk_slots=float(s)), w).throughput_per_s

    lo, hi = 1, int(parameters()["device_blk_slots"].bounds[1])
    if x(hi) < target * (1 - 1e-6):
        return float(hi)
    while lo < hi:
        mid = (lo + hi) // 2
        lo, hi = (mid + 1, hi) if x(mid) < target * (1 - 1e-6) else (lo, mid)
    return float(lo)


def _fit_scv(df: pd.DataFrame, host: HostProfile, default: float) -> float:
    """device_scv that makes native-blk's QD1 p99/p50 the measured one (gamma law of
    :mod:`iovmodel.solve.percentiles`), by bisection; ``default`` without such rows."""
    from .solve.analyze import analyze
    from .spec.workload import Workload

    qd = pd.to_numeric(df.get("iodepth"), errors="coerce").fillna(1)
    rows = df[(qd <= 1) & df.rw.isin(["randread", "read"])]
    p = rows.set_index("metric")["value"]
    if not {"latency_p50_us", "latency_p99_us"} <= set(p.index):
        return default
    target = float(p["latency_p99_us"]) / float(p["latency_p50_us"])

    def ratio(scv: float) -> float:
        r = analyze("native-blk", host.replace(device_scv=scv), Workload.closed(1, 1))
        return r.percentile_us(99) / r.percentile_us(50)

    lo, hi = 0.0, parameters()["device_scv"].bounds[1]
    if ratio(lo) >= target:
        return 0.0
    if ratio(hi) <= target:
        return hi
    for _ in range(60):
        mid = math.sqrt(max(lo, 1e-9) * hi)
        lo, hi = (mid, hi) if ratio(mid) < target else (lo, mid)
    return float(hi)


@cache
def _presets() -> dict[str, Device]:
    text = resources.files("iovmodel").joinpath("data", DEVICES_FILE).read_text("utf-8")
    doc = tomllib.loads(text)
    if doc.pop("format_version", None) != 1:
        raise ParameterError(f"{DEVICES_FILE}: format_version must be 1")
    return {k: Device(k, **v) for k, v in doc.items()}


def presets() -> pd.DataFrame:
    """The bundled device presets, one row each (name, read_us, write_us, ..., source)."""
    return pd.concat([d.to_frame() for d in _presets().values()], ignore_index=True)


def preset(name: str) -> Device:
    """Shorthand for :meth:`Device.preset`."""
    _validate.choice("device preset", name, tuple(_presets()))
    return Device.preset(name)


__all__ = ["COSTS", "Device", "preset", "presets"]
