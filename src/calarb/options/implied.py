"""Black implied volatility over arrays of quotes, to machine precision.

The method follows the structure of Jaeckel's "Let's Be Rational" (Wilmott 2015); the code is
ours. Prices are normalised by D * sqrt(F K) so that only x = ln(F/K) and the total standard
deviation s = sigma sqrt(T) remain; in-the-money quotes become the out-of-the-money option of
the other type by parity, so the problem is always b(x, s) = beta with x <= 0 and

    b(x, s) = exp(x/2) N(x/s + s/2) - exp(-x/2) N(x/s - s/2),   0 < beta < exp(x/2).

b is increasing in s with an inflection at s_c = sqrt(2|x|). Below b(x, s_c) the solver works on
ln b (nearly linear in 1/s there); above it on ln(b_max - b), where b_max - b is a sum of two
positive terms and so is accurate even when beta is close to its upper bound. Each region
starts from a tabulated guess (bicubic, about 1e-6 relative) and takes third-order Householder
steps (they need the first three derivatives of b in s, closed forms) inside a bracket until
the step is below 1e-5 relative, after which the cubic convergence has left an error below the
resolution of a double: one step for almost every quote.
"""

from __future__ import annotations

import functools
import math

import numpy as np
from numba import njit
from scipy.special import ndtr

_INV_SQRT2 = 1.0 / math.sqrt(2.0)
_INV_SQRT_2PI = 1.0 / math.sqrt(2.0 * math.pi)
_SQRT_2PI = math.sqrt(2.0 * math.pi)
_SERIES_TERMS = 25
_SERIES_MAX_T = 0.25
_SERIES_MAX_ABS_H = 14.0
_SERIES_MAX_ABS_X = 1.0
_SERIES_MIN_RATIO = 50.0  # below |h|/t = 50 the direct formula loses under two digits
_STEP_TOLERANCE = 1e-5
_MAX_STEPS = 24
_INTRINSIC_ROUNDING = 1e-14


@njit(cache=True, inline="always", error_model="numpy")
def _ncdf(z):
    return 0.5 * math.erfc(-z * _INV_SQRT2)


@njit(cache=True, inline="always", error_model="numpy")
def _householder(f, f1, f2, f3):
    """Third-order Householder step for f(s) = 0 given its first three derivatives."""
    nu = -f / f1
    h2 = f2 / f1
    h3 = f3 / f1
    return nu * (1.0 + 0.5 * h2 * nu) / (1.0 + nu * (h2 + h3 * nu / 6.0))


@njit(cache=True, error_model="numpy")
def normalised_black(x, s):
    """b(x, s) = exp(x/2) N(x/s + s/2) - exp(-x/2) N(x/s - s/2) for x <= 0: the out-of-the-money
    Black price divided by D sqrt(F K).

    Where t = s/2 is small against |h| = |x/s| the two terms nearly cancel, so there b is summed
    as its Taylor series in t at fixed h: with u(t) = exp(h t) N(h + t), b = u(t) - u(-t) and
    u' = h u + phi(h) exp(-t^2/2), so U_k = u^(k)(0) / phi(h) obeys U_0 = N(h)/phi(h),
    U_k = h U_(k-1) + m_(k-1) (m_j the j-th derivative of exp(-t^2/2) at 0) and
    b = 2 phi(h) sum over odd k of U_k t^k / k!. N(h)/phi(h) comes from its continued fraction
    in the tail, where erfc(.) exp(h^2/2) would lose digits."""
    if not (s > 0.0):
        return 0.0
    h = x / s
    t = 0.5 * s
    if (
        t > _SERIES_MAX_T
        or h < -_SERIES_MAX_ABS_H
        or x < -_SERIES_MAX_ABS_X
        or -h < _SERIES_MIN_RATIO * t
    ):
        return math.exp(0.5 * x) * _ncdf(h + t) - math.exp(-0.5 * x) * _ncdf(h - t)
    if h > -5.0:
        mills = 0.5 * math.erfc(-h * _INV_SQRT2) * math.exp(0.5 * h * h) * _SQRT_2PI
    else:  # N(h)/phi(h) = 1/(a + 1/(a + 2/(a + 3/(a + ...)))), a = -h, summed from the tail
        a = -h
        mills = a
        for n in range(int(12.0 + 480.0 / (a * a)), 0, -1):
            mills = a + n / mills
        mills = 1.0 / mills
    u = mills
    moment = 1.0  # m_(k-1): 1, 0, -1, 0, 3, 0, -15, ...
    total = 0.0
    term_scale = 1.0  # t^k / k!
    for k in range(1, _SERIES_TERMS + 1):
        u = h * u + (moment if k % 2 == 1 else 0.0)
        term_scale *= t / k
        if k % 2 == 1:
            moment *= -k
            term = u * term_scale
            total += term
            if abs(term) <= 1e-17 * abs(total):
                break
    return 2.0 * math.exp(-0.5 * h * h) * _INV_SQRT_2PI * total


