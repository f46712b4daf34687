"""Rebuild the bundled datasets (data/*.csv) from the shared published measurements.

Usage::

    python data/build_datasets.py [SHARED_DATA_DIR [OUT_DIR]]

``SHARED_DATA_DIR`` defaults to ``$IOVMODEL_SHARED_DATA`` or a ``shared/data``
directory beside the repository (the project's compiled measurements; not part of a
clone, documented with full citations in ``data/SOURCES.md``); ``OUT_DIR`` defaults
to this directory. The compiled CSVs have the columns
``source_id, path, workload, knob, knob_value, metric, value, unit, hardware,
config, extraction, note``. Every input row becomes one or more rows of the
tidy schema of ``iovmodel.datasets`` (a few numbers that the sources print but
the compiled CSVs keep only in ``note`` become rows of their own, flagged
``read_directly``); no input row is dropped. Unit conversions (KiB/s -> IOPS for
4 KiB blocks, Mbps -> Gbps, ms -> µs, ns -> µs) are exact and stated in
``note``; cycle counts stay cycles (no clock is assumed). The output is written
atomically and is byte-for-byte the same on every run; the metadata
(``datasets.toml``) is written by hand and checked here.
"""

from __future__ import annotations

import csv
import io
import os
import re
import sys
import tomllib
from collections import defaultdict
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(REPO))

from iovmodel.datasets.schema import SCHEMA_COLUMNS, _validate, format_options  # noqa: E402

FILES = ("block_io.csv", "network_io.csv", "exit_rates.csv", "per_event_costs.csv",
         "firecracker_ci_baselines.csv")
#: shared files already in the tidy schema: copied row for row into the dataset of the same name
TIDY_FILES = {"io_comparisons.csv": "io_comparisons"}


def _preset_options(name: str) -> str:
    """A device preset's costs as path options (``iovmodel/data/devices.toml``: one place
    the device's numbers and their source live)."""
    from iovmodel.device import Device

    return ";".join(f"{k}={v:g}" for k, v in Device.preset(name).costs().items())


#: block rows of tidy sources whose hardware names a null_blk configuration: the device's
#: costs that configuration sets, added to the row's options (with the reason in its note)
NULL_BLK_TIMER = (_preset_options("null_blk"),
                  "device options: the null_blk preset (iovmodel/data/devices.toml): irqmode=2 "
                  "with the module's defaults completes each request by a timer after "
                  "completion_nsec = 10,000 ns (deterministic), hw_queue_depth = 64 requests, "
                  "no media (Linux Documentation/block/null_blk.rst)")
DEVICE_OPTIONS = {("P01", "native-blk"): NULL_BLK_TIMER, ("P01", "virtio-blk"): NULL_BLK_TIMER}
NULL_BLK_NOW = ("device_blk_us=0.1: null_blk irqmode=2 with completion_nsec=0 completes without "
                "a delay (Linux Documentation/block/null_blk.rst); the cost's lower bound")
#: a source's interface binding as the path option nat (catalog.toml): "masquerade" puts the
#: VM behind source NAT in its pod (netfilter's MASQUERADE: conntrack + NAT of every packet),
#: "bridge" puts its tap on a bridge with the pod's interface (no NAT)
IFACE_NAT = {"iface=masquerade": ("nat=1", "path option nat: Virtink's masquerade binding NATs "
                                  "the VM's traffic (MASQUERADE, conntrack + NAT per packet)"),
             "iface=bridge": ("nat=0", "path option nat=0: Virtink's bridge binding, the tap "
                              "on a bridge with the pod's interface, no NAT")}
#: a row whose back-end the catalog names as a path of its own: (source, the option the row
#: states it by) -> (catalog path, why)
BACKEND_PATH = {("P02", "backend=vhost-user testpmd"): (
    "vhost-user-testpmd", "path vhost-user-testpmd: the back-end the row names, DPDK testpmd "
    "on vhost-user (the catalog's vhost-user-net is an OVS-DPDK switch)")}
#: P08's hosts as path options (its hardware column and its test's own words): the NICs, "2x
#: Mellanox CX4 Lx 25Gb/s", at 8 bits / 25 Gbit/s = 0.32 ns per byte; the vhost-user network
#: set up "with TSO support for better vhost-user TCP bandwidth" (OVS-DPDK's userspace TSO)
P08_NIC = ("nic_ns_per_byte=0.32", "nic_ns_per_byte=0.32: the hardware's 25 Gb/s NICs "
           "(8 bits / 25 Gbit/s)")
P08_TSO = ("userspace_tso=true", "userspace_tso: the test's underlay 'with TSO support for "
           "better vhost-user TCP bandwidth' (OVS-DPDK's userspace TSO)")
P08_CORES = ("cores: each VM has 1 dedicated core, which Virtink gives by the Kubernetes CPU "
             "manager's static policy (docs/dedicated_cpu_placement.md) to the VM pod's one "
             "container, cloud-hypervisor (pkg/controller/vm_controller.go buildVMPod), so "
             "every thread of the VMM process, the vCPU and the virtio-net worker alike, runs "
             "on it; OVS-DPDK's PMD has a core of its own per NUMA node ('1 dedicated CPU core "
             "... from every NUMA node', both VMs on node 0). cores counts those the "
             "transfer's threads share: the two VMs' (and the PMD's) on one host; across "
             "hosts the far VM's (and its host's PMD's) too")


