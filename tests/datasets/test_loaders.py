"""Loaders on recorded real outputs (tests/datasets/recorded/, see its README).

Reference relations come from the tools' own definitions, not from this code:
fio computes ``bw = io_bytes / runtime`` and ``iops = total_ios / runtime`` (fio
HOWTO, "Interpreting the output"), so ``iops * bs == bw`` for fixed-size I/O;
fio's percentiles are the first histogram bin whose cumulative count reaches
p % of the samples (fio stat.c, calc_clat_percentiles), which json+ exposes as
``bins``; Little's law (Kleinrock, Queueing Systems Vol. 1, sec. 2.1) bounds a
closed loop of N outstanding I/Os: ``X * R <= N``; iperf3 reports
``bits_per_second = 8 * bytes / seconds``; ``perf kvm stat`` rows sum to its
"Total Samples" and Time% is each row's share of the total handled time.
"""

from __future__ import annotations

import copy
import hashlib
import json
import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from iovmodel import datasets as ds
from iovmodel.datasets.readers import fio as fio_reader
from iovmodel.errors import DatasetError

REC = Path(__file__).resolve().parent / "recorded"
FIO_FILES = ["fio_psync_randread.json", "fio_libaio_randrw_jsonplus.json",
             "fio_group_reporting.json", "fio_two_jobs_jsonplus.json"]
IPERF_FILES = ["iperf3_tcp_client.json", "iperf3_tcp_server.json", "iperf3_udp_client.json",
               "iperf3_tcp_bidir_client.json"]
PERF_FILES = ["perf_kvm_stat_arm64_lkml2020.txt", "perf_kvm_stat_x86_old_format.txt",
              "perf_kvm_stat_x86_qemu.txt", "perf_kvm_stat_here.txt"]


def one(df: pd.DataFrame, metric: str, **where) -> float:
    sel = df[df["metric"] == metric]
    for k, v in where.items():
        sel = sel[sel[k] == v]
    assert len(sel) == 1, (metric, where, len(sel))
    return float(sel["value"].iloc[0])


def _digest(path: Path) -> tuple[str, int]:
    return hashlib.sha256(path.read_bytes()).hexdigest(), path.stat().st_mtime_ns


# ------------------------------------------------------------------------ fio
def check_fio_frame(df: pd.DataFrame, raw: dict) -> None:
    """Relations every fio report satisfies, checked on the parsed frame."""
    assert tuple(df.columns) == ds.SCHEMA_COLUMNS
    assert (df["extraction"] == "tool_output").all()
    sides = df[df["metric"] == "iops"]["label"].tolist()
    assert sides, "no direction parsed"
    for label in sides:
        side = df[df["label"] == label]
        iops = one(side, "iops")
        size = int(side["size_bytes"].iloc[0])
        bw_bytes = one(side, "throughput_gbps") * 1e9 / 8
        ios, io_bytes = one(side, "ios"), one(side, "io_bytes")
        # fixed-size I/O: bytes = ios * bs, and therefore bw = iops * bs
        assert io_bytes == ios * size
        assert bw_bytes == pytest.approx(iops * size, rel=2e-3)
        # the window: iops = ios / runtime; for job entries combined here, the sum of the
        # jobs' rates is at least all I/Os over the longest job's runtime
        pooled = ios / one(side, "duration_s")
        if side["note"].str.contains("combined").any():
            assert iops >= pooled * (1 - 1e-9)
        else:
            assert iops == pytest.approx(pooled, rel=2e-2)
        lat = {m: one(side, m) for m in ("latency_min_us", "latency_us", "latency_max_us",
                                         "clat_us", "latency_p50_us", "latency_p90_us",
                                         "latency_p99_us", "latency_p999_us")}
        assert lat["latency_min_us"] <= lat["latency_us"] <= lat["latency_max_us"]
        assert lat["clat_us"] <= lat["latency_us"]  # lat = slat + clat
        assert lat["latency_p50_us"] <= lat["latency_p90_us"] <= lat["latency_p99_us"] \
            <= lat["latency_p999_us"]
        # Little's law: at most jobs * iodepth I/Os are in flight
        jobs, depth = int(side["jobs"].iloc[0]), int(side["iodepth"].iloc[0])
        assert iops * lat["latency_us"] * 1e-6 <= jobs * depth * 1.02
    # every job entry of the raw report appears
    assert len({lbl.split()[0] for lbl in df["label"]}) == len({j["jobname"] for j in raw["jobs"]})


