"""analyze / compare / sweep: textbook single stations, Little's law, and the seed's claims."""

import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import iovmodel as iov
from iovmodel.errors import UnstableError

HOST = iov.HostProfile.default()
BLK = ["emulated-ide", "virtio-blk", "virtio-scsi", "vhost-scsi", "vfio-nvme", "native-blk"]
NET = ["emulated-e1000", "virtio-net", "vhost-net", "vfio-net", "native-net"]


def one_station(cost_us, scv=1.0, count=1, servers=1):
    return iov.Path.from_hops("one", [iov.Hop("serve", resource="srv", cost=cost_us, count=count,
                                              scv=scv)], servers={"srv": servers})


def test_open_single_station_is_mm1():
    """Kleinrock vol. 1 eq. 3.26: T = (1/mu) / (1 - rho). 10 µs service at 50,000/s: rho 0.5, T 20 µs."""
    r = iov.analyze(one_station(10.0), HOST, iov.Workload.open(50_000))
    assert r.latency_us == pytest.approx(20.0, rel=1e-12)
    assert r.utilization["srv"] == pytest.approx(0.5)
    assert r.breakdown["latency_us"].sum() == pytest.approx(r.latency_us)


def test_open_deterministic_station_is_md1():
    """M/D/1 (Kleinrock eq. 5.73 with C_b^2 = 0): W = x + rho x / (2 (1 - rho)) = 10 + 5 = 15 µs."""
    r = iov.analyze(one_station(10.0, scv=0.0), HOST, iov.Workload.open(50_000))
    assert r.latency_us == pytest.approx(15.0, rel=1e-12)


def test_open_mmc_station():
    """Erlang C worked example (Gross & Harris 4th ed. ex. 2.4 style, computed independently):
    c = 2, mean service 10 µs, lambda = 150,000/s -> a = 1.5, rho = 0.75;
    P_wait = (a^c/c!)/(1-rho) / (sum_{k<c} a^k/k! + (a^c/c!)/(1-rho)) = 2.25/2/0.25 / (1 + 1.5 + 4.5)."""
    a, c, rho, s = 1.5, 2, 0.75, 10.0
    top = a**c / math.factorial(c) / (1 - rho)
    pw = top / (sum(a**k / math.factorial(k) for k in range(c)) + top)
    wq = pw * s / (c * (1 - rho))
    r = iov.analyze(one_station(s, servers=2), HOST, iov.Workload.open(150_000))
    assert r.latency_us == pytest.approx(s + wq, rel=1e-9)


def test_visits_share_one_queue():
    """Two visits of 5 µs to one exponential server at 50,000 I/O per second: 100,000 visits/s,
    rho = 0.5, each visit takes 5 / (1 - 0.5) = 10 µs, an I/O 20 µs."""
    r = iov.analyze(one_station(5.0, count=2), HOST, iov.Workload.open(50_000))
    assert r.latency_us == pytest.approx(20.0)


def test_unstable_open_load_names_resource_and_capacity():
    with pytest.raises(UnstableError) as exc:
        iov.analyze("virtio-blk", HOST, iov.Workload.open(1e6))
    msg = str(exc.value)
    # one wording in every solver (PLAN.md): capacity = servers / demand at bql, 10^6 / D
    net = iov.build(iov.path("virtio-blk"), HOST, iov.Workload.open(1e6))
    cap = 1e6 / net.stations[net.station_index("bql")].demand_us
    assert msg == (f"utilisation of 'bql' is {1e6 / cap:.3g} >= 1: the offered load 1000000/s "
                   f"exceeds its capacity {cap:.0f}/s (path 'virtio-blk')")
    assert isinstance(exc.value, ValueError)


def test_closed_one_job_has_no_queueing():
    for n in BLK + NET:
        r = iov.analyze(n, HOST, iov.Workload.closed(1, 1))
        assert r.latency_us == pytest.approx(r.zero_load_latency_us, rel=1e-9), n
        assert r.throughput_per_s == pytest.approx(1e6 / r.latency_us, rel=1e-9), n


@settings(max_examples=40, deadline=None)
@given(jobs=st.integers(1, 64), iodepth=st.integers(1, 32), think=st.floats(0, 500),
       name=st.sampled_from(BLK + ["vhost-net", "xen-blkfront", "virtio-blk-iothread"]))
