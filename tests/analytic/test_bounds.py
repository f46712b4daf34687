"""Asymptotic and balanced-job bounds.

[LZGS] Lazowska, Zahorjan, Graham, Sevcik, Quantitative System Performance, 1984,
       ch. 5: asymptotic bounds (5.2), balanced system bounds (5.3).
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from iovmodel.errors import ParameterError
from iovmodel.solve.analytic import BoundsResult, bounds, mva


def test_asymptotic_bounds_by_hand():
    # [LZGS] 5.2 with D = (0.2, 0.1), Z = 1: D = 0.3, Dmax = 0.2, knee N* = (D+Z)/Dmax = 6.5;
    # X(N) <= min(N/1.3, 5), R(N) >= max(0.3, 0.2 N - 1).
    b = bounds([0.2, 0.1], 20, think=1.0)
    n = np.arange(1, 21)
    assert b.n_star == pytest.approx(6.5)
    assert np.all(b.X_upper <= np.minimum(n / 1.3, 5.0) + 1e-15)
    assert b.X_upper[0] == pytest.approx(1 / 1.3)
    assert b.X_upper[-1] == pytest.approx(5.0)
    assert b.R_lower[-1] == pytest.approx(0.2 * 20 - 1)
    assert np.all(b.X_lower >= n / (n * 0.3 + 1.0) - 1e-15)  # pessimistic ABA: R <= N D
    assert b.kind == "asymptotic+balanced"


@pytest.mark.parametrize("K,Dk,N", [(2, 0.5, 10), (4, 1.0, 7), (6, 0.25, 40)])
def test_balanced_bounds_are_exact_for_a_balanced_system(K, Dk, N):
    # [LZGS] 5.3: a balanced system (all D_k equal, Z = 0) has X(N) = N / ((N + K - 1) D_k),
    # and the balanced bounds coincide with it.
    b = bounds([Dk] * K, N)
    n = np.arange(1, N + 1)
    exact = n / ((n + K - 1) * Dk)
    np.testing.assert_allclose(b.X_upper, exact, rtol=1e-12)
    np.testing.assert_allclose(b.X_lower, exact, rtol=1e-12)
    np.testing.assert_allclose(mva([Dk] * K, N).X, exact, rtol=1e-12)


def test_multiserver_and_delay_asymptotics():
    # capacity c/D of the 3-server station (3/6 = 0.5) bounds X; delay demand adds to R only.
    b = bounds([6.0, 1.0, 10.0], 200, think=2.0, servers=[3, 1, math.inf])
    assert b.kind == "asymptotic"
    assert b.X_upper[-1] == pytest.approx(0.5)
    assert b.R_lower[0] == pytest.approx(17.0)
    assert b.n_star == pytest.approx(19.0 / 2.0)
    # pessimistic residence: delay 10 + 6 (n + 2)/3 + 1 n
    assert b.R_upper[4] == pytest.approx(10 + 6 * 7 / 3 + 5)


@settings(max_examples=60, deadline=None)
@given(K=st.integers(1, 5), data=st.data())
def test_bounds_are_ordered_and_converge(K, data):
    D = data.draw(st.lists(st.floats(0.01, 10), min_size=K, max_size=K))
    Z = data.draw(st.floats(0, 50))
    c = data.draw(st.lists(st.sampled_from([1, 2, 4, math.inf]), min_size=K, max_size=K))
    b = bounds(D, 300, think=Z, servers=c)
    assert np.all(b.X_lower <= b.X_upper * (1 + 1e-12))
    assert np.all(b.R_lower <= b.R_upper * (1 + 1e-12))
    assert np.all(np.diff(b.X_upper) >= -1e-12 * b.X_upper[1:])


def test_presentation_and_errors():
    b = bounds([1.0, 2.0], 30)
    assert isinstance(b, BoundsResult)
    assert "np.float64" not in repr(b) and "X(30)" in repr(b)
    assert list(b.to_frame().columns) == ["n", "X_lower", "X_upper", "R_lower", "R_upper"]
    assert "<table" in b._repr_html_()
    with pytest.raises(ParameterError, match="demands"):
        bounds([-1.0], 3)
    with pytest.raises(ParameterError, match="N"):
        bounds([1.0], 0)
