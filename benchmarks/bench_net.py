"""P02 and P08 (io_comparisons, single-VM rows): network paths as packets and bytes, predicted
from a profile fitted on the bundled data without these two sources.

    .venv/bin/python benchmarks/bench_net.py

Prints every row (measured, predicted, error, bottleneck), the median |error| per source and
overall, and each same-host pair that differs by more than 10 % in an option the model has
(the back-end: the row's path) with whether the model orders it right. Run with
``--default`` to use the default profile instead of the fitted one (zero-shot).

How rows become workloads (:func:`iovmodel.calibrate.rows.traffic_of`): P02's packet rates are
pktgen floods (guest TX) and XDP_DROP receive floods (guest RX) of pktgen's default 60-byte
frames, as fast as the path takes them; P08's qperf tests are exchanges (tcp_lat/udp_lat,
half the round trip), TCP streams (tcp_bw) and UDP streams (udp_bw) between two VMs on one
host (or across hosts), its iperf row a host-to-host TCP stream. Four things the rows state
are applied to them: P02's "vhost-user testpmd" back-end is the catalog path
``vhost-user-testpmd`` (the catalog's ``vhost-user-net`` is an OVS-DPDK switch), P08's NICs
are 25 GbE (``nic_ns_per_byte`` = 8 / 25 = 0.32, from its hardware column), P08's OVS-DPDK
runs with userspace TSO (its test configures the underlay "with TSO support for better
vhost-user TCP bandwidth": ``userspace_tso``), and P08's host cores (:func:`p08_cores`):
"each VM 1 dedicated core", which Virtink gives by the Kubernetes CPU manager's static
policy (docs/dedicated_cpu_placement.md): the VM pod's one container, "cloud-hypervisor"
(pkg/controller/vm_controller.go buildVMPod, its resources the VM's), gets the exclusive CPU
as its cpuset, so every thread of the VMM process -- the vCPU and Cloud Hypervisor's
virtio-net worker alike -- runs on that one core; OVS-DPDK's PMD has a dedicated core of its
own per NUMA node ("1 dedicated CPU core ... from every NUMA node", both VMs on node 0).
``cores`` counts the cores the threads of the row's transfer share: the two VMs' (and the
PMD's) for VM to VM on one host, and both hosts' for an exchange or a stream across hosts,
whose far VM the model includes (the rows' ``scope`` "vm-to-vm across hosts": Traffic's
``peer="vm"``, the physical link ``wire_us`` each way).
"""

from __future__ import annotations

import argparse
import os
import sys
import warnings

import numpy as np
import pandas as pd

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

import iovmodel as iov  # noqa: E402
from iovmodel.calibrate.rows import predictable  # noqa: E402
from iovmodel.fit import predict  # noqa: E402

SOURCES = ("P02", "P08")
#: P08's hardware column: "2x Mellanox CX4 Lx 25Gb/s": 8 bits / 25 Gbit/s = 0.32 ns per byte
P08_NIC = "nic_ns_per_byte=0.32"
#: P08's vhost-user network: "Userspace CNI to configure underlay network with TSO support
#: for better vhost-user TCP bandwidth" (the source's own words): OVS-DPDK's userspace TSO on
P08_TSO = "userspace_tso=true"


def p08_cores(path: str, options: str, rw: str) -> int | None:
    """The host cores a P08 row's threads share (module docstring): one per VM in the
    transfer, and the OVS-DPDK PMD's core where the path polls through it (None: a host
    row, no VM)."""
    if path == "native-net":
        return None
    pmd = 1 if path == "vhost-user-net" else 0
    if "same host" in options:  # both VMs on this host's node 0, one PMD core there
        return 2 + pmd
    # across hosts the far VM is modelled (an exchange's and a stream's alike): its core and
    # its host's PMD core too
    return 2 * (1 + pmd)


