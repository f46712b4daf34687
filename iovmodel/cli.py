"""Command line: ``iovmodel report | paths | compare | sweep | simulate | fit | probe | figures``."""

from __future__ import annotations

import argparse
import math
import sys
from collections.abc import Sequence
from pathlib import Path as FsPath

import pandas as pd

from ._io import write_atomic
from ._text import WIDTH, wrap
from ._validate import output_dir, output_file
from .assumptions import UNBOUNDED, frame_blocks, text_block, uses_page_cache
from .errors import IovModelError, ParameterError
from .solve.analyze import analyze, compare, sweep
from .spec.catalog import path, paths
from .spec.profile import HostProfile
from .spec.workload import Workload

BLOCK_SIZE = 4096  # 4 KiB random read
NET_SIZE = 64  # 64-byte request/response
#: (column label, path, options) of the global-mutex scaling table
#: the global-mutex comparison of the Ssup2 Blog article (S00), stated as it does for a guest
#: whose CPUs never queue (vcpus="inf"): with the catalog's default single vCPU the guest's CPU
#: binds the fast paths first and a second vhost worker has no second virtqueue to serve
_SEED_GUEST = {"vcpus": "inf"}
SCALING_PATHS = (("virtio-blk", "virtio-blk", dict(_SEED_GUEST)),
                 ("iothread", "virtio-blk-iothread", dict(_SEED_GUEST)),
                 ("vhost-scsi", "vhost-scsi", dict(_SEED_GUEST)),
                 ("vhost-scsi w4", "vhost-scsi", {"workers": 4, **_SEED_GUEST}))
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
            "path": name, "device": p.device,
            "storage": ("" if p.device != "blk" else
                        "page cache" if uses_page_cache(p) else "device"),
            "workload": f"{'4KiB randread' if p.device != 'net' else '64B req/resp'}",
            "latency_us": r.zero_load_latency_us, "saturation_kiops": r.saturation_per_s / 1e3,
            "bottleneck": r.bottleneck, "host_cpu_us": r.cpu_us_per_io,
            "exits": ms["vm_exits"], "user_exits": ms["user_exits"], "syscalls": ms["syscalls"],
            "wakeups": ms["wakeups"], "injections": ms["injections"],
            **{c: v for c, v in r.to_frame().iloc[0].items() if c.startswith("assumed_")},
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
                          "bottleneck_utilization", *(c for c in df if c.startswith("assumed_"))]])
    return pd.concat(frames, ignore_index=True)


#: the report's sections of the catalog table: (title, rows), in order
SECTIONS = (("block paths served by a device", lambda df: df["storage"] == "device"),
            ("block paths served from the host page cache (a page-cache hit: no device access)",
             lambda df: df["storage"] == "page cache"),
            ("network paths", lambda df: df["storage"] == ""))


def _fmt_catalog(df: pd.DataFrame) -> str:
    head = (f"{'path':<22}{'lat µs':>8}{'sat kIOPS':>10}{'bottleneck':>11}{'hostCPU':>8}"
            f"{'exits':>7}{'uexit':>6}{'sysc':>5}{'wake':>5}{'inj':>5}")
    lines = [head, "-" * len(head)]
    for title, rows in SECTIONS:
        part = df[rows(df)]
        if len(part):
            lines.append(f"-- {title}")
            lines += _fmt_rows(part)
    return "\n".join(lines)


def _fmt_rows(df: pd.DataFrame) -> list[str]:
    lines = []
    for _, r in df.iterrows():
        unbounded = math.isinf(r.saturation_kiops)
        sat = UNBOUNDED if unbounded else f"{r.saturation_kiops:,.0f}"
        neck = "none" if unbounded else r.bottleneck
        lines.append(f"{r.path:<22}{r.latency_us:>8.1f}{sat:>10}{neck:>11}{r.host_cpu_us:>8.1f}"
                     f"{r.exits:>7.1f}{r.user_exits:>6.1f}{r.syscalls:>5.1f}{r.wakeups:>5.1f}"
                     f"{r.injections:>5.1f}")
    return lines


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


