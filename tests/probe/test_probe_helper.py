"""The C helper's build cache, output parser, detection and saving (KVM not needed)."""

from __future__ import annotations

import os
import shutil
import struct

import numpy as np
import pandas as pd
import pytest

from iovmodel.errors import ParameterError, ProbeError
from iovmodel.probe import _helper, detect, load, save

HAS_CC = _helper.find_compiler() is not None


def test_parse_output_reads_text_and_samples():
    ns = [1000, 2500, 40_000]
    raw = (b"iovprobe 1\nexits 3\nsamples lat 3\n" + struct.pack("<3q", *ns) + b"\n"
           + b"samples none 0\n\nend\n")
    out = _helper.parse_output(raw)
    assert out.values == {"iovprobe": "1", "exits": "3"}
    np.testing.assert_allclose(out.samples_us["lat"], [1.0, 2.5, 40.0])
    assert len(out.samples_us["none"]) == 0


@pytest.mark.parametrize("raw", [
    b"iovprobe 1\nsamples lat 3\n" + struct.pack("<2q", 1, 2),  # truncated block
    b"iovprobe 1\nexits 3\n",  # no end line: the helper died
])
def test_parse_output_rejects_broken_output(raw):
    with pytest.raises(ProbeError):
        _helper.parse_output(raw)


def test_missing_compiler_is_a_clear_error(monkeypatch, tmp_path):
    monkeypatch.setenv("CC", "no-such-compiler-xyz")
    monkeypatch.setenv("IOVMODEL_CACHE_DIR", str(tmp_path))
    with pytest.raises(ProbeError, match="C compiler"):
        _helper.helper_path()
    assert list(tmp_path.iterdir()) == []


def test_compile_errors_are_reported(monkeypatch, tmp_path):
    fake = tmp_path / "false-cc"
    fake.write_text("#!/bin/sh\necho 'fatal: broken toolchain' >&2\nexit 1\n")
    fake.chmod(0o755)
    monkeypatch.setenv("CC", str(fake))
    monkeypatch.setenv("IOVMODEL_CACHE_DIR", str(tmp_path / "cache"))
    with pytest.raises(ProbeError, match="broken toolchain"):
        _helper.helper_path()
    assert not any((tmp_path / "cache").glob("iovprobe-*"))


@pytest.mark.skipif(not HAS_CC, reason="no C compiler on this machine")
def test_build_is_cached_and_old_builds_removed(monkeypatch, tmp_path):
    monkeypatch.setenv("IOVMODEL_CACHE_DIR", str(tmp_path))
    stale = tmp_path / "iovprobe-0000000000000000"
    stale.write_text("old build")
    exe = _helper.helper_path()
    assert exe.exists() and os.access(exe, os.X_OK)
    assert not stale.exists()
    mtime = exe.stat().st_mtime_ns
    assert _helper.helper_path() == exe
    assert exe.stat().st_mtime_ns == mtime  # reused, not rebuilt
    assert [p.name for p in tmp_path.iterdir()] == [exe.name]  # no temp files left
    # host-only experiments need no /dev/kvm: the harness overhead is tiny but positive
    out = _helper.run_helper("real", "empty", 2000, limit_s=10, exe=exe)
    s = out.samples_us["empty"]
    assert len(s) == 2000 and 0 <= np.median(s) < 5.0


@pytest.mark.skipif(not HAS_CC, reason="no C compiler on this machine")
def test_helper_rejects_bad_arguments():
    with pytest.raises(ProbeError, match="wrong number of arguments"):
        _helper.run_helper("real", "empty", limit_s=5)
    with pytest.raises(ProbeError, match="N must be a non-negative integer"):
        _helper.run_helper("real", "empty", "lots", limit_s=5)
    with pytest.raises(ProbeError, match="guest mode"):
        _helper.run_helper("protected", "empty", 10, limit_s=5)


@pytest.mark.skipif(not HAS_CC, reason="no C compiler to build the probe helper")
def test_pagecache_experiment_times_reads_and_writes_and_cleans_up(tmp_path):
    drive = tmp_path / "drive"
    out = _helper.run_helper("real", "pagecache", drive, 256, 500, limit_s=20)
    for name in ("pagecache_read", "pagecache_write"):
        s = out.samples_us[name]
        assert len(s) == 500 and (s > 0).all() and np.isfinite(s).all()
    assert not drive.exists()  # unlinked by the helper
    # it never touches a file that is already there (O_EXCL)
    drive.write_bytes(b"user data")
    with pytest.raises(ProbeError, match="open page-cache file"):
        _helper.run_helper("real", "pagecache", drive, 16, 10, limit_s=5)
    assert drive.read_bytes() == b"user data"


def _net_admin() -> bool:
    """CAP_NET_ADMIN (bit 12 of CapEff) and a tun device: what the tap experiment needs."""
    try:
        with open("/proc/self/status", encoding="utf-8") as fh:
            cap = next(int(ln.split()[1], 16) for ln in fh if ln.startswith("CapEff:"))
    except (OSError, StopIteration, ValueError):
        return False
    return bool(cap >> 12 & 1) and os.path.exists("/dev/net/tun")


@pytest.mark.skipif(not HAS_CC, reason="no C compiler to build the probe helper")
@pytest.mark.skipif(not _net_admin(), reason="no CAP_NET_ADMIN or /dev/net/tun: the tap "
                    "experiment cannot create taps and a bridge here")
