"""SSVI across expiries (Gatheral and Jacquier 2014) with the power-law phi:

    w(k, theta_t) = theta_t / 2 (1 + rho phi k + sqrt((phi k + rho)^2 + 1 - rho^2)),
    phi(theta) = eta / (theta^gamma (1 + theta)^(1 - gamma)),

theta_t the at-the-money total variance of expiry t. It is free of static arbitrage when
theta_t is non-decreasing in t, 0 < gamma <= 1/2 and eta (1 + |rho|) <= 2 (their Remark 4.4 on
Theorems 4.1 and 4.2); the fit holds eta = 2 f / (1 + |rho|), 0 <= f <= 1, and gamma within its
range by bounds and keeps theta non-decreasing by a penalty and a final running maximum, and the
result is still checked numerically (surface.arbitrage_report). The Jacobian is analytic and sparse (a
quote depends on the three global parameters and its own theta), which keeps a 50-expiry, 10,000-quote fit well under a second.
"""

from __future__ import annotations

import numpy as np
from scipy.optimize import least_squares
from scipy.sparse import coo_matrix
from threadpoolctl import threadpool_limits

from calarb.options.surface import SurfaceFit, arbitrage_report, check_grid

_PENALTY = 1e4


def ssvi_total_variance(k, theta, rho, eta, gamma):
    """w, w', w'' (derivatives in k) of SSVI at log-moneyness k and ATM total variance theta."""
    phi = eta / (theta**gamma * (1.0 + theta) ** (1.0 - gamma))
    y = phi * k + rho
    root = np.sqrt(y * y + 1.0 - rho * rho)
    w = 0.5 * theta * (1.0 + rho * phi * k + root)
    w1 = 0.5 * theta * phi * (rho + y / root)
    w2 = 0.5 * theta * phi * phi * (1.0 - rho * rho) / root**3
    return w, w1, w2


def _eta(rho, fraction):
    return 2.0 * fraction / (1.0 + abs(rho))


def _atm_total_variance(k, vol, time, expiries, index):
    theta = np.empty(expiries.size)
    for i, t in enumerate(expiries):
        at = index == i
        order = np.argsort(k[at])
        theta[i] = np.interp(0.0, k[at][order], vol[at][order] ** 2) * t
    return np.maximum.accumulate(np.maximum(theta, 1e-8))


def fit_ssvi(k, time, vol, start: SurfaceFit | None = None) -> SurfaceFit:
    """Fit SSVI to implied vols at log-moneyness `k`; `start` (an earlier SSVI fit of the same
    expiries) warm-starts the refit."""
    k, time, vol = (np.asarray(v, float) for v in (k, time, vol))
    expiries, index = np.unique(time, return_inverse=True)
    n = expiries.size
    if start is not None:
        p = start.parameters
        x0 = np.concatenate(
            [[p["rho"], p["eta"] * (1 + abs(p["rho"])) / 2, p["gamma"]], p["theta"]]
        )
    else:
        x0 = np.concatenate([[-0.5, 0.5, 0.4], _atm_total_variance(k, vol, time, expiries, index)])
    lower = np.concatenate([[-0.999, 0.0, 0.01], np.full(n, 1e-8)])
    upper = np.concatenate([[0.999, 1.0, 0.5], np.full(n, 10.0)])

    def parts(x):
        rho, fraction, gamma = x[:3]
        theta = x[3:][index]
        phi = _eta(rho, fraction) / (theta**gamma * (1.0 + theta) ** (1.0 - gamma))
        y = phi * k + rho
        root = np.sqrt(y * y + 1.0 - rho * rho)
        w = np.maximum(0.5 * theta * (1.0 + rho * phi * k + root), 1e-16)
        return rho, fraction, gamma, theta, phi, y, root, w

    def residuals(x):
        w = parts(x)[-1]
        fit = 100.0 * (np.sqrt(w / time) - vol)
        return np.concatenate([fit, _PENALTY * np.minimum(np.diff(x[3:]), 0.0)])

    def jacobian(x):
        rho, fraction, gamma, theta, phi, y, root, w = parts(x)
        scale = 50.0 / np.sqrt(w * time)  # d(100 sqrt(w/T)) / dw
        dw_dphi = 0.5 * theta * k * (rho + y / root)
        sign = np.sign(rho)
        d_rho = scale * (
            0.5 * theta * (phi * k + phi * k / root) - dw_dphi * phi * sign / (1.0 + abs(rho))
        )
        d_fraction = scale * dw_dphi * phi / max(fraction, 1e-300)
        d_gamma = scale * dw_dphi * phi * (np.log1p(theta) - np.log(theta))
        dphi_dtheta = -phi * (gamma / theta + (1.0 - gamma) / (1.0 + theta))
        d_theta = scale * (w / theta + dw_dphi * dphi_dtheta)
        decreasing = _PENALTY * (np.diff(x[3:]) < 0.0)
        quotes = np.arange(k.size)
        penalty_rows = k.size + np.arange(n - 1)
        rows = np.concatenate([quotes, quotes, quotes, quotes, penalty_rows, penalty_rows])
        columns = np.concatenate(
            [
                np.zeros(k.size, int),
                np.ones(k.size, int),
                np.full(k.size, 2),
                3 + index,
                3 + np.arange(n - 1),
                4 + np.arange(n - 1),
            ]
        )
        values = np.concatenate([d_rho, d_fraction, d_gamma, d_theta, -decreasing, decreasing])
        return coo_matrix((values, (rows, columns)), shape=(k.size + n - 1, 3 + n)).tocsr()

    with threadpool_limits(1):  # the vectors are small: BLAS threads only contend for cores
        result = least_squares(
            residuals,
            np.clip(x0, lower, upper),
            jac=jacobian,
            bounds=(lower, upper),
            method="trf",
            x_scale="jac",
            tr_solver="lsmr",
        )
    rho, fraction, gamma = (float(v) for v in result.x[:3])
    theta = np.maximum.accumulate(result.x[3:])
    eta = _eta(rho, fraction)
    final = residuals(np.concatenate([result.x[:3], theta]))[: k.size]
    grid = check_grid(k)
    report = arbitrage_report(
        [ssvi_total_variance(grid, th, rho, eta, gamma) for th in theta], grid
    )
    parameters = {
        "rho": rho,
        "eta": eta,
        "gamma": gamma,
        "expiries": expiries.tolist(),
        "theta": theta.tolist(),
    }
    return SurfaceFit("ssvi", parameters, final, report)
