"""Derivations: the saturation population, the break-even batch of two paths, and
the derivations the paper prints."""

from __future__ import annotations

import html
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import pandas as pd
import sympy as sp

from .._expr import evaluate
from ..errors import ParameterError
from ..spec.catalog import Path
from ..spec.catalog import path as get_path
from ..spec.profile import parameters
from ..spec.workload import Workload
from .expressions import (
    _SYM_FUNCS,
    CostSymbol,
    _as_path,
    _bottleneck_terms,
    _check_workload,
    _count,
    _num_at,
    _rationalize,
    _values,
    _workload_values,
    stations,
    symbol,
    zero_load_latency,
)
from .sensitivity import _bottleneck_at


# -- derivations ----------------------------------------------------------------------------------
@dataclass(frozen=True, repr=False)
class Derivation:
    """A derived formula with its value for one host.

    Attributes
    ----------
    name : str
        What it is (``"N*"``, ``"b*"``).
    formula : sympy expression
        General form in named quantities (``(D + Z)/D_max``).
    expr : sympy expression
        The formula in the host costs of the path(s).
    value : float
        ``expr`` at ``host``.
    unit : str
    detail : dict
        The named quantities' values (``D``, ``Z``, ``D_max``, ...).
    """

    name: str
    formula: sp.Expr
    expr: sp.Expr
    value: float
    unit: str
    description: str
    detail: Mapping[str, Any] = field(default_factory=dict)

    def __repr__(self) -> str:
        return f"<Derivation {self.name} = {sp.sstr(self.formula)} = {self.value:.4g} {self.unit}>"

    def __str__(self) -> str:
        parts = ", ".join(f"{k} = {v:.4g}" if isinstance(v, float) else f"{k} = {v}"
                          for k, v in self.detail.items())
        return (f"{self.description}\n  {self.name} = {sp.sstr(self.formula)}\n"
                f"  = {sp.sstr(self.expr)}\n  = {self.value:.4g} {self.unit} ({parts})")

    def summary(self) -> str:
        return str(self)

    def _repr_latex_(self) -> str:
        return ("$" + self.name_latex + " = " + sp.latex(self.formula) + " = "
                + sp.latex(self.expr) + rf" \approx {self.value:.4g}$")

    def _repr_html_(self) -> str:
        return (f"<div>{html.escape(self.description)}<br><code>{html.escape(self.name)} = "
                f"{html.escape(sp.sstr(self.formula))}</code> = <b>{self.value:.4g}</b> "
                f"{html.escape(self.unit)}</div>")

    @property
    def name_latex(self) -> str:
        return {"N*": "N^*", "b*": "b^*"}.get(self.name, self.name)

    def to_frame(self) -> pd.DataFrame:
        """One tidy row: name, formula, value, unit and the named quantities."""
        row = {"name": self.name, "formula": sp.sstr(self.formula), "value": self.value,
               "unit": self.unit}
        row.update({k: v for k, v in self.detail.items()})
        return pd.DataFrame([row])


def saturation_population(path: str | Path, host: Mapping[str, float] | None = None,
                          workload: Workload | None = None, resource: str | None = None,
                          **options: Any) -> Derivation:
    r"""Requests in flight at which a resource saturates: :math:`N^* = (D + Z)/D_{\max}`.

    :math:`D = \sum_k D_k` is the zero-load latency (µs), :math:`Z` the think time
    (µs, the closed workload's ``think_us``; 0 otherwise) and :math:`D_{\max}` the
    largest per-server demand :math:`D_k/c_k` (or that of ``resource``, e.g.
    ``"bql"`` for QEMU's global mutex).  Below :math:`N^*` requests in flight
    (``jobs x iodepth``) latency stays near :math:`D`; above it throughput is
    pinned at :math:`1/D_{\max}` and every extra request adds :math:`D_{\max}` of
    waiting.  Asymptotic bounds of a closed network: Lazowska, Zahorjan, Graham &
    Sevcik, *Quantitative System Performance* (1984), section 5.2, eq. for
    :math:`N^*`.

    Returns
    -------
    Derivation
        ``value`` in requests (jobs x iodepth); ``detail`` has D, Z, D_max and
        the resource.
    """
    p = _as_path(path, options)
    w = _check_workload(workload)
    vals = _values(host)
    sts = stations(p, w)
    terms = _bottleneck_terms(sts, p.inflight)
    if not terms:
        raise ParameterError(f"path {p.name!r} has only delay stations: nothing saturates")
    if resource is None:
        resource, dmax = _bottleneck_at(sts, vals, p.inflight)
    elif resource not in terms:
        raise ParameterError(f"resource {resource!r} of {p.name!r} cannot saturate or does not "
                             f"exist; candidates: {', '.join(terms)}")
    else:
        dmax = terms[resource]
    D = zero_load_latency(p, w)
    Z = _workload_values(w, ())["think_us"]
    Ds, Zs, Dm = sp.symbols("D Z D_max")
    expr = (D + Z) / dmax
    value = _num_at(expr, vals)
    return Derivation(
        name="N*", formula=(Ds + Zs) / Dm, expr=expr, value=value, unit="requests in flight",
        description=(f"{p.name}: requests in flight at which {resource!r} saturates "
                     "(N* = (D + Z)/D_max)"),
        detail={"path": p.name, "resource": resource, "D_us": _num_at(D, vals),
                "Z_us": float(Z), "D_max_us": _num_at(dmax, vals)})


