"""Block paths against published same-host comparisons (issue 14): P01 (QEMU virtio-blk with
aio=threads/native/io_uring on null_blk), P15 (KubeVirt bus=virtio vs bus=sata) and P18 (QEMU
NVMe, one interrupt per CQE vs batched), from iov.datasets.load("io_comparisons").

The profiles and the assumptions where a source leaves the workload open are those of
benchmarks/bench_block.py (ASSUMED there; P01 from its own native rows plus defaults, P15 and
P18 the default profile and devices, and, in the slow tests, the profile issue 14 asks for:
fitted on every bundled dataset except io_comparisons, bench_block.fitted_profile). The issue's targets: median error within 25 %, every
same-host pair that differs by more than 10 % ordered right, p99/p50 on P01's QD1 rows within
30 %. Where the model misses a target, the test is a strict xfail carrying the measured
number, and the part it gets right is tested on its own.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

import iovmodel as iov

_BENCH = Path(__file__).resolve().parents[2] / "benchmarks" / "bench_block.py"
_spec = importlib.util.spec_from_file_location("bench_block", _BENCH)
bench = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(bench)


@pytest.fixture(scope="module")
def pred():
    return bench.predictions()


@pytest.fixture(scope="module")
def pairs(pred):
    return bench.pairs(pred)


def test_every_row_of_the_three_sources_is_predicted(pred):
    # P01: 7 rows x 3 engines (iops, latency, QD1 p99; the guest-CPU rows measure fio's own
    # CPU in the guest, not a model output); P15: all 7; P18: both
    assert sorted(pred.groupby("source").size().items()) == [("P01", 21), ("P15", 7), ("P18", 2)]


@pytest.mark.xfail(strict=True, reason=(
    "measured (bench_block.py): median |error| P01 54.4 %, P15 11.9 %, P18 13.7 % (47 % "
    "with 4 jobs x iodepth 32 assumed before the review thread's QD64 was found), all 30 rows "
    "43.4 % (P01 55.5 % and all 46.7 % with virtqueue_us at 0.8 us; P15 24.8 % and all "
    "49.8 % before AHCI's exits held the vCPU under the mutex). P01: the QD64 rows are bound by the 1-vCPU guest at 15-18 us of guest CPU per I/O "
    "(P01's cpu_us_per_io rows) where the vCPU pays 4.2 us in the model (3.2 guest work from "
    "the native fit, 0.7 the kick's exit, 0.3 a posted interrupt; 4.9 without posted "
    "interrupts) and its bound is the main loop (7.9-8.4 us per I/O at batch 1); QD1 latency "
    "is under-predicted by 9-18 us (aio=native -24 %, io_uring -27 %, threads -35 %); P18 "
    "at its stated QD64, one job: per CQE 105k against 138k, batched 225k against 233k"))
def test_median_error_within_25_percent(pred):
    assert pred.rel_error.abs().median() <= 0.25


@pytest.mark.xfail(strict=True, reason=(
    "measured (bench_block.py): 15 of 19 same-host pairs ordered right; wrong: P01 at QD64 "
    "threads vs native (IOPS randread and randwrite, latency): a tie, the model's bound "
    "there being the main loop, which pays per request the same for both (the pool's "
    "hand-off and its notifier's read against io_submit and the AIO eventfd's read), while "
    "P01's is the guest vCPU; and P01 QD1 p99 native vs io_uring (11 % apart)"))
def test_every_same_host_pair_apart_by_10_percent_is_ordered(pairs):
    assert pairs.right.all()


def test_the_orderings_the_model_gets_right(pairs):
    # P15: bus=virtio above bus=sata (AHCI emulation) at every size and direction measured
    p15 = pairs[pairs.source == "P15"]
    assert len(p15) == 3 and p15.right.all()
    # P01 at QD1: aio=threads slower than native and io_uring, in IOPS, mean latency and p99
    p01 = pairs[(pairs.source == "P01") & (pairs.iodepth == 1) & (pairs.a == "aio=threads")]
    assert len(p01) == 8 and p01.right.all()
    # P18: batched completions above one interrupt per CQE
    p18 = pairs[pairs.source == "P18"]
    assert len(p18) == 1 and p18.right.all()


def test_p15_and_p18_ratios_have_the_measured_direction_and_size(pred):
    # the 4 KiB randread ratio virtio/sata P15 printed, 120,883 / 20,632 = 5.86
    p15 = pred[(pred.source == "P15") & (pred.size_bytes == 4096) & (pred.rw == "randread")]
    r = p15.set_index("path").predicted
    assert r["virtio-blk"] / r["emulated-ahci"] == pytest.approx(120_883 / 20_632, rel=0.25)


def test_p99_over_p50_on_p01_qd1_native_and_io_uring_within_30_percent():
    df = bench.p99_over_p50().set_index("label")
    for label in ("aio=native", "aio=io_uring"):
        assert abs(df.loc[label, "rel_error"]) <= 0.30, (label, df.loc[label].to_dict())


@pytest.mark.xfail(strict=True, reason=(
    "measured (bench_block.py): predicted p99/p50 1.01 vs 2.51 (-60 %) for aio=threads at "
    "QD1: P01's threads run has a second mode (p95 70 us, p99 88 us over a 35 us median) "
    "the model's wake-up hop, a single law with the host's hop_scv, does not have"))
def test_p99_over_p50_on_p01_qd1_threads_within_30_percent():
    df = bench.p99_over_p50().set_index("label")
    assert abs(df.loc["aio=threads", "rel_error"]) <= 0.30


@pytest.fixture(scope="module")
def fitted_pred():
    # the MAP fit of the 1,980 predictable rows of the other bundled datasets (~5 s)
    return bench.predictions(bench.fitted_profile()).query("source != 'P01'")


@pytest.mark.slow
@pytest.mark.xfail(strict=True, reason=(
    "measured (bench_block.py --fitted): median |error| over the 9 rows 32.2 % (P15 32.2 %, "
    "P18 33.7 %) from the profile fitted on the predictable rows of the other bundled "
    "datasets (the defaults give P15 11.9 % and P18 13.7 %); 27.1 % (P15 25.0 %, P18 38.2 %) "
    "while Firecracker's Async engine's work after its pass grew its batch and held the fit's "
    "interrupt costs up (irqfd_inject_us 2.7 us, posted_irq_us 2.7 us); 30.8 % before "
    "Firecracker's block CPU rows were rescaled to fio's run, with 4 jobs x QD32 assumed for "
    "P18. That fit moves costs no row of P15 or P18 shares a host with: device_blk_us "
    "40 -> 145 us, user_exit_us 4.33 -> 0.32 us (Firecracker's 968 block rows ask for cheap "
    "exits), bql_emulate_us 1.1 -> 3.3 us; P15 then comes out 17-61 % high (virtio 64 KiB "
    "51.6k against 37-40k, AHCI 24.2k against 15.0-20.6k) and P18 low (95k and 148k against "
    "138k and 233k)"))
def test_p15_and_p18_from_the_fitted_profile_within_25_percent(fitted_pred):
    assert fitted_pred.rel_error.abs().median() <= 0.25


@pytest.mark.slow
def test_p15_and_p18_pairs_ordered_from_the_fitted_profile(fitted_pred):
    # P15 virtio above sata at each size and direction measured; P18 batched above per CQE
    pr = bench.pairs(fitted_pred)
    assert len(pr) == 4 and pr.right.all()


def _p01_native(pred, metric, iodepth):
    return pred.query("source == 'P01' and label == 'aio=native' and rw == 'randread' and "
                      f"metric == '{metric}' and iodepth == {iodepth}").iloc[0]


def test_p01_qd1_latency_within_25_percent(pred):
    # issue 11's first target: virtio-blk aio=native QD1 latency from P01's own native rows
    # plus the defaults (P01 measured 39.04 us; with the halted vCPU's wake-up, halt_wake_us)
    r = _p01_native(pred, "latency_us", 1)
    assert r.measured == pytest.approx(39.04)
    assert abs(r.rel_error) <= 0.25


@pytest.mark.xfail(strict=True, reason=(
    "measured (bench_p01.py / bench_block.py): QD64 119.8k IOPS predicted vs 60.0k (+100 %), "
    "bound by the global mutex (8.35 us per I/O) where P01's 1-vCPU guest is the bound: the "
    "model's vCPU pays 4.2 us per I/O, P01's guest measured 15.2 us of fio CPU per I/O. "
    "The gap is the guest's CPU, not the virtualization: fio's own output "
    "(rooshm/benchmarks results/res_aio1 and reshost1) gives user time per I/O of 4.17 us "
    "in the guest against 0.80 us for fio on the host (5.2x; the host run used io_uring, the "
    "guest libaio, but user code pays no exits) and system time 9.9 against 1.8 us; the guest ran QEMU's default CPU model "
    "(no -cpu: qemu64, an 'AuthenticAMD' family 6 CPU with SSE3 its newest extension, QEMU "
    "target/i386/cpu.c builtin_x86_defs; no page-table isolation, as Linux gives AMD CPUs none, "
    "so the 5x is not that), which the catalog has no option for and the native rows cannot "
    "give"))
def test_p01_qd64_iops_within_25_percent_and_bound_by_the_vcpu(pred):
    r = _p01_native(pred, "iops", 64)
    res = iov.analyze(iov.path("virtio-blk", aio="native", cache="none"), bench.p01_profile(),
                      iov.Workload.closed(1, 64))
    assert abs(r.rel_error) <= 0.25 and res.bottleneck == "vcpu"
