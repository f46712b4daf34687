"""Paths: the hops an I/O takes, as data.

The catalog (``iovmodel/data/catalog.toml``) declares every path; a user can
load more from a TOML file of the same format (:func:`load_catalog`) or build one
in Python with :meth:`Path.from_hops`.
"""

from __future__ import annotations

import html
import math
import os
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from functools import cache
from importlib import resources
from pathlib import Path as FsPath
from typing import Any

import pandas as pd

from .. import _validate
from .._expr import compile_expr, evaluate
from ..errors import CatalogError, ParameterError, UnknownPathError
from .profile import parameters

CATALOG_FILE = "catalog.toml"
FORMAT_VERSION = 1

SWITCH_KINDS = ("none", "vm_exit", "hypercall", "user_exit", "syscall", "wakeup", "irq_inject", "poll")
CPU_KINDS = ("guest", "host", "none")
#: a hop's count is per I/O, per batch (a notification) or per thread waiting at its lock
PER_KINDS = ("io", "batch", "waiter")
#: mode_switches() columns and the switch kinds each counts
SWITCH_COLUMNS = {
    "vm_exits": ("vm_exit", "hypercall"),
    "user_exits": ("user_exit",),
    "syscalls": ("syscall",),
    "wakeups": ("wakeup",),
    "injections": ("irq_inject",),
}
WORKLOAD_NAMES = ("size_bytes", "read_frac", "write_frac", "fsync_per_io", "synced_write_frac")

@dataclass(frozen=True)
class Hop:
    """One step of a path.

    Parameters
    ----------
    name : str
        What happens (``"kick: VM exit"``).
    resource : str
        The resource the hop holds (``vcpu``, ``bql``, ``iothread``, ``vhost``, ``host``,
        ``device``, ... or any name of a custom path).
    cost : float or str
        Time of one occurrence, µs: a number or an expression of HostProfile cost
        names, path options and ``size_bytes``.
    count : float or str
        Occurrences per I/O (``per="io"``), per batch (``per="batch"``) or, at a ``lock``
        resource, per I/O and per waiting thread (``per="waiter"``): a number, or an
        expression of the path's options and the workload's names (``read_frac``,
        ``write_frac``, ...) where the workload decides how often the hop happens
        (each buffered write Firecracker's Async engine completes wakes its event loop).
    per : {"io", "batch", "waiter"}
        ``"batch"``: once per batch of requests (one kick, one interrupt). ``"waiter"``: the
        time passing a contended lock grows with the threads waiting there: ``count`` times
        per I/O the cost is paid once per thread waiting at the same lock, a number the
        solution finds (:mod:`iovmodel.solve.locks`); nothing at zero load.
    switch : str or None
        Mode-switch kind: one of ``SWITCH_KINDS`` (None = ``"none"``).
    scv : float or str
        Squared coefficient of variation of the hop's time (1 exponential, 0 deterministic):
        a number or an expression of HostProfile names (``"device_scv"``); by default the
        host's ``hop_scv`` (1, exponential, in the default profile).
    cpu : {"guest", "host", "none"} or None
        Whose CPU the time is; None takes the resource's default.
    when : str or None
        Condition on the path options (``"posted_interrupts"``); the hop exists only when true.
    holds : str or None
        A resource whose server the hop holds while it queues for and is served at its own
        ``resource`` (simultaneous resource possession): QEMU emulates an exit's register
        access on the exiting vCPU's thread, which waits for the global mutex and runs no
        guest code meanwhile, so those hops say ``holds = "vcpu"``
        (:mod:`iovmodel.solve.holding`). None: the hop holds only its own resource.
    after_pass : bool
        The back-end runs the hop after its pass over the ring has found it empty and
        re-armed notifications (Firecracker's event loop submits its Async engine's requests
        to io_uring once ``pop_or_enable_notification`` returned nothing, and handles their
        completions in passes of their own): a kick that arrives meanwhile is not
        suppressed, so the hop's time does not grow the batch.
        Load-dependent batching (:mod:`iovmodel.solve.batching`) counts a notified
        station's time inside its passes only. False (the default): inside the pass.
    """

    name: str
    resource: str
    cost: float | str = 0.0
    count: float | str = 1.0
    per: str = "io"
    switch: str | None = None
    scv: float | str = "hop_scv"
    cpu: str | None = None
    when: str | None = None
    holds: str | None = None
    after_pass: bool = False

    def __post_init__(self) -> None:
        where = f"hop {self.name!r}"
        if not isinstance(self.after_pass, bool):
            raise CatalogError(f"{where}: after_pass must be true or false, got "
                               f"{self.after_pass!r}")
        if self.holds is not None and (not isinstance(self.holds, str) or not self.holds
                                       or self.holds == self.resource):
            raise CatalogError(f"{where}: holds must name another resource than its own "
                               f"({self.resource!r}), got {self.holds!r}")
        if self.holds is not None and (self.per == "waiter" or self.switch == "poll"):
            raise CatalogError(f"{where}: a hop that holds {self.holds!r} cannot be per "
                               f"'waiter' or a poll")
        if self.per not in PER_KINDS:
            raise CatalogError(f"{where}: per must be one of {', '.join(map(repr, PER_KINDS))}, "
                               f"got {self.per!r}")
        if (self.switch or "none") not in SWITCH_KINDS:
            raise CatalogError(f"{where}: switch {self.switch!r} is not one of {SWITCH_KINDS}")
        if self.cpu is not None and self.cpu not in CPU_KINDS:
            raise CatalogError(f"{where}: cpu {self.cpu!r} is not one of {CPU_KINDS}")
        if isinstance(self.count, str):
            if not compile_expr(self.count)[1]:
                raise CatalogError(f"{where}: count {self.count!r} reads no option or workload "
                                   "name; give a constant count as a number")
        else:
            _validate.number(f"{where}: count", self.count, lo=0, error=CatalogError)
        if isinstance(self.scv, str):
            compile_expr(self.scv)
        else:
            _validate.number(f"{where}: scv", self.scv, lo=0, error=CatalogError)
        if isinstance(self.cost, str):
            compile_expr(self.cost)
        else:
            _validate.number(f"{where}: cost (µs, or an expression)", self.cost, lo=0,
                             error=CatalogError)
        if self.when is not None:
            compile_expr(self.when)

    @property
    def switch_kind(self) -> str:
        return self.switch or "none"

    def count_in(self, env: Mapping[str, Any]) -> float:
        """Occurrences (per I/O, batch or waiter as :attr:`per` says) under the names of
        ``env`` (the path's options and the workload's), checked finite and >= 0."""
        if not isinstance(self.count, str):
            return float(self.count)
        n = evaluate(self.count, env)
        if not (n >= 0) or math.isinf(n):
            raise ParameterError(f"hop {self.name!r}: count {self.count!r} evaluates to "
                                 f"{n!r}; it must be finite and >= 0")
        return float(n)

    @property
    def count_text(self) -> str:
        """The count as the catalog states it (a number, or its expression)."""
        if not isinstance(self.count, str):
            return f"{self.count:g}"
        c = self.count.strip()
        return c if c.startswith("(") and c.endswith(")") else f"({c})"


