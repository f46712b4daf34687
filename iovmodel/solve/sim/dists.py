"""Service-time distributions of the simulator, sampled in bulk.

Every hop's time is drawn from a :class:`Dist`. By default the hop's declared
``scv`` (squared coefficient of variation) picks the family: 0 deterministic,
1 exponential, anything else gamma with that scv; polling hops
(``Visit.poll``) are uniform on ``[0, 2 * mean]`` (a poll interval of
twice the hop's mean). ``simulate(..., dists={hop name: spec})`` overrides it
per hop with one of

* a :class:`Dist` from this module: :func:`deterministic`, :func:`exponential`,
  :func:`erlang`, :func:`gamma`, :func:`lognormal`, :func:`uniform` (these keep
  the hop's mean), :func:`empirical` (measured samples, µs) or
  :func:`scipy_dist` (any frozen ``scipy.stats`` distribution, values in µs);
* a family name (``"deterministic"``, ``"exponential"``, ``"lognormal"``, ...);
* a frozen ``scipy.stats`` distribution or a 1-D array of samples (µs).

Samples are drawn by NumPy / SciPy in blocks of thousands and handed to the
compiled event loop; nothing is called per event from Python.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from ...errors import ParameterError

Sampler = Callable[[np.random.Generator, int], np.ndarray]


@dataclass(frozen=True)
class Dist:
    """A service-time law.

    Attributes
    ----------
    family : str
        ``deterministic``, ``exponential``, ``gamma``, ``lognormal``, ``uniform``,
        ``empirical`` or ``scipy``.
    scv : float
        Squared coefficient of variation for ``gamma`` and ``lognormal``.
    data : numpy.ndarray or None
        Samples (µs) for ``empirical``.
    frozen : object
        The frozen scipy.stats distribution for ``scipy``.
    """

    family: str
    scv: float = 1.0
    data: np.ndarray | None = field(default=None, repr=False, compare=False)
    frozen: object = field(default=None, repr=False, compare=False)

    @property
    def keeps_mean(self) -> bool:
        """Whether the law is scaled to the hop's declared mean."""
        return self.family not in ("empirical", "scipy")

    def mean_us(self, hop_mean_us: float) -> float:
        """Mean of one sample, µs, for a hop whose declared mean is ``hop_mean_us``."""
        if self.family == "empirical":
            return float(np.mean(self.data))
        if self.family == "scipy":
            return float(self.frozen.mean())
        return float(hop_mean_us)

    def sampler(self, hop_mean_us: float, hop: str = "?") -> Sampler:
        """A picklable ``f(generator, n) -> n samples (µs)``."""
        return _Sampler(self, float(hop_mean_us), hop)

    def __repr__(self) -> str:
        if self.family in ("gamma", "lognormal"):
            return f"{self.family}(scv={self.scv:g})"
        if self.family == "empirical":
            return f"empirical(n={len(self.data)})"
        if self.family == "scipy":
            d = self.frozen
            return f"scipy({getattr(getattr(d, 'dist', None), 'name', type(d).__name__)})"
        return f"{self.family}()"


class _Sampler:
    """Bulk sampler of one hop (picklable for process pools and Dask)."""

    def __init__(self, dist: Dist, mean_us: float, hop: str):
        self.dist = dist
        self.mean = mean_us
        self.hop = hop

    def __call__(self, gen: np.random.Generator, n: int) -> np.ndarray:
        d, m = self.dist, self.mean
        f = d.family
        if f == "deterministic" or (m == 0.0 and d.keeps_mean):
            return np.full(n, m)
        if f == "exponential":
            return gen.exponential(m, n)
        if f == "gamma":
            return gen.gamma(1.0 / d.scv, m * d.scv, n)
        if f == "lognormal":
            s2 = math.log1p(d.scv)
            return gen.lognormal(math.log(m) - s2 / 2.0, math.sqrt(s2), n)
        if f == "uniform":
            return gen.uniform(0.0, 2.0 * m, n)
        if f == "empirical":
            return gen.choice(d.data, n)
        x = np.asarray(d.frozen.rvs(size=n, random_state=gen), dtype=float)
        if not np.all(np.isfinite(x)) or np.any(x < 0):
            bad = x[~(np.isfinite(x) & (x >= 0))][0]
            raise ParameterError(
                f"dists[{self.hop!r}]: the scipy distribution drew {bad!r}; "
                "service times must be finite and >= 0 µs")
        return x


