"""Exceptions and warnings of iovmodel.

Every error is an :class:`IovModelError`; the specific ones also inherit the
builtin they resemble, so ``except ValueError`` keeps working for callers who
do not know this package.
"""

from __future__ import annotations


class IovModelError(Exception):
    """Base class of every error raised by iovmodel."""


class ParameterError(IovModelError, ValueError):
    """A cost, option or argument is negative, NaN, out of bounds or unknown."""


class UnstableError(IovModelError, ValueError):
    """An open load drives a resource to utilisation >= 1 (no steady state)."""


class UnknownPathError(IovModelError, KeyError, ValueError):
    """A path name is not in the catalog."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else ""


class CatalogError(IovModelError, ValueError):
    """A path catalog file is malformed."""


class DatasetError(IovModelError, ValueError):
    """A measured-data file or frame is malformed (names file, row and column)."""


class FitError(IovModelError, ValueError):
    """Measurements cannot be fitted (empty, NaN, unpredictable metric, ...)."""


class ProbeError(IovModelError, RuntimeError):
    """The KVM probe cannot run or a guest run failed."""


class IovModelWarning(UserWarning):
    """Base class of iovmodel's warnings."""


class UnstableQueueWarning(IovModelWarning):
    """A point of a sweep is unstable and was returned as NaN."""


class FitWarning(IovModelWarning):
    """Base class of the warnings of a fit (:func:`iovmodel.fit`)."""


class FitConvergenceWarning(FitWarning):
    """The optimiser stopped without converging, or a parameter is not identifiable."""


class CostAtBoundWarning(FitWarning):
    """A fitted cost sits on a bound of its box: the data push it beyond what is allowed."""


class OutsideTypicalWarning(FitWarning):
    """A fitted cost lies outside its published typical range (``costs.toml``), by less than
    the factor that makes the profile implausible (:class:`ImplausibleProfileWarning`)."""


class ImplausibleProfileWarning(FitWarning):
    """A fitted cost lies outside its published typical range by more than a stated factor."""


__all__ = [
    "CatalogError",
    "CostAtBoundWarning",
    "DatasetError",
    "FitConvergenceWarning",
    "FitError",
    "FitWarning",
    "IovModelError",
    "IovModelWarning",
    "ImplausibleProfileWarning",
    "OutsideTypicalWarning",
    "ParameterError",
    "ProbeError",
    "UnknownPathError",
    "UnstableError",
    "UnstableQueueWarning",
]