def _split_batch(expr: sp.Expr, b: sp.Symbol) -> tuple[sp.Expr, sp.Expr]:
    """Write expr = alpha + beta / b; return (alpha, beta)."""
    e = sp.expand(expr)
    beta = sp.expand(e.coeff(b, -1))
    alpha = sp.expand(e - beta / b)
    if alpha.has(b):
        raise ParameterError(f"metric is not of the form alpha + beta/b: {expr}")
    return alpha, beta


_BATCH_METRICS = ("zero_load_latency", "host_cpu", "demand")


def _batch_metric(p: Path, metric: str, resource: str | None, size_bytes: int) -> sp.Expr:
    w = Workload.open(1.0, size_bytes=size_bytes)
    sts = stations(p, w, keep=("batch",))
    if metric == "zero_load_latency":
        return sp.Add(*(st.demand for st in sts))
    if metric == "host_cpu":
        # host CPU per I/O of event-driven hops: host-CPU hops on host resources or exits taken
        # on a vCPU; a busy-polling backend's core is load dependent, so polling paths are refused
        b = symbol("batch")
        env = {name: CostSymbol(name) for name in parameters()}
        env.update(p.options)
        env.update({k: sp.nsimplify(v) for k, v in w.cost_names().items()})
        if any(p.resources[h.resource].polling for h in p.active_hops()):
            raise ParameterError(f"path {p.name!r} busy-polls: its host CPU per I/O depends on the "
                                 "load, not only on the batch size; use metric='zero_load_latency' "
                                 "or 'demand'")
        total = sp.Integer(0)
        for h in p.active_hops():
            if p.cpu_of(h) != "host" or h.per == "waiter":  # a lock's hand-off: none at
                continue  # zero load, as in the network (iovmodel.solve.locks)
            cost = sp.sympify(evaluate(h.cost, env, funcs=_SYM_FUNCS)
                              if isinstance(h.cost, str) else h.cost)
            n = _count(h, env) / b if h.per == "batch" else _count(h, env)
            total += n * _rationalize(cost)
        return total
    if metric == "demand":
        names = [st.name for st in sts]
        if resource not in names:
            raise ParameterError(f"metric='demand' needs resource= one of {', '.join(names)} "
                                 f"for path {p.name!r}, got {resource!r}")
        st = next(s for s in sts if s.name == resource)
        return st.demand if st.is_delay else st.demand / st.servers
    raise ParameterError(f"metric must be one of {', '.join(_BATCH_METRICS)}, got {metric!r}")


