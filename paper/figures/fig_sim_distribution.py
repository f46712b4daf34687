"""Figure: simulated latency distribution of virtio-blk at 70 % load, analytic mean marked."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import _common as C  # noqa: E402

REQUIRES: tuple[str, ...] = ("iovmodel.solve.sim",)
PATH = "virtio-blk"
LOAD = 0.7  # fraction of the saturation throughput


def main(out: Path, fast: bool = False) -> dict:
    h = C.host()
    sat = C.iov.analyze(PATH, h).saturation_per_s
    w = C.iov.Workload.open(LOAD * sat)
    analytic = C.iov.analyze(PATH, h, w)
    sim = C.iov.simulate(PATH, h, w, requests=5_000 if fast else 200_000,
                         replications=2 if fast else 8, seed=20261126, progress=False)
    with C.plot.style("single"):
        ax = C.plot.latency_distribution(sim, analytic=analytic)
        C.save_figure(ax.figure, out, "fig_sim_distribution")
    lo, hi = sim.latency_ci_us
    numbers = {"path": PATH, "load_pct": 100 * LOAD, "rate_kiops": w.rate_per_s / 1e3,
               "analytic_latency_us": analytic.latency_us, "sim_latency_us": sim.latency_us,
               "sim_ci_lo_us": lo, "sim_ci_hi_us": hi,
               "sim_minus_analytic_pct": 100 * (sim.latency_us / analytic.latency_us - 1),
               "requests": sim.requests, "replications": len(sim.replications),
               **{f"sim_{k.replace('.', '_')}_us": float(v) for k, v in sim.percentiles_us.items()}}
    numbers["p99_over_mean"] = numbers["sim_p99_us"] / sim.latency_us
    C.write_numbers(out, "fig_sim_distribution", numbers)
    return numbers


if __name__ == "__main__":
    C.cli(main, __doc__)
