"""The mutex model against closed forms and operational laws (no KVM needed)."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from iovmodel.errors import ParameterError
from iovmodel.probe import mva_mutex, predict_mutex


def repairman_throughput(n: int, think: float, service: float) -> float:
    """Machine-repairman model M/M/1//N (Kleinrock, Queueing Systems vol. 1, 1975, sec. 3.9).

    p0 = [sum_{k=0}^{N} N!/(N-k)! (S/Z)^k]^-1, X = (1 - p0) / S.
    """
    rho = service / think
    terms = [math.factorial(n) / math.factorial(n - k) * rho**k for k in range(n + 1)]
    # 1 - p0 as sum_{k>=1} / sum_{k>=0}: the difference 1 - 1/total cancels for tiny S; and
    # each term over S as N!/(N-k)! rho^(k-1) / Z: rho / S underflows for a denormal S
    over_s = [math.factorial(n) / math.factorial(n - k) * rho**(k - 1) / think
              for k in range(1, n + 1)]
    return sum(over_s) / sum(terms)


@pytest.mark.parametrize(("n", "think", "service"), [
    (1, 10.0, 5.0), (2, 10.0, 10.0), (3, 7.3, 20.0), (4, 25.0, 5.0), (8, 30.0, 1.0),
    (8, 9.0, 20.0), (16, 100.0, 3.0)])
def test_mva_equals_machine_repairman(n, think, service):
    # Exact MVA of a delay + one FCFS exponential server is product form: it must give the
    # repairman model's throughput exactly (Lazowska et al., QSP 1984, ch. 7).
    X, R, U, _ = mva_mutex(n, think, service, handoff_us=0.0)
    assert X[-1] == pytest.approx(repairman_throughput(n, think, service), rel=1e-12)
    assert U[-1] == pytest.approx(X[-1] * service, rel=1e-12)


def test_mva_two_threads_hand_computed():
    # N=2, Z=S=1: p0 = 1/(1 + 2 + 2) = 1/5, X = 4/5 per unit time.
    X, _, _, _ = mva_mutex(2, 1.0, 1.0)
    assert X[-1] == pytest.approx(0.8, rel=1e-12)


@settings(max_examples=60, deadline=None)
@given(n=st.integers(1, 24), think=st.floats(0.5, 200.0), service=st.floats(0.0, 100.0),
       handoff=st.floats(0.0, 50.0))
def test_mva_laws(n, think, service, handoff):
    X, R, U, C = mva_mutex(n, think, service, handoff)
    # Little's law for the whole closed network: N = X (Z + R)
    assert (X * (think + R)) == pytest.approx(range(1, n + 1), rel=1e-9)
    # throughput never exceeds the bounds: N / (Z + S) and 1 / S
    for i in range(n):
        assert X[i] <= (i + 1) / (think + service) * (1 + 1e-9)
        if service > 0:
            assert X[i] <= 1.0 / service * (1 + 1e-9)
    # more threads never lower throughput without hand-off cost
    if handoff == 0:
        assert all(X[i + 1] >= X[i] * (1 - 1e-12) for i in range(n - 1))
    assert ((0 <= U) & (U <= 1) & (0 <= C) & (C <= 1)).all()


@settings(max_examples=40, deadline=None)
@given(n=st.integers(1, 16), think=st.floats(0.5, 200.0),
       service=st.one_of(st.just(0.0), st.floats(1e-3, 100.0)),  # the closed form's 1 - p0
       handoff=st.floats(0.0, 50.0))                             # cancels for tinier S
def test_handoff_throughput_lies_between_its_bounds(n, think, service, handoff):
    # A contended acquisition occupies the mutex between S and S + handoff, so throughput
    # lies between the repairman model's at those two service times (MVA is monotone in
    # the demand; Lazowska et al., QSP 1984, sec. 5.4).
    X, _, _, _ = mva_mutex(n, think, service, handoff)
    hi = repairman_throughput(n, think, service) if service > 0 else n / think
    lo = repairman_throughput(n, think, service + handoff) if service + handoff > 0 else n / think
    assert lo * (1 - 1e-9) <= X[-1] <= hi * (1 + 1e-9)


def test_single_thread_is_its_own_cycle():
    p = predict_mutex(1, 5.0, cycle_us=25.0, host_cpus=2, wake_us=10, wake_cost_us=5)
    assert p.exits_per_s == pytest.approx(1e6 / 30.0)
    assert p.latency_us == pytest.approx(30.0)
    assert p.contended == 0.0


def test_no_mutex_scales_to_the_cpus_then_stops():
    one = predict_mutex(1, 5.0, cycle_us=20.0, host_cpus=2, mutex=False)
    two = predict_mutex(2, 5.0, cycle_us=20.0, host_cpus=2, mutex=False)
    eight = predict_mutex(8, 5.0, cycle_us=20.0, host_cpus=2, mutex=False)
    assert two.exits_per_s == pytest.approx(2 * one.exits_per_s)
    assert eight.exits_per_s == pytest.approx(two.exits_per_s)  # P / (c + S)
    assert eight.bound == "cpu"
    # Little's law: a thread has one exit in flight
    assert eight.latency_us == pytest.approx(8 / eight.exits_per_s * 1e6)


def test_mutex_collapse_when_wakeups_are_slow():
    # The seed's claim: a global mutex makes concurrent exits collapse.  With a hold of
    # 20 µs and a wake-up slower than the exit itself, two threads gain little over one
    # and stay far below twice the throughput they reach without the mutex.
    kw = dict(cycle_us=7.0, host_cpus=2, wake_us=20.0, wake_cost_us=6.0)
    free = predict_mutex(2, 20.0, mutex=False, **kw)
    locked = predict_mutex(2, 20.0, mutex=True, **kw)
    assert locked.exits_per_s < 0.6 * free.exits_per_s
    assert locked.exits_per_s <= 1e6 / 20.0
    # the waiting shows in the mean (Little's law); with barging it is concentrated in few
    # exits, so the 99th percentile may or may not reach it
    assert locked.latency_us > 1.5 * free.latency_us
    assert locked.latency_p99_us >= free.latency_p99_us


@settings(max_examples=40, deadline=None)
@given(v=st.integers(1, 16), p=st.integers(1, 8), s=st.floats(0.0, 50.0),
       c=st.floats(1.0, 100.0), w=st.floats(0.0, 50.0), k=st.floats(0.0, 20.0),
       mutex=st.booleans())
def test_prediction_laws(v, p, s, c, w, k, mutex):
    r = predict_mutex(v, s, cycle_us=c, host_cpus=p, mutex=mutex, wake_us=w, wake_cost_us=k,
                      slice_us=3000.0, cycle_p99_us=1.5 * c, wake_p99_us=2 * w + 1e-3)
    assert 0 < r.exits_per_s <= min(v, p) / (c + s) * 1e6 * (1 + 1e-9)
    if mutex and s > 0:
        assert r.exits_per_s * s * 1e-6 <= 1 + 1e-9  # utilisation law at the mutex
    assert r.latency_p99_us >= r.latency_p50_us > 0
    assert r.latency_us == pytest.approx(v / r.exits_per_s * 1e6)


def test_same_seed_same_numbers():
    kw = dict(cycle_us=9.0, host_cpus=2, wake_us=15.0, wake_cost_us=6.0, slice_us=2000.0,
              cycle_p99_us=14.0, wake_p99_us=40.0)
    a = predict_mutex(4, 5.0, seed=3, **kw)
    b = predict_mutex(4, 5.0, seed=3, **kw)
    assert a == b
    assert "exits/s" in repr(a) and "np.float64" not in repr(a)
    assert "<table" in a._repr_html_()
    assert list(a.to_frame().columns)[:2] == ["vcpus", "hold_us"]


@pytest.mark.parametrize(("kwargs", "name"), [
    (dict(vcpus=0), "vcpus"), (dict(vcpus=2.5), "vcpus"), (dict(hold_us=-1), "hold_us"),
    (dict(cycle_us=0), "cycle_us"), (dict(host_cpus=0), "host_cpus"),
    (dict(wake_us=math.nan), "wake_us"), (dict(slice_us=-5), "slice_us")])
def test_bad_input_names_the_parameter(kwargs, name):
    args = dict(vcpus=2, hold_us=5.0, cycle_us=10.0, host_cpus=2)
    args.update(kwargs)
    v, s = args.pop("vcpus"), args.pop("hold_us")
    with pytest.raises(ParameterError, match=name):
        predict_mutex(v, s, **args)


def test_contending_threads_convoy_on_one_cpu():
    # Measured on the probe host: two vCPU threads whose exit handlers hold one mutex for
    # 20 µs run no faster than one thread, and one exit per scheduler slice waits a slice.
    kw = dict(cycle_us=7.0, host_cpus=2, wake_us=3.0, wake_cost_us=5.0, slice_us=4000.0,
              preempt_gap_us=4000.0, cycle_p99_us=11.0, wake_p99_us=5.0)
    one = predict_mutex(1, 20.0, **kw)
    two = predict_mutex(2, 20.0, **kw)
    free = predict_mutex(2, 20.0, mutex=False, **kw)
    assert two.exits_per_s < 1.5 * one.exits_per_s
    assert free.exits_per_s == pytest.approx(2 * one.exits_per_s)
    assert two.contended > 0.5
    # S = 0: nothing to contend for, so no convoy
    assert predict_mutex(2, 0.0, **kw).exits_per_s == pytest.approx(
        predict_mutex(2, 0.0, mutex=False, **kw).exits_per_s)
