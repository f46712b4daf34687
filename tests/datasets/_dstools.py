"""Helpers that run fio, iperf3 and perf kvm stat for the dataset tests and record.py."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


def run_fio(args: list[str], filename: str | os.PathLike[str], timeout: float = 120) -> str:
    """Run fio on ``filename`` with ``args``; return its stdout (the JSON report)."""
    res = subprocess.run(["fio", f"--filename={filename}", *args], capture_output=True, text=True,
                         timeout=timeout, check=False)
    if res.returncode != 0:
        raise RuntimeError(f"fio failed ({res.returncode}): {res.stderr.strip()[:500]}")
    return res.stdout


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def iperf3_pair(client_args: list[str], seconds: float = 1.0, timeout: float = 60) -> tuple[str, str]:
    """Run a one-shot ``iperf3 -s`` and a client over 127.0.0.1; return (client, server) JSON.

    The client is retried while the server is not yet listening.
    """
    port = free_port()
    server = subprocess.Popen(["iperf3", "-s", "-1", "-J", "-B", "127.0.0.1", "-p", str(port)],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 10.0
        while True:
            client = subprocess.run(["iperf3", "-c", "127.0.0.1", "-p", str(port), "-J",
                                     "-t", str(seconds), *client_args],
                                    capture_output=True, text=True, timeout=timeout, check=False)
            try:
                err = json.loads(client.stdout).get("error", "")
            except json.JSONDecodeError:
                err = client.stderr or "no JSON output"
            if "unable to connect" in str(err) and time.monotonic() < deadline:
                time.sleep(0.1)
                continue
            if err:
                raise RuntimeError(f"iperf3 client failed: {err}")
            break
        out, _ = server.communicate(timeout=timeout)
    finally:
        if server.poll() is None:
            server.kill()
            server.wait()
    return client.stdout, out


def perf_kvm_stat_report(cpuid_loops: int, pio_loops: int, tmpdir: str | os.PathLike[str]) -> str:
    """Record the tinykvm guest under ``perf kvm stat record`` and return the report text."""
    data = os.path.join(tmpdir, "perf.data")
    subprocess.run(["perf", "kvm", "stat", "record", "-o", data, sys.executable,
                    str(HERE / "tinykvm.py"), str(cpuid_loops), str(pio_loops)],
                   capture_output=True, check=True, timeout=120)
    # perf writes the report to stderr when stdout is not a terminal on some versions
    rep = subprocess.run(["perf", "kvm", "-i", data, "stat", "report"], stdout=subprocess.PIPE,
                         stderr=subprocess.STDOUT, text=True, check=True, timeout=120)
    return rep.stdout


def have(tool: str) -> bool:
    return shutil.which(tool) is not None