def write_csv(df: pd.DataFrame, file: FsPath, overwrite: bool = False) -> None:
    """Write a CSV atomically (a reader never sees half a file), never over a file unless asked."""
    write_atomic(file, df.to_csv(index=False), overwrite=overwrite, flag="--overwrite")


def _target(file: str | None, overwrite: bool) -> FsPath | None:
    """An output file checked before the work starts (exists? folder writable?)."""
    return None if not file else output_file(file, overwrite=overwrite, flag="--overwrite")


def _value(text: str) -> int | float | bool | str:
    """A knob value as typed: integer, float, true/false, or the word itself."""
    low = text.strip().lower()
    if low in ("true", "yes", "on"):
        return True
    if low in ("false", "no", "off"):
        return False
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text.strip()


def _pairs(items: Sequence[str] | None, flag: str) -> dict[str, object]:
    """``["a=1", "b=2.5"]`` -> ``{"a": 1, "b": 2.5}``; a malformed or repeated item is an error."""
    out: dict[str, object] = {}
    for item in items or ():
        name, eq, value = item.partition("=")
        name = name.strip()
        if not eq or not name or not value.strip():
            raise ParameterError(f"{flag} must look like NAME=VALUE, got {item!r}")
        if name in out:
            raise ParameterError(f"{flag} {name} given twice ({out[name]!r} and {value!r})")
        out[name] = _value(value)
    return out


def _host(args) -> HostProfile:
    host = (HostProfile.from_file(args.profile) if getattr(args, "profile", None)
            else HostProfile.default())
    costs = _pairs(getattr(args, "set", None), "--set")
    for name, v in costs.items():
        if isinstance(v, bool) or not isinstance(v, int | float):
            raise ParameterError(f"--set {name}: a host cost is a number, got {v!r}")
    return host.replace(**{k: float(v) for k, v in costs.items()}) if costs else host


def _with_options(names: Sequence[str], args) -> list:
    """The named paths with the ``--option`` values applied to each path that has them."""
    opts = _pairs(getattr(args, "option", None), "--option")
    ps = [path(n) for n in names]
    for k in opts:
        if not any(k in p.options for p in ps):
            known = sorted({o for p in ps for o in p.options})
            raise ParameterError(f"--option {k}: no path given has this option; theirs: "
                                 f"{', '.join(known) or 'none'}")
    return [p.with_options(**{k: v for k, v in opts.items() if k in p.options}) for p in ps]


def _setting(host: HostProfile, w: Workload, args) -> str:
    """One line saying what was solved: the profile, changed costs, options, the workload."""
    parts = [f"host {host.name!r}"]
    parts += [f"{k}={v:g}" for k, v in _pairs(getattr(args, "set", None), "--set").items()]
    parts += [f"{k}={v}" for k, v in _pairs(getattr(args, "option", None), "--option").items()]
    return "# " + ", ".join(parts) + f"; {w!r}"


