"""Command line: ``iovmodel report | paths | compare | sweep | simulate | fit | probe | figures``."""

from __future__ import annotations

import argparse
import math
import sys
from collections.abc import Sequence
from pathlib import Path as FsPath

import pandas as pd

from ._io import write_atomic
from .errors import IovModelError
from .model import analyze, compare, sweep
from .spec.catalog import path, paths
from .spec.profile import HostProfile
from .spec.workload import Workload

BLOCK_SIZE = 4096  # 4 KiB random read
NET_SIZE = 64  # 64-byte request/response
#: (column label, path, options) of the global-mutex scaling table
SCALING_PATHS = (("virtio-blk", "virtio-blk", {}), ("iothread", "virtio-blk-iothread", {}),
                 ("vhost-scsi", "vhost-scsi", {}), ("vhost-scsi w4", "vhost-scsi", {"workers": 4}))
SCALING_JOBS = (1, 2, 4, 8, 16, 32, 64)


def _size_for(p) -> int:
    return NET_SIZE if p.device == "net" else BLOCK_SIZE


def catalog_table(host: HostProfile) -> pd.DataFrame:
    """Every catalog path at zero load: latency, saturation, host CPU, mode switches per I/O."""
    rows = []
    for name in paths()["name"]:
        p = path(name)
        w = Workload.closed(1, 1, size_bytes=_size_for(p))
        r = analyze(p, host, w)
        ms = p.mode_switches().iloc[0]
        rows.append({
            "path": name, "device": p.device, "workload": f"{'4KiB randread' if p.device != 'net' else '64B req/resp'}",
            "latency_us": r.zero_load_latency_us, "saturation_kiops": r.saturation_per_s / 1e3,
            "bottleneck": r.bottleneck, "host_cpu_us": r.cpu_us_per_io,
            "exits": ms["vm_exits"], "user_exits": ms["user_exits"], "syscalls": ms["syscalls"],
            "wakeups": ms["wakeups"], "injections": ms["injections"],
        })
    return pd.DataFrame(rows)


def scaling_table(host: HostProfile) -> pd.DataFrame:
    """Throughput and latency vs jobs (iodepth 1) for the global-mutex comparison."""
    frames = []
    for label, name, opts in SCALING_PATHS:
        df = sweep(path(name, **opts), host, Workload.closed(1, 1, size_bytes=BLOCK_SIZE),
                   jobs=list(SCALING_JOBS))
        df.insert(1, "label", label)
        frames.append(df[["jobs", "label", "path", "throughput_per_s", "latency_us", "bottleneck",
                          "bottleneck_utilization"]])
    return pd.concat(frames, ignore_index=True)


def _fmt_catalog(df: pd.DataFrame) -> str:
    head = (f"{'path':<22}{'lat µs':>8}{'sat kIOPS':>10}{'bottleneck':>11}{'hostCPU':>8}"
            f"{'exits':>7}{'uexit':>6}{'sysc':>5}{'wake':>5}{'inj':>5}")
    lines = [head, "-" * len(head)]
    for _, r in df.iterrows():
        sat = "inf" if math.isinf(r.saturation_kiops) else f"{r.saturation_kiops:,.0f}"
        lines.append(f"{r.path:<22}{r.latency_us:>8.1f}{sat:>10}{r.bottleneck:>11}{r.host_cpu_us:>8.1f}"
                     f"{r.exits:>7.1f}{r.user_exits:>6.1f}{r.syscalls:>5.1f}{r.wakeups:>5.1f}"
                     f"{r.injections:>5.1f}")
    return "\n".join(lines)


def _fmt_scaling(df: pd.DataFrame) -> str:
    labels = [lab for lab, _, _ in SCALING_PATHS]
    piv_x = df.pivot(index="jobs", columns="label", values="throughput_per_s")[labels]
    piv_r = df.pivot(index="jobs", columns="label", values="latency_us")[labels]
    head1 = f"{'':>5} {'throughput, kIOPS':^56}{'latency, µs':^36}"
    head2 = f"{'jobs':>5} " + "".join(f"{c:>14}" for c in labels) + "".join(f"{c:>9}" for c in
                                                                         ("vblk", "iothr", "vhost", "vh w4"))
    lines = [head1, head2, "-" * len(head2)]
    for j in piv_x.index:
        lines.append(f"{j:>5} " + "".join(f"{piv_x.loc[j, c] / 1e3:>14.1f}" for c in labels)
                     + "".join(f"{piv_r.loc[j, c]:>9.1f}" for c in labels))
    return "\n".join(lines)


def write_csv(df: pd.DataFrame, file: FsPath, overwrite: bool = True) -> None:
    """Write a CSV atomically (a reader never sees half a file)."""
    file.parent.mkdir(parents=True, exist_ok=True)
    write_atomic(file, df.to_csv(index=False), overwrite=overwrite)


def _host(args) -> HostProfile:
    return HostProfile.from_file(args.profile) if getattr(args, "profile", None) else HostProfile.default()


def cmd_report(args) -> int:
    host = _host(args)
    cat = catalog_table(host)
    sc = scaling_table(host)
    print(f"iovmodel report — host profile {host.name!r} (costs + sources: HostProfile.to_frame())")
    print("\nEvery catalog path at zero load (block: 4 KiB random read; net: 64 B request/response).")
    print("latency = one I/O that never waits; sat = throughput bound; host CPU µs per I/O;")
    print("mode switches per I/O: VM exits, exits to userspace, host syscalls, wake-ups, injections.\n")
    print(_fmt_catalog(cat))
    print("\nThe global mutex: 4 KiB random reads, iodepth 1, jobs 1..64 (exact MVA).\n")
    print(_fmt_scaling(sc))
    out = FsPath(args.out)
    write_csv(cat, out / "catalog.csv")
    write_csv(sc, out / "mutex_scaling.csv")
    print(f"\nwrote {out / 'catalog.csv'}\n  and {out / 'mutex_scaling.csv'}")
    return 0


