"""Host costs: the only place numbers live.

A :class:`HostProfile` is a read-only mapping from cost name (``vmexit_us``,
``user_exit_us``, ...) to a float.  Each cost is declared once in
``iovmodel/data/costs.toml`` as a :class:`Parameter` (value, bounds, typical range,
LaTeX symbol, meaning, source); validation, slider ranges, axis labels and sympy
symbols all come from that declaration.
"""

from __future__ import annotations

import html
import math
import os
import tomllib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from functools import cache
from importlib import resources
from pathlib import Path as FsPath
from typing import Any

import pandas as pd

from .. import _validate
from .._io import write_atomic
from ..errors import ParameterError

COSTS_FILE = "costs.toml"
FORMAT_VERSION = 1
#: what a cost is the speed of (:attr:`Parameter.kind`)
KINDS = ("hardware", "virtualization")


@dataclass(frozen=True)
class Parameter:
    """Declaration of one host cost.

    Attributes
    ----------
    name : str
        Cost name with its unit (``vmexit_us``: µs; ``copy_ns_per_byte``; a
        ``_slots`` name is a count).
    value : float
        Default value.
    bounds : tuple of float
        Hard limits; values outside raise :class:`ParameterError`.
    typical : tuple of float
        Range spanned by published measurements.
    symbol : str
        LaTeX symbol.
    meaning, source : str
        One-line meaning; provenance of the default.
    kind : {"hardware", "virtualization"}
        ``"hardware"``: the machine's own speed at work that runs the same without
        virtualization (a device, an OS stack, a copy, a system call), which a
        hierarchical fit (:func:`iovmodel.fit` with ``by=``) gives each group of its own;
        ``"virtualization"``: the virtualization machinery (exits, notifications,
        wake-ups, back-ends, locks), shared by every group.
    """

    name: str
    value: float
    bounds: tuple[float, float]
    typical: tuple[float, float]
    symbol: str
    meaning: str
    source: str
    kind: str = "virtualization"

    @property
    def unit(self) -> str:
        if self.name.endswith("_us"):
            return "µs"
        if self.name.endswith("_ns_per_byte"):
            return "ns/B"
        if self.name.endswith(("_scv", "_ratio")):
            # a squared coefficient of variation, a speed-up: dimensionless, not whole
            return "ratio"
        return "count"

    def check(self, value: Any) -> float:
        """Return ``value`` as a float or raise :class:`ParameterError`."""
        if not _validate.is_number(value):  # True, "0.5" and None are not costs
            raise ParameterError(f"cost {self.name!r} must be a number, got "
                                 f"{type(value).__name__} {value!r}")
        v = float(value)
        lo, hi = self.bounds
        if math.isnan(v):
            raise ParameterError(f"cost {self.name!r} is NaN; valid range is [{lo:g}, {hi:g}]")
        if v < 0:
            raise ParameterError(
                f"cost {self.name!r} = {v:g} is negative; valid range is [{lo:g}, {hi:g}]")
        if not lo <= v <= hi:
            raise ParameterError(
                f"cost {self.name!r} = {v:g} is outside its bounds [{lo:g}, {hi:g}]")
        if self.unit == "count" and v != int(v):
            raise ParameterError(f"{self.name!r} = {v:g} is a count and must be a whole number")
        return v


def _parse_parameters(doc: dict, origin: str) -> dict[str, Parameter]:
    out = {}
    for name, entry in doc.items():
        if not isinstance(entry, dict):
            continue
        try:
            p = Parameter(
                name=name,
                value=float(entry["value"]),
                bounds=(float(entry["bounds"][0]), float(entry["bounds"][1])),
                typical=(float(entry["typical"][0]), float(entry["typical"][1])),
                symbol=str(entry["symbol"]),
                meaning=str(entry["meaning"]),
                source=str(entry["source"]),
                kind=str(entry["kind"]),
            )
        except (KeyError, IndexError, TypeError, ValueError) as exc:
            raise ParameterError(f"{origin}: cost {name!r} is malformed ({exc!r})") from None
        if p.kind not in KINDS:
            raise ParameterError(f"{origin}: cost {name!r} has kind {p.kind!r}; "
                                 f"expected one of {', '.join(map(repr, KINDS))}")
        p.check(p.value)
        out[name] = p
    return out


