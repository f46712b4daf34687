"""The package's shape: imports only go down (no cycles) and showing a result is cheap.

The import graph is read with ``ast`` from the sources, so imports inside functions
count as much as module-level ones: a lazy import still ties two modules together.
"""

from __future__ import annotations

import ast
import os
import subprocess
import sys
from pathlib import Path

import iovmodel

PKG = Path(iovmodel.__file__).resolve().parent
ROOT = PKG.parent


def _modules() -> dict[str, tuple[Path, bool]]:
    mods = {}
    for f in PKG.rglob("*.py"):
        parts = list(f.relative_to(ROOT).with_suffix("").parts)
        is_pkg = parts[-1] == "__init__"
        mods[".".join(parts[:-1] if is_pkg else parts)] = (f, is_pkg)
    return mods


def import_graph() -> dict[str, set[str]]:
    """module -> the package modules it imports anywhere in its source."""
    mods = _modules()

    def known(name: str) -> str:
        while name not in mods:
            name = name.rpartition(".")[0]
        return name

    graph: dict[str, set[str]] = {}
    for mod, (file, is_pkg) in mods.items():
        here = mod.split(".") if is_pkg else mod.split(".")[:-1]
        deps = set()
        for node in ast.walk(ast.parse(file.read_text("utf-8"))):
            if isinstance(node, ast.Import):
                deps |= {known(a.name) for a in node.names if a.name.split(".")[0] == "iovmodel"}
            elif isinstance(node, ast.ImportFrom):
                if node.level:
                    base = here[:len(here) - node.level + 1] + ([node.module] if node.module else [])
                    target = ".".join(base)
                else:
                    target = node.module or ""
                if target.split(".")[0] != "iovmodel":
                    continue
                for a in node.names:  # `from . import plot` imports the module iovmodel.plot
                    deps.add(f"{target}.{a.name}" if f"{target}.{a.name}" in mods else known(target))
        deps.discard(mod)
        graph[mod] = deps
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    out: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def test_cycle_finder_finds_a_cycle():
    # the checker itself: a -> b -> c -> a is one cycle, d hangs off it
    g = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert cycles(g) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": set()}) == []


def test_graph_sees_imports_inside_functions():
    g = import_graph()
    # Result.latex imports the symbolic solver inside the method
    assert "iovmodel.symbolic" in g["iovmodel.result"]
    assert "iovmodel._expr" in g["iovmodel.network"]


def test_no_import_cycles():
    assert cycles(import_graph()) == []


def test_displaying_objects_does_not_import_sympy():
    # a fresh interpreter: the first Result/Path shown in a notebook must not pull sympy
    code = (
        "import sys\n"
        "import iovmodel as iov\n"
        "from IPython.core.interactiveshell import InteractiveShell\n"
        "fmt = InteractiveShell.instance().display_formatter\n"
        "objs = [iov.analyze('virtio-blk'), iov.path('vhost-scsi', workers=4),\n"
        "        iov.HostProfile.default(), iov.Workload.open(1e4), iov.compare(['virtio-blk'])]\n"
        "shown = [sorted(fmt.format(o)[0]) for o in objs]\n"
        "assert all('text/html' in s for s in shown[:3]), shown\n"
        "assert 'sympy' not in sys.modules, 'sympy imported by a display'\n"
        "r = objs[0]\n"
        "tex = r.latex()\n"
        "assert tex.startswith('$') and 'sympy' in sys.modules\n"
    )
    run = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True,
                         env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert run.returncode == 0, run.stderr
