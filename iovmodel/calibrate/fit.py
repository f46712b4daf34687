"""fit: least squares of log residuals over the free host costs (see :mod:`iovmodel.calibrate`).
"""

from __future__ import annotations

import functools
import gc
import math
import warnings
from collections.abc import Mapping, Sequence
from concurrent.futures import Executor
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

if TYPE_CHECKING:
    from scipy import optimize

from .._expr import compile_expr
from .._threads import one_blas_thread
from ..errors import (
    CostAtBoundWarning,
    FitConvergenceWarning,
    FitError,
    ImplausibleProfileWarning,
    IovModelError,
    OutsideTypicalWarning,
    ParameterError,
)
from ..network import guest_pkt_reads, xdp_tx_flood
from ..solve.batching import BATCH_MAX
from ..solve.metrics import QUANTILES
from ..spec.profile import HostProfile, parameters
from ..spec.traffic import path_packets
from .predict import _Model, _residual_frame, check_options
from .result import FitResult
from .rows import (
    _check_frame,
    _parse,
    _Row,
    predictable,
)
from .sources import Source, pick_metrics, read_measurements

#: Residual (log units) given to a row whose prediction does not exist at some costs
#: (an open load beyond a resource's capacity): a factor e**8 ~ 3000 off.
_PENALTY = 8.0
#: Start and upper bound of a fitted effective batch (requests per notification).
_BATCH0 = 2.0
_BATCH_MAX = BATCH_MAX
_LOSSES = ("linear", "soft_l1", "huber", "cauchy", "arctan")
_Z95 = 1.959963984540054  # the standard normal's 97.5 % point


@dataclass(frozen=True)
class _Problem:
    """What the optimiser sees: free costs in log space, their boxes and priors, the fixed rest."""

    free: tuple[str, ...]
    base: Mapping[str, float]
    lo: np.ndarray
    hi: np.ndarray
    loss: str
    f_scale: float
    max_nfev: int | None
    fit_batch: bool = False
    mu: np.ndarray | None = None  # log-normal prior of each free cost: log median
    sigma: np.ndarray | None = None  # and log standard deviation (None: no prior)

    def batch(self, theta: np.ndarray) -> float | None:
        """The effective batch (last element of theta) when it is fitted."""
        return float(np.exp(np.clip(theta[-1], self.lo[-1], self.hi[-1]))) if self.fit_batch else None

    @property
    def names(self) -> tuple[str, ...]:
        return (*self.free, "batch") if self.fit_batch else self.free

    def values(self, theta: np.ndarray) -> dict[str, float]:
        """Every free parameter's value (``cost`` or ``cost[group]``), clipped to its bounds."""
        n = len(self.free)
        v = np.clip(np.exp(theta[:n]), np.exp(self.lo[:n]), np.exp(self.hi[:n]))
        decl = parameters()
        out = {}
        for name, x in zip(self.free, v, strict=True):
            lo, hi = decl[_base(name)].bounds
            out[name] = float(min(max(x, lo), hi))
        return out

    def host(self, theta: np.ndarray) -> HostProfile:
        vals = dict(self.base)
        vals.update({k: v for k, v in self.values(theta).items() if "[" not in k})
        return HostProfile(vals, name="fit")

    def per_unit(self, theta: np.ndarray) -> dict[str, dict[str, float]] | None:
        """Per-group costs (hierarchical fit): group -> {cost: value}; None when shared only."""
        out: dict[str, dict[str, float]] = {}
        for k, v in self.values(theta).items():
            if "[" in k:
                cost, unit = k[:-1].split("[", 1)
                out.setdefault(unit, {})[cost] = v
        return out or None


def _gc_paused(func):
    """Run ``func`` with the cyclic garbage collector paused (its state restored after).

    A fit allocates millions of small objects (networks, visits, solutions) that are freed
    by reference counting alone; the collector's passes over them were pure overhead.
    """

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        was = gc.isenabled()
        gc.disable()
        try:
            return func(*args, **kwargs)
        finally:
            if was:
                gc.enable()

    return wrapper


def _base(name: str) -> str:
    """The cost of a parameter name: ``device_blk_us[m5d]`` -> ``device_blk_us``."""
    return name.split("[", 1)[0]


def _residuals(model: _Model, prob: _Problem, theta: np.ndarray,
               y: np.ndarray, w: np.ndarray, only: np.ndarray | None = None) -> np.ndarray:
    """Weighted log residuals of every row (``only``: of the rows it marks, the others'
    arbitrary: a Jacobian's column group reads those it moves)."""
    pred = model.predict(prob.host(theta), prob.batch(theta), prob.per_unit(theta), only)
    with np.errstate(divide="ignore", invalid="ignore"):
        r = np.log(pred) - np.log(y)
    bad = ~np.isfinite(r)
    r[bad] = _PENALTY
    return w * r


def _rho(z: np.ndarray, loss: str) -> np.ndarray:
    """The robust losses of :func:`scipy.optimize.least_squares`, of z = u**2."""
    if loss == "linear":
        return z
    if loss == "soft_l1":
        return 2.0 * (np.sqrt(1.0 + z) - 1.0)
    if loss == "huber":
        return np.where(z <= 1.0, z, 2.0 * np.sqrt(z) - 1.0)
    if loss == "cauchy":
        return np.log1p(z)
    return np.arctan(z)


def _objective(model: _Model, prob: _Problem, theta: np.ndarray, y: np.ndarray,
               w: np.ndarray, only: np.ndarray | None = None) -> np.ndarray:
    """Residuals whose half sum of squares is the negative log posterior.

    Data rows: u = r / f_scale turned into sign(u) sqrt(rho(u**2)), so the robust loss
    applies to the data only; prior rows: (theta - mu) / sigma, a Gaussian in log cost.
    ``only`` marks the data rows wanted (:func:`_residuals`).
    """
    u = _residuals(model, prob, theta, y, w, only) / prob.f_scale
    u = np.sign(u) * np.sqrt(_rho(u * u, prob.loss))
    if prob.mu is None:
        return u
    n = len(prob.free)
    return np.concatenate([u, (theta[:n] - prob.mu) / prob.sigma])


