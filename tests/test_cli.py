"""The command line: `iovmodel report` (what `make demo` runs) and friends."""

import pandas as pd

from iovmodel.cli import main


def test_report_prints_tables_and_writes_csv(tmp_path, capsys):
    out = tmp_path / "out"
    assert main(["report", "--out", str(out)]) == 0
    text = capsys.readouterr().out
    for name in ("emulated-ide", "virtio-blk-iothread", "vhost-scsi", "xen-blkfront"):
        assert name in text
    tables = [line for line in text.splitlines() if str(tmp_path) not in line]
    assert max(len(line) for line in tables) <= 100  # fits a 100-column terminal
    cat = pd.read_csv(out / "catalog.csv")
    sc = pd.read_csv(out / "mutex_scaling.csv")
    assert len(cat) >= 17 and set(sc["jobs"]) == {1, 2, 4, 8, 16, 32, 64}
    assert not list(out.glob(".*.tmp"))


def test_compare_sweep_and_errors(tmp_path, capsys):
    assert main(["compare", "virtio-net", "vhost-net", "--size", "64"]) == 0
    assert "vhost-net" in capsys.readouterr().out
    csv = tmp_path / "s.csv"
    assert main(["sweep", "virtio-blk", "--knob", "jobs=1,2,4", "--csv", str(csv)]) == 0
    assert len(pd.read_csv(csv)) == 3
    assert main(["sweep", "virtio-blk", "--knob", "jobs=1,2", "--csv", str(csv)]) == 2  # no overwrite
    assert "exists" in capsys.readouterr().err
    assert main(["compare", "no-such-path"]) == 2
    assert "unknown path" in capsys.readouterr().err


# -- parity with the API: host costs, path options, workload fields, seeds --------------------

from pathlib import Path  # noqa: E402

import pytest  # noqa: E402

import iovmodel as iov  # noqa: E402


def _rows(text: str) -> dict[str, list[str]]:
    """Table rows of a compare/sweep printout, keyed by their first cell."""
    return {ln.split()[0]: ln.split() for ln in text.splitlines()
            if ln.strip() and not ln.startswith("#")}


def test_compare_takes_host_costs_and_path_options(capsys):
    assert main(["compare", "virtio-blk", "vhost-scsi", "--jobs", "8", "--iodepth", "2",
                 "--set", "vmexit_us=1.2", "--set", "wakeup_us=3", "--option", "workers=4"]) == 0
    text = capsys.readouterr().out
    host = iov.HostProfile.default().replace(vmexit_us=1.2, wakeup_us=3.0)
    w = iov.Workload.closed(8, 2)
    rows = _rows(text)
    for name, opts in (("virtio-blk", {}), ("vhost-scsi", {"workers": 4})):
        r = iov.analyze(name, host, w, **opts)
        assert rows[name][1] == f"{r.throughput_per_s:,.2f}"
        assert rows[name][2] == f"{r.latency_us:,.2f}"
    # the printout says what it solved
    assert "vmexit_us=1.2" in text and "workers=4" in text and "jobs=8" in text


def test_sweep_takes_several_knobs_and_an_open_workload(capsys):
    assert main(["sweep", "vhost-scsi", "--knob", "jobs=1,4", "--knob", "workers=1,4"]) == 0
    text = capsys.readouterr().out
    ref = iov.sweep("vhost-scsi", jobs=[1, 4], workers=[1, 4])
    table, block = text.split("\n\n", 1)  # the table, then what its numbers rest on
    got = [ln.split() for ln in table.splitlines()[2:]]
    assert [float(g[2].replace(",", "")) for g in got] == pytest.approx(
        ref["throughput_per_s"].round(2).tolist())
    assert "workers    " not in block and "options     varies row by row" in block
    assert main(["sweep", "virtio-blk", "--rate", "1000", "--knob", "rate_per_s=1000,1e9",
                 "--size", "8192", "--batch", "2"]) == 0
    out = capsys.readouterr()
    assert "NaN" in out.out  # the unstable point, as the API's nan_policy="nan" gives it
    assert main(["sweep", "virtio-blk", "--rate", "1000", "--knob", "rate_per_s=1e9",
                 "--nan-policy", "raise"]) == 2


def test_simulate_takes_options_costs_and_seed(capsys):
    args = ["simulate", "vhost-scsi", "--jobs", "4", "--option", "workers=2", "--set",
            "vhost_us=2.0", "--requests", "3000", "--replications", "2", "--seed", "7"]
    assert main(args) == 0
    first = capsys.readouterr().out
    assert main(args) == 0
    assert capsys.readouterr().out == first  # same seed, same numbers
    s = iov.simulate("vhost-scsi", iov.HostProfile.default().replace(vhost_us=2.0),
                     iov.Workload.closed(4, 1), requests=3000, replications=2, seed=7,
                     progress=False, workers=2)
    assert f"{s.throughput_per_s:,.0f} IO/s" in first
    assert max(len(ln) for ln in first.splitlines()) <= 100


@pytest.mark.parametrize("argv, needle", [
    (["compare", "virtio-blk", "--set", "vmexit_us"], "NAME=VALUE"),
    (["compare", "virtio-blk", "--set", "no_such_cost=1"], "no_such_cost"),
    (["compare", "virtio-blk", "--set", "vmexit_us=fast"], "vmexit_us"),
    (["compare", "virtio-blk", "--option", "workers=4"], "workers"),
    (["compare", "virtio-blk", "--set", "vmexit_us=1", "--set", "vmexit_us=2"], "twice"),
    (["compare", "virtio-blk", "--rate", "1000", "--think", "5"], "think"),
    (["sweep", "virtio-blk", "--knob", "jobs"], "jobs=1,2,4"),
    (["sweep", "virtio-blk", "--knob", "threads=1,2"], "threads"),
])
def test_bad_arguments_name_the_flag(argv, needle, capsys):
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("iovmodel: error:") and needle in err


@pytest.mark.parametrize("cmd", ["report", "paths", "compare", "sweep", "simulate", "fit",
                                 "figures"])
def test_every_subcommand_has_help_with_an_example(cmd, capsys):
    with pytest.raises(SystemExit) as exc:
        main([cmd, "--help"])
    assert exc.value.code == 0
    text = capsys.readouterr().out
    assert "example:" in text and f"iovmodel {cmd}" in text.split("example:")[1]


def test_probe_report_fits_100_columns(monkeypatch, capsys):
    # the probe's printout of a real run (the bundled reference run), without /dev/kvm
    from iovmodel.probe import cli as probe_cli
    from iovmodel.probe import kvm, runner

    ref = pd.read_csv(Path(runner.__file__).with_name("reference_run.csv"))
    det = kvm.detect()
    monkeypatch.setattr(kvm, "detect", lambda *a, **k: det.__class__(
        **{**det.__dict__, "usable": True, "reason": ""}))
    monkeypatch.setattr(runner, "run", lambda **kw: ref)
    assert probe_cli.main([]) == 0
    text = capsys.readouterr().out
    assert "HostProfile costs" in text and "mutex experiment" in text
    wide = [ln for ln in text.splitlines() if len(ln) > 100]
    assert wide == [], wide
