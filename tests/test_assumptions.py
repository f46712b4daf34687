"""The assumptions block (issue 18): every table says what its numbers rest on.

The expected texts come from the inputs (the host's costs, the path's options, the
workload), not from the code under test: change an input, the block must follow.
"""

import math
import re
from dataclasses import replace

import pytest

import iovmodel as iov
from iovmodel.assumptions import KEYS, frame_blocks, html_block, split, text_block, workload_text
from iovmodel.cli import main
from iovmodel.solve.analyze import resolve
from iovmodel.spec.catalog import path_names
from iovmodel.spec.traffic import Traffic
from iovmodel.widgets.views import table_html

HOST = iov.HostProfile.default()
UNBOUNDED_PATHS = ("native-net", "vfio-net")  # no finite resource until the NIC has a line rate


def test_device_entry_names_the_device_cost_with_the_hosts_value():
    host = HOST.replace(device_blk_us=55.0, device_blk_slots=8)
    a = iov.analyze("native-blk", host).assumptions
    assert "device_blk_us=55 µs" in a["device"] and "device_blk_slots=8" in a["device"]
    # the data path beyond 4 KiB appears only where a request has bytes beyond 4 KiB
    assert "device_ns_per_byte" not in a["device"]
    big = iov.analyze("native-blk", host, iov.Workload.closed(1, 1, size_bytes=65536))
    assert "device_ns_per_byte" in big.assumptions["device"]
    assert "device_net_us=25 µs" in iov.analyze("native-net").assumptions["device"]


def test_firecracker_blk_says_it_is_a_page_cache_hit_wherever_it_shows(tmp_path, capsys):
    r = iov.analyze("firecracker-virtio-blk")
    assert "page-cache hit" in r.assumptions["device"] and "no device" in r.assumptions["device"]
    assert "page-cache hit" in r.summary() and "page-cache hit" in r._repr_html_()
    assert "page-cache hit" in r.to_frame()["assumed_device"].iloc[0]
    df = iov.compare(["native-blk", "firecracker-virtio-blk"])
    assert "page-cache hit" in df.set_index("path").loc["firecracker-virtio-blk", "assumed_device"]
    assert "device_blk_us" in df.set_index("path").loc["native-blk", "assumed_device"]
    assert main(["compare", "native-blk", "firecracker-virtio-blk"]) == 0
    assert "page-cache hit" in capsys.readouterr().out
    assert main(["report", "--out", str(tmp_path)]) == 0
    assert "firecracker-virtio-blk: no device: a page-cache hit" in capsys.readouterr().out


def test_a_path_without_device_hops_says_so_even_without_a_note():
    p = iov.Path.from_hops("cpu-only", [iov.Hop("work", "vmm", 2.0)])
    p, h, w, net = resolve(p)
    a = iov.assumptions.assumptions(p, h, w, net)
    assert a["device"].startswith("none in the model")


