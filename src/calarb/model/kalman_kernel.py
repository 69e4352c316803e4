"""The Kalman hedge filter over whole arrays, compiled by Numba (the batch form of
`calarb.model.hedge.KalmanHedge`).

Kept out of `hedge.py`, which Cython compiles: Numba compiles Python functions from their
bytecode, which a Cython-compiled function does not have.
"""

from __future__ import annotations

import numpy as np
from numba import njit


@njit(cache=True)
def kalman_loop(x, y, q, r, beta, alpha, p_bb, p_ba, p_aa):  # pragma: no cover - numba
    """KalmanHedge.update over arrays: (betas, alphas, innovations, innovation variances)."""
    n = x.shape[0]
    betas = np.empty(n)
    alphas = np.empty(n)
    innovations = np.empty(n)
    variances = np.empty(n)
    for t in range(n):
        ph_b = p_bb * x[t] + p_ba
        ph_a = p_ba * x[t] + p_aa
        s = x[t] * ph_b + ph_a + r
        e = y[t] - (beta * x[t] + alpha)
        k_b = ph_b / s
        k_a = ph_a / s
        beta += k_b * e
        alpha += k_a * e
        new_bb = p_bb - k_b * k_b * s + q
        new_ba = p_ba - k_b * k_a * s
        new_aa = p_aa - k_a * k_a * s + q
        p_bb, p_ba, p_aa = new_bb, new_ba, new_aa
        betas[t] = beta
        alphas[t] = alpha
        innovations[t] = e
        variances[t] = s
    return betas, alphas, innovations, variances