@dataclass(frozen=True)
class Resource:
    """A resource hops hold: its server count and whose CPU its time is."""

    name: str
    servers: float | str = 1
    cpu: str = "host"
    polling: bool = False
    doc: str = ""
    #: one instance per vCPU group (the guest's vCPUs: fio jobs pinned to them), each with
    #: ``servers`` servers, instead of one shared station
    per_group: bool = False
    #: a host thread: while it serves, it needs a host core (``cores`` option)
    thread: bool = False
    #: serves virtqueues: at most one of its threads per queue in use
    per_queue: bool = False
    #: several VMs on one host may share it (a Scenario's ``shared`` resources: a polling
    #: back-end core, an SPDK target, one NVMe); per-VM resources (vCPUs, QEMU's global
    #: mutex, vhost workers) are never shared
    shareable: bool = False
    #: a lock passed between the threads that take it (a spinlock in the guest): a hop with
    #: ``per = "waiter"`` here costs once per thread waiting at it (:mod:`iovmodel.solve.locks`)
    lock: bool = False

    def __post_init__(self) -> None:
        # a name (an option or host cost) or a number; wholeness is the network's check
        if not isinstance(self.servers, str):
            _validate.number(f"resource {self.name!r}: servers", self.servers, lo=1,
                             allow_inf=True, error=CatalogError)


