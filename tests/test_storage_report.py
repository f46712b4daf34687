"""The report and the assumptions block say which block paths read the host page cache and
which reach a device, and name each block path's cache mode and I/O engine (issue 14)."""

from __future__ import annotations

import iovmodel as iov
from iovmodel.cli import main

HOST = iov.HostProfile.default()


def _assumed(p, w=None):
    r = iov.analyze(p, HOST, w or iov.Workload.closed(1, 1))
    return {k[len("assumed_"):]: v for k, v in r.to_frame().iloc[0].items()
            if k.startswith("assumed_")}


def test_report_puts_page_cache_paths_in_their_own_section(tmp_path, capsys):
    assert main(["report", "--out", str(tmp_path / "r")]) == 0
    text = capsys.readouterr().out
    dev = text.index("-- block paths served by a device")
    pc = text.index("-- block paths served from the host page cache")
    net = text.index("-- network paths")
    fc = text.index("firecracker-virtio-blk")
    assert dev < text.index("virtio-blk ") < pc < fc < net
    assert dev < text.index("emulated-ahci") < pc


def test_firecracker_page_cache_is_an_explicit_option_and_stated():
    p = iov.path("firecracker-virtio-blk")
    assert p.options["page_cache_hit"] is True
    a = _assumed(p)
    assert "page cache" in a["cache"] and "page_cache_hit=true" in a["cache"]
    assert "no device" in a["device"]
    miss = _assumed(p.with_options(page_cache_hit=False))
    assert "device_blk_us" in miss["device"]


def test_every_qemu_block_path_names_its_engine_and_cache():
    for name in ("virtio-blk", "virtio-blk-iothread", "virtio-scsi", "virtio-scsi-iothread"):
        for aio in ("threads", "native", "io_uring"):
            a = _assumed(iov.path(name, aio=aio))
            assert a["engine"].startswith(f"aio={aio}")
            assert a["cache"].startswith("cache=none")
    wb = _assumed(iov.path("virtio-blk", aio="threads", cache="writeback", page_cache_hit=True))
    assert "page-cache hit" in wb["device"]


def test_network_paths_have_no_cache_or_engine_entry():
    a = _assumed("virtio-net")
    assert "cache" not in a and "engine" not in a


def test_the_workload_entry_names_writes_and_flushes():
    a = _assumed("virtio-blk", iov.Workload.closed(1, 1, rw="randrw", rwmixread=70, fsync=8))
    assert "rw=randrw (70 % reads)" in a["workload"] and "fsync every 8 writes" in a["workload"]