def prior_of(name: str, rng: tuple[float, float] | None = None) -> tuple[float, float]:
    """The log-normal prior of a cost: (median, log standard deviation).

    The range (default: the cost's published ``typical`` range in ``costs.toml``) lies
    inside the prior's central 95 %: the median is the cost's default value when the range
    holds it, else the range's geometric centre, and the log standard deviation is the
    larger log distance from the median to an end, over 1.96.

    Raises
    ------
    ParameterError
        The range is not two numbers 0 < lo < hi inside the cost's bounds.
    """
    p = parameters()[name]
    lo, hi = p.typical if rng is None else rng
    try:
        lo, hi = float(lo), float(hi)
    except (TypeError, ValueError):
        raise ParameterError(f"prior of {name!r} must be a range (lo, hi), got {rng!r}") from None
    if not (0 < lo < hi) or not (math.isfinite(lo) and math.isfinite(hi)):
        raise ParameterError(f"prior of {name!r} must be a range 0 < lo < hi, got {rng!r}")
    blo, bhi = p.bounds
    if lo < blo or hi > bhi:
        raise ParameterError(f"prior of {name!r}: range ({lo:g}, {hi:g}) lies outside the cost's "
                             f"bounds [{blo:g}, {bhi:g}]")
    med = p.value if lo <= p.value <= hi else math.sqrt(lo * hi)
    return med, max(math.log(hi / med), math.log(med / lo)) / _Z95


def _bounds_for(name: str, start: float) -> tuple[float, float]:
    p = parameters()[name]
    lo, hi = p.bounds
    if lo <= 0:
        lo = 1e-3 * min(start if start > 0 else p.typical[0], p.typical[0])
    return math.log(lo), math.log(hi)


def _used_costs(rows: Sequence[_Row]) -> list[str]:
    """Cost names the rows' paths use (hop costs, conditions, server counts), in order."""
    decl = parameters()
    seen: dict[str, None] = {}
    for r in rows:
        pinned = {k for k, _ in r.overrides}
        # a TX flood into an XDP tap reads vhost_xdp_tx_us in vhost_us's place (network.py)
        swap = {"vhost_us": "vhost_xdp_tx_us"} if xdp_tx_flood(r.path, r.workload.traffic) \
            else {}
        if r.path.options.get("macvtap"):  # no bridge: host_macvtap_us where it reads the stack
            swap["host_net_us"] = "host_macvtap_us"
        for h in r.path.active_hops():
            if isinstance(h.cost, str):
                for n in sorted(compile_expr(h.cost)[1]):
                    n = swap.get(n, n)
                    if n in decl and n not in pinned:
                        seen.setdefault(n, None)
        for res in r.path.resources.values():
            if isinstance(res.servers, str) and res.servers in decl:
                seen.setdefault(res.servers, None)
        t = r.workload.traffic
        if r.path.options.get("nat") and "host_nat_us" not in pinned and (
                t is None or t.host_stack or path_packets(r.path.name).nic == "always"):
            seen.setdefault("host_nat_us", None)  # every host_net_us it pays passes NAT
        if t is not None:  # the NIC's line and frame rate; a flood's guest (and host) driver work
            for n in ("nic_ns_per_byte", "nic_frame_us") + guest_pkt_reads(r.path, t) + (
                    ("wire_us",) if t.kind == "rr" and t.direction == "hosts"
                    and t.peer == "vm" else ()) + (
                    ("host_pkt_us",) if not t.host_stack
                    and path_packets(r.path.name).nic != "always" else ()):
                if n not in pinned:
                    seen.setdefault(n, None)
    return list(seen)


def _is_count(name: str) -> bool:
    """Server counts (whole numbers) and distribution shapes (``*_scv``) are not free by
    default: neither moves a mean the least squares see in the same way as a time."""
    return parameters()[name].unit in ("count", "ratio")


def _fd_step(model: _Model) -> float:
    """The finite-difference step in log cost (relative to max(1, |log cost|)): simulated
    percentiles are smooth only on average (event orders change under tiny perturbations
    even with common random numbers), so 2 % steps there, else 1e-6."""
    return 2e-2 if model.percentiles == "sim" and any(
        r.metric in QUANTILES for r in model.rows) else 1e-6


def _start(prob: _Problem, theta0: np.ndarray) -> np.ndarray:
    """Where the optimiser starts: ``theta0`` just inside the box."""
    return np.clip(theta0, prob.lo + 1e-9, prob.hi - 1e-9)


def _log_jacobian(model: _Model, prob: _Problem, theta: np.ndarray, y: np.ndarray,
                  w: np.ndarray) -> np.ndarray:
    """Log-sensitivities of the residuals at the optimiser's start: one evaluation per
    group of costs no row shares (:func:`_colouring`), with the steps of the fit's own
    Jacobian, so the fit's first Jacobian finds these networks in the model's memo."""
    t = _start(prob, theta)
    f0 = _residuals(model, prob, t, y, w)
    colour, S = _colouring(model, prob)
    return _sparse_jacobian(lambda u, m: _residuals(model, prob, u, y, w, m[:len(y)]), t, f0, S, colour,
                            _fd_step(model), prob.lo, prob.hi)


def _select_identifiable(J: np.ndarray, names: Sequence[str], tol: float = 1e-3) -> list[str]:
    """Column-pivoted QR of the scaled log-sensitivities: the identifiable subset."""
    from scipy.linalg import qr

    norms = np.linalg.norm(J, axis=0)
    keep = norms > 1e-6 * max(norms.max(), 1e-300)
    if not keep.any():
        return []
    cols = np.flatnonzero(keep)
    _, Rm, piv = qr(J[:, cols], mode="economic", pivoting=True)
    d = np.abs(np.diag(Rm))
    rank = int(np.sum(d > tol * d[0])) if d.size else 0
    chosen = sorted(cols[piv[:rank]])
    return [names[k] for k in chosen]


