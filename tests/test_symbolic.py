"""iovmodel.symbolic: the closed forms are the model of analyze(), their derivatives are exact.

Reference values come from outside the module: analyze() (an independent numeric
implementation of the same model), textbook formulas (Erlang B/C, M/M/1,
Lazowska et al. asymptotic bounds) and hand derivations written out in each test.
"""

import functools
import math

import matplotlib
import numpy as np
import pytest
import sympy as sp
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

import iovmodel as iov
from iovmodel import symbolic as S
from iovmodel.errors import ParameterError
from iovmodel.solve.locks import contended
from iovmodel.spec.profile import parameters
from iovmodel.symbolic import expressions as SE
from iovmodel.symbolic.expressions import holds_a_vcpu

#: the closed forms here are at the workload's batch (amortised
#: notification); analyze's own default follows the load on a path that signals once
#: per pass (Path.batching "load": firecracker-virtio-blk), so it is asked for the same
_analyze = functools.partial(iov.analyze, batching="amortised")

matplotlib.use("Agg")

HOST = iov.HostProfile.default()
# paths whose device model caps the commands in flight above one (AHCI's 32 NCQ slots) have
# no closed form (a flow-equivalent server): the symbolic module refuses them, tested below
LIMITED = [n for n in iov.paths()["name"] if math.isfinite(iov.path(n).inflight) and iov.path(n).inflight != 1]
# paths whose vCPU is held while QEMU emulates its exits under the global mutex (a fixed point
# of two layers, iovmodel.solve.holding): open latency and utilisation have no closed form
HELD = [n for n in iov.paths()["name"] if n not in LIMITED
        and iov.path(n).inflight != 1 and holds_a_vcpu(iov.path(n))]
NAMES = [n for n in iov.paths()["name"] if n not in LIMITED and n not in HELD]
# every catalog path at its defaults, plus configurations with multi-server stations
# (Erlang C with a numeric c), hops switched by options, and batching
CASES = [(n, {}) for n in NAMES] + [
    ("vhost-scsi", {"workers": 2}),
    ("vhost-net", {"workers": 3}),
    ("virtio-blk-iothread", {"iothreads": 2}),
    ("virtio-blk", {"vcpus": 2}),
    ("vfio-nvme", {"posted_interrupts": True}),
    ("vfio-net", {"posted_interrupts": True}),
    ("xen-blkfront", {"rings": 3}),
    ("vhost-user-blk", {"workers": 2}),
    ("vhost-user-blk", {"sync_io": True}),
    # what host_net_us stands for under nat and macvtap (network.host_stack_expr): symbolic
    # priced a guest behind NAT without its conntrack until 2026-12
    ("vhost-net", {"nat": True}),
    ("virtio-net", {"macvtap": True}),
    # unlimited vCPUs lose nothing while held: the closed form holds again
    ("emulated-e1000", {"vcpus": "inf"}),
]


def _cost(name):
    """A cost drawn within its typical range or anywhere within its bounds."""
    p = parameters()[name]
    if p.unit == "count":  # a server count: whole numbers (MVA refuses fractional servers)
        return st.one_of(st.integers(int(p.typical[0]), int(p.typical[1])),
                         st.integers(int(p.bounds[0]), int(p.bounds[1]))).map(float)
    # below 1e-6 µs (a femtosecond) a cost is physically 0; subnormal costs would only test
    # floating-point underflow in analyze's visit-mix scv, not the model
    return st.one_of(st.floats(*p.typical, allow_nan=False),
                     st.floats(*p.bounds, allow_nan=False).map(lambda x: x if x >= 1e-6 else 0.0))


@st.composite
def profiles(draw):
    return iov.HostProfile({n: draw(_cost(n)) for n in parameters()}, name="drawn")


def _stable_rate(p, host, w, frac):
    """A rate at `frac` of the capacity of the most loaded station (whole servers, as analyze)."""
    sat = iov.build(p, host, w).saturation_per_s  # stations and the in-flight limit
    return frac * sat if math.isfinite(sat) else 1e5


