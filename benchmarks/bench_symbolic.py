"""Compiled closed forms (``iovmodel.symbolic.evaluator``) against the plain ``analyze()`` loop.

Run: ``.venv/bin/python benchmarks/bench_symbolic.py [--points 2000] [--repeat 5]``

For each path: the open-load latency curve at ``--points`` rates from 1 % to
97 % of the path's saturation throughput, computed

1. by a loop of ``iov.analyze(path, host, Workload.open(rate))`` (what a user writes),
2. by ``iov.sweep(path, host, rate_per_s=rates)`` (one network, one solve per point),
3. by ``symbolic.evaluator(path)(rate_per_s=rates)`` (one numpy call; compile time
   reported separately: building the sympy form and lambdify),

and a 2-D grid (rate x ``vmexit_us``, 100 x 50 points) by the evaluator against
the analyze loop over the same grid. The curves must agree to 1e-9 relative
(checked here); times are the best of ``--repeat`` runs, in one process.
"""

from __future__ import annotations

import argparse
import math
import time

import numpy as np
from _timing import best_of, fmt_t

import iovmodel as iov
from iovmodel import symbolic as S
from iovmodel.symbolic import expressions as SE


def bench_path(name: str, host, points: int, repeat: int) -> dict:
    sat = iov.analyze(name, host).saturation_per_s
    top = 0.97 * sat if math.isfinite(sat) else 1e6
    rates = np.linspace(top / 97, top, points)

    def loop():
        return np.array([iov.analyze(name, host, iov.Workload.open(r)).latency_us for r in rates])

    def sweep():
        return iov.sweep(name, host, rate_per_s=rates)["latency_us"].to_numpy()

    t0 = time.perf_counter()
    SE._CACHE.clear()
    f = S.evaluator(name, host=host)
    t_compile = time.perf_counter() - t0
    ref = loop()
    got = f(rate_per_s=rates)
    err = float(np.max(np.abs(got - ref) / ref))
    if err > 1e-9:
        raise SystemExit(f"{name}: evaluator differs from analyze by {err:.2e} (relative)")
    return {
        "path": name, "points": points, "compile": t_compile,
        "loop": best_of(loop, max(1, repeat // 2)), "sweep": best_of(sweep, max(1, repeat // 2)),
        "eval": best_of(lambda: f(rate_per_s=rates), repeat), "max_rel_err": err,
    }


def bench_grid(name: str, host, repeat: int) -> dict:
    sat = iov.analyze(name, host.replace(vmexit_us=1.5)).saturation_per_s
    rates = np.linspace(sat / 100, 0.95 * sat, 100)
    exits = np.linspace(0.2, 1.5, 50)
    f = S.evaluator(name, host=host)
    R, E = np.meshgrid(rates, exits, indexing="ij")

    def loop():
        return np.array([[iov.analyze(name, host.replace(vmexit_us=e), iov.Workload.open(r)).latency_us
                          for e in exits] for r in rates])

    ref = loop()
    got = f(rate_per_s=R, vmexit_us=E)
    err = float(np.max(np.abs(got - ref) / ref))
    if err > 1e-9:
        raise SystemExit(f"{name} grid: evaluator differs from analyze by {err:.2e}")
    return {"path": name, "points": R.size, "loop": best_of(loop, 1),
            "eval": best_of(lambda: f(rate_per_s=R, vmexit_us=E), repeat), "max_rel_err": err}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--points", type=int, default=2000)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--paths", nargs="*",
                    default=["virtio-blk", "emulated-ide", "emulated-e1000", "vhost-scsi"])
    args = ap.parse_args(argv)
    host = iov.HostProfile.default()
    iov.analyze("virtio-blk", host)  # warm-up: imports, caches
    print(f"open-load latency curve, {args.points} rates per path (best of {args.repeat})")
    print(f"{'path':<16}{'analyze loop':>14}{'sweep':>12}{'evaluator':>12}{'compile':>12}"
          f"{'loop/eval':>11}{'sweep/eval':>11}{'loop/(eval+compile)':>21}{'max rel err':>13}")
    for name in args.paths:
        r = bench_path(name, host, args.points, args.repeat)
        print(f"{name:<16}{fmt_t(r['loop'], 8):>14}{fmt_t(r['sweep'], 8):>12}{fmt_t(r['eval'], 8):>12}"
              f"{fmt_t(r['compile'], 8):>12}{r['loop'] / r['eval']:>10.0f}x"
              f"{r['sweep'] / r['eval']:>10.0f}x{r['loop'] / (r['eval'] + r['compile']):>20.1f}x"
              f"{r['max_rel_err']:>13.1e}")
    g = bench_grid("emulated-e1000", host, args.repeat)
    print(f"\n2-D grid rate x vmexit_us on {g['path']}, {g['points']} points: analyze loop "
          f"{fmt_t(g['loop'], 8).strip()}, evaluator {fmt_t(g['eval'], 8).strip()} "
          f"({g['loop'] / g['eval']:.0f}x), max rel err {g['max_rel_err']:.1e}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