def _workload(args) -> Workload:
    if args.rate is not None:
        return Workload.open(args.rate, size_bytes=args.size, batch=args.batch)
    return Workload.closed(args.jobs, args.iodepth, think_us=args.think, size_bytes=args.size,
                           batch=args.batch)


def cmd_paths(args) -> int:
    with pd.option_context("display.width", 100, "display.max_columns", 8):
        print(paths()[["name", "family", "device", "hops", "vm_exits", "user_exits"]].to_string(index=False))
    return 0


def cmd_compare(args) -> int:
    df = compare(args.paths, _host(args), _workload(args))
    cols = ["path", "throughput_per_s", "latency_us", "cpu_us_per_io", "bottleneck", "vm_exits"]
    print(df[cols].to_string(index=False, float_format=lambda x: f"{x:,.2f}"))
    if args.csv:
        write_csv(df, FsPath(args.csv), overwrite=args.overwrite)
    return 0


def cmd_sweep(args) -> int:
    knob, _, values = args.knob.partition("=")
    if not values:
        raise IovModelError(f"--knob must look like jobs=1,2,4 (got {args.knob!r})")
    vals = [float(v) if "." in v or "e" in v else int(v) for v in values.split(",")]
    df = sweep(args.path, _host(args), _workload(args), nan_policy="nan", **{knob: vals})
    print(df[[knob, "throughput_per_s", "latency_us", "bottleneck"]].to_string(
        index=False, float_format=lambda x: f"{x:,.2f}"))
    if args.csv:
        write_csv(df, FsPath(args.csv), overwrite=args.overwrite)
    return 0


def cmd_simulate(args) -> int:
    from .sim import simulate

    r = simulate(args.path, _host(args), _workload(args), requests=args.requests,
                 replications=args.replications, seed=args.seed, progress=False)
    print(r.summary() if hasattr(r, "summary") else repr(r))
    return 0


def cmd_fit(args) -> int:
    from . import datasets
    from .fit import fit

    frames = [datasets.load(n) for n in args.datasets]
    res = fit(pd.concat(frames, ignore_index=True), drop_unpredictable=True,
              batching=args.batching)
    print(res.report())
    if args.profile_out:
        res.profile.to_file(args.profile_out, overwrite=args.overwrite)
    return 0


def cmd_probe(args, rest: Sequence[str]) -> int:
    from .probe.cli import main as probe_main

    return int(probe_main(list(rest)))


def cmd_figures(args) -> int:
    import runpy

    script = FsPath(__file__).resolve().parent.parent / "paper" / "build.py"
    if not script.exists():
        print("paper/build.py is not in this installation (figures are built from a source checkout)")
        return 1
    sys.argv = [str(script)] + (["--fast"] if args.fast else [])
    runpy.run_path(str(script), run_name="__main__")
    return 0


def _add_workload(p: argparse.ArgumentParser) -> None:
    p.add_argument("--rate", type=float, default=None, help="open workload: I/O per second")
    p.add_argument("--jobs", type=int, default=1)
    p.add_argument("--iodepth", type=int, default=1)
    p.add_argument("--think", type=float, default=0.0, help="think time, µs")
    p.add_argument("--size", type=int, default=BLOCK_SIZE, help="request size, bytes")
    p.add_argument("--batch", type=int, default=1, help="requests per kick/interrupt")
    p.add_argument("--profile", help="HostProfile TOML file (default: the bundled profile)")


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="iovmodel", description=__doc__)
    sub = ap.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("report", help="catalog table + global-mutex scaling; CSVs under out/")
    r.add_argument("--out", default="out")
    r.add_argument("--profile")
    sub.add_parser("paths", help="list the catalog")
    c = sub.add_parser("compare", help="compare paths under one workload")
    c.add_argument("paths", nargs="+")
    c.add_argument("--csv")
    c.add_argument("--overwrite", action="store_true")
    _add_workload(c)
    s = sub.add_parser("sweep", help="sweep one knob: iovmodel sweep virtio-blk --knob jobs=1,2,4")
    s.add_argument("path")
    s.add_argument("--knob", required=True)
    s.add_argument("--csv")
    s.add_argument("--overwrite", action="store_true")
    _add_workload(s)
    m = sub.add_parser("simulate", help="Monte Carlo simulation of one path")
    m.add_argument("path")
    m.add_argument("--requests", type=int, default=200_000)
    m.add_argument("--replications", type=int, default=8)
    m.add_argument("--seed", type=int, default=1)
    _add_workload(m)
    f = sub.add_parser("fit", help="fit the host profile to bundled datasets")
    f.add_argument("datasets", nargs="+")
    f.add_argument("--profile-out")
    f.add_argument("--batching", choices=("stated", "load"), default="stated",
                   help="'load': notification suppression, batch = 1/(1-rho) of the backend")
    f.add_argument("--overwrite", action="store_true")
    sub.add_parser("probe", help="measure this host through /dev/kvm (see: iovmodel probe --help)",
                   add_help=False)
    g = sub.add_parser("figures", help="rebuild the paper's figures and tables")
    g.add_argument("--fast", action="store_true")
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] == "probe":
        return cmd_probe(None, argv[1:])
    args = ap.parse_args(argv)
    try:
        return {"report": cmd_report, "paths": cmd_paths, "compare": cmd_compare,
                "sweep": cmd_sweep, "simulate": cmd_simulate, "fit": cmd_fit,
                "figures": cmd_figures}[args.cmd](args)
    except (IovModelError, FileExistsError) as exc:
        print(f"iovmodel: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
