"""``iovmodel probe [--quick] [--out FILE] [--overwrite]``: measure this host through /dev/kvm."""

from __future__ import annotations

import argparse
import io
import signal
import sys

import pandas as pd

from .. import _validate
from .._text import WIDTH, wrap
from ..errors import IovModelError
from . import compare, costs, kvm, results, runner


def build_parser(prog: str = "iovmodel probe") -> argparse.ArgumentParser:
    """The argument parser of the probe subcommand."""
    p = argparse.ArgumentParser(
        prog=prog,
        description="Measure this host's VM I/O hop costs (exits, ioeventfd, irqfd, wake-ups, "
                    "a shared mutex) with a tiny VM built from /dev/kvm ioctls.")
    p.add_argument("--quick", action="store_true",
                   help="fewer samples and shorter runs (well under 30 s)")
    p.add_argument("--out", metavar="FILE",
                   help="save the results as CSV (tidy measured-data schema)")
    p.add_argument("--overwrite", action="store_true", help="replace FILE if it exists")
    p.add_argument("--deadline", type=float, default=None, metavar="S",
                   help=f"limit of the whole run, seconds (default {runner.QUICK_DEADLINE_S:g} "
                        f"with --quick, {runner.FULL_DEADLINE_S:g} otherwise); steps left "
                        "when it passes are skipped and listed")
    p.add_argument("--guest", action="append", choices=runner.GUESTS,
                   help="guest mode to measure (repeatable; default: real and long)")
    p.add_argument("--detect", action="store_true",
                   help="only describe /dev/kvm (access, API, capabilities, regime)")
    p.add_argument("--seed", type=int, default=0, help="seed of the mutex model's Monte Carlo")
    return p


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    """Run the probe subcommand; return the process exit status (0 ok, 1 unusable, 2 error)."""
    args = build_parser().parse_args(argv)
    out = sys.stdout
    det = kvm.detect()
    if args.detect:
        print(det.summary(), file=out)
        return 0 if det.usable else 1
    if not det.usable:
        print(f"iovmodel probe: cannot run: {det.reason}", file=sys.stderr)
        return 1
    try:  # checked before measuring, so no result is lost to a bad --out
        if args.out:
            _validate.output_file(args.out, overwrite=args.overwrite, flag="--overwrite")
    except (FileExistsError, IovModelError) as exc:
        print(f"iovmodel probe: {exc}", file=sys.stderr)
        return 2
    old_term = signal.signal(signal.SIGTERM, _interrupt)  # `kill` cleans up like Ctrl-C
    try:
        df = runner.run(quick=args.quick, guests=tuple(args.guest or runner.GUESTS),
                        progress=out.isatty(), deadline_s=args.deadline)
    except IovModelError as exc:
        print(f"iovmodel probe: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("iovmodel probe: interrupted; nothing written", file=sys.stderr)
        return 130
    finally:
        signal.signal(signal.SIGTERM, old_term)
    real_out, out = out, io.StringIO()  # the report, wrapped to 100 columns at the end
    print(det.summary(), file=out)
    regimes = df[df["path"] == "guest-compute-loop"][["guest", "value", "guest_exec"]]
    for r in regimes.itertuples(index=False):
        print(f"  guest {r.guest}: {r.value * 1000:.3g} ns per loop iteration -> {r.guest_exec}",
              file=out)
    with pd.option_context("display.width", WIDTH, "display.max_rows", 200):
        print("\nhop costs (µs; exit_time_us = per access, from loop differences):", file=out)
        print(results.summary(df).to_string(index=False, float_format="{:.3f}".format,
                                            line_width=WIDTH), file=out)
        measured = costs.costs_from_results(df)
        print("\nHostProfile costs (iovmodel.probe.to_profile):", file=out)
        for k, v in measured.items():
            print(f"  {k:16s} {v:10.3f}   <- {costs.COST_MAP[k]}", file=out)
        mx = df[(df["path"] == "mutex-exits") & (df["metric"].isin(
            ["exits_per_s", "latency_p50_us", "latency_p99_us"]))]
        if len(mx):
            wide = mx.pivot_table(index=["guest", "mutex", "hold_us"],
                                  columns=["metric", "vcpus"], values="value")
            print("\nmutex experiment (V vCPU threads; exits/s, per-exit p50/p99 µs):", file=out)
            print(wide.to_string(float_format="{:.4g}".format, line_width=WIDTH), file=out)
            cmp = compare.compare_mutex(df, seed=args.seed)
            print("\n" + cmp.report(), file=out)
    print(wrap(out.getvalue()), file=real_out)
    out = real_out
    if args.out:
        try:
            path = results.save(df, args.out, overwrite=args.overwrite)
        except (FileExistsError, IovModelError, OSError) as exc:
            print(f"iovmodel probe: {exc}", file=sys.stderr)
            return 2
        print(f"\nsaved {len(df)} rows to {path}", file=out)
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
