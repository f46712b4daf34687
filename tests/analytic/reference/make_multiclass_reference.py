"""Regenerate multiclass_line_solver.json: exact multiclass MVA by line-solver (an independent
implementation; `pip install line-solver`, pure Python), on seeded random small networks.

    python tests/analytic/reference/make_multiclass_reference.py
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
from line_solver.api.pfqn import pfqn_mva, pfqn_mvams


def main() -> None:
    rng = np.random.default_rng(20261204)
    cases = []
    for i in range(24):
        C = int(rng.integers(1, 4))
        K = int(rng.integers(1, 5))
        D = rng.uniform(0.05, 3.0, size=(C, K)) * (rng.uniform(size=(C, K)) > 0.15)
        D[:, 0] = np.maximum(D[:, 0], 0.05)
        N = rng.integers(1, 7, size=C)
        Z = rng.uniform(0, 4, size=C) * (rng.uniform(size=C) > 0.5)
        servers = [1] * K
        if i >= 12:  # multi-server stations (same mean service for every class there)
            k = int(rng.integers(0, K))
            servers[k] = int(rng.integers(2, 4))
            D[:, k] = D[0, k]
        if i % 5 == 4:  # a delay station
            servers[-1] = math.inf
        if all(s == 1 or math.isinf(s) for s in servers):
            Lq = D.T[[k for k in range(K) if servers[k] == 1]]
            Zd = Z + D.T[[k for k in range(K) if math.isinf(servers[k])]].sum(axis=0)
            X, *_ = pfqn_mva(Lq, N.astype(float), Zd)
            XN = np.asarray(X, dtype=float).ravel()
        else:
            S = np.array([1e9 if math.isinf(s) else s for s in servers], dtype=float)
            XN, *_ = pfqn_mvams(np.zeros(C), D.T.copy(), N.astype(float), Z, None, S)
            XN = np.asarray(XN, dtype=float).ravel()
        cases.append({"demands": D.tolist(), "populations": N.tolist(), "think": Z.tolist(),
                      "servers": ["inf" if math.isinf(s) else s for s in servers],
                      "X": XN.tolist()})
    out = Path(__file__).with_name("multiclass_line_solver.json")
    out.write_text(json.dumps({"made_by": "line-solver " + _version() + ", pfqn_mva / pfqn_mvams",
                               "cases": cases}, indent=1) + "\n")


def _version() -> str:
    from importlib.metadata import version

    return version("line-solver")


if __name__ == "__main__":
    main()
