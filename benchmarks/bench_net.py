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
host (or across hosts), its iperf row a host-to-host TCP stream. What the rows state beyond
their options is in the bundled rows themselves (``data/build_datasets.py``,
``stated_conditions`` and ``BACKEND_PATH``, each with its reason in the row's note): P02's
"vhost-user testpmd" back-end is the catalog path ``vhost-user-testpmd``, P08's NICs are
25 GbE (``nic_ns_per_byte`` = 0.32), its OVS-DPDK runs with userspace TSO
(``userspace_tso``) and its rows' threads share the host cores each VM has (``cores``: one
per VM, and the OVS-DPDK PMD's where the path polls through it); the rows are predicted as
bundled, as every other benchmark reads them. ``cores`` counts the cores the threads of the
row's transfer share: the two VMs' (and the PMD's) for VM to VM on one host, and both hosts'
for an exchange or a stream across hosts, whose far VM the model includes (the rows'
``scope`` "vm-to-vm across hosts": Traffic's ``peer="vm"``, the physical link ``wire_us``
each way).
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
#: the NIC option P08's rows carry (data/build_datasets.py P08_NIC), left out of the printout
P08_NIC = "nic_ns_per_byte=0.32"


def rows() -> pd.DataFrame:
    """P02's rows and P08's single-VM rows, as bundled (what each row states applied by
    ``data/build_datasets.py``)."""
    df = iov.datasets.load("io_comparisons")
    q = df[df["source"].isin(SOURCES) & ~df["options"].fillna("").str.contains("vms=")]
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