def _rel(a, b):
    if math.isinf(a) or math.isinf(b):
        return 0.0 if a == b else math.inf
    return abs(a - b) / max(abs(b), 1e-300)


_COMPILED = {}


def _compiled(p, name, options, w):
    """sympy.lambdify of the three expressions (cached per configuration): fast enough to
    check many drawn profiles; test_subs_host_* checks plain .subs(host) on every path."""
    key = (name, tuple(sorted(options.items())), w.size_bytes, w.batch)
    if key not in _COMPILED:
        w_open = iov.Workload.open(1.0, size_bytes=w.size_bytes, batch=w.batch)
        exprs = [S.latency(p, w), S.throughput_bound(p, w),
                 S.latency(p, w_open, keep=("rate_per_s",))]
        names = sorted(parameters()) + ["rate_per_s"]
        syms = [sp.Symbol(n) for n in names]  # plain Symbols: substitution by name
        exprs = [e.xreplace({s: sp.Symbol(s.name) for s in e.free_symbols}) for e in exprs]
        _COMPILED[key] = (names, sp.lambdify(syms, exprs, modules=S.NUMPY_MODULES))
    return _COMPILED[key]


@pytest.mark.parametrize(("name", "options"), CASES, ids=[f"{n}{o or ''}" for n, o in CASES])
@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(host=profiles(), batch=st.sampled_from([1, 1, 2.5, 3]), size=st.sampled_from([512, 4096, 65536]),
       frac=st.floats(0.02, 0.95))
def test_expressions_are_the_model_of_analyze(name, options, host, batch, size, frac):
    """Zero-load latency, throughput bound and open latency equal analyze() to 1e-9 relative
    for random valid profiles (each cost within its typical range or its bounds)."""
    p = iov.path(name, **options)
    # iodepth 4: a batch never exceeds the requests in flight; a fractional batch (a mean)
    # must not be truncated by symbolic (issue 10)
    closed = iov.Workload.closed(1, 4, size_bytes=size, batch=batch)
    # a drawn profile may zero every cost a path reads (each cost's bounds include 0): its
    # closed network has no demand and no bound, which analyze refuses (ParameterError)
    assume(iov.build(p, host, closed).zero_load_latency_us > 0)
    names, f = _compiled(p, name, options, closed)
    r0 = _analyze(p, host, closed)
    w = iov.Workload.open(_stable_rate(p, host, closed, frac), size_bytes=size, batch=batch)
    r = _analyze(p, host, w)
    with np.errstate(divide="ignore", invalid="ignore"):
        # numpy scalars: a 0/0 in the branch a Piecewise does not take is NaN, not an exception
        T0, X, L = (float(v) for v in f(*(np.float64(host[n]) for n in names[:-1]),
                                         np.float64(w.rate_per_s)))
    assert _rel(T0, r0.zero_load_latency_us) < 1e-9
    assert _rel(X, r0.saturation_per_s) < 1e-9
    assert _rel(L, r.latency_us) < 1e-9


@pytest.mark.parametrize(("name", "options"), CASES, ids=[f"{n}{o or ''}" for n, o in CASES])
def test_subs_host_gives_analyze(name, options):
    """expr.subs(host) with a HostProfile (a Mapping of cost names) gives analyze()'s numbers."""
    host = HOST.replace(vmexit_us=1.3, wakeup_us=7.5, device_blk_us=55.0, device_blk_slots=8)
    p = iov.path(name, **options)
    r0 = _analyze(p, host)
    assert _rel(float(S.latency(p).subs(host)), r0.zero_load_latency_us) < 1e-9
    assert _rel(float(S.throughput_bound(p).subs(host)), r0.saturation_per_s) < 1e-9
    w = iov.Workload.open(_stable_rate(p, host, iov.Workload.closed(1, 1), 0.8))
    r = _analyze(p, host, w)
    assert _rel(float(S.latency(p, w).subs(host)), r.latency_us) < 1e-9
    for res, u in S.utilization(p, w).items():
        assert _rel(float(u.subs(host)), r.utilization[res]) < 1e-9


