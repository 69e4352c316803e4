"""A fitted surface (SurfaceFit) and the static-arbitrage checks of a fitted implied total-variance surface w(k, T), k = ln(K/F)
(Gatheral and Jacquier 2014): no butterfly arbitrage in a slice when Durrleman's

    g(k) = (1 - k w'/(2w))^2 - w'^2/4 (1/w + 1/4) + w''/2

is non-negative and w > 0; no calendar arbitrage when w(k, T) does not decrease in T at every k.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

TOLERANCE = 1e-10


def durrleman_g(k, w, w1, w2):
    """The butterfly density condition g(k) from w and its first two derivatives in k."""
    return (1.0 - k * w1 / (2.0 * w)) ** 2 - 0.25 * w1 * w1 * (1.0 / w + 0.25) + 0.5 * w2


def check_grid(k_data: np.ndarray) -> np.ndarray:
    """The log-moneyness grid the checks run on: the data's range and one unit beyond."""
    return np.linspace(np.min(k_data) - 1.0, np.max(k_data) + 1.0, 401)


def arbitrage_report(
    slices: list[tuple[np.ndarray, np.ndarray, np.ndarray]], k: np.ndarray
) -> dict:
    """`slices`: (w, w', w'') on grid `k` for each expiry, in increasing expiry order.
    Returns the worst butterfly g, the worst calendar decrease and `arbitrage_free`."""
    worst_g = np.inf
    worst_calendar = 0.0
    previous = None
    for w, w1, w2 in slices:
        if np.any(w <= 0.0):
            worst_g = -np.inf
            break
        worst_g = min(worst_g, float(np.min(durrleman_g(k, w, w1, w2))))
        if previous is not None:
            worst_calendar = min(worst_calendar, float(np.min(w - previous)))
        previous = w
    return {
        "min_durrleman_g": worst_g,
        "min_calendar_increase": worst_calendar,
        "arbitrage_free": bool(worst_g >= -TOLERANCE and worst_calendar >= -TOLERANCE),
    }


@dataclass(frozen=True)
class SurfaceFit:
    """A fitted surface: parameters, errors in vol points, the arbitrage check."""

    model: str
    parameters: dict
    residuals_vol_points: np.ndarray
    arbitrage: dict

    @property
    def sse_vol_points(self) -> float:
        return float(np.sum(self.residuals_vol_points**2))

    @property
    def rmse_vol_points(self) -> float:
        return float(np.sqrt(np.mean(self.residuals_vol_points**2)))

    def to_dict(self) -> dict:
        return {
            "model": self.model,
            "quotes": int(self.residuals_vol_points.size),
            "sse_vol_points": self.sse_vol_points,
            "rmse_vol_points": self.rmse_vol_points,
            "arbitrage_free": self.arbitrage["arbitrage_free"],
            "arbitrage_check": {k: v for k, v in self.arbitrage.items() if k != "arbitrage_free"},
            "parameters": self.parameters,
        }
