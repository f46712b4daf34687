"""Run the real tools for a second or two and parse what they print.

Skipped, with the reason, where fio / iperf3 / perf / /dev/kvm are missing
(.ci/run installs fio and iperf3). The relations checked are those of
test_loaders.py (fio's and iperf3's own definitions, Little's law).
"""

from __future__ import annotations

import json
import os
import shutil

import pytest
from _dstools import iperf3_pair, perf_kvm_stat_report, run_fio
from test_loaders import check_fio_frame, one

from iovmodel import datasets as ds
from iovmodel.datasets.readers import fio as fio_reader

needs_fio = pytest.mark.skipif(shutil.which("fio") is None, reason="fio is not installed")
needs_iperf3 = pytest.mark.skipif(shutil.which("iperf3") is None, reason="iperf3 is not installed")


@needs_fio
def test_fio_time_based_group_reporting(tmp_path):
    """psync random reads, 2 jobs for ~1.5 s, one grouped entry."""
    text = run_fio(["--name=live", "--rw=randread", "--bs=4k", "--ioengine=psync",
                    "--size=16M", "--numjobs=2", "--group_reporting", "--time_based",
                    "--runtime=1500ms", "--output-format=json"], tmp_path / "f.dat")
    raw = json.loads(text[text.index("{"):])
    df = ds.read_fio_json(text, path="native-blk", hardware="ci")
    check_fio_frame(df, raw)
    assert set(df["jobs"]) == {2} and set(df["iodepth"]) == {1}
    assert one(df, "duration_s") == pytest.approx(1.5, abs=0.3)


@needs_fio
def test_fio_jsonplus_exact_bytes(tmp_path):
    """libaio mixed random I/O with a fixed --io_size: the bytes add up exactly."""
    args = ["--name=live", "--rw=randrw", "--bs=4k", "--ioengine=libaio", "--iodepth=8",
            "--size=16M", "--io_size=8M", "--output-format=json+"]
    try:
        text = run_fio([*args, "--direct=1"], tmp_path / "f.dat")
    except RuntimeError:  # a filesystem without O_DIRECT (tmpfs)
        text = run_fio(args, tmp_path / "f.dat")
    raw = json.loads(text[text.index("{"):])
    df = ds.read_fio_json(raw)
    check_fio_frame(df, raw)
    total = sum(one(df, "io_bytes", label=f"live {side}") for side in ("read", "write"))
    assert total == 8 * 2**20
    for side in ("read", "write"):
        clat = raw["jobs"][0][side]["clat_ns"]
        ours = fio_reader._percentile_from_bins(clat["bins"], (50.0, 99.0))
        assert ours[50.0] == float(clat["percentile"]["50.000000"])
        assert ours[99.0] == float(clat["percentile"]["99.000000"])


@needs_iperf3
def test_iperf3_loopback():
    client, server = iperf3_pair(["-P", "2"], seconds=1.5)
    cli = ds.read_iperf3_json(client, path="native-net", per_stream=True)
    srv = ds.read_iperf3_json(server, path="native-net")
    assert set(cli["rw"]) == {"tx"} and set(srv["rw"]) == {"rx"}
    assert set(cli["jobs"][~cli["label"].str.startswith("stream")]) == {2}
    sent, recv = one(cli, "io_bytes", label="sender"), one(cli, "io_bytes", label="receiver")
    assert 0 < recv <= sent
    assert one(srv, "io_bytes", label="receiver") == recv
    gbps = one(cli, "throughput_gbps", label="receiver")
    assert gbps * 1e9 == pytest.approx(8 * recv / one(cli, "duration_s", label="receiver"),
                                       rel=1e-6)
    assert gbps > 0.1  # loopback moves well over 100 Mbit/s


def _kvm_usable() -> str | None:
    if shutil.which("perf") is None:
        return "perf is not installed"
    if not os.access("/dev/kvm", os.R_OK | os.W_OK):
        return "no usable /dev/kvm"
    return None


@pytest.mark.kvm
@pytest.mark.skipif(_kvm_usable() is not None, reason=str(_kvm_usable()))
def test_perf_kvm_stat_on_a_tiny_guest(tmp_path):
    """20000 CPUID exits, 5000 port-I/O exits and one HLT, counted by perf kvm stat."""
    from tinykvm import run

    assert run(200, 50) == {"io": 50, "hlt": 1}  # the guest does what it says
    text = perf_kvm_stat_report(20000, 5000, tmp_path)
    df = ds.read_perf_kvm_stat(text, path="kvm-vmexit")
    total = one(df, "exits", label="total")
    if total == 0:
        pytest.skip("perf kvm stat saw no exits: the kvm:kvm_exit tracepoint fires no events "
                    "on this host (e.g. KVM nested in another hypervisor)")
    exits = {lbl.lower(): v for lbl, v in
             df[(df.metric == "exits") & (df.label != "total")][["label", "value"]].values}
    # Intel names the reasons CPUID / IO_INSTRUCTION, AMD cpuid / io
    assert exits.get("cpuid") == 20000
    assert exits.get("io_instruction", exits.get("io")) == 5000
