"""Bulk streams (iperf3): a transfer that keeps its bottleneck busy runs at the asymptotic bound."""

from __future__ import annotations

import math

import numpy as np

from ..network import Network

#: ``rw`` of bulk network transfers (iperf3 streams): they keep the bottleneck busy.
STREAMS = frozenset({"tx", "rx", "bidir"})


def stream_bound(net: Network) -> tuple[float, np.ndarray]:
    """Asymptotic throughput bound X = min_k c_k / D_k (I/O per s) and the utilisations
    there (Lazowska et al. 1984, *Quantitative System Performance*, section 5.2)."""
    X = net.saturation_per_s
    X = X if math.isfinite(X) else 0.0
    return X, net.utilisation(X)
