"""Workloads: open Poisson arrivals or fio-style closed jobs x iodepth."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .. import _validate
from ..errors import ParameterError
from .traffic import Traffic


def _num(name: str, v: Any, lo: float, *, integer: bool = False, strict: bool = False) -> Any:
    return _validate.number(f"workload {name}", v, lo=lo, strict=strict, integer=integer)


#: fio's ``rw`` values a block workload takes (``readwrite`` is fio's alias of ``rw``)
RW_KINDS = ("randread", "read", "write", "randwrite", "randrw", "rw")
_READS = ("randread", "read")
_WRITES = ("write", "randwrite")


def _rw(rw: Any, rwmixread: Any) -> tuple[str, float | None]:
    if rw == "readwrite":
        rw = "rw"
    _validate.choice("workload rw", rw, RW_KINDS)
    if rwmixread is None:
        return rw, None
    mix = _validate.number("workload rwmixread (percent of reads, fio's rwmixread)", rwmixread,
                           lo=0, hi=100)
    if rw in _READS and mix != 100 or rw in _WRITES and mix != 0:
        raise ParameterError(f"workload rwmixread={rwmixread!r} contradicts rw={rw!r}: a mix of "
                             "reads and writes is rw='randrw' or rw='rw'")
    return rw, mix


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

    ``traffic`` (a :class:`~iovmodel.spec.traffic.Traffic`) says what a network workload
    moves (exchanges, a stream, a flood) and where; :meth:`of` makes the workload a traffic
    runs as. Without it a network path serves one small request/response exchange per I/O.

    ``rw`` is fio's: ``"randread"`` (the default), ``"read"``, ``"write"``, ``"randwrite"``,
    ``"randrw"`` or ``"rw"``; a mix reads ``rwmixread`` percent of the time (fio's default 50).
    ``fsync``: the guest flushes after every ``fsync`` writes (fio's ``fsync=N``; 0 never);
    a path turns each flush into its flush hop. Cost expressions see ``read_frac``,
    ``write_frac``, ``fsync_per_io`` (flushes per I/O) and ``synced_write_frac`` (the
    writes a flush makes durable: ``write_frac`` when ``fsync`` is set, else 0).
    """

    kind: str
    rate_per_s: float | None = None
    jobs: int = 1
    iodepth: int = 1
    think_us: float = 0.0
    size_bytes: int = 4096
    batch: float = 1
    rw: str = "randread"
    rwmixread: float | None = None
    fsync: int = 0
    traffic: Traffic | None = None

    @classmethod
    def open(cls, rate_per_s: float, size_bytes: int = 4096, batch: float = 1,
             traffic: Traffic | None = None, *, rw: str = "randread",
             rwmixread: float | None = None, fsync: int = 0) -> Workload:
        """Poisson arrivals at ``rate_per_s`` I/O per second."""
        return cls("open", rate_per_s=rate_per_s, size_bytes=size_bytes, batch=batch, rw=rw,
                   rwmixread=rwmixread, fsync=fsync, traffic=traffic)

    @classmethod
    def closed(cls, jobs: int = 1, iodepth: int = 1, think_us: float = 0.0,
               size_bytes: int = 4096, batch: float = 1,
               traffic: Traffic | None = None, *, rw: str = "randread",
               rwmixread: float | None = None, fsync: int = 0) -> Workload:
        """``jobs`` x ``iodepth`` requests in flight (fio numjobs x iodepth)."""
        return cls("closed", jobs=jobs, iodepth=iodepth, think_us=think_us,
                   size_bytes=size_bytes, batch=batch, rw=rw, rwmixread=rwmixread, fsync=fsync,
                   traffic=traffic)

    @classmethod
    def of(cls, traffic: Traffic, batch: float = 1) -> Workload:
        """The workload a :class:`~iovmodel.spec.traffic.Traffic` runs as: a flood at a rate
        is open (Poisson arrivals at ``rate_pps``); exchanges are ``streams`` closed loops of
        one; a stream (or a flood as fast as it goes) keeps a ring's worth of packets in
        flight per stream and is solved at its throughput bound."""
        if not isinstance(traffic, Traffic):
            raise ParameterError(f"Workload.of takes a Traffic, got {type(traffic).__name__} "
                                 f"{traffic!r}")
        f = traffic.workload_fields()
        if f["kind"] == "open":
            return cls.open(f["rate_per_s"], traffic.size_bytes, batch, traffic)
        return cls.closed(f["jobs"], f["iodepth"], size_bytes=traffic.size_bytes, batch=batch,
                          traffic=traffic)

    def __post_init__(self) -> None:
        # every field checked however the Workload is made (Workload("opne", ...) included),
        # numpy scalars stored as plain numbers
        _validate.choice("workload kind", self.kind, ("open", "closed"))
        if self.traffic is not None and not isinstance(self.traffic, Traffic):
            raise ParameterError(f"workload traffic must be a Traffic, got "
                                 f"{type(self.traffic).__name__} {self.traffic!r}")
        fix = {"size_bytes": _num("size_bytes", self.size_bytes, 1, integer=True)}
        fix["rw"], fix["rwmixread"] = _rw(self.rw, self.rwmixread)
        fix["fsync"] = _num("fsync (flush every N writes; 0 never)", self.fsync, 0, integer=True)
        if fix["fsync"] and fix["rw"] in _READS:
            raise ParameterError(f"workload fsync={self.fsync!r} with rw={fix['rw']!r}: fio "
                                 "flushes after writes, and a read workload issues none")
        if self.is_open:
            fix["rate_per_s"] = _num("rate_per_s", self.rate_per_s, 0.0, strict=True)
            fix["batch"] = _batch(self.batch)
        else:
            if self.rate_per_s is not None:
                raise ParameterError(f"a closed workload has no rate_per_s, got "
                                     f"{self.rate_per_s!r}: use Workload.open(rate_per_s)")
            fix["jobs"] = _num("jobs", self.jobs, 1, integer=True)
            fix["iodepth"] = _num("iodepth", self.iodepth, 1, integer=True)
            fix["think_us"] = _num("think_us", self.think_us, 0.0)
            fix["batch"] = _batch(self.batch, fix["jobs"] * fix["iodepth"])
        for k, v in fix.items():
            object.__setattr__(self, k, v)

    @property
    def is_open(self) -> bool:
        return self.kind == "open"

    @property
    def population(self) -> int | None:
        """Requests in flight of a closed workload (jobs x iodepth); None when open."""
        return None if self.is_open else self.jobs * self.iodepth

    @property
    def read_frac(self) -> float:
        """The fraction of I/Os that are reads (1 for randread/read, 0 for writes)."""
        if self.rw in _READS:
            return 1.0
        if self.rw in _WRITES:
            return 0.0
        return (50.0 if self.rwmixread is None else self.rwmixread) / 100.0

    @property
    def write_frac(self) -> float:
        """The fraction of I/Os that are writes."""
        return 1.0 - self.read_frac

    @property
    def fsync_per_io(self) -> float:
        """Flushes per I/O: one every ``fsync`` writes (0 when ``fsync`` is 0)."""
        return self.write_frac / self.fsync if self.fsync else 0.0

    def cost_names(self) -> dict[str, float]:
        """The workload's names a cost expression may use (``size_bytes``, ``read_frac``,
        ``write_frac``, ``fsync_per_io``)."""
        return {"size_bytes": self.size_bytes, "read_frac": self.read_frac,
                "write_frac": self.write_frac, "fsync_per_io": self.fsync_per_io,
                "synced_write_frac": self.write_frac if self.fsync else 0.0}

    def _io_fields(self) -> dict[str, Any]:
        return {"rw": self.rw, "rwmixread": self.rwmixread, "fsync": self.fsync}

    def replace(self, **changes: Any) -> Workload:
        """A copy with fields changed (validated).  Setting ``rate_per_s`` makes it open;
        setting ``jobs``/``iodepth``/``think_us`` makes it closed."""
        fields = {"rate_per_s", "jobs", "iodepth", "think_us", "size_bytes", "batch", "rw",
                  "rwmixread", "fsync"}
        bad = set(changes) - fields
        if bad:
            raise ParameterError(f"unknown workload field(s) {', '.join(sorted(bad))}; "
                                 f"valid: {', '.join(sorted(fields))}")
        t = self.traffic
        io = {k: changes.get(k, v) for k, v in self._io_fields().items()}
        if "rw" in changes and "rwmixread" not in changes:
            io["rwmixread"] = None  # a new rw takes fio's default mix
        if "rate_per_s" in changes:
            return Workload.open(changes["rate_per_s"], changes.get("size_bytes", self.size_bytes),
                                 changes.get("batch", self.batch), t, **io)
        if self.is_open and not ({"jobs", "iodepth", "think_us"} & set(changes)):
            return Workload.open(self.rate_per_s, changes.get("size_bytes", self.size_bytes),
                                 changes.get("batch", self.batch), t, **io)
        kw = {"jobs": self.jobs, "iodepth": self.iodepth, "think_us": self.think_us,
              "size_bytes": self.size_bytes, "batch": self.batch, "traffic": t}
        kw.update({k: v for k, v in changes.items() if k in kw})
        return Workload.closed(**kw, **io)

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "rate_per_s": self.rate_per_s,
                "jobs": None if self.is_open else self.jobs,
                "iodepth": None if self.is_open else self.iodepth,
                "think_us": None if self.is_open else self.think_us,
                "size_bytes": self.size_bytes, "batch": self.batch, "rw": self.rw,
                "rwmixread": self.rwmixread, "fsync": self.fsync,
                **({} if self.traffic is None else {"traffic": repr(self.traffic)})}

    def __repr__(self) -> str:
        tail = f", size_bytes={self.size_bytes}" + (f", batch={self.batch}" if self.batch != 1 else "")
        if self.rw != "randread":
            tail += f", rw={self.rw!r}"
        if self.rwmixread is not None:
            tail += f", rwmixread={self.rwmixread:g}"
        if self.fsync:
            tail += f", fsync={self.fsync}"
        if self.traffic is not None:
            tail += f", traffic={self.traffic!r}"
        if self.is_open:
            return f"Workload.open(rate_per_s={self.rate_per_s:g}{tail})"
        think = f", think_us={self.think_us:g}" if self.think_us else ""
        return f"Workload.closed(jobs={self.jobs}, iodepth={self.iodepth}{think}{tail})"


