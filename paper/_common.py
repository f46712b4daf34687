"""Shared by every figure and table script of the paper.

Each script in ``figures/`` and ``tables/`` is a module with

``REQUIRES``
    modules it needs beyond the core package (``("iovmodel.solve.sim",)``); the driver
    skips the script, and says why, when one cannot be imported;
``main(out: pathlib.Path, fast: bool = False) -> dict``
    writes its files into ``out`` and returns the numbers the text quotes.

A script also runs alone: ``python paper/figures/fig_throughput.py --out paper/build``.
"""

from __future__ import annotations

import argparse
import functools
import importlib
import json
import math
import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")  # the paper renders off-screen, the same on every machine

import pandas as pd  # noqa: E402

import iovmodel as iov  # noqa: E402
from iovmodel import plot  # noqa: E402

#: Block and network paths the figures compare, in the order of their colours.
BLK = ["emulated-ide", "virtio-blk", "virtio-blk-iothread", "vhost-scsi", "vhost-user-blk",
       "vfio-nvme", "native-blk"]
NET = ["emulated-e1000", "virtio-net", "vhost-net", "vhost-user-net", "vfio-net", "xen-netfront",
       "native-net"]
#: The three designs of the Ssup2 Blog article 'Software I/O Virtualization' (data/SOURCES.md S00), block side.
SEED_BLK = ["emulated-ide", "virtio-blk", "virtio-blk-iothread", "vhost-scsi"]


def host() -> iov.HostProfile:
    """The cost profile every figure and table uses (the package default)."""
    return iov.HostProfile.default()


def open_load_sweep(paths: Sequence[str], h: iov.HostProfile, points: int = 24,
                    max_utilization: float = 0.95) -> pd.DataFrame:
    """Open-workload sweeps of ``paths``, ``points`` loads from 2 % to ``max_utilization`` of
    each path's saturation (a path that never saturates spans the largest saturation of the
    others); unstable points give NaN rows, which :func:`iovmodel.plot.latency_vs_load` drops."""
    import warnings

    import numpy as np

    sats = [iov.analyze(p, h, iov.Workload.closed(1, 1)).saturation_per_s for p in paths]
    finite = [s for s in sats if math.isfinite(s)]
    frames = []
    for p, sat in zip(paths, sats, strict=True):
        hi, base = (max_utilization, sat) if math.isfinite(sat) else (1.0, max(finite))
        rates = [float(x) for x in np.linspace(0.02, hi, int(points)) * base]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", iov.UnstableQueueWarning)
            frames.append(iov.sweep(p, h, iov.Workload.open(rates[0]), nan_policy="nan",
                                    rate_per_s=rates))
    return pd.concat(frames, ignore_index=True)


def fit_module():
    """``iovmodel.fit`` the module, by import (``iov.fit`` may be the module or the function
    of the same name, depending on what was imported first: use the module's functions)."""
    return importlib.import_module("iovmodel.fit")


def save_figure(fig, out: Path, stem: str) -> list[Path]:
    """The figure as PDF (for LaTeX) and PNG (for the Markdown paper), reproducibly."""
    files = [plot.save(fig, out / f"{stem}.pdf", overwrite=True),
             plot.save(fig, out / f"{stem}.png", overwrite=True, dpi=200)]
    import matplotlib.pyplot as plt

    plt.close(fig)
    return files


_LATEX_ESCAPE = {"\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#",
                 "_": r"\_", "{": r"\{", "}": r"\}", "~": r"\textasciitilde{}",
                 "^": r"\textasciicircum{}", "µ": r"\textmu{}", "×": r"$\times$",
                 "±": r"$\pm$", "∞": r"$\infty$", "…": r"\dots{}", "–": "--", "≤": r"$\le$", "≥": r"$\ge$", "|": r"\textbar{}"}


def latex_escape(text: Any) -> str:
    return "".join(_LATEX_ESCAPE.get(ch, ch) for ch in str(text))


def _fmt(v: Any, fmt: str | Callable[[Any], str] | None) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "–"
    if callable(fmt):
        return fmt(v)
    if fmt and isinstance(v, int | float):
        return format(v, fmt)
    return str(v)


def write_table(df: pd.DataFrame, out: Path, stem: str, caption: str,
                formats: dict[str, str | Callable[[Any], str]] | None = None,
                align: str | None = None) -> list[Path]:
    """Write ``stem.tex`` (booktabs tabular in a table float) and ``stem.md`` (pipe table).

    Both are written whole and atomically (a reader never sees half a table), and
    the same frame gives the same bytes.
    """
    formats = formats or {}
    cols = list(df.columns)
    cells = [[_fmt(row[c], formats.get(c)) for c in cols] for _, row in df.iterrows()]
    numeric = [pd.api.types.is_numeric_dtype(df[c]) for c in cols]
    align = align or "".join("r" if n else "l" for n in numeric)
    tex = [r"\begin{table}[t]", r"\centering", r"\small",
           rf"\caption{{{latex_escape(caption)}}}", rf"\label{{tab:{stem}}}",
           rf"\begin{{tabular}}{{{align}}}", r"\toprule",
           " & ".join(latex_escape(c) for c in cols) + r" \\", r"\midrule"]
    tex += [" & ".join(latex_escape(v) for v in row) + r" \\" for row in cells]
    tex += [r"\bottomrule", r"\end{tabular}", r"\end{table}", ""]
    sep = ["---:" if n else ":---" for n in numeric]
    md = ["| " + " | ".join(cols) + " |", "| " + " | ".join(sep) + " |"]
    md += ["| " + " | ".join(v.replace("|", "\\|") for v in row) + " |" for row in cells]
    md += ["", f": {caption}", ""]
    return [_write_text(out / f"{stem}.tex", "\n".join(tex)),
            _write_text(out / f"{stem}.md", "\n".join(md))]