def test_littles_law_and_bounds_closed(jobs, iodepth, think, name):
    """N = X (R + Z) (Little); X <= min(N / (D + Z), 1 / D_max) (Lazowska et al. 1984, ch. 5)."""
    w = iov.Workload.closed(jobs, iodepth, think_us=think)
    r = iov.analyze(name, HOST, w)
    n = jobs * iodepth
    assert r.throughput_per_s / 1e6 * (r.latency_us + think) == pytest.approx(n, rel=1e-6)
    bound = min(n / (r.zero_load_latency_us + think) * 1e6, r.saturation_per_s)
    assert r.throughput_per_s <= bound * (1 + 1e-9)
    assert r.latency_us >= r.zero_load_latency_us * (1 - 1e-9)


@settings(max_examples=30, deadline=None)
@given(frac=st.lists(st.floats(0.01, 0.95), min_size=2, max_size=5, unique=True),
       name=st.sampled_from(BLK[1:] + NET[:-2]))
def test_open_latency_monotone_in_load(frac, name):
    sat = iov.analyze(name, HOST, iov.Workload.open(1.0, size_bytes=64)).saturation_per_s
    rates = sorted(f * sat for f in frac)
    lat = [iov.analyze(name, HOST, iov.Workload.open(x, size_bytes=64)).latency_us for x in rates]
    assert all(b >= a for a, b in zip(lat, lat[1:], strict=False))


def test_seed_claim_1_latency_order_at_low_load():
    """Emulated > virtio through QEMU > vhost > passthrough, near native (block and network)."""
    for fam, size in ((("emulated-ide", "virtio-blk", "vhost-scsi", "vfio-nvme", "native-blk"), 4096),
                      (("emulated-e1000", "virtio-net", "vhost-net", "vfio-net", "native-net"), 64)):
        lat = [iov.analyze(n, HOST, iov.Workload.closed(1, 1, size_bytes=size)).latency_us for n in fam]
        assert lat == sorted(lat, reverse=True), (fam, lat)
        assert lat[3] / lat[4] < 1.15  # passthrough within 15 % of native
        assert lat[0] / lat[1] > 2  # emulation is far slower


def test_seed_claim_2_global_mutex_flattens():
    """With many jobs, virtio via QEMU's main loop is flat at the BQL and its latency grows
    linearly in jobs; vhost and iothreads keep scaling until their own worker or the device.

    The seed's claim is about the host side when many requests arrive at once: stated, as the
    seed does, for a guest whose CPUs never queue (vcpus="inf"). With the default single
    vCPU the guest's CPU binds first on the faster paths (tests/solve/test_layered.py)."""
    jobs = [1, 2, 4, 8, 16, 32, 64]
    v = iov.sweep("virtio-blk", HOST, jobs=jobs, vcpus=["inf"])
    assert set(v["bottleneck"]) == {"bql"}
    x = v["throughput_per_s"].to_numpy()
    assert x[-1] == pytest.approx(x[-2], rel=1e-3)  # flat
    lat = v["latency_us"].to_numpy()
    assert lat[-1] / lat[-2] == pytest.approx(2.0, rel=0.02)  # linear in jobs
    inf = {"vcpus": "inf"}
    io = iov.sweep(iov.path("virtio-blk-iothread", **inf), HOST, jobs=jobs)["throughput_per_s"].to_numpy()
    vh4 = iov.sweep(iov.path("vhost-scsi", workers=4, **inf), HOST, jobs=jobs)["throughput_per_s"].to_numpy()
    io4 = iov.sweep(iov.path("virtio-blk-iothread", iothreads=4, **inf), HOST,
                    jobs=jobs)["throughput_per_s"]
    assert io[-1] > 2 * x[-1] and vh4[-1] > 4 * x[-1]
    assert io4.iloc[-1] > 1.9 * io[-1]  # a worker per queue scales
    # each saturates at its own resource: the worker or, with enough workers, the device
    assert iov.analyze("vhost-scsi", HOST, iov.Workload.closed(64, 1), **inf).bottleneck == "vhost"
    many = iov.analyze(iov.path("vhost-scsi", workers=16, **inf), HOST, iov.Workload.closed(64, 32))
    assert many.bottleneck == "device"


