"""analyze gives every number fit is fitted to: percentiles, load-dependent batch, stream bound.

Two kinds of check: the law each mechanism states (M/M/1 sojourn quantile, the batching
fixed point b = 1/(1 - rho), the asymptotic bound max utilisation = 1), and agreement of
``analyze``/``Result`` with ``fit.predict`` on the same rows (one code path, two doors).
"""

from __future__ import annotations

import math

import pandas as pd
import pytest

import iovmodel as iov
from iovmodel.fit import predict
from iovmodel.solve.batching import notified
from iovmodel.solve.metrics import PREDICTABLE


def test_mm1_percentile_is_the_exponential_sojourn_quantile():
    # one exponential server (scv = 1), Poisson arrivals: the sojourn time is exponential
    # with mean 1/(mu - lambda) (Kleinrock 1975, vol. 1, section 3.2), so its q-quantile is
    # -ln(1 - q) / (mu - lambda); the gamma approximation is exact here (shape 1)
    p = iov.Path.from_hops("mm1", [iov.Hop("serve", resource="disk", cost=10.0, scv=1.0)],
                           servers={"disk": 1})
    r = iov.analyze(p, workload=iov.Workload.open(50_000), percentiles=(50, 99))
    mean = 1 / (1 / 10.0 - 50_000 / 1e6)  # 20 µs
    assert r.latency_us == pytest.approx(mean, rel=1e-12)
    assert r.percentiles_us["p99"] == pytest.approx(-math.log(0.01) * mean, rel=1e-9)
    assert r.percentile_us(50) == pytest.approx(math.log(2) * mean, rel=1e-9)
    assert r.to_frame()["p99_us"].iloc[0] == r.percentiles_us["p99"]


def test_load_batching_is_the_fixed_point():
    w = iov.Workload.closed(4, 8)
    r = iov.analyze("virtio-blk", workload=w, batching="load")
    net = r.extra["net"]
    rho = max(r.utilization[net.stations[i].name] for i in notified(net))
    want = min(1 / (1 - rho), w.population)
    assert r.workload.batch == pytest.approx(want, rel=1e-8)
    assert r.workload.batch > 1  # this load does batch
    stated = iov.analyze("virtio-blk", workload=w)
    assert r.throughput_per_s > stated.throughput_per_s  # fewer kicks per I/O


def test_stream_bound_saturates_the_bottleneck():
    r = iov.analyze("vhost-net", workload=iov.Workload.closed(4, 1), streams=True)
    queues = [s.name for s in r.extra["net"].stations if not s.is_delay]  # delays: busy servers
    assert max(r.utilization[q] for q in queues) == pytest.approx(1.0, rel=1e-12)
    assert r.throughput_per_s == pytest.approx(r.saturation_per_s, rel=1e-12)
    assert r.latency_us == pytest.approx(4 / r.throughput_per_s * 1e6, rel=1e-12)


ROWS = [  # (path, jobs, iodepth, metric)
    ("virtio-blk", 2, 4, "latency_p99_us"),
    ("virtio-blk", 2, 4, "latency_p50_us"),
    ("virtio-blk", 1, 1, "exits_per_io"),
    ("virtio-blk", 4, 8, "cpu_util_vmm_pct"),
    ("vhost-scsi", 4, 8, "cpu_util_host_pct"),
    ("vhost-scsi", 4, 8, "iops"),
    ("vhost-net", 1, 4, "cpu_util_vcpu_pct"),
    ("vhost-net", 1, 4, "exits_per_s"),
]


def _frame(rows, **extra):
    return pd.DataFrame([{"path": p, "jobs": j, "iodepth": d, "metric": m, "value": 1.0,
                          "unit": PREDICTABLE[m][0], **extra} for p, j, d, m in rows])


def test_result_metric_is_what_fit_predicts():
    got = predict(_frame(ROWS))["predicted"].to_numpy()
    for (p, j, d, m), want in zip(ROWS, got, strict=True):
        r = iov.analyze(p, workload=iov.Workload.closed(j, d))
        assert r.metric(m) == pytest.approx(want, rel=1e-12), (p, m)


def test_load_batching_matches_fit():
    rows = [("virtio-blk", 4, 8, "iops"), ("virtio-blk", 4, 8, "exits_per_io")]
    got = predict(_frame(rows), batching="load")["predicted"].to_numpy()
    r = iov.analyze("virtio-blk", workload=iov.Workload.closed(4, 8), batching="load")
    assert r.throughput_per_s == pytest.approx(got[0], rel=1e-12)
    assert r.metric("exits_per_io") == pytest.approx(got[1], rel=1e-12)


def test_stream_bound_matches_fit_iperf_rows():
    df = pd.DataFrame([{"path": "vhost-net", "jobs": 4, "iodepth": None, "rw": "tx",
                        "size_bytes": 65536, "metric": "throughput_gbps", "value": 10.0,
                        "unit": "Gbps"}])
    got = predict(df)["predicted"].iloc[0]
    # an iperf3 row (rw tx, jobs streams, no iodepth) is jobs TCP streams, as analyze solves
    # a Traffic.stream: at the bound of the network at its packets per notification
    r = iov.analyze("vhost-net", workload=iov.Workload.of(
        iov.Traffic.stream(65536, "tcp", "tx", streams=4)))
    assert r.metric("throughput_gbps") == pytest.approx(got, rel=1e-12)
    assert r.throughput_per_s == pytest.approx(r.saturation_per_s, rel=1e-12)