#: a Virtink VM's tap in its pod's network namespace (P08's Cloud Hypervisor rows, both bindings)
P08_PODNET = ("pod_net=1", "path option pod_net: Virtink puts the VM's tap on a bridge in its "
              "pod with the pod's interface, one end of the veth pair to the node's switch "
              "(cmd/virt-prerunner/main.go setupBridgeNetwork), so every packet also crosses "
              "that bridge and veth pair (the masquerade binding routes between them instead)")


#: Cloud Hypervisor's net worker on its VM's one core (the placement P08_CORES describes)
P08_SHARED = ("shared_core=1", "shared_core: the same placement puts Cloud Hypervisor's "
              "virtio-net worker on its VM's one core with the vCPU (see cores), so each pass "
              "of the worker takes the core from the vCPU thread")


def p08_cores(path: str, options: str) -> int | None:
    """The host cores a P08 row's threads share (:data:`P08_CORES`): one per VM in the
    transfer and the OVS-DPDK PMD's where the path polls through it; None for a host row
    (no VM) and for the VM sweep's rows (``vms=``, more VMs than one pair)."""
    if path == "native-net" or "vms=" in options:
        return None
    pmd = 1 if path == "vhost-user-net" else 0
    if "same host" in options:  # both VMs on this host's node 0, one PMD core there
        return 2 + pmd
    # across hosts the far VM is modelled too (an exchange's and a stream's alike): its core
    # and its host's PMD core
    return 2 * (1 + pmd)


def stated_conditions(row: dict) -> list[tuple[str, str]]:
    """The (option, why) pairs an io_comparisons row's source states beyond its options:
    P01's device (:data:`DEVICE_OPTIONS`), an interface binding's NAT (:data:`IFACE_NAT`),
    P08's NICs, userspace TSO, host cores, the shared core of Cloud Hypervisor's worker and
    its tap's pod network."""
    opts = row["options"].split(";")
    out = []
    dev = DEVICE_OPTIONS.get((row["source"], row["path"]))
    if dev is not None:
        out.append(dev)
    nat = next((v for k, v in IFACE_NAT.items() if k in opts), None)
    if nat is not None and row["path"] != "vhost-user-net":
        out.append(nat)
    if row["source"] == "P08":
        out.append(P08_NIC)
        cores = p08_cores(row["path"], row["options"])
        if cores is not None:
            out.append((f"cores={cores}", P08_CORES))
            if row["path"] == "cloudhv-virtio-net":
                out.append(P08_SHARED)
        if row["path"] == "cloudhv-virtio-net":
            out.append(P08_PODNET)
        if row["path"] == "vhost-user-net":
            out.append(P08_TSO)
    return out


OUT_COLUMNS = [c for c in SCHEMA_COLUMNS if c != "dataset"]
MIB_GBPS = 2**20 * 8 / 1e9  # 1 MiB/s in Gbps
GIB_GBPS = 2**30 * 8 / 1e9


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", text.lower()).strip("_")


def _size(text: str) -> int:
    """'4K' / '512' / '128K' / '1024K' -> bytes."""
    m = re.fullmatch(r"(\d+)\s*([kKmM]?)", text.strip())
    if not m:
        raise ValueError(f"size {text!r}")
    return int(m.group(1)) * {"": 1, "k": 1024, "m": 2**20}[m.group(2).lower()]


class Out:
    """Collects output rows per dataset."""

    def __init__(self) -> None:
        self.rows: dict[str, list[dict]] = defaultdict(list)
        self.count = 0

    def add(self, dataset: str, src: dict, metric: str, value: float, unit: str, *,
            path: str, note: str | None = None, extraction: str | None = None,
            options: dict | None = None, **cols) -> None:
        row = dict.fromkeys(OUT_COLUMNS, "")
        row.update(source=src["source_id"], path=path, metric=metric, value=value, unit=unit,
                   hardware=src["hardware"], extraction=extraction or src["extraction"],
                   note=src["note"] if note is None else note,
                   options=format_options(options or {}))
        row.update(cols)
        self.rows[dataset].append(row)
        self.count += 1


def join(*parts: str) -> str:
    return "; ".join(p for p in parts if p)


# ---------------------------------------------------------------- Firecracker
FC_HW_CLEAN = (("Intel(R) Xeon(R) ", "Intel Xeon "), (" CPU @", " @"))


