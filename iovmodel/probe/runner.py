"""Run the probe's experiments on ``/dev/kvm``: :func:`run`.

The rows are shaped by :mod:`.results`; :mod:`.costs` maps them to
:class:`iovmodel.HostProfile` cost names.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time
import warnings
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace

import numpy as np
import pandas as pd

from .. import _validate
from ..errors import IovModelWarning, ParameterError, ProbeError
from . import _helper
from .kvm import detect
from .results import _Collector


class ProbeWarning(IovModelWarning):
    """One probe experiment failed; the others ran and their rows are returned."""


PORT_KICK = 0x30  # ioeventfd port of iovprobe.c
PORT_PIC = 0x21  # in-kernel PIC mask register
LOOP_K = 100  # guest loop iterations per KVM_RUN for per-operation differences
#: a guest whose compute loop takes longer than this per iteration is being emulated
EMULATED_NS_PER_ITER = 20.0
GUESTS = ("real", "long")
MUTEX_VCPUS = (1, 2, 4, 8)
MUTEX_HOLD_US = (0.0, 1.0, 5.0, 20.0)


@dataclass(frozen=True)
class _Plan:
    repeats: int
    n_host: int       # samples of host-only micro-benchmarks
    n_exit: int       # samples of exit round trips
    n_loop: int       # samples of K-iteration guest loops
    n_wake: int       # samples of wake-up experiments
    n_idle: int       # samples of idle-CPU wake-ups (1 ms apart)
    n_irq: int
    k_regime: int     # iterations of the long compute loop
    n_regime: int
    slice_s: float
    cpu_s: float      # CPU-availability check around the mutex grid
    mutex_s: float
    mutex_warm_s: float
    pc_pages: int     # size of the page-cache file, 4 KiB pages
    n_pc: int         # samples of page-cache reads and writes
    n_tap: int = 20_000  # samples of frame writes into a tap


FULL = _Plan(repeats=3, n_host=100_000, n_exit=3000, n_loop=600, n_wake=2000, n_idle=300,
             n_irq=400, k_regime=4000, n_regime=30, slice_s=0.5, cpu_s=0.2, mutex_s=0.3,
             mutex_warm_s=0.05, pc_pages=16384, n_pc=20_000)
QUICK = _Plan(repeats=2, n_host=20_000, n_exit=800, n_loop=150, n_wake=400, n_idle=60,
              n_irq=100, k_regime=2000, n_regime=10, slice_s=0.2, cpu_s=0.1, mutex_s=0.06,
              mutex_warm_s=0.02, pc_pages=4096, n_pc=4000, n_tap=4000)

def filesystem_of(path: str | os.PathLike) -> str:
    """The file-system type holding ``path`` (from ``/proc/self/mounts``), or "unknown"."""
    target = os.path.realpath(path)
    best, kind = "", "unknown"
    try:
        with open("/proc/self/mounts", encoding="utf-8") as fh:
            for line in fh:
                parts = line.split()
                if len(parts) < 3:
                    continue
                mnt = parts[1].replace("\\040", " ")
                inside = target == mnt or target.startswith(mnt.rstrip("/") + "/")
                if inside and len(mnt) >= len(best):
                    best, kind = mnt, parts[2]
    except OSError:
        pass
    return kind


def _check_forwarded(o, key: str, what: str) -> None:
    """Refuse a tap-write run whose frames did not all reach the far tap: what that tap
    neither sent nor dropped (``KEY_forwarded``) is still in its queue (``KEY_queue_len``)."""
    fwd, sent, qlen = (int(o.values.get(f"{key}_{k}", -1))
                       for k in ("forwarded", "written", "queue_len"))
    if fwd < 0 or qlen < 0 or fwd + qlen < sent:
        raise ProbeError(f"{what} passed {fwd} of {sent} frames to the far tap (whose queue "
                         f"holds {qlen}); the timings would not include the forwarding")


def _bridge_netfilter() -> str:
    """Whether bridged IPv4 frames pass iptables here (br_netfilter), as a phrase."""
    try:
        with open("/proc/sys/net/bridge/bridge-nf-call-iptables", encoding="utf-8") as fh:
            on = fh.read().strip() == "1"
    except OSError:
        return "br_netfilter not loaded"
    return ("br_netfilter loaded, bridged IPv4 passes iptables" if on
            else "br_netfilter loaded, bridge-nf-call-iptables off")


def _cpus_obtained(o: _helper.HelperOutput) -> float:
    """CPUs' worth of time that 2P spinning threads obtained (P on an idle host)."""
    return int(o.values["oncpu_ns"]) / max(int(o.values["elapsed_ns"]), 1)


