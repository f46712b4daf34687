"""The assumptions block: what a table's numbers rest on.

Every number the solvers give rests on choices a reader cannot see in the number itself:
which device cost (or none: a page-cache hit), how many vCPUs, the batch, the queues and
threads, the workload, the host's costs.  :func:`assumptions` reads them from the Path,
the HostProfile, the Workload and the Network -- never from text typed per path -- so a
field a path or network gains (``cores``, ``queues``, an in-flight limit) shows up here
without a change.  :func:`split` keeps what all rows share apart from what differs per
path; :func:`text_block` and :func:`html_block` render it for the terminal and notebooks.
"""

from __future__ import annotations

import html
import math
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

import pandas as pd

from ._expr import compile_expr, evaluate
from .spec.profile import parameters

if TYPE_CHECKING:
    from .network import Network
    from .spec.catalog import Path
    from .spec.profile import HostProfile
    from .spec.workload import Workload

#: the order (and the only names) of an assumptions block's entries
KEYS = ("workload", "batch", "device", "cache", "engine", "vcpus", "vcpu pays", "groups", "options", "host cores", "in flight",
        "host", "saturation")

#: the word a display prints where a throughput bound is infinite
UNBOUNDED = "unbounded"


def _num(v: float) -> str:
    if isinstance(v, bool):
        return str(v).lower()
    if isinstance(v, int | float) and math.isinf(v):
        return "unlimited"
    return f"{v:g}" if isinstance(v, int | float) else str(v)


def workload_text(w: Workload, **point: float) -> str:
    """The workload in words: open rate or closed jobs x iodepth, the request size.

    ``point`` overrides ``rate_per_s``, ``jobs`` or ``iodepth`` (a sweep's point) without
    building a Workload for each.
    """
    if w.is_open:
        head = f"open: Poisson arrivals at {point.get('rate_per_s', w.rate_per_s):,.0f} IO/s"
    else:
        jobs, depth = point.get("jobs", w.jobs), point.get("iodepth", w.iodepth)
        head = (f"closed: {jobs:g} job{'s' if jobs != 1 else ''} x iodepth {depth:g} "
                f"({jobs * depth:g} in flight)")
        if w.think_us:
            head += f", think {w.think_us:g} µs"
    t = w.traffic
    if t is not None:
        what = {"rr": f"{t.protocol.upper()} request/response exchanges of {t.size_bytes:,} B",
                "stream": f"a {t.protocol.upper()} stream of {t.size_bytes:,} B "
                          f"{'writes' if t.protocol == 'tcp' else 'datagrams'}",
                "flood": f"a flood of {t.size_bytes:,} B frames"}[t.kind]
        where = {"tx": "the guest sends", "rx": "the guest receives",
                 "vm2vm": "VM to VM on one host",
                 "hosts": "across hosts through the NIC" + (
                     ", to a VM on the same path" if t.peer == "vm" else ", to a host")}
        solved = (" at its throughput bound" if t.saturating else "")
        return f"{what}, {where[t.direction]}{solved} ({head}; MTU {t.mtu})"
    rw = "" if w.rw == "randread" else f", rw={w.rw}" + (
        f" ({w.read_frac * 100:g} % reads)" if 0 < w.read_frac < 1 else "") + (
        f", fsync every {w.fsync} writes" if w.fsync else "")
    return f"{head}, {w.size_bytes:,} B requests{rw}"


def batch_text(batch: float, batching: str = "amortised") -> str:
    """The batch: requests per kick and per interrupt, and where it came from."""
    if batching == "load":
        return (f"{batch:.3g} requests per kick/interrupt, found from the load "
                "(batching='load': 1/(1 - rho) of the backend; the default where it signals "
                "once per pass)")
    if batching == "fork-join":
        return (f"{batch:g} requests per kick/interrupt; the requests of a batch wait for "
                "each other (batching='fork-join')")
    if batch == 1:
        return "1: a kick and an interrupt per I/O (no notification suppression)"
    return f"{batch:g} requests per kick/interrupt on average (amortised notification)"


def _device_resources(p: Path) -> list[str]:
    """Resources whose time is nobody's CPU: the device, its data path, the wire (not the
    application's wake-up, ``wake``, the other time that passes on no one's CPU)."""
    return [r for r, res in p.resources.items() if res.cpu == "none" and r != "wake"]


