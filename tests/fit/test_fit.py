"""Calibration: recover known costs, report uncertainty honestly, refuse bad data.

Reference values come from outside the fitting code: synthetic measurements are
made by ``iovmodel.analyze`` (the solver the fit must invert) with seeded
log-normal noise, and the percentile approximation is checked against the M/M/1
sojourn-time distribution (Kleinrock 1975, *Queueing Systems* vol. 1, section 3.2:
the response time of M/M/1 FCFS is exponential with rate mu - lambda).
"""

from __future__ import annotations

import math
import warnings
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import iovmodel as iov
from iovmodel.errors import FitConvergenceWarning, FitError
from iovmodel.fit import (
    PREDICTABLE,
    FitResult,
    crossval,
    fit,
    latency_quantile,
    predict,
    predictable,
)

FREE = ["virtqueue_us", "vhost_us", "device_blk_us"]
TRUE = {"virtqueue_us": 1.5, "vhost_us": 0.9, "device_blk_us": 60.0}
#: plain least squares: inverting the model exactly needs no prior to pull the costs
PLAIN = {"prior": None, "loss": "linear"}


def design(metrics=("iops", "latency_us")) -> pd.DataFrame:
    """IOPS and latency over numjobs on three paths that separate the three costs:
    virtio-blk saturates at the BQL (virtqueue_us), vhost-scsi at its worker(s)
    (vhost_us), and the device time dominates the latency at low load."""
    rows = []
    for name, opts in [("virtio-blk", ""), ("vhost-scsi", "workers=1"), ("vhost-scsi", "workers=4")]:
        for jobs in (1, 2, 4, 8, 16, 32, 64):
            for metric in metrics:
                rows.append({"path": name, "options": opts, "jobs": jobs, "iodepth": 1,
                             "size_bytes": 4096, "metric": metric, "value": 1.0})
    return pd.DataFrame(rows)


def synthetic(noise: float, seed: int, metrics=("iops", "latency_us")) -> pd.DataFrame:
    df = design(metrics)
    truth = iov.HostProfile.default().replace(**TRUE)
    exact = predict(df, truth)["predicted"].to_numpy()
    rng = np.random.default_rng(seed)
    df["value"] = exact * np.exp(rng.normal(0.0, noise, len(df)))
    return df


# ------------------------------------------------------------------ recovery
def test_exact_data_recover_the_true_costs():
    f = fit(synthetic(0.0, 0), free=FREE, **PLAIN)
    for k, v in TRUE.items():
        assert f.profile[k] == pytest.approx(v, rel=1e-5), k
    assert f.mape < 1e-4
    assert f.r2 == pytest.approx(1.0, abs=1e-9)


def test_noisy_data_true_costs_inside_the_intervals():
    # 3 % log-normal noise, fixed seed: the 95 % intervals must cover the truth
    f = fit(synthetic(0.03, 7), free=FREE, **PLAIN)
    print(f.report())
    for k, v in TRUE.items():
        p = f.params.loc[k]
        assert p["ci_lo"] < v < p["ci_hi"], (k, v, p["ci_lo"], p["ci_hi"])
        assert p["identifiable"] and not p["at_bound"]
        # the interval is informative: narrower than a factor 1.5 either side
        assert p["ci_hi"] / p["ci_lo"] < 2.25
    assert f.dof == len(f.residuals) - 3
    # the residual spread matches the noise that was put in
    assert np.std(f.residuals["log_error"]) == pytest.approx(0.03, rel=0.35)


def test_bootstrap_is_seeded_and_executor_independent():
    df = synthetic(0.03, 11)
    a = fit(df, free=FREE, **PLAIN, n_boot=12, seed=5)
    b = fit(df, free=FREE, **PLAIN, n_boot=12, seed=5)
    with ThreadPoolExecutor(2) as ex:
        c = fit(df, free=FREE, **PLAIN, n_boot=12, seed=5, executor=ex)
    pd.testing.assert_frame_equal(a.boot, b.boot)
    pd.testing.assert_frame_equal(a.boot, c.boot)
    assert list(a.params["boot_lo"]) == list(c.params["boot_lo"])
    d = fit(df, free=FREE, **PLAIN, n_boot=12, seed=6)
    assert not a.boot.equals(d.boot)
    for k in FREE:  # the bootstrap interval brackets the estimate
        p = a.params.loc[k]
        assert p["boot_lo"] <= p["value"] * 1.0001 and p["value"] <= p["boot_hi"] * 1.0001


def test_percentile_rows_are_fitted_too():
    f = fit(synthetic(0.0, 0, metrics=("iops", "latency_us", "latency_p99_us")), free=FREE,
            **PLAIN)
    for k, v in TRUE.items():
        assert f.profile[k] == pytest.approx(v, rel=1e-4), k


def test_collinear_costs_warn_and_are_flagged():
    # wakeup_us, virtqueue_us and vhost_us enter these data only through the BQL and
    # vhost demands: three costs, two identifiable combinations
    df = synthetic(0.02, 3)
    with pytest.warns(FitConvergenceWarning, match="not identifiable"):
        f = fit(df, free=["wakeup_us", "virtqueue_us", "vhost_us"], **PLAIN)
    assert not f.params["identifiable"].all()
    assert any("not identifiable" in n for n in f.notes)


def test_default_free_selects_an_identifiable_subset():
    with warnings.catch_warnings():
        warnings.simplefilter("error", FitConvergenceWarning)
        f = fit(synthetic(0.0, 0), prior=None)
    assert 1 <= len(f.free) <= 6
    assert f.params["identifiable"].all()
    assert f.mape < 1.0  # exact data: whatever subset, the fit reproduces them


def test_with_priors_every_influential_cost_is_free_and_the_uninformed_stay_at_their_prior():
    f = fit(synthetic(0.0, 0))
    assert len(f.free) > 6 and f.mape < 1.0
    rest = f.params[~f.params["identifiable"]]
    assert len(rest) >= 1
    # an uninformed cost barely moves from its prior median (the costs.toml default)
    assert np.allclose(rest["value"], rest["prior_median"], rtol=0.5)
    assert any("at or near their priors" in n for n in f.notes)
    assert "at prior (data do not inform it)" in f.summary()


