"""Several VMs on one host: :class:`Guest` (a kind of VM, ``count`` of them) and
:class:`Scenario` (the guests, the host's cores, the back-end resources they share).

Each VM is its own QEMU (or other VMM) process: its vCPUs, its global mutex (``bql``), its
iothreads and vhost workers are its own. What VMs share is named in ``Scenario.shared``:
a resource the paths declare ``shareable`` in the catalog (a busy-polling back-end core
such as an OVS-DPDK PMD or an SPDK target's reactors, a back-end thread, the device), with
the number of servers (threads, cores, device slots) the shared instance has. Every thread
of every VM and of the shared back-end runs on the host's ``cores``.

``iov.analyze(scenario)`` solves it (:mod:`iovmodel.solve.consolidation`);
``iov.sweep(scenario, vms=[1, 2, 4, ...])`` scales every guest's count.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from .. import _validate
from ..errors import ParameterError
from .catalog import Path
from .catalog import path as get_path
from .profile import HostProfile, as_host
from .workload import Workload


@dataclass(frozen=True)
class Guest:
    """A kind of VM on the host and how many of them run.

    Parameters
    ----------
    path : str or Path
        Its I/O path (a catalog name or a Path).
    workload : Workload
        What each VM of this kind runs (closed: ``jobs x iodepth`` requests in flight per
        VM). Default: one job at iodepth 1.
    count : int
        How many identical VMs (>= 1).
    vcpus : int or inf, optional
        vCPUs per VM (the path's ``vcpus`` option); None keeps the path's.
    options : mapping, optional
        Other path options (``workers``, ``queues``, ``polling``, ...).
    name : str, optional
        A label (default: the path's name).
    busy_poll : bool
        The guest completes its I/O by polling (io_uring ``hipri``, SPDK's NVMe driver in the
        guest): its vCPUs in use spin whatever the load, like a busy-polling back-end.
    """

    path: str | Path
    workload: Workload = field(default_factory=lambda: Workload.closed(1, 1))
    count: int = 1
    vcpus: float | None = None
    options: Mapping[str, Any] = field(default_factory=dict)
    name: str = ""
    busy_poll: bool = False

    def __post_init__(self) -> None:
        if not isinstance(self.busy_poll, bool):
            raise ParameterError(f"guest {self.name or self.path!r}: busy_poll must be True or "
                                 f"False, got {self.busy_poll!r}")
        if isinstance(self.count, bool) or not isinstance(self.count, numbers.Real) \
                or not math.isfinite(self.count) or self.count != int(self.count) \
                or self.count < 1:
            raise ParameterError(f"guest {self.name or self.path!r}: count must be a whole "
                                 f"number of VMs >= 1, got {self.count!r}")
        object.__setattr__(self, "count", int(self.count))
        if not isinstance(self.workload, Workload):
            raise ParameterError(f"guest {self.name or self.path!r}: workload must be a "
                                 f"Workload, got {type(self.workload).__name__} "
                                 f"{self.workload!r:.80}")
        if self.workload.is_open:
            raise ParameterError(f"guest {self.name or self.path!r}: a scenario takes closed "
                                 f"workloads (jobs x iodepth per VM), got {self.workload!r}")
        if not isinstance(self.options, Mapping):
            raise ParameterError(f"guest {self.name or self.path!r}: options must be a "
                                 f"mapping, got {self.options!r}")
        opts = dict(self.options)
        if self.vcpus is not None:
            _validate.number("vcpus", self.vcpus, lo=1, integer=True, allow_inf=True)
            opts["vcpus"] = self.vcpus
        p = self.path if isinstance(self.path, Path) else get_path(self.path)
        p = p.with_options(**opts)  # unknown options raise here, naming the path
        object.__setattr__(self, "path", p)
        object.__setattr__(self, "options", dict(opts))
        if not self.name:
            object.__setattr__(self, "name", p.name)


@dataclass(frozen=True)
class Scenario:
    """N guests on one host.

    Parameters
    ----------
    guests : sequence of Guest
        At least one.
    host : HostProfile, optional
        Costs (default :meth:`HostProfile.default`).
    cores : int or inf
        Host cores every thread shares (vCPU threads, QEMU main loops and iothreads, vhost
        workers, back-end threads); busy-polling back-end threads hold theirs. ``inf``: a
        core for every thread. With ``threads_per_core`` > 1 these are the hardware threads
        (logical CPUs, as ``nproc`` counts them).
    threads_per_core : int
        Hardware threads per physical core (SMT, Intel Hyper-Threading: 2). Two busy threads
        on one core share it: with contention on, a thread's work runs slower once the busy
        threads outnumber the physical cores (``smt_yield``,
        :mod:`iovmodel.solve.consolidation`). Default 1: every core is a physical core.
    shared : mapping of str to int
        Resources all VMs share, with the servers of the shared instance:
        ``{"backend": 1}`` (one polling core for every VM), ``{"backend": 10,
        "device": 128}``. Only resources a guest's path declares ``shareable`` (catalog)
        may be shared. A resource not named here is one instance per VM.
    contention : bool
        Model contention as load-dependent service (:mod:`iovmodel.solve.consolidation`):
        lock hand-off growing with the waiters, a polling core's scan over the queues it
        polls, context switches when threads outnumber cores. False: plain queueing.
    name : str
    """

    guests: Sequence[Guest]
    host: HostProfile | None = None
    cores: float = math.inf
    shared: Mapping[str, float] = field(default_factory=dict)
    contention: bool = True
    name: str = "scenario"
    threads_per_core: int = 1

    def __post_init__(self) -> None:
        g = self.guests
        if isinstance(g, Guest):
            g = (g,)
        if isinstance(g, str | bytes) or not isinstance(g, Sequence):
            raise ParameterError(f"guests must be a sequence of Guest, got {g!r:.80}")
        g = tuple(g)
        if not g:
            raise ParameterError("a scenario needs at least one guest, got guests=() (empty)")
        for x in g:
            if not isinstance(x, Guest):
                raise ParameterError(f"guests must be Guest objects, got "
                                     f"{type(x).__name__} {x!r:.80}")
        object.__setattr__(self, "guests", g)
        object.__setattr__(self, "host", as_host(self.host))
        c = _validate.number("cores", self.cores, lo=1, integer=True, allow_inf=True)
        object.__setattr__(self, "cores", float(c))
        t = _validate.number("threads_per_core", self.threads_per_core, lo=1, integer=True)
        if math.isfinite(c) and c % t:
            raise ParameterError(f"cores ({c:g} hardware threads) must be a whole number of "
                                 f"physical cores of threads_per_core={t:g} threads each")
        object.__setattr__(self, "threads_per_core", int(t))
        if not isinstance(self.contention, bool):
            raise ParameterError(f"contention must be True or False, got {self.contention!r}")
        if not isinstance(self.shared, Mapping):
            raise ParameterError(f"shared must be a mapping resource -> servers, got "
                                 f"{self.shared!r}")
        shared = {}
        for r, n in self.shared.items():
            shared[r] = float(_validate.number(f"shared[{r!r}] servers", n, lo=1, integer=True,
                                               allow_inf=True))
            users = [x for x in g if r in {h.resource for h in x.path.active_hops()}]
            if not users:
                raise ParameterError(f"shared resource {r!r} is used by no guest's path "
                                     f"({', '.join(sorted({x.path.name for x in g}))})")
            for x in users:
                res = x.path.resources[r]
                if not res.shareable:
                    ok = sorted(k for k, v in x.path.resources.items() if v.shareable)
                    raise ParameterError(
                        f"resource {r!r} of path {x.path.name!r} is not shareable between "
                        f"VMs (each VM has its own; shareable ones: {', '.join(ok) or 'none'})")
        object.__setattr__(self, "shared", shared)
        # busy-polling shared threads hold their cores: they cannot outnumber them
        if math.isfinite(self.cores):
            polling = sum(n for r, n in shared.items()
                          if any(r in x.path.resources and x.path.resources[r].polling
                                 for x in g))
            threads = sum(n for r, n in shared.items()
                          if any(r in x.path.resources and x.path.resources[r].thread
                                 for x in g))
            if threads > self.cores or polling >= self.cores:
                raise ParameterError(
                    f"the shared back-end has {threads:g} thread(s) ({polling:g} busy-polling) "
                    f"but the host has {self.cores:g} core(s): back-end threads must be "
                    "fewer than the cores (polling ones hold theirs, leaving none for the VMs)")

    @property
    def vms(self) -> int:
        """Total VMs."""
        return int(sum(x.count for x in self.guests))

    def with_vms(self, n: int) -> Scenario:
        """The same scenario with ``n`` VMs of each guest kind."""
        n = _validate.number("vms", n, lo=1, integer=True)
        return replace(self, guests=tuple(replace(x, path=x.path, count=int(n))
                                          for x in self.guests))

    def replace(self, **changes: Any) -> Scenario:
        return replace(self, **changes)

    def __repr__(self) -> str:
        kinds = ", ".join(f"{x.count} x {x.name}" for x in self.guests)
        cores = "inf" if math.isinf(self.cores) else f"{self.cores:g}"
        if self.threads_per_core > 1:
            cores += f" ({self.threads_per_core} per core)"
        shared = ", ".join(f"{r}={n:g}" for r, n in self.shared.items()) or "none"
        return f"Scenario({kinds}; cores={cores}; shared: {shared})"