def cmd_report(args: argparse.Namespace) -> int:
    out = output_dir(args.out, create=True, what="--out folder")
    targets = [output_file(out / n, overwrite=args.overwrite, flag="--overwrite")
               for n in ("catalog.csv", "mutex_scaling.csv")]
    host = _host(args)
    cat = catalog_table(host)
    sc = scaling_table(host)
    print(f"iovmodel report — host profile {host.name!r} (costs + sources: HostProfile.to_frame())")
    print("\nEvery catalog path at zero load (block: 4 KiB random read; net: 64 B request/response).")
    print("latency = one I/O that never waits; sat = throughput bound; host CPU µs per I/O;")
    print("mode switches per I/O: VM exits, exits to userspace, host syscalls, wake-ups, injections.\n")
    print(_fmt_catalog(cat))
    print()
    print(text_block(frame_blocks(cat)))
    print("\nThe global mutex: 4 KiB random reads, iodepth 1, jobs 1..64 (exact MVA), a vCPU "
          "per request\n(vcpus=inf: the setting of S00, the Ssup2 Blog article; the table above "
          "uses the\ndefault guest of one vCPU).\n")
    print(_fmt_scaling(sc))
    print()
    first = sc[sc["jobs"] == SCALING_JOBS[0]].assign(  # one row per column of the table
        assumed_workload=f"closed: jobs {SCALING_JOBS[0]}..{SCALING_JOBS[-1]} (the rows) x "
                         f"iodepth 1, {BLOCK_SIZE:,} B requests")
    print(text_block(frame_blocks(first, by=["label"])))
    write_csv(cat, targets[0], overwrite=args.overwrite)
    write_csv(sc, targets[1], overwrite=args.overwrite)
    print(f"\nwrote {targets[0]}\n  and {targets[1]}")
    return 0


def _workload(args) -> Workload:
    batch = int(args.batch) if float(args.batch).is_integer() else args.batch
    if args.rate is not None:
        if args.think:
            raise ParameterError(f"--think {args.think:g}: an open workload (--rate) has no "
                                 "think time")
        return Workload.open(args.rate, size_bytes=args.size, batch=batch)
    return Workload.closed(args.jobs, args.iodepth, think_us=args.think, size_bytes=args.size,
                           batch=batch)


def cmd_paths(args: argparse.Namespace) -> int:
    with pd.option_context("display.width", 100, "display.max_columns", 8):
        print(paths()[["name", "family", "device", "hops", "vm_exits", "user_exits"]].to_string(index=False))
    return 0


def _print_table(df: pd.DataFrame) -> None:
    with pd.option_context("display.width", WIDTH, "display.max_columns", 12):
        print(df.to_string(index=False, float_format=lambda x: f"{x:,.2f}", line_width=WIDTH))


def cmd_compare(args: argparse.Namespace) -> int:
    csv = _target(args.csv, args.overwrite)
    host, w = _host(args), _workload(args)
    df = compare(_with_options(args.paths, args), host, w)
    cols = ["path", "throughput_per_s", "latency_us", "cpu_us_per_io", "bottleneck", "vm_exits"]
    print(_setting(host, w, args))
    _print_table(df[cols])
    print("\n" + text_block(frame_blocks(df)))
    if csv:
        write_csv(df, csv, overwrite=args.overwrite)
    return 0


def cmd_sweep(args: argparse.Namespace) -> int:
    csv = _target(args.csv, args.overwrite)
    knobs: dict[str, list] = {}
    for item in args.knob:
        knob, _, values = item.partition("=")
        if not values or not knob.strip():
            raise ParameterError(f"--knob must look like jobs=1,2,4 (got {item!r})")
        if knob.strip() in knobs:
            raise ParameterError(f"--knob {knob.strip()} given twice")
        if any(not v.strip() for v in values.split(",")):
            raise ParameterError(f"--knob {item!r} has an empty value (values are V1,V2,...)")
        knobs[knob.strip()] = [_value(v) for v in values.split(",")]
    host, w = _host(args), _workload(args)
    (p,) = _with_options([args.path], args)
    df = sweep(p, host, w, nan_policy=args.nan_policy, **knobs)
    print(_setting(host, w, args))
    _print_table(df[[*knobs, "throughput_per_s", "latency_us", "bottleneck"]])
    print("\n" + text_block(frame_blocks(df, by=["path", *knobs]), max_values=1))
    if csv:
        write_csv(df, csv, overwrite=args.overwrite)
    return 0


def cmd_simulate(args: argparse.Namespace) -> int:
    from .solve.sim import simulate

    host, w = _host(args), _workload(args)
    (p,) = _with_options([args.path], args)
    r = simulate(p, host, w, requests=args.requests, replications=args.replications,
                 seed=args.seed, engine=args.engine, progress=False,
                 **({} if args.warmup is None else {"warmup": _value(args.warmup)}))
    print(_setting(host, w, args))
    print(wrap(r.summary() if hasattr(r, "summary") else repr(r)))
    return 0