@settings(max_examples=4, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(vq=st.floats(0.4, 4.0), vh=st.floats(0.2, 2.0), dev=st.floats(10.0, 150.0))
def test_law_noise_free_fits_invert_the_model(vq, vh, dev):
    df = design()
    truth = iov.HostProfile.default().replace(virtqueue_us=vq, vhost_us=vh, device_blk_us=dev)
    df["value"] = predict(df, truth)["predicted"].to_numpy()
    f = fit(df, free=FREE, **PLAIN)
    assert f.profile["virtqueue_us"] == pytest.approx(vq, rel=1e-3)
    assert f.profile["vhost_us"] == pytest.approx(vh, rel=1e-3)
    assert f.profile["device_blk_us"] == pytest.approx(dev, rel=1e-3)


def test_robust_loss_resists_an_outlier():
    df = synthetic(0.01, 2)
    df.loc[5, "value"] *= 5.0  # one row 5x off
    plain = fit(df, free=FREE, **PLAIN)
    robust = fit(df, free=FREE, prior=None, loss="soft_l1", f_scale=0.05)
    err = lambda f: max(abs(f.profile[k] / v - 1) for k, v in TRUE.items())  # noqa: E731
    assert err(robust) < err(plain)
    assert err(robust) < 0.05


def test_weights_zero_removes_a_row():
    df = synthetic(0.0, 0)
    df.loc[3, "value"] *= 10.0
    w = np.ones(len(df))
    w[3] = 0.0
    f = fit(df, free=FREE, **PLAIN, weights=w)
    assert f.profile["device_blk_us"] == pytest.approx(60.0, rel=1e-4)


# --------------------------------------------------------------- predictions
def test_predictions_agree_with_analyze():
    host = iov.HostProfile.default()
    df = pd.DataFrame([
        {"path": "vhost-scsi", "options": "workers=2", "jobs": 8, "iodepth": 4, "metric": m,
         "value": 1.0, "size_bytes": 4096}
        for m in ("iops", "latency_us", "cpu_us_per_io", "throughput_gbps", "exits_per_io",
                  "exits_per_s", "cpu_util_vcpu_pct")])
    out = predict(df, host).set_index("metric")["predicted"]
    r = iov.analyze("vhost-scsi", host, iov.Workload.closed(8, 4), workers=2)
    exits = float(iov.path("vhost-scsi").mode_switches()["vm_exits"].iloc[0])
    assert out["iops"] == pytest.approx(r.throughput_per_s, rel=1e-12)
    assert out["latency_us"] == pytest.approx(r.latency_us, rel=1e-12)
    assert out["cpu_us_per_io"] == pytest.approx(r.cpu_us_per_io, rel=1e-12)
    assert out["throughput_gbps"] == pytest.approx(r.throughput_per_s * 4096 * 8 / 1e9, rel=1e-12)
    assert out["exits_per_io"] == pytest.approx(exits)
    assert out["exits_per_s"] == pytest.approx(exits * r.throughput_per_s, rel=1e-12)
    assert out["cpu_util_vcpu_pct"] == pytest.approx(r.metric("cpu_util_vcpu_pct"), rel=1e-12)
    # without KVM's halt polling the vCPU threads' CPU is the guest's work alone
    h0 = host.replace(halt_poll_us=0.0)
    r0 = iov.analyze("vhost-scsi", h0, iov.Workload.closed(8, 4), workers=2)
    vcpu = r0.breakdown.query("resource == 'vcpu'")["service_us"].sum()
    out0 = predict(df, h0).set_index("metric")["predicted"]
    assert out0["cpu_util_vcpu_pct"] == pytest.approx(100 * r0.throughput_per_s * vcpu / 1e6)


def test_open_rows_agree_with_analyze():
    w = iov.Workload.open(50_000)
    r = iov.analyze("virtio-blk", None, w)
    df = pd.DataFrame([{"path": "virtio-blk", "rate_per_s": 50_000, "metric": "latency_us",
                        "value": 1.0}])
    assert predict(df)["predicted"].iloc[0] == pytest.approx(r.latency_us, rel=1e-12)


def test_mm1_percentiles_are_exact():
    # one exponential server, Poisson arrivals: sojourn ~ Exp(mu - lambda) (Kleinrock 3.2),
    # so p = 1 - exp(-(mu - lambda) t)  ->  t_p = -ln(1 - p) / (mu - lambda)
    p = iov.Path.from_hops("mm1", [iov.Hop("serve", resource="server", cost=10.0)],
                           servers={"server": 1})
    lam, mu = 0.06, 0.1  # per µs
    rows = [{"path": p, "rate_per_s": lam * 1e6, "metric": m, "value": 1.0}
            for m in ("latency_p50_us", "latency_p90_us", "latency_p99_us", "latency_p999_us",
                      "latency_us")]
    out = predict(pd.DataFrame(rows))["predicted"].to_numpy()
    qs = [0.5, 0.9, 0.99, 0.999]
    for got, q in zip(out[:4], qs, strict=True):
        assert got == pytest.approx(-math.log(1 - q) / (mu - lam), rel=1e-9)
    assert out[4] == pytest.approx(1 / (mu - lam), rel=1e-12)


def test_gamma_quantile_degenerates_to_the_mean():
    assert latency_quantile(42.0, 0.0, 0.99) == 42.0
    # exponential: variance = mean^2
    assert latency_quantile(10.0, 100.0, 0.5) == pytest.approx(10 * math.log(2))


def test_latency_quantile_is_the_gamma_distributions():
    # the quantile skips stats.gamma.ppf's argument handling: the same number, bit for bit
    from scipy import stats

    for mean in (0.3, 12.0, 4000.0):
        for cv2 in (1e-6, 0.05, 1.0, 7.0):
            for q in (0.5, 0.9, 0.95, 0.99, 0.999):
                var = cv2 * mean**2
                want = float(stats.gamma.ppf(q, mean**2 / var, scale=var / mean))
                assert latency_quantile(mean, var, q) == want


def test_vmm_rows_use_the_vmm_threads():
    df = pd.DataFrame([
        {"path": "firecracker-virtio-blk", "options": "vcpus=1;engine=sync", "jobs": 1,
         "iodepth": 32, "size_bytes": 4096, "metric": "cpu_util_vmm_pct", "value": 30.0},
        {"path": "firecracker-virtio-blk", "options": "vcpus=1;engine=async", "jobs": 1,
         "iodepth": 32, "size_bytes": 4096, "metric": "cpu_util_vmm_pct", "value": 30.0},
        {"path": "firecracker-virtio-blk", "options": "vcpus=1;engine=sync", "jobs": 1,
         "iodepth": 32, "size_bytes": 4096, "metric": "cpu_us_per_io", "label": "vmm threads",
         "value": 2.0},
    ])
    out = predict(df)
    sync = iov.analyze("firecracker-virtio-blk", None, iov.Workload.closed(1, 32), vcpus=1)
    asyn = iov.analyze("firecracker-virtio-blk", None, iov.Workload.closed(1, 32), vcpus=1,
                       engine_async=True)
    vmm = lambda r: r.breakdown.query("resource == 'vmm'")["service_us"].sum()  # noqa: E731
    assert out["predicted"][0] == pytest.approx(100 * sync.throughput_per_s * vmm(sync) / 1e6)
    assert out["predicted"][1] == pytest.approx(100 * asyn.throughput_per_s * vmm(asyn) / 1e6)
    assert out["predicted"][0] != pytest.approx(out["predicted"][1])  # engine=async applied
    assert out["predicted"][2] == pytest.approx(vmm(sync))


def test_a_label_word_that_clears_the_keys_only_flag_is_not_ignored():
    # engine=async sets engine_async; engine=sync names the other engine: engine_async
    # false, read, not listed among the ignored labels
    rows = pd.DataFrame([
        {"path": "firecracker-virtio-blk", "options": f"vcpus=1;engine={e}", "jobs": 1,
         "iodepth": 32, "size_bytes": 4096, "metric": "cpu_util_vmm_pct", "value": v}
        for e, v in (("sync", 40.0), ("async", 55.0), ("sync", 42.0))])
    f = iov.fit(rows, free=["syscall_us"])
    assert not any("engine" in n for n in f.notes)
    out = f.residuals["predicted"].to_numpy()
    assert out[0] == pytest.approx(out[2]) and out[0] != pytest.approx(out[1])
    # a word on a path without such a flag is still a label the fit reports it ignored
    v = pd.DataFrame([{"path": "virtio-blk", "options": "engine=sync", "jobs": 1,
                       "iodepth": 1, "size_bytes": 4096, "metric": "iops", "value": 3e4}] * 2)
    assert any("engine" in n for n in iov.fit(v, free=["guest_blk_us"]).notes)


def test_cpu_of_rows_read_the_process_cpu_on_the_vcpu():
    """fio's usr + sys per I/O (option cpu_of): the demand at the vCPU threads, by the
    utilisation law U = X D the vCPU utilisation over the throughput (P01's rows)."""
    base = {"jobs": 1, "iodepth": 64, "size_bytes": 4096, "rw": "randread"}
    df = pd.DataFrame([
        {**base, "path": "virtio-blk", "options": "aio=native;cpu_of=guest_fio",
         "metric": "cpu_us_per_io", "value": 15.0},
        {**base, "path": "virtio-blk", "options": "aio=native",
         "metric": "cpu_util_vcpu_pct", "value": 90.0},
        {**base, "path": "virtio-blk", "options": "aio=native", "metric": "iops", "value": 6e4},
        {**base, "path": "native-blk", "options": "cpu_of=host_fio",
         "metric": "cpu_us_per_io", "value": 2.6},
        {**base, "path": "native-blk", "metric": "cpu_util_vcpu_pct", "value": 80.0},
        {**base, "path": "native-blk", "metric": "iops", "value": 3e5},
    ])
    # the guest's own work: what the host counts on the vCPU threads less KVM's halt
    # polling (tests/solve/test_halt_poll.py), so without it; bare metal has none
    out = predict(df, iov.HostProfile.default().replace(halt_poll_us=0.0))["predicted"].to_numpy()
    assert out[0] == pytest.approx(out[1] / 100 * 1e6 / out[2], rel=1e-9)
    assert out[3] == pytest.approx(out[4] / 100 * 1e6 / out[5], rel=1e-9)
    polled = predict(df)["predicted"].to_numpy()
    assert np.allclose(polled[[0, 2, 3, 4, 5]], out[[0, 2, 3, 4, 5]], rtol=1e-12)
    assert polled[1] > out[1]  # the idle vCPU's spin, counted by the host
    # the guest's process is charged the kick's exit (the guest clock runs through it),
    # not the host's CPU outside the guest (what cpu_us_per_io alone means)
    host_only = predict(df.assign(options=df.options.str.replace(";cpu_of=guest_fio", "")))
    assert host_only["predicted"][0] != pytest.approx(out[0])


@pytest.mark.parametrize("path, options, metric, match", [
    ("virtio-blk", "cpu_of=host_fio", "cpu_us_per_io", "ran in the guest"),
    ("native-blk", "cpu_of=guest_fio", "cpu_us_per_io", "native path has no guest"),
    ("virtio-blk", "cpu_of=qemu", "cpu_us_per_io", "not one of guest_fio, host_fio"),
    ("virtio-blk", "cpu_of=guest_fio", "iops", "this row's metric is 'iops'"),
])
def test_bad_cpu_of_names_the_row(path, options, metric, match):
    df = pd.DataFrame([{"path": path, "options": options, "jobs": 1, "iodepth": 1,
                        "metric": metric, "value": 1.0}])
    with pytest.raises(FitError, match=match) as e:
        predict(df)
    assert "row 0" in str(e.value)


def test_rwmixread_option_sets_the_read_share_of_a_mix():
    """fio's rwmixread of a randrw row (S14's IOmeter job reads 80 %): the workload's read
    fraction, as analyze takes it; a mix without the option reads fio's default 50 %."""
    pins = "device_blk_us=10;device_write_us=30"
    base = {"path": "native-blk", "jobs": 1, "iodepth": 1, "rw": "randrw",
            "metric": "latency_us", "value": 20.0}
    df = pd.DataFrame([{**base, "options": f"{pins};rwmixread=80"},
                       {**base, "options": f"{pins};rwmixread=20"},
                       {**base, "options": pins}])
    out = predict(df)["predicted"].to_numpy()
    host = {"device_blk_us": 10.0, "device_write_us": 30.0}
    for got, mix in zip(out, (80, 20, 50), strict=True):
        w = iov.Workload.closed(1, 1, rw="randrw", rwmixread=mix)
        assert got == pytest.approx(iov.analyze("native-blk", host, w).latency_us, rel=1e-12)
    assert out[1] - out[0] == pytest.approx(0.6 * (30 - 10), rel=1e-9)  # 60 % more writes


@pytest.mark.parametrize("rw, mix, match", [
    ("randread", "80", "contradicts rw='randread'"),
    ("", "80", "needs a mix in column 'rw'"),
    ("randrw", "180", "rwmixread"),
])
def test_bad_rwmixread_names_the_row(rw, mix, match):
    df = pd.DataFrame([{"path": "native-blk", "options": f"rwmixread={mix}", "rw": rw,
                        "jobs": 1, "iodepth": 1, "metric": "iops", "value": 1e4}])
    with pytest.raises(FitError, match=match) as e:
        predict(df)
    assert "row 0" in str(e.value)


def test_unknown_option_keys_are_labels_and_noted():
    df = pd.concat([_one(options="host=lab7"), _one(value=2e4)], ignore_index=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FitConvergenceWarning)
        f = fit(df, free=["device_blk_us"])
    assert any("ignored" in n and "host" in n for n in f.notes)


def test_option_pins_a_cost_for_its_row():
    base = {"path": "virtio-blk", "jobs": 1, "iodepth": 1, "metric": "latency_us", "value": 1.0}
    df = pd.DataFrame([base, {**base, "options": "device_blk_us=0.5"}])
    out = predict(df)["predicted"].to_numpy()
    assert out[0] - out[1] == pytest.approx(40.0 - 0.5, rel=1e-9)


# ------------------------------------------------------------------ crossval
def test_crossval_predicts_the_held_out_rows():
    df = synthetic(0.02, 4)
    train = (df["jobs"] <= 8).to_numpy()
    cv = crossval(df, train=train, free=FREE, **PLAIN)
    assert list(cv.index) == list(df.index[~train])
    assert {"measured", "predicted", "rel_error"} <= set(cv.columns)
    assert cv.attrs["n_train"] == train.sum() and cv.attrs["n_test"] == (~train).sum()
    print(f"crossval: train {cv.attrs['train_mape']:.2f} %, test {cv.attrs['test_mape']:.2f} %")
    assert cv.attrs["test_mape"] < 6.0  # 2 % noise, the right model: high load from low load
    cv2 = crossval(df, train=lambda d: d["jobs"] <= 8, free=FREE, **PLAIN)
    pd.testing.assert_frame_equal(cv, cv2)


@pytest.mark.parametrize("train, msg", [
    (np.ones(42, dtype=bool), "every row"),
    (np.zeros(42, dtype=bool), "no row"),
    (np.ones(3, dtype=bool), "entries"),
    (np.arange(42), "boolean"),
])
def test_crossval_rejects_bad_masks(train, msg):
    with pytest.raises(iov.ParameterError, match=msg):
        crossval(design(), train=train)


# ------------------------------------------------------------------ bad data
def _one(**kw):
    row = {"path": "virtio-blk", "jobs": 1, "iodepth": 1, "metric": "iops", "value": 1e4}
    row.update(kw)
    return pd.DataFrame([row])


@pytest.mark.parametrize("frame, msg", [
    (pd.DataFrame(columns=["path", "metric", "value"]), "empty"),
    (_one(value=float("nan")), "NaN"),
    (_one(value=-3.0), "<= 0"),
    (_one(path="virtio-blkk"), "unknown path 'virtio-blkk'"),
    (_one(metric="jitter_us"), "cannot predict metric 'jitter_us'"),
    (_one(path="vhost-net", metric="cpu_util_vmm_pct"), "no VMM thread"),
    (_one(metric="transactions_per_s"), "network"),
    (_one(options="workers"), "key=value"),
    (_one(unit="ms", metric="latency_us"), "unit"),
    (_one(jobs=None, iodepth=None), "workload is not stated"),
    (_one(metric="throughput_gbps", size_bytes=None), "size_bytes"),
    (_one(jobs=0.5), "jobs"),
    (pd.DataFrame({"path": ["virtio-blk"], "value": [1.0]}), "metric"),
])
def test_bad_data_raise_fit_error(frame, msg):
    with pytest.raises(FitError, match=msg):
        fit(frame)


def test_bad_arguments():
    df = synthetic(0.0, 0)
    with pytest.raises(iov.ParameterError, match="unknown cost 'nope_us'"):
        fit(df, free=["nope_us"])
    with pytest.raises(iov.ParameterError, match="count"):
        fit(df, free=["device_blk_slots"])
    with pytest.raises(iov.ParameterError, match="loss"):
        fit(df, loss="l3")
    with pytest.raises(iov.ParameterError, match="weights"):
        fit(df, weights=[1.0, 2.0])
    with pytest.raises(iov.ParameterError, match="DataFrame"):
        fit([1, 2, 3])


def test_predictable_explains_each_row():
    df = pd.concat([_one(), _one(metric="score"), _one(path="nope")], ignore_index=True)
    out = predictable(df)
    assert list(out["predictable"]) == [True, False, False]
    assert out["reason"][0] == "" and "score" in out["reason"][1] and "nope" in out["reason"][2]
    assert set(PREDICTABLE) >= {"iops", "latency_us", "latency_p99_us", "cpu_util_vmm_pct"}


# -------------------------------------------------------------- presentation
def test_result_presents_itself():
    f = fit(synthetic(0.02, 1), free=FREE, **PLAIN)
    assert isinstance(f, FitResult)
    text = repr(f)
    assert text.startswith("<FitResult 3 cost(s)") and "np.float64" not in text
    html = f._repr_html_()
    assert "<table" in html and "device_blk_us" in html
    rep = f.summary()
    for k in FREE:
        assert k in rep
    frame = f.to_frame()
    assert list(frame.columns[:4]) == ["name", "value", "start", "stderr"]
    assert set(f.correlation.columns) == set(FREE)
    assert np.allclose(np.diag(f.correlation.to_numpy()), 1.0)
    assert f.profile.name.startswith("fit")
    assert f.profile.sources["device_blk_us"].startswith("fitted by iovmodel.fit on ")
    res = f.residuals
    assert np.allclose(res["rel_error"], (res["predicted"] - res["measured"]) / res["measured"])


def test_plot_returns_axes():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    f = fit(synthetic(0.02, 1), free=FREE, **PLAIN)
    ax = f.plot()
    assert hasattr(ax, "plot")
    plt.close("all")


# ------------------------------------------------------------------- batching
def test_effective_batch_is_recovered():
    # rows that do not state their batch: fit one effective batch with the costs
    df = design(metrics=("iops", "latency_us", "exits_per_io"))
    truth = iov.HostProfile.default().replace(**TRUE)
    # a batch never exceeds the requests in flight (issue 10): a free batch is capped per row
    stated = df.assign(batch=np.minimum(4, df["jobs"] * df["iodepth"]))
    df["value"] = predict(stated, truth)["predicted"].to_numpy()
    f = fit(df, free=[*FREE, "batch"], **PLAIN)
    assert f.batch == pytest.approx(4.0, rel=1e-4)
    for k, v in TRUE.items():
        assert f.profile[k] == pytest.approx(v, rel=1e-4), k
    assert "batch" in f.free and "batch" not in dict(f.profile)
    with pytest.raises(FitError, match="states its batch"):
        fit(stated.assign(value=df["value"]), free=["batch"])


# ------------------------------------------------------------ via simulation
def test_simulated_percentiles_match_mm1():
    # percentiles="sim": the simulator's p50/p99 of one M/M/1 station against the exact
    # exponential quantiles (Kleinrock 3.2); 4 x 20,000 seeded requests
    p = iov.Path.from_hops("mm1", [iov.Hop("serve", resource="server", cost=10.0)],
                           servers={"server": 1})
    rows = [{"path": p, "rate_per_s": 60_000, "metric": m, "value": 1.0}
            for m in ("latency_p50_us", "latency_p99_us")]
    out = predict(pd.DataFrame(rows), percentiles="sim")["predicted"].to_numpy()
    assert out[0] == pytest.approx(-math.log(0.5) / 0.04, rel=0.08)
    assert out[1] == pytest.approx(-math.log(0.01) / 0.04, rel=0.12)


def test_bulk_streams_are_predicted_at_the_throughput_bound():
    # an iperf3 stream (rw tx, iodepth not stated, jobs = streams) keeps the bottleneck busy:
    # the row is a TCP stream (Traffic.stream), predicted as analyze solves it, at the
    # asymptotic bound min_k c_k/D_k (Lazowska et al. 1984, section 5.2) of the network at its
    # fixed-point packets per notification
    row = {"path": "firecracker-virtio-net", "options": "vcpus=1", "jobs": 1, "iodepth": None,
           "size_bytes": 131072, "rw": "tx", "metric": "throughput_gbps", "value": 40.0}
    got = predict(pd.DataFrame([row, {**row, "metric": "cpu_util_vmm_pct", "value": 90.0}]))
    r = iov.analyze("firecracker-virtio-net", None,
                    iov.Workload.of(iov.Traffic.stream(131072, "tcp", "tx")), vcpus=1)
    assert got["predicted"][0] == pytest.approx(r.throughput_gbps, rel=1e-12)
    assert r.throughput_per_s == pytest.approx(r.saturation_per_s, rel=1e-12)
    # the bottleneck is saturated, whichever it is
    assert max(r.utilization[r.bottleneck], got["predicted"][1] / 100) == pytest.approx(
        1.0, abs=2e-3)


def test_stream_rows_run_one_way_and_as_many_streams_as_jobs():
    # two streams on two vCPUs are two closed loops spread over the vCPUs; a two-way
    # (iperf3 --bidir) row is refused with the reason, not predicted as something else
    row = {"path": "firecracker-virtio-net", "options": "vcpus=2", "jobs": 2, "iodepth": None,
           "size_bytes": 131072, "rw": "rx", "metric": "throughput_gbps", "value": 40.0}
    got = predict(pd.DataFrame([row]))["predicted"][0]
    r = iov.analyze("firecracker-virtio-net", None, iov.Workload.of(
        iov.Traffic.stream(131072, "tcp", "rx", streams=2)), vcpus=2)
    assert got == pytest.approx(r.throughput_gbps, rel=1e-12)
    ok = iov.fit.predictable(pd.DataFrame([row, {**row, "rw": "bidir"}]))
    assert ok["predictable"].tolist() == [True, False]
    assert "two-way stream" in ok["reason"][1]


def test_package_attribute_fit_is_the_module_and_fits_when_called():
    import importlib

    mod = importlib.import_module("iovmodel.fit")
    # iov.fit is the module, callable: iov.fit(df) fits and iovmodel.fit.predict predicts
    assert iov.fit is mod and callable(mod) and mod.predict is predict
    f = iov.fit(synthetic(0.0, 0), free=["device_blk_us"])
    assert isinstance(f, FitResult)
    # FitResult.predict predicts as the fit did: the fitted rows give the residuals' predictions
    np.testing.assert_allclose(f.predict()["predicted"], f.residuals["predicted"], rtol=1e-12)
    with pytest.raises(iov.ParameterError, match="host"):
        iov.fit(synthetic(0.0, 0), ["device_blk_us"])  # host comes second, as in analyze


def test_drop_unpredictable_rows_on_request():
    df = pd.concat([synthetic(0.0, 0), _one(metric="score", value=3.0)], ignore_index=True)
    with pytest.raises(FitError, match="score"):
        fit(df, free=FREE, **PLAIN)
    f = fit(df, free=FREE, **PLAIN, drop_unpredictable=True)
    assert len(f.residuals) == len(df) - 1
    assert any("dropped 1" in n for n in f.notes)
    assert f.profile["device_blk_us"] == pytest.approx(60.0, rel=1e-5)


# -------------------------------------------------------- load-dependent batch
def _backend_path():
    # guest work on a vCPU, a kick exit per batch, and one backend thread that wakes once per
    # batch (2 µs) and spends 1 µs on each request: the notification-suppression shape
    return iov.Path.from_hops("nbackend", [
        iov.Hop("guest", resource="vcpu", cost=3.0),
        iov.Hop("kick", resource="vcpu", cost=0.5, per="batch", switch="vm_exit", cpu="host"),
        iov.Hop("wake", resource="backend1", cost=2.0, per="batch", switch="wakeup"),
        iov.Hop("work", resource="backend1", cost=1.0),
        iov.Hop("device", resource="disk", cost=20.0, cpu="none"),
    ], servers={"backend1": 1, "disk": "inf"})


@pytest.mark.parametrize("jobs", [1, 2, 4, 8, 16, 64])
def test_load_batch_is_the_fixed_point_of_pasta(jobs):
    p = _backend_path()
    rows = [{"path": p, "jobs": jobs, "iodepth": 1, "metric": m, "value": 1.0}
            for m in ("iops", "exits_per_io")]
    X, exits = predict(pd.DataFrame(rows), batching="load")["predicted"].to_numpy()
    b = 1.0 / exits
    rho = X * (1.0 + 2.0 / b) / 1e6  # backend utilisation at that batch (from the outputs)
    assert 1.0 <= b <= jobs + 1e-9
    assert b == pytest.approx(min(1.0 / (1.0 - rho), jobs), rel=1e-6)
    # the same rows with the batch stated reproduce the same numbers (one model, two routes)
    fixed = predict(pd.DataFrame(rows).assign(batch=1), batching="load")["predicted"][0]
    assert fixed <= X * (1 + 1e-12)  # batching never lowers throughput


def test_load_batch_cpu_per_io_falls_with_load():
    p = _backend_path()
    rows = [{"path": p, "jobs": n, "iodepth": 1, "metric": "cpu_us_per_io", "value": 1.0}
            for n in (1, 2, 4, 8, 16, 32)]
    cpu = predict(pd.DataFrame(rows), batching="load")["predicted"].to_numpy()
    assert np.all(np.diff(cpu) <= 1e-12) and cpu[-1] < cpu[0]
    # and tends to the per-request work (1 µs) as the batch grows
    assert cpu[-1] == pytest.approx(1.0 + 2.5 / 32, rel=0.02)


def test_load_batch_fit_recovers_costs():
    df = design(metrics=("iops", "latency_us"))
    truth = iov.HostProfile.default().replace(**TRUE)
    df["value"] = predict(df, truth, batching="load")["predicted"].to_numpy()
    f = fit(df, free=FREE, **PLAIN, batching="load")
    for k, v in TRUE.items():
        assert f.profile[k] == pytest.approx(v, rel=1e-4), k
    with pytest.raises(iov.ParameterError, match="one or the other"):
        fit(df, free=[*FREE, "batch"], **PLAIN, batching="load")
    with pytest.raises(iov.ParameterError, match="batching"):
        fit(df, batching="auto")


def test_percentile_approximation_tracks_the_simulator():
    # cross-check of the gamma approximation against the Monte Carlo simulator (seeded) on
    # the QEMU paths, from one request in flight to saturation of the BQL / vhost worker;
    # near saturation of an open load the approximation is coarser (see the module docs)
    rows = []
    for name, opts in [("virtio-blk", ""), ("vhost-scsi", "workers=1")]:
        for load in ({"jobs": 1}, {"jobs": 4}, {"jobs": 16}, {"jobs": 64},
                     {"rate_per_s": 20_000}, {"rate_per_s": 60_000}):
            for m in ("latency_p50_us", "latency_p99_us"):
                rows.append({"path": name, "options": opts, "iodepth": 1 if "jobs" in load
                             else None, **load, "metric": m, "value": 1.0})
    df = pd.DataFrame(rows)
    approx = predict(df)["predicted"].to_numpy()
    sim = predict(df, percentiles="sim",
                  sim_options={"requests": 40_000, "replications": 4})["predicted"].to_numpy()
    ratio = approx / sim
    print("approx / simulated percentile:", np.round(ratio, 3))
    assert np.all(np.abs(np.log(ratio)) < 0.12)


def test_fit_through_the_simulator_recovers_costs():
    # p99 rows predicted by the simulator (common random numbers): the fit moves the costs
    # to the values that made the data (within the simulator's own smoothness)
    df = pd.DataFrame([{"path": "virtio-blk", "jobs": j, "iodepth": 1, "metric": m, "value": 1.0}
                       for j in (1, 8) for m in ("iops", "latency_p99_us")])
    truth = iov.HostProfile.default().replace(device_blk_us=70.0, wakeup_us=4.0)
    df["value"] = predict(df, truth, percentiles="sim")["predicted"].to_numpy()
    f = fit(df, free=["device_blk_us", "wakeup_us"], percentiles="sim")
    assert f.profile["device_blk_us"] == pytest.approx(70.0, rel=0.02)
    assert f.profile["wakeup_us"] == pytest.approx(4.0, rel=0.05)


@pytest.mark.parametrize(("kwargs", "match"), [
    ({"batching": "auto"}, "batching"),
    ({"percentiles": "exact"}, "percentiles"),
    ({"host": "default"}, "host must be a HostProfile"),  # a mapping of costs is a host
])
def test_predict_checks_its_arguments_as_fit_does(kwargs, match):
    df = _one()
    for call in (predict, fit):
        with pytest.raises(iov.ParameterError, match=match):
            call(df, **kwargs)


def test_grouping_by_an_unknown_column_names_it():
    from iovmodel.fit import dataset_report, fit_groups

    with pytest.raises(iov.ParameterError, match="'no_such_column'"):
        fit_groups(design(), by="no_such_column")
    with pytest.raises(iov.ParameterError, match="'no_such_column'"):
        dataset_report(["firecracker_ci_block"], by="no_such_column")


# ------------------------------------------------------------ priors and warnings
def test_one_outlying_row_cannot_drag_a_shared_cost_to_its_bound():
    # the case: one 100x-off row on a path decided a shared cost under least squares
    df = synthetic(0.02, 3)
    bad = df.index[(df["path"] == "vhost-scsi") & (df["metric"] == "latency_us")][0]
    df.loc[bad, "value"] *= 100.0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        plain = fit(df, free=FREE, **PLAIN)
        robust = fit(df, free=FREE)
    far = {k: abs(math.log(plain.profile[k] / v)) for k, v in TRUE.items()}
    near = {k: abs(math.log(robust.profile[k] / v)) for k, v in TRUE.items()}
    assert max(far.values()) > math.log(1.2)  # least squares is moved by one row of 42
    assert max(near.values()) < max(far.values()) / 3, near  # the robust MAP fit is not
    assert not robust.params["at_bound"].any()


def test_prior_is_log_normal_around_the_default_with_the_typical_range_inside_95pct():
    from iovmodel.calibrate.fit import prior_of
    from iovmodel.spec.profile import parameters

    p = parameters()["vmexit_us"]  # default 0.35, typical 0.3-1.5 (costs.toml)
    med, sigma = prior_of("vmexit_us")
    assert med == p.value
    assert sigma == pytest.approx(math.log(1.5 / 0.35) / 1.959963984540054)
    assert med * math.exp(-1.96 * sigma) <= 0.3 and med * math.exp(1.96 * sigma) >= 1.5 - 1e-9
    med2, sigma2 = prior_of("vmexit_us", (2.0, 8.0))  # the default outside: geometric centre
    assert med2 == pytest.approx(4.0) and sigma2 == pytest.approx(math.log(2) / 1.959963984540054)


@pytest.mark.parametrize("prior, msg", [
    ({"vmexit_us": (0.001, 1.0)}, "outside the cost's bounds"),
    ({"vmexit_us": (2.0, 1.0)}, "0 < lo < hi"),
    ({"nope_us": (1.0, 2.0)}, "unknown cost"),
    ("flat", "prior must be"),
])
def test_bad_priors_raise(prior, msg):
    with pytest.raises(iov.ParameterError, match=msg):
        fit(synthetic(0.0, 0), free=FREE, prior=prior)


def test_implausible_and_at_bound_costs_warn():
    from iovmodel.errors import CostAtBoundWarning, FitWarning, ImplausibleProfileWarning

    # device time 100x beyond its typical range, the prior too weak to hold 42 rows
    df = synthetic(0.0, 0)
    df["value"] = np.where(df["metric"] == "latency_us", df["value"] * 300, df["value"] / 300)
    with pytest.warns(ImplausibleProfileWarning, match="IMPLAUSIBLE PROFILE") as rec:
        f = fit(df, free=FREE)
    assert all(issubclass(w.category, FitWarning) for w in rec
               if issubclass(w.category, (ImplausibleProfileWarning, CostAtBoundWarning)))
    assert any("IMPLAUSIBLE" in n for n in f.notes)
    with pytest.warns(CostAtBoundWarning, match="device_blk_us"):
        fit(df.assign(value=np.where(df["metric"] == "latency_us", df["value"] * 1e4,
                                     df["value"] / 1e4)), free=["device_blk_us"])


def test_a_cost_outside_its_typical_range_warns_even_within_the_factor():
    # issue 15's done-when: no fitted cost outside its published typical range without a
    # warning. Exact data from a device 1.5x slower than the top of device_blk_us's typical
    # range (read from costs.toml, not typed here), fitted without a prior
    from iovmodel.errors import ImplausibleProfileWarning, OutsideTypicalWarning

    lo, hi = iov.parameters()["device_blk_us"].typical
    rows = design()
    rows["value"] = predict(rows, iov.HostProfile.default().replace(
        device_blk_us=1.5 * hi))["predicted"].to_numpy()
    with warnings.catch_warnings(record=True) as rec:
        warnings.simplefilter("always")
        f = fit(rows, free=["device_blk_us"], **PLAIN)
    got = f.profile["device_blk_us"]
    assert got == pytest.approx(1.5 * hi, rel=1e-4)
    kinds = [w.category for w in rec]
    assert OutsideTypicalWarning in kinds and ImplausibleProfileWarning not in kinds
    msg = next(str(w.message) for w in rec if w.category is OutsideTypicalWarning)
    assert "device_blk_us" in msg and f"{got / hi:.3g}x above" in msg
    assert any("typical range" in n for n in f.notes)
    # the same fit inside the range: no such warning
    with warnings.catch_warnings(record=True) as rec:
        warnings.simplefilter("always")
        fit(synthetic(0.0, 0), free=FREE, **PLAIN)
    assert OutsideTypicalWarning not in [w.category for w in rec]


def test_report_prints_and_summary_returns_the_text(capsys):
    f = fit(synthetic(0.02, 1), free=FREE)
    assert f.report() is None
    out = capsys.readouterr().out
    assert out.strip() == f.summary() and "MAP with priors" in out
    assert "prior_lo" in f._repr_html_()


def test_laplace_interval_covers_the_truth_on_noisy_data():
    f = fit(synthetic(0.03, 7), free=FREE)
    for k, v in TRUE.items():
        assert f.params.loc[k, "ci_lo"] <= v <= f.params.loc[k, "ci_hi"], k
        assert f.params.loc[k, "identifiable"], k


# ------------------------------------------------------ leave-one-group-out, directions
def test_crossval_leaves_each_source_out():
    df = synthetic(0.02, 4)
    df["source"] = np.where(df["path"] == "virtio-blk", "A", "B")  # two "sources"
    df.loc[df["options"] == "workers=4", "source"] = "C"
    cv = crossval(df, by="source", free=FREE, **PLAIN)
    assert list(cv.index) == list(df.index) and set(cv["held_out"]) == {"A", "B", "C"}
    assert set(cv.attrs["per_group"]) == {"A", "B", "C"}
    # each group's rows are predicted by a fit that never saw them: refit by hand and compare
    alone = crossval(df, train=(df["source"] != "B").to_numpy(), free=FREE, **PLAIN)
    assert np.allclose(cv.loc[alone.index, "predicted"], alone["predicted"])
    assert 0.0 <= cv.attrs["directions"] <= 1.0
    with pytest.raises(iov.ParameterError, match="exactly one"):
        crossval(df, free=FREE)
    with pytest.raises(iov.ParameterError, match="one value"):
        crossval(df.assign(source="A"), by="source")
    with pytest.raises(iov.ParameterError, match="lacks"):
        crossval(df, by="nope")


def test_pair_directions_compare_rows_that_differ_in_one_condition():
    from iovmodel.fit import pair_directions

    rows = pd.DataFrame({
        "hardware": ["h1", "h1", "h1", "h1", "h2"],
        "metric": ["iops"] * 5, "path": ["virtio-blk"] * 5,
        "jobs": [1, 2, 1, 2, 1], "iodepth": [1, 1, 4, 4, 1],
        "measured": [100.0, 200.0, 105.0, 150.0, 50.0],
        "predicted": [100.0, 180.0, 90.0, 130.0, 60.0]})
    p = pair_directions(rows)
    # h1: (0,1) jobs, (0,2) iodepth, (1,3) iodepth, (2,3) jobs; (0,3) and (1,2) differ in two;
    # h2 is alone
    assert sorted(zip(p["first"], p["second"], strict=True)) == [(0, 1), (0, 2), (1, 3), (2, 3)]
    q = p.set_index(["first", "second"])
    assert q.loc[(0, 1), "measured_ratio"] == 2.0 and q.loc[(0, 1), "right"]
    assert not q.loc[(0, 2), "right"] and not q.loc[(0, 2), "decisive"]  # +5 %: within noise
    assert q.loc[(1, 3), "condition"] == "iodepth" and q.loc[(1, 3), "right"]
    assert q.loc[(2, 3), "predicted_ratio"] == pytest.approx(130 / 90)


def test_a_predicted_tie_is_no_direction():
    # measured +50 % between the jobs; a prediction that moves by a few parts per million
    # (or by under 1 %) says the condition does not matter: it points nowhere, so it is
    # not right whichever side of 1 its rounding falls on; 2 % is a (weak) direction
    from iovmodel.fit import pair_directions

    def one(pred_second: float, **kw) -> bool:
        rows = pd.DataFrame({"hardware": ["h"] * 2, "metric": ["iops"] * 2,
                             "jobs": [1, 2], "measured": [100.0, 150.0],
                             "predicted": [100.0, pred_second]})
        return bool(pair_directions(rows, **kw)["right"].iloc[0])

    assert not one(100.0 * (1 + 3e-6))
    assert not one(100.9)
    assert one(102.0)
    assert not one(99.0 * 0.98)  # the wrong way
    assert one(100.9, tie=0.0)  # tie=0: any change is a direction
    # the tie column says which pairs the prediction calls ties
    rows = pd.DataFrame({"hardware": ["h"] * 3, "metric": ["iops"] * 3, "jobs": [1, 2, 4],
                         "measured": [100.0, 150.0, 200.0],
                         "predicted": [100.0, 100.5, 130.0]})
    p = pair_directions(rows).set_index(["first", "second"])
    assert p.loc[(0, 1), "tie"] and not p.loc[(0, 2), "tie"] and not p.loc[(1, 2), "tie"]
    one_row = pd.DataFrame({"metric": ["iops"], "measured": [1.0], "predicted": [1.0]})
    for bad in (-0.1, float("nan"), "1 %", None):
        with pytest.raises(iov.ParameterError, match="tie"):
            pair_directions(one_row, tie=bad)
    with pytest.raises(iov.ParameterError, match="min_change"):
        pair_directions(one_row, min_change=float("inf"))


def test_direction_ceiling_counts_each_class_of_pairs_at_its_majority():
    # Five hosts measure jobs 1 -> 2 (all else equal): up on h1 and h3, down on h2, +4 % on
    # h4 (not decisive); h5 lists its jobs-2 row first, the same class counted from jobs 1 to
    # 2 (up). A prediction blind to the host gives the four decisive pairs one direction, so
    # at most 3 of 4 are right, whatever it predicts. The iodepth pair on h1 is a class of
    # its own (1 of 1).
    from iovmodel.fit import direction_ceiling, pair_directions

    rows = pd.DataFrame({
        "hardware": ["h1", "h1", "h2", "h2", "h3", "h3", "h4", "h4", "h5", "h5", "h1"],
        "metric": ["iops"] * 11,
        "jobs": [1, 2, 1, 2, 1, 2, 1, 2, 2, 1, 1],
        "iodepth": [1] * 10 + [8],
        "measured": [100.0, 150.0, 100.0, 50.0, 100.0, 200.0, 100.0, 104.0, 300.0, 100.0,
                     400.0],
        "predicted": [1.0] * 11})
    c = direction_ceiling(rows)
    jobs = c[c["condition"] == "jobs"].iloc[0]
    assert (jobs["values"], jobs["pairs"], jobs["up"], jobs["best"]) == ("1 -> 2", 4, 3, 3)
    depth = c[c["condition"] == "iodepth"].iloc[0]
    assert (depth["pairs"], depth["best"]) == (1, 1)
    assert c.attrs["ceiling"] == pytest.approx(4 / 5)
    # the same given the pairs, and NaN without a decisive pair
    assert direction_ceiling(rows, pair_directions(rows)).attrs["ceiling"] == pytest.approx(0.8)
    assert math.isnan(direction_ceiling(rows.iloc[6:8]).attrs["ceiling"])


# ------------------------------------------------------------------ hierarchical fits
def _two_hosts(noise: float = 0.0):
    """The design on two hosts: shared virtualization costs, each host its own device."""
    a = synthetic(noise, 0).assign(hardware="ssd")
    b = design().assign(hardware="nvme")
    truth_b = iov.HostProfile.default().replace(**{**TRUE, "device_blk_us": 20.0})
    b["value"] = predict(b, truth_b)["predicted"].to_numpy()
    return pd.concat([a, b], ignore_index=True)


def test_hierarchical_fit_shares_virtualization_costs_and_separates_devices():
    df = _two_hosts()
    f = fit(df, free=FREE, by="hardware", **PLAIN)
    assert f.per_group["ssd"]["device_blk_us"] == pytest.approx(60.0, rel=1e-4)
    assert f.per_group["nvme"]["device_blk_us"] == pytest.approx(20.0, rel=1e-4)
    for k in ("virtqueue_us", "vhost_us"):
        assert f.profile[k] == pytest.approx(TRUE[k], rel=1e-4)
    assert {"device_blk_us[ssd]", "device_blk_us[nvme]", "vhost_us"} <= set(f.params.index)
    assert f.profile_of("nvme")["device_blk_us"] == pytest.approx(20.0, rel=1e-4)
    assert np.allclose(f.predict()["predicted"], f.residuals["predicted"])
    # one shared device cost cannot fit both hosts
    single = fit(df, free=FREE, **PLAIN)
    assert single.mape > 10 * max(f.mape, 1e-3)
    with_priors = fit(df, free=FREE, by="hardware")
    assert with_priors.per_group["nvme"]["device_blk_us"] == pytest.approx(20.0, rel=0.05)


def test_hierarchical_fit_refuses_a_group_with_one_row():
    df = _two_hosts()
    df.loc[0, "hardware"] = "lonely"
    with pytest.raises(FitError, match="'lonely' \\(row 0\\)"):
        fit(df, free=FREE, by="hardware")
    with pytest.raises(iov.ParameterError, match="lack"):
        fit(df, free=FREE, by="nope")


def _grouped_and_dense(df: pd.DataFrame, free: list[str], by: str | None = None):
    """The fit's grouped finite-difference Jacobian of ``df``'s rows, the dense one (every
    column differenced alone), the rows and the column groups."""
    from iovmodel.calibrate.fit import (
        _colouring,
        _make_problem,
        _objective,
        _sparse_jacobian,
        _theta0,
    )
    from iovmodel.calibrate.predict import _Model
    from iovmodel.calibrate.rows import _parse

    rows, _ = _parse(df, by=by)
    model = _Model(rows)
    prob = _make_problem(free, iov.HostProfile.default(), "soft_l1", 0.1, None, False,
                         "typical")
    y = np.array([r.value for r in rows])
    w = np.ones(len(rows))
    t = _theta0(prob)
    f0 = _objective(model, prob, t, y, w)
    colour, S = _colouring(model, prob)
    # the rows a column group moves (the fit evaluates only those; dense: every row)
    fn = lambda u, m: _objective(model, prob, u, y, w, m[:len(y)])  # noqa: E731
    grouped = _sparse_jacobian(fn, t, f0, S, colour, 1e-6, prob.lo, prob.hi)
    dense = _sparse_jacobian(fn, t, f0, np.ones_like(S), [[j] for j in range(len(free))],
                             1e-6, prob.lo, prob.hi)
    return grouped, dense, model, colour


def test_grouped_jacobian_equals_the_dense_one():
    # the column groups rest on which costs each row's path uses: differencing every column
    # alone must give the same matrix (a missed dependency would show here)
    df = pd.concat([_two_hosts(), iov.datasets.load("xen_blk_multiqueue").pipe(
        lambda d: d[predictable(d)["predictable"].to_numpy()]).assign(hardware="xen")],
        ignore_index=True)
    free = ["vhost_us", "wakeup_us", "xen_grant_page_us", "device_blk_us[ssd]",
            "device_blk_us[nvme]", "device_blk_us[xen]", "virtqueue_us"]
    grouped, dense, _, colour = _grouped_and_dense(df, free, by="hardware")
    assert len(colour) < len(free)  # the per-host device costs share one evaluation
    assert np.allclose(grouped, dense, rtol=1e-6, atol=1e-9)


def test_rows_of_one_path_with_different_traffic_keep_their_own_dependencies():
    # rows that share a path and its options share a network group whatever their traffic,
    # but an exchange with a VM on another host reads the link (wire_us) where one between
    # two VMs on one host does not: the grouped Jacobian must still see that column (it
    # once took every row's costs from the group's first row, and the fit kept wire_us at
    # its start as having "no influence")
    df = iov.datasets.load("io_comparisons")
    df = df[(df["source"] == "P08") & (df["path"] == "cloudhv-virtio-net")
            & (df["metric"] == "latency_us")
            & df["options"].str.contains("iface=bridge")].reset_index(drop=True)
    across = df["options"].str.contains("across hosts").to_numpy()
    assert across.any() and df["options"].str.contains("same host").any()
    free = ["wire_us", "wakeup_us", "guest_net_us", "host_net_us"]
    grouped, dense, model, _ = _grouped_and_dense(df, free)
    assert len(model.groups) == 1  # one path, one set of options: one group
    assert np.allclose(grouped, dense, rtol=1e-6, atol=1e-9)
    n = len(df)
    assert (np.abs(grouped[:n, 0][across]) > 1e-3).all()
    assert (grouped[:n, 0][~across] == 0).all()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert "wire_us" in iov.fit(df).free


def test_pair_directions_with_missing_cells_still_pairs_the_rows():
    # a missing label or condition (NaN) is one value, not a difference: under pandas 3,
    # astype(str) kept NaN, so every pair "differed" in it and no pair was ever found
    from iovmodel.fit import pair_directions

    rows = pd.DataFrame({
        "hardware": ["h1", "h1", "h1"], "metric": ["iops"] * 3, "label": [None, None, None],
        "path": ["virtio-blk"] * 3, "options": ["polling=0", "polling=1", "polling=1"],
        "rate_per_s": [np.nan, np.nan, 1000.0],
        "measured": [100.0, 150.0, 90.0], "predicted": [100.0, 140.0, 95.0]})
    p = pair_directions(rows)
    assert sorted(zip(p["first"], p["second"], p["condition"], strict=True)) == [
        (0, 1, "options"), (1, 2, "rate_per_s")]


def test_pair_directions_without_pairs_is_an_empty_typed_frame():
    from iovmodel.fit import pair_directions

    p = pair_directions(pd.DataFrame({"metric": ["iops", "latency_us"], "path": ["a", "b"],
                                      "measured": [1.0, 2.0], "predicted": [1.0, 2.0]}))
    assert len(p) == 0 and p["decisive"].dtype == bool
    assert len(p[p["decisive"]]) == 0 and "right" in p[p["decisive"]].columns


def test_hierarchical_fit_gives_each_group_the_hardware_costs_by_default():
    # no per_group: the free costs of kind "hardware" (costs.toml: device, OS stacks,
    # copies, system calls) are each group's own, the virtualization costs are shared
    df = _two_hosts()
    f = fit(df, free=[*FREE, "guest_blk_us"], by="hardware", **PLAIN)
    own = {k for k in f.params.index if "[" in k}
    assert own == {f"{k}[{g}]" for k in ("device_blk_us", "guest_blk_us")
                   for g in ("ssd", "nvme")}
    assert {"virtqueue_us", "vhost_us"} <= set(f.params.index)
    assert f.per_group["nvme"]["device_blk_us"] == pytest.approx(20.0, rel=1e-3)


def test_the_report_keeps_its_columns_with_per_group_names():
    # a per-group cost's name carries its group ("device_blk_us[nvme]"), longer than the
    # column the shared costs need: every value still starts under the "value" heading
    f = fit(_two_hosts().replace({"hardware": {"nvme": "a much longer machine name"}}),
            free=FREE, by="hardware", **PLAIN)
    lines = f.summary().splitlines()
    head = next(i for i, line in enumerate(lines) if line.strip().startswith("cost "))
    end = lines[head].index("value") + len("value")
    rows = lines[head + 1:head + 1 + len(f.params)]
    assert any("[a much longer machine name]" in r for r in rows)
    for r, name in zip(rows, f.params.index, strict=True):
        assert r.strip().startswith(name)
        assert r[end - 1] != " " and r[end] == " ", r