def test_tap_experiment_times_three_writes_and_removes_its_interfaces():
    out = _helper.run_helper("real", "tap", 2000, 200, limit_s=20)
    med = {k: float(np.median(out.samples_us[k])) for k in ("tap_null", "tap_drop", "tap_bridge")}
    for k in med:
        s = out.samples_us[k]
        assert len(s) == 2000 and (s > 0).all() and np.isfinite(s).all()
    # the same write() of 60 bytes: to /dev/null, into the host stack that drops it, into a
    # bridge that forwards it to a second tap
    assert med["tap_null"] < med["tap_drop"] < med["tap_bridge"]
    # every frame written reached the second tap (sent or dropped there) or waits in its queue
    sent, fwd, qlen = (int(out.values[k]) for k in ("tap_written", "tap_forwarded",
                                                     "tap_queue_len"))
    assert sent == 2200 and fwd >= 0 and qlen >= 0 and fwd + qlen >= sent
    # the taps went with the process and the bridge was deleted (by name: a probe running
    # in another test process makes its own)
    links = out.values["tap_links"].split(",")
    assert len(links) == 4 and all(n.startswith("iovp") for n in links)
    assert not any(os.path.exists(f"/sys/class/net/{n}") for n in links)


def test_detect_missing_device_says_what_to_do(tmp_path):
    d = detect(str(tmp_path / "kvm"))
    assert not d.usable
    assert "does not exist" in d.reason
    assert d.api_version is None
    assert "unusable" in repr(d)
    assert "<table>" in d._repr_html_()
    assert set(d.to_frame().columns) == {"item", "value"}


def test_detect_non_kvm_device():
    d = detect("/dev/null")
    assert not d.usable
    assert "not a KVM device" in d.reason


@pytest.mark.skipif(not os.path.exists("/dev/kvm"), reason="no /dev/kvm on this machine")
def test_detect_real_kvm():
    d = detect()
    if not d.usable:
        pytest.skip(f"/dev/kvm not usable: {d.reason}")
    assert d.api_version == 12  # the stable KVM API since Linux 2.6.22
    assert d.capabilities["user_memory"] and d.capabilities["ioeventfd"]
    assert d.regime in {"hardware", "nested-hardware", "nested-software", "software"}
    assert d.host_cpus >= 1 and d.module


def _frame():
    return pd.DataFrame({"source": ["probe"], "path": ["pio-exit-user"],
                         "metric": ["latency_p50_us"], "value": [24.5], "unit": ["us"],
                         "guest": ["long"]})


def test_save_is_atomic_and_refuses_to_overwrite(tmp_path):
    f = tmp_path / "probe.csv"
    save(_frame(), f)
    first = f.read_bytes()
    with pytest.raises(FileExistsError, match="overwrite"):
        save(_frame().assign(value=1.0), f)
    assert f.read_bytes() == first
    save(_frame().assign(value=1.0), f, overwrite=True)
    assert load(f)["value"].tolist() == [1.0]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["probe.csv"]  # no temp files


def test_save_rejects_bad_input(tmp_path):
    with pytest.raises(ParameterError, match="df"):
        save({"a": 1}, tmp_path / "x.csv")
    with pytest.raises(ParameterError, match="directory"):
        save(_frame(), tmp_path / "missing" / "x.csv")


@pytest.mark.skipif(shutil.which("cc") is None and shutil.which("gcc") is None,
                    reason="no C compiler")
def test_source_ships_with_the_package():
    assert b"KVM_RUN" in _helper._source_text()


def test_reference_run_is_a_valid_probe_dataset():
    from iovmodel import datasets
    from iovmodel.probe import compare_mutex, costs_from_results, reference

    df = reference()
    assert "measured here" in df.attrs["provenance"]
    datasets.validate(df, source="probe reference")
    mx = df[df["path"] == "mutex-exits"]
    assert set(mx["vcpus"]) == {1, 2, 4, 8} and set(mx["hold_us"]) == {0, 1, 5, 20}
    # operational laws hold in the recorded data too (Little 1961; utilisation law)
    for (_, v, s, use), grp in mx.groupby(["guest", "vcpus", "hold_us", "mutex"]):
        vals = grp.set_index("metric")["value"]
        assert vals["exits_per_s"] * vals["latency_us"] * 1e-6 == pytest.approx(v, rel=0.25)
        if use and s > 0:
            assert vals["exits_per_s"] * s * 1e-6 <= 1.02
    assert {"vmexit_us", "user_exit_us"} <= set(costs_from_results(df))
    assert len(compare_mutex(df).to_frame()) == 2 * 4 * 4 * 2 * 3


def test_comparison_plot_returns_axes():
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from iovmodel.probe import compare_mutex, reference

    cmp = compare_mutex(reference())
    ax = cmp.plot("exits_per_s", guest="long")
    assert ax.get_xlabel() == "vCPU threads V" and len(ax.lines) == 4 * 2 * 2
    with pytest.raises(ParameterError, match="metric"):
        cmp.plot("iops")
    with pytest.raises(ParameterError, match="guest"):
        cmp.plot(guest="protected")
    plt.close("all")


def test_reference_run_makes_a_host_profile():
    from iovmodel.probe import costs_from_results, reference, to_profile
    from iovmodel.spec.profile import HostProfile

    df = reference()
    measured = costs_from_results(df)
    base = HostProfile.default().replace(bql_acquire_us=0.123, device_blk_us=7.5)
    host = to_profile(df, base=base)
    assert host.name == "probe"
    for k, v in measured.items():
        assert host[k] == pytest.approx(v) and host.sources[k] == "measured here by iovmodel probe"
    # what the probe does not measure comes from the base, with the base's source
    assert "device_blk_us" not in measured and host["device_blk_us"] == 7.5
    assert host.sources["device_blk_us"] == base.sources["device_blk_us"]
    assert to_profile(df) == to_profile(df, base=HostProfile.default())
    with pytest.raises(ParameterError, match="base"):
        to_profile(df, base={"vmexit_us": 1.0})
    with pytest.raises(ParameterError, match="probe"):
        to_profile(df[["value"]])