def firecracker(out: Out, r: dict) -> None:
    cfg = dict(kv.split("=", 1) for kv in r["config"].split("; "))
    hw = r["hardware"]
    for a, b in FC_HW_CLEAN:
        hw = hw.replace(a, b)
    hw = f"{hw}; host kernel {cfg['host_kernel']}; guest kernel {cfg['guest_kernel']}"
    vcpus = int(r["knob_value"])
    tol = f"CI baseline mean (stat={cfg['stat']}), tolerance +-{cfg['tolerance_pct']} %"
    src = {**r, "hardware": hw}
    cpu_metric = {"cpu_util_vcpus_total": "cpu_util_vcpu_pct",
                  "cpu_util_vmm_threads": "cpu_util_vmm_pct"}
    if r["path"].startswith("virtio_blk_firecracker"):
        engine = "sync" if r["path"].endswith("sync_engine") else "async"
        rw = re.search(r"fio (\w+)-bs(\d+)", r["workload"])
        cols = dict(jobs=vcpus, iodepth=32, size_bytes=int(rw.group(2)), rw=rw.group(1))
        opts = {"vcpus": vcpus, "engine": engine}
        base = join(r["note"], tol, "host page cache in the path (no O_DIRECT)",
                    "engine=async is io_uring" if engine == "async" else "")
        if r["metric"] in ("bw_read", "bw_write"):
            if r["unit"] != "KiB/s" or cols["size_bytes"] != 4096:
                raise ValueError(r)
            out.add("firecracker_ci_block", src, "iops", float(r["value"]) / 4, "IOPS",
                    path="firecracker-virtio-blk", options=opts,
                    note=join(base, f"iops = {r['metric']} KiB/s / 4 (4 KiB blocks)"), **cols)
        else:
            out.add("firecracker_ci_block", src, cpu_metric[r["metric"]], float(r["value"]), "%",
                    path="firecracker-virtio-blk", options=opts,
                    note=join(base, "percent of one host core"), **cols)
        return
    opts = {"vcpus": vcpus}
    if r["metric"] == "rtt_avg":
        if r["unit"] != "ms":
            raise ValueError(r)
        out.add("firecracker_ci_net", src, "latency_us", float(r["value"]) * 1e3, "us",
                path="firecracker-virtio-net", options=opts, jobs=1, rw="rr",
                note=join(r["note"], tol, "ping guest->host, 0.2 s interval, mean RTT; ms -> us"))
        return
    m = re.search(r"dir=(\w+) payload\(--len\)=(\d+K)", r["workload"])
    rw = {"g2h": "tx", "h2g": "rx", "bd": "bidir"}[m.group(1)]
    cols = dict(jobs=vcpus, size_bytes=_size(m.group(2)), rw=rw)
    base = join(r["note"], tol, f"iperf3 over tap, dir={m.group(1)} (rw tx = the guest sends, rx = it "
                "receives), one stream per vCPU, size_bytes = --len")
    if r["metric"] == "throughput":
        if r["unit"] != "Mbps":
            raise ValueError(r)
        out.add("firecracker_ci_net", src, "throughput_gbps", float(r["value"]) / 1e3, "Gbps",
                path="firecracker-virtio-net", options=opts, note=join(base, "Mbps -> Gbps"),
                **cols)
    else:
        out.add("firecracker_ci_net", src, cpu_metric[r["metric"]], float(r["value"]), "%",
                path="firecracker-virtio-net", options=opts,
                note=join(base, "percent of one host core"), **cols)


# ------------------------------------------------------------------- block I/O
def s07(out: Out, r: dict) -> None:
    m = re.search(r"(rand\w+)-(\d+k)", r["workload"])
    userspace = "nvme_vfio" in r["path"]
    path = "virtio-blk-iothread" if userspace else "virtio-blk"
    opts = {"backend": "nvme-vfio", "polling": 1} if userspace else {"aio": "native"}
    out.add("qemu_nvme_userspace", r, "iops", float(r["value"]), "IOPS", path=path, options=opts,
            iodepth=1, rw=m.group(1), size_bytes=_size(m.group(2)),
            note=join(r["note"], "guest device assumed virtio-blk (the commit does not say); "
                      "jobs not stated"))


def s09(out: Out, r: dict) -> None:
    on = r["knob_value"] == "on"
    # null_blk irqmode=2 with completion_nsec=0: the timer is armed with no delay, so the
    # device's own time is nil; the cost's lower bound (0.1 us) states it
    opts = {"vmm": "cloudhv", "polling": int(on), "device_blk_us": 0.1}
    cols = dict(path="vhost-user-blk", options=opts, jobs=1, iodepth=1, rw="randread",
                size_bytes=4096)
    poll = join("backend polls the virtqueue for 50 us" if on else
                "backend virtqueue polling off", NULL_BLK_NOW)
    if r["metric"] == "iops":
        out.add("ch_vhost_user_blk_polling", r, "iops", float(r["value"]), "IOPS",
                note=join(r["note"], poll), **cols)
        cpu = re.search(r"usr ([\d.]+)% sys ([\d.]+)%", r["note"])
        for metric, val in (("cpu_util_usr_pct", cpu.group(1)), ("cpu_util_sys_pct", cpu.group(2))):
            out.add("ch_vhost_user_blk_polling", r, metric, float(val), "%", label="guest fio",
                    note=join("guest fio CPU from the same fio output (commit dd8a94f0ae77)", poll),
                    **cols)
    else:
        out.add("ch_vhost_user_blk_polling", r, "latency_us", float(r["value"]), "us",
                note=join(r["note"], poll), **cols)


def s11(out: Out, r: dict) -> None:
    native = r["path"] == "native"
    path = "native-blk" if native else "cloudhv-virtio-blk"
    opts = {} if native else {"vcpus": 1, "indirect_desc": int(r["knob_value"] == "on")}
    cols = dict(path=path, options=opts, iodepth=64, rw="write", size_bytes=256 * 1024,
                jobs=1 if native else "")
    if r["unit"] != "MiB/s":
        raise ValueError(r)
    where = "host" if native else "guest"
    out.add("ch_virtio_blk_indirect", r, "throughput_gbps", float(r["value"]) * MIB_GBPS, "Gbps",
            note=join(r["note"], f"{r['value']} MiB/s -> Gbps ({where})"), **cols)
    m = re.search(r"([\d.]+)k IOPS, lat avg (\d+) us", r["note"])
    out.add("ch_virtio_blk_indirect", r, "iops", float(m.group(1)) * 1e3, "IOPS",
            note=f"same commit, fio summary ({m.group(1)}k IOPS as printed)", **cols)
    out.add("ch_virtio_blk_indirect", r, "latency_us", float(m.group(2)), "us",
            note="same commit, fio lat avg", **cols)


