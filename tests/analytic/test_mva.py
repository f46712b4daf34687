"""Exact and approximate MVA against hand recursions, closed forms, convolution and CTMCs.

References
----------
[LZGS] E. Lazowska, J. Zahorjan, G. S. Graham, K. Sevcik, Quantitative System
       Performance, Prentice-Hall 1984: exact MVA section 6.3 (Algorithm 6.1),
       Schweitzer's approximation section 6.4.2, convolution section 8.2.
[K]    L. Kleinrock, Queueing Systems Vol. 1, 1975, section 3.8 (M/M/1//M, the
       finite-population "machine repairman" queue).
[MAD]  D. Menascé, V. Almeida, L. Dowdy, Performance by Design, 2004, ch. 13
       (MVA with load-dependent / multi-server devices).
[B]    J. Buzen, "Computational algorithms for closed queueing networks with
       exponential servers", CACM 16(9), 1973.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from _analytic_reference import (
    closed_ctmc,
    log_convolution,
    log_convolution_x,
    textbook_multiserver_mva,
)
from hypothesis import given, settings
from hypothesis import strategies as st

from iovmodel.errors import ParameterError
from iovmodel.solve.analytic import MAX_MULTISERVER_STATIONS, MVAResult, bounds, mva, schweitzer_mva

INF = math.inf

demand_st = st.floats(0.01, 10.0)
server_st = st.sampled_from([1, 1, 2, 3, 4, INF])


@st.composite
def networks(draw, max_k=4, max_n=40, multi=True):
    K = draw(st.integers(1, max_k))
    D = draw(st.lists(demand_st, min_size=K, max_size=K))
    c = [draw(server_st) if multi else 1 for _ in range(K)]
    Z = draw(st.sampled_from([0.0, 0.5, 3.0, 25.0]))
    N = draw(st.integers(1, max_n))
    return D, c, Z, N


# ------------------------------------------------------------------------- worked examples
def test_recursion_by_hand_two_stations_with_think():
    # [LZGS] Algorithm 6.1 by hand, Z = 1, D = (0.2, 0.1):
    # n=1: R = 0.3, X = 1/1.3.  n=2: Q(1) = (0.2, 0.1)/1.3, R_1 = 0.2 (1.5/1.3), R_2 = 0.1 (1.4/1.3),
    #      R = 0.44/1.3, X = 2 / (1 + 0.44/1.3) = 2.6 / 1.74.
    r = mva([0.2, 0.1], 2, think=1.0)
    assert r.X[0] == pytest.approx(1 / 1.3)
    assert r.R[0] == pytest.approx(0.3)
    assert r.Rk[1] == pytest.approx([0.2 * 1.5 / 1.3, 0.1 * 1.4 / 1.3])
    assert r.X[1] == pytest.approx(2.6 / 1.74)
    # at N = 64 the bottleneck (D = 0.2) is saturated: X -> 1/0.2 = 5 ([LZGS] section 5.2)
    assert mva([0.2, 0.1], 64, think=1.0).X[-1] == pytest.approx(5.0, rel=1e-9)


@pytest.mark.parametrize("M,ratio", [(1, 0.5), (5, 0.2), (20, 0.08), (60, 0.05)])
def test_machine_repairman_closed_form(M, ratio):
    # [K] 3.8: M sources thinking Z, one server of mean S. With r = S/Z,
    # p0 = 1 / sum_{k=0}^M M!/(M-k)! r^k and X = (1 - p0) / S.
    S = 2.0
    Z = S / ratio
    terms = [math.exp(math.lgamma(M + 1) - math.lgamma(M - k + 1) + k * math.log(ratio))
             for k in range(M + 1)]
    p0 = 1.0 / math.fsum(terms)
    r = mva([S], M, think=Z)
    assert r.X[-1] == pytest.approx((1 - p0) / S, rel=1e-11)
    assert r.Q[-1, 0] == pytest.approx(M - r.X[-1] * Z, rel=1e-11)  # [K] 3.8: N = M - X Z


def test_two_station_cycle_closed_form():
    # Two single servers in a cycle, no think: G(n) = sum_j D1^j D2^(n-j) ([B]),
    # so X(n) = G(n-1)/G(n) = (D1^n - D2^n)/(D1^(n+1) - D2^(n+1)) for D1 != D2.
    D1, D2 = 3.0, 2.0
    r = mva([D1, D2], 30)
    n = np.arange(1, 31)
    expected = (D1**n - D2**n) / (D1 ** (n + 1) - D2 ** (n + 1))
    np.testing.assert_allclose(r.X, expected, rtol=1e-12)


def test_single_multiserver_station_is_engset_like_chain():
    # One c-server station and think Z: the finite-source M/M/c//N birth-death chain ([G] 2.7):
    # p_n ∝ N!/(N-n)! (S/Z)^n / (n! for n <= c, c! c^(n-c) otherwise).
    S, Z, c, N = 1.0, 4.0, 3, 12
    w = []
    for n in range(N + 1):
        denom = math.factorial(n) if n <= c else math.factorial(c) * c ** (n - c)
        w.append(math.factorial(N) / math.factorial(N - n) * (S / Z) ** n / denom)
    p = np.array(w) / sum(w)
    busy = sum(min(n, c) * p[n] for n in range(N + 1))
    r = mva([S], N, think=Z, servers=[c])
    assert r.X[-1] == pytest.approx(busy / S, rel=1e-12)
    assert r.Q[-1, 0] == pytest.approx(float(p @ np.arange(N + 1)), rel=1e-12)


# ---------------------------------------------------------------- independent algorithms
@pytest.mark.parametrize("D,c,Z,N", [
    ([1.0, 2.0], [1, 2], 0.0, 4),
    ([0.5, 1.5, 0.7], [3, 1, INF], 2.0, 5),
    ([2.0, 1.0, 1.0], [2, 2, 1], 1.0, 6),
    ([1.0], [4], 0.0, 6),
    ([3.0, 0.2], [2, 1], 0.0, 5),
])
def test_matches_brute_force_ctmc(D, c, Z, N):
    # A global-balance solution of the whole state space: no product form assumed.
    ref = closed_ctmc(D, c, Z, N)
    r = mva(D, N, think=Z, servers=c)
    assert r.X[-1] == pytest.approx(ref["X"], rel=1e-10)
    assert r.R[-1] == pytest.approx(ref["R"], rel=1e-10)
    np.testing.assert_allclose(r.Q[-1], ref["Q"], rtol=1e-9, atol=1e-12)


@settings(max_examples=25, deadline=None)
@given(networks(max_n=25))
def test_matches_load_dependent_convolution(net):
    D, c, Z, N = net
    ref = log_convolution(D, c, Z, N)
    r = mva(D, N, think=Z, servers=c)
    np.testing.assert_allclose(r.X, ref["X"], rtol=1e-10)
    np.testing.assert_allclose(r.Q, ref["Q"], rtol=1e-8, atol=1e-12)


@pytest.mark.slow
def test_large_population_stays_exact():
    # The lead's largest case: 64 jobs x 256 iodepth, 6 stations incl. a 4-server one and a
    # delay. The textbook recursion (p0 by subtraction) goes negative here; convolution in
    # logs ([B], O(N c) per station) is the reference.
    D = [2.0, 11.0, 2.0, 1.5, 2.5, 4.0]
    c = [1, 4, 1, 1, 1, INF]
    N, Z = 16384, 5.0
    r = mva(D, N, think=Z, servers=c)
    ref = log_convolution_x(D, c, Z, N)
    np.testing.assert_allclose(r.X, ref, rtol=1e-9)
    assert np.all(np.isfinite(r.Q)) and np.all(r.Q >= 0)
    assert r.X[-1] == pytest.approx(4 / 11.0, rel=1e-9)  # the 4-server station saturates


def test_textbook_recursion_is_unstable_but_ours_is_not():
    # Same network as in mva's docstring: c = 4 near saturation. The subtraction-based
    # recursion ([MAD] ch. 13) drifts off and even produces a negative throughput by
    # N = 300; the stable one agrees with convolution to rounding.
    D, c = [1.0, 3.9, 0.2], [1, 4, INF]
    N = 300
    naive = textbook_multiserver_mva(D, c, 0.0, N)
    ref = log_convolution_x(D, c, 0.0, N)
    r = mva(D, N, servers=c)
    np.testing.assert_allclose(naive[:20], ref[:20], rtol=1e-9)  # fine at small n ...
    assert not np.allclose(naive[-1], ref[-1], rtol=1e-3)  # ... wrong at large n
    np.testing.assert_allclose(r.X, ref, rtol=1e-10)


# ------------------------------------------------------------------------------- laws
@settings(max_examples=60, deadline=None)
@given(networks())
def test_littles_law_and_utilisation_law(net):
    D, c, Z, N = net
    r = mva(D, N, think=Z, servers=c)
    n = np.arange(1, N + 1)
    np.testing.assert_allclose(r.X * (r.R + Z), n, rtol=1e-10)  # N = X (R + Z)
    np.testing.assert_allclose(r.Q.sum(axis=1) + r.X * Z, n, rtol=1e-10)
    np.testing.assert_allclose(r.Q, r.X[:, None] * r.Rk, rtol=1e-12)
    per = np.where(np.isinf(c), 1.0, c)
    np.testing.assert_allclose(r.U, r.X[:, None] * np.array(D) / per, rtol=1e-12)
    assert np.all(r.U[:, ~np.isinf(c)] <= 1 + 1e-9)


@settings(max_examples=60, deadline=None)
@given(networks())
def test_throughput_monotone_and_within_bounds(net):
    D, c, Z, N = net
    r = mva(D, N, think=Z, servers=c)
    b = bounds(D, N, think=Z, servers=c)
    assert np.all(np.diff(r.X) >= -1e-12 * r.X[1:])
    assert np.all(r.X <= b.X_upper * (1 + 1e-10))
    assert np.all(r.X >= b.X_lower * (1 - 1e-10))
    assert np.all(r.R >= b.R_lower * (1 - 1e-10))
    assert np.all(r.R <= b.R_upper * (1 + 1e-10))


@settings(max_examples=60, deadline=None)
@given(networks())
def test_one_request_sees_no_queue(net):
    D, c, Z, _ = net
    r = mva(D, 1, think=Z, servers=c)
    assert r.R[0] == pytest.approx(sum(D), rel=1e-12)
    assert r.X[0] == pytest.approx(1 / (sum(D) + Z), rel=1e-12)


@settings(max_examples=30, deadline=None)
@given(networks(max_n=20))
def test_enough_servers_means_delay(net):
    D, c, Z, N = net
    a = mva(D, N, think=Z, servers=[N if not math.isinf(s) else s for s in c])
    b = mva(D, N, think=Z, servers=[INF] * len(D))
    np.testing.assert_allclose(a.X, b.X, rtol=1e-12)
    np.testing.assert_allclose(b.R, sum(D), rtol=1e-12)


# ------------------------------------------------------------------------ Schweitzer
def test_schweitzer_known_limits():
    # Exact at N = 1 (no queue) and asymptotically exact (X -> 1 / D_max) ([LZGS] 6.4.2).
    D = [0.2, 0.1, 0.05]
    s = schweitzer_mva(D, 5000, think=1.0)
    e = mva(D, 5000, think=1.0)
    assert s.X[0] == pytest.approx(e.X[0], rel=1e-12)
    assert s.X[-1] == pytest.approx(5.0, rel=1e-4)  # error of the approximation is O(1/N)
    assert s.method == "schweitzer"


@settings(max_examples=40, deadline=None)
@given(networks(multi=False, max_n=60))
def test_schweitzer_close_to_exact_single_server(net):
    # [LZGS] 6.4.2: the approximation's throughput error is typically a few percent. This is
    # a gross-error check (10%; the worst seen over 4000 random networks was 6.8%).
    D, c, Z, N = net
    s = schweitzer_mva(D, N, think=Z, servers=c)
    e = mva(D, N, think=Z, servers=c)
    np.testing.assert_allclose(s.X, e.X, rtol=0.10)


@settings(max_examples=40, deadline=None)
@given(networks(max_n=60))
def test_schweitzer_obeys_the_laws(net):
    D, c, Z, N = net
    s = schweitzer_mva(D, N, think=Z, servers=c)
    b = bounds(D, N, think=Z, servers=c)
    n = np.arange(1, N + 1)
    np.testing.assert_allclose(s.X * (s.R + Z), n, rtol=1e-9)  # Little's law holds exactly
    assert np.all(np.diff(s.X) >= -1e-12 * s.X[1:])
    assert np.all(s.X <= b.X_upper * (1 + 1e-9)) and np.all(s.X >= b.X_lower * (1 - 1e-9))


def test_multiserver_approximation_is_exact_at_light_and_heavy_load():
    D, c = [4.0, 0.5], [4, 1]
    s = schweitzer_mva(D, 5000, think=2.0, servers=c)
    e = mva(D, 5000, think=2.0, servers=c)
    assert s.R[0] == pytest.approx(e.R[0])  # one request: R = sum D
    assert s.X[-1] == pytest.approx(1.0, rel=1e-3)  # saturated: X = c / D = 1, error O(1/N)
    assert e.X[-1] == pytest.approx(1.0, rel=1e-9)


# -------------------------------------------------------------------- input handling
def test_named_stations_and_mappings():
    r = mva({"vcpu": 2.0, "bql": 5.0, "device": 8.0}, 32, think=1.0,
            servers={"device": 4, "vcpu": None})
    assert r.stations == ("vcpu", "bql", "device")
    assert list(r.servers) == [INF, 1.0, 4.0]
    assert r.bottleneck == "bql"
    df = r.to_frame(per="station")
    assert list(df.columns) == ["n", "station", "residence_time", "queue_length", "utilization"]
    assert len(df) == 96
    top = r.to_frame()
    assert list(top.columns) == ["n", "throughput", "response_time", "cycle_time"]
    assert r.at(32)["X"] == pytest.approx(r.throughput)
    assert "np.float64" not in repr(r) and "bql" in repr(r)
    assert "<table" in r._repr_html_()
    assert isinstance(r, MVAResult) and not r.X.flags.writeable


def test_zero_demand_station_is_harmless():
    a = mva([1.0, 0.0, 2.0], 10, servers=[1, 3, 2])
    b = mva([1.0, 2.0], 10, servers=[1, 2])
    np.testing.assert_allclose(a.X, b.X, rtol=1e-13)
    assert np.all(a.Q[:, 1] == 0)


def test_only_multiserver_no_think():
    r = mva([2.0], 10, servers=[3])  # every request at the one station
    np.testing.assert_allclose(r.Q[:, 0], np.arange(1, 11))
    np.testing.assert_allclose(r.X, np.minimum(np.arange(1, 11), 3) / 2.0, rtol=1e-12)


@pytest.mark.parametrize("kwargs,param", [
    (dict(demands=[1.0, -1.0], N=3), "demands"),
    (dict(demands=[1.0, float("nan")], N=3), "demands"),
    (dict(demands=[], N=3), "demands"),
    (dict(demands=[1.0], N=0), "N"),
    (dict(demands=[1.0], N=2.5), "N"),
    (dict(demands=[1.0], N=3, think=-1.0), "think"),
    (dict(demands=[1.0, 2.0], N=3, servers=[1]), "servers"),
    (dict(demands=[1.0, 2.0], N=3, servers=[1, 0]), "servers"),
    (dict(demands=[1.0, 2.0], N=3, servers=[1, 2.5]), "servers"),
    (dict(demands=[1.0, 2.0], N=3, servers=[1, "x"]), "servers"),
    (dict(demands={"a": 1.0}, N=3, servers={"b": 2}), "servers"),
    (dict(demands=[0.0, 0.0], N=3), "unbounded"),
])
def test_bad_input(kwargs, param):
    with pytest.raises(ParameterError, match=param):
        mva(**kwargs)
    with pytest.raises(ParameterError, match=param):
        schweitzer_mva(**kwargs)


def test_too_many_multiserver_stations():
    k = MAX_MULTISERVER_STATIONS + 1
    with pytest.raises(ParameterError, match="schweitzer_mva"):
        mva([1.0] * k, 50, servers=[2] * k)
    s = schweitzer_mva([1.0] * k, 50, servers=[2] * k)
    assert np.all(s.X <= bounds([1.0] * k, 50, servers=[2] * k).X_upper)


def test_deterministic():
    a = mva([1.0, 2.0, 3.0], 200, think=1.0, servers=[2, 1, 3])
    b = mva([1.0, 2.0, 3.0], 200, think=1.0, servers=[2, 1, 3])
    assert np.array_equal(a.X, b.X) and np.array_equal(a.Q, b.Q)


def test_inputs_are_not_modified():
    D = np.array([1.0, 2.0])
    c = np.array([1.0, 2.0])
    r = mva(D, 5, servers=c)
    assert D.flags.writeable and c.flags.writeable
    D[0] = 100.0
    assert r.demands[0] == 1.0


def test_import_compiles_nothing():
    # numba kernels load at the first solve, not at `import iovmodel`.
    import subprocess
    import sys

    code = ("import sys, iovmodel, iovmodel.solve.analytic; "
            "print('iovmodel.solve.analytic._kernels' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    assert out.stdout.strip() == "False"


def test_plot_and_summary():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    r = mva({"cpu": 1.0, "disk": 2.0}, 20, think=3.0, servers={"disk": 2})
    b = bounds({"cpu": 1.0, "disk": 2.0}, 20, think=3.0, servers={"disk": 2})
    fig, ax = plt.subplots()
    assert r.plot(ax=ax) is ax and b.plot(ax=ax) is ax
    assert len(ax.lines) == 1 and ax.lines[0].get_ydata()[-1] == r.throughput
    ax2 = r.plot(metric="response_time")
    assert ax2.lines[0].get_ydata()[0] == pytest.approx(3.0)
    plt.close("all")
    text = r.summary()
    assert "disk" in text and "np.float64" not in text
    with pytest.raises(ParameterError, match="metric"):
        r.plot(metric="latency")


def test_mva_of_checked_inputs_equals_mva():
    # the fit's fast entry (arguments a Network has checked) is the same recursion
    from iovmodel.solve.analytic.mva import mva, mva_of_checked

    rng = np.random.default_rng(3)
    for _ in range(20):
        k = int(rng.integers(1, 6))
        D = rng.uniform(0.0, 20.0, k)
        c = rng.choice([1.0, 2.0, 4.0, np.inf], k)
        N = int(rng.integers(1, 40))
        Z = float(rng.choice([0.0, 5.0]))
        a, b = mva(D, N, Z, c), mva_of_checked(D, c, Z, N)
        np.testing.assert_array_equal(a.X, b.X)
        np.testing.assert_array_equal(a.Q, b.Q)
        np.testing.assert_array_equal(a.R, b.R)
