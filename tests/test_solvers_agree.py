"""Property tests (issue 10): analyze, iovmodel.symbolic and the simulator read one Network
the same way, for random catalog paths (polling paths included), profiles and workloads.

* zero load: analyze and symbolic agree to 1e-9 (zero-load latency, throughput bound);
* open load at bottleneck utilisation <= 0.8: the simulator's mean latency lies within
  max(3 interval half-widths, OPEN_BOUND x analyze) of analyze. OPEN_BOUND is the
  approximation bound the README ("Limits worth knowing") and ``iovmodel.solve.open`` state: the open
  solution takes each station's visits as Poisson, which overestimates waits where one request
  visits a station several times with unequal costs. Measured on every catalog path at batch 1
  and 4 at 80 % of the bottleneck's capacity with the default profile (40k requests x 4
  replications, seed 1): sim / analyze - 1 from -12.4 % (xen-netfront, batch 1) to +0.1 %.
  The bound is stated for a vCPU per request (vcpus="inf", passed explicitly): with the
  default single vCPU the vCPU is itself such a station (submission, exits, ISR and completion
  are separate visits of unequal cost) and, where it is the bottleneck, analyze overestimates
  more: analyze / sim - 1 up to +20 % at 50 % and +44 % at 80 % load (firecracker-virtio-blk;
  emulated-e1000 +37 %), measured on every catalog path at batch 1 (20k x 4, seed 3).

Hypothesis runs derandomized with a bounded number of examples, and each simulation has a
fixed seed: the test is deterministic.
"""

from __future__ import annotations

import math

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import iovmodel as iov
import iovmodel.symbolic as S
from iovmodel._expr import compile_expr
from iovmodel.spec.profile import parameters

#: relative bound of |simulate - analyze| / analyze at utilisation <= 0.8 (open workloads)
OPEN_BOUND = 0.15
#: paths whose bottleneck is visited several times per request with unequal costs, where the
#: bound above is exceeded under scaled profiles: vhost-user-testpmd's polling core serves a
#: dequeue and an enqueue of ~0.47 us and an irqfd write of ~1.7 us; with every time cost
#: scaled by 1/2, 1 or 2 at random (12 profiles x batch 1 and 4, numpy seed 1, 20k x 4
#: requests) analyze / sim - 1 reached +34 % at 80 % load (+1.5 % to +5 % at the default
#: profile). Found when the block paths' halt_wake_us shifted the derandomized draws.
PATH_BOUND = {"vhost-user-testpmd": 0.40}

NAMES = list(iov.paths()["name"])
POLLING = ["virtio-blk-iothread", "virtio-scsi-iothread", "vhost-user-net", "vhost-user-blk"]
#: the time costs the catalog's paths read (a cost only the scenario solver applies, such as
#: lock_waiter_us, changes nothing here and would only shift the derandomized draws)
_READ = {n for name in NAMES for c in (h.cost for h in iov.path(name).hop_list)
         for n in compile_expr(str(c))[1]}
TIMES = [n for n, p in parameters().items() if p.unit != "count" and n in _READ]


@st.composite
def profiles(draw):
    """The default profile with each time cost scaled by 1/2, 1 or 2."""
    host = iov.HostProfile.default()
    scale = {n: host[n] * draw(st.sampled_from([0.5, 1.0, 2.0])) for n in TIMES}
    return host.replace(**scale)


def _rel(a: float, b: float) -> float:
    if math.isinf(a) or math.isinf(b):
        return 0.0 if a == b else math.inf
    return abs(a - b) / abs(b)


@settings(max_examples=60, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow])
@given(name=st.sampled_from(NAMES), host=profiles(), batch=st.sampled_from([1, 4, 2.5]))
def test_zero_load_analyze_equals_symbolic(name, host, batch):
    w = iov.Workload.closed(1, 4, batch=batch)
    r = iov.analyze(name, host, w)
    T0 = float(S.zero_load_latency(name, w).subs(dict(host)))
    X = float(S.throughput_bound(name, w).subs(dict(host)))
    assert _rel(T0, r.zero_load_latency_us) < 1e-9
    assert _rel(X, r.saturation_per_s) < 1e-9


def _sim_vs_analyze(name, host, batch, util, seed):
    inf = {"vcpus": "inf"}  # the bound's premise (module docstring)
    net = iov.build(iov.path(name, **inf), host, iov.Workload.open(1.0, batch=batch))
    sat = net.saturation_per_s
    w = iov.Workload.open(util * sat if math.isfinite(sat) else 1e5, batch=batch)
    a = iov.analyze(name, host, w, **inf)
    s = iov.simulate(name, host, w, requests=20_000, replications=4, seed=seed, progress=False,
                     **inf)
    lo, hi = s.latency_ci_us
    tol = max(3 * (hi - lo) / 2, PATH_BOUND.get(name, OPEN_BOUND) * a.latency_us)
    assert abs(s.latency_us - a.latency_us) <= tol, (name, batch, util, a.latency_us,
                                                      s.latency_us, (lo, hi))
    # the shared numbers come from the same Network
    assert s.saturation_per_s == a.saturation_per_s
    assert s.zero_load_latency_us == a.zero_load_latency_us


@settings(max_examples=12, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow])
@given(name=st.sampled_from(NAMES), host=profiles(), batch=st.sampled_from([1, 4]),
       util=st.sampled_from([0.01, 0.5, 0.8]))
def test_simulator_agrees_with_analyze_within_the_bound(name, host, batch, util):
    _sim_vs_analyze(name, host, batch, util, seed=NAMES.index(name) * 10 + batch)


@pytest.mark.parametrize("name", POLLING)
@pytest.mark.parametrize("batch", [1, 4])
def test_polling_paths_agree_at_80_percent(name, batch):
    _sim_vs_analyze(name, iov.HostProfile.default(), batch, 0.8, seed=batch)