def deterministic() -> Dist:
    """Every visit takes exactly the hop's mean (scv 0)."""
    return Dist("deterministic", 0.0)


def exponential() -> Dist:
    """Exponential with the hop's mean (scv 1)."""
    return Dist("exponential", 1.0)


def erlang(k: int) -> Dist:
    """Erlang-``k`` (sum of ``k`` exponentials) with the hop's mean (scv 1/k)."""
    if int(k) != k or k < 1:
        raise ParameterError(f"erlang: k must be an integer >= 1, got {k!r}")
    return Dist("gamma", 1.0 / int(k))


def gamma(scv: float) -> Dist:
    """Gamma with the hop's mean and squared coefficient of variation ``scv`` > 0."""
    if not (scv > 0 and math.isfinite(scv)):
        raise ParameterError(f"gamma: scv must be finite and > 0, got {scv!r}")
    return Dist("gamma", float(scv))


def lognormal(scv: float) -> Dist:
    """Lognormal with the hop's mean and squared coefficient of variation ``scv`` > 0."""
    if not (scv > 0 and math.isfinite(scv)):
        raise ParameterError(f"lognormal: scv must be finite and > 0, got {scv!r}")
    return Dist("lognormal", float(scv))


def uniform() -> Dist:
    """Uniform on [0, 2 x the hop's mean] (scv 1/3): a poll interval's residual."""
    return Dist("uniform", 1.0 / 3.0)


def empirical(samples_us: ArrayLike) -> Dist:
    """Resample measured times (µs) with replacement."""
    a = np.asarray(samples_us, dtype=float).ravel()
    if a.size == 0:
        raise ParameterError("empirical: no samples given")
    if not np.all(np.isfinite(a)) or np.any(a < 0):
        raise ParameterError("empirical: samples must be finite and >= 0 µs")
    a = a.copy()
    a.setflags(write=False)
    return Dist("empirical", float(a.var() / a.mean() ** 2) if a.mean() > 0 else 0.0, data=a)


def scipy_dist(frozen: Any) -> Dist:
    """Wrap a frozen ``scipy.stats`` distribution whose values are µs."""
    if not (hasattr(frozen, "rvs") and hasattr(frozen, "mean")):
        raise ParameterError(f"scipy_dist: {frozen!r} is not a frozen scipy.stats distribution")
    m, v = float(frozen.mean()), float(frozen.var())
    if not (math.isfinite(m) and m >= 0):
        raise ParameterError(f"scipy_dist: the mean {m!r} must be finite and >= 0 µs")
    return Dist("scipy", v / m**2 if m > 0 and math.isfinite(v) else math.inf, frozen=frozen)


_NAMED = {
    "deterministic": deterministic,
    "constant": deterministic,
    "exponential": exponential,
    "uniform": uniform,
}


def default_dist(scv: float, poll: bool = False) -> Dist:
    """The law a hop's declared ``scv`` implies (uniform for a polling hop, ``Visit.poll``)."""
    if poll:
        return uniform()
    if scv == 0:
        return deterministic()
    if scv == 1:
        return exponential()
    return gamma(scv)


def as_dist(spec: Any, hop: str) -> Dist:
    """Turn a user's ``dists`` entry into a :class:`Dist` (errors name the hop)."""
    if isinstance(spec, Dist):
        return spec
    if isinstance(spec, str):
        key = spec.strip().lower()
        if key in _NAMED:
            return _NAMED[key]()
        raise ParameterError(
            f"dists[{hop!r}]: unknown distribution {spec!r}; use one of "
            f"{sorted(_NAMED)}, a Dist (erlang(k), gamma(scv), lognormal(scv), empirical(x)), "
            "a frozen scipy.stats distribution or an array of samples")
    if hasattr(spec, "rvs") and hasattr(spec, "mean"):
        return scipy_dist(spec)
    if isinstance(spec, np.ndarray | list | tuple):
        try:
            return empirical(spec)
        except ParameterError as e:
            raise ParameterError(f"dists[{hop!r}]: {e}") from None
    raise ParameterError(f"dists[{hop!r}]: cannot use {type(spec).__name__} as a distribution")