def device_text(p: Path, host: Mapping[str, float], w: Workload) -> str:
    """Which device costs the path's numbers use, with their values; or that it has none.

    A path with no device hop says so, with the path's own ``device_note`` (the catalog's
    reason: firecracker-virtio-blk reads a file through the host page cache).
    """
    env = {**dict(host), **dict(p.options), **w.cost_names()}
    costs = parameters()
    names: dict[str, None] = {}  # ordered set: first use on the path
    device = set(_device_resources(p))
    for h in p.active_hops():
        if h.resource not in device or not isinstance(h.cost, str) or evaluate(h.cost, env) == 0:
            continue  # a zero cost: e.g. the transfer beyond 4 KiB of a 4 KiB request
        names.update(dict.fromkeys(sorted(n for n in compile_expr(h.cost)[1] if n in costs)))
        s = p.resources[h.resource].servers
        if isinstance(s, str) and s in costs:
            names[s] = None
    note = getattr(p, "device_note", "")
    if not names:
        if note:
            return note
        if uses_page_cache(p):
            return "none: a host page-cache hit (page_cache_hit=true), no device access"
        return "none in the model: no hop of this path is served by a device"
    parts = []
    for n in names:
        unit = costs[n].unit
        parts.append(f"{n}={host[n]:g}" + ("" if unit == "count" else f" {unit}"))
    return ", ".join(parts) + (f" ({note})" if note else "")


#: what each QEMU I/O engine does per request (catalog option ``aio``)
ENGINES = {
    "threads": "QEMU's block thread pool: a worker wakes and does a blocking preadv/pwritev",
    "native": "Linux AIO: io_submit, completions reaped from the AIO ring in userspace",
    "io_uring": "io_uring: submitted with io_uring_enter, completions reaped from the ring",
}
#: what each QEMU cache mode means for the device (catalog option ``cache``)
CACHES = {
    "none": "cache=none: O_DIRECT, every request reaches the device (the host page cache bypassed)",
    "directsync": "cache=directsync: O_DIRECT and a flush after every write",
    "writeback": "cache=writeback: through the host page cache; writes land in it (not device "
                 "accesses until a flush)",
}


def uses_page_cache(p: Path) -> bool:
    """Whether the path's reads are served from the host page cache (no device access)."""
    return bool(p.options.get("page_cache_hit", False))


def cache_text(p: Path) -> str | None:
    """The host cache a block path reads and writes through; None for paths without one."""
    if "page_cache_hit" not in p.options and "cache" not in p.options:
        return None
    hit = uses_page_cache(p)
    reads = ("every read a page-cache hit: no device access (page_cache_hit=true)" if hit
             else "reads that miss go to the device (page_cache_hit=false)")
    if "cache" in p.options:
        mode = p.options["cache"]
        return CACHES[mode] + ("" if mode != "writeback" else f"; {reads}")
    return f"the host page cache (the drive file is opened without O_DIRECT); {reads}"


def engine_text(p: Path) -> str | None:
    """QEMU's I/O engine of a block path (option ``aio``); None for paths without one."""
    aio = p.options.get("aio")
    if aio is None:
        return None
    text = f"aio={aio}: {ENGINES[aio]}"
    if aio == "threads":
        text += f" (pool of {_num(p.options.get('pool_threads', 64))} threads)"
    if aio == "io_uring" and p.options.get("sqpoll"):
        text += "; SQPOLL: a kernel thread polls the ring, holding a core"
    return text


def options_text(p: Path) -> str:
    """The path's options other than vcpus and cores (their own entries): queues, workers,
    iothreads, rings, ..."""
    opts = [f"{k}={_num(v)}" for k, v in p.options.items() if k not in ("vcpus", "cores")]
    return ", ".join(opts) or "none"


def _inflight_text(n: float) -> str:
    if math.isinf(n):
        return "no limit: the path takes every request the workload has in flight"
    return f"at most {n:g} at once (the rest wait before the first hop)"