def test_seed_claim_3_host_cpu_falls():
    for chain, size in ((("emulated-ide", "virtio-blk", "vhost-scsi"), 4096),
                        (("emulated-e1000", "virtio-net", "vhost-net"), 64)):
        cpu = [iov.analyze(n, HOST, iov.Workload.closed(1, 1, size_bytes=size)).cpu_us_per_io
               for n in chain]
        assert cpu == sorted(cpu, reverse=True), (chain, cpu)


def test_sweep_equals_pointwise_analyze():
    df = iov.sweep("vhost-scsi", HOST, jobs=[1, 4, 16], iodepth=[1, 8], workers=[1, 2])
    assert len(df) == 12
    for _, row in df.iterrows():
        r = iov.analyze(iov.path("vhost-scsi", workers=int(row.workers)), HOST,
                        iov.Workload.closed(int(row.jobs), int(row.iodepth)))
        assert row.throughput_per_s == pytest.approx(r.throughput_per_s, rel=1e-12)
        assert row.latency_us == pytest.approx(r.latency_us, rel=1e-12)


def test_sweep_costs_rates_and_nan_policy():
    df = iov.sweep("virtio-blk", HOST, vmexit_us=[0.35, 1.0, 5.0])
    assert np.all(np.diff(df["latency_us"]) > 0)
    with pytest.raises(UnstableError):
        iov.sweep("virtio-blk", HOST, rate_per_s=[1e4, 1e6])
    with pytest.warns(iov.UnstableQueueWarning):
        df = iov.sweep("virtio-blk", HOST, rate_per_s=[1e4, 1e6], nan_policy="nan")
    assert math.isnan(df["latency_us"].iloc[1]) and not math.isnan(df["latency_us"].iloc[0])
    with pytest.raises(iov.ParameterError, match="unknown sweep knob"):
        iov.sweep("virtio-blk", HOST, bogus=[1])


def test_compare_and_result_presentation():
    df = iov.compare(["emulated-e1000", "virtio-net", "vhost-net"], HOST, iov.Workload.closed(1, 1, size_bytes=64))
    assert list(df["path"]) == ["emulated-e1000", "virtio-net", "vhost-net"]
    assert {"throughput_per_s", "latency_us", "cpu_us_per_io", "vm_exits"} <= set(df.columns)
    r = iov.analyze("virtio-blk")
    assert "np.float64" not in repr(r) and "virtio-blk" in repr(r)
    assert "<table" in r._repr_html_()
    fr = r.to_frame()
    assert isinstance(fr, pd.DataFrame) and len(fr) == 1 and "util_bql" in fr
    assert "bottleneck" in r.summary()


def test_polling_backend_burns_a_core():
    """A busy-polling backend costs a whole core whatever the load: CPU/IO = 1e6 / X per core."""
    lo = iov.analyze("vhost-user-blk", HOST, iov.Workload.open(10_000))
    hi = iov.analyze("vhost-user-blk", HOST, iov.Workload.open(100_000))
    # the load-independent part (host block layer) cancels: 1e6/1e4 - 1e6/1e5 = 90 µs
    assert lo.cpu_us_per_io - hi.cpu_us_per_io == pytest.approx(90.0, rel=1e-9)


@pytest.mark.parametrize("call", [
    lambda: iov.analyze("virtio-blk", "fast"),
    lambda: iov.analyze(3),
    lambda: iov.compare("virtio-blk"),
    lambda: iov.compare(["virtio-blk"], "h"),
    lambda: iov.sweep("virtio-blk", "h", jobs=[1]),
])
def test_bad_path_or_host_raise_parameter_error(call):
    # the same argument checks in analyze, compare and sweep: (path, host, workload, ...)
    with pytest.raises(iov.ParameterError, match="path|host"):
        call()


def test_the_public_api_is_what_dir_shows():
    # a notebook's tab completion lists __all__: every name there resolves, the lazy ones
    # (simulator, probe, widgets) included, and no import helper leaks into it
    names = dir(iov)
    assert names == sorted(iov.__all__)
    assert not {"importlib", "Any", "annotations", "calibrate", "errors"} & set(names)
    for name in names:
        assert getattr(iov, name) is not None
