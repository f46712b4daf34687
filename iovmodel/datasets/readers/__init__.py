"""Readers of lab tools' raw output into the tidy schema of :mod:`iovmodel.datasets`."""

from __future__ import annotations

from .fio import read_fio_json
from .iperf3 import read_iperf3_json
from .perfkvm import read_perf_kvm_stat

__all__ = ["read_fio_json", "read_iperf3_json", "read_perf_kvm_stat"]
