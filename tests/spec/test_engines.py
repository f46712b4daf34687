"""QEMU's I/O engines (aio=threads|native|io_uring) and cache modes on the virtio-blk/-scsi
paths (issue 14): each engine's hops follow the QEMU code it names, cache modes change which
hops touch the device, and impossible combinations are refused as QEMU refuses them."""

from __future__ import annotations

import pytest

import iovmodel as iov
from iovmodel.errors import CatalogError, ParameterError

QEMU_BLOCK = ["virtio-blk", "virtio-blk-iothread", "virtio-scsi", "virtio-scsi-iothread"]
HOST = iov.HostProfile.default()


def _lat(p, w=None):
    return iov.analyze(p, HOST, w or iov.Workload.closed(1, 1)).latency_us


@pytest.mark.parametrize("name", QEMU_BLOCK)
def test_every_qemu_block_path_offers_the_three_engines(name):
    for aio in ("threads", "native", "io_uring"):
        assert iov.path(name, aio=aio).options["aio"] == aio


@pytest.mark.parametrize("bad", ["posix", "NATIVE", 3])
def test_an_unknown_engine_names_the_value_and_the_valid_ones(bad):
    with pytest.raises(ParameterError, match=f"{bad!r}.*|.*'threads', 'native', 'io_uring'"):
        iov.path("virtio-blk", aio=bad)


def test_an_unknown_cache_mode_names_the_value():
    with pytest.raises(ParameterError, match="'unsafe'"):
        iov.path("virtio-blk", cache="unsafe")


def test_native_aio_without_o_direct_is_refused_as_qemu_refuses_it():
    # block/file-posix.c: "aio=native was specified, but it requires cache.direct=on"
    with pytest.raises(ParameterError, match="cache.direct=on"):
        iov.path("virtio-blk", aio="native", cache="writeback")
    with pytest.raises(ParameterError, match="page_cache_hit"):
        iov.path("virtio-blk", page_cache_hit=True)


def test_write_on_a_read_only_drive_is_refused():
    ro = iov.path("virtio-blk", readonly=True)
    assert _lat(ro) > 0  # reads are fine
    with pytest.raises(ParameterError, match="readonly.*randwrite"):
        iov.analyze(ro, HOST, iov.Workload.closed(1, 1, rw="randwrite"))


def test_threads_add_a_hand_off_and_a_worker_wake_up_at_qd1():
    # aio=threads against aio=native at one request in flight, on the main loop: the pool adds
    # the futex wake of the hand-off, the worker's wake-up, its blocking syscall and its
    # completion notify (util/thread-pool.c worker_thread -> qemu_bh_schedule -> aio_notify ->
    # event_notifier_set), and drops io_submit; on completion the main loop reads an eventfd
    # either way (linux-aio.c qemu_laio_completion_cb, or util/async.c
    # aio_context_notifier_cb for the pool's bottom half) and reaps Linux AIO's ring in
    # userspace (io_getevents_peek: no io_getevents). Sum of the hop costs, from the table.
    h = HOST
    extra = (h["syscall_us"] + h["wakeup_us"] + h["syscall_us"] + h["syscall_us"]
             - h["syscall_us"])
    assert _lat(iov.path("virtio-blk", aio="threads")) - _lat(iov.path("virtio-blk")) == \
        pytest.approx(extra, rel=1e-6)


@pytest.mark.parametrize("name", ["virtio-blk-iothread", "virtio-scsi-iothread"])
def test_a_polling_iothread_reaps_every_engine_without_a_syscall(name):
    # while an iothread polls, Linux AIO's completions are peeked from its ring
    # (qemu_laio_poll_cb), io_uring's from the completion ring, and the pool's bottom half is
    # seen through ctx->notified: aio_notify writes the eventfd only to a sleeping thread
    w = iov.Workload.closed(1, 1)

    def iothread_us(aio):
        net = iov.build(iov.path(name, aio=aio), HOST, w)
        return net.stations[net.station_index("iothread")].demand_us

    assert iothread_us("native") == pytest.approx(iothread_us("io_uring"), rel=1e-9)
    # the pool: its hand-off (a futex wake per request) takes io_submit's place on the
    # iothread (one per batch: the same at batch 1), and nothing on completion
    assert iothread_us("threads") - iothread_us("native") == pytest.approx(0.0, abs=1e-9)
    pool = iov.build(iov.path(name, aio="threads"), HOST, w)
    assert pool.stations[pool.station_index("pool")].demand_us == pytest.approx(
        HOST["wakeup_us"] + HOST["syscall_us"], rel=1e-9)


