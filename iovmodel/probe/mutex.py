"""A model of V vCPU threads whose exit handlers share one mutex (QEMU's global mutex).

Each vCPU thread loops: guest runs until an exit (KVM_RUN round trip, ``cycle_us`` of CPU),
then the handler takes the mutex, emulates for ``hold_us`` and releases it.  The model
predicts exits per second and per-exit latency percentiles from single-thread costs:

* **Queueing at the mutex** -- exact mean-value analysis (MVA) of the closed network
  "think" (the exit, a delay of ``cycle_us``) + "mutex" (one FCFS server), population
  min(V, P): only threads holding a CPU arrive at the mutex (Reiser & Lavenberg 1980; Lazowska et al., *Quantitative System Performance*,
  1984, ch. 7).  With no hand-off cost it is the machine-repairman model
  (Kleinrock, *Queueing Systems* vol. 1, 1975, sec. 3.9).
* **Lock hand-off** -- a contended release must wake a sleeping waiter (glibc mutexes
  block in ``futex``): the releasing thread pays ``wake_cost_us`` (the waking system
  call), and the lock then stays unused until the waiter runs (``wake_us`` later) or the
  releaser comes back from its own exit (``cycle_us``), whichever is first.  A contended
  acquisition therefore occupies the mutex for ``hold_us + wake_cost_us +
  min(wake_us, cycle_us)``; the fraction of contended acquisitions is the utilisation seen
  by an arriving thread (arrival theorem: the utilisation at population V-1).
* **Barging** -- glibc mutexes are not FIFO: a woken waiter that runs after the releaser
  has already come back loses the lock again.  Each loss costs it one more
  ``hold_us + cycle_us + wake_cost_us`` round; losses are geometric with probability
  P(cycle + wake_cost < wake) from the measured distributions.  This is the long tail seen
  when the exit is shorter than a wake-up.  How many exits wait follows from Little's law:
  the mean cycle is ``V / X``, and the part beyond the bare cycle (and the preemptions) is
  made of waits of that size -- few, long waits when barging wins.
* **Convoy** -- a waiter woken by the releasing thread is queued on the releaser's CPU
  (wake-affine placement), so threads that contend end up sharing one CPU: with a
  fraction ``u`` of acquisitions blocking, ``1 + (min(V, P) - 1)(1 - u)`` CPUs' worth of
  parallelism remains.  The probe's data show it: two vCPU threads contending for a mutex
  run no faster than one, and one exit per scheduler slice waits a whole slice.
* **CPU contention** -- every exit costs ``cycle_us + hold_us`` (+ the waking call) of
  CPU, so the CPUs bound throughput at ``P / that`` (``P`` = the CPUs' worth of time
  really available, measured, when other load shares the host).  With more runnable threads
  than CPUs a thread is preempted once per scheduler slice (``slice_us``), and the exit
  that spans the preemption waits for the other ``V/P - 1`` threads' slices (measured as
  the off-CPU gap of 2 spinning threads per CPU, which includes other load's turns).

Latencies are per exit, as the VMM thread sees them: from one KVM_RUN return to the next
(handling, mutex wait, the next guest entry and exit).  Their distribution is composed by
Monte Carlo (seeded, so reproducible) from the single-thread medians and 99th percentiles;
the mean latency is ``V / X`` by Little's law.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from ..errors import ParameterError
from ..solve.analytic import mva

if TYPE_CHECKING:
    from matplotlib.axes import Axes

#: draws used to compose the latency distribution
MC_DRAWS = 200_000


@dataclass(frozen=True)
class MutexPrediction:
    """Prediction of :func:`predict_mutex`.

    Attributes
    ----------
    vcpus, hold_us, host_cpus, mutex
        The configuration.
    exits_per_s : float
        Exits handled per second, all vCPU threads together.
    latency_us : float
        Mean per-exit latency (µs); equals ``vcpus / exits_per_s`` (Little's law).
    latency_p50_us, latency_p99_us : float
        Per-exit latency percentiles (µs).
    mutex_utilization : float
        Fraction of time the mutex is held or being handed off.
    contended : float
        Fraction of acquisitions that find the mutex taken.
    bound : str
        What limits throughput: ``vcpus`` (each thread's own cycle), ``mutex`` or ``cpu``.
    """

    vcpus: int
    hold_us: float
    host_cpus: int
    mutex: bool
    exits_per_s: float
    latency_us: float
    latency_p50_us: float
    latency_p99_us: float
    mutex_utilization: float
    contended: float
    bound: str

    def to_frame(self) -> pd.DataFrame:
        """One-row DataFrame of the prediction."""
        return pd.DataFrame([asdict(self)])

    def __repr__(self) -> str:
        return (f"MutexPrediction(V={self.vcpus}, S={self.hold_us:g} µs, P={self.host_cpus}, "
                f"mutex={self.mutex}: {self.exits_per_s:,.0f} exits/s, "
                f"p50 {self.latency_p50_us:.1f} µs, p99 {self.latency_p99_us:.1f} µs, "
                f"bound by {self.bound})")

    def _repr_html_(self) -> str:
        return self.to_frame().to_html(index=False, escape=True, float_format="{:.4g}".format)


def _positive(name: str, value: float, allow_zero: bool = True) -> float:
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise ParameterError(f"{name} must be a number, got {value!r}") from None
    if math.isnan(v) or v < 0 or (v == 0 and not allow_zero) or math.isinf(v):
        need = ">= 0" if allow_zero else "> 0"
        raise ParameterError(f"{name} must be finite and {need}, got {value!r}")
    return v


def mva_mutex(vcpus: int, cycle_us: float, hold_us: float,
              handoff_us: float = 0.0) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Exact MVA of V threads alternating between a delay and one mutex.

    Population n is solved by the package's exact MVA (:func:`iovmodel.solve.analytic.mva`:
    a delay of ``cycle_us`` and one FCFS station) with the mutex occupancy its arrivals
    cause: ``hold_us + handoff_us * u``, where ``u``, the fraction of contended
    acquisitions, is the utilisation at population n-1 (arrival theorem).

    Parameters
    ----------
    vcpus : int
        Number of threads V (>= 1).
    cycle_us : float
        Time outside the mutex per exit (µs): the "think time" Z.
    hold_us : float
        Mutex holding time per exit (µs).
    handoff_us : float
        Extra mutex occupancy of a contended acquisition (µs).

    Returns
    -------
    tuple of arrays
        ``X`` (per µs), ``R_mutex`` (µs), ``U`` (utilisation), ``contended`` for populations
        1..V (index n-1).
    """
    n_max = int(vcpus)
    if n_max < 1:
        raise ParameterError(f"vcpus must be >= 1, got {vcpus!r}")
    X = np.zeros(n_max)
    R = np.zeros(n_max)
    U = np.zeros(n_max)
    C = np.zeros(n_max)
    u_prev = 0.0
    for n in range(1, n_max + 1):
        contended = min(u_prev, 1.0)  # arrival theorem: what an arriving thread sees
        service = hold_us + handoff_us * contended
        sol = mva([service], n, think=cycle_us)
        x, r = float(sol.X[-1]), float(sol.R[-1])
        u_prev = min(x * service, 1.0)
        X[n - 1], R[n - 1], U[n - 1], C[n - 1] = x, r, u_prev, contended
    return X, R, U, C


def _lognormal(p50: float, p99: float | None, n: int, rng: np.random.Generator) -> np.ndarray:
    """Samples with the given median and 99th percentile (log-normal shape)."""
    if p99 is None or not p99 > p50 > 0:
        return np.full(n, p50)
    # z of the 99th percentile; capped so that degenerate inputs cannot overflow
    sigma = min(math.log(p99 / p50) / 2.3263478740408408, 3.0)
    return p50 * np.exp(sigma * rng.standard_normal(n))


def predict_mutex(vcpus: int, hold_us: float, *, cycle_us: float, host_cpus: int,
                  mutex: bool = True, wake_us: float = 0.0, wake_cost_us: float = 0.0,
                  slice_us: float | None = None, cycle_p50_us: float | None = None,
                  cycle_p99_us: float | None = None, wake_p99_us: float | None = None,
                  cpus_available: float | None = None, preempt_gap_us: float | None = None,
                  preempt_gap_p99_us: float | None = None, seed: int = 0) -> MutexPrediction:
    """Predict exits/s and per-exit latency of V vCPU threads sharing one mutex.

    Only threads that hold a CPU can arrive at the mutex (a thread waiting for a CPU or
    asleep on the lock does not), so the mutex queue has ``min(V, P)`` customers; the
    other ``V - P`` threads queue for the CPUs, which shows as preemption tails.

    Parameters
    ----------
    vcpus : int
        vCPU threads V.
    hold_us : float
        Emulation time per exit under the mutex, S (µs).
    cycle_us : float
        Mean single-thread time per exit outside the handler (µs): KVM_RUN entry, guest
        instructions, exit back to the VMM.
    host_cpus : int
        Host CPUs P the threads may run on.
    mutex : bool
        False: the handler runs the same S µs without the mutex.
    wake_us : float
        Median latency from waking a blocked thread to it running (µs).
    wake_cost_us : float
        CPU time of the waking call in the releasing thread (µs).
    slice_us : float, optional
        How long a CPU-bound thread keeps its CPU when CPUs are oversubscribed (µs);
        None ignores preemption.
    cycle_p50_us, cycle_p99_us, wake_p99_us : float, optional
        Percentiles of the single-thread cycle and of the wake-up; they shape the latency
        distribution (log-normal between median and p99).  Default: deterministic.
    cpus_available : float, optional
        CPUs' worth of time the threads can obtain when other load shares the host
        (measured by the probe as ``host-cpu-available``); default ``host_cpus``.  It
        caps throughput at ``cpus_available`` divided by the CPU time of one exit.
    preempt_gap_us : float, optional
        How long a preempted thread waits for its CPU when 2 threads per CPU compete
        (measured as ``sched-preempt-gap``); it scales as ``V/P - 1``.  Default: one
        ``slice_us`` (round robin with no other load).
    preempt_gap_p99_us : float, optional
        99th percentile of that gap: shapes the gap distribution (log-normal).
    seed : int
        Seed of the Monte Carlo composition.
    """
    V = int(vcpus)
    if V < 1 or V != vcpus:
        raise ParameterError(f"vcpus must be a positive integer, got {vcpus!r}")
    P = int(host_cpus)
    if P < 1 or P != host_cpus:
        raise ParameterError(f"host_cpus must be a positive integer, got {host_cpus!r}")
    S = _positive("hold_us", hold_us)
    c = _positive("cycle_us", cycle_us, allow_zero=False)
    w = _positive("wake_us", wake_us)
    k = _positive("wake_cost_us", wake_cost_us)
    if slice_us is not None:
        slice_us = _positive("slice_us", slice_us, allow_zero=False)
    c50 = c if cycle_p50_us is None else _positive("cycle_p50_us", cycle_p50_us, False)
    avail = float(P) if cpus_available is None else _positive("cpus_available",
                                                               cpus_available, False)
    avail = min(avail, float(P))

    n_run = min(V, P)
    if mutex:
        handoff = k + min(w, c)
        X, _, U, C = mva_mutex(n_run, c, S, handoff)
        x_q, util, contended = X[-1], U[-1], C[-1]
    else:
        x_q, util, contended, handoff = n_run / (c + S), 0.0, 0.0, 0.0
    # Convoy: a blocked waiter is woken onto its releaser's CPU (wake-affine), so threads
    # that contend for the mutex end up sharing one CPU; the fraction of acquisitions that
    # block sets how much of the other CPUs' parallelism survives.
    cpus = float(n_run)
    if mutex and S > 0:
        cpus = 1.0 + (n_run - 1.0) * (1.0 - contended)
    # CPU time per exit: the typical (median) cycle; the mean also holds preemptions
    x_cpu = min(avail, cpus) / (min(c, c50) + S + k * contended)
    x = min(x_q, x_cpu)
    if mutex and util >= 0.9:
        bound = "mutex"
    elif V > P or x_cpu <= x_q:
        bound = "cpu"
    else:
        bound = "vcpus"

    # --- per-exit latency distribution (Monte Carlo composition, seeded)
    rng = np.random.default_rng(seed)
    base = _lognormal(c50, cycle_p99_us, MC_DRAWS, rng)
    lat = base + S
    pre_mass = 0.0
    pre = np.zeros(MC_DRAWS)
    if slice_us is not None and V > cpus:
        # one exit per slice spans a preemption; it waits while the V/cpus - 1 other
        # threads of its CPU run their slices
        p_pre = min(1.0, (c + S) / slice_us)
        per_peer = slice_us if preempt_gap_us is None else _positive(
            "preempt_gap_us", preempt_gap_us)
        gap = (V / cpus - 1.0) * _lognormal(per_peer, preempt_gap_p99_us, MC_DRAWS, rng)
        pre = np.where(rng.random(MC_DRAWS) < p_pre, gap, 0.0)
        pre_mass = float(np.mean(pre))
    if mutex and n_run > 1 and contended > 0:
        wake = _lognormal(w, wake_p99_us, MC_DRAWS, rng) if w > 0 else np.zeros(MC_DRAWS)
        service = S + handoff * contended
        # residual of the holder's time, plus the waking call and the wake-up itself
        wait = rng.random(MC_DRAWS) * service + k + wake
        # barging: the waiter loses when the releaser is back (cycle + waking call) first
        rival = _lognormal(c50, cycle_p99_us, MC_DRAWS, rng) + k
        p_lose = float(np.mean(rival < wake)) if w > 0 else 0.0
        if p_lose > 0:
            losses = rng.geometric(1.0 - min(p_lose, 0.99), MC_DRAWS) - 1
            wait = wait + losses * (S + c + k)
        # How many exits wait: Little's law fixes the mean cycle at V / X, so the waiting
        # beyond the bare cycle (less the preemptions') is shared by waits of this size.
        # With barging, few exits wait and those wait long.
        excess = max(V / x - (c + S) - pre_mass, 0.0)
        f_wait = min(1.0, excess / max(float(np.mean(wait)), 1e-12))
        lat = lat + np.where(rng.random(MC_DRAWS) < f_wait, wait, 0.0)
    lat = lat + pre
    p50, p99 = np.percentile(lat, [50, 99])
    return MutexPrediction(vcpus=V, hold_us=S, host_cpus=P, mutex=bool(mutex),
                           exits_per_s=float(x * 1e6), latency_us=float(V / x),
                           latency_p50_us=float(p50), latency_p99_us=float(p99),
                           mutex_utilization=float(util), contended=float(contended),
                           bound=bound)


def _html_table(df: pd.DataFrame) -> str:
    return df.to_html(index=False, escape=True, float_format="{:.4g}".format)


@dataclass(frozen=True)
class MutexComparison:
    """Predicted against measured mutex experiment (:func:`compare_mutex`).

    Attributes
    ----------
    table : pandas.DataFrame
        One row per (guest, metric, vcpus, hold_us, mutex): measured, predicted, rel_error.
    inputs : pandas.DataFrame
        The single-thread costs the model used, per guest mode.
    """

    table: pd.DataFrame
    inputs: pd.DataFrame

    def to_frame(self) -> pd.DataFrame:
        """The comparison table (tidy)."""
        return self.table.copy()

    def error_summary(self) -> pd.DataFrame:
        """Median and max absolute relative error per guest mode and metric."""
        t = self.table.assign(abs_err=self.table["rel_error"].abs())
        return (t.groupby(["guest", "metric"])["abs_err"]
                .agg(median_abs_rel_error="median", max_abs_rel_error="max", points="count")
                .reset_index())

    def report(self) -> str:
        """Text report: inputs, then error summary."""
        return ("mutex model inputs (single-thread, measured):\n"
                + self.inputs.to_string(index=False)
                + "\n\nprediction error |predicted - measured| / measured:\n"
                + self.error_summary().to_string(index=False, float_format="{:.3f}".format))

    def plot(self, metric: str = "exits_per_s", guest: str | None = None,
             ax: Axes | None = None) -> Axes:
        """Measured (markers) and predicted (lines) ``metric`` against vCPU threads V, one
        colour per hold time S, solid with the mutex and dashed without; returns the Axes."""
        import matplotlib.pyplot as plt

        t = self.table[self.table["metric"] == metric]
        if t.empty:
            raise ParameterError(f"metric {metric!r} is not in the comparison; valid: "
                                 f"{', '.join(sorted(set(self.table['metric'])))}")
        guests = sorted(set(t["guest"]))
        g = guest if guest is not None else guests[-1]
        if g not in guests:
            raise ParameterError(f"guest {g!r} is not in the comparison; valid: {guests}")
        t = t[t["guest"] == g]
        if ax is None:
            _, ax = plt.subplots(figsize=(4.5, 3.2))
        colours = plt.rcParams["axes.prop_cycle"].by_key()["color"]
        for i, (s, grp) in enumerate(t.groupby("hold_us")):
            col = colours[i % len(colours)]
            for use, ls in ((True, "-"), (False, "--")):
                sub = grp[grp["mutex"] == use].sort_values("vcpus")
                if sub.empty:
                    continue
                ax.plot(sub["vcpus"], sub["predicted"], ls, color=col,
                        label=f"S={s:g} µs{'' if use else ', no mutex'}")
                ax.plot(sub["vcpus"], sub["measured"], "o" if use else "x", color=col)
        ax.set_xscale("log", base=2)
        ax.set_xlabel("vCPU threads V")
        unit = "exits/s" if metric == "exits_per_s" else "µs"
        ax.set_ylabel(f"{metric} ({unit})")
        if metric != "exits_per_s":
            ax.set_yscale("log")
        ax.set_title(f"{g} guest: measured (markers) vs model (lines)", fontsize=9)
        ax.legend(fontsize=7, ncol=2)
        return ax

    def __repr__(self) -> str:
        s = self.error_summary()
        parts = [f"{r.guest}/{r.metric}: median {r.median_abs_rel_error:.0%}"
                 for r in s.itertuples()]
        return "MutexComparison(" + "; ".join(parts) + ")"

    def _repr_html_(self) -> str:
        return _html_table(self.error_summary())
