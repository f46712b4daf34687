"""From probe results to host costs: :func:`costs_from_results` (cost name -> µs) and
:func:`to_profile`, the :class:`~iovmodel.HostProfile` they make.

The probe sits above the profile: it produces a profile, the profile never imports the
probe.
"""

from __future__ import annotations

import math

import pandas as pd

from ..errors import ParameterError
from ..spec.profile import HostProfile, parameters
from .results import _pick


def native_guest(df: pd.DataFrame) -> str | None:
    """The guest mode whose code ran natively (``long`` preferred), or None."""
    rows = df[df["path"] == "guest-compute-loop"]
    for g in ("long", "real"):
        r = rows[rows["guest"] == g]
        if len(r) and str(r["guest_exec"].iloc[0]) == "native":
            return g
    return None


#: HostProfile cost -> how it is derived from probe rows (p50 = median over all samples)
COST_MAP = {
    "vmexit_us": "pio-exit-kernel exit_time_us (native guest)",
    "eoi_exit_us": "pio-exit-kernel exit_time_us (an EOI/ack is a trapped in-kernel register access)",
    "user_exit_us": "pio-exit-user p50 - pio-exit-kernel exit_time_us (native guest)",
    "insn_emulate_us": "max(0, mmio-write-exit-user p50 - pio-exit-user p50) (native guest)",
    "ioeventfd_us": "max(0, ioeventfd-kick exit_time_us - pio-exit-kernel exit_time_us) (native guest)",
    "irqfd_inject_us": "irqfd-to-handler-running p50 - pio-exit-user p50 (real-mode guest, "
                       "only when real mode runs natively)",
    "wakeup_us": "eventfd-wake-blocked p50 - eventfd-wake-polling p50",
    "syscall_us": "eventfd-write p50 (an eventfd write that wakes nobody)",
    "bql_acquire_us": "host-mutex-uncontended p50",
    "pagecache_write_us": "max(0, pagecache-write p50 - pagecache-read p50) (4 KiB on the "
                          "file system of the probe's cache directory)",
    "host_net_us": "max(0, tap-write-bridge p50 - tap-write-null p50) (a 60-byte frame a VMM "
                   "writes into its tap, forwarded by a Linux bridge to a second tap)",
    "host_nat_us": "max(0, tap-write-nat p50 - tap-write-route p50) (the same routed frame with "
                   "and without an nftables masquerade rule: conntrack + NAT)",
    "host_podnet_us": "max(0, tap-write-podnet p50 - tap-write-bridge p50) / 2 (the frame through "
                      "a pod bridge, a veth pair, a node bridge, a second veth pair and pod "
                      "bridge, beyond one bridge between two taps; half: two pods' frames cross "
                      "the pod network once per direction, paid on each of their two host-stack "
                      "passes)",
    "sched_slice_us": "sched-run-length p50 (2P CPU-bound threads on P CPUs: how long one keeps "
                      "its CPU)",
}