@dataclass(frozen=True, eq=False)
class Path:
    """An I/O path: hops in order on resources, with options.

    Create from the catalog with :func:`path`, or with :meth:`from_hops`.
    ``options`` holds the current option values (``workers``, ``iothreads``,
    ``vcpus``, ``posted_interrupts``, ...); :meth:`with_options` returns a copy.
    """

    name: str
    hop_list: tuple[Hop, ...]
    resources: Mapping[str, Resource]
    options: Mapping[str, Any] = field(default_factory=dict)
    family: str = "custom"
    device: str = ""
    title: str = ""
    description: str = ""
    sources: tuple[str, ...] = ()
    guest_view_rows: tuple[Mapping[str, str], ...] = ()
    #: what stands in for the device where the path has no device hop (the assumptions block)
    device_note: str = ""
    #: most requests the device model lets be in flight at once (PIIX3 IDE: one command);
    #: the rest wait in the guest's block layer before the path's first hop
    inflight: float = math.inf
    #: an in-flight limit that depends on the options or the workload: (expression, condition);
    #: where the condition holds, the expression's value rounded down to whole requests (at
    #: least one) caps ``inflight`` (a virtqueue without indirect descriptors: a request takes
    #: a descriptor per segment, so the ring holds few large requests)
    inflight_rule: tuple[str, str] | None = None
    #: option combinations the implementation refuses: (condition that must hold, why)
    requires: tuple[tuple[str, str], ...] = ()
    #: where the path suppresses notifications under load (virtio EVENT_IDX, NVMe shadow
    #: doorbells with their eventidx): a condition on the options; None: always. Where it
    #: does not hold, ``batching="load"`` keeps the workload's batch (a kick and an
    #: interrupt per submission, whatever the load)
    notify_suppression: str | None = None
    #: the batching a solver uses for this path when none is asked (``batching=None``):
    #: ``"load"`` where the back-end drains its ring in one pass and signals once per pass
    #: (Firecracker's block device, Cloud Hypervisor's virtio-blk worker), so its requests
    #: per kick and per interrupt follow the load; ``"amortised"`` (the workload's batch)
    #: elsewhere
    batching: str = "amortised"
    #: the most interrupts per second the device model raises, and where (a condition on
    #: the options; "": always): e1000's mitigation timers hold them to the guest driver's
    #: throttle rate, so under load one interrupt covers the packets of its interval. None:
    #: no such limit
    irq_max: tuple[float, str] | None = None

    # -- construction -----------------------------------------------------------
    @classmethod
    def from_hops(cls, name: str, hops: Sequence[Hop], servers: Mapping[str, float | str] | None = None,
                  *, polling: Sequence[str] = (), options: Mapping[str, Any] | None = None,
                  family: str = "custom", device: str = "", title: str = "",
                  description: str = "", locks: Sequence[str] = ()) -> Path:
        """Build a custom path.

        ``servers`` maps a resource to its server count (``math.inf`` or ``"inf"`` for a
        delay station); resources not named have one server.  Catalog resources
        (``vcpu``, ``bql``, ``vhost``, ...) keep their catalog definitions unless named.
        ``locks`` names the resources that are locks (a hop there may have
        ``per="waiter"``: :mod:`iovmodel.solve.locks`).
        """
        if not hops:
            raise CatalogError(f"path {name!r} has no hops")
        known = base_resources()
        res = {}
        for h in hops:
            if not isinstance(h, Hop):
                raise CatalogError(f"path {name!r}: {h!r} is not a Hop")
            r = h.resource
            if r in res:
                continue
            if servers and r in servers:
                s = servers[r]
                base = known.get(r, Resource(r))
                res[r] = replace(base, servers=s, polling=r in polling or base.polling)
            else:
                res[r] = known.get(r, Resource(r, polling=r in polling))
            if r in locks:
                res[r] = replace(res[r], lock=True)
        for r in locks:
            if r not in res:
                raise CatalogError(f"path {name!r}: locks names {r!r}, which no hop uses")
        for h in hops:
            if h.per == "waiter" and not res[h.resource].lock:
                raise CatalogError(f"path {name!r}, hop {h.name!r}: per = 'waiter' needs a lock "
                                   f"resource (name it in locks=), not {h.resource!r}")
        for h in hops:
            if h.holds is not None and h.holds not in res:
                raise CatalogError(f"path {name!r}, hop {h.name!r}: holds {h.holds!r}, which no "
                                   f"hop of the path uses")
        for r in (servers or {}):
            if r not in res:
                raise CatalogError(f"path {name!r}: servers names {r!r}, which no hop uses")
        opts = {**COMMON_OPTIONS, **dict(options or {})}
        p = cls(name=name, hop_list=tuple(hops), resources=res, options=opts, family=family,
                device=device, title=title, description=description)
        p._check_names()
        return p

    def _check_names(self) -> None:
        known = set(parameters()) | set(self.options) | set(WORKLOAD_NAMES)
        workload_names = set(self.options) | set(WORKLOAD_NAMES)
        for h in self.hop_list:
            if isinstance(h.count, str):
                unknown = compile_expr(h.count)[1] - workload_names
                if unknown:
                    raise CatalogError(
                        f"path {self.name!r}, hop {h.name!r}: a count reads the options and "
                        f"the workload only; unknown name(s) {', '.join(sorted(unknown))} in "
                        f"{h.count!r}")
            for expr in (h.cost, h.when, h.scv):
                if isinstance(expr, str):
                    unknown = compile_expr(expr)[1] - known
                    if unknown:
                        raise CatalogError(
                            f"path {self.name!r}, hop {h.name!r}: unknown name(s) "
                            f"{', '.join(sorted(unknown))} in {expr!r}")
        if self.notify_suppression is not None:
            unknown = compile_expr(self.notify_suppression)[1] - set(self.options)
            if unknown:
                raise CatalogError(f"path {self.name!r}, notify_suppression: unknown option(s) "
                                   f"{', '.join(sorted(unknown))} in "
                                   f"{self.notify_suppression!r}")
        if self.irq_max is not None and self.irq_max[1]:
            unknown = compile_expr(self.irq_max[1])[1] - set(self.options)
            if unknown:
                raise CatalogError(f"path {self.name!r}, irq_max_when: unknown option(s) "
                                   f"{', '.join(sorted(unknown))} in {self.irq_max[1]!r}")
        for expr in self.inflight_rule or ():
            unknown = compile_expr(expr)[1] - known
            if unknown:
                raise CatalogError(f"path {self.name!r}, inflight: unknown name(s) "
                                   f"{', '.join(sorted(unknown))} in {expr!r}")
        for r in self.resources.values():
            s = r.servers
            if isinstance(s, str) and s != "inf" and s not in self.options and s not in parameters():
                raise CatalogError(f"path {self.name!r}: servers of {r.name!r} is {s!r}, "
                                   "neither an option nor a cost name")

    def with_options(self, **options: Any) -> Path:
        """A copy with some options changed (unknown options raise ParameterError)."""
        if not options:
            return self
        merged = dict(self.options)
        for k, v in options.items():
            if k not in self.options:
                raise ParameterError(f"path {self.name!r} has no option {k!r}; its options: "
                                     f"{', '.join(sorted(self.options)) or '(none)'}")
            merged[k] = _check_option(self.name, k, v, self.options[k])
        _check_requires(self.name, self.requires, merged)
        return replace(self, options=merged)

    # -- evaluation helpers --------------------------------------------------------
    def inflight_limit(self, env: Mapping[str, Any]) -> float:
        """The most requests in flight past the first hop for these names (the path's
        options, the workload's names such as ``size_bytes``, the host's costs): the fixed
        ``inflight``, capped by :attr:`inflight_rule` where its condition holds."""
        if self.inflight_rule is None:
            return self.inflight
        expr, when = self.inflight_rule
        if when and not evaluate(when, env):
            return self.inflight
        v = float(evaluate(expr, env))
        if math.isnan(v):
            raise ParameterError(f"path {self.name!r}: the in-flight limit {expr!r} is NaN")
        if math.isinf(v):
            return self.inflight if v > 0 else 1.0
        return min(self.inflight, max(1.0, math.floor(v)))

    def irq_max_per_s(self) -> float:
        """The most interrupts per second the device model raises with the current options
        (:attr:`irq_max`; ``math.inf``: no limit)."""
        if self.irq_max is None:
            return math.inf
        rate, when = self.irq_max
        return rate if not when or evaluate(when, self.options) else math.inf

    def suppresses_notifications(self) -> bool:
        """Whether, with the current options, the guest and the back-end skip kicks and
        interrupts while the other side is busy (:attr:`notify_suppression`): the condition
        for ``batching="load"`` to grow the batch with the load."""
        if self.notify_suppression is None:
            return True
        return bool(evaluate(self.notify_suppression, self.options))

    def active_hops(self) -> tuple[Hop, ...]:
        """Hops whose ``when`` condition holds for the current options."""
        return tuple(h for h in self.hop_list
                     if h.when is None or bool(evaluate(h.when, self.options)))

    def servers_of(self, resource: str, host: Mapping[str, float]) -> float:
        """Number of servers of a resource under these options and host."""
        s = self.resources[resource].servers
        if isinstance(s, str):
            if s == "inf":
                return math.inf
            s = self.options[s] if s in self.options else host[s]
            if isinstance(s, str):
                s = math.inf if s == "inf" else float(s)
        s = float(s)
        if not (s >= 1):
            raise ParameterError(f"path {self.name!r}: resource {resource!r} needs >= 1 server, got {s}")
        return s

    def cpu_of(self, hop: Hop) -> str:
        return hop.cpu or self.resources[hop.resource].cpu

    # -- presentation -------------------------------------------------------------
    @property
    def hops(self) -> pd.DataFrame:
        """The hops as a table: hop, resource, switch, count, per, cost, scv, cpu."""
        rows = [{"hop": h.name, "resource": h.resource, "switch": h.switch_kind, "count": h.count,
                 "per": h.per, "cost": h.cost, "scv": h.scv, "cpu": self.cpu_of(h)}
                for h in self.active_hops()]
        return pd.DataFrame(rows, columns=["hop", "resource", "switch", "count", "per", "cost",
                                           "scv", "cpu"])

    def mode_switches(self, batch: int = 1, workload: Any = None) -> pd.DataFrame:
        """Mode switches per I/O: VM exits (incl. hypercalls), exits to userspace,
        host syscalls, thread wake-ups and interrupt injections.

        One row (indexed by the path name); per-batch hops count ``1/batch``. ``workload``
        (a :class:`~iovmodel.Workload`; default a 4 KiB random read) gives the names a
        hop's count may read (``write_frac``: Firecracker's Async engine signals each
        buffered write on its own).
        """
        from .workload import Workload

        w = Workload.closed(1, 1) if workload is None else workload
        env = {**self.options, **w.cost_names()}
        counts = dict.fromkeys(SWITCH_COLUMNS, 0.0)
        for h in self.active_hops():
            c = h.count_in(env)
            n = c / batch if h.per == "batch" else 0.0 if h.per == "waiter" else c
            for col, kinds in SWITCH_COLUMNS.items():
                if h.switch_kind in kinds:
                    counts[col] += n
        return pd.DataFrame([counts], index=pd.Index([self.name], name="path"))

    @property
    def guest_view(self) -> pd.DataFrame:
        """The devices the guest sees: bus, id (vendor:device), class, driver, name."""
        return pd.DataFrame(list(self.guest_view_rows),
                            columns=["bus", "id", "class", "driver", "name"])

    def summary(self) -> str:
        lines = [f"{self.name}: {self.title}".rstrip(": "), self.description]
        opts = ", ".join(f"{k}={v}" for k, v in self.options.items())
        lines.append(f"options: {opts}")
        for h in self.active_hops():
            lines.append(f"  {h.name:<48} {h.resource:<9} {h.switch_kind:<10} "
                         f"x{h.count_text}/{h.per:<5} {h.cost}")
        return "\n".join(x for x in lines if x)

    def __repr__(self) -> str:
        opts = ", ".join(f"{k}={v}" for k, v in self.options.items()
                         if not (k in COMMON_OPTIONS and v == math.inf))
        return f"<Path {self.name!r} ({self.family}, {len(self.active_hops())} hops{', ' + opts if opts else ''})>"

    def _repr_html_(self) -> str:
        esc = html.escape
        rows = "".join(
            f"<tr><td>{esc(h.name)}</td><td>{esc(h.resource)}</td><td>{esc(h.switch_kind)}</td>"
            f"<td>{esc(h.count_text)} / {esc(h.per)}</td><td><code>{esc(str(h.cost))}</code></td></tr>"
            for h in self.active_hops())
        batch = ("<br><small>batch: follows the load, one kick and one interrupt per pass of "
                 "the back-end (batching='amortised' takes the workload's)</small>"
                 if self.batching == "load" else "")
        return (f"<div><b>{esc(self.name)}</b> — {esc(self.title)}<br><small>{esc(self.description)}</small>"
                f"{batch}<table><tr><th>hop</th><th>resource</th><th>switch</th><th>count</th><th>cost (µs)</th></tr>"
                f"{rows}</table></div>")


