"""The README's ```python blocks run as written, each as one notebook cell (in order, in one
IPython shell, as a reader pastes them), and show what they promise."""

from __future__ import annotations

import re
from pathlib import Path

import matplotlib
import pytest

matplotlib.use("Agg")

ROOT = Path(__file__).resolve().parents[1]


def blocks(path: Path) -> list[str]:
    return re.findall(r"^```python\n(.*?)^```", path.read_text(encoding="utf-8"), re.S | re.M)


@pytest.fixture(scope="module")
def shell():
    from IPython.core.interactiveshell import InteractiveShell

    sh = InteractiveShell.instance()
    yield sh
    InteractiveShell.clear_instance()


def run_cell(shell, code: str):
    """Run one cell; return (its displayed outputs in order, the cell's own value)."""
    from IPython.utils.capture import capture_output

    with capture_output() as cap:
        res = shell.run_cell(code, store_history=False)
    if res.error_before_exec or res.error_in_exec:
        raise AssertionError(f"README cell failed:\n{code}") from (res.error_in_exec
                                                                     or res.error_before_exec)
    return cap.outputs, res.result


@pytest.mark.slow
def test_readme_blocks_run_and_show_what_they_promise(shell):
    import pandas as pd

    import iovmodel as iov

    cells = blocks(ROOT / "README.md")
    assert len(cells) >= 2
    first, *rest = cells
    shown, last = run_cell(shell, first)
    # the "few lines" cell: every value it computes is on screen, not only the last one
    assert len(shown) >= 5, [o.data.get("text/plain", "")[:80] for o in shown]
    host, w = iov.HostProfile.default(), iov.Workload.closed(jobs=16, iodepth=1)
    r = iov.analyze("virtio-blk", host, w)
    assert any(f"{r.throughput_per_s:,.0f}"[:4] in str(o.data) for o in shown)  # the Result
    assert any("'bql'" in o.data.get("text/plain", "") for o in shown)       # the bottleneck
    assert isinstance(last, iov.Result)                                      # and the what-if
    assert last.latency_us > r.latency_us  # a dearer VM exit makes the I/O slower
    assert isinstance(shell.user_ns["r"], iov.Result)
    from IPython.utils.capture import capture_output

    k = next(i for i, c in enumerate(rest) if "iov.fit(" in c)
    for code in rest[:k]:
        run_cell(shell, code)
    fitting, others = rest[k], rest[k + 1:]  # your files -> fit -> report -> predict
    with capture_output() as cap:
        res = shell.run_cell(fitting, store_history=False)
    assert res.success, res.error_in_exec
    f = shell.user_ns["f"]
    assert isinstance(f, iov.FitResult) and len(f.ignored) > 0
    assert set(f.residuals["source"]) >= {"fio_psync_randread.json"}
    assert f.summary() in cap.stdout  # report() prints, also inside a cell with more after it
    assert isinstance(res.result, iov.Result) and res.result.workload.iodepth == 32
    for code in others:
        shown, last = run_cell(shell, code)
        if "level=0.95" in code:  # the unmeasured iodepths, with their band
            assert list(last["iodepth"]) == [32, 64]
            assert (last["predicted_lo"] < last["predicted"]).all()
            assert (last["predicted"] < last["predicted_hi"]).all()
    assert isinstance(shell.user_ns["df"], pd.DataFrame) and len(shell.user_ns["df"]) > 0


@pytest.mark.slow
def test_data_readme_block_runs(shell):
    for code in blocks(ROOT / "data" / "README.md"):
        run_cell(shell, code)