def saturation_text(p: Path, net: Network) -> str | None:
    """Why the throughput bound is infinite (None when it is finite)."""
    if math.isfinite(net.saturation_per_s):
        return None
    free = ", ".join(s.name for s in net.stations if s.is_delay)
    # an unlimited resource whose time is nobody's CPU is a device or a wire: no rate limit
    devices = set(_device_resources(p))
    wires = [s.name for s in net.stations if s.is_delay and s.name in devices]
    why = f"; no line rate for {', '.join(wires)} in the model" if wires else ""
    return f"{UNBOUNDED}: no finite resource in the model ({free}: unlimited servers{why})"


def host_text(host: HostProfile) -> str:
    """The host profile's name and the costs that differ from the declared defaults."""
    changed = [f"{k}={v:g}" for k, v in host.items()
               if k in parameters() and v != parameters()[k].value]
    head = f"{host.name!r}"
    if not changed:
        return f"{head} (the declared default costs)"
    shown = ", ".join(changed[:4]) + (f", +{len(changed) - 4} more" if len(changed) > 4 else "")
    return f"{head} ({shown})"


def vcpu_pays_text(p: Path, net: Network) -> str | None:
    """What the guest's vCPU pays per I/O (:meth:`Network.vcpu_pays_us`): its guest work and
    the VM exits it takes, and whether interrupts are posted; None without a vCPU."""
    pays = net.vcpu_pays_us()
    if pays["total"] <= 0 or p.family == "native":
        return None
    irq = ("posted interrupts (no delivery or EOI exit)" if p.options.get("posted_interrupts")
           else "an exit to deliver each interrupt and one for its EOI (posted_interrupts=False)"
           if "posted_interrupts" in p.options else None)
    held = (f", {pays['held']:.3g} held while QEMU emulates its exits under the global mutex "
            "(and its wait for the mutex under load)" if pays["held"] > 0 else "")
    return (f"{pays['total']:.3g} µs per I/O: {pays['guest']:.3g} guest work, "
            f"{pays['exits']:.3g} in VM exits{held}" + (f"; {irq}" if irq else ""))


def groups_text(net: Network) -> str | None:
    """How the jobs spread over the vCPUs (None: one group)."""
    groups = tuple(getattr(net, "groups", ()) or ())
    if len(groups) <= 1:
        return None
    share = "requests in flight" if net.population is not None else "shares of the rate"
    return (f"{len(groups)} groups of jobs on their own vCPUs, "
            f"{share} {', '.join(_num(g) for g in groups)}")


def assumptions(p: Path, host: HostProfile, w: Workload, net: Network,
                batching: str = "amortised") -> dict[str, str]:
    """What a result rests on, entry by entry (keys in :data:`KEYS` order).

    Parameters
    ----------
    p, host, w : Path, HostProfile, Workload
        The solved triple, with the path's options applied.
    net : Network
        Its network (the batch used, the in-flight limit and the bound come from it).
    batching : {"amortised", "load", "fork-join"}
        How the batch was chosen.

    Returns
    -------
    dict of str -> str
        ``saturation`` only when the bound is infinite.
    """
    out = {
        "workload": workload_text(w),
        "batch": batch_text(net.batch, batching),
        "device": device_text(p, host, w),
        "cache": cache_text(p),
        "engine": engine_text(p),
        "vcpus": ("unlimited (a vCPU for every request: the guest never queues)"
                  if math.isinf(p.options.get("vcpus", math.inf)) else _num(p.options["vcpus"])),
        "options": options_text(p),
        # issue 11 adds a network's in-flight limit; until then there is none
        "in flight": _inflight_text(getattr(net, "inflight", getattr(p, "inflight", math.inf))),
        "host": host_text(host),
    }
    out["vcpu pays"] = vcpu_pays_text(p, net)
    # issue 11's Network fields, shown once they exist (getattr: absent before it lands)
    gt = groups_text(net)
    if gt:
        out["groups"] = gt
    cores = getattr(net, "cores", None)
    if cores is not None:
        out["host cores"] = ("unlimited (a core for every thread)" if math.isinf(cores)
                             else f"{_num(cores)} shared by the path's threads")
    out = {k: out[k] for k in KEYS if out.get(k) is not None}
    sat = saturation_text(p, net)
    if sat:
        out["saturation"] = sat
    return out