#: the words a word-valued option takes (``aio``: QEMU's I/O engines, ``cache``: its cache
#: modes), declared in a catalog's ``[choices]`` table
CHOICES: dict[str, tuple[str, ...]] = {}


def _check_option(path_name: str, key: str, value: Any, default: Any) -> Any:
    if isinstance(default, str) and default != "inf":
        valid = CHOICES.get(key, ())
        if not isinstance(value, str) or value not in valid:
            raise ParameterError(f"path {path_name!r}: option {key!r} must be one of "
                                 f"{', '.join(map(repr, valid))}, got {value!r}")
        return value
    if isinstance(default, bool):
        if not isinstance(value, bool | int) or value not in (0, 1, True, False):
            raise ParameterError(f"path {path_name!r}: option {key!r} must be true/false, got {value!r}")
        return bool(value)
    if value == "inf":
        return math.inf
    v = _validate.number(f"path {path_name!r}: option {key!r}", value, lo=1, integer=True,
                         allow_inf=True)
    return math.inf if math.isinf(v) else v


def _check_requires(name: str, requires: Sequence[tuple[str, str]],
                    options: Mapping[str, Any]) -> None:
    env = {"inf": math.inf, **options}  # "queues == inf": one per vCPU, QEMU's auto default
    for cond, why in requires:
        if not evaluate(cond, env):
            opts = ", ".join(f"{k}={options[k]!r}" for k in sorted(compile_expr(cond)[1])
                             if k in options)
            raise ParameterError(f"path {name!r}: options {opts} are refused: {why}")


