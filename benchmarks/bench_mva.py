"""Exact MVA: iovmodel against LINE (``pip install line-solver``) in the same process.

Run: ``.venv/bin/python benchmarks/bench_mva.py [--repeat 200] [--line-n 512]``

1. The closed network of issue 2's benchmark: think time 1.0, two single-server
   stations with demands 0.2 and 0.1, populations 1..64. iovmodel's
   :func:`~iovmodel.solve.analytic.mva` against LINE's solver object
   (``MVA(model, method="exact").avg_table()``, the call a LINE user makes) and
   LINE's core routine ``pfqn_mva``; both must give the same X(64).
2. The lead's largest case: N = 16384 (64 jobs x 256 iodepth), 6 stations
   including a 4-server one and a delay. LINE's load-dependent MVA
   (``pfqn_mvams``) is quadratic in N in Python, so it is timed at
   ``--line-n`` (default 512) and compared there.

Each time is the best of ``--repeat`` runs after a warm-up (so numba's compile
or cache load is excluded and reported separately). LINE 3.x is a native
Python package; its optional ``lang="java"`` path needs ``jline.jar`` (a
download), which this script does not attempt.
"""

from __future__ import annotations

import argparse
import math
import shutil
import subprocess
import sys
import time

import numpy as np
from _timing import best_of, fmt_t


