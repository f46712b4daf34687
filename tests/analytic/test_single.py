"""Single-station closed forms against textbook values and independent Markov-chain solutions.

References
----------
[K] L. Kleinrock, Queueing Systems Vol. 1, Wiley 1975: M/M/1 section 3.2,
    M/M/c section 3.5, M/M/1/K section 3.6, M/G/1 and P-K section 5.
[G] D. Gross, J. Shortle, J. Thompson, C. Harris, Fundamentals of Queueing Theory,
    4th ed., 2008: M/M/1 2.2, M/M/c 2.3, M/M/1/K 2.5, M/G/1 5.1.
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
from _analytic_reference import (
    birth_death_mmc,
    erlang_ph,
    hyperexp_ph,
    md1_embedded_chain,
    mph1,
)
from hypothesis import given, settings
from hypothesis import strategies as st

from iovmodel.errors import IovModelError, ParameterError, UnstableError, UnstableQueueWarning
from iovmodel.solve.analytic import MM1KResult, md1, mg1, mgc, mm1, mm1k, mmc
from iovmodel.solve.analytic.single import _erlang_c

rho_st = st.floats(0.0, 0.98)
mu_st = st.floats(0.01, 100.0)
scv_st = st.floats(0.0, 10.0)
c_st = st.integers(1, 64)


# ----------------------------------------------------------------------------- worked values
def test_mm1_textbook_values():
    # [K] eqs. 3.24/3.26 at rho = 1/2: L = 1, W = 2/mu. lam = 0.5, mu = 1 by hand.
    r = mm1(0.5, 1.0)
    assert (r.rho, r.L, r.Lq, r.W, r.Wq) == pytest.approx((0.5, 1.0, 0.5, 2.0, 1.0))
    # rho = 0.9: L = 9 (the "knee" example every text gives)
    assert mm1(9.0, 10.0).L == pytest.approx(9.0)


def test_mm2_closed_form():
    # [G] section 2.3 / [K] 3.5: for c = 2, L = 2 rho / (1 - rho^2) and
    # P(wait) = 2 rho^2 / (1 + rho). With lam = mu = 1 (rho = 1/2): L = 4/3, C = 1/3.
    r = mmc(1.0, 1.0, 2)
    assert r.L == pytest.approx(4 / 3)
    assert r.p_wait == pytest.approx(1 / 3)
    assert r.Lq == pytest.approx(1 / 3)
    for rho in (0.1, 0.5, 0.77, 0.95):
        r = mmc(2 * rho, 1.0, 2)
        assert r.L == pytest.approx(2 * rho / (1 - rho**2), rel=1e-12)
        assert r.p_wait == pytest.approx(2 * rho**2 / (1 + rho), rel=1e-12)


def test_md1_half_of_mm1_wait():
    # [K] 5.7: M/D/1 waits half as long as M/M/1 at the same load, Lq = rho^2 / (2 (1 - rho)).
    for rho in (0.2, 0.5, 0.9):
        assert md1(rho, 1.0).Wq == pytest.approx(mm1(rho, 1.0).Wq / 2)
        assert md1(rho, 1.0).Lq == pytest.approx(rho**2 / (2 * (1 - rho)))


# ------------------------------------------------------------------ independent Markov chains
@pytest.mark.parametrize("lam,mu", [(0.3, 1.0), (0.8, 2.0), (4.5, 5.0)])
def test_mm1_matches_birth_death_chain(lam, mu):
    ref = birth_death_mmc(lam, mu, 1, nmax=600)
    r = mm1(lam, mu)
    assert r.L == pytest.approx(ref["L"], rel=1e-8)
    assert r.Lq == pytest.approx(ref["Lq"], rel=1e-8)


@pytest.mark.parametrize("c,rho", [(1, 0.6), (2, 0.3), (3, 0.9), (5, 0.75), (20, 0.85), (64, 0.95)])
def test_mmc_matches_birth_death_chain(c, rho):
    mu = 2.0
    lam = rho * c * mu
    ref = birth_death_mmc(lam, mu, c, nmax=c + 900)
    r = mmc(lam, mu, c)
    assert r.p_wait == pytest.approx(ref["p_wait"], rel=1e-8)
    assert r.L == pytest.approx(ref["L"], rel=1e-8)
    assert r.Lq == pytest.approx(ref["Lq"], rel=1e-7)


def test_erlang_c_large_c_two_routes_and_direct_sum():
    # Erlang-B recursion vs incomplete gamma vs the defining sum done in logs ([K] eq. 3.40).
    for c, a in [(100, 95.0), (1000, 990.0), (3000, 2900.0), (5000, 4999.0)]:
        rec = _erlang_c(np.array([c]), np.array([a]), "recursion")[0]
        gam = _erlang_c(np.array([c]), np.array([a]), "gamma")[0]
        k = np.arange(c)
        log_terms = k * math.log(a) - np.array([math.lgamma(v + 1) for v in k])
        log_top = c * math.log(a) - math.lgamma(c + 1) + math.log(c / (c - a))
        direct = math.exp(log_top - np.logaddexp(np.logaddexp.reduce(log_terms), log_top))
        assert rec == pytest.approx(direct, rel=1e-9)
        assert gam == pytest.approx(direct, rel=1e-9)
    # a million servers: no overflow, and the default (gamma) route is finite and in (0, 1)
    r = mmc(0.999e6, 1.0, 10**6)
    assert 0.0 < r.p_wait < 1.0 and math.isfinite(r.W)


@pytest.mark.parametrize("k", [1, 2, 4])
@pytest.mark.parametrize("rho", [0.3, 0.7])
def test_mg1_matches_m_erlang_1_chain(k, rho):
    # P-K formula ([K] eq. 5.72) vs a brute-force M/E_k/1 chain: Erlang-k has scv = 1/k.
    mean = 1.5
    alpha, T = erlang_ph(k, mean)
    ref = mph1(rho / mean, alpha, T, nmax=250)
    assert mg1(rho / mean, mean, 1.0 / k).L == pytest.approx(ref["L"], rel=1e-7)


def test_mg1_matches_m_h2_1_chain():
    # Hyperexponential service (scv > 1): p = 0.2 at rate 0.5, else rate 4.
    p, r1, r2 = 0.2, 0.5, 4.0
    alpha, T = hyperexp_ph(p, r1, r2)
    mean = p / r1 + (1 - p) / r2
    m2 = 2 * p / r1**2 + 2 * (1 - p) / r2**2
    scv = m2 / mean**2 - 1.0
    assert scv > 1.5
    lam = 0.6 / mean
    ref = mph1(lam, alpha, T, nmax=700)
    assert mg1(lam, mean, scv).L == pytest.approx(ref["L"], rel=1e-6)


@pytest.mark.parametrize("rho", [0.25, 0.6, 0.85])
def test_md1_matches_embedded_chain(rho):
    assert md1(rho, 1.0).L == pytest.approx(md1_embedded_chain(rho), rel=1e-8)


@pytest.mark.parametrize("K", [1, 2, 5, 40])
@pytest.mark.parametrize("rho", [0.5, 1.0, 1.7])
def test_mm1k_matches_finite_chain(K, rho):
    # The finite chain needs no truncation: [G] 2.5.
    mu = 3.0
    lam = rho * mu
    ref = birth_death_mmc(lam, mu, 1, nmax=K)
    r = mm1k(lam, mu, K)
    pi = ref["pi"]
    assert r.L == pytest.approx(ref["L"], rel=1e-9)
    assert r.p_block == pytest.approx(pi[-1], rel=1e-9)
    assert r.utilization == pytest.approx(1 - pi[0], rel=1e-9)
    assert r.throughput == pytest.approx(mu * (1 - pi[0]), rel=1e-9)  # flow balance
    assert r.W == pytest.approx(r.L / r.throughput)


def test_mm1k_single_slot_is_erlang_loss():
    # K = 1 is M/M/1/1: p_block = rho / (1 + rho) (Erlang B with one server).
    r = mm1k(2.0, 1.0, 1)
    assert r.p_block == pytest.approx(2 / 3)
    assert r.L == pytest.approx(2 / 3)
    assert r.Wq == pytest.approx(0.0)


@pytest.mark.parametrize("rho", [1 - 1e-7, 1.0, 1 + 1e-7, 1 - 1e-3, 1.02, 0.98])
def test_mm1k_no_cancellation_near_rho_one_large_K(rho):
    # L = sum n rho^n / sum rho^n evaluated directly in logs for K = 10^5.
    K = 100_000
    n = np.arange(K + 1)
    logw = n * math.log(rho)
    w = np.exp(logw - logw.max())
    L_ref = float(w @ n / w.sum())
    r = mm1k(rho, 1.0, K)
    assert r.L == pytest.approx(L_ref, rel=1e-9)
    assert r.p_block == pytest.approx(float(w[-1] / w.sum()), rel=1e-6)


def test_mgc_is_exact_for_exponential_and_single_server():
    assert mgc(2.4, 1.0, 1.0, 3).W == pytest.approx(mmc(2.4, 1.0, 3).W)
    assert mgc(0.5, 1.2, 0.3, 1).W == pytest.approx(mg1(0.5, 1.2, 0.3).W)
    # Allen-Cunneen scales M/M/c's wait by (1 + scv) / 2
    assert mgc(2.4, 1.0, 0.0, 3).Wq == pytest.approx(mmc(2.4, 1.0, 3).Wq / 2)


# ---------------------------------------------------------------------------- properties
@settings(max_examples=60, deadline=None)
@given(rho=rho_st, mu=mu_st, scv=scv_st, c=c_st)
def test_littles_law(rho, mu, scv, c):
    for r in (mm1(rho * mu, mu), mmc(rho * c * mu, mu, c), mg1(rho * mu, 1 / mu, scv),
              md1(rho * mu, mu), mgc(rho * c * mu, 1 / mu, scv, c)):
        assert r.L == pytest.approx(r.lam * r.W, rel=1e-9, abs=1e-12)
        assert r.Lq == pytest.approx(r.lam * r.Wq, rel=1e-9, abs=1e-12)
        assert r.W >= r.Wq >= 0
    k = mm1k(rho * mu * 2, mu, c)
    assert k.L == pytest.approx(k.throughput * k.W, rel=1e-9, abs=1e-12)


@settings(max_examples=60, deadline=None)
@given(rho=rho_st, mu=mu_st)
def test_special_cases_agree(rho, mu):
    lam = rho * mu
    a, b = mm1(lam, mu), mmc(lam, mu, 1)
    assert (b.L, b.W, b.Wq) == pytest.approx((a.L, a.W, a.Wq), rel=1e-12, abs=1e-15)
    assert b.p_wait == pytest.approx(rho, abs=1e-12)  # Erlang C with one server
    e = mg1(lam, 1 / mu, 1.0)
    assert e.W == pytest.approx(a.W, rel=1e-12)
    d = mg1(lam, 1 / mu, 0.0)
    assert d.W == pytest.approx(md1(lam, mu).W, rel=1e-12)


@settings(max_examples=60, deadline=None)
@given(rho=rho_st, mu=mu_st, scv=scv_st)
def test_mgc_one_server_is_pollaczek_khinchine(rho, mu, scv):
    assert mgc(rho * mu, 1 / mu, scv, 1).W == pytest.approx(mg1(rho * mu, 1 / mu, scv).W,
                                                         rel=1e-12)


@settings(max_examples=80, deadline=None)
@given(rho=st.floats(0.0, 0.999), mu=mu_st, scv=scv_st, c=st.integers(1, 64))
def test_mgc_wait_of_plain_numbers_is_mgc_bit_for_bit(rho, mu, scv, c):
    # the open solver's scalar path (mgc_wait) must be mgc itself, not an approximation of it
    from iovmodel.solve.analytic.single import mgc_wait

    lam = rho * c * mu
    q = mgc(lam, 1 / mu, scv, c)
    assert mgc_wait(lam, 1 / mu, scv, c) == (float(q.Wq), float(q.W))


@settings(max_examples=40, deadline=None)
@given(rho=st.floats(0.0, 0.9), mu=mu_st)
def test_mm1k_tends_to_mm1(rho, mu):
    # p_K ~ rho^K: at K = 2000 and rho <= 0.9 the truncation is far below rounding.
    a, b = mm1(rho * mu, mu), mm1k(rho * mu, mu, 2000)
    assert b.L == pytest.approx(a.L, rel=1e-9, abs=1e-12)
    assert b.W == pytest.approx(a.W, rel=1e-9)


@settings(max_examples=40, deadline=None)
@given(c=c_st, mu=mu_st)
def test_mmc_wait_grows_with_load_and_shrinks_with_servers(c, mu):
    lam = np.linspace(0, 0.95, 20) * c * mu
    W = mmc(lam, mu, c).W
    assert np.all(np.diff(W) >= -1e-12)
    assert mmc(lam[-1], mu, c + 1).W <= W[-1] + 1e-12


def test_vector_inputs_broadcast():
    r = mmc(np.array([[1.0], [2.0]]), 1.0, np.array([3, 4, 5]))
    assert r.W.shape == (2, 3)
    assert r.W[1, 0] == pytest.approx(mmc(2.0, 1.0, 3).W)
    df = r.to_frame()
    assert len(df) == 6 and {"lam", "mu", "c", "W", "p_wait"} <= set(df.columns)
    assert not r.W.flags.writeable


def test_presentation():
    r = mm1(0.5, 1.0, name="bql")
    text = repr(r)
    assert "np.float64" not in text and "rho=0.5" in text
    assert "<table" in r._repr_html_() and "bql" in r._repr_html_()
    assert r.to_dict()["W"] == 2.0
    assert isinstance(mm1k(1, 2, 3), MM1KResult)
    assert "<table" in mm1(np.array([0.1, 0.2]), 1.0)._repr_html_()


# ------------------------------------------------------------------------------ bad input
def test_unstable_raises_with_name_rho_and_capacity():
    with pytest.raises(UnstableError, match=r"'bql'.*1\.2.*120000.*100000"):
        mm1(120000.0, 100000.0, name="bql")
    with pytest.raises(UnstableError, match="capacity 4"):
        mmc(4.0, 1.0, 4)
    with pytest.raises(UnstableError):
        mg1(1.0, 1.0, 0.5)
    with pytest.raises(UnstableError):
        md1(2.0, 1.0)
    with pytest.raises(UnstableError, match="point 2 of 3"):
        mm1([0.1, 0.5, 1.5], 1.0)
    assert issubclass(UnstableError, ValueError) and issubclass(UnstableError, IovModelError)


def test_unstable_nan_policy_warns():
    with pytest.warns(UnstableQueueWarning):
        r = mm1(np.array([0.5, 1.5]), 1.0, nan_policy="nan")
    assert r.W[0] == pytest.approx(2.0) and math.isnan(r.W[1])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        mm1(np.array([0.5]), 1.0, nan_policy="nan")  # stable: no warning
    with pytest.raises(ParameterError, match="nan_policy"):
        mm1(0.5, 1.0, nan_policy="ignore")


@pytest.mark.parametrize("call,param", [
    (lambda: mm1(-1.0, 1.0), "lam"),
    (lambda: mm1(float("nan"), 1.0), "lam"),
    (lambda: mm1(0.5, 0.0), "mu"),
    (lambda: mm1(0.5, -2.0), "mu"),
    (lambda: mm1("fast", 1.0), "lam"),
    (lambda: mmc(0.5, 1.0, 0), "c"),
    (lambda: mmc(0.5, 1.0, 2.5), "c"),
    (lambda: mmc(0.5, 1.0, True), "c"),
    (lambda: mg1(0.5, -1.0, 1.0), "mean_s"),
    (lambda: mg1(0.5, 1.0, -0.1), "scv"),
    (lambda: mg1(0.5, 1.0, float("inf")), "scv"),
    (lambda: mgc(0.5, 1.0, 1.0, 0), "c"),
    (lambda: mm1k(0.5, 1.0, 0), "K"),
    (lambda: mm1k(0.5, 1.0, 3.5), "K"),
    (lambda: mm1k(-0.5, 1.0, 3), "lam"),
])
def test_bad_input_names_parameter(call, param):
    with pytest.raises(ParameterError, match=param):
        call()


def test_mm1k_is_stable_beyond_capacity():
    r = mm1k(10.0, 1.0, 8)
    assert r.throughput < 1.0 and r.p_block > 0.89