def _write_text(path: Path, text: str) -> Path:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)
    return path


def write_numbers(out: Path, stem: str, numbers: dict[str, Any]) -> Path:
    """The numbers a script contributes to the text, as JSON (sorted, stable)."""
    return _write_text(out / f"{stem}.json",
                       json.dumps(numbers, indent=1, sort_keys=True, default=float) + "\n")


def available(modules: Sequence[str]) -> tuple[bool, str]:
    """Whether every module imports; else the first failure, as a reason."""
    for m in modules:
        try:
            importlib.import_module(m)
        except Exception as exc:  # an optional part of the package that has not landed
            return False, f"{m} is not importable ({type(exc).__name__}: {exc})"
    return True, ""


def cli(main: Callable[..., dict], doc: str | None) -> None:
    """Run one script alone: ``--out DIR`` (default paper/build) and ``--fast``."""
    ap = argparse.ArgumentParser(description=(doc or "").strip().splitlines()[0])
    ap.add_argument("--out", type=Path, default=Path(__file__).parent / "build")
    ap.add_argument("--fast", action="store_true", help="fewer points, shorter simulations")
    args = ap.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    numbers = main(args.out, fast=args.fast)
    print(json.dumps(numbers, indent=1, sort_keys=True, default=float))


def key(name: str) -> str:
    """A path name as a key of the numbers the text quotes (``virtio-blk`` -> ``virtio_blk``)."""
    return name.replace("-", "_").replace(".", "_")


#: A dataset enters the model-vs-measurement comparison with at least this many rows
#: the model can predict; cross-validation needs twice as many.
MIN_ROWS = 3
#: In fast mode a dataset is cut to this many rows (evenly spread) before fitting.
FAST_ROWS = 40


@functools.lru_cache(maxsize=2)
def dataset_comparison(fast: bool = False) -> dict[str, Any]:
    """Predict every bundled dataset with the default costs, then calibrate per dataset.

    Each dataset comes from one lab (one machine), so each gets its own fit; a
    shared fit across labs would blend different hardware. Held-out error: fit on
    two rows in three, predict the third (``iov.crossval``), with the share of those rows
    inside the fit's 95 % prediction band.

    Returns ``{"summary": DataFrame (one row per dataset), "default": residuals,
    "fitted": residuals, "skipped": {dataset: reason}}``.
    """
    import warnings

    import numpy as np

    F = fit_module()
    summary, default, fitted, skipped = [], [], [], {}
    for name in iov.datasets.list()["name"]:
        d = iov.datasets.load(name)
        m = d[F.predictable(d)["predictable"].to_numpy()].reset_index(drop=True)
        if fast and len(m) > FAST_ROWS:  # a fixed, spread-out subset: same rows every run
            m = m.iloc[np.linspace(0, len(m) - 1, FAST_ROWS).round().astype(int)]
            m = m.reset_index(drop=True)
        if len(m) < MIN_ROWS:
            skipped[name] = f"{len(m)} of {len(d)} rows predictable (< {MIN_ROWS})"
            continue
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            r0 = F.predict(m)
            try:
                f = F.fit(m, max_nfev=30 if fast else None)
            except iov.IovModelError as exc:
                skipped[name] = f"fit failed: {exc}"
                continue
            cv_err = cv_in = float("nan")
            cv_n = 0
            if len(m) >= 2 * MIN_ROWS:
                try:
                    cv = F.crossval(m, train=np.arange(len(m)) % 3 != 2,
                                      max_nfev=30 if fast else None, level=0.95)
                    cv_err = float(cv["rel_error"].abs().median())
                    inside = cv["inside"].dropna()
                    cv_n = len(inside)
                    cv_in = float(inside.mean()) if cv_n else float("nan")
                except iov.IovModelError:
                    pass
        r1 = f.residuals
        not_identifiable = int((~f.params["identifiable"]).sum())
        summary.append({
            "dataset": name, "rows": len(m), "of": len(d),
            "paths": ", ".join(sorted(set(m["path"]))),
            "metrics": ", ".join(sorted(set(m["metric"]))),
            "default_err": float(r0["rel_error"].abs().median()),
            "fitted_err": float(r1["rel_error"].abs().median()),
            "heldout_err": cv_err,
            # held-out rows inside the 95 % prediction band of the fit that left them out
            "heldout_in_band": cv_in, "heldout_n": cv_n,
            "no_prediction": int(r1["predicted"].isna().sum()),
            "free": len(f.free), "not_identifiable": not_identifiable,
            "warnings": len(caught),
        })
        default.append(r0.assign(dataset=name))
        fitted.append(r1.assign(dataset=name))
    return {"summary": pd.DataFrame(summary),
            "default": pd.concat(default, ignore_index=True) if default else pd.DataFrame(),
            "fitted": pd.concat(fitted, ignore_index=True) if fitted else pd.DataFrame(),
            "skipped": skipped}
