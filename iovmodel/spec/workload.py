"""Workloads: open Poisson arrivals or fio-style closed jobs x iodepth."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from ..errors import ParameterError


def _num(name: str, v: Any, lo: float, *, integer: bool = False, strict: bool = False) -> float:
    if isinstance(v, bool) or not isinstance(v, int | float):
        raise ParameterError(f"workload {name} must be a number, got {v!r}")
    if math.isnan(v) or math.isinf(v):
        raise ParameterError(f"workload {name} must be finite, got {v!r}")
    if v < lo or (strict and v == lo):
        op = ">" if strict else ">="
        raise ParameterError(f"workload {name} must be {op} {lo:g}, got {v!r}")
    if integer and v != int(v):
        raise ParameterError(f"workload {name} must be a whole number, got {v!r}")
    return int(v) if integer else float(v)


def _batch(v: Any, population: int | None = None) -> int | float:
    """A batch is a mean >= 1 (fractional allowed); whole values stay ints for display."""
    b = _num("batch", v, 1)
    if population is not None and b > population:
        raise ParameterError(f"workload batch {v!r} > population {population} (jobs x iodepth): "
                             "a batch larger than the requests in flight can never fill")
    return int(b) if b.is_integer() else b


@dataclass(frozen=True)
class Workload:
    """What the guest asks of a path.

    Use :meth:`open` (Poisson arrivals at ``rate_per_s``) or :meth:`closed`
    (fio semantics: ``jobs`` x ``iodepth`` requests always in flight, each
    followed by ``think_us`` of think time).  ``batch`` requests share one kick
    and one interrupt on average (notification suppression, interrupt coalescing):
    a per-batch hop happens ``count / batch`` times per I/O. ``batch`` is a mean
    >= 1 (fractional allowed), at most ``jobs * iodepth`` when closed.
    """

    kind: str
    rate_per_s: float | None = None
    jobs: int = 1
    iodepth: int = 1
    think_us: float = 0.0
    size_bytes: int = 4096
    batch: float = 1

    @classmethod
    def open(cls, rate_per_s: float, size_bytes: int = 4096, batch: float = 1) -> Workload:
        """Poisson arrivals at ``rate_per_s`` I/O per second."""
        return cls("open", rate_per_s=_num("rate_per_s", rate_per_s, 0.0, strict=True),
                   size_bytes=_num("size_bytes", size_bytes, 1, integer=True),
                   batch=_batch(batch))

    @classmethod
    def closed(cls, jobs: int = 1, iodepth: int = 1, think_us: float = 0.0,
               size_bytes: int = 4096, batch: float = 1) -> Workload:
        """``jobs`` x ``iodepth`` requests in flight (fio numjobs x iodepth)."""
        return cls("closed", jobs=_num("jobs", jobs, 1, integer=True),
                   iodepth=_num("iodepth", iodepth, 1, integer=True),
                   think_us=_num("think_us", think_us, 0.0),
                   size_bytes=_num("size_bytes", size_bytes, 1, integer=True),
                   batch=_batch(batch, jobs * iodepth if isinstance(jobs, int) and isinstance(iodepth, int)
                                else None))

    @property
    def is_open(self) -> bool:
        return self.kind == "open"

    @property
    def population(self) -> int | None:
        """Requests in flight of a closed workload (jobs x iodepth); None when open."""
        return None if self.is_open else self.jobs * self.iodepth

    def replace(self, **changes: Any) -> Workload:
        """A copy with fields changed (validated).  Setting ``rate_per_s`` makes it open;
        setting ``jobs``/``iodepth``/``think_us`` makes it closed."""
        fields = {"rate_per_s", "jobs", "iodepth", "think_us", "size_bytes", "batch"}
        bad = set(changes) - fields
        if bad:
            raise ParameterError(f"unknown workload field(s) {', '.join(sorted(bad))}; "
                                 f"valid: {', '.join(sorted(fields))}")
        if "rate_per_s" in changes:
            return Workload.open(changes["rate_per_s"], changes.get("size_bytes", self.size_bytes),
                                 changes.get("batch", self.batch))
        if self.is_open and not ({"jobs", "iodepth", "think_us"} & set(changes)):
            return Workload.open(self.rate_per_s, changes.get("size_bytes", self.size_bytes),
                                 changes.get("batch", self.batch))
        kw = {"jobs": self.jobs, "iodepth": self.iodepth, "think_us": self.think_us,
              "size_bytes": self.size_bytes, "batch": self.batch}
        kw.update(changes)
        return Workload.closed(**kw)

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "rate_per_s": self.rate_per_s,
                "jobs": None if self.is_open else self.jobs,
                "iodepth": None if self.is_open else self.iodepth,
                "think_us": None if self.is_open else self.think_us,
                "size_bytes": self.size_bytes, "batch": self.batch}

    def __repr__(self) -> str:
        tail = f", size_bytes={self.size_bytes}" + (f", batch={self.batch}" if self.batch != 1 else "")
        if self.is_open:
            return f"Workload.open(rate_per_s={self.rate_per_s:g}{tail})"
        think = f", think_us={self.think_us:g}" if self.think_us else ""
        return f"Workload.closed(jobs={self.jobs}, iodepth={self.iodepth}{think}{tail})"