def java_version() -> str:
    if shutil.which("java") is None:
        return "no java on PATH"
    out = subprocess.run(["java", "-version"], capture_output=True, text=True, check=False)
    return (out.stderr or out.stdout).splitlines()[0]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=200)
    ap.add_argument("--line-n", type=int, default=512,
                    help="population for LINE's multi-server MVA (quadratic in N)")
    args = ap.parse_args(argv)

    t0 = time.perf_counter()
    from iovmodel.solve.analytic import mva, schweitzer_mva
    t_import = time.perf_counter() - t0

    D2, Z2, N2 = [0.2, 0.1], 1.0, 64
    t0 = time.perf_counter()
    ours = mva(D2, N2, think=Z2)
    t_first = time.perf_counter() - t0
    t_ours = best_of(lambda: mva(D2, N2, think=Z2), args.repeat)

    rows: list[tuple[str, str, str, str]] = []
    rows.append(("iovmodel mva, N=1..64", fmt_t(t_ours), f"{ours.X[-1]:.12g}", "1.0"))

    try:
        t0 = time.perf_counter()
        import line_solver as ls
        from line_solver.api.pfqn.mva import pfqn_mva
        from line_solver.api.pfqn.mvald import pfqn_mvams
        t_ls_import = time.perf_counter() - t0
    except ImportError as exc:
        print(f"line-solver not importable ({exc}); pip install line-solver to compare")
        ls = None

    notes = [f"iovmodel: import {fmt_t(t_import).strip()}, first mva call (numba compile or "
             f"cache load) {fmt_t(t_first).strip()}"]
    if ls is not None:
        ls.GlobalConstants.set_verbose(ls.VerboseLevel.SILENT)
        t0 = time.perf_counter()
        model = ls.Network("bench")
        think = ls.Delay(model, "Think")
        q1 = ls.Queue(model, "Q1", ls.SchedStrategy.FCFS)
        q2 = ls.Queue(model, "Q2", ls.SchedStrategy.FCFS)
        jobs = ls.ClosedClass(model, "Jobs", N2, think)
        think.set_service(jobs, ls.Exp(1.0 / Z2))
        q1.set_service(jobs, ls.Exp(1.0 / D2[0]))
        q2.set_service(jobs, ls.Exp(1.0 / D2[1]))
        model.link(ls.Network.serial_routing(think, q1, q2))
        t_model = time.perf_counter() - t0

        def line_solve():
            return ls.MVA(model, method="exact").avg_table()

        tab = line_solve()  # warm-up
        x_line = float(tab.loc[tab["Station"] == "Q1", "Tput"].iloc[0])
        t_line = best_of(line_solve, max(args.repeat // 10, 5))
        L = np.array([[D2[0]], [D2[1]]])

        def core():
            return pfqn_mva(L, np.array([N2]), np.array([Z2]))

        x_core = float(np.ravel(core()[0])[0])
        t_core = best_of(core, args.repeat)
        rows.append(("LINE MVA(model).avg_table()", fmt_t(t_line), f"{x_line:.12g}",
                     f"{t_line / t_ours:.0f}"))
        rows.append(("LINE pfqn_mva (core)", fmt_t(t_core), f"{x_core:.12g}",
                     f"{t_core / t_ours:.0f}"))
        agree = abs(x_line - ours.X[-1]) <= 1e-9 * ours.X[-1] and \
            abs(x_core - ours.X[-1]) <= 1e-9 * ours.X[-1]
        notes.append(f"LINE {getattr(ls, '__version__', '3.x')}: import "
                     f"{fmt_t(t_ls_import).strip()}, model build {fmt_t(t_model).strip()}; "
                     f"native Python, no JVM started ({java_version()}; lang='java' needs "
                     "jline.jar, not installed)")
        notes.append(f"X(64) agree to 1e-9: {agree}")

    # --- the lead's largest case -------------------------------------------------------
    D6 = [2.0, 11.0, 2.0, 1.5, 2.5, 4.0]
    c6 = [1, 4, 1, 1, 1, math.inf]
    Z6, N6 = 5.0, 16384
    big = mva(D6, N6, think=Z6, servers=c6)
    t_big = best_of(lambda: mva(D6, N6, think=Z6, servers=c6), max(args.repeat // 20, 5))
    t_sch = best_of(lambda: schweitzer_mva(D6, N6, think=Z6, servers=c6),
                    max(args.repeat // 20, 5))
    sch = schweitzer_mva(D6, N6, think=Z6, servers=c6)
    rows.append(("iovmodel mva, N=1..16384, K=6 (4-server)", fmt_t(t_big),
                 f"{big.X[-1]:.12g}", "-"))
    rows.append(("iovmodel schweitzer_mva, same", fmt_t(t_sch), f"{sch.X[-1]:.12g}", "-"))

    if ls is not None:
        Nl = args.line_n
        small = mva(D6, Nl, think=Z6, servers=c6)
        t_small = best_of(lambda: mva(D6, Nl, think=Z6, servers=c6), max(args.repeat // 10, 5))
        Lq = np.array(D6[:5]).reshape(-1, 1)
        S = np.array(c6[:5], dtype=float)
        zl = np.array([Z6 + D6[5]])  # the delay station folds into the think time

        def line_ms():
            return pfqn_mvams(np.zeros(1), Lq, np.array([Nl]), zl, None, S)

        t0 = time.perf_counter()
        x_ms = float(np.ravel(line_ms()[0])[0])
        t_ms = time.perf_counter() - t0
        rows.append((f"iovmodel mva, N=1..{Nl}, K=6 (4-server)", fmt_t(t_small),
                     f"{small.X[-1]:.12g}", "1.0"))
        rows.append((f"LINE pfqn_mvams, N={Nl} (one run)", fmt_t(t_ms), f"{x_ms:.12g}",
                     f"{t_ms / t_small:.0f}"))
        notes.append(f"multi-server X({Nl}) agree to 1e-9: "
                     f"{abs(x_ms - small.X[-1]) <= 1e-9 * small.X[-1]}")

    w = max(len(r[0]) for r in rows)
    print(f"{'case':<{w}}  {'time':>12}  {'X(N)':>16}  {'x slower':>8}")
    print("-" * (w + 44))
    for name, t, x, ratio in rows:
        print(f"{name:<{w}}  {t:>12}  {x:>16}  {ratio:>8}")
    print()
    for n in notes:
        print("- " + n)
    return 0


if __name__ == "__main__":
    sys.exit(main())