# -- catalog files ----------------------------------------------------------------------
RESOURCE_KEYS = ("servers", "cpu", "polling", "doc", "per_group", "thread", "per_queue",
                 "shareable", "lock")
#: options every path has (a path's own value, else these): the guest's vCPUs (inf: a CPU for
#: every request; every bundled catalog path states vcpus = 1, the default guest documented in
#: data/catalog.toml, so this inf is for paths built with Path.from_hops or a user's catalog
#: entry without the option), the host cores its threads share (inf: a core for every thread),
#: virtqueues (inf: one per vCPU, QEMU >= 5.2's num-queues default for virtio-blk/-scsi)
COMMON_OPTIONS = {"vcpus": math.inf, "cores": math.inf}


def _resource(name: str, r: Mapping[str, Any]) -> Resource:
    extra = set(r) - set(RESOURCE_KEYS)
    if extra:
        raise CatalogError(f"resource {name!r}: unknown field(s) {', '.join(sorted(extra))}; "
                           f"valid: {', '.join(RESOURCE_KEYS)}")
    return Resource(name, servers=r.get("servers", 1), cpu=r.get("cpu", "host"),
                    polling=bool(r.get("polling", False)), doc=r.get("doc", ""),
                    per_group=bool(r.get("per_group", False)), thread=bool(r.get("thread", False)),
                    per_queue=bool(r.get("per_queue", False)),
                    shareable=bool(r.get("shareable", False)), lock=bool(r.get("lock", False)))