#: an accepted step that lowers the objective (the negative log posterior; with
#: ``prior=None`` the robust log-likelihood, same units) by less than NLP_TOL and by less
#: than NLP_RTOL of it ends the fit: that step moved the posterior density by under 10 %.
#: What the stop leaves on the table is measured, not assumed: on io_comparisons the
#: costs it returns (20 evaluations) lie within 0.014 posterior standard deviations of those
#: scipy's own tolerances reach after 1,080 (``tests/fit/test_stop.py``; a ridge
#: between two costs that bound the same rows can leave more: 0.55 while P02's TX floods
#: were bound by either). On the joint fit of every bundled dataset
#: (``benchmarks/bench_fidelity.py --joint-only``, 2026-12-07): 19 evaluations, 4.4 s, every
#: cost within 0.17 of its posterior standard deviation of the fit run to scipy's
#: tolerances (44 evaluations, 10 s); 0.05 took 25 (6 s, within 0.026), its last six
#: steps zigzagging across a valley of the network rows' per-packet costs. The relative
#: part keeps a fit that can reach zero residuals (exact data) converging to scipy's
#: tolerances.
NLP_TOL = 0.1
NLP_RTOL = 1e-4


def _fit_theta(model: _Model, prob: _Problem, theta0: np.ndarray, y: np.ndarray,
               w: np.ndarray) -> optimize.OptimizeResult:
    x0 = _start(prob, theta0)
    step = _fd_step(model)
    tol = 1e-6 if step > 1e-6 else 1e-10
    # the relative decrease of the objective that ends the fit: scipy's default (1e-8);
    # 1e-10 ran the joint fit of every bundled dataset into the evaluation limit for costs
    # that moved by far less than their standard errors (numbers in benchmarks/bench_fidelity.py)
    ftol = 1e-6 if step > 1e-6 else 1e-8
    from scipy import optimize

    last: dict[bytes, np.ndarray] = {}  # the objective at the latest point: the Jacobian's base
    # the Jacobian is asked right after a step is accepted, before the iteration's
    # callback: at an accepted point whose objective fell by less than NLP_TOL (and
    # NLP_RTOL of it) the old Jacobian is returned (the callback then stops the fit)
    state: dict[str, Any] = {"cost": None, "J": None, "stop": None}

    def fun(t: np.ndarray) -> np.ndarray:
        f = _objective(model, prob, t, y, w)
        last.clear()
        last[t.tobytes()] = f
        return f

    colour, S = _colouring(model, prob)

    def jac(t: np.ndarray) -> np.ndarray:
        f0 = last.get(t.tobytes())
        if f0 is None:
            f0 = _objective(model, prob, t, y, w)
        cost = 0.5 * float(f0 @ f0)
        drop = None if state["J"] is None else state["cost"] - cost
        if step <= 1e-6 and drop is not None and drop < min(NLP_TOL, NLP_RTOL * state["cost"]):
            state["stop"] = (drop, min(NLP_TOL, NLP_RTOL * state["cost"]))
            return state["J"]
        state["cost"] = cost
        state["J"] = _sparse_jacobian(lambda u, m: _objective(model, prob, u, y, w, m[:len(y)]), t, f0, S,
                                      colour, step, prob.lo, prob.hi)
        return state["J"]

    def stop(intermediate_result: optimize.OptimizeResult) -> None:
        if state["stop"] is not None:
            raise StopIteration

    res = optimize.least_squares(
        fun, x0, jac=jac, bounds=(prob.lo, prob.hi), method="trf", x_scale=1.0,
        xtol=tol, ftol=ftol, gtol=tol, max_nfev=prob.max_nfev or 40 * (len(x0) + 1),
        callback=stop)
    if res.status == -2:  # stopped by NLP_TOL: converged in the posterior's own units
        res.status, res.success = 2, True
        drop, limit = state["stop"]
        res.message = (f"the last accepted step lowered the negative log posterior by "
                       f"{drop:.3g} < {limit:.3g} (NLP_TOL = {NLP_TOL:g}, NLP_RTOL = "
                       f"{NLP_RTOL:g} of it)")
        # the Jacobian scipy holds is the previous point's: the Laplace approximation and
        # the standard errors take the one at the point returned
        state["J"] = None
        res.jac = jac(res.x)
    return res


def _structure(model: _Model, prob: _Problem) -> np.ndarray:
    """Which residual depends on which parameter: a row on the costs its path uses (hop
    costs, server counts; not those its options pin), per-group costs only in their group,
    the batch on rows that state none; a prior row on its own cost."""
    n = len(prob.names)
    S = np.zeros((len(model.rows), n), dtype=bool)
    cols = [(_base(k), k[k.index("[") + 1:-1] if "[" in k else None) for k in prob.free]
    mask_of: dict[tuple, np.ndarray] = {}
    used_of = model.used_of  # kept on the model: every Jacobian of the fit asks again
    for idx in model.groups:
        r0 = model.rows[idx[0]]
        # rows of one group share a path and its options, not their traffic, and a traffic
        # reads costs of its own (a flood's driver work, the link to a VM on another host)
        for i in idx:
            r = model.rows[i]
            key = (id(r.path), r.workload.traffic, r.overrides, r.unit)
            m = mask_of.get(key)
            if m is None:
                used = used_of.get(key[:3])
                if used is None:
                    used = used_of[key[:3]] = set(_used_costs([r]))
                m = mask_of[key] = np.array([c in used and (u is None or u == r.unit)
                                             for c, u in cols], dtype=bool)
            S[i, :len(cols)] = m
        if prob.fit_batch:
            S[idx, -1] = not r0.batch_stated
    if prob.mu is not None:
        k = len(prob.free)
        S = np.vstack([S, np.eye(k, n, dtype=bool)])
    return S