# The starting point: ln s tabulated over (ln|x|, ln(-ln(beta / b_max))), interpolated bicubically.
# Both coordinates make ln s smooth and nearly linear (ln s ~ ln|x| - c/2 for small beta, ln s
# depends on c alone as x -> 0), so the guess is good to about 1e-6 and one Householder step
# usually finishes.
_A_LO, _A_HI, _A_STEP = -14.0, 4.0, 0.1
_C_LO, _C_HI, _C_STEP = -8.0, 7.0, 0.05


@functools.cache
def guess_table() -> np.ndarray:
    """ln s on the (a, c) grid, built once from forward evaluations of b (no root finding)."""
    a_grid = np.arange(_A_LO, _A_HI + _A_STEP / 2, _A_STEP)
    c_grid = np.arange(_C_LO, _C_HI + _C_STEP / 2, _C_STEP)
    table = np.empty((a_grid.size, c_grid.size))
    for i, a in enumerate(a_grid):
        x = -np.exp(a)
        log_s = np.linspace(a - 4.5, np.log(60.0), 6000)
        s = np.exp(log_s)
        h, t = x / s, 0.5 * s
        b_over_max = ndtr(h + t) - np.exp(-x) * ndtr(h - t)
        with np.errstate(divide="ignore", invalid="ignore"):
            c = np.log(-np.log(b_over_max))
        ok = np.isfinite(c)
        table[i] = np.interp(c_grid, c[ok][::-1], log_s[ok][::-1])  # c falls as s rises
    return table


@njit(cache=True, inline="always", error_model="numpy")
def _cubic_weights(u):
    """Catmull-Rom weights of the four nodes around a point at fraction u of its cell."""
    u2 = u * u
    u3 = u2 * u
    return (
        0.5 * (-u3 + 2.0 * u2 - u),
        0.5 * (3.0 * u3 - 5.0 * u2 + 2.0),
        0.5 * (-3.0 * u3 + 4.0 * u2 + u),
        0.5 * (u3 - u2),
    )


@njit(cache=True, inline="always", error_model="numpy")
def _guess(log_beta, x, table):
    a = (min(max(math.log(-x), _A_LO), _A_HI) - _A_LO) / _A_STEP
    c = (min(max(math.log(-(log_beta - 0.5 * x)), _C_LO), _C_HI) - _C_LO) / _C_STEP
    i = min(max(int(a), 1), table.shape[0] - 3)
    j = min(max(int(c), 1), table.shape[1] - 3)
    wa = _cubic_weights(a - i)
    wc = _cubic_weights(c - j)
    total = 0.0
    for p in range(4):
        row = wc[0] * table[i - 1 + p, j - 1] + wc[1] * table[i - 1 + p, j]
        row += wc[2] * table[i - 1 + p, j + 1] + wc[3] * table[i - 1 + p, j + 2]
        total += wa[p] * row
    return math.exp(total)


@njit(cache=True, error_model="numpy")
def normalised_otm_vol(beta, x, table):
    """The s > 0 with b(x, s) = beta, for x <= 0 (NaN outside 0 < beta < exp(x/2));
    `table` is guess_table()."""
    return _solve(beta, x, table)[0]