#: fio's IOmeter file-server job (examples/iometer-file-access-server.fio):
#: bssplit=512/10:1k/5:2k/5:4k/60:8k/2:16k/4:32k/4:64k/10, the sizes (bytes) and percents
IOMETER_BSSPLIT = ((512, 10), (1024, 5), (2048, 5), (4096, 60), (8192, 2), (16384, 4),
                   (32768, 4), (65536, 10))
#: its mean request size, rounded to a byte (11,345.92 B)
IOMETER_MEAN_BYTES = round(sum(b * pct for b, pct in IOMETER_BSSPLIT) / 100)


def xen_blk(out: Out, r: dict) -> None:
    sid = r["source_id"]
    rings = {"xen_blkfront_blkback_1ring": 1, "xen_blkfront_blkback_8rings": 8,
             "xen_blkfront_blkback_16rings": 16}.get(r["path"])
    metric = "iops"
    cols: dict = {}
    opts: dict = {}
    note = r["note"]
    # the guest's vCPUs where the source states them (r["hardware"]: S13 "guest 3.19 (4 vCPU)",
    # S14/S15 "domU 16 vCPU"); S16 states only dom0's 24, so its guests keep the default
    # both 2015 series keep xen-blkfront's per-device io_lock (io_lock = "device"): the RFC
    # of February (S14: its patch 3/10 "reorg info->io_lock after using blk-mq API") and the
    # RFC v2 Citrix measured in August (S13); the series split it only in its v4 of
    # November (patch 4/10 "xen/blkfront: split per device io_lock", merged for Linux 4.6).
    # For S13 that is an assumption: the v2 patch list is not in the sources.
    if sid.startswith("S13"):
        opts = {"rings": rings, "vcpus": 4, "io_lock": "device"}
        cols = dict(size_bytes=_size(r["knob_value"]))
        if "seq read" in r["workload"]:
            cols.update(jobs=8, iodepth=32, rw="read")
        else:
            cols.update(rw="write")
            note = join(note, "jobs and iodepth not stated for the write test")
    elif sid.startswith("S14"):
        # "fio's IOmeter emulation" (the cover letter): the job file fio ships
        # (examples/iometer-file-access-server.fio), which the benchmark suite of the work the
        # RFC builds on runs at its default load (Arianna Avanzini's xen-blk-mq-benchmark,
        # iometer-jobfile + iometer_test.sh: "moderate" = iodepth 64); the job count is the
        # row's knob. The block-size mix is carried as its mean (IOMETER_MEAN_BYTES). dom0's
        # null_blk has no media, so no data path beyond 4 KiB (devices.toml null_blk); its
        # per-request service (irqmode, completion_nsec) is not stated and stays the profile's.
        opts = {"rings": rings, "vcpus": 16, "io_lock": "device", "rwmixread": 80,
                "device_ns_per_byte": 0}
        cols = dict(jobs=int(r["knob_value"]), iodepth=64, size_bytes=IOMETER_MEAN_BYTES,
                    rw="randrw")
        note = join(note, "workload from fio's IOmeter emulation job (examples/"
                    "iometer-file-access-server.fio; github.com/ariava/xen-blk-mq-benchmark "
                    "iometer-jobfile, default load iodepth 64): randrw, rwmixread 80, libaio, "
                    "direct, iodepth 64, bssplit 512/10:1k/5:2k/5:4k/60:8k/2:16k/4:32k/4:64k/10 "
                    f"given as its mean size {IOMETER_MEAN_BYTES} B; an assumption that the RFC "
                    "ran that job unchanged (the letter names the job, not its parameters); "
                    "null_blk: no data path (device_ns_per_byte=0)")
    elif sid.startswith("S15"):
        opts = {"rings": int(r["knob_value"]), "vcpus": 16}
        if "persistent grants" in r["workload"]:
            opts["per_queue_grants"] = 1
        note = join(note, "fio job parameters not stated")
    elif sid.startswith("S16"):
        opts = {"persistent_grants": 0, "guests": int(r["knob_value"])}
        note = join(note, "total IOPS over all guests; fio job parameters not stated")
    out.add("xen_blk_multiqueue", r, metric, float(r["value"]), "IOPS", path="xen-blkfront",
            options=opts, note=note, **cols)


def s36(out: Out, r: dict) -> None:
    out.add("vfio_user_spdk", r, "iops", float(r["value"]), "IOPS", path="vfio-user-nvme",
            options={"backend": "spdk", "spdk_cores": 1},
            note=join(r["note"], "workload parameters not stated"))


def s02_blk(out: Out, r: dict) -> None:
    if r["unit"] != "GiB/s":
        raise ValueError(r)
    out.add("firecracker_docs", r, "throughput_gbps", float(r["value"]) * GIB_GBPS, "Gbps",
            path="firecracker-virtio-blk",
            note=join(r["note"], "1 GiB/s -> Gbps; at <= 70 % of one host core"))


def s40(out: Out, r: dict) -> None:
    kv = r["knob_value"]
    if kv.startswith("QEMU 2.0.0"):
        opts = {"vcpus": 4, "batching": 1, "qemu": "2.0.0", "aio": "custom"}
    else:
        # "QEMU master (..., no batching)" vs "QEMU master + io_plug batching patches"
        opts = {"vcpus": 4, "batching": int("no batching" not in kv)}
    out.add("qemu_dataplane_batching", r, "iops", float(r["value"]), "IOPS",
            path="virtio-blk-iothread", options=opts, jobs=4, iodepth=64, rw="randread",
            size_bytes=4096, note=join(r["note"], kv))


