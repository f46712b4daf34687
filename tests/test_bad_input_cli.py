"""Issue 16's battery, second half: the command line and files (catalogs, profiles, outputs).

Every refusal exits with status 2 and one line on stderr naming the value (no traceback);
no write replaces an existing file without --overwrite / overwrite=True, and that is checked
before the work starts; written files get the user's umask.
"""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

import iovmodel as iov
from iovmodel import CatalogError, DatasetError, ParameterError
from iovmodel.cli import main

ROOT = Path(__file__).resolve().parent.parent


def refused(capsys, argv, *needles):
    """``iovmodel ARGV`` exits 2 with a one-line error naming every needle, no traceback."""
    rc = main(argv)
    err = capsys.readouterr().err
    assert rc == 2, (rc, err)
    assert "Traceback" not in err and err.startswith("iovmodel: error:"), err
    for n in needles:
        assert n in err, (n, err)
    return err


@pytest.mark.parametrize(("argv", "needles"), [
    (["sweep", "virtio-blk", "--knob", "jobs=1,2,64", "--rate", "1000"], ["jobs", "open"]),
    (["sweep", "virtio-blk", "--knob", "jobs=a,b"], ["'a'"]),
    (["sweep", "virtio-blk", "--knob", "jobs=1,,2"], ["'jobs=1,,2'"]),
    (["sweep", "virtio-blk", "--knob", "vmexit_us=nan"], ["vmexit_us", "NaN"]),
    (["sweep", "virtio-blk", "--knob", "rate_per_s=inf"], ["rate_per_s", "inf"]),
    (["sweep", "virtio-blk", "--knob", "jobs"], ["'jobs'"]),
    (["sweep", "virtio-blk", "--knob", "bogus=1"], ["'bogus'"]),
    (["compare", "virtio-blk", "nope"], ["'nope'"]),
    (["compare", "virtio-blk", "--set", "vmexit_us=-1"], ["vmexit_us", "-1"]),
    (["compare", "virtio-blk", "--set", "vmexit_us=fast"], ["vmexit_us", "'fast'"]),
    (["compare", "virtio-blk", "--set", "vmexit_us"], ["'vmexit_us'"]),
    (["compare", "vhost-scsi", "--option", "workers=0"], ["workers", "0"]),
    (["compare", "virtio-blk", "--rate", "-5"], ["rate_per_s", "-5"]),
    (["compare", "virtio-blk", "--batch", "0.5"], ["batch", "0.5"]),
    (["compare", "virtio-blk", "--jobs", "0"], ["jobs", "0"]),
    (["simulate", "virtio-blk", "--requests", "10"], ["requests", "10"]),
    (["simulate", "virtio-blk", "--warmup", "0.9"], ["0.9"]),
    (["simulate", "virtio-blk", "--engine", "warp"], ["'warp'"]),
])
def test_cli_refuses_bad_values(capsys, argv, needles):
    refused(capsys, argv, *needles)


def test_cli_profile_missing_binary_or_malformed(capsys, tmp_path):
    refused(capsys, ["compare", "virtio-blk", "--profile", str(tmp_path / "none.toml")],
            "none.toml", "does not exist")
    binary = tmp_path / "bin.toml"
    binary.write_bytes(b"\x7fELF\x00\xff\xfe")
    refused(capsys, ["compare", "virtio-blk", "--profile", str(binary)], "bin.toml")
    bad = tmp_path / "bad.toml"
    bad.write_text("[costs]\nvmexit_us = -2.0\n", encoding="utf-8")
    refused(capsys, ["compare", "virtio-blk", "--profile", str(bad)], "bad.toml", "-2")
    refused(capsys, ["compare", "virtio-blk", "--profile", str(tmp_path)], "is not a file")


def test_cli_unwritable_outputs_are_refused_before_the_work(capsys, tmp_path):
    refused(capsys, ["compare", "virtio-blk", "--csv", str(tmp_path / "no" / "dir" / "x.csv")],
            str(tmp_path / "no" / "dir"))
    refused(capsys, ["report", "--out", "/proc/iovmodel-nope"], "/proc/iovmodel-nope")
    refused(capsys, ["sweep", "virtio-blk", "--knob", "jobs=1", "--csv", str(tmp_path)],
            "is a folder")