def _colouring(model: _Model, prob: _Problem) -> tuple[list[list[int]], np.ndarray]:
    """Groups of parameters no residual shares: one evaluation differences a whole group
    (Curtis, Powell and Reid 1974, J. Inst. Maths Applics 13, 117-119), greedily."""
    S = _structure(model, prob)
    groups: list[list[int]] = []
    rows_of: list[np.ndarray] = []
    for j in range(S.shape[1]):
        for g, taken in zip(groups, rows_of, strict=True):
            if not np.any(taken & S[:, j]):
                g.append(j)
                taken |= S[:, j]
                break
        else:
            groups.append([j])
            rows_of.append(S[:, j].copy())
    return groups, S


def _sparse_jacobian(f, t: np.ndarray, f0: np.ndarray, S: np.ndarray,
                     colour: Sequence[Sequence[int]], step: float, lo: np.ndarray,
                     hi: np.ndarray) -> np.ndarray:
    """Forward differences, one evaluation per group of structurally independent columns
    (steps as scipy's 2-point scheme: step x max(1, |t|), turned back inside the box).

    ``f(u, rows)`` evaluates at ``u`` the residuals ``rows`` marks (the others may be
    anything): those a group's columns move, the only ones its differences read, so the
    rows no cost of the group reaches are not even looked up (a fit's Jacobian asks a
    network per group of rows, most of which would find their memo unchanged)."""
    J = np.zeros((len(f0), len(t)))
    for g in colour:
        h = np.zeros(len(t))
        for j in g:
            hj = step * max(1.0, abs(t[j]))
            h[j] = hj if t[j] + hj <= hi[j] else -hj
        u = t + h
        h = u - t  # the step actually taken, in floating point
        df = f(u, S[:, g].any(axis=1)) - f0
        for j in g:
            J[S[:, j], j] = df[S[:, j]] / h[j]
    return J


def _boot_one(rows: Sequence[_Row], percentiles: str, sim_options: Mapping[str, Any],
              prob: _Problem, theta0: np.ndarray, seed: np.random.SeedSequence,
              batching: str | None = None) -> np.ndarray:
    """One bootstrap replicate: resample rows with replacement, refit from theta0."""
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, len(rows), len(rows))
    sub = [rows[i] for i in idx]
    model = _Model(sub, percentiles, sim_options, batching)
    y = np.array([r.value for r in sub])
    w = np.array([r.weight for r in sub])
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            res = _fit_theta(model, prob, theta0, y, w)
    except (IovModelError, ValueError, np.linalg.LinAlgError):
        return np.full(len(theta0), np.nan)
    return res.x


def _stats(res, prob: _Problem, m: int, y: np.ndarray, pred: np.ndarray,
           J: np.ndarray
           ) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame, list[str], list[str]]:
    """Parameter table, correlation, covariance of the log parameters, issues (warned) and
    notes of a fitted problem."""
    names = prob.names
    n = len(names)
    dof = m - n
    theta = res.x
    issues: list[str] = []
    notes: list[str] = []
    Jd = J[:m]  # the data rows (the prior rows follow)
    norms = np.linalg.norm(Jd, axis=0)
    identifiable = np.ones(n, dtype=bool)
    if prob.mu is not None:
        # Laplace: the posterior of log cost is normal with the inverse Gauss-Newton Hessian
        # of the negative log posterior; the data part is scaled to the residuals' own robust
        # spread when it exceeds f_scale (a model that misses by 30 % knows less than 10 %)
        with np.errstate(divide="ignore", invalid="ignore"):
            lr = np.log(pred) - np.log(y)
        lr = lr[np.isfinite(lr)]
        spread = 1.4826 * float(np.median(np.abs(lr))) if lr.size else 0.0
        inflate = max(1.0, (spread / prob.f_scale) ** 2)
        H = Jd.T @ Jd / inflate
        k = len(prob.free)
        H[np.arange(k), np.arange(k)] += 1.0 / prob.sigma**2
        if prob.fit_batch:  # the batch has no prior: a flat one, kept proper by a tiny ridge
            H[-1, -1] += 1e-12
        cov = np.linalg.pinv(H, hermitian=True)
        se = np.sqrt(np.clip(np.diag(cov), 0, None))
        tq = _Z95
        prior_sd = np.concatenate([prob.sigma, [np.inf] if prob.fit_batch else []])
        # informed: the data shrink the prior's spread at least by half
        identifiable &= se < 0.5 * prior_sd
    else:
        cov = np.full((n, n), np.nan)
        if dof > 0:
            s2 = float(np.sum(res.fun**2)) / dof
            # (J'J)^-1 by SVD without truncation: a near-null direction gets a huge variance
            # (a truncated pseudo-inverse would give it none and fake a tiny stderr)
            _, sv, vt = np.linalg.svd(J, full_matrices=False)
            sv_full = np.zeros(n)
            sv_full[:len(sv)] = sv
            floor = max(sv_full.max(initial=0.0), 1e-300) * 1e-15
            vt_full = np.zeros((n, n))
            vt_full[:len(sv)] = vt
            if len(sv) < n:  # fewer rows than costs: complete the basis
                vt_full = np.linalg.svd(np.vstack([vt, np.zeros((n - len(sv), n))]))[2]
            cov = s2 * (vt_full.T / np.maximum(sv_full, floor) ** 2) @ vt_full
        se = np.sqrt(np.clip(np.diag(cov), 0, None))
        from scipy import stats

        tq = stats.t.ppf(0.975, dof) if dof > 0 else np.nan
        # no influence on any row, or in the (near) null space of J, or hopelessly uncertain
        identifiable &= norms > 1e-8 * max(norms.max(initial=0.0), 1e-300)
        if n and np.all(np.isfinite(J)):
            Jn = J / np.where(norms > 0, norms, 1.0)
            _, sv, vt = np.linalg.svd(Jn, full_matrices=True)
            sv = np.concatenate([sv, np.zeros(n - len(sv))])
            null = vt[sv < 1e-6 * max(sv.max(initial=0.0), 1e-300)]
            if len(null):
                identifiable &= ~(np.abs(null).max(axis=0) > 0.1)
        identifiable &= ~(se > math.log(10.0))  # 1 se = a factor 10: the data do not pin it
        if dof <= 0:
            identifiable[:] = False
    value = np.array(list(prob.values(theta).values())
                     + ([prob.batch(theta)] if prob.fit_batch else []))
    start = np.array([prob.base[_base(k)] for k in prob.free]
                     + ([_BATCH0] if prob.fit_batch else []))
    at_bound = (res.active_mask != 0) | (theta - prob.lo < 1e-6) | (prob.hi - theta < 1e-6)
    params = pd.DataFrame({
        "value": value, "start": start, "stderr": value * se,
        "ci_lo": np.exp(np.clip(theta - tq * se, prob.lo, prob.hi)),
        "ci_hi": np.exp(np.clip(theta + tq * se, prob.lo, prob.hi)),
        "at_bound": at_bound, "identifiable": identifiable,
        "lo": np.exp(prob.lo), "hi": np.exp(prob.hi),
    }, index=pd.Index(list(names), name="name"))
    if prob.mu is not None:
        pad = [np.nan] if prob.fit_batch else []
        params["prior_median"] = np.concatenate([np.exp(prob.mu), pad])
        params["prior_lo"] = np.concatenate([np.exp(prob.mu - _Z95 * prob.sigma), pad])
        params["prior_hi"] = np.concatenate([np.exp(prob.mu + _Z95 * prob.sigma), pad])
    with np.errstate(invalid="ignore", divide="ignore"):
        corr = cov / np.outer(se, se)
    correlation = pd.DataFrame(corr, index=list(names), columns=list(names))
    covariance = pd.DataFrame(cov, index=list(names), columns=list(names))
    bad = [k for k, ok in zip(names, identifiable, strict=True) if not ok]
    if prob.mu is not None:
        if bad:
            notes.append(f"not informed by these data (posterior spread above half the "
                         f"prior's), so at or near their priors: {', '.join(bad)}")
    elif dof <= 0:
        issues.append(f"{m} row(s) for {n} free cost(s): no degrees of freedom, the "
                      "costs are not identifiable; fix some (free=...) or add data")
    elif bad:
        issues.append(f"cost(s) {', '.join(bad)} are not identifiable from these data "
                      "(no influence, collinear with others, or standard error above a "
                      "factor 10); fix them (free=...) or add rows that separate them")
    return params, correlation, covariance, issues, notes