def s41(out: Out, r: dict) -> None:
    out.add("qemu_dataplane_batching", r, "cpu_util_change_pct", float(r["value"]), "%",
            path="virtio-blk", options={"batching": 1}, iodepth=32, rw="randread",
            size_bytes=4096,
            note=join(r["note"], "host CPU with blk_io_plug batching relative to without"))


# ------------------------------------------------------------------ exit rates
def s10(out: Out, r: dict) -> None:
    on = r["knob_value"] == "on"
    # S10 (2020-02-14) predates virtqueue polling in this backend (S09, 2020-02-17): it slept
    # on the kick eventfd, hence polling=0 (the ~1 exit per I/O without EVENT_IDX shows it)
    opts = {"vmm": "cloudhv", "polling": 0, "event_idx": int(on)}
    metric = "exits_per_s" if r["metric"] == "kvm_exit" else "events_per_s"
    cols = dict(path="vhost-user-blk", options=opts, rate_per_s=60000.0, label=r["metric"])
    rate_note = "rate_per_s: the commit's ~60K IOPS (approximate)"
    out.add("exit_rates", r, metric, float(r["value"]), "1/s",
            note=join(r["note"], "kvm_stat CurAvg/s", rate_note), **cols)
    if r["metric"] == "kvm_exit":
        out.add("exit_rates", r, "exits_per_io", float(r["value"]) / 60000.0, "per_io",
                extraction="derived",
                note=join(r["note"], "derived: kvm_exit/s / 60000 IOPS (the commit's ~60K, so "
                          "approximate)"), **cols)


def s29(out: Out, r: dict) -> None:
    g2h = r["knob_value"] == "guest_to_host"
    opts = {"vcpus": 2} if g2h else {}
    cols = dict(path="virtio-net", options=opts, jobs=1, rw="tx", size_bytes=65536)
    if r["metric"] == "throughput":
        out.add("exit_rates", r, "throughput_gbps", float(r["value"]) / 1e3, "Gbps",
                note=join(r["note"], "netperf TCP_STREAM 64K messages; Mbps -> Gbps"), **cols)
        if g2h:
            m = re.search(r"local CPU ([\d.]+)%, remote ([\d.]+)%, service demand ([\d.]+)/([\d.]+)",
                          r["note"])
            extra = [("cpu_util_local_pct", m.group(1), "%", "local"),
                     ("cpu_util_remote_pct", m.group(2), "%", "remote"),
                     ("service_demand_us_per_kb", m.group(3), "us/KB", "local"),
                     ("service_demand_us_per_kb", m.group(4), "us/KB", "remote")]
        else:
            m = re.search(r"sender CPU util ([\d.]+)%, service demand ([\d.]+)", r["note"])
            extra = [("cpu_util_local_pct", m.group(1), "%", "local"),
                     ("service_demand_us_per_kb", m.group(2), "us/KB", "local")]
        for metric, val, unit, label in extra:
            out.add("exit_rates", r, metric, float(val), unit, label=label,
                    note="same netperf output (local = the guest sender)", **cols)
        return
    metric = "exits_per_s" if r["metric"] == "kvm_exit" else "events_per_s"
    out.add("exit_rates", r, metric, float(r["value"]), "1/s", label=r["metric"],
            note=join(r["note"], "QEMU userspace virtio-net (no vhost)"), **cols)


# --------------------------------------------------------------------- network
def s04(out: Out, r: dict) -> None:
    qemu = "qemu" in r["path"]
    path = "vhost-net" if qemu else "cloudhv-virtio-net"
    opts = {"vmm": "qemu", "runtime": "kata"} if qemu else {"runtime": "kata"}
    base = join(r["note"], "k8s pod-to-pod: both ends in Kata VMs; CI acceptance-range midpoint")
    cols = dict(path=path, options=opts)
    m, v = r["metric"], float(r["value"])
    if m == "throughput":
        out.add("kata_ci_net", r, "throughput_gbps", v, "Gbps", jobs=int(r["knob_value"]), rw="tx",
                note=base, **cols)
    elif m == "iperf3_cpu_util_host_total":
        out.add("kata_ci_net", r, "cpu_util_local_pct", v, "%", jobs=1, rw="tx",
                label="iperf3 host_total", note=base, **cols)
    elif m == "jitter":
        out.add("kata_ci_net", r, "jitter_us", v * 1e3, "us", jobs=1, rw="tx",
                note=join(base, "iperf3 UDP; ms -> us"), **cols)
    elif m == "rtt_avg":
        out.add("kata_ci_net", r, "latency_us", v * 1e3, "us", jobs=1, rw="rr",
                note=join(base, "ping mean RTT; ms -> us"), **cols)
    else:
        raise ValueError(r)


