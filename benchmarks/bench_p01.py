"""P01 (io_comparisons): QEMU virtio-blk (aio=native) predicted from P01's own native rows plus
the default virtualization costs, and the guest CPU per I/O it needs against published ones.

    .venv/bin/python benchmarks/bench_p01.py

Prints (1) the native fit: device_blk_us and guest_blk_us fitted to P01's native randread rows
(QD1 mean latency, QD64 IOPS) on the default one-vCPU guest; (2) virtio-blk aio=native at QD1
and QD64 from that profile: predicted against measured, the bottleneck, what the vCPU pays per
I/O (``Network.vcpu_pays_us``: guest work, VM exits, posted interrupt) against P01's measured
guest CPU per I/O (used only for comparison, never fitted), and the same on a host without
posted interrupts (``posted_interrupts=False``: ELI's delivery and EOI exits); (3) the guest
vCPU time per I/O that Firecracker's CI measured on a 1-vCPU virtio-blk guest running the same
fio job (libaio, direct, 4 KiB randread, iodepth 32), per host CPU, what QD64 would give if the
model's vCPU demand were each of them, and what the model's own firecracker-virtio-blk path
says the vCPU pays for that job.
"""

from __future__ import annotations

import os
import sys
import warnings

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

import iovmodel as iov  # noqa: E402


def native_profile() -> iov.HostProfile:
    df = iov.datasets.load("io_comparisons")
    p01 = df[(df.source == "P01") & (df.rw == "randread")]
    nat = p01[(p01.path == "native-blk") & p01.metric.isin(["iops", "latency_us"])]
    nat = nat.assign(options="")  # the host's own fio: the default path options (one CPU)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        f = iov.fit(nat, free=["device_blk_us", "guest_blk_us"], prior=None)
    return f.profile


def main() -> None:
    df = iov.datasets.load("io_comparisons")
    p01 = df[(df.source == "P01") & (df.rw == "randread")]
    prof = native_profile()
    print(f"native fit (P01 native rows): device_blk_us {prof['device_blk_us']:.2f}, "
          f"guest_blk_us {prof['guest_blk_us']:.2f}")
    vb = p01[(p01.path == "virtio-blk") & p01.options.str.contains("aio=native")]
    meas = {(m, d): v for m, d, v in zip(vb.metric, vb.iodepth, vb.value, strict=True)}
    for d in (1, 64):
        w = iov.Workload.closed(1, d)
        r = iov.analyze("virtio-blk", prof, w)
        net = r.extra["net"]
        pays = net.vcpu_pays_us()
        x, lat = meas[("iops", d)], meas[("latency_us", d)]
        print(f"virtio-blk aio=native QD{d:<3} IOPS {r.throughput_per_s:>9,.0f} vs {x:>9,.0f} "
              f"({r.throughput_per_s / x - 1:+.0%}); latency {r.latency_us:8.1f} vs {lat:8.1f} µs "
              f"({r.latency_us / lat - 1:+.0%}); bottleneck {r.bottleneck}; vCPU pays "
              f"{pays['total']:.2f} µs/IO ({pays['guest']:.2f} guest work, {pays['exits']:.2f} "
              f"exits, {pays['other']:.2f} posted interrupt)")
    # the same on a host without posted interrupts (no APICv): ELI's two exits per interrupt
    for d in (1, 64):
        r = iov.analyze(iov.path("virtio-blk", posted_interrupts=False), prof,
                        iov.Workload.closed(1, d))
        pays = r.extra["net"].vcpu_pays_us()
        x, lat = meas[("iops", d)], meas[("latency_us", d)]
        print(f"  posted_interrupts=False QD{d:<3} IOPS {r.throughput_per_s:>9,.0f} "
              f"({r.throughput_per_s / x - 1:+.0%}); latency {r.latency_us:8.1f} µs "
              f"({r.latency_us / lat - 1:+.0%}); bottleneck {r.bottleneck}; vCPU pays "
              f"{pays['total']:.2f} µs/IO ({pays['exits']:.2f} in exits)")
    print(f"P01 measured guest CPU per I/O at QD64 (fio usr+sys in the guest): "
          f"{meas[('cpu_us_per_io', 64)]:.1f} µs")
    fc = iov.datasets.load("firecracker_ci_block")
    fc = fc[(fc.options == "vcpus=1;engine=sync") & (fc.rw == "randread")]
    piv = fc.pivot_table(index="hardware", columns="metric", values="value", aggfunc="median")
    piv["vcpu_us"] = piv["cpu_util_vcpu_pct"] / 100 / piv["iops"] * 1e6
    piv["cpu"] = piv.index.str.extract(r"\((.*?)\)", expand=False).str.replace(
        " @ 2.50GHz", "").str.replace(" @ 2.90GHz", "")
    by = piv.groupby("cpu")["vcpu_us"].agg(["median", "min", "max", "count"])
    print("Firecracker CI (S01), 1 vCPU, sync engine, 4 KiB randread: guest vCPU µs per I/O")
    net = iov.build(iov.path("virtio-blk"), prof, iov.Workload.closed(1, 64))
    bql = net.stations[net.station_index("bql")].demand_us
    for cpu, row in by.iterrows():
        bound = 1e6 / max(row["median"], bql)
        print(f"  {cpu:<38} median {row['median']:5.1f} (range {row['min']:.1f}-{row['max']:.1f}, "
              f"{int(row['count'])} host/guest kernels): QD64 bound {bound:>9,.0f} IOPS "
              f"({bound / meas[('iops', 64)] - 1:+.0%} vs P01)")
    print(f"  (the BQL bound of the fitted profile: {1e6 / bql:,.0f} IOPS; "
          f"median over all: {np.median(piv['vcpu_us']):.1f} µs)")
    # the model's own firecracker-virtio-blk vCPU per I/O for that job (default profile)
    for batching in ("amortised", "load"):
        r = iov.analyze("firecracker-virtio-blk", iov.HostProfile.default(),
                        iov.Workload.closed(1, 32), batching=batching)
        net = r.extra["net"]
        pays = net.vcpu_pays_us()
        print(f"  model firecracker-virtio-blk QD32 (batching={batching!r}, batch "
              f"{net.batch:.2f}): vCPU pays {pays['total']:.1f} µs/IO ({pays['guest']:.1f} guest "
              f"work, {pays['exits']:.1f} exits), {r.throughput_per_s:,.0f} IOPS")


if __name__ == "__main__":
    main()
