"""Fitting your own data: fio / iperf3 JSON files and tidy CSVs straight into iov.fit and
``iovmodel fit``, the metrics picked and every left-out row explained.

The files are real tool outputs recorded in tests/datasets/recorded (README there gives
the commands that produced them).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import iovmodel as iov
from iovmodel.calibrate.sources import pick_metrics, read_measurements
from iovmodel.errors import FitError

REC = Path(__file__).resolve().parents[1] / "datasets" / "recorded"
FIO = sorted(REC.glob("fio_*.json"))


def test_fio_files_fit_directly_and_the_left_out_rows_say_why():
    f = iov.fit(str(REC / "fio_*.json"), path="virtio-blk")
    assert set(f.residuals["source"]) == {p.name for p in FIO}
    assert set(f.residuals["metric"]) <= {"iops", "latency_us", "latency_p50_us",
                                          "latency_p90_us", "latency_p95_us", "latency_p99_us"}
    ign = f.ignored
    assert len(ign) + len(f.residuals) == len(read_measurements(FIO, path="virtio-blk"))
    assert (ign["reason"] != "").all()
    why = dict(zip(ign["metric"], ign["reason"], strict=False))
    assert why["throughput_gbps"] == "redundant with iops of the same run"
    assert why["clat_us"] == "redundant with latency_us of the same run"
    assert why["ios"] == "not a metric the model predicts"
    assert any(n.startswith("ignored ") for n in f.notes)
    # the fitted profile carries where it came from into its TOML file
    src = f.profile.sources[f.free[0]]
    assert "fio_psync_randread.json" in src and "median |error|" in src


def test_profile_provenance_reaches_the_file(tmp_path):
    f = iov.fit(FIO[:2], path="virtio-blk")
    out = f.profile.to_file(tmp_path / "fitted.toml")
    back = iov.HostProfile.from_file(out)
    assert back.sources[f.free[0]] == f.profile.sources[f.free[0]]
    assert FIO[0].name in out.read_text()


def test_iperf3_and_csv_sources_mix(tmp_path):
    net = read_measurements(REC / "iperf3_tcp_client.json", path="virtio-net")
    kept, ign = pick_metrics(net)
    assert set(kept["metric"]) == {"throughput_gbps"}  # iperf3: the one number the model predicts
    csv = tmp_path / "mine.csv"
    iov.datasets.read_fio_json(FIO[0], path="virtio-blk").to_csv(csv, index=False)
    both = read_measurements([csv, REC / "iperf3_tcp_client.json"], path="virtio-net")
    assert set(both["path"]) == {"virtio-blk", "virtio-net"}  # the CSV states its own path


def test_iperf3_rows_are_streams():
    # iperf3 -P 2, 128 KiB writes, the guest sending (rw tx): two bulk TCP streams, predicted
    # as analyze predicts Traffic.stream(131072, "tcp", "tx", streams=2) (at the path's bound),
    # not as request/response exchanges of 128 KiB; the --bidir run is left out with its reason
    net = read_measurements(REC / "iperf3_tcp_client.json", path="virtio-net")
    kept, _ = pick_metrics(net)
    host = iov.HostProfile.default()
    got = iov.fit.predict(kept, host)["predicted"].to_numpy()
    want = iov.analyze("virtio-net", host, iov.Workload.of(
        iov.Traffic.stream(131072, "tcp", "tx", streams=2))).throughput_gbps
    assert got == pytest.approx([want, want], rel=1e-12)
    exchange = iov.analyze("virtio-net", host, iov.Workload.closed(2, 1, size_bytes=131072))
    assert abs(want / (exchange.throughput_per_s * 131072 * 8 / 1e9) - 1) > 0.1
    bidir = read_measurements(REC / "iperf3_tcp_bidir_client.json", path="virtio-net")
    with pytest.raises(FitError, match="two-way stream"):
        pick_metrics(bidir)


def test_metrics_list_keeps_only_those():
    kept, ign = pick_metrics(read_measurements(FIO, path="virtio-blk"), ["iops"])
    assert set(kept["metric"]) == {"iops"}
    assert ign["reason"].str.contains("metric not among").any()


@pytest.mark.parametrize("call, msg", [
    (lambda: iov.fit(str(REC / "nothing_*.json"), path="virtio-blk"), "no file matches"),
    (lambda: iov.fit(REC / "missing.json", path="virtio-blk"), "does not exist"),
    (lambda: iov.fit(FIO[0]), "give path="),
    (lambda: iov.fit(REC / "README.md", path="virtio-blk"), "unknown kind of file"),
    (lambda: iov.fit(FIO[0], path="virtio-blk", metrics=["ios"]), "no row of the"),
])
def test_bad_sources_raise_naming_the_file(call, msg):
    with pytest.raises(FitError, match=msg):
        call()


def test_frame_with_path_argument_is_refused():
    df = read_measurements(FIO[0], path="virtio-blk")
    with pytest.raises(iov.ParameterError, match="path="):
        iov.fit(df, path="virtio-blk")


def test_cli_fits_files(tmp_path, capsys):
    from iovmodel.cli import main

    out = tmp_path / "p.toml"
    assert main(["fit", *map(str, FIO), "--path", "virtio-blk", "--profile-out", str(out)]) == 0
    text = capsys.readouterr().out
    assert "median |error|" in text and "ignored" in text
    assert out.exists() and "fitted by iovmodel.fit" in out.read_text()
    before = out.read_text()
    assert main(["fit", *map(str, FIO), "--path", "virtio-blk", "--profile-out", str(out)]) == 2
    assert out.read_text() == before  # a user's file is never overwritten
    assert main(["fit", str(FIO[0])]) == 2
    assert "give path=" in capsys.readouterr().err


def test_predict_an_unmeasured_iodepth():
    f = iov.fit(FIO, path="virtio-blk")
    qd1, qd32 = (iov.analyze("virtio-blk", f.profile, iov.Workload.closed(jobs=1, iodepth=q))
                 for q in (1, 32))
    assert np.isfinite(qd32.throughput_per_s) and qd32.throughput_per_s >= qd1.throughput_per_s


def test_cli_predicts_unmeasured_iodepths_with_their_bands(capsys):
    # `iovmodel fit FILES --predict-iodepth 32,64`: the fitted path's IOPS and latency there,
    # each with the 95 % band of FitResult.predict(level=0.95), and the same numbers
    from iovmodel.cli import main

    assert main(["fit", *map(str, FIO), "--path", "virtio-blk",
                 "--predict-iodepth", "32,64"]) == 0
    text = capsys.readouterr().out
    f = iov.fit(FIO, path="virtio-blk")
    rows = pd.DataFrame({"path": "virtio-blk", "metric": ["iops", "latency_us"] * 2,
                         "jobs": 1, "iodepth": [32, 32, 64, 64]})
    for _, r in f.predict(rows, level=0.95).iterrows():
        line = next(x for x in text.splitlines() if f"iodepth {r['iodepth']:>4}" in x
                    and r["metric"] in x)
        assert f"{r['predicted']:,.1f}" in line and f"{r['predicted_lo']:,.1f}" in line \
            and f"{r['predicted_hi']:,.1f}" in line


@pytest.mark.parametrize("bad", ["0", "32,x", "1.5", "-4", ",", "inf", "nan"])
def test_cli_refuses_a_bad_predict_iodepth_before_fitting(capsys, bad):
    from iovmodel.cli import main

    assert main(["fit", *map(str, FIO), "--path", "virtio-blk", "--predict-iodepth", bad]) == 2
    captured = capsys.readouterr()
    assert "--predict-iodepth" in captured.err and "median |error|" not in captured.out


def test_cli_refuses_predict_jobs_without_predict_iodepth(capsys):
    from iovmodel.cli import main

    assert main(["fit", *map(str, FIO), "--path", "virtio-blk", "--predict-jobs", "4"]) == 2
    assert "--predict-iodepth" in capsys.readouterr().err


def test_a_row_measured_under_tcg_is_refused_by_name():
    # S31 (Rizzo 2012, bundled network_misc) measured e1000 under KVM and under QEMU's TCG;
    # the catalog's paths are KVM's (exits, ioeventfd, irqfd), so a TCG row cannot be fitted
    # as one: it is left out with the reason, not fitted as if it were KVM
    rows = pd.DataFrame({"path": "emulated-e1000", "metric": "packets_per_s",
                         "value": [20000.0, 9000.0], "unit": "1/s", "rw": "tx",
                         "options": ["accel=kvm;mitigation=0", "accel=tcg;mitigation=0"]})
    why = iov.fit.predictable(rows)
    assert list(why["predictable"]) == [True, False]
    assert "row 1" in why["reason"][1] and "accel=tcg" in why["reason"][1]
    with pytest.raises(FitError, match=r"row 1 .*accel=tcg.*KVM"):
        iov.fit(rows)
    net = iov.datasets.load("network_misc")
    tcg = net["options"].str.contains("accel=tcg")
    assert tcg.sum() == 2 and not iov.fit.predictable(net[tcg])["predictable"].any()


def test_cli_fits_by_group_and_writes_the_profile_of_the_group_named(tmp_path, capsys):
    # `iovmodel fit ... --by source`: the hierarchical fit of iov.fit(by=...); its profile
    # file and its predictions are those of the group --group names
    from iovmodel.cli import main

    name, by = "xen_blk_multiqueue", "source"
    assert main(["fit", name, "--by", by]) == 0
    text = capsys.readouterr().out
    d = iov.datasets.load(name)
    f = iov.fit([d], metrics="auto", by=by)  # as the command line calls it
    groups = sorted(f.per_group)
    assert len(groups) >= 2 and all(f"[{g}]" in text for g in groups)

    out = tmp_path / "p.toml"
    assert main(["fit", name, "--by", by, "--profile-out", str(out)]) == 2
    err = capsys.readouterr().err
    assert "--group" in err and all(g in err for g in groups) and not out.exists()
    assert main(["fit", name, "--by", by, "--group", "nope", "--profile-out", str(out)]) == 2
    assert "'nope'" in capsys.readouterr().err and not out.exists()
    assert main(["fit", name, "--by", by, "--group", "nope"]) == 2  # refused with no output too
    assert "'nope'" in capsys.readouterr().err
    assert main(["fit", name, "--group", groups[1]]) == 2
    assert "--by" in capsys.readouterr().err

    g = groups[1]
    assert main(["fit", name, "--by", by, "--group", g, "--profile-out", str(out),
                 "--predict-iodepth", "32"]) == 0
    text = capsys.readouterr().out
    own = f.profile_of(g)
    written = iov.HostProfile.from_file(out)
    for k in f.per_group[g]:
        assert written[k] == pytest.approx(own[k], rel=1e-6), k
    assert dict(written) != dict(f.profile_of(groups[0]))
    path = f.residuals["path"].iloc[0]
    rows = pd.DataFrame({"path": path, "metric": ["iops", "latency_us"], "jobs": 1,
                         "iodepth": 32, by: g})
    assert f"group '{g}'" in text
    for _, r in f.predict(rows, level=0.95).iterrows():
        line = next(x for x in text.splitlines() if "iodepth   32" in x and r["metric"] in x)
        assert f"{r['predicted']:,.1f}" in line