def costs_from_results(df: pd.DataFrame) -> dict[str, float]:
    """Map probe results to :class:`iovmodel.HostProfile` cost names (µs).

    Only costs the probe measured are returned; exit costs come only from a guest whose
    code ran natively (a guest emulated instruction by instruction, as real mode is on a
    software-assisted nested KVM, does not take hardware exits).  Medians (p50) are used:
    they are robust to the preemptions a busy host adds.  The mapping is :data:`COST_MAP`:

    - ``vmexit_us``, ``eoi_exit_us``: per-access cost of a trapped ``in`` from the
      in-kernel PIC (exit, in-kernel emulation, entry);
    - ``user_exit_us``: PIO exit to the VMM round trip minus the in-kernel exit;
    - ``insn_emulate_us``: what an MMIO exit costs beyond a PIO exit (instruction decode);
    - ``ioeventfd_us``: an ioeventfd kick beyond the in-kernel exit;
    - ``irqfd_inject_us``: irqfd write -> handler running, minus the handler's PIO exit;
    - ``wakeup_us``: eventfd wake-up of a blocked thread beyond what a polling thread sees;
    - ``syscall_us``: an eventfd ``write()``; ``bql_acquire_us``: uncontended lock + unlock;
    - ``pagecache_write_us``: what a 4 KiB ``pwrite()`` to a page-cached file costs beyond
      a ``pread()`` of it (marking the page dirty, file-system bookkeeping);
    - ``host_net_us``: what a 60-byte frame written into a tap costs beyond a ``write()``
      to ``/dev/null`` when a Linux bridge forwards it to a second tap (tun_get_user, the
      bridge, netfilter where loaded, tun_net_xmit).
    - ``host_nat_us``: what an nftables masquerade rule adds to a frame the host routes from
      one tap to another (conntrack + NAT), in a network namespace of the probe's own.
    - ``host_podnet_us``: half of what a pod network's bridge binding between two VMs on one
      node (pod bridge, veth pair, node bridge, veth pair, pod bridge) adds to a frame beyond
      one bridge between two taps: a frame between two pods crosses the pod network once per
      direction, and the model pays ``host_podnet_us`` on each of its two host-stack passes.

    Values are clipped to the declared bounds of each cost (a difference of two noisy
    medians can dip below zero).

    Raises
    ------
    ParameterError
        ``df`` is not probe results.
    """
    if not isinstance(df, pd.DataFrame) or not {"path", "metric", "value"} <= set(df.columns):
        raise ParameterError("results must be the DataFrame returned by iovmodel.probe.run()")
    df = df.copy()
    for col in ("guest", "guest_exec"):
        if col not in df.columns:
            df[col] = ""
        df[col] = df[col].astype(object).fillna("").astype(str)
    out: dict[str, float] = {}
    g = native_guest(df)
    if g is not None:
        kernel = _pick(df, "pio-exit-kernel", "exit_time_us", g)
        user = _pick(df, "pio-exit-user", "latency_p50_us", g)
        mmio = _pick(df, "mmio-write-exit-user", "latency_p50_us", g)
        kick = _pick(df, "ioeventfd-kick", "exit_time_us", g)
        out["vmexit_us"] = kernel
        out["eoi_exit_us"] = kernel
        out["user_exit_us"] = user - kernel
        out["insn_emulate_us"] = max(0.0, mmio - user)
        out["ioeventfd_us"] = max(0.0, kick - kernel)
    if native_guest(df[df["guest"] == "real"]) == "real":
        irq = _pick(df, "irqfd-to-handler-running", "latency_p50_us", "real")
        out["irqfd_inject_us"] = irq - _pick(df, "pio-exit-user", "latency_p50_us", "real")
    out["wakeup_us"] = (_pick(df, "eventfd-wake-blocked", "latency_p50_us")
                        - _pick(df, "eventfd-wake-polling", "latency_p50_us"))
    out["syscall_us"] = _pick(df, "eventfd-write", "latency_p50_us")
    out["bql_acquire_us"] = _pick(df, "host-mutex-uncontended", "latency_p50_us")
    dirty = (_pick(df, "pagecache-write", "latency_p50_us")
             - _pick(df, "pagecache-read", "latency_p50_us"))
    out["pagecache_write_us"] = dirty if math.isnan(dirty) else max(0.0, dirty)
    stack = (_pick(df, "tap-write-bridge", "latency_p50_us")
             - _pick(df, "tap-write-null", "latency_p50_us"))
    out["host_net_us"] = stack if math.isnan(stack) else max(0.0, stack)
    nat = (_pick(df, "tap-write-nat", "latency_p50_us")
           - _pick(df, "tap-write-route", "latency_p50_us"))
    out["host_nat_us"] = nat if math.isnan(nat) else max(0.0, nat)
    pod = (_pick(df, "tap-write-podnet", "latency_p50_us")
           - _pick(df, "tap-write-bridge", "latency_p50_us"))
    out["host_podnet_us"] = pod if math.isnan(pod) else max(0.0, pod) / 2
    # the first guest's run (the run lengths do not depend on the guest's mode)
    out["sched_slice_us"] = _pick(df, "sched-run-length", "latency_p50_us")
    out = {k: v for k, v in out.items() if not math.isnan(v)}
    decl = parameters()
    for k, v in out.items():
        if k in decl:
            lo, hi = decl[k].bounds
            out[k] = float(min(max(v, lo), hi))
    return out


# -------------------------------------------------------------------- mutex model vs data


def to_profile(results: pd.DataFrame, base: HostProfile | None = None) -> HostProfile:
    """A :class:`~iovmodel.HostProfile` whose measured costs come from probe results.

    Parameters
    ----------
    results : pandas.DataFrame
        Results of :func:`iovmodel.probe.run`, :func:`~iovmodel.probe.load` or
        :func:`~iovmodel.probe.reference`.
    base : HostProfile, optional
        Supplies the costs the probe does not measure (default
        :meth:`HostProfile.default`).

    Returns
    -------
    HostProfile
        Named ``"probe"``; the measured costs (µs, :func:`costs_from_results`) have the
        source "measured here by iovmodel probe", the others keep ``base``'s.

    Raises
    ------
    ParameterError
        ``results`` is not probe results, or ``base`` is not a HostProfile.
    """
    base = HostProfile.default() if base is None else base
    if not isinstance(base, HostProfile):
        raise ParameterError(f"base must be a HostProfile, got {type(base).__name__} {base!r:.80}")
    measured = costs_from_results(results)
    if not measured:  # a frame without probe rows must not become the default named "probe"
        raise ParameterError(f"results hold no probe measurement a cost comes from (paths "
                             f"{sorted(map(str, set(results['path'])))!r}); expected rows of "
                             "iovmodel.probe.run()")
    sources = dict(base.sources)
    sources.update(dict.fromkeys(measured, "measured here by iovmodel probe"))
    return HostProfile({**dict(base), **measured}, name="probe", sources=sources)