@pytest.mark.parametrize("name", FIO_FILES)
def test_fio_recorded(name):
    raw = json.loads((REC / name).read_text())
    df = ds.read_fio_json(REC / name, path="native-blk", hardware="dev box", options={"x": 1})
    check_fio_frame(df, raw)
    assert set(df["path"]) == {"native-blk"} and set(df["hardware"]) == {"dev box"}
    assert set(df["options"]) == {"x=1"}
    assert set(df["source"]) == {name}


def test_fio_workload_columns():
    df = ds.read_fio_json(REC / "fio_psync_randread.json")
    assert set(df["rw"]) == {"randread"} and set(df["iodepth"]) == {1}
    assert set(df["size_bytes"].dropna()) == {4096}
    # --io_size=4M: exactly 4 MiB were read
    assert one(df, "io_bytes") == 4 * 2**20
    assert one(df, "ios") == 1024


def test_fio_mixed_sides_add_up_to_io_size():
    df = ds.read_fio_json(REC / "fio_libaio_randrw_jsonplus.json")
    total = one(df, "io_bytes", label="randrw read") + one(df, "io_bytes", label="randrw write")
    assert total == 4 * 2**20  # --io_size=4M split between reads and writes
    assert set(df["rw"]) == {"randrw"} and set(df["iodepth"]) == {4}


def test_fio_group_reporting_counts_all_jobs():
    df = ds.read_fio_json(REC / "fio_group_reporting.json")
    # --numjobs=2 --group_reporting: one entry standing for both jobs, each --io_size=4M
    assert set(df["jobs"]) == {2}
    assert one(df, "io_bytes") == 2 * 4 * 2**20
    assert one(df, "ios") == 2 * 4 * 2**20 / 8192


def test_fio_combines_job_entries():
    """numjobs=2 without group_reporting: two entries, merged into one block of rows."""
    name = REC / "fio_two_jobs_jsonplus.json"
    raw = json.loads(name.read_text())
    assert len(raw["jobs"]) == 2
    both = ds.read_fio_json(name)
    each = ds.read_fio_json(name, combine_jobs=False)
    assert set(both["jobs"]) == {2} and set(each["jobs"]) == {1}
    per = {m: each[each.metric == m]["value"].to_numpy() for m in set(each.metric)}
    assert one(both, "iops") == pytest.approx(per["iops"].sum(), rel=1e-12)
    assert one(both, "ios") == per["ios"].sum() == 2 * 2 * 2**20 / 4096  # --io_size=2M per job
    assert one(both, "io_bytes") == 2 * 2 * 2**20
    # mean latency of all I/Os = I/O-weighted mean of the jobs' means
    assert one(both, "latency_us") == pytest.approx(
        (per["ios"] * per["latency_us"]).sum() / per["ios"].sum(), rel=1e-12)
    assert one(both, "latency_min_us") == per["latency_min_us"].min()
    assert one(both, "latency_max_us") == per["latency_max_us"].max()
    # pooled variance >= the smallest job's variance; pooled median between the jobs' medians
    assert one(both, "latency_stdev_us") >= per["latency_stdev_us"].min()
    assert per["latency_p50_us"].min() <= one(both, "latency_p50_us") <= per["latency_p50_us"].max()
    assert one(both, "cpu_util_sys_pct") == pytest.approx(per["cpu_util_sys_pct"].sum())
    # merged histogram holds every I/O
    merged = fio_reader._merge_fio_jobs(raw["jobs"])
    assert sum(merged["read"]["clat_ns"]["bins"].values()) == one(both, "ios")
    # plain json has no bins: combined percentiles cannot be computed, so none are reported
    plain = copy.deepcopy(raw)
    for job in plain["jobs"]:
        for kind in ("clat_ns", "lat_ns", "slat_ns"):
            job["read"][kind].pop("bins", None)
    assert not ds.read_fio_json(plain)["metric"].str.startswith("latency_p").any()


