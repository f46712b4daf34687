"""HostProfile: declared costs, validation, files."""

import math
import tomllib
from importlib import resources

import pytest

import iovmodel as iov
from iovmodel.errors import IovModelError, ParameterError


def test_every_cost_declared_with_source_bounds_and_symbol():
    params = iov.parameters()
    assert len(params) >= 20
    for name, p in params.items():
        assert p.source.strip(), name
        assert p.symbol.strip(), name
        lo, hi = p.bounds
        assert lo <= p.value <= hi, name
        assert p.typical[0] <= p.typical[1], name
        # units are in the name (_slots, _scv and _ratio: dimensionless, a server count, a
        # squared coefficient of variation and a speed-up)
        assert name.endswith(("_us", "_ns_per_byte", "_slots", "_scv", "_ratio")), name


def test_defaults_follow_their_cited_cycle_counts():
    """Spot-check conversions written in costs.toml against the cited cycle counts at 3.0 GHz."""
    doc = tomllib.loads(resources.files("iovmodel").joinpath("data", "costs.toml").read_text())
    ghz = doc["clock_ghz"]
    host = iov.HostProfile.default()
    # S22: cpuid exit ~1050 cycles; S18: 13000 cycles to exit to userspace; 3300 cycles emulation
    assert host["vmexit_us"] == pytest.approx(1050 / (ghz * 1e3), rel=0.01)
    assert host["user_exit_us"] == pytest.approx(13000 / (ghz * 1e3), rel=0.01)
    assert host["bql_emulate_us"] == pytest.approx(3300 / (ghz * 1e3), rel=0.01)
    # S18: inl_from_kernel - outl_to_kernel = 7237 - 4451 cycles
    assert host["insn_emulate_us"] == pytest.approx((7237 - 4451) / (ghz * 1e3), rel=0.01)
    # S28: 2493.14 ns per context switch without polling
    assert host["wakeup_us"] == pytest.approx(2.49314, rel=0.01)


def test_mapping_and_replace_are_immutable():
    host = iov.HostProfile.default()
    assert "vmexit_us" in host and len(host) == len(iov.parameters())
    h2 = host.replace(vmexit_us=1.5)
    assert h2["vmexit_us"] == 1.5 and host["vmexit_us"] != 1.5
    with pytest.raises(AttributeError):
        host.name = "x"
    assert "vmexit_us" in repr(h2) and "<table>" in h2._repr_html_()


@pytest.mark.parametrize("bad", [-1.0, math.nan, 1e9, "abc"])
def test_bad_values_name_the_parameter_and_bounds(bad):
    with pytest.raises(ParameterError, match="vmexit_us") as exc:
        iov.HostProfile.default().replace(vmexit_us=bad)
    assert isinstance(exc.value, ValueError) and isinstance(exc.value, IovModelError)
    if bad != "abc":
        assert "[0.01, 100]" in str(exc.value)


def test_unknown_cost_lists_known_ones():
    with pytest.raises(ParameterError, match="unknown cost 'vmexit'.*vmexit_us"):
        iov.HostProfile.default().replace(vmexit=1.0)


def test_file_round_trip_and_no_overwrite(tmp_path):
    f = tmp_path / "host.toml"
    h = iov.HostProfile.default().replace(vmexit_us=0.7, wakeup_us=12.0)
    h.to_file(f)
    back = iov.HostProfile.from_file(f)
    assert back == h and back["wakeup_us"] == 12.0
    before = f.read_bytes()
    with pytest.raises(FileExistsError):
        iov.HostProfile.default().to_file(f)
    assert f.read_bytes() == before  # untouched
    iov.HostProfile.default().to_file(f, overwrite=True)
    assert iov.HostProfile.from_file(f) == iov.HostProfile.default()
    assert [p.name for p in tmp_path.iterdir()] == ["host.toml"]  # no temp files left


def test_from_file_errors_name_the_file(tmp_path):
    f = tmp_path / "bad.toml"
    f.write_text("[costs]\nvmexit_us = -3\n")
    with pytest.raises(ParameterError, match="bad.toml.*vmexit_us"):
        iov.HostProfile.from_file(f)
    f.write_text("not = [toml")
    with pytest.raises(ParameterError, match="bad.toml"):
        iov.HostProfile.from_file(f)


def test_to_frame_has_sources():
    df = iov.HostProfile.default().to_frame()
    assert {"name", "value", "unit", "default", "source", "meaning"} <= set(df.columns)
    assert (df["source"].str.len() > 10).all()


def test_count_parameters_must_be_whole():
    with pytest.raises(ParameterError, match="device_blk_slots.*whole number"):
        iov.HostProfile.default().replace(device_blk_slots=2.5)


def test_membership_is_plain():
    host = iov.HostProfile.default()
    assert "vmexit_us" in host and "batch" not in host and 3 not in host


def test_every_cost_says_whose_speed_it_is():
    # costs.toml declares each cost's kind: the machine's own speed at work that runs the
    # same without virtualization, or the virtualization machinery (what a hierarchical
    # fit shares); the split follows what each cost's meaning says it times
    params = iov.parameters()
    kinds = {name: p.kind for name, p in params.items()}
    assert set(kinds.values()) == {"hardware", "virtualization"}
    for name in ("device_blk_us", "guest_blk_us", "guest_net_us", "host_net_us",
                 "copy_ns_per_byte", "syscall_us", "pagecache_write_us", "nic_ns_per_byte"):
        assert kinds[name] == "hardware", name
    for name in ("vmexit_us", "user_exit_us", "ioeventfd_us", "irqfd_inject_us", "wakeup_us",
                 "halt_wake_us", "bql_acquire_us", "vhost_us", "virtqueue_us"):
        assert kinds[name] == "virtualization", name
    from iovmodel.spec.profile import parameter_table

    assert set(parameter_table()["kind"]) == {"hardware", "virtualization"}


@pytest.mark.parametrize("kind, needle", [(None, "malformed"), ("cpu", "has kind 'cpu'")])
def test_a_cost_without_a_known_kind_is_refused_by_name(kind, needle):
    from iovmodel.spec.profile import _parse_parameters

    entry = {"value": 1.0, "bounds": [0.0, 10.0], "typical": [0.5, 2.0], "symbol": "t",
             "meaning": "m", "source": "s"}
    if kind is not None:
        entry["kind"] = kind
    with pytest.raises(ParameterError, match=f"mine.toml: cost 'x_us'.*{needle}|"
                                             f"mine.toml: cost 'x_us' {needle}"):
        _parse_parameters({"x_us": entry}, "mine.toml")