def break_even_batch(path_a: str | Path = "virtio-blk", path_b: str | Path = "emulated-ide",
                     host: Mapping[str, float] | None = None, metric: str = "host_cpu",
                     resource: str | None = None, size_bytes: int = 4096) -> Derivation:
    r"""Batch size at which path A (one kick per batch) costs as much per I/O as path B.

    Each path's per-I/O metric is :math:`\alpha + \beta/b` in the batch size
    :math:`b` (per-batch hops, a kick and an interrupt, count :math:`1/b`; per-request
    hops, such as the register-access exits of an emulated device, do not
    amortise).  Setting them equal gives

    .. math:: b^* = \frac{\beta_A - \beta_B}{\alpha_B - \alpha_A}.

    For :math:`b > b^*` path A is cheaper when :math:`\alpha_A < \alpha_B`.  A
    value :math:`b^* \le 1` means A is already cheaper without batching (or
    never, when :math:`\alpha_A \ge \alpha_B` and :math:`\beta_A \ge \beta_B`); no
    crossing gives ``inf``/``nan`` with the reason in the description.

    Parameters
    ----------
    path_a, path_b : str or Path
        Default: virtio-blk (a kick per batch via ioeventfd) against emulated-ide
        (13 register-access exits to QEMU per request, 7 more per interrupt).
    metric : {"host_cpu", "zero_load_latency", "demand"}
        ``host_cpu``: host CPU µs per I/O of the hops that run on a host CPU
        (exits, KVM, QEMU, vhost, host kernel; not the guest's own stack);
        ``zero_load_latency``: µs; ``demand``: per-server demand of ``resource``
        in both paths (e.g. ``"bql"``: the global mutex, whose inverse is the
        throughput it allows).
    size_bytes : int
        Request size for size-dependent costs (copies).

    Returns
    -------
    Derivation
        ``value`` = :math:`b^*` (requests per kick); ``detail`` has alpha and beta
        of both paths at ``host``.
    """
    pa = _as_path(path_a, {})
    pb = _as_path(path_b, {})
    b = symbol("batch")
    vals = _values(host)
    ma = _batch_metric(pa, metric, resource, size_bytes)
    mb = _batch_metric(pb, metric, resource, size_bytes)
    aa, ba = _split_batch(ma, b)
    ab, bb = _split_batch(mb, b)
    expr = (ba - bb) / (ab - aa)
    A_a, B_a, A_b, B_b = sp.symbols(r"alpha_A beta_A alpha_B beta_B")
    nums = {k: _num_at(e, vals) for k, e in
            (("alpha_A_us", aa), ("beta_A_us", ba), ("alpha_B_us", ab), ("beta_B_us", bb))}
    da = nums["alpha_B_us"] - nums["alpha_A_us"]
    db = nums["beta_A_us"] - nums["beta_B_us"]
    if da == 0:
        value = math.inf if db != 0 else math.nan
        verdict = "no crossing: equal per-request costs"
    else:
        value = db / da
        if da > 0:
            verdict = (f"{pa.name} is cheaper for every batch size" if value <= 1 else
                       f"{pa.name} is cheaper from b > {value:.3g} requests per kick")
        else:
            verdict = (f"{pb.name} is cheaper for every batch size" if value <= 1 else
                       f"{pa.name} is cheaper only below b = {value:.3g}")
    return Derivation(
        name="b*", formula=(B_a - B_b) / (A_b - A_a), expr=expr, value=value,
        unit="requests per kick",
        description=(f"break-even batch size, {metric} per I/O of {pa.name} (A) vs {pb.name} (B): "
                     f"{verdict}"),
        detail={"metric": metric, **nums, "path_a": pa.name, "path_b": pb.name})


# -- the derivations for the paper -------------------------------------------------------------------
#: (path A with one kick per batch, path B, metric, resource) compared by :func:`derivations`
BREAK_EVEN_CASES = (
    ("virtio-blk", "emulated-ide", "host_cpu", None),
    ("virtio-blk", "emulated-ide", "demand", "bql"),
    ("virtio-net", "emulated-e1000", "host_cpu", None),
    ("vhost-scsi", "virtio-scsi-iothread", "host_cpu", None),
    ("vhost-net", "virtio-net", "host_cpu", None),
)


def derivations(host: Mapping[str, float] | None = None) -> str:
    """The derived formulas of the paper, printed and evaluated for ``host`` (default profile).

    N* of every catalog path whose global mutex (``bql``) can saturate, and the
    break-even batch sizes of :data:`BREAK_EVEN_CASES`.  ``python -m
    iovmodel.symbolic`` prints it.
    """
    from ..spec.catalog import paths

    lines = ["Requests in flight at which QEMU's global mutex saturates, N* = (D + Z)/D_bql "
             "(Z = 0):"]
    for name in paths()["name"]:
        p = get_path(name)
        if "bql" not in p.resources or not any(h.resource == "bql" for h in p.active_hops()):
            continue
        d = saturation_population(p, host, resource="bql")
        lines.append(f"  {name:<16} N* = {d.value:6.2f}   D = {d.detail['D_us']:7.2f} µs, "
                     f"D_bql = {d.detail['D_max_us']:6.2f} µs;  N* = {sp.sstr(d.expr)}")
    lines.append("")
    lines.append("Break-even batch size b* = (beta_A - beta_B)/(alpha_B - alpha_A), "
                 "metric alpha + beta/b per I/O:")
    for a, b, metric, res in BREAK_EVEN_CASES:
        d = break_even_batch(a, b, host, metric=metric, resource=res)
        det = d.detail
        lines.append(f"  {a} vs {b}, {metric}{'(' + res + ')' if res else ''}: b* = {d.value:.3g}  "
                     f"[A: {det['alpha_A_us']:.3g} + {det['beta_A_us']:.3g}/b, "
                     f"B: {det['alpha_B_us']:.3g} + {det['beta_B_us']:.3g}/b µs]  "
                     f"{d.description.split(': ', 1)[1]}")
        lines.append(f"      b* = {sp.sstr(d.expr)}")
    return "\n".join(lines)


if __name__ == "__main__":
    print(derivations())