def split(blocks: Mapping[str, Mapping[str, str]]
          ) -> tuple[dict[str, str], dict[str, dict[str, list[str]]]]:
    """(entries every row shares, {entry: {value: the rows that have it}} for the others).

    A row without an entry (``saturation`` is there only when the bound is infinite) counts
    as having the value ``""``, which the renderers leave out.
    """
    keys = [k for k in KEYS if any(k in b for b in blocks.values())]
    common: dict[str, str] = {}
    varying: dict[str, dict[str, list[str]]] = {}
    for k in keys:
        groups: dict[str, list[str]] = {}
        for name, b in blocks.items():
            groups.setdefault(b.get(k, ""), []).append(name)
        if len(groups) == 1 and "" not in groups:
            common[k] = next(iter(groups))
        else:
            varying[k] = {v: names for v, names in groups.items() if v}
    return common, varying


def frame_blocks(df: pd.DataFrame, by: Sequence[str] = ("path",)) -> dict[str, dict[str, str]]:
    """The blocks of a table's rows from its ``assumed_<entry>`` columns.

    A row is named by the values of the ``by`` columns (a text column as it is, a number
    as ``name=value``: ``"vhost-scsi jobs=2"``); rows of one name that differ get
    ``[row number]``.
    """
    cols = {k: f"assumed_{k.replace(' ', '_')}" for k in KEYS}
    cols = {k: c for k, c in cols.items() if c in df}

    def label(k: str, v: object) -> str:
        return v if isinstance(v, str) else f"{k}={_num(v)}"

    names = [" ".join(label(k, df[k].iloc[i]) for k in by if k in df) or str(i)
             for i in range(len(df))]
    out: dict[str, dict[str, str]] = {}
    for i, (name, rec) in enumerate(zip(names, df[list(cols.values())].to_dict("records"),
                                        strict=True)):
        b = {k: rec[c] for k, c in cols.items() if isinstance(rec[c], str) and rec[c]}
        if name in out and out[name] != b:
            name = f"{name} [{i}]"
        out.setdefault(name, b)
    return out


def text_block(blocks: Mapping[str, Mapping[str, str]], title: str = "assumes",
               width: int | None = None, indent: int = 0, max_values: int | None = None) -> str:
    """The block as lines of text (at most ``width`` columns, default the CLI's 100),
    indented by ``indent``: shared entries once, then, entry by entry, each value with the
    rows it holds for.  An entry with more than ``max_values`` values (a swept knob) says
    only that it varies and which column holds it."""
    import textwrap

    from ._text import WIDTH

    width = width or WIDTH
    common, varying = split(blocks)
    key_w = max(len(k) for k in KEYS)
    lead = " " * (indent + 2)
    cont = " " * (indent + 2 + key_w + 2)

    def entry(first: str, v: str) -> list[str]:
        return textwrap.wrap(v, width, initial_indent=first, subsequent_indent=cont + "  ",
                             break_long_words=False, break_on_hyphens=False)

    lines = [" " * indent + f"{title}:"] if common or varying else []
    for k, v in common.items():
        lines += entry(f"{lead}{k:<{key_w}}  ", v)
    for k, groups in varying.items():
        if max_values is not None and len(groups) > max_values:
            lines += entry(f"{lead}{k:<{key_w}}  ", f"varies row by row ({len(groups)} values: "
                           f"column assumed_{k.replace(' ', '_')})")
            continue
        for j, (v, names) in enumerate(groups.items()):
            first = f"{lead}{k:<{key_w}}  " if j == 0 else cont
            lines += entry(first, f"{', '.join(names)}: {v}")
    return "\n".join(lines)


def html_block(blocks: Mapping[str, Mapping[str, str]], title: str = "assumes") -> str:
    """The block as a small HTML list (class ``iov-assumptions``)."""
    esc = html.escape
    common, varying = split(blocks)
    li = "<li style='margin:0;line-height:1.35'>"  # notebook CSS spaces list items widely
    rows = "".join(f"{li}<b>{esc(k)}</b>: {esc(v)}</li>" for k, v in common.items())
    for k, groups in varying.items():
        vals = "".join(f"{li}<i>{esc(', '.join(n))}</i>: {esc(v)}</li>" for v, n in groups.items())
        rows += f"{li}<b>{esc(k)}</b><ul style='margin:0'>{vals}</ul></li>"
    return (f"<div class='iov-assumptions' style='font-size:11px'>{esc(title)}:"
            f"<ul style='margin:0'>{rows}</ul></div>")