def _parse_catalog(doc: dict, origin: str, base_res: Mapping[str, Resource]) -> dict[str, Path]:
    if doc.get("format_version") != FORMAT_VERSION:
        raise CatalogError(f"{origin}: format_version must be {FORMAT_VERSION}, got {doc.get('format_version')!r}")
    res = dict(base_res)
    choices = doc.get("choices", {})
    if not isinstance(choices, dict) or not all(
            isinstance(v, list) and v and all(isinstance(x, str) for x in v)
            for v in choices.values()):
        raise CatalogError(f"{origin}: [choices] maps an option to a list of words")
    for k, v in choices.items():
        CHOICES[k] = tuple(dict.fromkeys((*CHOICES.get(k, ()), *v)))
    for rname, r in doc.get("resource", {}).items():
        try:
            res[rname] = _resource(rname, r)
        except AttributeError:
            raise CatalogError(f"{origin}: resource {rname!r} must be a table") from None
        if res[rname].cpu not in CPU_KINDS:
            raise CatalogError(f"{origin}: resource {rname!r} cpu must be one of {CPU_KINDS}")
    out = {}
    for i, entry in enumerate(doc.get("path", []), 1):
        pname = entry.get("name")
        where = f"{origin}: path #{i} ({pname!r})"
        if not pname or not isinstance(pname, str):
            raise CatalogError(f"{origin}: path #{i} has no name")
        hops = []
        for j, h in enumerate(entry.get("hop", []), 1):
            extra = set(h) - {"name", "resource", "cost", "count", "per", "switch", "scv", "cpu",
                              "when", "holds", "after_pass"}
            if extra:
                raise CatalogError(f"{where}, hop #{j}: unknown field(s) {', '.join(sorted(extra))}")
            if "name" not in h or "resource" not in h:
                raise CatalogError(f"{where}, hop #{j}: needs name and resource")
            if h["resource"] not in res:
                raise CatalogError(f"{where}, hop {h['name']!r}: unknown resource {h['resource']!r}; "
                                   f"declare it in [resource.{h['resource']}]")
            if "holds" in h and h["holds"] not in res:
                raise CatalogError(f"{where}, hop {h['name']!r}: holds unknown resource "
                                   f"{h['holds']!r}; declare it in [resource.{h['holds']}]")
            try:
                hops.append(Hop(**h))
            except (CatalogError, TypeError) as exc:
                raise CatalogError(f"{where}: {exc}") from None
            if hops[-1].per == "waiter" and not res[h["resource"]].lock:
                raise CatalogError(f"{where}, hop {h['name']!r}: per = 'waiter' needs a lock "
                                   f"resource (lock = true), not {h['resource']!r}")
        if not hops:
            raise CatalogError(f"{where}: no [[path.hop]] entries")
        used = {h.resource for h in hops}
        for h in hops:
            if h.holds is not None and h.holds not in used:
                raise CatalogError(f"{where}, hop {h.name!r}: holds {h.holds!r}, which no hop "
                                   f"of the path uses")
        opts = {}
        for k, v in dict(entry.get("options", {})).items():
            opts[k] = v if isinstance(v, bool) else _check_option(pname, k, v, v)
        for k, v in COMMON_OPTIONS.items():
            opts.setdefault(k, v)
        inflight = entry.get("inflight", math.inf)
        rule = None
        if isinstance(inflight, str):  # an expression of the options and the workload
            compile_expr(inflight)
            when = entry.get("inflight_when", "")
            if not isinstance(when, str):
                raise CatalogError(f"{where}: inflight_when must be a condition (a string)")
            if when:
                compile_expr(when)
            rule, inflight = (inflight, when), math.inf
        elif "inflight_when" in entry:
            raise CatalogError(f"{where}: inflight_when goes with an inflight expression")
        if isinstance(inflight, bool) or not isinstance(inflight, int | float) \
                or not (inflight >= 1 and (math.isinf(inflight) or inflight == int(inflight))):
            raise CatalogError(f"{where}: inflight must be a whole number >= 1 or an "
                               f"expression, got {inflight!r}")
        suppression = entry.get("notify_suppression")
        if suppression is not None:
            if not isinstance(suppression, str) or not suppression.strip():
                raise CatalogError(f"{where}: notify_suppression must be a condition on the "
                                   f"options (a string), got {suppression!r}")
            compile_expr(suppression)
        batching = entry.get("batching", "amortised")
        if batching not in ("amortised", "load"):
            raise CatalogError(f"{where}: batching must be 'amortised' or 'load', got "
                               f"{batching!r}")
        irq_max = None
        if "irq_max_per_s" in entry:
            rate, when = entry["irq_max_per_s"], entry.get("irq_max_when", "")
            if isinstance(rate, bool) or not isinstance(rate, int | float) or not rate > 0:
                raise CatalogError(f"{where}: irq_max_per_s must be a number > 0 (interrupts "
                                   f"per second), got {rate!r}")
            if not isinstance(when, str):
                raise CatalogError(f"{where}: irq_max_when must be a condition (a string)")
            if when:
                compile_expr(when)
            irq_max = (float(rate), when)
        elif "irq_max_when" in entry:
            raise CatalogError(f"{where}: irq_max_when goes with irq_max_per_s")
        requires = []
        for r in entry.get("requires", ()):
            if not (isinstance(r, dict) and set(r) == {"condition", "why"}):
                raise CatalogError(f"{where}: each requires entry is {{ condition = ..., why = ... }}")
            compile_expr(r["condition"])
            requires.append((r["condition"], r["why"]))
        used = {h.resource for h in hops}
        p = Path(name=pname, hop_list=tuple(hops), resources={r: res[r] for r in res if r in used},
                 options=opts, family=entry.get("family", "custom"), device=entry.get("device", ""),
                 title=entry.get("title", ""), description=entry.get("description", ""),
                 sources=tuple(entry.get("sources", ())),
                 guest_view_rows=tuple(entry.get("guest_view", ())),
                 device_note=entry.get("device_note", ""), inflight=float(inflight),
                 inflight_rule=rule, notify_suppression=suppression, irq_max=irq_max,
                 requires=tuple(requires), batching=batching)
        try:
            p._check_names()
            _check_requires(pname, p.requires, p.options)
        except (CatalogError, ParameterError) as exc:
            raise CatalogError(f"{origin}: {exc}") from None
        if pname in out:
            raise CatalogError(f"{origin}: path {pname!r} is declared twice")
        out[pname] = p
    return out


