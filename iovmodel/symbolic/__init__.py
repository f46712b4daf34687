r"""Closed forms you can read: sympy expressions of a path's model.

Every expression here is *the same model* as :func:`iovmodel.analyze` (a test
substitutes random profiles into them and compares with it to 1e-9), written
with one sympy symbol per host cost.  The symbols are named by the cost names,
so a :class:`~iovmodel.HostProfile` substitutes directly
(``latency(p).subs(host)``), and they print with each cost's declared LaTeX
symbol (``vmexit_us`` prints as :math:`t_{\mathrm{exit}}`).

What becomes a symbol and what a number
---------------------------------------
- Host costs (``vmexit_us``, ..., ``device_blk_slots``): symbols, always.
- Path options (``vcpus``, ``workers``, ``iothreads``, ``rings``,
  ``posted_interrupts``): **substituted by the path's current values**.  They
  choose which hops exist (``when`` conditions) and how many servers a
  resource has, so the formula is the one of *this* configuration; pass
  options (``latency("vhost-scsi", workers=4)``) to get another.
- Workload fields (``rate_per_s``, ``batch``, ``size_bytes``, ``think_us``):
  substituted by the workload's values (defaults: batch 1, 4096 bytes, no
  think time), unless named in ``keep`` (``keep=("rate_per_s",)``), in which
  case they are symbols :math:`\lambda` (I/O per second), :math:`b`,
  :math:`s_{\mathrm{io}}` (bytes), :math:`Z` (µs).  The batch is the workload's
  (``analyze(..., batching="amortised")``): the load-dependent batch
  :math:`b = 1/(1-\rho)` is a fixed point, not a closed form, so on a path that
  takes it by default (:attr:`Path.batching` ``"load"``: ``firecracker-virtio-blk``,
  ``cloudhv-virtio-blk``) keep :math:`b` and substitute the batch ``analyze`` finds
  (``r.workload.batch``).

The model, per station :math:`k` (a resource), with per-I/O occurrence counts
:math:`n_h` (a per-batch hop counts :math:`n_h/b`) and hop costs :math:`t_h`:

- demand :math:`D_k = \sum_h n_h t_h` (µs), visits :math:`V_k = \sum_h n_h`,
  second moment :math:`M_k = \sum_h n_h t_h^2 (1 + c_h^2)`, so the visit mix has
  mean :math:`s_k = D_k/V_k` and :math:`1 + c_{s,k}^2 = M_k V_k / D_k^2`;
- zero-load latency :math:`T_0 = \sum_k D_k`;
- throughput bound :math:`X^* = 10^6 / \max_k (D_k / c_k)` I/O per second over
  stations with finitely many servers :math:`c_k` (Denning & Buzen 1978,
  the utilisation law; Lazowska et al. 1984, ch. 5);
- open latency at Poisson rate :math:`\lambda` (per µs: :math:`\lambda/10^6`):
  a delay station adds :math:`D_k`; a one-server station the
  Pollaczek-Khinchine term :math:`V_k (s_k + \lambda V_k s_k^2 (1 + c_{s,k}^2) /
  (2 (1 - \lambda D_k)))`; a :math:`c`-server station the Allen-Cunneen term
  :math:`V_k (s_k + C(c, a)\, s_k/(c - a)\, (1 + c_{s,k}^2)/2)` with
  :math:`a = \lambda D_k` and Erlang C :math:`C(c, a) = c B / (c - a (1 - B))`
  from Erlang B :math:`B(c, a)` (:class:`ErlangB`, a sympy function that
  evaluates for whole :math:`c` and differentiates in :math:`a`).  Like
  ``analyze``, the Erlang formula uses whole servers: :math:`\lfloor c \rfloor`.

Expressions carry no stability condition: an open expression is only the model
where every :math:`\rho_k = \lambda D_k / c_k < 1`; :class:`Evaluator` returns
NaN elsewhere (``analyze`` raises :class:`~iovmodel.UnstableError`).
"""

from .derivations import Derivation, break_even_batch, derivations, saturation_population
from .expressions import (
    NUMPY_MODULES,
    CostSymbol,
    ErlangB,
    Evaluator,
    SymStation,
    evaluator,
    latency,
    stations,
    symbol,
    throughput_bound,
    utilization,
    zero_load_latency,
)
from .sensitivity import sensitivity, tornado

__all__ = [
    "NUMPY_MODULES", "CostSymbol", "Derivation", "ErlangB", "Evaluator", "SymStation",
    "break_even_batch", "derivations", "evaluator", "stations",
    "latency", "saturation_population", "sensitivity", "symbol", "throughput_bound", "tornado",
    "utilization", "zero_load_latency",
]
