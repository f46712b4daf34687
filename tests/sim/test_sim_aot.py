"""The ahead-of-time kernels (iovmodel.solve.sim.aot) give the JIT's numbers, bit for bit."""

from __future__ import annotations

import importlib.util
import subprocess
import sys

import pytest
from _sim_reference import network

from iovmodel.solve.sim import aot, kernel, simulate, simulate_network


@pytest.fixture(scope="module")
def aot_module(tmp_path_factory):
    """A fresh AOT build of the current sources (not the set-up's), loaded from a temp dir."""
    d = tmp_path_factory.mktemp("aot")
    try:
        path = aot.build(d)
    except Exception as exc:  # noqa: BLE001
        pytest.skip(f"numba.pycc cannot build here ({type(exc).__name__}: {exc}); "
                    "the simulator falls back to the JIT")
    spec = importlib.util.spec_from_file_location(aot.MODULE, path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    assert mod.stamp() == aot.source_stamp()
    yield mod
    aot._cache.clear()


CASES = [
    ("virtio-blk", {}),  # open: the recursion engine (fifo_pass, delay_pass, block_max)
    ("virtio-blk", {"engine": "event"}),
    ("virtio-blk", {"engine": "event", "vcpus": 2, "cores": 2}),  # groups, cores
    ("emulated-ide", {"engine": "event"}),  # the in-flight gate
    ("vhost-user-blk", {"engine": "event"}),  # a polling back-end
]


@pytest.mark.parametrize("path, kw", CASES)
def test_aot_and_jit_same_numbers(aot_module, path, kw):
    runs = {}
    for name, mod in (("aot", aot_module), ("jit", kernel)):
        aot._cache["k"] = mod
        try:
            r = simulate(path, requests=5000, replications=2, seed=11, progress=False, **kw)
        finally:
            aot._cache.clear()
        runs[name] = r.replications
    assert runs["aot"].equals(runs["jit"])


def test_aot_fork_join_and_closed_same_numbers(aot_module):
    net = network("fj", [("a", 1), ("b", 2)], [("x", 0, 1.0, 1.0, 1, "batch"),
                                                ("y", 1, 0.5, 1.0, 1, "io")],
                  population=4, batch=2)
    runs = []
    for mod in (aot_module, kernel):
        aot._cache["k"] = mod
        try:
            runs.append(simulate_network(net, requests=5000, replications=2, seed=5,
                                         progress=False, batching="fork-join").replications)
        finally:
            aot._cache.clear()
    assert runs[0].equals(runs[1])


def test_stale_build_falls_back_to_the_jit(monkeypatch):
    # a kernel edited after the build must not run the old machine code
    monkeypatch.setattr(aot, "source_stamp", lambda: -1)
    aot._cache.clear()
    try:
        assert aot.kernels() is kernel and aot.engine_kind() == "jit"
    finally:
        aot._cache.clear()


def test_disabled_by_environment(monkeypatch):
    monkeypatch.setenv("IOVMODEL_AOT", "0")
    aot._cache.clear()
    try:
        assert aot.engine_kind() == "jit"
    finally:
        aot._cache.clear()


def test_installed_build_first_simulation_needs_no_numba():
    # what make's set-up gives a new process: the AOT kernels, and numba never imported
    if aot._load_aot() is None:
        pytest.skip("no current AOT build in the package (make's set-up builds it: "
                    "python -c 'import iovmodel.solve.sim as s; s.precompile()')")
    code = ("import sys, iovmodel as iov; "
            "iov.simulate('virtio-blk', requests=1000, replications=1, seed=1, progress=False); "
            "from iovmodel.solve.sim.aot import engine_kind; "
            "print(engine_kind(), 'numba' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["aot", "False"]