def test_report_never_replaces_its_csvs_without_overwrite(capsys, tmp_path):
    out = tmp_path / "out"
    assert main(["report", "--out", str(out)]) == 0
    before = (out / "catalog.csv").read_bytes()
    (out / "catalog.csv").write_text("mine", encoding="utf-8")
    refused(capsys, ["report", "--out", str(out)], str(out / "catalog.csv"), "--overwrite")
    assert (out / "catalog.csv").read_text(encoding="utf-8") == "mine"
    assert main(["report", "--out", str(out), "--overwrite"]) == 0
    assert (out / "catalog.csv").read_bytes() == before


def test_csv_and_profile_outputs_refuse_before_solving_and_say_the_flag(capsys, tmp_path):
    mine = tmp_path / "mine.csv"
    mine.write_text("keep", encoding="utf-8")
    for argv in (["compare", "virtio-blk", "--csv", str(mine)],
                 ["sweep", "virtio-blk", "--knob", "jobs=1,2", "--csv", str(mine)],
                 # fit would take seconds: the refusal comes first (the dataset name is not
                 # even looked up)
                 ["fit", "no-such-dataset", "--profile-out", str(mine)]):
        err = refused(capsys, argv, str(mine), "--overwrite")
        assert "overwrite=True" not in err
    assert mine.read_text(encoding="utf-8") == "keep"


def test_files_get_the_users_umask(tmp_path):
    old = os.umask(0o022)
    try:
        f = iov.HostProfile.default().to_file(tmp_path / "p.toml")
        assert stat.S_IMODE(f.stat().st_mode) == 0o644  # was 0600 whatever the umask
        assert main(["compare", "virtio-blk", "--csv", str(tmp_path / "c.csv")]) == 0
        assert stat.S_IMODE((tmp_path / "c.csv").stat().st_mode) == 0o644
    finally:
        os.umask(old)


def test_write_errors_name_the_users_path_not_the_temp_file(tmp_path):
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o500)
    try:
        if os.access(ro, os.W_OK):
            pytest.skip("running as a user who can write anywhere (root)")
        with pytest.raises(ParameterError, match="ro") as info:
            iov.HostProfile.default().to_file(ro / "p.toml")
        assert ".tmp" not in str(info.value)
    finally:
        ro.chmod(0o700)


def test_write_error_as_root_names_the_users_path(tmp_path):
    from iovmodel._io import write_atomic

    target = tmp_path / "missing-dir" / "x.csv"
    with pytest.raises(OSError) as info:
        write_atomic(target, "a")
    assert str(target) in str(info.value) and ".tmp" not in str(info.value)


