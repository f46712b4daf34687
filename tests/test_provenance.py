"""Provenance is readable from a clone: every cited source resolves to data/SOURCES.md, and no
file a user reads points outside the clone (``../shared``) or cites an unnamed "seed article"."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SOURCES = REPO / "data" / "SOURCES.md"


def _user_facing_files() -> list[Path]:
    files = [REPO / "README.md", REPO / "paper" / "paper.md"]
    files += sorted((REPO / "notebooks").glob("*.ipynb"))
    files += sorted((REPO / "data").glob("*.md")) + sorted((REPO / "data").glob("*.toml"))
    files += sorted((REPO / "data").glob("*.py"))
    for ext in ("py", "toml", "md"):
        files += sorted((REPO / "iovmodel").rglob(f"*.{ext}"))
    return [f for f in files if "_data" not in f.parts]  # _data is a symlink to data/


def _source_index() -> set[str]:
    """Source ids of the index table (section 7), ranges such as ``S09-S12`` expanded."""
    ids: set[str] = set()
    for m in re.finditer(r"^\| (S\d\d)(?:-S(\d\d))? \|", SOURCES.read_text(), re.M):
        lo = int(m.group(1)[1:])
        hi = int(m.group(2)) if m.group(2) else lo
        ids.update(f"S{i:02d}" for i in range(lo, hi + 1))
    return ids


@pytest.mark.parametrize("path", _user_facing_files(), ids=lambda p: str(p.relative_to(REPO)))
def test_no_pointer_outside_the_clone_and_no_unnamed_seed(path):
    text = path.read_text(encoding="utf-8")
    assert "../shared" not in text and "/work/shared" not in text, path
    assert not re.search(r"seed article|the seed's|as the seed\b", text, re.I), path


def test_every_cost_and_catalog_source_id_is_in_the_index():
    index = _source_index()
    assert {"S00", "S01", "S18", "S22", "S41"} <= index   # the index parsed, ranges expanded
    for f in ("costs.toml", "catalog.toml"):
        cited = set(re.findall(r"\bS\d\d\b", (REPO / "iovmodel" / "data" / f).read_text()))
        assert cited, f
        assert cited <= index, (f, sorted(cited - index))


def test_every_default_cost_has_a_source():
    costs = tomllib.loads((REPO / "iovmodel" / "data" / "costs.toml").read_text())
    tables = {k: v for k, v in costs.items() if isinstance(v, dict)}
    assert len(tables) > 10
    for name, entry in tables.items():
        assert entry.get("source", "").strip(), name


def test_every_bundled_dataset_cites_a_described_source():
    meta = tomllib.loads((REPO / "data" / "datasets.toml").read_text())
    text = SOURCES.read_text()
    for name, ds in meta["datasets"].items():
        assert ds["sources"], name
        for sid in ds["sources"]:
            src = meta["sources"][sid]
            assert src["citation"].strip() and src["locator"].strip(), sid
            # the source's short id (S01, P08, ...) is described in SOURCES.md
            short = sid.split("_")[0]
            assert re.search(rf"\b{short}\b", text), (name, sid)


def test_seed_article_is_cited_by_site_and_title():
    text = SOURCES.read_text()
    assert 'Ssup2 Blog, "Software I/O Virtualization"' in text
    catalog = (REPO / "iovmodel" / "data" / "catalog.toml").read_text()
    assert catalog.count("Ssup2 Blog, 'Software I/O Virtualization'") >= 10