@one_blas_thread
@_gc_paused
def fit(measurements: pd.DataFrame | Source | Sequence[Source],
        host: HostProfile | None = None, *, path: str | None = None,
        options: Mapping[str, Any] | str | None = None,
        metrics: Sequence[str] | str | None = None,
        free: Sequence[str] | str | None = None,
        prior: str | Mapping[str, tuple[float, float]] | None = "typical",
        weights: Any = None, loss: str = "soft_l1", f_scale: float = 0.1,
        plausible_factor: float = 3.0, by: str | None = None,
        per_group: Sequence[str] | None = None, n_boot: int = 0, seed: int | None = None,
        executor: Executor | None = None, percentiles: str = "approx",
        sim_options: Mapping[str, Any] | None = None,
        max_nfev: int | None = None, drop_unpredictable: bool = False,
        batching: str | None = None) -> FitResult:
    """Calibrate host costs to measurements.

    Parameters
    ----------
    measurements : DataFrame, file path, glob, or a list of them
        One row per measured number: ``path``, ``metric``, ``value`` and
        optionally ``options``, ``jobs``, ``iodepth``, ``size_bytes``,
        ``rate_per_s``, ``batch``, ``think_us``, ``unit`` (the tidy schema of
        :mod:`iovmodel.datasets`).  Metrics: :data:`PREDICTABLE`.  Or files:
        fio JSON / json+, ``iperf3 -J`` output, tidy CSVs (:func:`read_measurements`).
    host : HostProfile, optional
        Start values and the fixed costs (default :meth:`HostProfile.default`).
    path, options : optional
        The catalog path (and its options) the tool outputs among ``measurements``
        measured: fio and iperf3 do not record it.
    metrics : "auto", list of str or None
        Which rows to fit (:func:`pick_metrics`); the others are listed with their
        reason in :attr:`FitResult.ignored`.  ``"auto"`` (the default for files):
        every predictable row except those redundant with another metric of the
        same run and tail percentiles.  None (the default for a frame): every row,
        and a row the model cannot predict raises.
    free : sequence of str, "all" or None
        Costs to fit.  None: the costs the measured paths use that move at least
        one prediction (with ``prior=None``: reduced further to the subset the data
        can inform, by a column-pivoted QR of the log-sensitivity matrix at the
        start profile); count costs such as ``device_blk_slots`` stay fixed.
        ``"all"``: every cost the paths use.
    prior : "typical", mapping or None
        ``"typical"``: each free cost gets a log-normal prior built from its
        published typical range in ``costs.toml`` (:func:`prior_of`), and the fit is
        the maximum a posteriori estimate; a cost the data cannot inform stays at
        its prior and the result's notes say so.  A mapping ``{name: (lo, hi)}``
        replaces the typical range of the costs it names.  None: no prior (plain
        robust least squares, intervals from the Gauss-Newton covariance).
    weights : None, str or array-like
        Multiplies each row's log residual: None (all 1), a column name, or one
        number per row.
    loss : {"linear", "soft_l1", "huber", "cauchy", "arctan"}
        Robust loss of the data rows (those of :func:`scipy.optimize.least_squares`);
        the default ``"soft_l1"`` grows linearly beyond ``f_scale``, so one outlying
        row cannot drag a shared cost to its bound.  ``f_scale`` is the soft margin
        in log units (0.1: about 10 %), also the scale of the likelihood against
        the prior.
    by : str, optional
        A hierarchical fit: the column (``"hardware"``, ``"source"``) whose groups
        each get their own ``per_group`` costs, while the other free costs (the
        virtualization costs: exits, wake-ups, vhost, the global mutex) are shared by
        all rows.  Each per-group cost has the cost's own prior.  The result's
        :attr:`FitResult.per_group` holds them and ``params`` names them
        ``cost[group]``; ``profile`` keeps the shared costs (per-group ones at their
        start).
    per_group : sequence of str, optional
        The per-group costs (default: the free costs of ``kind = "hardware"`` in
        ``costs.toml``: the device, the guest's and the host's OS stacks, copies and system
        calls, which run the same without virtualization and differ between machines).
    plausible_factor : float
        A fitted cost outside its typical range by more than this factor raises
        :class:`~iovmodel.errors.ImplausibleProfileWarning`.
    n_boot : int
        Bootstrap replicates (rows resampled with replacement, refitted);
        0 skips the bootstrap.
    seed : int, optional
        Root of ``numpy.random.SeedSequence`` for the bootstrap: same seed, same
        intervals, whatever the executor.
    executor : concurrent.futures.Executor, optional
        Runs bootstrap replicates (``executor.map``); default in this process.
    percentiles : {"approx", "sim"}
        How latency percentiles are predicted (module docstring).
    sim_options : mapping, optional
        ``requests``, ``replications``, ``seed`` of the simulator when
        ``percentiles="sim"``.
    batching : {None, "amortised", "load"}
        Batch (requests per kick and per interrupt) of the rows whose ``batch`` is
        empty: ``"amortised"`` takes 1; ``"load"`` takes the load-dependent
        ``1 / (1 - rho)`` of notification suppression (module docstring); None (default):
        each row's path's own, :attr:`Path.batching` (``"load"`` on
        ``firecracker-virtio-blk`` and ``cloudhv-virtio-blk``, whose back-ends signal once
        per pass of their ring).
    drop_unpredictable : bool
        Drop the rows :func:`predictable` rejects (listed in :attr:`FitResult.notes`)
        instead of raising; the residuals then hold only the fitted rows.
    max_nfev : int, optional
        Most iterations of the optimiser (default 40 x (free + 1); each costs free + 1
        model evaluations for the finite-difference Jacobian).  The fit also ends when
        an accepted step lowers the objective (the negative log posterior) by less than
        :data:`NLP_TOL` (0.1) and by less than :data:`NLP_RTOL` of it: a change no
        interval could show; :attr:`FitResult.message` then says so (not with
        ``percentiles="sim"``, whose noisy objective keeps scipy's own tolerances).

    Returns
    -------
    FitResult

    Raises
    ------
    FitError
        Empty measurements, a NaN or non-positive value, an unknown path, a
        metric the path cannot predict, unknown or count costs in ``free``.

    Warns
    -----
    FitConvergenceWarning
        The optimiser stopped without converging, or (``prior=None``) a free cost
        is not identifiable from the data.
    CostAtBoundWarning
        A fitted cost sits on a bound of its box.
    ImplausibleProfileWarning
        A fitted cost lies outside its typical range by more than ``plausible_factor``.
    OutsideTypicalWarning
        A fitted cost lies outside its typical range, by less than ``plausible_factor``.
    """
    if loss not in _LOSSES:
        raise ParameterError(f"loss must be one of {', '.join(_LOSSES)}, got {loss!r}")
    check_options(percentiles, batching, host)
    if not isinstance(n_boot, int | np.integer) or n_boot < 0:
        raise ParameterError(f"n_boot must be a whole number >= 0, got {n_boot!r}")
    if not (f_scale > 0):
        raise ParameterError(f"f_scale must be > 0 (log units), got {f_scale!r}")
    if not (plausible_factor >= 1):
        raise ParameterError(f"plausible_factor must be >= 1, got {plausible_factor!r}")
    if not (prior is None or prior == "typical" or isinstance(prior, Mapping)):
        raise ParameterError(f"prior must be 'typical', a mapping name -> (lo, hi) or None, "
                             f"got {prior!r}")
    if isinstance(prior, Mapping):
        for k, rng in prior.items():
            if k not in parameters():
                raise ParameterError(f"prior names unknown cost {k!r}")
            prior_of(k, rng)  # raises on a bad range
    host = host if host is not None else HostProfile.default()
    files: list[str] = []
    if not isinstance(measurements, pd.DataFrame):
        measurements = read_measurements(measurements, path=path, options=options)
        if "source" in measurements.columns:
            files = sorted(set(measurements["source"].dropna().astype(str)))
        metrics = "auto" if metrics is None else metrics
    elif path is not None or options is not None:
        raise ParameterError("path= and options= describe tool output files; a frame states "
                             "its rows' path and options in its columns")
    left_out = None
    if metrics is not None:
        measurements = _check_frame(measurements)
        kept, left_out = pick_metrics(measurements, metrics)
        if weights is not None and not isinstance(weights, str):
            weights = np.asarray(weights, dtype=float)[measurements.index.isin(kept.index)]
        measurements = kept.reset_index(drop=True)
    dropped = ""
    if drop_unpredictable:
        frame = _check_frame(measurements)
        ok = predictable(frame)
        if not ok["predictable"].any():
            raise FitError(f"no row is predictable; e.g. {ok['reason'].iloc[0]}")
        if not ok["predictable"].all():
            why = ok.loc[~ok["predictable"], "reason"]
            dropped = (f"dropped {len(why)} unpredictable row(s), e.g. "
                       f"{why.iloc[0]}")
            if weights is not None and not isinstance(weights, str):
                weights = np.asarray(weights, dtype=float)[ok["predictable"].to_numpy()]
            measurements = frame[ok["predictable"].to_numpy()]
    rows, ignored = _parse(measurements, weights, by=by)
    model = _Model(rows, percentiles, sim_options, batching)
    y = np.array([r.value for r in rows])
    w = np.array([r.weight for r in rows])
    used = _used_costs(rows)
    decl = parameters()
    notes: list[str] = [dropped] if dropped else []
    if left_out is not None and len(left_out):
        why = left_out["reason"].str.replace(r"^row \d+ \([^)]*\)(, column '\w+')?: ", "",
                                             regex=True)
        parts = [f"{len(g)} x {r} ({', '.join(dict.fromkeys(g['metric'].astype(str)))})"
                 for r, g in left_out.assign(why=why).groupby("why", sort=False)
                 for r in [r if len(r) < 90 else r[:87] + "..."]]
        notes.append(f"ignored {len(left_out)} row(s) (FitResult.ignored lists them): "
                     + "; ".join(parts))
    if ignored:
        notes.append(f"option keys ignored (neither path options nor costs): "
                     f"{', '.join(sorted(ignored))}")
    if isinstance(free, str) and free != "all":
        free = [free]
    elif free is not None and not isinstance(free, str) and (
            not hasattr(free, "__iter__") or not all(isinstance(k, str) for k in free)):
        raise ParameterError(f"free must be 'all', None or cost names, got {free!r:.80}")
    fit_batch = free is not None and free != "all" and "batch" in free
    if fit_batch:
        if batching == "load":
            raise ParameterError("free names 'batch' but batching='load' derives it from the "
                                 "load; use one or the other")
        free = [k for k in free if k != "batch"]
        if all(r.batch_stated for r in rows):
            raise FitError("free names 'batch' but every row states its batch")
    if free is None or free == "all":
        cand = [k for k in used if not _is_count(k)]
        if not cand:
            raise FitError("the measured paths use no fittable cost")
        if free is None:
            prob0 = _make_problem(cand, host, loss, f_scale, max_nfev)
            J0 = _log_jacobian(model, prob0, _theta0(prob0), y, w)
            if prior is not None:  # the prior holds what the data cannot: drop only the inert
                norms = np.linalg.norm(J0, axis=0)
                free = [k for k, v in zip(cand, norms, strict=True) if v > 1e-9]
            else:
                free = _select_identifiable(J0, cand)
            if not free:
                raise FitError("no cost influences these measurements; nothing to fit")
            fixed = [k for k in cand if k not in free]
            if fixed:
                notes.append(f"kept at their start values ({'no influence on any row' if prior is not None else 'not separable from the fitted ones by these data'}): "
                             f"{', '.join(fixed)}")
        else:
            free = cand
    free = list(dict.fromkeys(free))
    if not free and not fit_batch:
        raise ParameterError("free is empty: name at least one cost (or 'batch')")
    for k in ([] if per_group is None else list(per_group)) + list(free):
        if k not in decl:
            raise ParameterError(f"free names unknown cost {k!r}; known: {', '.join(sorted(decl))}")
        if _is_count(k):
            raise ParameterError(f"{k!r} is a count (a number of servers); least squares cannot fit "
                           "it: set it in host and compare fits instead")
    unused = [k for k in free if k not in used]
    if unused:
        notes.append(f"free cost(s) no measured path uses: {', '.join(unused)}")
    units: list[str] = []
    if by is not None:
        free = _split_by_group(rows, free, per_group, by, units)
    prob = _make_problem(free, host, loss, f_scale, max_nfev, fit_batch, prior)
    theta0 = _theta0(prob)
    res = _fit_theta(model, prob, theta0, y, w)
    pred = model.predict(prob.host(res.x), prob.batch(res.x), prob.per_unit(res.x))
    J = np.asarray(res.jac)
    params, corr, cov, issues, more = _stats(res, prob, len(rows), y, pred, J)
    notes.extend(more)
    checks = _plausibility(params, plausible_factor)
    if not res.success or res.status <= 0:
        issues.append(f"the optimiser did not converge: {res.message}")
    nopred = int(np.sum(~np.isfinite(pred)))
    if nopred:
        issues.append(f"{nopred} row(s) have no prediction at the fitted costs (an open "
                      "load beyond a resource's capacity)")
    boot = None
    if n_boot:
        children = np.random.SeedSequence(seed).spawn(int(n_boot))
        args = [(rows, percentiles, dict(model.sim_options), prob, res.x, c, batching)
                for c in children]
        if executor is None:
            thetas = [_boot_one(*a) for a in args]
        else:
            thetas = list(executor.map(_boot_one, *zip(*args, strict=True)))
        T = np.array(thetas, dtype=float).reshape(int(n_boot), len(prob.names))
        boot = pd.DataFrame(np.exp(T), columns=list(prob.names))
        boot.index.name = "replicate"
        ok = np.isfinite(T).all(axis=1)
        if ok.sum() >= 2:
            params["boot_lo"] = np.exp(np.percentile(T[ok], 2.5, axis=0))
            params["boot_hi"] = np.exp(np.percentile(T[ok], 97.5, axis=0))
        else:
            params["boot_lo"] = params["boot_hi"] = np.nan
        if (~ok).any():
            notes.append(f"{int((~ok).sum())} of {n_boot} bootstrap replicates failed")
    for msg in issues:
        warnings.warn(msg, FitConvergenceWarning, stacklevel=2)
    for msg, cls in checks:
        warnings.warn(msg, cls, stacklevel=2)
    notes.extend(issues)
    notes.extend(msg for msg, _ in checks)
    out = _residual_frame(measurements, y, pred)
    with np.errstate(divide="ignore", invalid="ignore"):
        lr = np.log(pred) - np.log(y)
    fin = np.isfinite(lr)
    ly = np.log(y[fin])
    ss_tot = float(np.sum((ly - ly.mean()) ** 2))
    r2 = 1.0 - float(np.sum(lr[fin] ** 2)) / ss_tot if ss_tot > 0 else math.nan
    mape = float(np.median(np.abs(out["rel_error"].to_numpy()))) * 100.0
    profile = prob.host(res.x)
    import datetime

    day = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d")
    data = f"{', '.join(files)}" if files else f"{len(rows)} row(s)"
    how = f"fitted by iovmodel.fit on {day} to {data}: median |error| {mape:.1f} %"
    profile = HostProfile(dict(profile), name=f"fit of {host.name}",
                          sources={**host.sources, **dict.fromkeys(
                              [k for k in free if "[" not in k], how)})
    return FitResult(profile=profile, start=host, params=params, residuals=out,
                     correlation=corr, covariance=cov, r2=r2, mape=mape,
                     dof=len(rows) - len(prob.names),
                     success=bool(res.success and res.status > 0), message=str(res.message),
                     nfev=int(res.nfev), loss=loss, boot=boot, notes=tuple(notes),
                     ignored=left_out, per_group=prob.per_unit(res.x),
                     prior=None if prior is None else
                     ("typical" if prior == "typical" else dict(prior)),
                     options={"percentiles": percentiles, "sim_options": sim_options,
                              "batching": batching, **({"by": by} if by else {})})


