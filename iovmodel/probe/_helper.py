"""Build and run the probe's C helper (``iovprobe.c``).

The timing loops run in a small C program, compiled on first use with the machine's C
compiler (``$CC``, else ``cc``/``gcc``/``clang``) into a per-user cache directory
(``$IOVMODEL_CACHE_DIR``, else ``$XDG_CACHE_HOME/iovmodel``, else ``~/.cache/iovmodel``).
The binary's name carries a hash of the source and the compiler, so an edited source or
another compiler rebuilds it; the build goes to a temporary file renamed into place, so
parallel first uses cannot see a half-written binary.

One experiment runs per helper process, under two time limits: the helper's own watchdog
(``SIGALRM`` forces every vCPU out with ``immediate_exit``) and, as a backstop,
:func:`subprocess.run` killing the process a few seconds later.  Everything the helper
opens dies with it.
"""

from __future__ import annotations

import hashlib
import os
import platform
import shutil
import signal
import subprocess
import tempfile
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

import numpy as np

from ..errors import ProbeError

SOURCE = "iovprobe.c"
#: seconds the Python side waits beyond the helper's own watchdog before killing it
KILL_GRACE_S = 5.0


def cache_dir() -> Path:
    """Directory holding the compiled helper (created on demand)."""
    env = os.environ.get("IOVMODEL_CACHE_DIR")
    if env:
        return Path(env)
    xdg = os.environ.get("XDG_CACHE_HOME")
    base = Path(xdg) if xdg else Path.home() / ".cache"
    return base / "iovmodel"


def find_compiler() -> str | None:
    """The C compiler to use, or None: ``$CC`` if set, else the first of cc, gcc, clang."""
    cc = os.environ.get("CC")
    if cc:
        return shutil.which(cc) or None
    for name in ("cc", "gcc", "clang"):
        found = shutil.which(name)
        if found:
            return found
    return None


def _source_text() -> bytes:
    return resources.files("iovmodel.probe").joinpath(SOURCE).read_bytes()


def helper_path(rebuild: bool = False) -> Path:
    """Path of the compiled helper, compiling it first if needed.

    Raises
    ------
    ProbeError
        No C compiler, or the compilation failed (its messages are included).
    """
    src = _source_text()
    cc = find_compiler()
    if cc is None:
        raise ProbeError(
            "the KVM probe needs a C compiler to build its timing helper, and none was found "
            "(looked for $CC, cc, gcc, clang). Install one, e.g. `apt-get install gcc` "
            "(Debian/Ubuntu) or `dnf install gcc`, or set CC=/path/to/compiler.")
    key = hashlib.sha256(src + b"\0" + cc.encode() + b"\0" + platform.machine().encode())
    out_dir = cache_dir()
    exe = out_dir / f"iovprobe-{key.hexdigest()[:16]}"
    if exe.exists() and not rebuild:
        return exe
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ProbeError(f"cannot create the probe's cache directory {out_dir}: {exc}; "
                         "set IOVMODEL_CACHE_DIR to a writable directory") from None
    with tempfile.TemporaryDirectory(prefix="iovprobe-build-") as tmp:
        c_file = Path(tmp) / SOURCE
        c_file.write_bytes(src)
        tmp_exe = Path(tmp) / "iovprobe"
        cmd = [cc, "-O2", "-std=gnu11", "-pthread", "-o", str(tmp_exe), str(c_file)]
        try:
            proc = _compile(cmd)
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise ProbeError(f"compiling the probe helper with {cc} failed: {exc}") from None
        if proc.returncode != 0:
            raise ProbeError(
                f"compiling the probe helper failed ({' '.join(cmd)}):\n{proc.stderr.strip()}\n"
                "The helper needs the C library and Linux kernel headers (Debian: "
                "`apt-get install gcc libc6-dev`, which brings linux-libc-dev).")
        # rename into the cache directory atomically (same file system via a sibling temp)
        fd, staged = tempfile.mkstemp(prefix=".iovprobe-", dir=out_dir)
        os.close(fd)
        try:
            shutil.copyfile(tmp_exe, staged)
            os.chmod(staged, 0o755)
            os.replace(staged, exe)
        except OSError:
            if os.path.exists(staged):
                os.unlink(staged)
            raise
    # binaries of older sources are never used again: keep the cache to one helper
    for old in out_dir.glob("iovprobe-*"):
        if old != exe:
            try:
                old.unlink()
            except OSError:
                pass
    return exe


