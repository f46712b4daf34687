"""``network.rebuild`` (the fit's fast path: a known network with new hop costs) must give
exactly what a fresh ``network.build`` gives, for every catalog path and workload shape, or
a fit would silently optimise a different model from the one ``analyze`` solves."""

from __future__ import annotations

import math

import numpy as np
import pytest

import iovmodel as iov
from iovmodel.calibrate.predict import server_reads
from iovmodel.errors import ParameterError
from iovmodel.network import Rebuilder, build, rebuild
from iovmodel.spec.catalog import path as get_path
from iovmodel.spec.profile import HostProfile
from iovmodel.spec.traffic import Traffic
from iovmodel.spec.workload import Workload

WORKLOADS = [Workload.closed(jobs=3, iodepth=4), Workload.closed(jobs=1, iodepth=8, batch=2),
             Workload.open(2000.0)]
# network paths also move packets: exchanges (with a host and with a VM on another host), a
# stream each way and VM to VM, a flood
TRAFFIC = [Traffic.rr(), Traffic.stream(direction="tx"), Traffic.stream(direction="rx"),
           Traffic.stream(direction="vm2vm"), Traffic.flood(rate_pps=50_000.0),
           Traffic.rr(direction="hosts", peer="vm")]


def _everything(net) -> tuple:
    return (tuple(v.__dict__.items() for v in net.route),
            tuple(s.__dict__.items() for s in net.stations),
            {k: v for k, v in net.__dict__.items() if k not in ("route", "stations")})


@pytest.mark.parametrize("name", list(iov.paths()["name"]))
def test_rebuild_equals_a_fresh_build(name):
    p = get_path(name)
    host = HostProfile.default()
    rng = np.random.default_rng(7)
    fixed = set(server_reads(p))
    # every cost a server count does not read, moved by a random factor in 0.5..2 (whole
    # numbers doubled, so they stay whole; hop_scv and device_scv, 1 by default, move too)
    moved = host.replace(**{k: host[k] * 2 if float(host[k]).is_integer()
                            else host[k] * float(rng.uniform(0.5, 2.0))
                            for k in host if k not in fixed})
    workloads = WORKLOADS + ([Workload.of(t) for t in TRAFFIC] if p.device == "net" else [])
    checked = 0
    for w in workloads:
        try:
            template = build(p, host, w)
        except ParameterError:
            continue  # a workload this path refuses (e.g. a batch on a path without one)
        assert _everything(rebuild(template, p, moved, w)) == _everything(build(p, moved, w))
        checked += 1
    assert checked >= 2


@pytest.mark.parametrize("name", list(iov.paths()["name"]))
def test_a_rebuilder_follows_a_sequence_of_hosts(name):
    # the fit's Rebuilder keeps the visits and stations of its previous call whose costs did
    # not move: a Jacobian's steps move one cost at a time, then the base point comes back,
    # and each network must still be the fresh build's (a stale visit or station fails)
    p = get_path(name)
    host = HostProfile.default()
    fixed = set(server_reads(p))
    names = [k for k in host if k not in fixed and not float(host[k]).is_integer()]
    hosts = [host] + [host.replace(**{k: host[k] * 1.5}) for k in names] + [host]
    workloads = WORKLOADS + ([Workload.of(t) for t in TRAFFIC] if p.device == "net" else [])
    checked = 0
    for w in workloads:
        try:
            template = build(p, host.replace(**{k: host[k] * 0.5 for k in names}), w)
        except ParameterError:
            continue
        again = Rebuilder(template, p, w)
        moved = 0
        for h in hosts:
            net = again(h)
            assert _everything(net) == _everything(build(p, h, w))
            moved += net is not template
        assert moved == len(hosts)
        checked += 1
    assert checked >= 2


def test_rebuild_refuses_a_cost_that_turns_negative():
    p = get_path("virtio-blk")
    host = HostProfile.default()
    w = Workload.closed(jobs=1, iodepth=4)
    template = build(p, host, w)
    cost = next(h.cost for h in p.active_hops() if isinstance(h.cost, str))
    name = sorted(n for n in host if n in cost)[0]
    with pytest.raises(ParameterError, match="must be finite and >= 0"):
        # a plain mapping: HostProfile itself refuses a negative cost before any build
        rebuild(template, p, {**host, name: -1e6}, w)
    again = Rebuilder(template, p, w)
    again(host)
    with pytest.raises(ParameterError, match="must be finite and >= 0"):
        again({**host, name: -1e6})
    assert _everything(again(host)) == _everything(build(p, host, w))
    assert math.isfinite(build(p, host, w).zero_load_latency_us)


@pytest.mark.parametrize("name", list(iov.paths()["name"]))
def test_with_batch_equals_a_fresh_build(name):
    # the packets-per-notification fixed point tries many batches of one network: each must
    # be the network build makes at that batch, field by field
    p = get_path(name)
    host = HostProfile.default()
    workloads = [Workload.closed(jobs=3, iodepth=4), Workload.open(2000.0)] + (
        [Workload.of(t) for t in TRAFFIC] if p.device == "net" else [])
    checked = 0
    for w in workloads:
        try:
            template = build(p, host, w)
        except ParameterError:
            continue
        top = float(min(w.population or 64, 64))  # the NAPI budget caps an open flood's batch
        for b in sorted({1.0, min(2.0, top), min(3.7, top), top}):
            nb = template.with_batch(b)
            assert _everything(nb) == _everything(build(p, host, _at(w, b)))
            # the stream bound's shortcut names the same limit as bottleneck()
            assert nb.saturation_per_s == nb.bottleneck().capacity_per_s
        checked += 1
    assert checked >= 2


def _at(w, b):
    from dataclasses import replace

    return replace(w, batch=b)  # a fractional mean batch, as the fixed point tries


def test_with_batch_refuses_a_batch_beyond_the_population():
    net = build(get_path("virtio-blk"), HostProfile.default(), Workload.closed(jobs=1, iodepth=4))
    with pytest.raises(ParameterError, match="batch 5.0 > population 4"):
        net.with_batch(5.0)
    with pytest.raises(ParameterError, match="batch"):
        net.with_batch(0.5)


@pytest.mark.parametrize("name", list(iov.paths()["name"]))
def test_saturation_names_the_bottlenecks_capacity(name):
    # saturation_per_s (a shortcut) against bottleneck().capacity_per_s over all the limits:
    # stations, a finite host core pool (busy-polling threads hold some), an in-flight limit
    p = get_path(name)
    variants = [p] + ([p.with_options(cores=2)] if "cores" in p.options else [])
    for q in variants:
        for w in (Workload.closed(jobs=2, iodepth=8), Workload.open(1000.0)):
            try:
                net = build(q, HostProfile.default(), w)
            except ParameterError:
                continue  # e.g. polling threads that hold both cores
            assert net.saturation_per_s == net.bottleneck().capacity_per_s