def test_fio_jsonplus_bins_reproduce_fios_percentiles():
    """Percentiles recomputed from json+ bins equal those fio printed (same rule)."""
    raw = json.loads((REC / "fio_libaio_randrw_jsonplus.json").read_text())
    pcts = (1.0, 5.0, 10.0, 20.0, 50.0, 90.0, 95.0, 99.0, 99.5, 99.9, 99.95, 99.99)
    for side in ("read", "write"):
        clat = raw["jobs"][0][side]["clat_ns"]
        assert sum(clat["bins"].values()) == clat["N"] == raw["jobs"][0][side]["total_ios"]
        ours = fio_reader._percentile_from_bins(clat["bins"], pcts)
        fios = {float(k): float(v) for k, v in clat["percentile"].items()}
        for p in pcts:
            assert ours[p] == fios[p], (side, p)
    df = ds.read_fio_json(raw)
    assert one(df, "latency_p99_us", label="randrw read") == \
        float(raw["jobs"][0]["read"]["clat_ns"]["percentile"]["99.000000"]) / 1e3


def test_fio_without_bins_uses_printed_percentiles():
    raw = json.loads((REC / "fio_libaio_randrw_jsonplus.json").read_text())
    stripped = copy.deepcopy(raw)
    for side in ("read", "write"):
        del stripped["jobs"][0][side]["clat_ns"]["bins"]
    a, b = ds.read_fio_json(raw), ds.read_fio_json(stripped)
    pa = a[a.metric.str.startswith("latency_p")].set_index(["label", "metric"])["value"]
    pb = b[b.metric.str.startswith("latency_p")].set_index(["label", "metric"])["value"]
    pd.testing.assert_series_equal(pa, pb)


def test_fio_accepts_text_with_leading_notes_and_str():
    text = (REC / "fio_psync_randread.json").read_text()
    noisy = "note: both iodepth >= 1 and synchronous I/O engine are selected\n" + text
    a = ds.read_fio_json(text)
    b = ds.read_fio_json(noisy)
    pd.testing.assert_frame_equal(a.drop(columns="source"), b.drop(columns="source"))
    assert set(a["source"]) == {"fio"}


def test_fio_old_microsecond_format():
    """fio 2.x wrote clat/lat in µs under 'clat'/'lat' (no *_ns keys) and no bw_bytes."""
    raw = json.loads((REC / "fio_psync_randread.json").read_text())
    old = copy.deepcopy(raw)
    rd = old["jobs"][0]["read"]
    for kind in ("slat", "clat", "lat"):
        blk = rd.pop(f"{kind}_ns")
        rd[kind] = {k: (v / 1e3 if k in ("min", "max", "mean", "stddev") else v)
                    for k, v in blk.items() if k != "percentile"}
    del rd["bw_bytes"]
    a, b = ds.read_fio_json(raw), ds.read_fio_json(old)
    assert one(b, "latency_us") == pytest.approx(one(a, "latency_us"), rel=1e-12)
    # bw in KiB/s is rounded by fio: within one KiB/s
    assert one(b, "throughput_gbps") == pytest.approx(one(a, "throughput_gbps"), abs=1024 * 8e-9)


def test_fio_size_parser():
    assert fio_reader._fio_size("4k") == 4096
    assert fio_reader._fio_size("4K") == 4096
    assert fio_reader._fio_size("4KiB") == 4096
    assert fio_reader._fio_size("1m") == 2**20
    assert fio_reader._fio_size("512") == 512
    assert fio_reader._fio_size("4k", kb_base=1000) == 4000
    assert fio_reader._fio_size("4KiB", kb_base=1000) == 4096
    assert fio_reader._fio_size("junk") is None
    sizes = fio_reader._fio_block_sizes({"bs": "4k,64k"})
    assert sizes == {"read": 4096, "write": 65536, "trim": 65536}


# --------------------------------------------------------------------- iperf3
@pytest.mark.parametrize("name", IPERF_FILES)
def test_iperf3_recorded(name):
    raw = json.loads((REC / name).read_text())
    df = ds.read_iperf3_json(REC / name, path="native-net", per_stream=True)
    assert tuple(df.columns) == ds.SCHEMA_COLUMNS
    for label in ("sender", "receiver", "reverse sender", "reverse receiver"):
        sel = df[df["label"] == label]
        if sel.empty:
            continue
        gbps, nbytes, secs = (one(sel, m) for m in ("throughput_gbps", "io_bytes", "duration_s"))
        assert gbps * 1e9 == pytest.approx(8 * nbytes / secs, rel=1e-6)
    test = raw["start"]["test_start"]
    assert set(df["jobs"][~df["label"].str.contains("stream")]) == {test["num_streams"]}
    assert set(df["size_bytes"]) == {test["blksize"]}