def test_symbols_print_with_declared_latex_and_substitute_by_name():
    T = S.latency("emulated-ide")
    tex = sp.latex(T)
    for s in T.free_symbols:
        assert parameters()[s.name].symbol in tex
    assert "vmexit_us" not in tex
    # 20 VM exits per I/O at batch 1 (13 per request + 7 per interrupt): d T0 / d t_exit = 20
    assert sp.diff(T, S.symbol("vmexit_us")) == 20
    assert T.subs({"vmexit_us": 0}).subs(HOST) == pytest.approx(
        float(T.subs(HOST)) - 20 * HOST["vmexit_us"], rel=1e-12)
    r = _analyze("virtio-blk", HOST, iov.Workload.open(5e4))
    assert r.latex().startswith("$") and r"t_{\mathrm{wake}}" in r.latex()


def test_options_are_substituted_and_batch_can_stay_symbolic():
    """virtio-blk per-batch hops (kick exit, ioeventfd, 3 wake-ups, io_submit, reap, irqfd, ISR)
    count 1/b: d T0/d t_wake = 3/b (per batch the main loop wakes for the kick and for the
    completion, and the guest's app for its completion)."""
    T = S.latency("virtio-blk", keep=("batch",))
    b = S.symbol("batch")
    assert sp.simplify(sp.diff(T, S.symbol("wakeup_us")) - 3 / b) == 0
    # vcpus="inf": the worker bound; with the default single vCPU one queue is in use (one
    # worker serves it) and the vCPU binds first
    assert S.throughput_bound("vhost-scsi", workers=4, vcpus="inf").subs(HOST) == pytest.approx(
        4 * S.throughput_bound("vhost-scsi", vcpus="inf").subs(HOST), rel=1e-12)


def test_erlang_b_and_c_textbook_values():
    """Erlang loss formula B(c, a) = (a^c/c!) / sum_k a^k/k! (Kleinrock vol. 1 eq. 3.46):
    B(2, 1) = (1/2) / (1 + 1 + 1/2) = 0.2; Erlang C(2, 1) = 2 B / (2 - (1 - B)) = 1/3
    (M/M/2 at offered load 1: probability of waiting 1/3, Kleinrock eq. 3.40)."""
    assert float(S.ErlangB(2, 1)) == pytest.approx(0.2, rel=1e-14)
    assert float(SE._erlang_c(sp.Integer(2), sp.Integer(1))) == pytest.approx(1 / 3, rel=1e-14)
    # B(3, 2) = (8/6) / (1 + 2 + 2 + 8/6) = 4/19
    assert float(S.ErlangB(3, 2)) == pytest.approx(4 / 19, rel=1e-14)


@given(c=st.integers(1, 60), a=st.floats(0.05, 80.0))
def test_erlang_b_derivative_matches_difference_quotient(c, a):
    x = sp.Symbol("x")
    d = float(sp.diff(S.ErlangB(c, x), x).subs(x, a))
    h = 1e-6 * a
    fd = (SE._erlang_b_numeric(c, a + h) - SE._erlang_b_numeric(c, a - h)) / (2 * h)
    assert d == pytest.approx(fd, rel=1e-5, abs=1e-12)


def test_mm1_elasticity_by_hand():
    """One M/M/1 station: T = s / (1 - lambda s), so d ln T / d ln s = 1/(1 - rho)
    (differentiate: 1 + lambda s/(1 - lambda s)). At rho = 0.5: 2; throughput bound 1/s: -1."""
    p = iov.Path.from_hops("one", [iov.Hop("serve", resource="srv", cost="vmexit_us")],
                           servers={"srv": 1})
    host = HOST.replace(vmexit_us=10.0)
    df = S.sensitivity(p, host, iov.Workload.open(50_000))
    row = df.set_index("cost").loc["vmexit_us"]
    assert row["latency_elasticity"] == pytest.approx(2.0, rel=1e-12)
    assert row["throughput_elasticity"] == pytest.approx(-1.0, rel=1e-12)