@cache
def _builtin() -> tuple[dict[str, Path], dict[str, Resource]]:
    text = resources.files("iovmodel").joinpath("data", CATALOG_FILE).read_text("utf-8")
    doc = tomllib.loads(text)
    paths = _parse_catalog(doc, CATALOG_FILE, {})
    res = {r: _resource(r, v) for r, v in doc.get("resource", {}).items()}
    return paths, res


def base_resources() -> dict[str, Resource]:
    """The resources declared by the bundled catalog."""
    return dict(_builtin()[1])


_user_paths: dict[str, Path] = {}


def load_catalog(file: str | os.PathLike, *, replace_existing: bool = False) -> list[str]:
    """Add the paths of a user catalog file (same TOML format as the bundled one).

    Returns the names added.  A name that already exists raises CatalogError
    unless ``replace_existing``.
    """
    text = _validate.read_text(file, "catalog file", error=CatalogError)
    f = FsPath(file)
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise CatalogError(f"{f}: not valid TOML ({exc})") from None
    try:
        new = _parse_catalog(doc, str(f), base_resources())
    except CatalogError:
        raise
    except (ParameterError, AttributeError, TypeError, ValueError, KeyError) as exc:
        # a table where a list belongs (`[path]`), a number where a table belongs
        # (`resource = 5`), `servers = [1]`, ...: the file is malformed, whatever broke
        raise CatalogError(f"{f}: malformed catalog ({type(exc).__name__}: {exc}); see the "
                           "bundled iovmodel/data/catalog.toml for the format") from None
    existing = set(_builtin()[0]) | set(_user_paths)
    clash = sorted(set(new) & existing)
    if clash and not replace_existing:
        raise CatalogError(f"{f}: path(s) {', '.join(clash)} already exist; pass replace_existing=True")
    _user_paths.update(new)
    return list(new)