def test_iperf3_tcp_client_sides_and_streams():
    df = ds.read_iperf3_json(REC / "iperf3_tcp_client.json", per_stream=True)
    assert set(df["rw"]) == {"tx"}  # the client sends (no -R)
    sent, recv = one(df, "io_bytes", label="sender"), one(df, "io_bytes", label="receiver")
    assert 0 < recv <= sent  # TCP delivers at most what was sent
    assert recv / sent > 0.95
    per_stream = df[df["label"].str.match(r"stream \d+ sender")]["value"].sum()
    assert per_stream == pytest.approx(one(df, "throughput_gbps", label="sender"), rel=1e-3)
    assert one(df, "retransmits") >= 0 and one(df, "tcp_rtt_us") > 0
    assert 0 <= one(df, "cpu_util_local_pct") and 0 <= one(df, "cpu_util_remote_pct")


def test_iperf3_server_matches_client():
    cli = ds.read_iperf3_json(REC / "iperf3_tcp_client.json")
    srv = ds.read_iperf3_json(REC / "iperf3_tcp_server.json")
    assert set(srv["rw"]) == {"rx"}
    assert "sender" not in set(srv["label"])  # the server only received
    # the client's receiver sum is the server's report of the same test
    assert one(srv, "io_bytes", label="receiver") == one(cli, "io_bytes", label="receiver")
    # the server's local CPU is the client's remote CPU
    assert one(srv, "cpu_util_local_pct") == pytest.approx(one(cli, "cpu_util_remote_pct"))


def test_iperf3_udp():
    df = ds.read_iperf3_json(REC / "iperf3_udp_client.json")
    assert one(df, "jitter_us") >= 0
    assert 0 <= one(df, "loss_pct") <= 100
    # -b 200M -l 1400: 200e6 / (8 * 1400) datagrams per second offered
    assert df["rate_per_s"].to_numpy() == pytest.approx(np.full(len(df), 200e6 / (8 * 1400)))
    assert set(df["size_bytes"]) == {1400}


def test_iperf3_bidir():
    """--bidir: both directions, each with its own sender/receiver sums."""
    df = ds.read_iperf3_json(REC / "iperf3_tcp_bidir_client.json", per_stream=True)
    assert set(df["rw"]) == {"bidir"}
    fwd, rev = one(df, "throughput_gbps", label="receiver"), \
        one(df, "throughput_gbps", label="reverse receiver")
    assert one(df, "throughput_gbps", label="total") == pytest.approx(fwd + rev, rel=1e-12)
    for way in ("", "reverse "):
        assert 0 < one(df, "io_bytes", label=f"{way}receiver") <= one(df, "io_bytes", label=f"{way}sender")
    rev_streams = df[df["label"].str.match(r"reverse stream \d+ receiver")]["value"].sum()
    assert rev_streams == pytest.approx(rev, rel=1e-3)


def test_iperf3_reverse_and_error():
    raw = json.loads((REC / "iperf3_tcp_client.json").read_text())
    rev = copy.deepcopy(raw)
    rev["start"]["test_start"]["reverse"] = 1
    assert set(ds.read_iperf3_json(rev)["rw"]) == {"rx"}
    with pytest.raises(DatasetError, match="unable to connect"):
        ds.read_iperf3_json({"start": {}, "intervals": [], "end": {},
                             "error": "error - unable to connect to server"})
    with pytest.raises(DatasetError, match="not iperf3"):
        ds.read_iperf3_json({"jobs": []})