@pytest.mark.parametrize("name", NAMES)
def test_zero_load_elasticities_sum_to_one(name):
    """Euler's theorem: T0 is homogeneous of degree 1 in the time-valued costs (µs and ns/B;
    device_blk_slots, a count, does not appear in T0), so their elasticities sum to 1; the
    throughput bound 1e6 c_b / D_b is homogeneous of degree -1 in them (and of degree 1 in
    device_blk_slots when the device is the bottleneck)."""
    df = S.sensitivity(name, HOST)
    assert df["latency_elasticity"].sum() == pytest.approx(1.0, abs=1e-12)
    slots = df.loc[df["cost"] == "device_blk_slots", "throughput_elasticity"]
    assert df.loc[df["unit"] != "count", "throughput_elasticity"].sum() == pytest.approx(
        -1.0 if math.isfinite(_analyze(name, HOST).saturation_per_s) else 0.0, abs=1e-12)
    if len(slots):
        expected = 1.0 if df.attrs["bottleneck"] == "device" else 0.0
        assert slots.iloc[0] == pytest.approx(expected, abs=1e-12)


@settings(max_examples=15, deadline=None)
@given(host=profiles(), name=st.sampled_from(["emulated-e1000", "virtio-scsi", "xen-netfront"]))
def test_elasticities_sum_to_one_for_any_profile(host, name):
    df = S.sensitivity(name, host)
    assert df["latency_elasticity"].sum() == pytest.approx(1.0, abs=1e-9)


@pytest.mark.parametrize(("name", "rate"), [("virtio-blk", 8e4), ("emulated-ide", 3e3),
                                            ("vhost-scsi", 1e5)])
def test_open_elasticities_match_analyze_difference_quotients(name, rate):
    """The symbolic derivative against a central difference of analyze() in log space."""
    w = iov.Workload.open(rate)
    df = S.sensitivity(name, HOST, w).set_index("cost")
    base = _analyze(name, HOST, w)
    for cost in df.index:
        if parameters()[cost].unit == "count":
            continue
        v = HOST[cost]
        h = 1e-6
        up = _analyze(name, HOST.replace(**{cost: v * (1 + h)}), w).latency_us
        dn = _analyze(name, HOST.replace(**{cost: v * (1 - h)}), w).latency_us
        fd = (math.log(up) - math.log(dn)) / (math.log1p(h) - math.log1p(-h))
        assert df.loc[cost, "latency_elasticity"] == pytest.approx(fd, rel=1e-5, abs=1e-9)
        assert df.loc[cost, "value"] == v
    assert df.attrs["latency_us"] == pytest.approx(base.latency_us, rel=1e-12)
    # ranks: 1 is the largest |elasticity|
    top = df["latency_elasticity"].abs().idxmax()
    assert df.loc[top, "rank"] == 1


def test_sensitivity_swing_columns_are_exact_substitutions():
    df = S.sensitivity("virtio-blk", HOST).set_index("cost")
    lo, hi = parameters()["wakeup_us"].typical
    assert df.loc["wakeup_us", "latency_low_us"] == pytest.approx(
        _analyze("virtio-blk", HOST.replace(wakeup_us=lo)).zero_load_latency_us, rel=1e-12)
    assert df.loc["wakeup_us", "latency_high_us"] == pytest.approx(
        _analyze("virtio-blk", HOST.replace(wakeup_us=hi)).zero_load_latency_us, rel=1e-12)
    assert "main loop: wake-up" in df.loc["wakeup_us", "hops"]
    assert "servers of device" in df.loc["device_blk_slots", "hops"]


