"""What this host offers for the probe: /dev/kvm access, API version, capabilities, regime.

Only ``open``, ``ioctl(KVM_GET_API_VERSION)`` and ``ioctl(KVM_CHECK_EXTENSION)`` on
``/dev/kvm`` (no VM is created), plus files under ``/proc`` and ``/sys``.
"""

from __future__ import annotations

import errno
import fcntl
import grp
import html
import os
import platform
import stat
from dataclasses import dataclass, field

import pandas as pd

KVM_DEVICE = "/dev/kvm"
_KVMIO = 0xAE
KVM_GET_API_VERSION = _KVMIO << 8 | 0x00
KVM_CHECK_EXTENSION = _KVMIO << 8 | 0x03

#: capabilities the probe uses or reports (name -> KVM_CAP_* number, from linux/kvm.h)
CAPABILITIES = {
    "irqchip": 0,
    "user_memory": 3,
    "set_tss_addr": 4,
    "nr_vcpus": 9,
    "irqfd": 32,
    "ioeventfd": 36,
    "max_vcpus": 66,
    "immediate_exit": 136,
}
#: capabilities without which the probe cannot run all its experiments
REQUIRED = ("user_memory", "irqchip", "irqfd", "ioeventfd", "immediate_exit")

_KNOWN_MODULES = ("kvm_intel", "kvm_amd", "kvm_pvm")


@dataclass(frozen=True)
class Detection:
    """Result of :func:`detect`.

    Attributes
    ----------
    usable : bool
        True when the probe can create VMs here.
    reason : str
        Why not, and what to do (empty when usable).
    device : str
        Path of the KVM device.
    api_version : int or None
        ``KVM_GET_API_VERSION`` (12 on every Linux since 2.6.22).
    capabilities : dict
        Capability name -> ``KVM_CHECK_EXTENSION`` value (0: absent).
    module : str
        KVM vendor module loaded (kvm_intel, kvm_amd, kvm_pvm, ...), or "".
    nested : bool
        True when this Linux runs inside a VM itself (CPU flag ``hypervisor``).
    regime : str
        ``hardware`` (VMX/SVM on bare metal), ``nested-hardware`` (VMX/SVM exposed to a VM),
        ``nested-software`` (a software-assisted KVM such as PVM inside a VM), or ``none``.
    cpu_model, kernel : str
        Host description for the ``hardware`` column.
    host_cpus : int
        CPUs this process may run on.
    """

    usable: bool
    reason: str
    device: str
    api_version: int | None
    capabilities: dict[str, int] = field(default_factory=dict)
    module: str = ""
    nested: bool = False
    regime: str = "none"
    cpu_model: str = ""
    kernel: str = ""
    host_cpus: int = 1

    @property
    def hardware(self) -> str:
        """One-line host description used in the ``hardware`` column of results."""
        parts = [self.cpu_model or "unknown CPU", f"Linux {self.kernel}",
                 self.module or "no KVM module", self.regime]
        return "; ".join(parts) + f"; {self.host_cpus} CPUs"

    def to_frame(self) -> pd.DataFrame:
        """Tidy table: one row per fact (``item``, ``value``)."""
        rows = [("usable", self.usable), ("reason", self.reason), ("device", self.device),
                ("api_version", self.api_version), ("module", self.module),
                ("nested", self.nested), ("regime", self.regime),
                ("cpu_model", self.cpu_model), ("kernel", self.kernel),
                ("host_cpus", self.host_cpus)]
        rows += [(f"cap_{k}", v) for k, v in self.capabilities.items()]
        return pd.DataFrame(rows, columns=["item", "value"])

    def summary(self) -> str:
        """Short multi-line text for people."""
        head = "usable" if self.usable else f"NOT usable: {self.reason}"
        caps = ", ".join(f"{k}={v}" for k, v in self.capabilities.items())
        return (f"{self.device}: {head}\n  API {self.api_version}, module {self.module or '-'}, "
                f"regime {self.regime}\n  host: {self.hardware}\n  capabilities: {caps or '-'}")

    def __repr__(self) -> str:
        state = "usable" if self.usable else "unusable"
        return (f"Detection({self.device} {state}, api={self.api_version}, "
                f"module={self.module or '-'}, regime={self.regime})")

    def _repr_html_(self) -> str:
        cells = "".join(
            f"<tr><td>{html.escape(str(i))}</td><td>{html.escape(str(v))}</td></tr>"
            for i, v in self.to_frame().itertuples(index=False))
        return f"<table>{cells}</table>"


