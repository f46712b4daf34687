"""paper/: the fast build writes every figure, table and the text; scripts are reproducible."""

from __future__ import annotations

import importlib.util
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PAPER = ROOT / "paper"


def _driver():
    spec = importlib.util.spec_from_file_location("iovmodel_paper_build", PAPER / "build.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def _importable(modules) -> bool:
    # in a child process: importing here would change this process's iovmodel attributes
    code = "import importlib, sys\n" + "".join(f"importlib.import_module({m!r})\n" for m in modules)
    return subprocess.run([sys.executable, "-c", code], capture_output=True).returncode == 0


def _requires(script: Path) -> tuple[str, ...]:
    text = script.read_text(encoding="utf-8")
    m = re.search(r"^REQUIRES: tuple\[str, \.\.\.\] = (\(.*?\))$", text, re.M)
    assert m, f"{script.name} declares no REQUIRES"
    return eval(m.group(1))  # a literal tuple of module names


@pytest.fixture(scope="module")
def fast_build(tmp_path_factory):
    out = tmp_path_factory.mktemp("paper")
    proc = subprocess.run([sys.executable, str(PAPER / "build.py"), "--fast", "--quiet",
                           "--out", str(out)], capture_output=True, text=True, cwd=ROOT)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return out, json.loads((out / "manifest.json").read_text())


@pytest.mark.slow
def test_fast_build_writes_every_expected_file(fast_build):
    out, manifest = fast_build
    drv = _driver()
    scripts = drv.scripts()
    assert {s.stem for s in scripts} >= {"fig_mode_switches", "fig_breakdown", "fig_throughput",
                                         "fig_latency_load", "tab_costs", "tab_paths"}
    for s in scripts:
        if _importable(_requires(s)):
            assert s.stem not in manifest["skipped"], manifest["skipped"]
            for f in drv.expected_files(s):
                assert (out / f).is_file() and (out / f).stat().st_size > 0, f
        else:  # skipped only when an optional module is really missing, and it says which
            assert "not importable" in manifest["skipped"][s.stem]
    assert manifest["failed"] == {}
    for f in out.glob("fig_*.pdf"):
        assert f.read_bytes().startswith(b"%PDF")
    for f in out.glob("tab_*.tex"):
        text = f.read_text(encoding="utf-8")
        assert r"\begin{tabular}" in text and r"\bottomrule" in text


@pytest.mark.slow
def test_fast_build_text_quotes_the_generated_numbers(fast_build):
    out, manifest = fast_build
    text = (out / "paper.md").read_text(encoding="utf-8")
    assert "{{" not in text and "<!--" not in text  # every placeholder filled
    for fig in out.glob("fig_*.pdf"):
        assert f"]({fig.stem}.png)" in text  # every figure is in the text
    for tab in out.glob("tab_*.md"):
        first = tab.read_text(encoding="utf-8").splitlines()[0]
        assert first in text  # every table is in the text
    nums = json.loads((out / "fig_throughput.json").read_text())
    assert f"virtio-blk at {nums['virtio_blk_sat_kiops']:.0f} kIO/s" in text
    assert "fast build" in text


def test_render_refuses_missing_numbers(tmp_path):
    drv = _driver()
    with pytest.raises(KeyError, match="fig_x.y"):
        drv.render("a {{fig_x.y:.1f}} b", tmp_path, {}, {})
    got = drv.render("<!-- if tab_a -->yes {{tab_a.n}}<!-- else -->no<!-- endif -->",
                     tmp_path, {"tab_a": {"n": 3}}, {})
    assert got == "yes 3"
    got = drv.render("<!-- if tab_a -->yes<!-- else -->no<!-- endif -->", tmp_path, {}, {})
    assert got == "no"
    assert drv.render("{{skipped}}", tmp_path, {}, {"fig_s": "why"}) == "- `fig_s`: why"


def test_a_figure_script_is_byte_reproducible(tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    for d in (a, b):
        subprocess.run([sys.executable, str(PAPER / "build.py"), "--fast", "--quiet",
                        "--only", "fig_mode_switches", "tab_paths", "--out", str(d)],
                       check=True, capture_output=True, cwd=ROOT)
    for name in ("fig_mode_switches.pdf", "fig_mode_switches.png", "tab_paths.tex",
                 "tab_paths.md"):
        assert (a / name).read_bytes() == (b / name).read_bytes(), name