@cache
def parameters() -> dict[str, Parameter]:
    """The declared host costs, by name (from the packaged ``costs.toml``)."""
    text = resources.files("iovmodel").joinpath("data", COSTS_FILE).read_text("utf-8")
    doc = tomllib.loads(text)
    if doc.get("format_version") != FORMAT_VERSION:
        raise ParameterError(f"{COSTS_FILE}: unsupported format_version {doc.get('format_version')!r}")
    return _parse_parameters(doc, COSTS_FILE)


def parameter_table() -> pd.DataFrame:
    """Every declared cost as a tidy DataFrame (name, value, unit, bounds, source, ...)."""
    rows = [
        {"name": p.name, "value": p.value, "unit": p.unit, "lo": p.bounds[0], "hi": p.bounds[1],
         "typical_lo": p.typical[0], "typical_hi": p.typical[1], "symbol": p.symbol,
         "kind": p.kind, "meaning": p.meaning, "source": p.source}
        for p in parameters().values()
    ]
    return pd.DataFrame(rows)


class HostProfile(Mapping[str, float]):
    """Per-event costs of one host (µs unless the name says otherwise).

    Immutable: :meth:`replace` returns a new profile.  Construct with
    :meth:`default`, :meth:`from_file`, :func:`iovmodel.probe.to_profile` or
    ``HostProfile({"vmexit_us": 0.5, ...}, name=...)`` (missing costs take
    their defaults).

    Examples
    --------
    >>> host = HostProfile.default()
    >>> host["vmexit_us"]
    0.35
    >>> slow = host.replace(vmexit_us=1.2)
    """

    __slots__ = ("_values", "name", "sources")

    def __init__(self, costs: Mapping[str, float] | None = None, *, name: str = "custom",
                 sources: Mapping[str, str] | None = None) -> None:
        decl = parameters()
        values = {k: p.value for k, p in decl.items()}
        src = {k: p.source for k, p in decl.items()}
        for key, val in (costs or {}).items():
            if key not in decl:
                raise ParameterError(
                    f"unknown cost {key!r}; known costs: {', '.join(sorted(decl))}")
            values[key] = decl[key].check(val)
            src[key] = (sources or {}).get(key, f"set by user ({name})")
        object.__setattr__(self, "_values", values)
        object.__setattr__(self, "name", name)
        object.__setattr__(self, "sources", src)

    def __setattr__(self, key, value):
        raise AttributeError("HostProfile is immutable; use .replace(**costs)")

    # -- Mapping -------------------------------------------------------------
    def __getitem__(self, key: str) -> float:
        try:
            return self._values[key]
        except KeyError:
            raise ParameterError(
                f"unknown cost {key!r}; known costs: {', '.join(sorted(self._values))}") from None

    def __contains__(self, key: object) -> bool:
        return key in self._values

    def __iter__(self) -> Iterator[str]:
        return iter(self._values)

    def __len__(self) -> int:
        return len(self._values)

    def __hash__(self) -> int:
        return hash(tuple(sorted(self._values.items())))

    def __eq__(self, other: object) -> bool:
        if isinstance(other, HostProfile):
            return self._values == other._values
        return NotImplemented

    # -- constructors ----------------------------------------------------------
    @classmethod
    def default(cls) -> HostProfile:
        """The bundled profile: a modern x86 KVM host, every value with its source."""
        return cls(name="default")

    def replace(self, **costs: float) -> HostProfile:
        """A new profile with some costs changed (validated against their bounds)."""
        merged = dict(self._values)
        merged.update(costs)
        srcs = dict(self.sources)
        for k in costs:
            srcs[k] = f"set by user (replace on {self.name})"
        return HostProfile(merged, name=self.name, sources=srcs)

    @classmethod
    def from_file(cls, path: str | os.PathLike) -> HostProfile:
        """Read a profile written by :meth:`to_file` (TOML: ``[costs]`` name = value).

        Costs missing from the file keep their defaults.
        """
        p = FsPath(path)
        text = _validate.read_text(path, "profile file")
        try:
            doc = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise ParameterError(f"{p}: not a valid profile file ({exc})") from None
        costs = doc.get("costs")
        if not isinstance(costs, dict):
            raise ParameterError(f"{p}: no [costs] table")
        srcs = doc.get("sources", {}) if isinstance(doc.get("sources"), dict) else {}
        try:
            return cls(costs, name=str(doc.get("name", p.stem)), sources=srcs)
        except ParameterError as exc:
            raise ParameterError(f"{p}: {exc}") from None

    def to_file(self, path: str | os.PathLike, overwrite: bool = False) -> FsPath:
        """Write the profile as TOML, atomically; refuse to overwrite unless asked."""
        p = _validate.output_file(path, overwrite=overwrite, what="profile file")
        lines = [f"name = {_toml_str(self.name)}", "", "[costs]"]
        lines += [f"{k} = {v!r}" for k, v in self._values.items()]
        lines += ["", "[sources]"]
        lines += [f"{k} = {_toml_str(s)}" for k, s in self.sources.items()]
        write_atomic(p, "\n".join(lines) + "\n", overwrite=overwrite)
        return p

    # -- presentation ------------------------------------------------------------
    def to_frame(self) -> pd.DataFrame:
        """Tidy table: name, value, unit, default, bounds, meaning, source."""
        df = parameter_table().rename(columns={"value": "default"})
        df.insert(1, "value", [self._values[n] for n in df["name"]])
        df["source"] = [self.sources[n] for n in df["name"]]
        return df

    def diff(self, other: HostProfile) -> pd.DataFrame:
        """Costs that differ between two profiles."""
        rows = [{"name": k, "self": v, "other": other[k], "ratio": other[k] / v if v else math.nan}
                for k, v in self._values.items() if other[k] != v]
        return pd.DataFrame(rows, columns=["name", "self", "other", "ratio"])

    def __repr__(self) -> str:
        changed = [k for k in self._values if self._values[k] != parameters()[k].value]
        extra = f", {len(changed)} changed: {', '.join(changed[:4])}" if changed else ""
        more = "..." if len(changed) > 4 else ""
        return f"<HostProfile {self.name!r}: {len(self)} costs{extra}{more}>"

    def _repr_html_(self) -> str:
        rows = "".join(
            f"<tr><td><code>{html.escape(k)}</code></td><td>{v:.4g}</td>"
            f"<td>{html.escape(parameters()[k].unit)}</td>"
            f"<td>{html.escape(parameters()[k].meaning)}</td></tr>"
            for k, v in self._values.items())
        return (f"<table><caption>HostProfile {html.escape(self.name)}</caption>"
                f"<tr><th>cost</th><th>value</th><th>unit</th><th>meaning</th></tr>{rows}</table>")


def as_host(h: Any) -> HostProfile:
    """The host argument of every public function: a HostProfile, a mapping, or None.

    ``None`` gives :meth:`HostProfile.default`; a mapping (``{**dict(host), "vmexit_us": 2}``
    or a partial ``{"vmexit_us": 2}``) becomes a ``HostProfile`` -- every cost checked
    against its bounds, the missing ones at their defaults -- so a dict never skips a check.

    Raises
    ------
    ParameterError
        Anything else, or a cost out of bounds (naming the cost and value).
    """
    if h is None:
        return HostProfile.default()
    if isinstance(h, HostProfile):
        return h
    if isinstance(h, Mapping):
        return HostProfile(h, name=str(getattr(h, "name", "custom")))
    raise ParameterError(f"host must be a HostProfile or a mapping of costs, got "
                         f"{type(h).__name__} {h!r:.80}")


def _toml_str(s: str) -> str:
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"').replace("\n", " ") + '"'