def _compile(cmd: list[str], timeout: float = 120.0) -> subprocess.CompletedProcess:
    """Run the compiler in its own process group, killed whole on any exit (Ctrl-C, a
    timeout, SIGTERM turned into an exception): no orphaned cc1/as, and the build folder
    around it can then be removed."""
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)
    try:
        out, err = proc.communicate(timeout=timeout)
    except BaseException:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except OSError:
            pass
        proc.wait()
        raise
    return subprocess.CompletedProcess(cmd, proc.returncode, out, err)


@dataclass
class HelperOutput:
    """What one helper run printed: ``key value`` pairs and sample arrays (µs)."""

    values: dict[str, str] = field(default_factory=dict)
    samples_us: dict[str, np.ndarray] = field(default_factory=dict)


def parse_output(raw: bytes) -> HelperOutput:
    """Parse the helper's stdout (text lines, binary int64 ns sample blocks)."""
    out = HelperOutput()
    i = 0
    n_raw = len(raw)
    ended = False
    while i < n_raw:
        j = raw.find(b"\n", i)
        if j < 0:
            break
        line = raw[i:j].decode("ascii", "replace").split()
        i = j + 1
        if not line:
            continue
        if line[0] == "samples" and len(line) == 3:
            n = int(line[2])
            block = raw[i:i + 8 * n]
            if len(block) != 8 * n:
                raise ProbeError(f"probe helper output truncated in sample block {line[1]!r}")
            out.samples_us[line[1]] = np.frombuffer(block, dtype="<i8").astype(float) / 1000.0
            i += 8 * n + 1
        elif line[0] == "end":
            ended = True
        elif len(line) == 2:
            out.values[line[0]] = line[1]
    if not ended:
        raise ProbeError("probe helper output is incomplete (no 'end' line)")
    return out


def run_helper(mode: str, experiment: str, *args: object, limit_s: float = 10.0,
               exe: Path | None = None) -> HelperOutput:
    """Run one experiment of the helper and return its parsed output.

    Parameters
    ----------
    mode : {"real", "long"}
        Guest mode: 16-bit real mode or 64-bit long mode at CPL 3.
    experiment : str
        Experiment name understood by ``iovprobe.c`` (``exit``, ``loop``, ``mutex``, ...).
    *args
        Its arguments.
    limit_s : float
        Hard time limit in seconds: the helper's watchdog stops the guest then; the process
        is killed ``KILL_GRACE_S`` later if still alive.
    """
    if mode not in ("real", "long"):
        raise ProbeError(f"guest mode must be 'real' or 'long', got {mode!r}")
    exe = exe or helper_path()
    cmd = [str(exe), f"{limit_s:g}", mode, experiment, *(str(a) for a in args)]
    try:
        proc = subprocess.run(cmd, capture_output=True, timeout=limit_s + KILL_GRACE_S)
    except subprocess.TimeoutExpired:
        raise ProbeError(
            f"probe experiment {experiment} {args} did not stop within {limit_s + KILL_GRACE_S:g} s"
            " and was killed") from None
    err = proc.stderr.decode("utf-8", "replace").strip()
    if proc.returncode == 3:
        raise ProbeError(f"probe experiment {experiment} {args} hit its time limit of "
                         f"{limit_s:g} s; the guest was stopped ({err})")
    if proc.returncode != 0:
        raise ProbeError(f"probe experiment {experiment} {args} failed "
                         f"(exit status {proc.returncode}): {err or 'no message'}")
    return parse_output(proc.stdout)
