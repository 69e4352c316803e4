"""The Heston model: European prices by Lewis' single-integral formula over the "little trap"
characteristic function (Albrecher et al. 2007), and calibration to implied vols.

    dS/S = (r - q) dt + sqrt(v) dW1,  dv = kappa (theta - v) dt + sigma sqrt(v) dW2,
    d<W1, W2> = rho dt.

Price of a call on the forward F with discount D (Lewis 2001):

    C = D (F - sqrt(F K) / pi * integral_0^inf Re[exp(i u k) phi(u - i/2)] / (u^2 + 1/4) du),

k = ln(F/K), phi the characteristic function of ln(S_T / F). The integral is a Gauss-Legendre
rule on [0, U] with U where the integrand has decayed below 1e-16 (its Gaussian decay near the
origin and the exponential decay exp(-u (v0 + kappa theta T) sqrt(1 - rho^2) / sigma) further
out, whichever reaches further). One characteristic-function evaluation per node and maturity
serves all strikes of that maturity.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
from scipy.optimize import least_squares
from threadpoolctl import threadpool_limits

from calarb.options.black import black_greeks, black_price
from calarb.options.implied import implied_vol

_NODES, _WEIGHTS = np.polynomial.legendre.leggauss(256)
_LOG_TOLERANCE = 37.0  # exp(-37) ~ 1e-16


@dataclass(frozen=True)
class HestonParams:
    v0: float
    kappa: float
    theta: float
    sigma: float
    rho: float

    def as_array(self) -> np.ndarray:
        return np.array([self.v0, self.kappa, self.theta, self.sigma, self.rho])


def characteristic_function(u, time, p: HestonParams):
    """E[exp(i u ln(S_T / F))] for complex u (the little-trap form, continuous in u)."""
    iu = 1j * u
    beta = p.kappa - p.rho * p.sigma * iu
    d = np.sqrt(beta * beta + p.sigma**2 * (iu + u * u))
    g = (beta - d) / (beta + d)
    e = np.exp(-d * time)
    c = (
        p.kappa
        * p.theta
        / p.sigma**2
        * ((beta - d) * time - 2.0 * np.log((1.0 - g * e) / (1.0 - g)))
    )
    dd = (beta - d) / p.sigma**2 * (1.0 - e) / (1.0 - g * e)
    return np.exp(c + dd * p.v0)


def _upper_limit(time: float, p: HestonParams) -> float:
    mean_variance = p.theta * time + (p.v0 - p.theta) * (1.0 - np.exp(-p.kappa * time)) / p.kappa
    gaussian = np.sqrt(2.0 * _LOG_TOLERANCE / max(mean_variance, 1e-12))
    rate = (p.v0 + p.kappa * p.theta * time) * np.sqrt(max(1.0 - p.rho**2, 1e-12)) / p.sigma
    exponential = _LOG_TOLERANCE / max(rate, 1e-12)
    return float(min(max(gaussian, exponential), 5000.0))


def heston_price(forward, strike, time, discount, is_call, params: HestonParams) -> np.ndarray:
    """Prices of European options (arrays broadcast together); one quadrature per maturity."""
    forward, strike, time, discount, is_call = np.broadcast_arrays(
        np.asarray(forward, float),
        np.asarray(strike, float),
        np.asarray(time, float),
        np.asarray(discount, float),
        np.asarray(is_call, bool),
    )
    out = np.empty(forward.shape)
    for t in np.unique(time):
        at = time == t
        upper = _upper_limit(float(t), params)
        u = 0.5 * upper * (_NODES + 1.0)
        w = 0.5 * upper * _WEIGHTS
        phi = characteristic_function(u - 0.5j, float(t), params)
        k = np.log(forward[at] / strike[at])
        integrand = np.real(np.exp(1j * np.outer(k, u)) * phi) / (u * u + 0.25)
        integral = integrand @ w
        call = discount[at] * (forward[at] - np.sqrt(forward[at] * strike[at]) / np.pi * integral)
        put = call - discount[at] * (forward[at] - strike[at])
        out[at] = np.where(is_call[at], call, put)
    return out


@dataclass(frozen=True)
class HestonFit:
    params: HestonParams
    residuals_vol_points: np.ndarray  # model implied vol - market vol, x 100
    iterations: int

    @property
    def sse_vol_points(self) -> float:
        return float(np.sum(self.residuals_vol_points**2))

    def to_dict(self) -> dict:
        return {"model": "heston", "parameters": asdict(self.params)}


_LOWER = np.array([1e-4, 1e-3, 1e-4, 1e-3, -0.999])
_UPPER = np.array([4.0, 50.0, 4.0, 5.0, 0.999])
DEFAULT_START = HestonParams(v0=0.1, kappa=1.0, theta=0.1, sigma=0.5, rho=0.0)


def calibrate_heston(
    strike, time, market_vol, forward, discount, start: HestonParams = DEFAULT_START
) -> HestonFit:
    """Least squares on implied-vol errors (model implied vol minus market vol) of out-of-the-money
    options (calls at and above the forward, puts below). `start` warm-starts a refit."""
    strike, time, market_vol, forward, discount = np.broadcast_arrays(
        *(np.asarray(v, float) for v in (strike, time, market_vol, forward, discount))
    )
    is_call = strike >= forward
    vega = black_greeks(forward, strike, time, market_vol, discount, is_call)["vega"]
    market_price = black_price(forward, strike, time, market_vol, discount, is_call)

    def residuals(x: np.ndarray) -> np.ndarray:
        params = HestonParams(*x)
        price = heston_price(forward, strike, time, discount, is_call, params)
        vol = implied_vol(price, forward, strike, time, discount, is_call)
        fallback = (price - market_price) / vega  # outside the no-arbitrage bounds: vega-scaled
        return np.where(np.isfinite(vol), vol - market_vol, fallback)

    x0 = np.clip(start.as_array(), _LOWER, _UPPER)
    with threadpool_limits(1):  # small problem: BLAS threads only contend for cores
        result = least_squares(
            residuals,
            x0,
            bounds=(_LOWER, _UPPER),
            method="trf",
            x_scale="jac",
            xtol=1e-10,
            ftol=1e-12,
            gtol=1e-10,
            max_nfev=2000,
        )
    return HestonFit(HestonParams(*result.x), 100.0 * residuals(result.x), int(result.nfev))