def _cpu_info() -> tuple[str, set[str]]:
    model, flags = "", set()
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as f:
            for line in f:
                key, _, val = line.partition(":")
                key = key.strip()
                if key == "model name" and not model:
                    model = val.strip()
                elif key == "flags" and not flags:
                    flags = set(val.split())
                if model and flags:
                    break
    except OSError:
        pass
    return model, flags


def _kvm_module() -> str:
    for name in _KNOWN_MODULES:
        if os.path.isdir(f"/sys/module/{name}"):
            return name
    return ""


def _regime(module: str, flags: set[str], nested: bool) -> str:
    if not module:
        return "none"
    if module == "kvm_pvm":
        return "nested-software" if nested else "software"
    hw = bool(flags & {"vmx", "svm"})
    if nested:
        return "nested-hardware" if hw else "nested-software"
    return "hardware"


def _explain_missing(device: str, module: str, flags: set[str]) -> str:
    if module:
        return (f"{device} does not exist although {module} is loaded; create it with "
                f"`mknod {device} c 10 232` (or let udev do it) and make it readable")
    if flags & {"vmx", "svm"}:
        vendor = "kvm_intel" if "vmx" in flags else "kvm_amd"
        return (f"{device} does not exist: load KVM with `modprobe {vendor}` "
                "(needs root once)")
    return (f"{device} does not exist and this CPU shows no VMX/SVM: enable virtualization in "
            "the firmware, or on a cloud VM choose an instance type with nested virtualization")


def _explain_denied(device: str) -> str:
    try:
        st = os.stat(device)
        try:
            group = grp.getgrgid(st.st_gid).gr_name
        except KeyError:
            group = str(st.st_gid)
        mode = stat.filemode(st.st_mode)
    except OSError:
        group, mode = "kvm", "?"
    return (f"permission denied opening {device} ({mode}, group {group}): add yourself to that "
            f"group (`sudo usermod -aG {group} $USER`, then log in again) or ask the "
            "administrator for read/write access; no other root access is needed")


def detect(device: str = KVM_DEVICE) -> Detection:
    """Describe KVM on this host: access, API version, capabilities, module and regime.

    Never raises for a missing or inaccessible device: the returned :class:`Detection`
    says ``usable=False`` and its ``reason`` tells what to do.

    Parameters
    ----------
    device : str
        Path of the KVM device node.
    """
    model, flags = _cpu_info()
    nested = "hypervisor" in flags
    module = _kvm_module()
    base = dict(device=device, module=module, nested=nested,
                regime=_regime(module, flags, nested), cpu_model=model,
                kernel=platform.release(), host_cpus=len(os.sched_getaffinity(0)))
    if platform.system() != "Linux":
        return Detection(False, "KVM exists only on Linux", api_version=None, **base)
    if platform.machine() not in ("x86_64", "AMD64"):
        return Detection(False, f"the probe's guest code is x86-64; this is {platform.machine()}",
                         api_version=None, **base)
    try:
        fd = os.open(device, os.O_RDWR | os.O_CLOEXEC)
    except FileNotFoundError:
        return Detection(False, _explain_missing(device, module, flags), api_version=None,
                         **base)
    except PermissionError:
        return Detection(False, _explain_denied(device), api_version=None, **base)
    except OSError as exc:
        return Detection(False, f"cannot open {device}: {exc.strerror}", api_version=None,
                         **base)
    try:
        try:
            api = fcntl.ioctl(fd, KVM_GET_API_VERSION, 0)
        except OSError as exc:
            why = ("it is not a KVM device" if exc.errno in (errno.ENOTTY, errno.EINVAL)
                   else exc.strerror)
            return Detection(False, f"KVM_GET_API_VERSION on {device} failed: {why}",
                             api_version=None, **base)
        caps = {}
        for name, num in CAPABILITIES.items():
            try:
                caps[name] = int(fcntl.ioctl(fd, KVM_CHECK_EXTENSION, num))
            except OSError:
                caps[name] = 0
    finally:
        os.close(fd)
    if api != 12:
        return Detection(False, f"KVM API version {api} is not the stable version 12",
                         api_version=api, capabilities=caps, **base)
    missing = [c for c in REQUIRED if not caps.get(c)]
    if missing:
        return Detection(False, "KVM lacks capabilities the probe needs: " + ", ".join(missing),
                         api_version=api, capabilities=caps, **base)
    return Detection(True, "", api_version=api, capabilities=caps, **base)