def test_fit_module_help_works():
    proc = subprocess.run([sys.executable, "-m", "iovmodel.fit", "--help"], capture_output=True,
                          text=True, cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert proc.returncode == 0 and "usage" in proc.stdout, proc.stderr[-2000:]


def test_paper_build_refuses_to_replace_a_former_build(tmp_path):
    (tmp_path / "tab_paths.md").write_text("mine", encoding="utf-8")
    proc = subprocess.run([sys.executable, str(ROOT / "paper" / "build.py"), "--fast", "--quiet",
                           "--only", "tab_paths", "--out", str(tmp_path)],
                          capture_output=True, text=True, cwd=ROOT)
    assert proc.returncode == 2 and "--overwrite" in proc.stderr and "tab_paths.md" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert (tmp_path / "tab_paths.md").read_text(encoding="utf-8") == "mine"


# --------------------------------------------------------------------- catalog files
CATALOG_OK = """format_version = 1
[resource.r]
servers = 1
[[path]]
name = "{name}"
[[path.hop]]
name = "a"
resource = "r"
cost = {cost}
"""


@pytest.mark.parametrize(("text", "needles"), [
    ("format_version = 1\nresource = 5\n", ["malformed"]),
    ("format_version = 1\n[path]\nname = 'x'\n", ["malformed"]),
    (CATALOG_OK.replace("servers = 1", "servers = [1]").format(name="x1", cost=1.0),
     ["servers", "[1]"]),
    (CATALOG_OK.replace("servers = 1", "servers = -2").format(name="x2", cost=1.0),
     ["servers", "-2"]),
    (CATALOG_OK.format(name="x3", cost="'1 +'"), ["'1 +'"]),
    (CATALOG_OK.format(name="x4", cost="'__import__(\"os\")'"), ["__import__"]),
    (CATALOG_OK.format(name="x5", cost=-1.0), ["-1"]),
    ("format_version = 2\n", ["format_version", "2"]),
    ("this is = = not toml", ["not valid TOML"]),
    ("", ["format_version"]),
])
def test_malformed_catalogs_are_catalog_errors_naming_the_file(tmp_path, text, needles):
    f = tmp_path / "cat.toml"
    f.write_text(text, encoding="utf-8")
    with pytest.raises(CatalogError) as info:
        iov.load_catalog(f)
    for n in needles:
        assert n in str(info.value), (n, str(info.value))


def test_binary_and_missing_catalogs(tmp_path):
    f = tmp_path / "bin.toml"
    f.write_bytes(b"\x00\xff\xfe\x01")
    with pytest.raises(CatalogError, match="bin.toml"):
        iov.load_catalog(f)
    with pytest.raises(CatalogError, match="nope.toml"):
        iov.load_catalog(tmp_path / "nope.toml")


def test_a_byte_order_mark_is_accepted(tmp_path):
    f = tmp_path / "bom.toml"
    f.write_text("\ufeff" + CATALOG_OK.format(name="bom-path", cost=2.0), encoding="utf-8")
    assert iov.load_catalog(f, replace_existing=True) == ["bom-path"]
    p = tmp_path / "bom-profile.toml"
    p.write_text("\ufeff[costs]\nvmexit_us = 0.5\n", encoding="utf-8")
    assert iov.HostProfile.from_file(p)["vmexit_us"] == 0.5


def test_a_hostile_catalog_cost_is_an_error_not_a_hang(tmp_path):
    f = tmp_path / "pow.toml"
    f.write_text(CATALOG_OK.format(name="pow-path", cost="'10**10**10'"), encoding="utf-8")
    iov.load_catalog(f, replace_existing=True)
    with pytest.raises(CatalogError, match=r"10\*\*10\*\*10"):
        iov.analyze("pow-path")


# --------------------------------------------------------------------- data files
def test_an_empty_or_foreign_csv_is_a_dataset_error(tmp_path):
    empty = tmp_path / "empty.csv"
    empty.write_text("", encoding="utf-8")
    with pytest.raises(DatasetError, match="empty.csv"):
        iov.probe.load(empty)
    other = tmp_path / "other.csv"
    pd.DataFrame({"a": [1]}).to_csv(other, index=False)
    with pytest.raises(DatasetError, match="missing columns"):
        iov.probe.load(other)
    with pytest.raises(DatasetError, match="nope.csv"):
        iov.probe.load(tmp_path / "nope.csv")


def test_probe_out_is_checked_before_measuring(tmp_path, capsys):
    from iovmodel.probe.cli import main as probe_main
    from iovmodel.probe.kvm import detect

    if not detect().usable:
        pytest.skip("no usable /dev/kvm: the probe stops before --out is looked at")
    rc = probe_main(["--quick", "--out", str(tmp_path / "no" / "x.csv")])
    err = capsys.readouterr().err
    assert rc == 2 and str(tmp_path / "no") in err
    mine = tmp_path / "mine.csv"
    mine.write_text("keep", encoding="utf-8")
    assert probe_main(["--quick", "--out", str(mine)]) == 2
    assert "--overwrite" in capsys.readouterr().err and mine.read_text() == "keep"


def test_an_interrupted_helper_build_leaves_no_process_behind(tmp_path):
    # the compiler's own children (cc1, as) are killed with it: a stand-in "compiler" whose
    # child would outlive a plain kill writes a file if it survives
    import time

    from iovmodel.probe._helper import _compile

    flag = tmp_path / "orphan-ran"
    cmd = ["sh", "-c", f"(sleep 1.5; touch {flag}) & wait"]
    with pytest.raises(subprocess.TimeoutExpired):
        _compile(cmd, timeout=0.3)
    time.sleep(2.0)
    assert not flag.exists()