@njit(cache=True, error_model="numpy")
def _solve(beta, x, table):
    """(s, Householder steps taken) for normalised_otm_vol."""
    e_plus = math.exp(0.5 * x)
    e_minus = 1.0 / e_plus
    if not (beta > 0.0) or not (beta < e_plus):
        return (0.0 if beta == 0.0 else np.nan), 0
    log_beta = math.log(beta)
    s = _guess(log_beta, min(x, -1e-300), table)
    lower = s * s < -2.0 * x  # below the inflection point s_c = sqrt(2|x|)
    log_target = log_beta if lower else math.log(e_plus - beta)
    lo = 0.0
    hi = np.inf
    steps = 0
    while steps < _MAX_STEPS:
        steps += 1
        h = x / s
        t = 0.5 * s
        b1 = math.exp(-0.5 * (h * h + t * t)) * _INV_SQRT_2PI  # db/ds
        a = (h * h - t * t) / s  # (d2b/ds2) / (db/ds)
        a3 = a * a - 3.0 * h * h / (s * s) - 0.25  # (d3b/ds3) / (db/ds)
        if lower:  # f = ln b - ln beta, increasing in s
            v = normalised_black(x, s)
            r = b1 / v
            too_low = v < beta
        else:  # f = ln(b_max - b) - ln(b_max - beta), decreasing in s
            v = e_plus * _ncdf(-(h + t)) + e_minus * _ncdf(h - t)
            r = -b1 / v
            too_low = v > e_plus - beta
        f = math.log(v) - log_target
        if f == 0.0:
            break
        if too_low:
            lo = s
        else:
            hi = s
        nu = -f / r
        step = _householder(f, r, r * a - r * r, r * a3 - 3.0 * r * r * a + 2.0 * r * r * r)
        if abs(nu) <= _STEP_TOLERANCE * s and abs(step) <= _STEP_TOLERANCE * s:
            s += step  # converged (the bracket ends may be rounded)
            break
        s_next = s + step
        if not (s_next > lo and s_next < hi):  # also catches a NaN step
            s_next = 2.0 * s
            if hi < np.inf:
                s_next = math.sqrt(lo * hi) if lo > 0.0 else 0.5 * hi
        s = s_next
    return s, steps


@njit(cache=True, error_model="numpy")
def _implied_vols(price, forward, strike, time, discount, is_call, table, out):
    for i in range(price.shape[0]):
        f = forward[i]
        k = strike[i]
        t = time[i]
        if not (t > 0.0 and f > 0.0 and k > 0.0 and discount[i] > 0.0):
            out[i] = np.nan
            continue
        x = math.log(f / k)
        root_fk = math.sqrt(f * k)
        p = price[i] / (discount[i] * root_fk)
        theta = 1.0 if is_call[i] else -1.0
        beta = p
        if theta * x > 0.0:  # in the money: the other type's out-of-the-money value
            beta = p - abs(f - k) / root_fk
            if beta <= 0.0 and beta >= -_INTRINSIC_ROUNDING * p:
                out[i] = 0.0  # the price is its intrinsic value up to rounding
                continue
        out[i] = normalised_otm_vol(beta, -abs(x), table) / math.sqrt(t)


def implied_vol(price, forward, strike, time, discount=1.0, is_call=True) -> np.ndarray:
    """Black-76 implied volatility of each quote (NaN where the price is outside its no-arbitrage
    bounds or an input is not positive). Arguments broadcast; returns a float array."""
    arrays = np.broadcast_arrays(
        *(np.asarray(v, dtype=float) for v in (price, forward, strike, time, discount)),
        np.asarray(is_call, dtype=bool),
    )
    shape = arrays[0].shape
    flat = [np.ascontiguousarray(a).ravel() for a in arrays]
    out = np.empty(flat[0].shape[0])
    _implied_vols(*flat, guess_table(), out)
    return out.reshape(shape)