@pytest.mark.parametrize("name", ["virtio-blk", "emulated-ide", "vhost-scsi", "native-net"])
def test_evaluator_matches_analyze_loop(name):
    f = S.evaluator(name)
    sat = _analyze(name, HOST).saturation_per_s
    top = 0.97 * sat if math.isfinite(sat) else 5e5
    rates = np.linspace(top / 50, top, 25)
    got = f(rate_per_s=rates)
    want = [_analyze(name, HOST, iov.Workload.open(r)).latency_us for r in rates]
    np.testing.assert_allclose(got, want, rtol=1e-9)
    assert np.shape(got) == rates.shape
    if math.isfinite(sat):
        assert np.isnan(f(rate_per_s=1.01 * sat))
    # cost arrays broadcast against the rate
    ex = np.array([0.2, 1.0, 3.0])
    got = f(rate_per_s=top / 2, vmexit_us=ex)
    want = [_analyze(name, HOST.replace(vmexit_us=x), iov.Workload.open(top / 2)).latency_us
            for x in ex]
    np.testing.assert_allclose(got, want, rtol=1e-9)
    assert S.evaluator(name, "throughput_bound")() == pytest.approx(sat, rel=1e-12)
    assert S.evaluator(name, "zero_load_latency")() == pytest.approx(
        _analyze(name, HOST).zero_load_latency_us, rel=1e-12)


def test_evaluator_utilization_and_errors():
    f = S.evaluator("virtio-blk", "utilization:bql")
    r = _analyze("virtio-blk", HOST, iov.Workload.open(6e4))
    assert f(rate_per_s=6e4) == pytest.approx(r.utilization["bql"], rel=1e-12)
    with pytest.raises(ParameterError, match="metric"):
        S.evaluator("virtio-blk", "p99")
    with pytest.raises(ParameterError, match="no resource 'vhost'"):
        S.evaluator("virtio-blk", "utilization:vhost")
    with pytest.raises(ParameterError, match="rate_per_s"):
        S.evaluator("virtio-blk")()
    with pytest.raises(ParameterError, match="unknown cost"):
        S.evaluator("virtio-blk")(1e4, vmexit=1.0)


@pytest.mark.parametrize("name", ["virtio-blk", "emulated-ide", "virtio-net", "vhost-scsi"])
def test_saturation_population_is_where_the_asymptotic_bounds_cross(name):
    """Lazowska et al. (1984) s. 5.2: X(N) <= min(N/(D + Z), 1/D_max); the two bounds meet at
    N* = (D + Z)/D_max. D and 1/D_max come from analyze(); MVA respects both bounds."""
    Z = 20.0
    d = S.saturation_population(name, HOST, iov.Workload.closed(1, 1, think_us=Z))
    r = _analyze(name, HOST)
    assert d.value == pytest.approx((r.zero_load_latency_us + Z) * r.saturation_per_s / 1e6,
                                    rel=1e-12)
    assert d.detail["resource"] == r.bottleneck
    for n in range(1, 4 * math.ceil(d.value)):
        x = _analyze(name, HOST, iov.Workload.closed(n, 1, think_us=Z)).throughput_per_s
        assert x <= min(n / (r.zero_load_latency_us + Z) * 1e6, r.saturation_per_s) * (1 + 1e-9)
    # the global mutex of a virtio-in-QEMU path: N* of the BQL specifically (emulated-ide is
    # bound by its one command in flight, not by the mutex)
    if name in ("virtio-blk", "virtio-net"):
        bql = S.saturation_population(name, HOST, resource="bql")
        assert bql.value == pytest.approx(r.zero_load_latency_us * r.saturation_per_s / 1e6)
        assert "D_max" in str(bql) and bql._repr_latex_().startswith("$N^*")