# ------------------------------------------------------------- perf kvm stat
@pytest.mark.parametrize("name", PERF_FILES)
def test_perf_kvm_stat_recorded(name):
    df = ds.read_perf_kvm_stat(REC / name, path="virtio-blk")
    assert tuple(df.columns) == ds.SCHEMA_COLUMNS
    rows = df[df["label"] != "total"]
    total = one(df, "exits", label="total")
    exits = rows[rows["metric"] == "exits"]
    assert exits["value"].sum() == total  # the rows add up to "Total Samples"
    if total == 0:
        return
    for share in ("exit_share_pct", "exit_time_share_pct"):
        assert rows[rows.metric == share]["value"].sum() == pytest.approx(100, abs=0.006 * len(exits))
    total_time = one(df, "exit_time_total_us", label="total")
    for reason in exits["label"]:
        r = rows[rows["label"] == reason]
        n, avg = one(r, "exits"), one(r, "exit_time_us")
        # Samples% = n / total; Time% = n * avg / total time; percentages are printed to
        # 0.01 % and avg to 0.01 us, so allow both roundings
        assert one(r, "exit_share_pct") == pytest.approx(100 * n / total, abs=0.006)
        tol = 0.006 + 100 * n * 0.005 / total_time
        assert one(r, "exit_time_share_pct") == pytest.approx(100 * n * avg / total_time, abs=tol)
        if (r["metric"] == "exit_time_min_us").any():
            assert one(r, "exit_time_min_us") <= avg <= one(r, "exit_time_max_us")


def test_perf_kvm_stat_arm64_values():
    """Spot values of the LKML example (Senozhatsky 2020), read by eye from the message."""
    df = ds.read_perf_kvm_stat(REC / "perf_kvm_stat_arm64_lkml2020.txt")
    assert one(df, "exits", label="DABT_LOW") == 661867
    assert one(df, "exit_time_us", label="IRQ") == 1276.27
    assert one(df, "exit_time_max_us", label="WFx") == 3388.63
    assert one(df, "exit_time_sem_pct", label="HVC64") == 58.98
    assert one(df, "exit_time_total_us", label="total") == 10216387.86
    assert sorted(df[df.metric == "exits"]["label"]) == sorted(
        ["DABT_LOW", "IRQ", "WFx", "IABT_LOW", "SYS64", "HVC64", "total"])


def test_perf_kvm_stat_rates():
    df = ds.read_perf_kvm_stat(REC / "perf_kvm_stat_x86_qemu.txt", duration_s=10.0, ios=1000)
    assert one(df, "exits_per_s", label="MSR_WRITE") == 23.2
    assert one(df, "exits_per_io", label="total") == 0.309
    derived = df[df.metric.isin(["exits_per_s", "exits_per_io"])]
    assert (derived["extraction"] == "derived").all()
    with pytest.raises(DatasetError, match="duration_s"):
        ds.read_perf_kvm_stat(REC / "perf_kvm_stat_x86_qemu.txt", duration_s=0)


def test_perf_kvm_stat_errors():
    with pytest.raises(DatasetError, match="no 'perf kvm stat report' table"):
        ds.read_perf_kvm_stat("hello\nworld\n")
    bad = (REC / "perf_kvm_stat_x86_qemu.txt").read_text().replace("    232 ", "  lots ")
    with pytest.raises(DatasetError, match=r"line 5: cannot read the VM-EXIT row"):
        ds.read_perf_kvm_stat(bad)
    with pytest.raises(DatasetError, match="cannot read perf kvm stat file"):
        ds.read_perf_kvm_stat("/nonexistent/report.txt")


# ------------------------------------------------------- inputs stay untouched
@pytest.mark.parametrize("name", FIO_FILES + IPERF_FILES + PERF_FILES)
def test_loaders_never_modify_files(name, tmp_path):
    copy_path = tmp_path / name
    copy_path.write_bytes((REC / name).read_bytes())
    os.utime(copy_path, ns=(1_600_000_000_000_000_000, 1_600_000_000_000_000_000))
    before = _digest(copy_path)
    reader = {"fio": ds.read_fio_json, "ipe": ds.read_iperf3_json, "per": ds.read_perf_kvm_stat}
    with open(copy_path) as fh:  # also through a file object
        reader[name[:3]](fh)
    reader[name[:3]](copy_path)
    reader[name[:3]](str(copy_path))
    assert _digest(copy_path) == before


@pytest.mark.parametrize("name", FIO_FILES + IPERF_FILES[:1])
def test_loaders_never_modify_dicts(name):
    raw = json.loads((REC / name).read_text())
    keep = copy.deepcopy(raw)
    (ds.read_fio_json if name.startswith("fio") else ds.read_iperf3_json)(raw)
    assert raw == keep


