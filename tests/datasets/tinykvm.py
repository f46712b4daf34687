"""A minimal KVM guest, used to record a real ``perf kvm stat`` report.

It creates a VM through ``/dev/kvm`` ioctls (the sequence of the LWN article
"Using the KVM API", 2015), runs 16-bit real-mode code that executes CPUID
``cpuid_loops`` times (an exit handled inside KVM), then an ``out`` to port
0x3f8 ``pio_loops`` times (an exit KVM hands to this process as KVM_EXIT_IO),
then ``hlt``. Run it under ``perf kvm stat record`` to get exit reasons with
known counts: CPUID == cpuid_loops, IO_INSTRUCTION == pio_loops, HLT == 1.

Usage: ``python tinykvm.py [cpuid_loops] [pio_loops]``.
"""

from __future__ import annotations

import ctypes
import fcntl
import mmap
import os
import struct
import sys

KVM_GET_API_VERSION = 0xAE00
KVM_CREATE_VM = 0xAE01
KVM_GET_VCPU_MMAP_SIZE = 0xAE04
KVM_CREATE_VCPU = 0xAE41
KVM_SET_USER_MEMORY_REGION = 0x4020AE46
KVM_RUN = 0xAE80
KVM_GET_REGS = 0x8090AE81
KVM_SET_REGS = 0x4090AE82
KVM_GET_SREGS = 0x8138AE83
KVM_SET_SREGS = 0x4138AE84
KVM_EXIT_IO = 2
KVM_EXIT_HLT = 5

GUEST_ADDR = 0x1000


def guest_code(cpuid_loops: int, pio_loops: int) -> bytes:
    """Real-mode machine code: CPUID loop, OUT loop, HLT (counters in SI)."""
    if not (0 < cpuid_loops < 65536 and 0 < pio_loops < 65536):
        raise ValueError("cpuid_loops and pio_loops must be in 1..65535")
    return (
        b"\xbe" + struct.pack("<H", cpuid_loops)  # mov si, n
        + b"\x66\x31\xc0\x0f\xa2\x4e\x75\xf8"  # l1: xor eax,eax; cpuid; dec si; jnz l1
        + b"\xbe" + struct.pack("<H", pio_loops)  # mov si, m
        + b"\xba\xf8\x03"  # mov dx, 0x3f8
        + b"\xee\x4e\x75\xfc"  # l2: out dx,al; dec si; jnz l2
        + b"\xf4"  # hlt
    )


def run(cpuid_loops: int = 20000, pio_loops: int = 5000) -> dict[str, int]:
    """Run the guest to its HLT; return the exits seen by userspace."""
    kvm = os.open("/dev/kvm", os.O_RDWR | os.O_CLOEXEC)
    try:
        if fcntl.ioctl(kvm, KVM_GET_API_VERSION) != 12:
            raise RuntimeError("unexpected KVM API version")
        vm = fcntl.ioctl(kvm, KVM_CREATE_VM, 0)
        mem = mmap.mmap(-1, 0x1000, mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS)
        code = guest_code(cpuid_loops, pio_loops)
        mem[: len(code)] = code
        addr = ctypes.addressof(ctypes.c_char.from_buffer(mem))
        region = struct.pack("<IIQQQ", 0, 0, GUEST_ADDR, 0x1000, addr)
        fcntl.ioctl(vm, KVM_SET_USER_MEMORY_REGION, region)
        vcpu = fcntl.ioctl(vm, KVM_CREATE_VCPU, 0)
        size = fcntl.ioctl(kvm, KVM_GET_VCPU_MMAP_SIZE, 0)
        run_area = mmap.mmap(vcpu, size, mmap.MAP_SHARED, mmap.PROT_READ | mmap.PROT_WRITE)
        sregs = bytearray(312)
        fcntl.ioctl(vcpu, KVM_GET_SREGS, sregs)
        struct.pack_into("<Q", sregs, 0, 0)  # cs.base = 0
        struct.pack_into("<H", sregs, 12, 0)  # cs.selector = 0
        fcntl.ioctl(vcpu, KVM_SET_SREGS, bytes(sregs))
        regs = bytearray(144)
        struct.pack_into("<Q", regs, 16 * 8, GUEST_ADDR)  # rip
        struct.pack_into("<Q", regs, 17 * 8, 2)  # rflags: bit 1 is reserved-set
        fcntl.ioctl(vcpu, KVM_SET_REGS, bytes(regs))
        seen = {"io": 0, "hlt": 0}
        while True:
            fcntl.ioctl(vcpu, KVM_RUN, 0)
            reason = struct.unpack_from("<I", run_area, 8)[0]
            if reason == KVM_EXIT_IO:
                seen["io"] += 1
            elif reason == KVM_EXIT_HLT:
                seen["hlt"] += 1
                break
            else:
                raise RuntimeError(f"unexpected KVM exit reason {reason}")
        run_area.close()
        os.close(vcpu)
        del addr
        os.close(vm)
        return seen
    finally:
        os.close(kvm)


if __name__ == "__main__":
    counts = [int(a) for a in sys.argv[1:3]]
    print(run(*counts))