@pytest.mark.parametrize(("a", "b", "metric"), [
    ("virtio-blk", "emulated-ide", "host_cpu"),
    ("vhost-scsi", "virtio-scsi-iothread", "host_cpu"),
    ("vhost-net", "vhost-user-net", "zero_load_latency"),
    ("emulated-e1000", "virtio-blk", "zero_load_latency"),
])
def test_break_even_batch_from_analyze_at_two_batch_sizes(a, b, metric):
    """Each path's metric is alpha + beta/b: analyze() at b = 1 and b = 2 gives alpha = 2 m(2) - m(1)
    and beta = 2 (m(1) - m(2)); b* = (beta_a - beta_b) / (alpha_b - alpha_a)."""
    def m(name, batch):
        r = _analyze(name, HOST, iov.Workload.closed(1, 2, batch=batch))  # batch <= in flight
        return r.cpu_us_per_io if metric == "host_cpu" else r.zero_load_latency_us

    ab = {}
    for name in (a, b):
        m1, m2 = m(name, 1), m(name, 2)
        ab[name] = (2 * m2 - m1, 2 * (m1 - m2))
    want = (ab[a][1] - ab[b][1]) / (ab[b][0] - ab[a][0])
    d = S.break_even_batch(a, b, HOST, metric=metric)
    assert d.value == pytest.approx(want, rel=1e-9)
    assert d.detail["alpha_A_us"] == pytest.approx(ab[a][0], rel=1e-9)
    assert "b*" in repr(d) and d.to_frame()["value"].iloc[0] == d.value


def test_break_even_refuses_polling_for_cpu_and_checks_metric():
    with pytest.raises(ParameterError, match="busy-polls"):
        S.break_even_batch("vhost-user-blk", "virtio-blk", metric="host_cpu")
    with pytest.raises(ParameterError, match="metric"):
        S.break_even_batch(metric="energy")
    with pytest.raises(ParameterError, match="resource"):
        S.break_even_batch(metric="demand")


def test_bad_input_names_the_parameter():
    with pytest.raises(ParameterError, match="keep"):
        S.latency("virtio-blk", iov.Workload.open(1e4), keep=("jobs",))
    with pytest.raises(ParameterError, match="rate_per_s"):
        S.latency("virtio-blk", keep=("rate_per_s",))
    with pytest.raises(ParameterError, match="workload"):
        S.latency("virtio-blk", {"rate_per_s": 1e4})
    with pytest.raises(ParameterError, match="no symbol"):
        S.symbol("vmexit")
    with pytest.raises(ParameterError, match="workers"):
        S.latency("virtio-blk", workers=2)
    with pytest.raises(iov.UnstableError, match="'bql'"):
        S.sensitivity("virtio-blk", HOST, iov.Workload.open(2e5))
    with pytest.raises(ParameterError, match="top"):
        S.tornado(S.sensitivity("virtio-blk"), top=0)


def test_tornado_draws_the_top_costs():
    # 2,000/s: within PIIX3 IDE's one-command ceiling (about 5.9k/s) and the one vCPU's
    df = S.sensitivity("emulated-ide", HOST, iov.Workload.open(2e3))
    ax = S.tornado(df, top=5)
    labels = [t.get_text() for t in ax.get_yticklabels()]
    assert len(labels) == 5
    swing = np.fmax((df["latency_low_us"] - df.attrs["latency_us"]).abs().fillna(np.inf),
                    (df["latency_high_us"] - df.attrs["latency_us"]).abs().fillna(np.inf))
    top_cost = df.loc[swing.idxmax(), "symbol"]
    assert labels[-1] == f"${top_cost}$"  # the widest bar sits on top
    import matplotlib.pyplot as plt

    plt.close(ax.figure)


def test_sensitivity_via_package_attribute():
    df = iov.sensitivity("vhost-net", HOST)
    assert list(df.columns[:10]) == ["path", "cost", "symbol", "unit", "value",
                                     "latency_elasticity", "throughput_elasticity", "rank",
                                     "throughput_rank", "latency_low_us"]
    assert df["rank"].is_monotonic_increasing


