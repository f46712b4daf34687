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

import functools
import math

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import iovmodel as iov
import iovmodel.symbolic as S
from iovmodel._expr import compile_expr
from iovmodel.spec.profile import parameters

#: the closed forms and the simulator here run at the workload's batch (amortised
#: notification); analyze's own default follows the load on a path that signals once
#: per pass (Path.batching "load": firecracker-virtio-blk), so it is asked for the same
_analyze = functools.partial(iov.analyze, batching="amortised")

#: relative bound of |simulate - analyze| / analyze at utilisation <= 0.8 (open workloads)
OPEN_BOUND = 0.15
#: with every time cost scaled by 1/2, 1 or 2 at random (the hypothesis test's profiles) the
#: bound holds only where the bottleneck is one kind of visit: where a request visits it several
#: times with unequal costs (a main loop's wake-ups, pops, syscalls and irqfd writes; a polling
#: core's dequeue, enqueue and irqfd) the Poisson premise overestimates more. Measured on every
#: catalog path, 12 such profiles (numpy seed 1) x batch 1 and 4, 20k x 4 requests, seed 3:
#: analyze / sim - 1 at most +5.3 % where the bottleneck is one kind of visit (90 cases at each
#: load), and where it is several, at most +21.8 % at 50 % load and +40.8 % at 80 % (654 cases
#: each; firecracker-virtio-blk, slirp, passt-vhost-user, xen-netfront, emulated-nvme above
#: +30 %). Before these bounds the test listed such paths one by one as its derandomized draws
#: found them (vhost-user-testpmd, then emulated-e1000 and virtio-blk).
SCALED_BOUND = {False: {0.5: OPEN_BOUND, 0.8: OPEN_BOUND}, True: {0.5: 0.25, 0.8: 0.45}}


def _several_visits(net) -> bool:
    """Whether the station with the most demand per server is visited with unequal costs."""
    load = [s.demand_us / s.servers if math.isfinite(s.servers) else 0.0 for s in net.stations]
    k = max(range(len(load)), key=load.__getitem__)
    return len({round(v.mean_us * v.count, 9) for v in net.route
                if v.station == k and v.mean_us > 0}) > 1


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
    r = _analyze(name, host, w)
    T0 = float(S.zero_load_latency(name, w).subs(dict(host)))
    X = float(S.throughput_bound(name, w).subs(dict(host)))
    assert _rel(T0, r.zero_load_latency_us) < 1e-9
    assert _rel(X, r.saturation_per_s) < 1e-9


def _sim_vs_analyze(name, host, batch, util, seed, scaled=False):
    inf = {"vcpus": "inf"}  # the bound's premise (module docstring)
    net = iov.build(iov.path(name, **inf), host, iov.Workload.open(1.0, batch=batch))
    sat = net.saturation_per_s
    w = iov.Workload.open(util * sat if math.isfinite(sat) else 1e5, batch=batch)
    a = _analyze(name, host, w, **inf)
    s = iov.simulate(name, host, w, requests=20_000, replications=4, seed=seed, progress=False,
                     batching="amortised", **inf)
    lo, hi = s.latency_ci_us
    bound = SCALED_BOUND[_several_visits(net)][0.5 if util <= 0.5 else 0.8] if scaled \
        else OPEN_BOUND
    tol = max(3 * (hi - lo) / 2, bound * a.latency_us)
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
    _sim_vs_analyze(name, host, batch, util, seed=NAMES.index(name) * 10 + batch, scaled=True)


@pytest.mark.parametrize("name", POLLING)
@pytest.mark.parametrize("batch", [1, 4])
def test_polling_paths_agree_at_80_percent(name, batch):
    _sim_vs_analyze(name, iov.HostProfile.default(), batch, 0.8, seed=batch)
