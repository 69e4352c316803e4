"""Value at risk of current positions, from a history of returns (NumPy).

Positions are valued at their marks: exposure_i = shares_i * mark_i, money in 1/10,000
currency units. With a matrix of simple returns R (T periods x N symbols, columns in the
order of `symbols`), the scenario P&L is ``R @ exposure``.

* historical VaR: minus the (1 - confidence) empirical quantile of the scenario P&L (linear
  interpolation between order statistics);
* expected shortfall: minus the mean of the scenario P&L at or below that quantile;
* parametric (variance-covariance, normal) VaR: ``z * sqrt(e' S e) - mean(R) @ e`` with S the
  sample covariance of R (ddof=1) and z the normal quantile at `confidence`.

Every figure is scaled to `horizon_periods` by sqrt(horizon) (and the mean by horizon) and
returned as a positive loss, rounded half to even to an integer money unit. Floats only live
inside this computation.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from math import sqrt
from statistics import NormalDist
from typing import NamedTuple

import numpy as np


class VarReport(NamedTuple):
    confidence: float
    horizon_periods: int
    exposure: int  # gross exposure of the positions valued (money units)
    historical_var: int
    expected_shortfall: int
    parametric_var: int
    observations: int


def simple_returns(prices: np.ndarray) -> np.ndarray:
    """Period returns from a (T+1) x N price matrix (integers or floats), T x N."""
    prices = np.asarray(prices, dtype=np.float64)
    if prices.ndim != 2 or prices.shape[0] < 2:
        raise ValueError(f"need a (periods x symbols) price matrix, got shape {prices.shape}")
    if np.any(prices <= 0):
        row, column = np.argwhere(prices <= 0)[0]
        raise ValueError(f"price at row {row}, column {column} is not positive")
    return prices[1:] / prices[:-1] - 1.0


def exposure_vector(
    symbols: Sequence[str], positions: Mapping[str, int], marks: Mapping[str, int]
) -> np.ndarray:
    """Money exposure per symbol in `symbols` order; a held symbol without a mark is an
    error (it cannot be valued)."""
    values = np.zeros(len(symbols), dtype=np.float64)
    for index, symbol in enumerate(symbols):
        shares = positions.get(symbol, 0)
        if shares:
            mark = marks.get(symbol, 0)
            if mark <= 0:
                raise ValueError(f"position in {symbol} has no mark price to value it")
            values[index] = shares * mark
    unknown = {s for s, q in positions.items() if q} - set(symbols)
    if unknown:
        raise ValueError(f"no return history for held symbols {sorted(unknown)}")
    return values


def value_at_risk(
    returns: np.ndarray,
    exposure: np.ndarray,
    confidence: float = 0.99,
    horizon_periods: int = 1,
) -> VarReport:
    returns = np.asarray(returns, dtype=np.float64)
    if returns.ndim != 2 or returns.shape[1] != exposure.shape[0]:
        raise ValueError(
            f"returns shape {returns.shape} does not match {exposure.shape[0]} exposures"
        )
    if returns.shape[0] < 2:
        raise ValueError("need at least 2 return observations")
    if not 0.5 < confidence < 1.0:
        raise ValueError(f"confidence {confidence} must be in (0.5, 1)")
    if not np.all(np.isfinite(returns)):
        row = int(np.argwhere(~np.isfinite(returns))[0][0])
        raise ValueError(f"return history has a non-finite value at row {row}")
    scale = sqrt(horizon_periods)
    pnl = returns @ exposure
    cutoff = np.quantile(pnl, 1.0 - confidence)
    tail = pnl[pnl <= cutoff]
    expected_shortfall = -tail.mean() if tail.size else -cutoff
    covariance = np.atleast_2d(np.cov(returns, rowvar=False, ddof=1))
    sigma = sqrt(max(float(exposure @ covariance @ exposure), 0.0))
    mean = float(returns.mean(axis=0) @ exposure)
    z = NormalDist().inv_cdf(confidence)
    parametric = z * sigma * scale - mean * horizon_periods
    return VarReport(
        confidence,
        horizon_periods,
        int(round(float(np.abs(exposure).sum()))),
        int(round(float(-cutoff) * scale)),
        int(round(float(expected_shortfall) * scale)),
        int(round(parametric)),
        int(returns.shape[0]),
    )


def portfolio_var(
    symbols: Sequence[str],
    returns: np.ndarray,
    positions: Mapping[str, int],
    marks: Mapping[str, int],
    confidence: float = 0.99,
    horizon_periods: int = 1,
) -> VarReport:
    """VaR of `positions` (symbol -> shares) at `marks` (symbol -> price units)."""
    return value_at_risk(
        returns, exposure_vector(symbols, positions, marks), confidence, horizon_periods
    )