@pytest.mark.parametrize(("kwargs", "match"), [
    ({"batching": "fork-join"}, "simulate"),
    ({"batching": "sometimes"}, "batching"),
    ({"percentiles": 99}, "percentiles"),
    ({"streams": "yes"}, "streams"),
])
def test_bad_options_raise_parameter_error(kwargs, match):
    with pytest.raises(iov.ParameterError, match=match):
        iov.analyze("virtio-blk", **kwargs)


def test_open_workload_refuses_streams():
    # a stream keeps its bottleneck busy: it has no offered rate (load batching does, below)
    with pytest.raises(iov.ParameterError, match="closed workload"):
        iov.analyze("virtio-blk", workload=iov.Workload.open(1e4), streams=True)


def test_bad_metric_and_percentile():
    r = iov.analyze("virtio-blk")
    with pytest.raises(iov.ParameterError, match="'speed'"):
        r.metric("speed")
    with pytest.raises(iov.ParameterError, match="100"):
        r.percentile_us(100)


# ------------------------------------------------------------------ laws over the catalog
from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

NAMES = sorted(iov.paths()["name"])


@settings(max_examples=40, deadline=None, derandomize=True)
@given(name=st.sampled_from(NAMES), jobs=st.integers(1, 16), iodepth=st.integers(1, 8))
def test_load_batch_is_a_fixed_point_in_its_bracket(name, jobs, iodepth):
    w = iov.Workload.closed(jobs, iodepth)
    r = iov.analyze(name, workload=w, batching="load")
    net = r.extra["net"]
    rho = max((r.utilization[net.stations[i].name] for i in notified(net)), default=0.0)
    b = r.workload.batch
    assert 1.0 <= b <= w.population
    want = w.population if rho >= 1 else min(max(1 / (1 - rho), 1.0), w.population)
    assert b == pytest.approx(want, rel=1e-7, abs=1e-9)


@settings(max_examples=40, deadline=None, derandomize=True)
@given(name=st.sampled_from(NAMES), jobs=st.integers(1, 16), iodepth=st.integers(1, 8))
def test_percentiles_increase_and_metrics_restate_the_result(name, jobs, iodepth):
    r = iov.analyze(name, workload=iov.Workload.closed(jobs, iodepth), percentiles=(50, 90, 99))
    p = [r.percentiles_us[k] for k in ("p50", "p90", "p99")]
    assert 0 < p[0] <= p[1] <= p[2]
    assert r.metric("iops") == r.throughput_per_s and r.metric("latency_us") == r.latency_us
    assert r.metric("cpu_util_host_pct") == pytest.approx(
        100 * r.throughput_per_s * r.cpu_us_per_io / 1e6, rel=1e-12)
    # exits per I/O are the catalog's own count at the result's batch (1, or the load's on
    # a path that signals once per pass, Path.batching)
    assert r.metric("exits_per_io") == pytest.approx(
        float(iov.path(name).mode_switches(batch=r.workload.batch)["vm_exits"].iloc[0]),
        rel=1e-12)


@pytest.mark.parametrize("rate", [100_000, 300_000, 450_000])
def test_load_batching_at_an_offered_rate_is_the_closed_form(rate):
    # a back-end doing d_i per request and d_b per notification at Poisson rate lam: the
    # fraction 1 - rho of requests that find it idle notify it (PASTA), so the batch is
    # b = 1 / (1 - rho) with rho = lam (d_i + d_b / b) = lam d_i + lam d_b (1 - rho), i.e.
    # rho = lam (d_i + d_b) / (1 + lam d_b); at 450k/s batch 1 would be unstable (rho 1.35)
    d_i, d_b = 1.0, 2.0
    p = iov.Path.from_hops("notified", [iov.Hop("pop", "server", d_i),
                                        iov.Hop("wake", "server", d_b, per="batch")])
    r = iov.analyze(p, workload=iov.Workload.open(rate), batching="load")
    lam = rate / 1e6
    rho = lam * (d_i + d_b) / (1 + lam * d_b)
    assert r.workload.batch == pytest.approx(1 / (1 - rho), rel=1e-8)
    assert r.utilization["server"] == pytest.approx(rho, rel=1e-8)
    assert r.throughput_per_s == pytest.approx(rate)


def test_load_batching_at_a_rate_beyond_the_largest_batch_is_unstable():
    # even at the largest batch (256) the back-end's per-request work alone is too slow
    p = iov.Path.from_hops("notified", [iov.Hop("pop", "server", 1.0),
                                        iov.Hop("wake", "server", 2.0, per="batch")])
    with pytest.raises(iov.UnstableError):
        iov.analyze(p, workload=iov.Workload.open(1.1e6), batching="load")