@pytest.mark.parametrize("name", UNBOUNDED_PATHS)
def test_no_inf_saturation_but_a_word_saying_why(name, tmp_path, capsys):
    # vcpus="inf": with the default single vCPU the guest's CPU bounds every path; these
    # paths have no other finite resource (the NIC has no line rate yet)
    r = iov.analyze(name, HOST, iov.Workload.closed(1, 1, size_bytes=64), vcpus="inf")
    assert math.isinf(r.saturation_per_s)  # the number stays honest in the data
    why = r.assumptions["saturation"]
    assert why.startswith("unbounded: no finite resource in the model")
    net = r.extra["net"]
    assert all(s.name in why for s in net.stations)  # every resource named: all unlimited
    visible = re.sub(r"<[^>]*>", " ", table_html({name: r}, r.workload))  # not data-value
    for text in (r.summary(), re.sub(r"<[^>]*>", " ", r._repr_html_()), visible, repr(r)):
        assert "unbounded" in text and not re.search(r"\binf\b|∞", text)
    assert main(["compare", name, "--size", "64", "--option", "vcpus=inf"]) == 0
    out = capsys.readouterr().out
    assert "unbounded" in out and not re.search(r"\binf\b|∞", out.replace("vcpus=inf", ""))
    assert "unbounded: no finite resource" in out.replace("\n               ", " ")
    # the report solves the defaults: the one vCPU is the bound, a number, never inf
    assert main(["report", "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    row = next(ln for ln in out.splitlines() if ln.startswith(name + " "))
    assert "vcpu" in row and "inf" not in row


def test_finite_saturation_has_no_saturation_entry():
    assert "saturation" not in iov.analyze("virtio-blk").assumptions


def test_options_vcpus_batch_host_and_workload_follow_the_inputs():
    host = HOST.replace(vmexit_us=1.2)
    w = iov.Workload.closed(4, 2, size_bytes=8192, batch=2)
    a = iov.analyze("vhost-scsi", host, w, workers=3).assumptions
    assert a["options"] == "queues=unlimited, workers=3, posted_interrupts=true"
    assert a["batch"].startswith("2 requests per kick/interrupt")
    assert a["workload"] == "closed: 4 jobs x iodepth 2 (8 in flight), 8,192 B requests"
    assert "vmexit_us=1.2" in a["host"] and "'default'" in a["host"]
    assert "the declared default costs" in iov.analyze("vhost-scsi").assumptions["host"]
    assert a["vcpus"] == "1"  # the catalog's default guest: one vCPU (QEMU without -smp)
    # what the vCPU pays per I/O: the vCPU station's demand, split into guest work and exits
    net = iov.build(iov.path("vhost-scsi", workers=3), host, w)
    pays = net.vcpu_pays_us()
    vcpu = net.stations[net.station_index("vcpu")].demand_us
    assert pays["total"] == pytest.approx(vcpu)
    assert pays["guest"] + pays["exits"] + pays["other"] == pytest.approx(pays["total"])
    assert a["vcpu pays"].startswith(f"{pays['total']:.3g} µs per I/O: {pays['guest']:.3g} guest")
    assert "vcpu pays" not in iov.analyze("native-blk").assumptions
    assert iov.analyze("vhost-scsi", vcpus="inf").assumptions["vcpus"].startswith("unlimited")
    assert iov.analyze("vhost-scsi", vcpus=2).assumptions["vcpus"] == "2"
    assert iov.analyze("virtio-blk").assumptions["batch"].startswith("1: a kick and an interrupt")
    load = iov.analyze("vhost-scsi", workload=iov.Workload.closed(8, 1), batching="load")
    assert f"{load.workload.batch:.3g} requests" in load.assumptions["batch"]
    assert "batching='load'" in load.assumptions["batch"]
    o = iov.analyze("virtio-blk", workload=iov.Workload.open(5000, size_bytes=512)).assumptions
    assert o["workload"] == "open: Poisson arrivals at 5,000 IO/s, 512 B requests"
    assert list(a) == [k for k in KEYS if k in a]  # one order everywhere


def test_fields_a_network_or_path_gains_appear_without_code_changes():
    """Issue 11 adds in-flight limits and options (cores, queues): read, not typed."""
    p, h, w, net = resolve("vhost-scsi")
    object.__setattr__(net, "inflight", 1)  # as issue 11's Network will carry it
    a = iov.assumptions.assumptions(p, h, w, net)
    assert a["in flight"].startswith("at most 1 at once")
    object.__setattr__(net, "cores", 2)
    object.__setattr__(net, "groups", (4, 4))
    a = iov.assumptions.assumptions(p, h, w, net)
    assert a["host cores"] == "2 shared by the path's threads"
    assert a["groups"] == "2 groups of jobs on their own vCPUs, requests in flight 4, 4"
    assert list(a) == [k for k in KEYS if k in a]
    custom = iov.Path.from_hops("q", [iov.Hop("serve", "worker", 1.0)],
                                servers={"worker": "queues"}, options={"queues": 3, "cores": 2})
    p, h, w, net = resolve(custom)
    a = iov.assumptions.assumptions(p, h, w, net)
    assert a["options"] == "queues=3" and a["host cores"] == "2 shared by the path's threads"


def test_utilisation_views_keep_fractions_and_busy_servers_apart():
    """util_<r>: busy fraction of r's servers (in [0, 1]); busy_<r>: mean busy servers of a
    resource with unlimited servers (Little's law: X x demand, any size)."""
    w = iov.Workload.closed(16, 4)
    for name in path_names():
        r = iov.analyze(name, HOST, w)
        net = r.extra["net"]
        fr = r.to_frame().iloc[0]
        for s in net.stations:
            if s.is_delay:
                assert f"util_{s.name}" not in fr
                assert fr[f"busy_{s.name}"] == pytest.approx(r.throughput_per_s * s.demand_us / 1e6)
            else:
                assert f"busy_{s.name}" not in fr and 0 <= fr[f"util_{s.name}"] <= 1 + 1e-12
        lines = r.summary().splitlines()
        frac = next(ln for ln in lines if "utilisation (busy fraction" in ln)
        assert not any(f" {s.name} " in frac + " " for s in net.stations if s.is_delay)
        busy = [ln for ln in lines if "busy servers (unlimited" in ln]
        assert all("%" not in ln for ln in busy)
    sw = iov.sweep("cloudhv-virtio-net", jobs=[1, 64], vcpus=["inf"])  # a vCPU per request
    assert {"busy_vcpu", "util_vmm_worker"} <= set(sw) and "util_vcpu" not in sw
    one = iov.sweep("cloudhv-virtio-net", jobs=[1, 64])  # the default: one vCPU, a fraction
    assert "util_vcpu" in one and "busy_vcpu" not in one and one["util_vcpu"].max() <= 1
    assert sw["busy_wire"].iloc[1] > 1  # a count, which a percentage column would hide


def test_compare_states_shared_entries_once_and_differing_ones_per_path():
    df = iov.compare(["native-blk", "firecracker-virtio-blk", "vhost-scsi"],
                     workload=iov.Workload.closed(2, 1))
    text = text_block(frame_blocks(df))
    assert text.count("closed: 2 jobs x iodepth 1") == 1
    common, varying = split(frame_blocks(df))
    # issue 14: firecracker-virtio-blk reads the host page cache, an entry the others lack;
    # what the vCPU pays differs by path (native-blk states none: no VM exits); and its
    # batch is the load's (its back-end signals once per pass: Path.batching), the others'
    # the workload's
    assert set(varying) == {"device", "cache", "options", "vcpu pays", "batch"}
    fc = [k for k, v in varying["batch"].items() if v == ["firecracker-virtio-blk"]]
    assert len(fc) == 1 and "found from the load" in fc[0]
    assert list(varying["cache"].values()) == [["firecracker-virtio-blk"]]
    assert varying["options"] == {
        "none": ["native-blk"],
        "engine_async=false, page_cache_hit=true, posted_interrupts=true": ["firecracker-virtio-blk"],
        "queues=unlimited, workers=1, posted_interrupts=true": ["vhost-scsi"]}
    assert "workload" in common
    assert "iov-assumptions" in html_block(frame_blocks(df))


def test_sweep_rows_carry_their_own_assumptions():
    sw = iov.sweep("vhost-scsi", jobs=[1, 4], workers=[1, 4])
    assert sw["assumed_options"].tolist() == [f"queues=unlimited, workers={k}, posted_interrupts=true"
                                              for k in sw["workers"]]
    assert sw["assumed_workload"].tolist() == [
        f"closed: {j} job{'s' if j > 1 else ''} x iodepth 1 ({j} in flight), 4,096 B requests"
        for j in sw["jobs"]]
    op = iov.sweep("virtio-blk", rate_per_s=[1000, 2000])
    assert op["assumed_workload"].str.contains("2,000 IO/s").tolist() == [False, True]


def test_blocks_fit_100_columns_for_every_catalog_path():
    df = iov.compare(path_names())
    text = text_block(frame_blocks(df))
    assert max(len(ln) for ln in text.splitlines()) <= 100
    for name in path_names():
        assert max(len(ln) for ln in iov.analyze(name).summary().splitlines()) <= 100


def test_the_explorer_table_shows_the_block_and_no_infinity():
    rs = {n: iov.analyze(n) for n in ("firecracker-virtio-blk", "virtio-blk")}
    rs["native-net"] = iov.analyze("native-net", vcpus="inf")  # unbounded without the vCPU
    h = table_html(rs, iov.Workload.closed(1, 1))
    assert "iov-assumptions" in h and "page-cache hit" in h and "∞" not in h
    assert "no finite resource in the model" in h  # the cell's title says why


def test_a_simulation_states_its_assumptions_and_fork_join():
    s = iov.simulate("vhost-scsi", HOST, iov.Workload.closed(4, 1, batch=2), requests=2000,
                     replications=2, seed=3, progress=False, batching="fork-join")
    assert "wait for each other" in s.assumptions["batch"]
    assert "assumes:" in s.summary() and "iov-assumptions" in s._repr_html_()
    fr = s.to_frame()
    assert fr["assumed_options"].iloc[0] == "queues=unlimited, workers=1, posted_interrupts=true"
    # the default guest has one vCPU: a server, so a busy fraction (util_), not busy servers
    assert {"util_vcpu", "busy_host", "util_vhost"} <= set(fr) and "busy_vcpu" not in fr
    r = replace(s, assumptions={})  # a result made without them shows no empty block
    assert "assumes" not in r.summary()


# -- the block's layout: a law over any rows ------------------------------------------------

from hypothesis import given  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

_words = st.lists(st.text(alphabet="abcxyz=.,:", min_size=1, max_size=20), min_size=1,
                  max_size=12).map(" ".join)


@given(st.dictionaries(st.sampled_from(["native-blk", "vhost-scsi", "p3", "p4"]),
                       st.dictionaries(st.sampled_from(KEYS), _words, min_size=1), min_size=1))
def test_split_loses_nothing_and_the_text_fits(blocks):
    """Every row's every entry is in the shared part or under its value in the varying part,
    nothing else is; and the text stays within 100 columns."""
    common, varying = split(blocks)
    for name, b in blocks.items():
        for k, v in b.items():
            assert common.get(k) == v or name in varying[k][v]
    for k, groups in varying.items():
        for v, names in groups.items():
            assert all(blocks[n].get(k) == v for n in names)
    assert not set(common) & set(varying)
    assert all(k in b for k in common for b in blocks.values())  # shared means every row's
    for line in text_block(blocks).splitlines():
        assert len(line) <= 100


def test_a_network_workload_says_where_its_far_end_is():
    vm = workload_text(iov.Workload.of(Traffic.rr(1, "udp", "hosts", peer="vm")))
    host = workload_text(iov.Workload.of(Traffic.rr(1, "udp", "hosts")))
    same = workload_text(iov.Workload.of(Traffic.rr(1, "udp", "vm2vm")))
    assert "across hosts through the NIC, to a VM on the same path" in vm
    assert "across hosts through the NIC, to a host" in host
    assert "VM to VM on one host" in same