def test_custom_path_with_min_max_and_a_constant():
    """Cost expressions may use min/max; a numeric cost is a constant (not homogeneous: the
    zero-load elasticities then sum to 1 - constant/T0)."""
    p = iov.Path.from_hops("mine", [
        iov.Hop("decide", resource="cpu", cost="max(vmexit_us, 2*syscall_us) + min(1, wakeup_us)"),
        iov.Hop("fixed", resource="disk", cost=12.5, scv=0.0),
        iov.Hop("batch irq", resource="cpu", cost="guest_irq_us", per="batch"),
    ], servers={"cpu": 1, "disk": 2})
    for host in (HOST, HOST.replace(vmexit_us=3.0, wakeup_us=0.4)):
        for w in (iov.Workload.open(3e4, batch=2), iov.Workload.open(1.2e5)):
            assert float(S.latency(p, w).subs(host)) == pytest.approx(
                _analyze(p, host, w).latency_us, rel=1e-9)
        T0 = _analyze(p, host).zero_load_latency_us
        df = S.sensitivity(p, host)
        constant = 12.5 + (1.0 if host["wakeup_us"] > 1 else 0.0)  # min(1, wakeup_us) may be 1
        assert df["latency_elasticity"].sum() == pytest.approx(1 - constant / T0, rel=1e-12)


def test_derivations_text_evaluates_the_formulas():
    text = S.derivations()
    d = S.saturation_population("virtio-blk", resource="bql")
    assert f"N* = {d.value:6.2f}" in text
    b = S.break_even_batch("vhost-scsi", "virtio-scsi-iothread")
    assert f"b* = {b.value:.3g}" in text
    assert "(beta_A - beta_B)/(alpha_B - alpha_A)" in text


@pytest.mark.parametrize("vcpus", [1, 4, "inf"])
def test_open_latency_closed_form_is_analyze_on_every_path(vcpus):
    """The open closed form (M/G/1 per one-server station, Allen-Cunneen per multi-server,
    one instance of a per-vCPU station per vCPU, M/G/1 over the route for one command in
    flight) is what analyze solves, with the default single vCPU as with 4 or unlimited."""
    for name in NAMES + HELD:
        if name in HELD and vcpus != "inf":
            with pytest.raises(ParameterError, match="vCPU held while QEMU emulates"):
                S.latency(name, iov.Workload.open(1e3), vcpus=vcpus)
            continue
        net = iov.build(iov.path(name, vcpus=vcpus), HOST, iov.Workload.closed(1, 1))
        sat = net.saturation_per_s  # unbounded (vcpus='inf', no NIC line rate): any rate
        w = iov.Workload.open(0.3 * sat if math.isfinite(sat) else 1e5)
        a = _analyze(name, HOST, w, vcpus=vcpus).latency_us
        sym = float(S.latency(name, w, vcpus=vcpus).subs(HOST))
        if contended(iov.build(iov.path(name, vcpus=vcpus), HOST, w)):
            # a lock that vCPUs wait at (xen-blkfront's one ring lock shared by 4 vCPUs):
            # the hand-off past the waiters is a fixed point, left out of the closed form
            assert a * (1 - 1e-3) < sym < a, name
            continue
        assert sym == pytest.approx(a, rel=1e-9), name


@pytest.mark.parametrize("name", HELD)
def test_a_held_vcpu_is_refused_with_the_reason_and_its_bounds_stay_exact(name):
    w = iov.Workload.open(1e3)
    with pytest.raises(ParameterError, match="vCPU held while QEMU emulates its exits"):
        S.latency(name, w)
    with pytest.raises(ParameterError, match="vCPU is held while QEMU emulates"):
        S.utilization(name, w)
    # zero load never waits, and the bound counts the vCPU's held time (Station.held_us)
    r0 = _analyze(name, HOST)
    assert _rel(float(S.latency(name).subs(HOST)), r0.zero_load_latency_us) < 1e-9
    assert _rel(float(S.throughput_bound(name).subs(HOST)), r0.saturation_per_s) < 1e-9
    assert S.evaluator(name, "throughput_bound")() == pytest.approx(r0.saturation_per_s,
                                                                    rel=1e-12)


@pytest.mark.parametrize("name", LIMITED)
def test_a_path_with_an_in_flight_limit_is_refused_with_the_reason(name):
    with pytest.raises(ParameterError, match="no closed form under inflight"):
        S.latency(name, iov.Workload.open(1e3))
