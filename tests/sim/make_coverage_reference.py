"""Recompute the long-run reference values of the coverage battery (tests/sim/test_sim_coverage.py).

Two cases of the battery have no closed form: M/G/3 and a tandem of three single-server stations,
both with lognormal service times of squared coefficient of variation 4. Their mean sojourn
times are estimated here by one very long run of code written independently of iovmodel's
simulator: Kiefer-Wolfowitz's recursion (Kiefer & Wolfowitz 1955, "On the theory of queues
with many servers", Trans. AMS 78) for M/G/3 and Lindley's recursion (Lindley 1952) station
after station for the tandem, with NumPy's own lognormal sampler. The first chunk of ``CHUNK``
customers is discarded (the run starts empty); the standard error comes from ``BATCHES`` batch means
of ``CHUNK`` customers each, whose lag-1 correlation is printed as a check that the batches
are long enough to be nearly independent.

Run (about a minute on one core):
``PYTHONPATH=. .venv/bin/python tests/sim/make_coverage_reference.py``
It overwrites ``tests/sim/data/coverage_reference.json`` only with ``--write``.
"""

from __future__ import annotations

import argparse
import json
import math
import os

import numpy as np
from numba import njit

SEED = 20261204
CHUNK = 10_000_000
BATCHES = 30

# the battery's two cases without a closed form (times in µs, rates per µs)
MG3 = {"servers": 3, "rate": 2.4, "mean": 1.0, "scv": 4.0}
LN_TANDEM = {"rate": 1.0, "means": [0.4, 0.7, 0.5], "scv": 4.0}


def lognormal(rng: np.random.Generator, mean: float, scv: float, n: int) -> np.ndarray:
    s2 = math.log1p(scv)
    return rng.lognormal(math.log(mean) - s2 / 2.0, math.sqrt(s2), n)


@njit(cache=False)
def _kw_chunk(a, s, free):
    """Sojourns of a FIFO c-server queue (``free``: server-free times, updated in place)."""
    n = a.shape[0]
    out = np.empty(n)
    c = free.shape[0]
    for i in range(n):
        k = 0
        for j in range(1, c):
            if free[j] < free[k]:
                k = j
        st = a[i] if a[i] > free[k] else free[k]
        free[k] = st + s[i]
        out[i] = st + s[i] - a[i]
    return out


@njit(cache=False)
def _lindley_chunk(a, s, dep):
    """Departures of a single FIFO server (``dep``: the previous departure, in place)."""
    n = a.shape[0]
    out = np.empty(n)
    d = dep[0]
    for i in range(n):
        st = a[i] if a[i] > d else d
        d = st + s[i]
        out[i] = d
    dep[0] = d
    return out


def run_mg3(rng: np.random.Generator) -> np.ndarray:
    free = np.zeros(MG3["servers"])
    t = 0.0
    means = []
    for b in range(BATCHES + 1):
        a = t + np.cumsum(rng.exponential(1.0 / MG3["rate"], CHUNK))
        t = a[-1]
        w = _kw_chunk(a, lognormal(rng, MG3["mean"], MG3["scv"], CHUNK), free)
        if b == 0:
            continue  # the first chunk (from empty: the warm-up) is not a batch
        means.append(w.mean())
    return np.array(means)


def run_tandem(rng: np.random.Generator) -> np.ndarray:
    deps = [np.zeros(1) for _ in LN_TANDEM["means"]]
    t = 0.0
    means = []
    for b in range(BATCHES + 1):
        a = t + np.cumsum(rng.exponential(1.0 / LN_TANDEM["rate"], CHUNK))
        t = a[-1]
        d = a
        for m, dep in zip(LN_TANDEM["means"], deps, strict=True):
            d = _lindley_chunk(d, lognormal(rng, m, LN_TANDEM["scv"], CHUNK), dep)
        if b == 0:
            continue
        means.append((d - a).mean())
    return np.array(means)


def summary(batch_means: np.ndarray) -> dict:
    m = float(batch_means.mean())
    se = float(batch_means.std(ddof=1) / math.sqrt(batch_means.size))
    z = batch_means - batch_means.mean()
    lag1 = float((z[1:] * z[:-1]).sum() / (z * z).sum())
    return {"mean_us": m, "stderr_us": se, "batches": int(batch_means.size),
            "batch_customers": CHUNK, "lag1_corr": lag1}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--write", action="store_true", help="overwrite the committed JSON")
    args = ap.parse_args()
    ss = np.random.SeedSequence(SEED).spawn(2)
    out = {
        "how": ("tests/sim/make_coverage_reference.py: one run of "
                f"{CHUNK * (BATCHES + 1):,} customers per case from empty, the first "
                f"{CHUNK:,} dropped, {BATCHES} batch means of {CHUNK:,}; independent "
                f"recursions (not iovmodel.solve.sim); seed {SEED}"),
        "mg3_lognormal": {**MG3, **summary(run_mg3(np.random.Generator(np.random.PCG64(ss[0]))))},
        "tandem_lognormal": {**LN_TANDEM,
                             **summary(run_tandem(np.random.Generator(np.random.PCG64(ss[1]))))},
    }
    print(json.dumps(out, indent=1))
    if args.write:
        path = os.path.join(os.path.dirname(__file__), "data", "coverage_reference.json")
        with open(path + ".tmp", "w") as f:
            json.dump(out, f, indent=1)
            f.write("\n")
        os.replace(path + ".tmp", path)


if __name__ == "__main__":
    main()
