"""The datasets are readable from an installed (non-editable) package."""

from __future__ import annotations

import importlib.metadata
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


def _build_isolation_args() -> list[str]:
    """Build with the installed setuptools when it is new enough for the project's
    pyproject (a PEP 639 license string needs setuptools >= 77); else let pip fetch one."""
    try:
        major = int(importlib.metadata.version("setuptools").split(".")[0])
    except (importlib.metadata.PackageNotFoundError, ValueError):
        return []
    return ["--no-build-isolation"] if major >= 77 else []


@pytest.mark.slow
def test_wheel_ships_the_datasets(tmp_path):
    # build from a private copy so the shared checkout gets no build/ or egg-info debris
    src = tmp_path / "src"
    src.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(REPO / name, src / name)
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info")
    shutil.copytree(REPO / "iovmodel", src / "iovmodel", symlinks=True, ignore=ignore)
    shutil.copytree(REPO / "data", src / "data", ignore=ignore)
    dist = tmp_path / "dist"
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", *_build_isolation_args(),
                    "--quiet", "-w", str(dist), str(src)], check=True, timeout=600)
    wheel = next(dist.glob("iovmodel-*.whl"))
    names = set(zipfile.ZipFile(wheel).namelist())
    shipped = {Path(n).name for n in names if n.startswith("iovmodel/_data/")}
    expected = {p.name for p in (REPO / "data").iterdir() if p.suffix in (".csv", ".toml")}
    assert expected <= shipped

    target = tmp_path / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "--quiet", "--target",
                    str(target), str(wheel)], check=True, timeout=300)
    code = (
        "import sys; sys.path.insert(0, sys.argv[1])\n"
        "import iovmodel.datasets as d\n"
        "assert d.__file__.startswith(sys.argv[1]), d.__file__\n"
        "lst = d.list()\n"
        "df = d.load('xen_blk_multiqueue')\n"
        "print(len(lst), int(lst['rows'].sum()), len(df))\n"
    )
    out = subprocess.run([sys.executable, "-c", code, str(target)], cwd=tmp_path,
                         capture_output=True, text=True, timeout=300, check=True,
                         env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)})
    n_sets, n_rows, n_xen = (int(x) for x in out.stdout.split())
    assert n_sets == len(list((REPO / "data").glob("*.csv")))
    assert n_xen == 41 and n_rows > 2102