def rows() -> pd.DataFrame:
    """P02's rows and P08's single-VM rows, with what each row states applied."""
    df = iov.datasets.load("io_comparisons")
    q = df[df["source"].isin(SOURCES) & ~df["options"].fillna("").str.contains("vms=")].copy()
    testpmd = (q["source"] == "P02") & q["options"].str.contains("testpmd")
    q.loc[testpmd, "path"] = "vhost-user-testpmd"
    p08 = q["source"] == "P08"
    q.loc[p08, "options"] = q.loc[p08, "options"].fillna("") + ";" + P08_NIC
    for i in q.index[p08]:
        c = p08_cores(q.at[i, "path"], q.at[i, "options"], str(q.at[i, "rw"]))
        if c is not None:
            q.at[i, "options"] += f";cores={c}"
        if q.at[i, "path"] == "vhost-user-net":
            q.at[i, "options"] += ";" + P08_TSO
    return q.reset_index(drop=True)


def training() -> pd.DataFrame:
    """Every bundled dataset's predictable rows but P02's and P08's."""
    frames = [iov.datasets.load(n) for n in iov.datasets.list()["name"]]
    d = pd.concat(frames, ignore_index=True)
    d = d[~d["source"].isin(SOURCES)]
    return d[predictable(d)["predictable"]].reset_index(drop=True)


def fitted_profile() -> iov.HostProfile:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return iov.fit(training()).profile


def _key(r: pd.Series) -> tuple:
    """What must match for two rows to be a same-host pair differing only in the back-end:
    source, metric, direction, size, and the test and scope (P08) or ring layout (P02)."""
    opts = dict(kv.split("=", 1) for kv in str(r["options"]).split(";") if "=" in kv)
    cell = [None if pd.isna(r[c]) else str(r[c]) for c in ("rw", "size_bytes")]
    return (r["source"], r["metric"], *cell, opts.get("test"), opts.get("scope"),
            opts.get("ring"), opts.get("in_order"))


def evaluate(host: iov.HostProfile) -> tuple[pd.DataFrame, list[dict]]:
    """Predictions of every row and the same-host pairs (differ > 10 % measured, in the path)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        out = predict(rows(), host)
    pairs = []
    keys = [_key(r) for _, r in out.iterrows()]
    for i in range(len(out)):
        for j in range(i + 1, len(out)):
            a, b = out.iloc[i], out.iloc[j]
            if keys[i] != keys[j] or a["path"] == b["path"]:
                continue
            ma, mb = a["measured"], b["measured"]
            if max(ma, mb) / min(ma, mb) <= 1.10:
                continue
            pairs.append({"source": a["source"], "metric": a["metric"], "rw": a["rw"],
                          "test": keys[i][4], "a": a["path"], "b": b["path"],
                          "measured_ratio": ma / mb, "predicted_ratio": a["predicted"] / b["predicted"],
                          # a tie (within 1 %) orders nothing: it counts as wrong
                          "right": abs(a["predicted"] / b["predicted"] - 1) > 0.01
                          and (ma > mb) == (a["predicted"] > b["predicted"])})
    return out, pairs


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--default", action="store_true", help="the default profile (no fit)")
    args = ap.parse_args()
    host = iov.HostProfile.default() if args.default else fitted_profile()
    out, pairs = evaluate(host)
    pd.set_option("display.width", 200)
    show = out.assign(options=out["options"].str.replace(";" + P08_NIC, "").str[-48:])
    print(show[["source", "path", "metric", "rw", "size_bytes", "options", "measured",
                "predicted", "rel_error"]].round(3).to_string())
    err = out["rel_error"].abs()
    for s in SOURCES:
        print(f"{s}: median |error| {np.median(err[out['source'] == s]):.1%} "
              f"over {int((out['source'] == s).sum())} rows")
    print(f"P02 + P08: median |error| {np.median(err):.1%} over {len(out)} rows "
          f"({'default profile' if args.default else 'profile fitted without P02, P08'})")
    right = sum(p["right"] for p in pairs)
    print(f"same-host pairs differing > 10 % in the back-end: {right} of {len(pairs)} ordered right")
    for p in pairs:
        print(f"  {p['source']} {p['metric']:<16} {p['rw'] or p['test'] or '':<8} {p['a']} / "
              f"{p['b']}: measured {p['measured_ratio']:.2f}x, predicted "
              f"{p['predicted_ratio']:.2f}x {'ok' if p['right'] else 'WRONG'}")


if __name__ == "__main__":
    main()