def test_loader_errors_name_the_problem():
    with pytest.raises(DatasetError, match="no 'jobs' list"):
        ds.read_fio_json('{"fio version": "fio-3.33"}')
    with pytest.raises(DatasetError, match="invalid JSON"):
        ds.read_fio_json('{"jobs": [')
    with pytest.raises(DatasetError, match="cannot read fio JSON file"):
        ds.read_fio_json("/nonexistent/fio.json")
    with pytest.raises(DatasetError, match="path 'Virtio Blk'"):
        ds.read_fio_json(REC / "fio_psync_randread.json", path="Virtio Blk")
    with pytest.raises(DatasetError, match="option"):
        ds.read_fio_json(REC / "fio_psync_randread.json", options={"Bad Key": 1})
    with pytest.raises(DatasetError, match="percentiles"):
        ds.read_fio_json(REC / "fio_psync_randread.json", percentiles=(42.0,))


def test_loader_output_validates_and_concatenates():
    frames = [ds.read_fio_json(REC / f) for f in FIO_FILES]
    frames += [ds.read_iperf3_json(REC / f) for f in IPERF_FILES]
    frames += [ds.read_perf_kvm_stat(REC / f) for f in PERF_FILES]
    allrows = pd.concat(frames, ignore_index=True)
    checked = ds.validate(allrows)
    assert len(checked) == len(allrows)
    assert np.isfinite(checked["value"]).all()


# ----------------------------------------------- perf kvm stat, generated text
# perf's own printf formats (tools/perf/builtin-kvm.c, print_result): the current one
# with Min/Max columns, and the original one without them.
def _perf_report(events, minmax: bool) -> str:
    total = sum(n for _, n, *_ in events)
    total_time = sum(n * avg for _, n, _, avg, _, _ in events)
    head = f"{'VM-EXIT':>20} {'Samples':>10} {'Samples%':>9} {'Time%':>9} "
    head += f"{'Min Time':>11} {'Max Time':>11} {'Avg time':>16} " if minmax else f"{'Avg time':>16} "
    lines = ["", "", "Analyze events for all VMs, all VCPUs:", "", head, ""]
    for name, n, lo, avg, hi, rsd in events:
        line = f"{name:>20} {n:10d} {100 * n / total:8.2f}% {100 * n * avg / total_time:8.2f}% "
        if minmax:
            line += f"{lo:9.2f}us {hi:9.2f}us "
        line += f"{avg:9.2f}us ( +-{rsd:7.2f}% )"
        lines.append(line)
    lines += ["", f"Total Samples:{total}, Total events handled time:{total_time:.2f}us.", ""]
    return "\n".join(lines)


_reason = st.sampled_from(["EXTERNAL_INTERRUPT", "MSR_WRITE", "HLT", "IO_INSTRUCTION",
                           "EPT_MISCONFIG", "CPUID", "0x3f8:POUT", "npf", "DABT_LOW"])
_event = st.tuples(
    st.integers(1, 10**7),
    st.floats(0.01, 1e7, allow_nan=False),
    st.floats(1.0, 50.0, allow_nan=False),
    st.floats(1.0, 20.0, allow_nan=False),
    st.floats(0.0, 99.0, allow_nan=False),
).map(lambda t: (t[0], t[1] / t[2], t[1], t[1] * t[3], t[4]))


@settings(max_examples=60, deadline=None)
@given(st.dictionaries(_reason, _event, min_size=1, max_size=6), st.booleans())
def test_perf_kvm_stat_parses_perfs_own_format(events, minmax):
    rows = [(name, *vals) for name, vals in events.items()]
    text = _perf_report(rows, minmax)
    df = ds.read_perf_kvm_stat(text)
    assert one(df, "exits", label="total") == sum(r[1] for r in rows)
    for name, n, lo, avg, hi, rsd in rows:
        r = df[df["label"] == name]
        assert one(r, "exits") == n
        assert one(r, "exit_time_us") == float(f"{avg:.2f}")
        assert one(r, "exit_time_sem_pct") == float(f"{rsd:.2f}")
        if minmax:
            assert one(r, "exit_time_min_us") == float(f"{lo:.2f}")
            assert one(r, "exit_time_max_us") == float(f"{hi:.2f}")
        else:
            assert not (r["metric"] == "exit_time_min_us").any()
