"""Re-record the real tool outputs under tests/datasets/recorded/.

Usage: ``python tests/datasets/record.py`` (needs fio and iperf3; perf and a
usable /dev/kvm for the perf kvm stat recording). The commands are listed in
recorded/README.md. The tests parse these files on every run and also run the
tools live when they are installed.
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from _dstools import have, iperf3_pair, perf_kvm_stat_report, run_fio  # noqa: E402

OUT = HERE / "recorded"

FIO_RUNS = {
    "fio_psync_randread.json": ["--name=randread", "--rw=randread", "--bs=4k", "--ioengine=psync",
                                "--direct=1", "--size=8M", "--io_size=4M",
                                "--output-format=json"],
    "fio_libaio_randrw_jsonplus.json": ["--name=randrw", "--rw=randrw", "--bs=4k",
                                        "--ioengine=libaio", "--iodepth=4", "--direct=1",
                                        "--size=8M", "--io_size=4M", "--output-format=json+"],
    "fio_two_jobs_jsonplus.json": ["--name=randread2", "--rw=randread", "--bs=4k",
                                   "--ioengine=libaio", "--iodepth=2", "--direct=1",
                                   "--numjobs=2", "--size=8M", "--io_size=2M",
                                   "--output-format=json+"],
    "fio_group_reporting.json": ["--name=randwrite", "--rw=randwrite", "--bs=8k",
                                 "--ioengine=libaio", "--iodepth=8", "--direct=1", "--numjobs=2",
                                 "--group_reporting", "--size=8M", "--io_size=4M",
                                 "--output-format=json"],
}


def main() -> int:
    OUT.mkdir(exist_ok=True)
    if have("fio"):
        with tempfile.TemporaryDirectory() as tmp:
            for name, args in FIO_RUNS.items():
                (OUT / name).write_text(run_fio(args, os.path.join(tmp, "fio.dat")))
                print("wrote", name)
    if have("iperf3"):
        cli, srv = iperf3_pair(["-P", "2"])
        (OUT / "iperf3_tcp_client.json").write_text(cli)
        (OUT / "iperf3_tcp_server.json").write_text(srv)
        cli, _ = iperf3_pair(["--bidir"])
        (OUT / "iperf3_tcp_bidir_client.json").write_text(cli)
        cli, _ = iperf3_pair(["-u", "-b", "200M", "-l", "1400"])
        (OUT / "iperf3_udp_client.json").write_text(cli)
        print("wrote iperf3_*.json")
    if have("perf") and os.access("/dev/kvm", os.R_OK | os.W_OK):
        with tempfile.TemporaryDirectory() as tmp:
            (OUT / "perf_kvm_stat_here.txt").write_text(perf_kvm_stat_report(20000, 5000, tmp))
            print("wrote perf_kvm_stat_here.txt")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
