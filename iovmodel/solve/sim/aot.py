"""Ahead-of-time compiled simulator kernels: the first simulation without numba's start-up.

A numba ``@njit(cache=True)`` kernel loaded from its on-disk cache still costs
~0.5 s in every new process, almost all of it numba's own start-up (importing
numba, then its typing registries, which import ``scipy.linalg`` to look for a
BLAS); a trivial cached ``@njit`` function pays the same (``benchmarks/bench_sim.py``
measures both). So ``make``'s set-up also compiles the kernels of
:mod:`.kernel` ahead of time with ``numba.pycc`` into a plain extension module
(``_aot_kernels*.so`` next to this file) that imports in milliseconds and needs
no numba at run time.

The AOT module is the same source compiled by the same LLVM with the same
signatures the JIT infers, so it gives the same numbers
(``tests/sim/test_sim_aot.py`` checks this bit for bit). It is used only when it
matches the sources: its ``stamp()`` is a hash of ``kernel.py``, ``events.py``
and the Python and NumPy versions; a stale or missing module (a developer edited
the kernel, no C compiler at set-up, ``IOVMODEL_AOT=0`` in the environment)
falls back to the numba JIT silently but observably (:func:`engine_kind`).

``numba.pycc`` is pending deprecation in numba (no replacement yet); when it goes
the fallback is the JIT with its cache, as before.

Build: ``python -m iovmodel.solve.sim.aot`` (needs a C compiler and Python's
headers, as building any extension module does).
"""

from __future__ import annotations

import hashlib
import importlib
import os
import sys
import warnings
from pathlib import Path
from types import ModuleType

import numpy as np

_HERE = Path(__file__).resolve().parent
MODULE = "_aot_kernels"

# the signatures numba's JIT infers for the engine's calls (C-contiguous arrays)
_I1, _F1, _B1 = "i8[::1]", "f8[::1]", "b1[::1]"
_I2, _F2 = "i8[:, ::1]", "f8[:, ::1]"
SIGNATURES = {
    "run": "i8(" + ", ".join([
        _I1, _F1, "i8",  # ints, now, limit
        _I1, _I1, _B1, _F1, _I1, "i8", "b1", "f8",  # st_inst .. think
        _B1, _B1, _I1, _F1, _I1,  # st_private, st_core, st_fast, st_hand, st_cap
        _I1, _B1, _I1, _I1, _F1,  # st_hold, st_hold_priv, slot_group, slot_held, slot_hold_t
        _F1, "i8",  # group_cum, inflight
        _F2, _I1, "i8",  # buf, pos, refill_at
        _F1, _I1,  # heap
        _I2, _F2, _I1, _I1,  # queues
        _I1, _F1, _F1,  # busy, free_t, core_t
        _F1, _I1, _I1,  # arr_t, slot_batch, free_slots
        _I1, _I1, _I2, _F2, _F1, _F1, _I1,  # batches
        _F1, "i8", _F2, _F2, _F2, _F1,  # lat, blk, blk_wait, blk_serv, blk_busy, blk_tend
    ]) + ")",
    "fifo_pass": f"void({_F1}, {_F1}, i8, {_F1}, {_I1}, i8, {_F2}, {_F2}, i8)",
    "delay_pass": f"void({_F1}, {_F1}, {_F1}, {_I1}, i8, {_F2}, i8)",
    "block_max": f"{_F1}({_F1}, {_I1}, i8, i8)",
}

_cache: dict[str, ModuleType] = {}


def source_stamp() -> int:
    """A 62-bit hash of what the AOT module must match: the kernel sources and ABI."""
    h = hashlib.sha256()
    for name in ("kernel.py", "events.py"):
        h.update((_HERE / name).read_bytes())
    h.update(f"{sys.version_info[:2]} numpy {np.__version__}".encode())
    return int.from_bytes(h.digest()[:8], "little") >> 2


def _load_aot() -> ModuleType | None:
    if os.environ.get("IOVMODEL_AOT", "1") == "0":
        return None
    try:
        mod = importlib.import_module(f"{__package__}.{MODULE}")
    except ImportError:
        return None
    return mod if mod.stamp() == source_stamp() else None


def kernels() -> ModuleType:
    """The module whose ``run``, ``fifo_pass``, ``delay_pass``, ``block_max`` the engine
    calls: the AOT build when it matches the sources, else :mod:`.kernel` (numba JIT)."""
    mod = _cache.get("k")
    if mod is None:
        mod = _load_aot()
        if mod is None:
            from . import kernel as mod
        _cache["k"] = mod
    return mod


def engine_kind() -> str:
    """``"aot"`` or ``"jit"``: which compiled kernels this process uses."""
    return "aot" if kernels().__name__.endswith(MODULE) else "jit"


def build(dest: str | os.PathLike | None = None) -> Path:
    """Compile the kernels ahead of time into ``dest`` (default: this package); returns
    the module's path. Raises whatever the compiler raises (no C compiler, no headers)."""
    from numba import njit

    from . import kernel

    out = Path(dest) if dest is not None else _HERE
    stamp_value = source_stamp()
    with warnings.catch_warnings():
        # numba.pycc is pending deprecation; the module docstring says what happens then
        warnings.simplefilter("ignore")
        from numba.pycc import CC

        cc = CC(MODULE)
        cc.output_dir = str(out)
        cc.target_cpu = "host"  # built on the machine that runs it, as the JIT compiles
        cc.verbose = False
        for name, sig in SIGNATURES.items():
            cc.export(name, sig)(getattr(kernel, name).py_func)

        @njit
        def stamp():
            return stamp_value

        cc.export("stamp", "i8()")(stamp.py_func)
        cc.compile()
    found = sorted(out.glob(f"{MODULE}*.so")) + sorted(out.glob(f"{MODULE}*.pyd"))
    if not found:
        raise RuntimeError(f"numba.pycc reported success but no {MODULE} module is in {out}")
    _cache.clear()
    return found[0]


def main() -> int:
    import time

    t0 = time.perf_counter()
    try:
        path = build()
    except Exception as exc:  # noqa: BLE001 - set-up goes on with the JIT; say why
        print(f"ahead-of-time simulator kernels not built ({type(exc).__name__}: {exc}); "
              "the simulator uses numba's JIT (first simulation of a process ~0.5 s slower)")
        return 0
    print(f"ahead-of-time simulator kernels built in {time.perf_counter() - t0:.1f} s: {path.name}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
