"""Device presets and Device.from_fio (issue 14): presets give back their datasheet numbers
through the native path, a fit recovers a device from fio rows it generated, and the
profile stays the one place the numbers live."""

from __future__ import annotations

import pytest

import iovmodel as iov
from iovmodel.errors import ParameterError

# datasheet QD1 IOPS each preset is derived from (iovmodel/data/devices.toml's sources)
QD1 = {"sata_ssd": (10_000, 42_000), "nvme_pcie4": (22_000, 60_000)}


@pytest.mark.parametrize("name", ["null_blk", "ramdisk", "sata_ssd", "nvme_pcie4",
                                  "nvme_pcie5", "optane"])
def test_every_preset_has_a_source_and_sets_the_profile(name):
    d = iov.Device.preset(name)
    assert d.source.strip()
    h = d.apply()
    assert h["device_blk_us"] == d.read_us and h["device_write_us"] == d.write_us
    assert h.sources["device_blk_us"].startswith(f"device {name!r}")


@pytest.mark.parametrize("name", sorted(QD1))
def test_native_qd1_gives_back_the_datasheet_iops(name):
    h = iov.Device.preset(name).apply()
    for rw, iops in zip(("randread", "randwrite"), QD1[name], strict=True):
        r = iov.analyze("native-blk", h, iov.Workload.closed(1, 1, rw=rw))
        assert r.throughput_per_s == pytest.approx(iops, rel=0.01)


def test_unknown_preset_names_the_valid_ones():
    with pytest.raises(ParameterError, match="'nvme'.*null_blk"):
        iov.Device.preset("nvme")


def test_from_fio_recovers_the_device_that_made_the_rows():
    # rows made by the model itself from a known device (a round trip, as lmfit checks a fit
    # on data from the model): QD1 read/write latency, QD32 read IOPS, QD1 p50 and p99
    true = iov.Device("truth", read_us=30.0, write_us=8.0, slots=16, scv=0.3)
    host = true.apply()
    rows = []
    for rw in ("randread", "randwrite"):
        r = iov.analyze("native-blk", host, iov.Workload.closed(1, 1, rw=rw))
        rows.append({"metric": "latency_us", "value": r.latency_us, "iodepth": 1, "jobs": 1,
                     "rw": rw})
        if rw == "randread":
            rows += [{"metric": m, "value": r.percentile_us(q), "iodepth": 1, "jobs": 1,
                      "rw": rw} for m, q in (("latency_p50_us", 50), ("latency_p99_us", 99))]
    # 4 jobs on 4 CPUs x iodepth 8: the device, not the CPU, bounds the run
    deep = iov.analyze(iov.path("native-blk", vcpus=4), host, iov.Workload.closed(4, 8))
    rows.append({"metric": "iops", "value": deep.throughput_per_s, "iodepth": 8, "jobs": 4,
                 "rw": "randread", "options": "vcpus=4"})
    import pandas as pd

    d = iov.Device.from_fio(pd.DataFrame(rows))
    assert d.read_us == pytest.approx(30.0, rel=1e-3)
    assert d.write_us == pytest.approx(8.0, rel=1e-3)
    assert d.scv == pytest.approx(0.3, rel=0.02)
    assert d.slots == 16
