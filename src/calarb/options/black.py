"""Black-76 (on the forward) and Black-Scholes (on the spot) prices and greeks, over arrays.

Black-76 is the one formula: a Black-Scholes option is a Black-76 option on the forward
F = S exp((r - q) T) discounted with D = exp(-r T). Arguments broadcast (NumPy); `is_call` is a
boolean (array). Volatility and time are in years; greeks are per unit of the input (vega per
1.00 of volatility, theta per year).
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit
from scipy.special import ndtr

from calarb.options.implied import normalised_black

SQRT_2PI = np.sqrt(2.0 * np.pi)


def _d1_d2(forward, strike, time, sigma):
    s = sigma * np.sqrt(time)
    d1 = np.log(forward / strike) / s + 0.5 * s
    return d1, d1 - s


def _pdf(x):
    return np.exp(-0.5 * x * x) / SQRT_2PI


@njit(cache=True, error_model="numpy")
def _black_prices(forward, strike, time, sigma, discount, is_call, out):
    for i in range(forward.shape[0]):
        f = forward[i]
        k = strike[i]
        intrinsic = max(f - k, 0.0) if is_call[i] else max(k - f, 0.0)
        s = sigma[i] * math.sqrt(time[i]) if time[i] > 0.0 else 0.0
        otm = normalised_black(-abs(math.log(f / k)), s) if s > 0.0 else 0.0
        out[i] = discount[i] * (math.sqrt(f * k) * otm + intrinsic)


def black_price(forward, strike, time, sigma, discount=1.0, is_call=True):
    """Black-76 price D * (w F N(w d1) - w K N(w d2)), w = +1 call, -1 put, evaluated as
    intrinsic value plus the out-of-the-money value sqrt(F K) b(x, s) of implied.normalised_black
    (accurate to about 1e-13 relative even far out of the money)."""
    arrays = np.broadcast_arrays(
        *(np.asarray(v, dtype=float) for v in (forward, strike, time, sigma, discount)),
        np.asarray(is_call, dtype=bool),
    )
    flat = [np.ascontiguousarray(a).ravel() for a in arrays]
    out = np.empty(flat[0].shape[0])
    _black_prices(*flat, out)
    return out.reshape(arrays[0].shape)


def black_greeks(forward, strike, time, sigma, discount=1.0, is_call=True) -> dict:
    """Sensitivities of the Black-76 price: delta and gamma to the forward, vega to sigma,
    theta to calendar time with D and F held fixed (the pure decay of optionality). At no
    optionality left (time or sigma 0) they take their limits: delta the intrinsic value's
    (half at the money), gamma, vega and theta 0."""
    forward, strike, time, sigma = (
        np.asarray(v, dtype=float) for v in (forward, strike, time, sigma)
    )
    w = np.where(is_call, 1.0, -1.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        d1, _ = _d1_d2(forward, strike, time, sigma)
        sqrt_t = np.sqrt(time)
        pdf1 = _pdf(d1)
        greeks = {
            "delta": discount * w * ndtr(w * d1),
            "gamma": discount * pdf1 / (forward * sigma * sqrt_t),
            "vega": discount * forward * pdf1 * sqrt_t,
            "theta": -discount * forward * pdf1 * sigma / (2.0 * sqrt_t),
        }
    spent = (sigma * sqrt_t) <= 0.0
    if np.any(spent):
        moneyness = np.sign(w * (forward - strike))  # 1 in, 0 at, -1 out of the money
        intrinsic = discount * w * (moneyness + 1.0) / 2.0
        greeks["delta"] = np.where(spent, intrinsic, greeks["delta"])
        for name in ("gamma", "vega", "theta"):
            greeks[name] = np.where(spent, 0.0, greeks[name])
    return greeks


def black_scholes_price(spot, strike, time, sigma, rate=0.0, dividend_yield=0.0, is_call=True):
    """Black-Scholes price with continuous rate and dividend yield."""
    time = np.asarray(time, dtype=float)
    forward = np.asarray(spot, dtype=float) * np.exp((rate - dividend_yield) * time)
    return black_price(forward, strike, time, sigma, np.exp(-rate * time), is_call)


def black_scholes_greeks(
    spot, strike, time, sigma, rate=0.0, dividend_yield=0.0, is_call=True
) -> dict:
    """Delta, gamma (to the spot), vega, theta (per year, calendar time) and rho (to the rate)."""
    spot, strike, time, sigma = (np.asarray(v, dtype=float) for v in (spot, strike, time, sigma))
    w = np.where(is_call, 1.0, -1.0)
    carry = np.exp(-dividend_yield * time)
    discount = np.exp(-rate * time)
    forward = spot * np.exp((rate - dividend_yield) * time)
    d1, d2 = _d1_d2(forward, strike, time, sigma)
    sqrt_t = np.sqrt(time)
    pdf1 = _pdf(d1)
    n1, n2 = ndtr(w * d1), ndtr(w * d2)
    return {
        "delta": w * carry * n1,
        "gamma": carry * pdf1 / (spot * sigma * sqrt_t),
        "vega": spot * carry * pdf1 * sqrt_t,
        "theta": (
            -spot * carry * pdf1 * sigma / (2.0 * sqrt_t)
            + w * (dividend_yield * spot * carry * n1 - rate * strike * discount * n2)
        ),
        "rho": w * strike * time * discount * n2,
    }
