"""Build the paper: every figure (PDF + PNG), every table (LaTeX + Markdown), then the text.

Usage::

    python paper/build.py                 # full build into paper/build/
    python paper/build.py --fast          # fewer points, short simulations (the tests run this)
    python paper/build.py --out DIR --only fig_throughput tab_paths

Each ``figures/fig_*.py`` and ``tables/tab_*.py`` writes its own files and returns
the numbers the text quotes (also saved as ``<name>.json``). A script whose
optional modules (``REQUIRES``: the simulator, the datasets, the fit) cannot be
imported is skipped, and the text says so in place of its section. The text
``paper.md`` is rendered from the template beside this file:

``{{name.key}}`` / ``{{name.key:.1f}}``
    a number from script ``name`` (format spec optional);
``{{table:name}}`` / ``{{figure:name|caption}}``
    the Markdown table / a figure reference;
``<!-- if name --> ... <!-- else --> ... <!-- endif -->``
    text kept only when script ``name`` produced its outputs (or only when not);
``{{skipped}}``
    the list of skipped scripts and why.

A placeholder that cannot be filled is an error: the text never ships a stale
or missing number. With pandoc and a TeX engine on PATH, ``paper.pdf`` is built
too; otherwise the Markdown is the paper. ``manifest.json`` lists every output.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import re
import shutil
import subprocess
import sys
import time
import traceback
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import _common as C  # noqa: E402

FIGURE_SUFFIXES = (".pdf", ".png", ".json")
TABLE_SUFFIXES = (".tex", ".md", ".json")


def scripts() -> list[Path]:
    """Every figure and table script, figures first, each group sorted by name."""
    return sorted((HERE / "figures").glob("fig_*.py")) + sorted((HERE / "tables").glob("tab_*.py"))


def expected_files(script: Path) -> list[str]:
    """The files a script writes (by convention: its stem with fixed suffixes)."""
    suffixes = FIGURE_SUFFIXES if script.stem.startswith("fig_") else TABLE_SUFFIXES
    return [script.stem + s for s in suffixes]


def load(script: Path):
    spec = importlib.util.spec_from_file_location(f"iovmodel_paper_{script.stem}", script)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


# -- the text -----------------------------------------------------------------------------------

_IF = re.compile(r"<!-- if (!?)([\w.]+) -->(.*?)(?:<!-- else -->(.*?))?<!-- endif -->", re.S)
_TABLE = re.compile(r"\{\{table:(\w+)\}\}")
_FIGURE = re.compile(r"\{\{figure:(\w+)\|([^}]*)\}\}")
_NUMBER = re.compile(r"\{\{(\w+)\.(\w+)(?::([^}]*))?\}\}")


def render(template: str, out: Path, numbers: dict[str, dict[str, Any]],
           skipped: dict[str, str], figure_ext: str = ".png") -> str:
    """Fill the template; raise KeyError naming every placeholder that cannot be filled."""
    done = set(numbers)

    def cond(m: re.Match) -> str:
        neg, name, yes, no = m.group(1) == "!", m.group(2), m.group(3), m.group(4) or ""
        return yes if (name in done) != neg else no

    text = _IF.sub(cond, template)
    missing: list[str] = []

    def table(m: re.Match) -> str:
        f = out / f"{m.group(1)}.md"
        if not f.exists():
            missing.append(m.group(0))
            return m.group(0)
        return f.read_text(encoding="utf-8").rstrip() + "\n"

    def figure(m: re.Match) -> str:
        name, caption = m.group(1), m.group(2).strip()
        if not (out / f"{name}.pdf").exists():
            missing.append(m.group(0))
            return m.group(0)
        return f"![{caption}]({name}{figure_ext}){{#fig:{name}}}"

    def number(m: re.Match) -> str:
        ns, key, spec = m.group(1), m.group(2), m.group(3)
        if ns == "meta":
            src = numbers.get("meta", {})
        else:
            src = numbers.get(ns)
        if src is None or key not in src or src[key] is None:
            missing.append(m.group(0))
            return m.group(0)
        v = src[key]
        try:
            return format(v, spec) if spec else (f"{v:,.0f}" if isinstance(v, float) and
                                                 abs(v) >= 1000 else f"{v:.3g}"
                                                 if isinstance(v, float) else str(v))
        except (TypeError, ValueError):
            missing.append(m.group(0) + " (bad format)")
            return m.group(0)

    text = re.sub(r"<!--.*?-->\n?", "", text, flags=re.S)  # the template's own notes
    text = _TABLE.sub(table, text)
    text = _FIGURE.sub(figure, text)
    text = _NUMBER.sub(number, text)
    reasons = "\n".join(f"- `{k}`: {v}" for k, v in sorted(skipped.items())) or "- none"
    text = text.replace("{{skipped}}", reasons)
    if missing:
        raise KeyError("paper.md: unfilled placeholder(s): " + ", ".join(sorted(set(missing))))
    return text


def _pdf(out: Path, md_text: str) -> str:
    """paper.pdf through pandoc + a TeX engine when both exist; returns what happened."""
    pandoc = shutil.which("pandoc")
    engine = next((e for e in ("tectonic", "xelatex", "lualatex", "pdflatex") if shutil.which(e)),
                  None)
    if not pandoc or not engine:
        return "paper.pdf not built: needs pandoc and a TeX engine on PATH (Markdown only)"
    src = out / ".paper_pdf.md"  # the PDF figures for LaTeX, the PNG ones for Markdown
    src.write_text(re.sub(r"\]\((fig_\w+)\.png\)", r"](\1.pdf)", md_text), encoding="utf-8")
    try:
        subprocess.run([pandoc, src.name, "-o", "paper.pdf", f"--pdf-engine={engine}",
                        "-V", "geometry:margin=2.2cm", "-V", "fontsize=10pt"],
                       cwd=out, check=True, capture_output=True, timeout=600)
    except (subprocess.CalledProcessError, subprocess.TimeoutExpired) as exc:
        err = getattr(exc, "stderr", b"") or b""
        return f"paper.pdf failed: {err.decode(errors='replace')[-500:]}"
    finally:
        src.unlink(missing_ok=True)
    return f"paper.pdf built with pandoc and {engine}"


# -- the driver ---------------------------------------------------------------------------------

def existing_outputs(out: Path, only: list[str] | None = None) -> list[Path]:
    """The files of ``out`` a build would replace (its scripts' outputs, the text, the manifest)."""
    names = [f for s in scripts() if not only or s.stem in only for f in expected_files(s)]
    names += ["paper.md", "paper.pdf", "manifest.json"]
    return [out / n for n in names if (out / n).exists()]


def build(out: Path, fast: bool = False, only: list[str] | None = None,
          verbose: bool = True, overwrite: bool = False) -> dict[str, Any]:
    """Run the scripts and render the text; returns the manifest (also ``manifest.json``).

    Refuses (FileExistsError, before any script runs) to replace files already in ``out``
    unless ``overwrite``.
    """
    if not overwrite:
        old = existing_outputs(out, only)
        if old:
            raise FileExistsError(f"{out} already holds {len(old)} output(s) of a build "
                                  f"({', '.join(p.name for p in old[:3])}"
                                  f"{', ...' if len(old) > 3 else ''}); pass --overwrite to "
                                  "replace them")
    out.mkdir(parents=True, exist_ok=True)
    say = print if verbose else (lambda *a, **k: None)
    numbers: dict[str, dict[str, Any]] = {}
    skipped: dict[str, str] = {}
    failed: dict[str, str] = {}
    timing: dict[str, float] = {}
    todo = [s for s in scripts() if not only or s.stem in only]
    unknown = set(only or ()) - {s.stem for s in scripts()}
    if unknown:
        raise SystemExit(f"--only: no script named {', '.join(sorted(unknown))}")
    for s in todo:
        mod = load(s)
        ok, why = C.available(getattr(mod, "REQUIRES", ()))
        if not ok:
            skipped[s.stem] = why
            say(f"skip  {s.stem}: {why}")
            continue
        t0 = time.perf_counter()
        try:
            numbers[s.stem] = mod.main(out, fast=fast)
        except Exception as exc:  # report every failure, then fail the build at the end
            failed[s.stem] = f"{type(exc).__name__}: {exc}"
            say(f"FAIL  {s.stem}: {exc}")
            if verbose:
                traceback.print_exc()
            continue
        timing[s.stem] = round(time.perf_counter() - t0, 2)
        missing = [f for f in expected_files(s) if not (out / f).is_file()
                   or (out / f).stat().st_size == 0]
        if missing:
            failed[s.stem] = f"did not write {missing}"
        say(f"done  {s.stem} ({timing[s.stem]:.1f} s)")
    numbers["meta"] = {"version": C.iov.__version__, "mode": "fast" if fast else "full",
                       "figures": sum(1 for k in numbers if k.startswith("fig_")),
                       "tables": sum(1 for k in numbers if k.startswith("tab_"))}
    status = "paper.md not rendered (--only)"
    if not only and not failed:
        text = render((HERE / "paper.md").read_text(encoding="utf-8"), out, numbers, skipped)
        (out / "paper.md").write_text(text, encoding="utf-8")
        status = _pdf(out, text)
        say(status)
    outputs = sorted(f.name for f in out.iterdir() if f.is_file()
                     and not f.name.startswith(".") and f.name != "manifest.json")
    manifest = {"mode": numbers["meta"]["mode"], "outputs": outputs, "skipped": skipped,
                "failed": failed, "pdf": status, "seconds": timing}
    (out / "manifest.json").write_text(json.dumps(manifest, indent=1, sort_keys=True) + "\n",
                                       encoding="utf-8")
    return manifest


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=HERE / "build", help="output directory")
    ap.add_argument("--fast", action="store_true", help="fewer points, short simulations")
    ap.add_argument("--only", nargs="+", metavar="NAME", help="run only these scripts")
    ap.add_argument("-q", "--quiet", action="store_true")
    ap.add_argument("--overwrite", action="store_true", help="replace the files of a former build")
    args = ap.parse_args(argv)
    try:
        m = build(args.out, fast=args.fast, only=args.only, verbose=not args.quiet,
                  overwrite=args.overwrite)
    except (FileExistsError, OSError) as exc:
        print(f"build.py: error: {exc}", file=sys.stderr)
        return 2
    if m["failed"]:
        print("FAILED: " + "; ".join(f"{k}: {v}" for k, v in m["failed"].items()),
              file=sys.stderr)
        return 1
    print(f"{len(m['outputs'])} files in {args.out}"
          + (f"; skipped {', '.join(m['skipped'])}" if m["skipped"] else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