def s02_net(out: Out, r: dict) -> None:
    m, v = r["metric"], float(r["value"])
    if m == "rtt_avg":
        native = r["path"] == "native"
        out.add("firecracker_docs", r, "latency_us", v * 1e3, "us",
                path="native-net" if native else "firecracker-virtio-net",
                options={} if native else {"vcpus": 2}, jobs=1, rw="rr",
                note=join(r["note"], "ping mean RTT to another m5d.metal instance; ms -> us"))
        return
    if r["extraction"] == "spec_claim":
        out.add("firecracker_docs", r, "throughput_gbps", v, "Gbps", path="firecracker-virtio-net",
                note=join(r["note"], f"at VMM core utilisation {r['knob_value']}"))
        return
    rw = {"throughput_ingress": "rx", "throughput_egress": "tx",
          "throughput_bidirectional": "bidir"}[m]
    bidir = rw == "bidir"
    # "segment size" 96-1460 B at 18-25 Gbps: the MSS (iperf3 -M), not the write: 96-byte
    # writes would need ~4M send() calls per second per stream
    out.add("firecracker_docs", r, "throughput_gbps", v, "Gbps", path="firecracker-virtio-net",
            options={"vcpus": 12 if bidir else 8, "mss": int(r["knob_value"])},
            jobs=8 if bidir else 6, rw=rw,
            note=join(r["note"], "options mss is the doc's TCP segment size (iperf3 -M), the "
                      "writes iperf3's default 128 KiB; rx = into the guest"))


def network_misc(out: Out, r: dict) -> None:
    sid, m, v = r["source_id"], r["metric"], float(r["value"])
    ds = "network_misc"
    if sid.startswith("S12"):
        out.add(ds, r, "throughput_gbps", v, "Gbps", path="cloudhv-virtio-net",
                options={"counters": int(r["knob_value"] == "on")}, jobs=1, rw="rx",
                note=join(r["note"], "host -> guest"))
    elif sid.startswith("S17"):
        out.add(ds, r, "throughput_gbps", v, "Gbps", path="xen-netfront",
                options={"multiqueue": int(r["knob_value"] != "1")},
                note=join(r["note"], "workload not stated"))
    elif sid.startswith("S31"):
        accel = "tcg" if r["path"].endswith("tcg") else "kvm"
        out.add(ds, r, "packets_per_s", v, "1/s", path="emulated-e1000",
                options={"accel": accel, "mitigation": int(r["knob_value"] != "off")},
                rw="tx", note=join(r["note"], "small packets; pps"))
    elif sid.startswith("S32"):
        out.add(ds, r, "packets_per_s", v, "1/s", path="vhost-net",
                options={"tun_queue": r["knob_value"]}, rw="rx",
                note=join(r["note"], "pktgen small packets into the guest"))
    elif sid.startswith("S33"):
        out.add(ds, r, "transactions_per_s", v, "1/s", path="virtio-net",
                options={"backend": "unspecified", "hdr_inline": int(r["knob_value"] == "inline")},
                jobs=1, iodepth=1, rw="rr", size_bytes=1,
                note=join(r["note"], "virtio-net backend not stated (QEMU or vhost)"))
    elif sid.startswith("S30"):
        if m == "throughput":
            out.add(ds, r, "throughput_gbps", v / 1e3, "Gbps", path="virtio-net", jobs=1, rw="tx",
                    size_bytes=16384, note=join(r["note"], "QEMU userspace virtio-net; Mbps -> Gbps"))
        else:
            big = "1024" in r["workload"]
            out.add(ds, r, "latency_us", v * 1e3, "us", path="virtio-net", rw="rr",
                    size_bytes=1024 if big else 56,
                    note=join(r["note"], "ping flood"
                              + (" with preload 120 (up to 120 outstanding)" if big else ""),
                              "mean RTT; ms -> us"))
    elif sid.startswith("S34"):
        out.add(ds, r, "throughput_gbps", v, "Gbps", path="vhost-net",
                note=join(r["note"], "7~8 Gbit/s stated; 7.5 is the middle"))
    elif sid.startswith("S35"):
        rw = "rx" if r["knob_value"] == "host_to_guest" else "tx"
        out.add(ds, r, "throughput_gbps", v / 1e3, "Gbps", path="emulated-rtl8139", jobs=1, rw=rw,
                note=join(r["note"], "Mbps -> Gbps"))
    elif sid.startswith("S37"):
        metric = "fraction_of_native" if m.startswith("fraction") else "speedup"
        end = "lower" if m.endswith("_min") else "upper"
        label = f"{end} end of the claimed range"
        note = join(r["note"], "vs baseline device assignment" if metric == "speedup" else "")
        out.add(ds, r, metric, v, "ratio", path="vfio-net", options={"eli": 1}, label=label,
                note=note)
    else:
        raise ValueError(r)


# ----------------------------------------------------------------- event costs
def _test_name(workload: str) -> str:
    m = re.search(r"vmexit[/ ](\w+)", workload)
    return m.group(1) if m else ""