def cmd_fit(args: argparse.Namespace) -> int:
    from . import datasets
    from .fit import fit

    target = _target(args.profile_out, args.overwrite)  # refused before the fit, not after
    depths = _depths(args.predict_iodepth)  # a bad list is refused before the fit too
    if args.predict_jobs < 1:
        raise ParameterError(f"--predict-jobs must be a whole number >= 1, got {args.predict_jobs}")
    if args.predict_jobs != 1 and not depths:
        raise ParameterError("--predict-jobs sets the jobs of --predict-iodepth's predictions; "
                             "give --predict-iodepth too")
    # a bundled dataset's name, else a file or glob (fio JSON, iperf3 JSON, tidy CSV)
    if args.group is not None and args.by is None:
        raise ParameterError("--group names one group of a hierarchical fit; give --by too")
    bundled = set(datasets.list()["name"])
    sources = [datasets.load(n) if n in bundled else n for n in args.datasets]
    res = fit(sources, path=args.path, options=args.options, metrics="auto",
              batching=args.batching, by=args.by)
    res.report()
    profile = res.profile
    if args.by is not None and (depths or target or args.group is not None):
        # a hierarchical fit has one profile per group: the one asked for, by name
        groups = sorted(res.per_group or {})
        if args.group is None:
            raise ParameterError(f"--by {args.by} fits one profile per group; name the one "
                                 f"--profile-out writes and --predict-iodepth predicts from "
                                 f"with --group (groups: {', '.join(groups)})")
        if args.group not in groups:
            raise ParameterError(f"--group {args.group!r} is not a group of --by {args.by} "
                                 f"(groups: {', '.join(groups)})")
        profile = res.profile_of(args.group)
    if depths:
        _print_predictions(res, args, depths)
    if target:
        profile.to_file(target, overwrite=args.overwrite)
    return 0


def _depths(text: str | None) -> list[int]:
    """``--predict-iodepth 32,64`` as whole numbers >= 1."""
    if not text:
        return []
    out = []
    for v in text.split(","):
        try:
            n = float(v)
        except ValueError:
            n = math.nan
        if not (math.isfinite(n) and n >= 1 and n == int(n)):
            raise ParameterError(f"--predict-iodepth takes whole numbers >= 1 separated by "
                                 f"commas (32,64), got {v.strip()!r} in {text!r}")
        out.append(int(n))
    return out


def _print_predictions(res, args: argparse.Namespace, depths: list[int]) -> None:
    """IOPS and mean latency of the fitted path at the unmeasured iodepths, with their 95 %
    prediction bands (FitResult.predict(level=0.95))."""
    paths = sorted(set(res.residuals["path"].astype(str)))
    path = args.path or (paths[0] if len(paths) == 1 else None)
    if path is None:
        raise ParameterError(f"--predict-iodepth: the fitted rows measure {len(paths)} paths "
                             f"({', '.join(paths)}); name the one to predict with --path")
    group = {args.by: args.group} if args.by is not None else {}
    rows = pd.DataFrame([{"path": path, "options": args.options or "", "metric": m,
                          "jobs": args.predict_jobs, "iodepth": d, **group}
                         for d in depths for m in ("iops", "latency_us")])
    out = res.predict(rows, level=0.95)
    whose = f"group {args.group!r}'s" if group else "the"
    print(f"\npredicted for {path} with {whose} fitted profile, jobs {args.predict_jobs}: "
          "95 % band [lo, hi] (the costs' uncertainty and the fit's own misses)")
    for _, r in out.iterrows():
        print(f"  iodepth {int(r['iodepth']):>4}  {r['metric']:<11} {r['predicted']:>12,.1f}  "
              f"[{r['predicted_lo']:,.1f}, {r['predicted_hi']:,.1f}]")