def _add_cpu_available(col: _Collector, avail: list[float], guest: str,
                       guest_exec: str = "") -> None:
    who = ("2 vCPU threads per CPU looping exits, before and after the mutex experiment"
           if guest else "2 threads per CPU spinning, at the start")
    col.add("host-cpu-available", "cpu_util_pct", 100.0 * float(np.mean(avail)), "%",
            stat="mean", spread=100.0 * float(np.ptp(avail)), runs=len(avail),
            samples=len(avail), guest=guest, guest_exec=guest_exec,
            note=f"CPU time obtained by {who}, in percent of one core: the capacity other "
            "load leaves on this host (100 x CPUs when idle)")


#: limit of a whole run, seconds (``deadline_s`` default): --quick, and the full run
QUICK_DEADLINE_S = 25.0
FULL_DEADLINE_S = 300.0


class _DeadlineHit(ProbeError):
    """The run's deadline passed: the remaining steps are skipped."""


def _limit(expected_s: float) -> float:
    """Hard time limit of one helper run: generous, but bounded."""
    return round(3.0 * expected_s + 3.0, 1)


def run(quick: bool = False, *, guests: Sequence[str] = GUESTS,
        mutex_vcpus: Iterable[int] = MUTEX_VCPUS,
        mutex_hold_us: Iterable[float] = MUTEX_HOLD_US, repeats: int | None = None,
        mutex_seconds: float | None = None, device: str = "/dev/kvm",
        progress: bool = False, deadline_s: float | None = None) -> pd.DataFrame:
    """Measure this host's I/O-virtualization hop costs through ``/dev/kvm``.

    A tiny VM is built straight from KVM ioctls by a compiled helper (see
    :mod:`iovmodel.probe._helper`); the guest runs a few instructions and the VMM side
    times each hop.  Every experiment is repeated ``repeats`` times (each in its own
    process, with a hard time limit) after a warm-up; the value is computed over the
    pooled samples and ``spread`` is the range of the per-run values.

    What is measured (``path`` column), per guest mode where it says *guest*:

    ==========================  ==============================================================
    harness-empty               two consecutive clock reads: the timing overhead in every sample
    host-syscall                ``getppid()``: a trivial system call
    host-mutex-uncontended      ``pthread_mutex_lock`` + ``unlock``, one thread
    eventfd-write               the waker's ``write()`` to an eventfd nobody sleeps on
    eventfd-write-waking        the same ``write()`` when it wakes a thread blocked in ``read()``
    eventfd-wake-blocked        write -> a thread blocked in ``read()`` runs (it slept ~20 µs)
    eventfd-wake-idle           the same after the reader's CPU idled 1 ms
    eventfd-wake-epoll          write -> a thread blocked in ``epoll_wait()`` has read it
    eventfd-wake-polling        write -> a thread busy-polling ``read()`` sees it
    sched-run-length            how long a CPU-bound thread keeps its CPU (2P spinning threads)
    sched-preempt-gap           how long such a thread then waits off-CPU
    pagecache-read              ``pread()`` of 4 KiB from a page-cached file (random offsets)
    pagecache-write             ``pwrite()`` of 4 KiB to it, its pages clean: a page made dirty
    tap-write-null              ``write()`` of a 60-byte frame to ``/dev/null``: syscall + copy
    tap-write-drop              the frame written into a tap, dropped by the host's IP layer
    tap-write-bridge            the frame written into a tap on a Linux bridge, forwarded to a
                                second tap (needs ``/dev/net/tun`` and CAP_NET_ADMIN; the step
                                fails with a warning without them)
    tap-write-podnet            the frame written into a tap on a pod bridge, through a veth
                                pair, a node bridge and a second veth pair and pod bridge to a
                                second tap: a pod network's bridge binding between two VMs on
                                one node, in a network namespace of the probe's own (needs
                                CAP_SYS_ADMIN and the veth driver too)
    tap-write-route             an IPv4 frame written into a tap, routed to a second tap, in a
                                network namespace of the probe's own (needs CAP_SYS_ADMIN too)
    tap-write-nat               the same with an nftables masquerade rule on the second tap:
                                conntrack + source NAT (needs ``nft``; without it, a warning)
    host-cpu-available          CPU time those 2P threads obtained (``cpu_util_pct``): the
                                capacity other load leaves; these three are measured again
                                per guest with 2P vCPU threads around the mutex grid
    kvm-run-ioctl (guest)       ``KVM_RUN`` returning at once (``immediate_exit``)
    pio-exit-user (guest)       guest ``out`` -> exit to this VMM -> re-entry, round trip
    mmio-write-exit-user        guest store to unbacked memory -> ``KVM_EXIT_MMIO``, round trip
    mmio-read-exit-user         guest load from it (the VMM supplies the data)
    pio-exit-kernel (guest)     guest ``in`` from the in-kernel PIC, per access (loop difference)
    ioeventfd-kick (guest)      guest ``out`` to an ioeventfd port, per kick (loop difference)
    kick-to-wake-blocked        from ``KVM_RUN`` to a backend blocked in ``read()`` seeing the kick
    kick-to-wake-epoll          the same for a backend blocked in ``epoll_wait()``
    kick-to-wake-polling        the same for a backend busy-polling the eventfd
    irqfd-to-handler-running    eventfd write -> guest interrupt handler runs (vCPU busy)
    irqfd-to-handler-halted     the same with the vCPU halted (``hlt``)
    guest-compute-loop          µs per iteration of a two-instruction loop: the guest regime
    mutex-exits (guest)         V vCPU threads, exit handler holds a shared mutex S µs (or no
                                mutex): ``exits_per_s`` and per-exit latency p50/p99
    ==========================  ==============================================================

    Guest modes: ``real`` (16-bit real mode) and ``long`` (64-bit at CPL 3 with IOPL 3).
    On a hardware KVM both run natively; on a software-assisted nested KVM (PVM) real mode
    is emulated instruction by instruction, which ``guest_exec`` says for every row.  The
    interrupt experiments run in real mode only (the handler needs ring 0).

    Parameters
    ----------
    quick : bool
        Fewer samples and shorter mutex runs (finishes in well under 30 s).
    guests : sequence of {"real", "long"}
        Guest modes to measure.
    mutex_vcpus, mutex_hold_us : iterables
        Grid of the mutex experiment: vCPU threads V and hold time S (µs).
    repeats : int, optional
        Runs per experiment (default 3, quick 2).
    mutex_seconds : float, optional
        Measured duration of each mutex-experiment run (default 0.3 s, quick 0.06 s).
    device : str
        KVM device node.
    progress : bool
        Show a progress bar (tqdm).
    deadline_s : float, optional
        Limit of the whole run, seconds (default :data:`QUICK_DEADLINE_S` = 25 s with
        ``quick``, :data:`FULL_DEADLINE_S` = 300 s otherwise).  Each helper run's own limit
        is cut to the time left; when it is up, the remaining steps are skipped with a
        :class:`ProbeWarning` and ``df.attrs["failed_steps"]`` lists them.

    Returns
    -------
    pandas.DataFrame
        Tidy results in the measured-data schema plus ``stat, spread, runs, samples, guest,
        guest_exec, kvm_regime, vcpus, hold_us, mutex, host_cpus``.

    Raises
    ------
    ProbeError
        ``/dev/kvm`` is missing or not accessible (the message says what to do), no C
        compiler, the guest-regime check failed, or every experiment failed.

    Warns
    -----
    ProbeWarning
        An experiment failed or hit its time limit; its rows are missing and
        ``df.attrs["failed_steps"]`` lists it.
    """
    det = detect(device)
    if not det.usable:
        raise ProbeError(f"cannot run the KVM probe: {det.reason}")
    if device != "/dev/kvm":
        raise ParameterError("device: the timing helper opens /dev/kvm; other nodes are not "
                             f"supported (got {device!r})")
    guests = tuple(guests)
    for g in guests:
        if g not in GUESTS:
            raise ParameterError(f"guests: unknown guest mode {g!r}; valid: {', '.join(GUESTS)}")
    vlist = sorted({int(v) for v in mutex_vcpus})
    if any(v < 1 or v > 64 for v in vlist):
        raise ParameterError(f"mutex_vcpus must be in 1..64, got {vlist}")
    slist = sorted({float(s) for s in mutex_hold_us})
    if any(not (0 <= s <= 10_000) for s in slist):
        raise ParameterError(f"mutex_hold_us must be in [0, 10000] µs, got {slist}")
    plan = QUICK if quick else FULL
    if mutex_seconds is not None:
        if not (0.001 <= float(mutex_seconds) <= 60):
            raise ParameterError(f"mutex_seconds must be in [0.001, 60] s, got {mutex_seconds!r}")
        plan = replace(plan, mutex_s=float(mutex_seconds))
    R = plan.repeats if repeats is None else int(repeats)
    if R < 1:
        raise ParameterError(f"repeats must be >= 1, got {repeats!r}")
    deadline = _validate.number("deadline_s", QUICK_DEADLINE_S if quick else FULL_DEADLINE_S
                                if deadline_s is None else deadline_s, lo=0, strict=True)
    t_end = time.monotonic() + deadline
    exe = _helper.helper_path()
    col = _Collector(det)
    P = det.host_cpus

    steps: list[Callable[[], None]] = []

    def helper(mode: str, *args, expect_s: float = 0.5) -> _helper.HelperOutput:
        left = t_end - time.monotonic() - _helper.KILL_GRACE_S
        if left <= 0.05:
            raise _DeadlineHit(f"the run's deadline of {deadline:g} s passed")
        return _helper.run_helper(mode, *args, limit_s=min(_limit(expect_s), left), exe=exe)

    def repeated(mode: str, name: str, *args, expect_s: float = 0.5) -> list[np.ndarray]:
        return [helper(mode, *args, expect_s=expect_s).samples_us[name] for _ in range(R)]

    # ---------------------------------------------------------------- host only
    def host() -> None:
        n = plan.n_host
        col.latency("harness-empty", repeated("real", "empty", "empty", n),
                    "two consecutive clock_gettime(CLOCK_MONOTONIC): timing overhead inside "
                    "every other sample")
        col.latency("host-syscall", repeated("real", "syscall", "syscall", n),
                    "getppid() system call, clock overhead included")
        col.latency("host-mutex-uncontended", repeated("real", "lock", "lock", n),
                    "pthread_mutex_lock + unlock by one thread")
        blocked, waking, polled, plain, idle, epolled = [], [], [], [], [], []
        for _ in range(R):
            o = helper("real", "evwake", 2, plan.n_wake, 50, 20, expect_s=plan.n_wake * 1e-4)
            epolled.append(o.samples_us["evwake_epoll"])
            o = helper("real", "evwake", 0, plan.n_wake, 50, 20, expect_s=plan.n_wake * 1e-4)
            blocked.append(o.samples_us["evwake_block"])
            waking.append(o.samples_us["evwrite_block"])
            o = helper("real", "evwake", 1, plan.n_wake, 50, 20, expect_s=plan.n_wake * 1e-4)
            polled.append(o.samples_us["evwake_poll"])
            plain.append(o.samples_us["evwrite_poll"])
            o = helper("real", "evwake", 0, plan.n_idle, 5, 1000,
                       expect_s=plan.n_idle * 1.2e-3)
            idle.append(o.samples_us["evwake_block"])
        col.latency("eventfd-write", plain, "write() to an eventfd whose reader busy-polls "
                    "(no sleeper to wake): one I/O-path system call")
        col.latency("eventfd-write-waking", waking, "write() to an eventfd that wakes a thread "
                    "blocked in read(): the waker's cost of a wake-up")
        col.latency("eventfd-wake-blocked", blocked, "eventfd write -> reader blocked in read() "
                    "(asleep ~20 µs) returns, across threads")
        col.latency("eventfd-wake-idle", idle, "eventfd write -> blocked reader returns after "
                    "its CPU idled 1 ms (idle-CPU wake-up)")
        col.latency("eventfd-wake-epoll", epolled, "eventfd write -> reader blocked in "
                    "epoll_wait() (asleep ~20 µs) has read it")
        col.latency("eventfd-wake-polling", polled, "eventfd write -> reader busy-polling a "
                    "non-blocking read() sees it")
        gaps, runlens, avail = [], [], []
        for _ in range(R):
            o = helper("real", "slice", 2 * P, plan.slice_s, 0, expect_s=plan.slice_s)
            gaps.append(o.samples_us["gap"])
            runlens.append(o.samples_us["runlen"])
            avail.append(_cpus_obtained(o))
        _add_cpu_available(col, avail, "")
        col.latency("sched-run-length", runlens, f"{2 * P} CPU-bound threads on {P} CPUs: "
                    "time a thread runs before being preempted (the scheduler slice)",
                    vcpus=2 * P)
        col.latency("sched-preempt-gap", gaps, f"{2 * P} CPU-bound threads on {P} CPUs: time "
                    "a preempted thread waits for its CPU", vcpus=2 * P)

    steps.append(host)

    def pagecache() -> None:
        # a file in the probe's cache directory: on the user's disk file system (tmpfs pages
        # are shmem, which a VM's drive file is not); the directory goes away even if the
        # helper dies half way
        base = _helper.cache_dir()
        try:
            base.mkdir(parents=True, exist_ok=True)
            scratch = tempfile.TemporaryDirectory(prefix="pagecache-", dir=base)
        except OSError as exc:  # a failed step, not a failed run
            raise ProbeError(f"page-cache experiment: cannot create a scratch directory in "
                             f"{base}: {exc}; set IOVMODEL_CACHE_DIR to a writable directory "
                             "on a disk file system") from None
        with scratch as tmp:
            fs = filesystem_of(tmp)
            reads, writes = [], []
            for _ in range(R):
                o = helper("real", "pagecache", os.path.join(tmp, "drive"), plan.pc_pages,
                           plan.n_pc, expect_s=plan.n_pc * 2e-5 + plan.pc_pages * 5e-5 + 1.0)
                reads.append(o.samples_us["pagecache_read"])
                writes.append(o.samples_us["pagecache_write"])
        what = (f"at random 4 KiB-aligned offsets of a {plan.pc_pages * 4 // 1024} MiB file on "
                f"{fs}, all its pages cached")
        col.latency("pagecache-read", reads, "pread() of 4 KiB " + what + " (a Sync block "
                    "engine's read of a page-cached drive file)", size_bytes=4096)
        col.latency("pagecache-write", writes, "pwrite() of 4 KiB " + what + ", clean after an "
                    "fsync (most writes mark a clean page dirty)", size_bytes=4096)

    steps.append(pagecache)

    def tap() -> None:
        nf = _bridge_netfilter()
        nulls, drops, bridged = [], [], []
        for _ in range(R):
            o = helper("real", "tap", plan.n_tap, plan.n_tap // 10,
                       expect_s=plan.n_tap * 1.1 * 6e-6 + 0.2)
            _check_forwarded(o, "tap", "tap experiment: the bridge")
            nulls.append(o.samples_us["tap_null"])
            drops.append(o.samples_us["tap_drop"])
            bridged.append(o.samples_us["tap_bridge"])
        frame = "a 60-byte Ethernet frame (IPv4 UDP, to a MAC no interface has)"
        col.latency("tap-write-null", nulls, f"write() of {frame} to /dev/null: the system "
                    "call and its copy alone", size_bytes=60)
        col.latency("tap-write-drop", drops, f"write() of {frame} into a tap: tun_get_user, "
                    "netif_receive_skb, dropped at the IP layer (a frame for another host)",
                    size_bytes=60)
        col.latency("tap-write-bridge", bridged, f"write() of {frame} into a tap on a Linux "
                    "bridge that forwards it to a second tap (the host stack between two "
                    f"VMs' taps; {nf})", size_bytes=60)

    steps.append(tap)

    def podnet() -> None:
        nf = _bridge_netfilter()  # the helper's namespace takes this namespace's setting
        runs = []
        for _ in range(R):
            o = helper("real", "podnet", plan.n_tap, plan.n_tap // 10,
                       expect_s=plan.n_tap * 1.1 * 8e-6 + 0.5)
            _check_forwarded(o, "podnet", "podnet experiment: the pod network")
            runs.append(o.samples_us["tap_podnet"])
        frame = "a 60-byte Ethernet frame (IPv4 UDP, to a MAC no interface has)"
        col.latency("tap-write-podnet", runs, f"write() of {frame} into a tap on a pod bridge, "
                    "through a veth pair, a node bridge and a second veth pair and pod bridge "
                    "to a second tap: a pod network's bridge binding between two VMs on one "
                    f"node, in a network namespace of the probe's own ({nf})", size_bytes=60)

    steps.append(podnet)

    def nat() -> None:
        nft = shutil.which("nft", path=os.pathsep.join(
            [os.environ.get("PATH", ""), "/usr/sbin", "/sbin"]))
        routed, natted = [], []
        for _ in range(R):
            o = helper("real", "nat", plan.n_tap, plan.n_tap // 10, nft or "-",
                       expect_s=2 * plan.n_tap * 1.1 * 8e-6 + 0.5)
            for what in ("route", "nat") if nft else ("route",):
                fwd, sent, qlen = (int(o.values.get(k, -1)) for k in
                                   (f"{what}_forwarded", f"{what}_written", "nat_queue_len"))
                if fwd < 0 or qlen < 0 or fwd + qlen < sent:
                    raise ProbeError(f"nat experiment: the host routed {fwd} of {sent} frames "
                                     f"to the second tap (whose queue holds {qlen}); the "
                                     "timings would not include the forwarding")
            routed.append(o.samples_us["tap_route"])
            if nft:
                natted.append(o.samples_us["tap_nat"])
        frame = "a 60-byte IPv4 UDP frame"
        col.latency("tap-write-route", routed, f"write() of {frame} into a tap, routed by the "
                    "host to a second tap (ip_forward, a static neighbour), in a network "
                    "namespace of the probe's own", size_bytes=60)
        if not nft:
            warnings.warn("nft (Debian package nftables) not found: tap-write-nat not measured",
                          ProbeWarning, stacklevel=2)
            return
        col.latency("tap-write-nat", natted, f"the same write() of {frame} with an nftables "
                    "masquerade rule on the second tap: conntrack and source NAT on top of the "
                    "routing (a pod network's NAT binding, KubeVirt's masquerade)", size_bytes=60)

    steps.append(nat)

    # ---------------------------------------------------------------- per guest mode
    def guest_steps(g: str) -> list[Callable[[], None]]:
        state: dict[str, str] = {}

        def regime() -> None:
            per_iter = []
            short_runs = []
            for _ in range(R):
                short = helper(g, "loop", "nop", PORT_KICK, LOOP_K, plan.n_loop, 20,
                               expect_s=plan.n_loop * 2e-4).samples_us["loop"]
                long_ = helper(g, "loop", "nop", PORT_KICK, plan.k_regime, plan.n_regime, 3,
                               expect_s=plan.n_regime * plan.k_regime * 2e-6).samples_us["loop"]
                short_runs.append(short)
                per_iter.append((np.median(long_) - np.median(short))
                                / (plan.k_regime - LOOP_K) * 1000.0)
            # a native loop is lost in the exit's noise: the difference may dip below zero
            ns = max(float(np.median(per_iter)), 0.0)
            state["exec"] = "emulated" if ns > EMULATED_NS_PER_ITER else "native"
            state["nop_runs"] = short_runs  # type: ignore[assignment]
            col.add("guest-compute-loop", "latency_us", ns / 1000.0, "us",
                    stat="median-difference", spread=float(np.ptp(per_iter)) / 1000.0, runs=R,
                    guest=g, guest_exec=state["exec"],
                    note=f"time of one iteration of the guest loop 'nop; loop' ({plan.k_regime} "
                    f"vs {LOOP_K} iterations): ~0.001 us means native execution, > "
                    f"{EMULATED_NS_PER_ITER / 1000:g} us means every guest instruction is "
                    "emulated by KVM")

        def exits() -> None:
            ex = state["exec"]
            col.latency("kvm-run-ioctl", repeated(g, "runimm", "runimm", plan.n_exit,
                                                  expect_s=plan.n_exit * 2e-5),
                        "KVM_RUN with immediate_exit=1: the ioctl's own round trip",
                        guest=g, guest_exec=ex)
            for kind, path, note in (
                    ("pio", "pio-exit-user", "guest 'out dx,al' -> KVM_EXIT_IO to this VMM -> "
                     "re-entry; one KVM_RUN round trip"),
                    ("mmiow", "mmio-write-exit-user", "guest store to unbacked memory -> "
                     "KVM_EXIT_MMIO -> re-entry"),
                    ("mmior", "mmio-read-exit-user", "guest load from unbacked memory -> "
                     "KVM_EXIT_MMIO, VMM supplies data -> re-entry")):
                col.latency(path, repeated(g, kind, "exit", kind, plan.n_exit, plan.n_exit // 10,
                                           expect_s=plan.n_exit * 1e-4),
                            note, guest=g, guest_exec=ex)

        def per_op() -> None:
            ex = state["exec"]
            nop_runs = state["nop_runs"]
            for body, port, path, note in (
                    ("in", PORT_PIC, "pio-exit-kernel", "guest 'in' from the in-kernel PIC: a "
                     "trapped access KVM handles without leaving the kernel"),
                    ("out", PORT_KICK, "ioeventfd-kick", "guest 'out' to an ioeventfd port: "
                     "the guest-side cost of one virtqueue kick (no reader)")):
                diffs = []
                runs = []
                for r in range(R):
                    s = helper(g, "loop", body, port, LOOP_K, plan.n_loop, 20,
                               expect_s=plan.n_loop * 4e-4).samples_us["loop"]
                    runs.append(s)
                    diffs.append((np.median(s) - np.median(nop_runs[r])) / LOOP_K)
                col.add(path, "exit_time_us", max(float(np.median(diffs)), 0.0), "us",
                        stat="median-difference",
                        spread=float(np.ptp(diffs)), runs=R, samples=sum(map(len, runs)),
                        guest=g, guest_exec=ex, batch=LOOP_K,
                        note=note + f"; (median of a {LOOP_K}-access loop - same loop of nops)"
                        f" / {LOOP_K}, floored at 0")

        def wakes() -> None:
            ex = state["exec"]
            for poll, path, note in (
                    (0, "kick-to-wake-blocked", "VMM enters KVM_RUN, guest kicks an ioeventfd "
                     "first thing; -> backend thread blocked in read() returns"),
                    (2, "kick-to-wake-epoll", "the same with a backend blocked in "
                     "epoll_wait() (QEMU's main loop waits this way)"),
                    (1, "kick-to-wake-polling", "the same with a backend busy-polling the "
                     "eventfd")):
                runs = []
                name = ("kickwake_block", "kickwake_poll", "kickwake_epoll")[poll]
                for _ in range(R):
                    o = helper(g, "kickwake", poll, plan.n_wake, 50, 20,
                               expect_s=plan.n_wake * 2e-4)
                    runs.append(o.samples_us[name])
                col.latency(path, runs, note, guest=g, guest_exec=ex)

        def irqs() -> None:
            ex = state["exec"]
            for halt, path, settle, note in (
                    (0, "irqfd-to-handler-running", 50, "eventfd write to an irqfd (PIC line 5)"
                     " -> the busy guest's interrupt handler exits to the VMM"),
                    (1, "irqfd-to-handler-halted", 200, "the same while the vCPU sits in hlt "
                     "(includes waking the vCPU)")):
                runs = []
                for _ in range(R):
                    runs.append(helper(g, "irqfd", halt, plan.n_irq, 20, settle,
                                       expect_s=plan.n_irq * 1.5e-3).samples_us[
                        "irqfd_halt" if halt else "irqfd_spin"])
                col.latency(path, runs, note + "; ends at the handler's PIO exit, so it "
                            "includes one pio-exit-user", guest=g, guest_exec=ex)

        sched: dict[str, list] = {"avail": [], "gap": [], "runlen": []}

        def sched_check() -> None:
            # 2 vCPU threads per CPU looping exits: the CPU they get, their slice and gaps
            o = helper(g, "slice", 2 * P, plan.cpu_s, 1, expect_s=plan.cpu_s)
            sched["avail"].append(_cpus_obtained(o))
            sched["gap"].append(o.samples_us["gap"])
            sched["runlen"].append(o.samples_us["runlen"])

        def mutex() -> None:
            ex = state["exec"]
            sched_check()
            grid = [(v, s, use) for v in vlist for s in slist for use in (False, True)]
            xs: dict[tuple, list[float]] = {k: [] for k in grid}
            lats: dict[tuple, list[np.ndarray]] = {k: [] for k in grid}
            # repetitions outermost: a change of the host's other load during the grid
            # spreads over all points instead of biasing a few
            for _ in range(R):
                for key in grid:
                    v, s, use = key
                    o = helper(g, "mutex", v, f"{s:g}", int(use), plan.mutex_s,
                               plan.mutex_warm_s, 2_000_000,
                               expect_s=plan.mutex_s + plan.mutex_warm_s)
                    xs[key].append(int(o.values["exits"]) / (int(o.values["elapsed_ns"]) * 1e-9))
                    lats[key].append(o.samples_us["mutex"])
            for key in grid:
                v, s, use = key
                opts = f"guest={g};vcpus={v};hold_us={s:g};mutex={int(use)}"
                extra = dict(vcpus=v, hold_us=s, mutex=use, jobs=v, iodepth=1, guest=g,
                             guest_exec=ex, options=opts)
                what = "holding one shared pthread mutex" if use else "without any mutex"
                note = (f"{v} vCPU threads, each exit handled for {s:g} µs {what}; "
                        "latency = one KVM_RUN return to the next")
                col.add("mutex-exits", "exits_per_s", float(np.median(xs[key])), "1/s",
                        stat="median", spread=float(np.ptp(xs[key])), runs=R,
                        samples=sum(map(len, lats[key])), note=note, **extra)
                col.latency("mutex-exits", lats[key], note, **extra)
            sched_check()
            _add_cpu_available(col, sched["avail"], g, ex)
            note = (f"{2 * P} vCPU threads looping exits on {P} CPUs, before and after the "
                    "mutex experiment: ")
            col.latency("sched-run-length", sched["runlen"], note + "time a thread runs "
                        "before being preempted (the scheduler slice)", guest=g, guest_exec=ex,
                        vcpus=2 * P)
            col.latency("sched-preempt-gap", sched["gap"], note + "time a preempted thread "
                        "waits for its CPU (pauses > 200 µs)", guest=g, guest_exec=ex,
                        vcpus=2 * P)

        out = [regime, exits, per_op, wakes]
        if g == "real":
            out.append(irqs)
        out.append(mutex)
        return out

    for g in guests:
        steps.extend(guest_steps(g))

    if progress:
        from tqdm.auto import tqdm
        bar = tqdm(total=len(steps), desc="probe", disable=bool(os.environ.get("CI")))
    else:
        bar = None
    failed: list[str] = []
    for i, step in enumerate(steps):
        try:
            step()
        except _DeadlineHit as exc:
            failed += [f"{s.__qualname__.split('.')[-1]}: skipped ({exc})" for s in steps[i:]]
            warnings.warn(ProbeWarning(f"probe stopped: {exc}; {len(steps) - i} step(s) "
                                       "skipped, their rows are missing"), stacklevel=2)
            break
        except ProbeError as exc:
            # the guest regime is needed by every later step of its guest: no point going on
            if getattr(step, "__name__", "") == "regime":
                raise
            failed.append(f"{step.__qualname__.split('.')[-1]}: {exc}")
            warnings.warn(ProbeWarning(f"probe step failed, its rows are missing: {exc}"),
                          stacklevel=2)
        if bar is not None:
            bar.update()
    if bar is not None:
        bar.close()
    if not col.rows:
        raise ProbeError("every probe experiment failed: " + "; ".join(failed))
    df = col.frame()
    df.attrs["failed_steps"] = failed
    return df
