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