def _split_by_group(rows: Sequence[_Row], free: Sequence[str], per_group: Sequence[str] | None,
                    by: str, units: list[str]) -> list[str]:
    """Free parameters of a hierarchical fit: shared costs, then ``cost[group]`` per group."""
    groups: dict[str, list[int]] = {}
    for r in rows:
        groups.setdefault(r.unit, []).append(r.index)
    if "" in groups:
        raise FitError(f"by={by!r}: row(s) {groups['']} have no {by}; fill the column or "
                       "drop them")
    small = {u: ix for u, ix in groups.items() if len(ix) < 2}
    if small:
        raise FitError(f"by={by!r}: group(s) with one row cannot fit their own costs: "
                       + "; ".join(f"{u!r} (row {ix[0]})" for u, ix in small.items()))
    if per_group is None:
        # the machine's own speed (costs.toml kind = "hardware"): its device, OS stacks,
        # copies and system calls differ between machines; the virtualization machinery
        # (exits, notifications, wake-ups, back-ends, locks) is shared
        kinds = parameters()
        local = [k for k in free
                 if k in kinds and kinds[k].kind == "hardware" and not _is_count(k)]
    else:
        local = [k for k in per_group if not _is_count(k)]
    if not local:
        raise ParameterError(f"by={by!r} but no per-group cost is free (per_group={per_group!r})")
    units.extend(groups)
    used = {u: set(_used_costs([r for r in rows if r.unit == u])) for u in groups}
    shared = [k for k in free if k not in local]
    return shared + [f"{k}[{u}]" for u in groups for k in local if k in used[u]]