def cmd_probe(args, rest: Sequence[str]) -> int:
    from .probe.cli import main as probe_main

    return int(probe_main(list(rest)))


def cmd_figures(args: argparse.Namespace) -> int:
    import runpy

    script = FsPath(__file__).resolve().parent.parent / "paper" / "build.py"
    if not script.exists():
        print("paper/build.py is not in this installation (figures are built from a source checkout)")
        return 1
    sys.argv = ([str(script)] + (["--fast"] if args.fast else [])
                + (["--overwrite"] if args.overwrite else [])
                + (["--out", str(args.out)] if args.out else []))
    try:
        runpy.run_path(str(script), run_name="__main__")
    except SystemExit as exc:
        return int(exc.code or 0) if not isinstance(exc.code, str) else 2
    return 0


def _add_workload(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("workload (iov.Workload)")
    g.add_argument("--rate", type=float, default=None,
                   help="open workload: Poisson arrivals, I/O per second")
    g.add_argument("--jobs", type=int, default=1, help="closed workload: fio numjobs (default 1)")
    g.add_argument("--iodepth", type=int, default=1, help="closed workload: per job (default 1)")
    g.add_argument("--think", type=float, default=0.0, help="closed workload: think time, µs")
    g.add_argument("--size", type=int, default=BLOCK_SIZE, help="request size, bytes (default 4096)")
    g.add_argument("--batch", type=float, default=1,
                   help="requests per kick/interrupt, a mean >= 1 (default 1)")
    h = p.add_argument_group("host and path")
    h.add_argument("--profile", help="HostProfile TOML file (default: the bundled profile)")
    h.add_argument("--set", action="append", metavar="COST=VALUE",
                   help="change one host cost, e.g. --set vmexit_us=1.2 (repeatable)")
    h.add_argument("--option", action="append", metavar="NAME=VALUE",
                   help="a path option, e.g. --option workers=4 (repeatable; applied to each "
                        "path that has it)")


def _sub(sub, name: str, help: str, example: str) -> argparse.ArgumentParser:
    """A subcommand whose --help ends with an example."""
    return sub.add_parser(name, help=help, description=help, epilog=f"example:\n  {example}",
                          formatter_class=argparse.RawDescriptionHelpFormatter)


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="iovmodel", description=__doc__,
                                 epilog="every subcommand has --help with an example")
    sub = ap.add_subparsers(dest="cmd", required=True)
    r = _sub(sub, "report", "catalog table + global-mutex scaling; CSVs under out/",
             "iovmodel report --out out --set vmexit_us=1.2")
    r.add_argument("--out", default="out", help="directory of the CSVs (default out/)")
    r.add_argument("--overwrite", action="store_true", help="replace existing CSVs in --out")
    r.add_argument("--profile", help="HostProfile TOML file (default: the bundled profile)")
    r.add_argument("--set", action="append", metavar="COST=VALUE",
                   help="change one host cost, e.g. --set vmexit_us=1.2 (repeatable)")
    _sub(sub, "paths", "list the catalog", "iovmodel paths")
    c = _sub(sub, "compare", "compare paths under one workload (iov.compare)",
             "iovmodel compare virtio-net vhost-net --size 64 --jobs 4 --option workers=2")
    c.add_argument("paths", nargs="+", help="catalog path names")
    c.add_argument("--csv", help="also write the full table here")
    c.add_argument("--overwrite", action="store_true", help="replace an existing --csv file")
    _add_workload(c)
    s = _sub(sub, "sweep", "analyze one path over a grid of knobs (iov.sweep)",
             "iovmodel sweep vhost-scsi --knob jobs=1,2,4,8 --knob workers=1,4 --csv s.csv")
    s.add_argument("path", help="a catalog path name")
    s.add_argument("--knob", required=True, action="append", metavar="NAME=V1,V2,...",
                   help="a workload field, path option or host cost and its values "
                        "(repeatable: the Cartesian product)")
    s.add_argument("--nan-policy", choices=("raise", "nan"), default="nan",
                   help="an unstable open point: NaN (default) or an error")
    s.add_argument("--csv", help="also write the full table here")
    s.add_argument("--overwrite", action="store_true", help="replace an existing --csv file")
    _add_workload(s)
    m = _sub(sub, "simulate", "Monte Carlo simulation of one path (iov.simulate)",
             "iovmodel simulate vhost-scsi --jobs 8 --iodepth 4 --option workers=2 --seed 7")
    m.add_argument("path", help="a catalog path name")
    m.add_argument("--requests", type=int, default=200_000, help="per replication")
    m.add_argument("--replications", type=int, default=8)
    m.add_argument("--seed", type=int, default=1, help="same seed, same numbers (default 1)")
    m.add_argument("--warmup", default=None,
                   help="requests dropped at the start of each replication: a fraction, a "
                        "count, or 'mser5' (default: the API's, iovmodel.solve.sim.WARMUP_FRACTION)")
    m.add_argument("--engine", default="auto", help="simulator engine (default auto)")
    _add_workload(m)
    f = _sub(sub, "fit", "fit the host profile to your measurement files or bundled datasets",
             "iovmodel fit runs/*.json --path virtio-blk --profile-out fitted.toml")
    f.add_argument("datasets", nargs="+", metavar="FILE_OR_DATASET",
                   help="fio JSON/json+, iperf3 -J or tidy CSV files (globs too), or names of "
                        "bundled datasets (iov.datasets.list())")
    f.add_argument("--path", default=None,
                   help="the catalog path the fio/iperf3 outputs measured (they do not say)")
    f.add_argument("--options", default=None, help="its path options, 'key=value;...'")
    f.add_argument("--profile-out", help="write the fitted profile here (TOML)")
    f.add_argument("--batching", choices=("amortised", "load"), default=None,
                   help="'load': notification suppression, batch = 1/(1-rho) of the backend; "
                        "default: each path's own ('load' on firecracker-virtio-blk and "
                        "cloudhv-virtio-blk)")
    f.add_argument("--by", metavar="COLUMN", default=None,
                   help="a hierarchical fit: each group of this column (hardware, source) its "
                        "own costs of kind 'hardware' (device, OS stacks, copies, system "
                        "calls), the virtualization costs shared")
    f.add_argument("--group", default=None,
                   help="with --by: the group whose profile --profile-out writes and "
                        "--predict-iodepth predicts from")
    f.add_argument("--overwrite", action="store_true", help="replace an existing --profile-out")
    f.add_argument("--predict-iodepth", metavar="N[,N...]", default=None,
                   help="then predict IOPS and mean latency at these iodepths, with 95 %% bands")
    f.add_argument("--predict-jobs", type=int, default=1,
                   help="fio numjobs of those predictions (default 1)")
    sub.add_parser("probe", help="measure this host through /dev/kvm (see: iovmodel probe --help)",
                   add_help=False)
    g = _sub(sub, "figures", "rebuild the paper's figures and tables", "iovmodel figures --fast")
    g.add_argument("--fast", action="store_true", help="fewer points, short simulations")
    g.add_argument("--out", default=None, help="output folder (default paper/build/)")
    g.add_argument("--overwrite", action="store_true", help="replace the files of a former build")
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] == "probe":
        return cmd_probe(None, argv[1:])
    args = ap.parse_args(argv)
    try:
        return {"report": cmd_report, "paths": cmd_paths, "compare": cmd_compare,
                "sweep": cmd_sweep, "simulate": cmd_simulate, "fit": cmd_fit,
                "figures": cmd_figures}[args.cmd](args)
    except (IovModelError, OSError) as exc:  # FileExistsError, an unwritable path, ...
        print(f"iovmodel: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("iovmodel: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
