"""Multiclass MVA: exact against an independent implementation (line-solver), against the
single-class solver, and the Bard-Schweitzer approximation's error against the exact solution."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from iovmodel import ParameterError
from iovmodel.solve.analytic import mva
from iovmodel.solve.analytic.multiclass import mva_multiclass

REF = json.loads((Path(__file__).parent / "reference" / "multiclass_line_solver.json").read_text())


@pytest.mark.parametrize("case", REF["cases"], ids=lambda c: f"C{len(c['populations'])}")
def test_exact_matches_line_solver(case):
    # reference: line-solver's pfqn_mva / pfqn_mvams (made by reference/make_multiclass_reference.py)
    servers = [math.inf if s == "inf" else s for s in case["servers"]]
    r = mva_multiclass(case["demands"], case["populations"], case["think"], servers,
                       method="exact")
    np.testing.assert_allclose(r.X, case["X"], rtol=1e-9)


@settings(max_examples=40, deadline=None, derandomize=True)
@given(st.lists(st.floats(0.01, 5.0), min_size=1, max_size=4), st.integers(1, 12),
       st.floats(0.0, 5.0), st.lists(st.sampled_from([1, 2, 3, math.inf]), min_size=4,
                                    max_size=4))
def test_one_class_is_single_class_mva(D, N, Z, servers):
    servers = servers[:len(D)]
    r = mva_multiclass([D], [N], Z, servers, method="exact")
    e = mva(D, N, think=Z, servers=servers)
    np.testing.assert_allclose(r.X[0], e.X[-1], rtol=1e-10)
    np.testing.assert_allclose(r.Rk[0], e.Rk[-1], rtol=1e-9, atol=1e-12)


@settings(max_examples=30, deadline=None, derandomize=True)
@given(st.lists(st.floats(0.01, 5.0), min_size=1, max_size=4), st.integers(1, 6),
       st.integers(1, 6), st.sampled_from([1, 2, 3]))
def test_identical_classes_merge(D, n1, n2, m):
    # two classes with the same demands are one class of n1 + n2 (the totals are the same)
    servers = [m] + [1] * (len(D) - 1)
    r = mva_multiclass([D, D], [n1, n2], 0.0, servers, method="exact")
    e = mva(D, n1 + n2, servers=servers)
    np.testing.assert_allclose(r.X.sum(), e.X[-1], rtol=1e-10)
    # each class gets its share of the throughput (Little: X_c = n_c / R)
    np.testing.assert_allclose(r.X / np.array([n1, n2]), e.X[-1] / (n1 + n2), rtol=1e-10)


@pytest.mark.parametrize("split", [(256,), (128, 128), (200, 40, 16)])
def test_many_servers_far_past_saturation_stay_exact(split):
    # a 32-slot device behind 16 back-end threads and a 4-vCPU guest (xen-blkfront's
    # stations at 16 rings, QD 256): an idle probability taken as one minus the others
    # loses every digit here (the throughput came out at half its bound). Identical
    # classes must give the single-class answer, whose kernel takes idle probabilities
    # from complement networks (Reiser 1981), and meet the bound m / D of the device.
    D = [4.0, 1.17, 13.354, 2.0, 33.88]
    servers = [4, 16, 16, math.inf, 32]
    r = mva_multiclass([D] * len(split), list(split), 0.0, servers, method="exact")
    e = mva(D, sum(split), servers=servers)
    np.testing.assert_allclose(r.X.sum(), e.X[-1], rtol=1e-9)
    assert r.X.sum() <= 32 / 33.88 * (1 + 1e-12)
    assert r.X.sum() >= 0.99 * 32 / 33.88  # 256 requests on 32 slots: saturated


@settings(max_examples=40, deadline=None, derandomize=True)
@given(st.integers(1, 3), st.integers(1, 4), st.randoms(use_true_random=False))
def test_littles_law_and_utilisation_bound(C, K, rnd):
    D = np.array([[rnd.uniform(0.05, 2) for _ in range(K)] for _ in range(C)])
    N = [rnd.randint(1, 6) for _ in range(C)]
    Z = [rnd.uniform(0, 2) for _ in range(C)]
    for method in ("exact", "schweitzer"):
        r = mva_multiclass(D, N, Z, method=method)
        # Little's law per class over the whole cycle: N_c = X_c (Z_c + R_c)
        np.testing.assert_allclose(r.X * (np.array(Z) + r.R), N, rtol=1e-7)
        assert (r.U <= 1 + 1e-9).all()


def test_schweitzer_error_against_exact():
    # Bard-Schweitzer's documented error on the line-solver cases: the worst case is one
    # request per class (where the approximation's (N_c-1)/N_c share is crudest)
    errs = []
    for case in REF["cases"]:
        servers = [math.inf if s == "inf" else s for s in case["servers"]]
        a = mva_multiclass(case["demands"], case["populations"], case["think"], servers,
                           method="schweitzer")
        errs.append(float(np.max(np.abs(a.X - case["X"]) / np.array(case["X"]))))
    assert max(errs) < 0.16
    assert float(np.median(errs)) < 0.05


def test_bad_input():
    with pytest.raises(ParameterError, match="populations"):
        mva_multiclass([[1.0]], [0])
    with pytest.raises(ParameterError, match="servers"):
        mva_multiclass([[1.0, 2.0]], [2], servers=[2.5, 1])
    with pytest.raises(ParameterError, match="demands"):
        mva_multiclass([1.0, 2.0], [2])
    with pytest.raises(ParameterError, match="method"):
        mva_multiclass([[1.0]], [2], method="linearizer")
    with pytest.raises(ParameterError, match="population vectors"):
        mva_multiclass(np.ones((8, 2)), [30] * 8, method="exact")
    with pytest.raises(ParameterError, match="no demand"):
        mva_multiclass([[0.0, 0.0]], [2])


@settings(max_examples=60, deadline=None, derandomize=True)
@given(st.integers(1, 3), st.integers(2, 5), st.integers(2, 12), st.floats(0.2, 6.0),
       st.randoms(use_true_random=False))
def test_idle_probabilities_by_subtraction_only_where_they_hold_ten_digits(C, K, m, load, rnd):
    # exact_mc takes a multi-server station's idle probability as one minus the others
    # when none of them falls below P0_TRUSTED (1e-6) and solves the complement networks
    # otherwise: either way its answer is the complements' (Reiser 1981) to 1e-10
    from iovmodel.solve.analytic._kernels_mc import exact_mc, exact_mc_complements

    D = np.array([[rnd.uniform(0.05, 2.0) for _ in range(K)] for _ in range(C)])
    D[:, 0] *= load  # the multi-server station, from idle to far past saturation
    N = np.array([rnd.randint(1, 9) for _ in range(C)], dtype=np.int64)
    code = np.array([m] + [rnd.choice([0, 1, 2]) for _ in range(K - 1)], dtype=np.int64)
    Z = np.array([rnd.uniform(0.0, 1.0) for _ in range(C)])
    X, R = exact_mc(D, N, Z, code)
    Xc, Rc = exact_mc_complements(D, N, Z, code)
    np.testing.assert_allclose(X, Xc, rtol=1e-10)
    np.testing.assert_allclose(R, Rc, rtol=1e-9, atol=1e-12)
