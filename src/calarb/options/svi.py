"""Raw SVI per expiry (Gatheral 2004), fitted slice by slice from the shortest expiry with the
Gatheral-Jacquier no-arbitrage conditions as penalties: Durrleman's g >= 0 on a grid (no
butterfly), w above the previous slice (no calendar), b (1 + |rho|) <= 2 (Lee's wing bound).

    w(k) = a + b (rho (k - m) + sqrt((k - m)^2 + sigma^2)),   k = ln(K/F), w = vol^2 T.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
from scipy.optimize import least_squares
from threadpoolctl import threadpool_limits

from calarb.options.surface import SurfaceFit, arbitrage_report, check_grid, durrleman_g

_PENALTY = 1e4
_MARGIN = 1e-6  # penalties bite slightly inside the bounds, so the optimum lands within them
_LOWER = np.array([-1.0, 1e-6, -0.999, -2.0, 1e-4])
_UPPER = np.array([4.0, 2.0, 0.999, 2.0, 4.0])


@dataclass(frozen=True)
class SviSlice:
    a: float
    b: float
    rho: float
    m: float
    sigma: float

    def total_variance(self, k):
        """w, w', w'' at log-moneyness k."""
        d = np.asarray(k) - self.m
        root = np.sqrt(d * d + self.sigma**2)
        w = self.a + self.b * (self.rho * d + root)
        w1 = self.b * (self.rho + d / root)
        w2 = self.b * self.sigma**2 / root**3
        return w, w1, w2


def _fit_slice(k, vol, time, start: np.ndarray, previous: SviSlice | None, grid) -> SviSlice:
    floor = previous.total_variance(grid)[0] if previous is not None else None

    def residuals(x):
        s = SviSlice(*x)
        w = s.total_variance(k)[0]
        fit = 100.0 * (np.sqrt(np.maximum(w, 1e-12) / time) - vol)
        wg, w1, w2 = s.total_variance(grid)
        g = durrleman_g(grid, np.maximum(wg, 1e-12), w1, w2)
        penalties = [
            np.minimum(g - _MARGIN, 0.0),
            np.minimum(wg - _MARGIN, 0.0),
            [min(0.0, 2.0 - _MARGIN - s.b * (1 + abs(s.rho)))],
        ]
        if floor is not None:
            penalties.append(np.minimum(wg - floor - _MARGIN, 0.0))
        return np.concatenate([fit, _PENALTY * np.concatenate(penalties)])

    with threadpool_limits(1):  # small problems: BLAS threads only contend for cores
        result = least_squares(residuals, np.clip(start, _LOWER, _UPPER), bounds=(_LOWER, _UPPER))
    return SviSlice(*result.x)


def fit_svi(k, time, vol, start: SurfaceFit | None = None) -> SurfaceFit:
    """Fit one SVI slice per distinct `time` to implied vols at log-moneyness `k`. `start`
    (an earlier SVI fit of the same expiries) warm-starts the refit."""
    k, time, vol = (np.asarray(v, float) for v in (k, time, vol))
    expiries = np.unique(time)
    grid = check_grid(k)
    slices: list[SviSlice] = []
    residuals = np.empty_like(vol)
    for i, t in enumerate(expiries):
        at = time == t
        if start is not None:
            x0 = np.array(list(start.parameters["slices"][i].values()))
        else:
            order = np.argsort(k[at])
            atm = float(np.interp(0.0, k[at][order], vol[at][order] ** 2 * t))
            x0 = np.array([0.5 * atm, 0.1, -0.3, 0.0, 0.1])
        s = _fit_slice(k[at], vol[at], t, x0, slices[-1] if slices else None, grid)
        slices.append(s)
        residuals[at] = 100.0 * (np.sqrt(np.maximum(s.total_variance(k[at])[0], 0.0) / t) - vol[at])
    report = arbitrage_report([s.total_variance(grid) for s in slices], grid)
    parameters = {"expiries": expiries.tolist(), "slices": [asdict(s) for s in slices]}
    return SurfaceFit("svi", parameters, residuals, report)