def per_event(out: Out, r: dict) -> None:
    sid, m, v, kv = r["source_id"], r["metric"], float(r["value"]), r["knob_value"]
    ds = "per_event_costs"
    path = "kvm-vmexit"
    opts: dict = {}
    label = _test_name(r["workload"])
    metric = {"round_trip_cycles": "round_trip_cycles", "ipi_latency_cycles": "ipi_latency_cycles",
              "ipi_latency_cycles_avg20": "ipi_latency_cycles", "cycles": "cost_cycles",
              "improvement_cycles": "saving_cycles", "round_trip_overhead": "overhead_pct",
              }.get(m)
    unit = {"cost_cycles": "cycles", "saving_cycles": "cycles", "overhead_pct": "%"}.get(
        metric or "", "cycles")
    note = r["note"]
    if sid.startswith("S18"):
        if m == "cycles":
            label = {"userspace_exit_cost": "exit_to_userspace",
                     "emulation_cost": "insn_emulation"}[kv]
        else:
            label = kv
    elif sid.startswith("S19"):
        opts = {"variant": _slug(kv)}
    elif sid.startswith("S20"):
        label = kv
    elif sid.startswith("S21"):
        opts = {"nested": 1, "vmx_opt_series": int(kv.startswith("after"))}
    elif sid.startswith("S22"):
        label = "cpuid"
        if kv in ("before", "after"):
            pinned = "pinned" in r["workload"] and "unpinned" not in r["workload"]
            vcpus = 1 if "1 vCPU" in r["workload"] else 8
            opts = {"vcpus": vcpus, "pinned": int(pinned), "patch": kv}
        else:
            note = join(note, "median of 100 runs")
    elif sid.startswith("S23"):
        opts = {"variant": _slug(kv)}
        if "advance" in r["workload"]:
            opts["timer_advance"] = "adaptive" if "adaptive" in r["workload"] else "none"
    elif sid.startswith("S24"):
        label = "ipi"
        opts = {"apic": "x2apic" if "x2APIC" in r["workload"] else "xapic", "ipiv": int(kv == "on")}
        note = join(note, "mean of 20 runs")
    elif sid.startswith("S25"):
        opts = {"mitigation": _slug(kv)}
    elif sid.startswith("S26"):
        label = "world_switch_direct"
    elif sid.startswith("S38"):
        label = "cpuid_loop"
        opts = {"pid_sn_on_exit": 1}
    elif sid.startswith("S39"):
        label = "interrupt_injection_tests"
        opts = {"apicv": 0}
    elif sid.startswith("S27"):
        path, metric, unit, label = "kvm-halt-poll", "score", "arbitrary", "pingpong"
        if kv.startswith("host"):
            opts = {"vm": 0}
        elif "host halt_poll_ns=300000" in kv:
            opts = {"vm": 1, "halt_poll_ns": 300000, "guest_halt_poll_ns": 0}
        else:
            opts = {"vm": 1, "halt_poll_ns": 0, "guest_halt_poll_ns": 300000}
        note = join(note, "unit not stated by the source (likely us; lower is better)")
    elif sid.startswith("S28"):
        path, label = "kvm-halt-poll", "contextswitch"
        if r["unit"] != "ns":
            raise ValueError(r)
        opts = {"idle": _slug(kv)}
        note_ns = join(note, "ns -> us")
        out.add(ds, r, "ctxsw_us", v / 1e3, "us", path=path, options=opts, label=label,
                note=note_ns)
        cpu = re.search(r"host %CPU ([\d.]+)", r["note"])
        out.add(ds, r, "cpu_util_host_pct", float(cpu.group(1)), "%", path=path, options=opts,
                label=label, note="same table: host CPU, percent of one core")
        return
    if metric is None:
        raise ValueError(r)
    if unit == "cycles" and r["unit"] != "cycles":
        raise ValueError(r)
    out.add(ds, r, metric, v, unit, path=path, options=opts, label=label, note=note)


#: why the block baselines' CPU rows are rescaled (:func:`fc_block_cpu_window`)
FC_CPU_WINDOW = (
    "rescaled x{scale:.4f} to fio's own run: the block test's CPU monitor (firecracker "
    "tests/framework/utils.py get_cpu_percent, called by test_block_performance.py run_fio "
    "with iterations = CONFIG['time'], fio's runtime) takes one `top -bn1 -H` snapshot and "
    "then sleeps 1 s per iteration, so its samples run past fio's end by the time the "
    "snapshots take and the last ones see an idle VM; every thread's average is diluted by "
    "the same factor. This host's vCPU threads, each running a fio job at iodepth 32 on a "
    "page-cache backend, read {reading:g} % per vCPU in every configuration of the host "
    "(sync and async, read and write, 1 and 2 vCPUs), which is that factor; the network "
    "test samples 2 s less than iperf3 runs ('Remove inaccurate readings from the workloads "
    "end', test_network_tcp_throughput.py) and its saturated vCPUs read 99-100 %"
)


def fc_block_cpu_window(out: Out) -> None:
    """Rescale the Firecracker block baselines' CPU rows to fio's run (:data:`FC_CPU_WINDOW`).

    The factor is per host (hardware and kernels): 100 over the median per-vCPU reading of
    its ``cpu_util_vcpu_pct`` rows (86-87 % on every host). The VMM rows share the window,
    so they take the same factor, and :func:`derive_fc_cpu_per_io` runs after this.
    """
    rows = out.rows["firecracker_ci_block"]
    per_vcpu: dict[str, list[float]] = defaultdict(list)
    for row in rows:
        if row["metric"] == "cpu_util_vcpu_pct":
            per_vcpu[row["hardware"]].append(float(row["value"]) / int(row["jobs"]))
    for row in rows:
        if row["metric"] not in ("cpu_util_vcpu_pct", "cpu_util_vmm_pct"):
            continue
        vals = sorted(per_vcpu[row["hardware"]])
        if not vals:
            raise RuntimeError(f"firecracker_ci_block: no vCPU reading on {row['hardware']}")
        mid = len(vals) // 2
        reading = vals[mid] if len(vals) % 2 else (vals[mid - 1] + vals[mid]) / 2
        if not 80.0 <= reading <= 100.0:  # the window's dilution, not a vCPU that idles
            raise RuntimeError(f"firecracker_ci_block: {row['hardware']} vCPUs read "
                               f"{reading} % each, outside 80-100 %")
        scale = 100.0 / reading
        row["value"] = float(row["value"]) * scale
        row["note"] = join(row["note"], FC_CPU_WINDOW.format(scale=scale, reading=reading))


