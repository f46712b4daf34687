"""numba's on-disk cache and the modules a compiled kernel reads.

numba keys a ``@njit(cache=True)`` function's cached machine code on its own source file's
stamp (modification time and size, numba.core.caching): a function or a module constant it
compiled in from another file is not part of that key. After an edit of the other file
(``git pull`` into the editable install ``make`` makes, or a developer's change), the
cached kernel would go on running the old code with no sign of it. Found when an edit of
``_kernels_mc.py`` left the layered kernel's cached ``exact_mc`` unchanged (2026-12-07).

So every module with cached kernels names, in ``KERNEL_SOURCES``, the hash of each module
whose names its kernels use; changing such a module then means changing this one's hash,
which changes its file and so its cache key. This test finds those modules from the code
(names imported from inside the package and read in a ``@njit`` function's body) and checks
that the hashes are there and current.
"""

from __future__ import annotations

import ast
import hashlib
from pathlib import Path

import pytest

PKG = Path(__file__).resolve().parents[1] / "iovmodel"


def _cached_kernel_modules() -> list[Path]:
    return sorted(p for p in PKG.rglob("*.py") if "cache=True" in p.read_text())


def _is_njit(dec: ast.expr) -> bool:
    f = dec.func if isinstance(dec, ast.Call) else dec
    return (isinstance(f, ast.Name) and f.id == "njit") or \
        (isinstance(f, ast.Attribute) and f.attr == "njit")


def _resolve(module: Path, node: ast.ImportFrom) -> Path:
    base = module.parent
    for _ in range(node.level - 1):
        base = base.parent
    target = base.joinpath(*(node.module or "").split("."))
    return target.with_suffix(".py") if target.with_suffix(".py").exists() \
        else target / "__init__.py"


def compiled_dependencies(module: Path) -> set[Path]:
    """The package modules whose imported names a ``@njit`` function of ``module`` reads."""
    tree = ast.parse(module.read_text())
    origin: dict[str, Path] = {}
    for node in tree.body:
        if isinstance(node, ast.ImportFrom) and node.level > 0:
            for a in node.names:
                origin[a.asname or a.name] = _resolve(module, node)
    deps: set[Path] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef) and any(_is_njit(d) for d in node.decorator_list):
            for n in ast.walk(node):
                if isinstance(n, ast.Name) and n.id in origin:
                    deps.add(origin[n.id])
    return deps


def source_hash(path: Path) -> str:
    """The first 16 hex digits of the file's SHA-256 (what ``KERNEL_SOURCES`` holds)."""
    return hashlib.sha256(path.read_bytes()).hexdigest()[:16]


def test_the_scan_finds_the_kernels_and_what_they_compile_in():
    # the two cross-file dependencies the package has (2026-12): exact_mc in the layered
    # fixed point, the event constants in the simulator's loop
    mods = {p.relative_to(PKG).as_posix(): p for p in _cached_kernel_modules()}
    assert {"solve/analytic/_kernels_layers.py", "solve/sim/kernel.py"} <= set(mods)
    deps = compiled_dependencies(mods["solve/analytic/_kernels_layers.py"])
    assert deps == {PKG / "solve/analytic/_kernels_mc.py"}
    assert compiled_dependencies(mods["solve/sim/kernel.py"]) == {PKG / "solve/sim/events.py"}


@pytest.mark.parametrize("module", _cached_kernel_modules(),
                         ids=lambda p: p.relative_to(PKG).as_posix())
def test_cached_kernels_stamp_the_modules_they_compile_in(module):
    deps = compiled_dependencies(module)
    if not deps:
        return
    ns: dict = {}
    for node in ast.parse(module.read_text()).body:
        if isinstance(node, ast.Assign) and any(
                isinstance(t, ast.Name) and t.id == "KERNEL_SOURCES" for t in node.targets):
            ns = ast.literal_eval(node.value)
    want = {d.name: source_hash(d) for d in sorted(deps)}
    assert ns == want, (
        f"{module.relative_to(PKG)}: set KERNEL_SOURCES = {want!r}. Its cached kernels "
        f"compile in code from {', '.join(sorted(want))}, and numba's cache checks only "
        f"{module.name}'s own stamp")