def register(p: Path, *, replace_existing: bool = False) -> None:
    """Make a custom Path available by name to :func:`path` and :func:`paths`."""
    if not replace_existing and (p.name in _builtin()[0] or p.name in _user_paths):
        raise CatalogError(f"path {p.name!r} already exists; pass replace_existing=True")
    _user_paths[p.name] = p


def _all() -> dict[str, Path]:
    return {**_builtin()[0], **_user_paths}


def path_names() -> list[str]:
    return list(_all())


def path(name: str | Path, **options: Any) -> Path:
    """A catalog path by name, with options (``path("vhost-scsi", workers=4)``)."""
    if isinstance(name, Path):
        return name.with_options(**options)
    if not isinstance(name, str):
        raise ParameterError(f"path must be a catalog name (str) or a Path, got "
                             f"{type(name).__name__} {name!r}")
    catalog = _all()
    if name not in catalog:
        import difflib

        close = difflib.get_close_matches(str(name), catalog, n=3)
        hint = f" Did you mean {', '.join(close)}?" if close else ""
        raise UnknownPathError(f"unknown path {name!r}.{hint} Valid paths: {', '.join(catalog)}")
    return catalog[name].with_options(**options)


def paths() -> pd.DataFrame:
    """The catalog, one row per path: name, family, device, title, hops, options, resources."""
    rows = []
    for p in _all().values():
        ms = p.mode_switches().iloc[0]
        rows.append({
            "name": p.name, "family": p.family, "device": p.device, "title": p.title,
            "hops": len(p.active_hops()),
            "resources": ", ".join(p.resources),
            "options": ", ".join(f"{k}={v}" for k, v in p.options.items()),
            **{k: float(ms[k]) for k in SWITCH_COLUMNS},
        })
    return pd.DataFrame(rows)