def _make_problem(free: Sequence[str], host: HostProfile, loss: str, f_scale: float,
                  max_nfev: int | None, fit_batch: bool = False,
                  prior: str | Mapping[str, tuple[float, float]] | None = None) -> _Problem:
    b = [_bounds_for(_base(k), host[_base(k)]) for k in free]
    if fit_batch:
        b.append((0.0, math.log(_BATCH_MAX)))
    mu = sigma = None
    if prior is not None:
        given = prior if isinstance(prior, Mapping) else {}
        ps = [prior_of(_base(k), given.get(_base(k))) for k in free]
        mu = np.log([p[0] for p in ps])
        sigma = np.array([p[1] for p in ps])
    return _Problem(tuple(free), dict(host), np.array([x[0] for x in b]),
                    np.array([x[1] for x in b]), loss, float(f_scale), max_nfev, fit_batch,
                    mu, sigma)


def _plausibility(params: pd.DataFrame, factor: float) -> list[tuple[str, type[Warning]]]:
    """Warnings of a fitted profile: costs on a bound, costs far outside their typical range."""
    out: list[tuple[str, type[Warning]]] = []
    decl = parameters()
    costs = params.drop(index=[k for k in params.index if _base(k) not in decl])
    hit = costs[costs["at_bound"]]
    if len(hit):
        out.append(("at a bound of its box (the data push it further than allowed): " + ", ".join(
            f"{k} = {p['value']:.4g} in [{p['lo']:.4g}, {p['hi']:.4g}]" for k, p in hit.iterrows()),
            CostAtBoundWarning))
    far, near = [], []
    for k, p in costs.iterrows():
        lo, hi = decl[_base(k)].typical
        v = p["value"]
        if v < lo / factor or v > hi * factor:
            far.append(f"{k} = {v:.4g} (typical {lo:g}-{hi:g})")
        elif v < lo or v > hi:
            how = f"{lo / v:.3g}x below" if v < lo else f"{v / hi:.3g}x above"
            near.append(f"{k} = {v:.4g} (typical {lo:g}-{hi:g}: {how})")
    if near:
        out.append(("outside its published typical range (costs.toml), by less than the "
                    f"factor {factor:g} that makes a profile implausible: {', '.join(near)}; "
                    "the data pull it there, or they measure something the model lacks: read "
                    "the residuals before applying the profile to other paths",
                    OutsideTypicalWarning))
    if far:
        out.append((f"IMPLAUSIBLE PROFILE: outside the published typical range by more than a "
                    f"factor {factor:g}: {', '.join(far)}; do not apply it to other paths "
                    "before checking the data", ImplausibleProfileWarning))
    return out


def _theta0(prob: _Problem) -> np.ndarray:
    v = np.array([prob.base[_base(k)] for k in prob.free] + ([_BATCH0] if prob.fit_batch else []),
                 dtype=float)
    with np.errstate(divide="ignore"):
        t = np.log(v)
    return np.clip(t, prob.lo, prob.hi)
