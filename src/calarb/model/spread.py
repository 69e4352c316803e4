"""Spread, its running mean and standard deviation, z-score, and theoretical prices per leg.

Leg A is the dependent leg, leg B the hedge: the model is A ~ alpha + beta B, either on
prices (`SpreadForm.PRICE`) or on log prices (`SpreadForm.LOG`). The spread is
A - (alpha + beta B) in the chosen form; its z-score is (spread - mean) / std over a rolling
window or exponentially weighted, with the current observation included.

Theoretical prices come from the same relationship: A* = alpha + beta B, and B* solves it for
B, B* = (A - alpha) / beta (in log form, exp of the same in logs). The calibration error of a
leg is market minus theoretical, in price units.
"""

from __future__ import annotations

import enum
import math
import math as _libm  # compiled: C's libm (spread.pxd), called only where Python's agrees
from typing import NamedTuple

import numpy as np

from calarb.model.moments import (
    EwmMoments,
    RollingMoments,
    ewm_alpha,
    ewm_moments,
    rolling_moments,
)
from calarb.model.validation import ModelInputError


class SpreadForm(enum.Enum):
    PRICE = "price"
    LOG = "log"


def to_model_space(price: float, form: SpreadForm, name: str = "price") -> float:
    """A price in the space the regression lives in (itself, or its log)."""
    if form is SpreadForm.LOG:
        if price <= 0.0:
            raise ModelInputError(f"{name}: non-positive price {price!r} cannot enter a log spread")
        return math.log(price)
    return price


def spread_value(a: float, b: float, alpha: float, beta: float, form: SpreadForm) -> float:
    """A - (alpha + beta B) in the chosen form (a, b are prices)."""
    return to_model_space(a, form, "leg A") - alpha - beta * to_model_space(b, form, "leg B")


def theoretical_a(b: float, alpha: float, beta: float, form: SpreadForm) -> float:
    """Leg A's fair price given leg B: alpha + beta B (log form: exp(alpha + beta log B))."""
    value = alpha + beta * to_model_space(b, form, "leg B")
    return math.exp(value) if form is SpreadForm.LOG else value


def theoretical_b(a: float, alpha: float, beta: float, form: SpreadForm) -> float:
    """Leg B's fair price given leg A: the relationship solved for B."""
    if beta == 0.0:
        raise ModelInputError("hedge ratio is zero: leg B has no theoretical price")
    value = (to_model_space(a, form, "leg A") - alpha) / beta
    return math.exp(value) if form is SpreadForm.LOG else value


def calibration_errors(
    a: float, b: float, alpha: float, beta: float, form: SpreadForm
) -> tuple[float, float]:
    """(market A - theoretical A, market B - theoretical B), in price units."""
    return a - theoretical_a(b, alpha, beta, form), b - theoretical_b(a, alpha, beta, form)


class SpreadStats:
    """Online mean/std of the spread and its z-score: rolling (window) or EWMA (halflife).

    `update(spread)` returns the z-score, NaN-free: 0.0 while fewer than two observations or a
    zero standard deviation make it undefined (check `ready`).
    """

    __slots__ = ("_moments", "z", "std", "ready")

    def __init__(self, window: int | None = None, halflife: float | None = None) -> None:
        if (window is None) == (halflife is None):
            raise ModelInputError("give exactly one of window (rolling) or halflife (EWMA)")
        self._moments = (
            RollingMoments(window) if window is not None else EwmMoments.from_halflife(halflife)
        )
        self.z = 0.0
        self.std = 0.0
        """Standard deviation (0.0 while undefined), derived once per `update`."""
        self.ready = False
        """At least two observations and a positive variance, derived once per `update`."""

    @property
    def mean(self) -> float:
        return self._moments.mean_x

    def update(self, spread: float) -> float:
        moments = self._moments
        moments.update(spread, spread)
        variance = moments.var_x
        if variance > 0.0:
            std = self.std = _libm.sqrt(variance)  # variance > 0
            self.ready = moments.count > 1
        else:
            std = self.std = 0.0
            self.ready = False
        self.z = (spread - moments.mean_x) / std if self.ready else 0.0
        return self.z


class ZScoreSeries(NamedTuple):
    mean: np.ndarray
    std: np.ndarray
    z: np.ndarray


def zscore_batch(
    spread: np.ndarray, window: int | None = None, halflife: float | None = None
) -> ZScoreSeries:
    """Batch form of SpreadStats: mean, std and z after each observation (z = 0 when undefined)."""
    spread = np.asarray(spread, dtype=np.float64)
    if (window is None) == (halflife is None):
        raise ModelInputError("give exactly one of window (rolling) or halflife (EWMA)")
    if window is not None:
        moments = rolling_moments(spread, spread, window)
    else:
        moments = ewm_moments(spread, spread, ewm_alpha(halflife))
    variance = np.nan_to_num(moments.var_x, nan=0.0)
    std = np.sqrt(np.where(variance > 0.0, variance, 0.0))
    with np.errstate(invalid="ignore", divide="ignore"):
        z = np.where(std > 0.0, (spread - moments.mean_x) / np.where(std > 0, std, 1.0), 0.0)
    return ZScoreSeries(moments.mean_x, std, z)