def derive_fc_cpu_per_io(out: Out) -> None:
    """VMM-thread CPU per I/O = (VMM CPU % / 100) / IOPS, where one run has exactly one of each.

    SOURCES.md sec. 4 derives ~1.9 us this way for m6i, sync engine, 1 vCPU.
    """
    groups: dict[tuple, dict[str, list[dict]]] = defaultdict(lambda: defaultdict(list))
    for row in out.rows["firecracker_ci_block"]:
        groups[(row["hardware"], row["options"], row["rw"])][row["metric"]].append(row)
    for by_metric in groups.values():
        iops, vmm = by_metric.get("iops", []), by_metric.get("cpu_util_vmm_pct", [])
        if len(iops) != 1 or len(vmm) != 1:
            continue  # a configuration listed twice: the pairing would be a guess
        i, v = iops[0], vmm[0]
        row = {**i, "metric": "cpu_us_per_io", "unit": "us", "label": "vmm threads",
               "value": v["value"] / 100.0 / i["value"] * 1e6, "extraction": "derived",
               "note": f"derived: VMM-thread CPU {v['value']:.4g} % of a core (rescaled to fio's "
                       f"run, as the VMM row's note says) / {i['value']:g} IOPS of the same CI "
                       "configuration"}
        out.rows["firecracker_ci_block"].append(row)
        out.count += 1


DISPATCH = {
    "S01": firecracker, "S07": s07, "S09": s09, "S10": s10, "S11": s11, "S13": xen_blk,
    "S14": xen_blk, "S15": xen_blk, "S16": xen_blk, "S36": s36, "S40": s40, "S41": s41,
    "S29": s29, "S04": s04, "S12": network_misc, "S17": network_misc, "S30": network_misc,
    "S31": network_misc, "S32": network_misc, "S33": network_misc, "S34": network_misc,
    "S35": network_misc, "S37": network_misc,
}


def convert(row: dict, out: Out) -> None:
    sid = row["source_id"].split("_")[0]
    if sid == "S02":
        (s02_blk if row["path"] == "virtio_blk_firecracker" else s02_net)(out, row)
    elif sid in DISPATCH:
        DISPATCH[sid](out, row)
    elif 18 <= int(sid[1:]) <= 28 or sid in ("S38", "S39"):
        per_event(out, row)
    else:
        raise ValueError(f"no converter for {row['source_id']}")


def _fmt(value) -> str:
    if value is None or value == "":
        return ""
    if isinstance(value, float):
        if value.is_integer() and abs(value) < 1e15:
            return str(int(value))
        return f"{value:.12g}"
    return str(value)


def write_atomic(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    tmp.write_text(text, encoding="utf-8", newline="")
    os.replace(tmp, path)


def main(argv: list[str]) -> int:
    shared = Path(argv[1] if len(argv) > 1 else
                  os.environ.get("IOVMODEL_SHARED_DATA", REPO.parent / "shared" / "data"))
    target_dir = Path(argv[2]) if len(argv) > 2 else HERE
    out = Out()
    n_in = 0
    for name in FILES:
        with open(shared / name, newline="", encoding="utf-8") as fh:
            for row in csv.DictReader(fh):
                before = out.count
                convert(row, out)
                n_in += 1
                if out.count == before:
                    raise RuntimeError(f"{name}: row of {row['source_id']} produced nothing")
    fc_block_cpu_window(out)
    derive_fc_cpu_per_io(out)
    for name, dataset in TIDY_FILES.items():
        with open(shared / name, newline="", encoding="utf-8") as fh:
            for row in csv.DictReader(fh):
                tidy = dict.fromkeys(OUT_COLUMNS, "")
                tidy.update({k: v for k, v in row.items() if k in tidy})
                unknown = set(row) - set(OUT_COLUMNS)
                if unknown:
                    raise RuntimeError(f"{name}: columns {sorted(unknown)} are not in the schema")
                # every row's note says "computed: <formula>" or quotes the printed number
                tidy["extraction"] = ("derived" if "computed" in row["note"].lower()
                                      else "read_directly")
                for opt, why in stated_conditions(row):
                    tidy["options"] = ";".join(o for o in (tidy["options"], opt) if o)
                    tidy["note"] = join(tidy["note"], why)
                backend = next((v for (src, o), v in BACKEND_PATH.items()
                                if src == row["source"] and o in row["options"].split(";")), None)
                if backend is not None:
                    tidy["path"] = backend[0]
                    tidy["note"] = join(tidy["note"], backend[1])
                out.rows[dataset].append(tidy)
                out.count += 1
                n_in += 1
    with open(HERE / "datasets.toml", "rb") as fh:
        meta = tomllib.load(fh)["datasets"]
    if set(meta) != set(out.rows):
        raise RuntimeError(f"datasets.toml {sorted(meta)} != built {sorted(out.rows)}")
    for dataset, rows in sorted(out.rows.items()):
        buf = io.StringIO()
        writer = csv.writer(buf, lineterminator="\n")
        writer.writerow(OUT_COLUMNS)
        for row in rows:
            writer.writerow([_fmt(row[c]) for c in OUT_COLUMNS])
        target = target_dir / meta[dataset]["file"]
        # check before writing: the same rules load() applies
        import pandas as pd

        frame = pd.read_csv(io.StringIO(buf.getvalue()), dtype=str, keep_default_na=False)
        _validate(frame, where=str(target), row_offset=2, strict=True)
        write_atomic(target, buf.getvalue())
        print(f"{target}: {len(rows)} rows")
    print(f"{n_in} input rows -> {out.count} tidy rows in {len(out.rows)} datasets")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv))