def test_io_uring_reaps_without_a_syscall():
    d = _lat(iov.path("virtio-blk")) - _lat(iov.path("virtio-blk", aio="io_uring"))
    assert d == pytest.approx(HOST["syscall_us"], rel=1e-6)


def test_sqpoll_trades_the_submit_syscall_for_a_polling_core():
    base = iov.path("virtio-blk-iothread", aio="io_uring")
    sq = base.with_options(sqpoll=True)
    assert "sqpoll" in sq.resources and sq.resources["sqpoll"].polling
    assert (base.mode_switches()["syscalls"].iloc[0]
            - sq.mode_switches()["syscalls"].iloc[0]) == pytest.approx(1.0)
    # the submission's kernel work moves to the polling thread: the iothread is spared it,
    # the request waits half a poll loop more
    w = iov.Workload.closed(1, 1)
    dem = [iov.build(p, HOST, w).stations[iov.build(p, HOST, w).station_index("iothread")]
           .demand_us for p in (base, sq)]
    assert dem[0] - dem[1] == pytest.approx(HOST["syscall_us"], rel=1e-6)
    assert _lat(sq) - _lat(base) == pytest.approx(0.5 * HOST["poll_interval_us"], rel=1e-6)
    assert "sqpoll" in iov.build(sq, HOST, w).polling


def test_a_page_cache_hit_never_reaches_the_device():
    p = iov.path("virtio-blk", aio="threads", cache="writeback", page_cache_hit=True)
    for rw in ("randread", "randwrite"):
        net = iov.build(p, HOST, iov.Workload.closed(1, 1, rw=rw))
        assert all(s.demand_us == 0 for s in net.stations if s.name in ("device", "devbus"))


def test_a_write_back_write_is_not_a_device_access_but_its_fsync_is():
    p = iov.path("virtio-blk", aio="threads", cache="writeback")
    w = iov.Workload.closed(1, 1, rw="randwrite")
    net = iov.build(p, HOST, w)
    dev = net.stations[net.station_index("device")]
    assert dev.demand_us == 0.0
    # fsync=4: every 4th I/O writes back the 4 dirty pages and flushes the device
    host = HOST.replace(device_flush_us=100.0)
    net = iov.build(p, host, w.replace(fsync=4))
    dev = net.stations[net.station_index("device")]
    assert dev.demand_us == pytest.approx(host["device_write_us"] + 100.0 / 4)


def test_directsync_flushes_after_every_write():
    host = HOST.replace(device_flush_us=50.0)
    w = iov.Workload.closed(1, 1, rw="randwrite")
    d = (iov.analyze(iov.path("virtio-blk", cache="directsync"), host, w).latency_us
         - iov.analyze(iov.path("virtio-blk"), host, w).latency_us)
    assert d == pytest.approx(50.0 + host["syscall_us"] + host["host_blk_us"], rel=1e-6)


def test_a_catalog_requires_entry_must_hold_for_the_defaults(tmp_path):
    f = tmp_path / "bad.toml"
    f.write_text('format_version = 1\n[[path]]\nname = "x"\noptions = { a = true }\n'
                 'requires = [{ condition = "not a", why = "no" }]\n'
                 '[[path.hop]]\nname = "h"\nresource = "host"\ncost = 1.0\n')
    with pytest.raises(CatalogError, match="no"):
        iov.load_catalog(f)
