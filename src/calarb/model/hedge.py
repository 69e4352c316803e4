"""Hedge-ratio estimators for y = alpha + beta x: OLS, rolling OLS, exponentially weighted OLS,
and a Kalman filter on [beta, alpha].

Every estimator has an online form (`update(x, y)`: O(1) on Python floats, for the hot path)
and a batch form (`*_batch(x, y)` over arrays, for research) that agree to 1e-9. Batch forms
return a `HedgeSeries` with the estimate after each observation (NaN while not `ready`).

Kalman noise parameters (documented in docs/model.md): the state [beta, alpha] is a random
walk with covariance Q = delta / (1 - delta) * I per observation, the observation noise has
variance `observation_var` (R), and the prior is [beta0, alpha0] with covariance
`initial_var` * I. Small delta means slowly moving parameters (delta -> 0: recursive OLS).
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from calarb.model.kalman_kernel import kalman_loop
from calarb.model.moments import (
    EwmMoments,
    ExpandingMoments,
    Moments,
    MomentSeries,
    RollingMoments,
    ewm_alpha,
    ewm_moments,
    expanding_moments,
    rolling_moments,
)
from calarb.model.validation import ModelInputError

_NAN = float("nan")


class HedgeEstimator:
    """What the live model needs from an online estimator: `update(x, y)`, after which
    `ready`, `beta` and `alpha` hold the current estimate (kept, not derived on each read)."""

    __slots__ = ("ready", "beta", "alpha")
    name = "estimator"

    def __init__(self) -> None:
        self.ready = False
        self.beta = _NAN
        self.alpha = _NAN

    def update(self, x: float, y: float) -> None:
        raise NotImplementedError


class HedgeSeries(NamedTuple):
    """Batch estimates after each observation (NaN while the estimator is not ready)."""

    beta: np.ndarray
    alpha: np.ndarray


class _MomentHedge(HedgeEstimator):
    """beta = cov(x, y) / var(x), alpha = mean(y) - beta mean(x) from running moments.

    `ready`, `beta` and `alpha` are derived once per `update` and kept (the live model reads
    them several times per observation); only `update` changes the moments."""

    __slots__ = ("_moments",)
    name = "moments"

    def __init__(self, moments: Moments) -> None:
        HedgeEstimator.__init__(self)
        self._moments = moments
        self._derive()

    @property
    def count(self) -> int:
        return self._moments.count

    def update(self, x: float, y: float) -> None:
        self._moments.update(x, y)
        self._derive()

    def _derive(self) -> None:
        moments = self._moments
        var_x = moments.var_x
        if moments.count > 1 and var_x > 0.0:
            cov_xy = moments.cov_xy
            self.ready = True
            self.beta = cov_xy / var_x
            self.alpha = moments.mean_y - cov_xy / var_x * moments.mean_x
        else:
            self.ready = False
            self.beta = self.alpha = _NAN


class OlsHedge(_MomentHedge):
    """Ordinary least squares over every observation so far."""

    __slots__ = ()
    name = "ols"

    def __init__(self) -> None:
        super().__init__(ExpandingMoments())


class RollingOlsHedge(_MomentHedge):
    """OLS over the last `window` observations."""

    __slots__ = ()
    name = "rolling-ols"

    def __init__(self, window: int) -> None:
        super().__init__(RollingMoments(window))


class EwmOlsHedge(_MomentHedge):
    """OLS with exponentially decaying weights (weights halve every `halflife` observations)."""

    __slots__ = ()
    name = "ewm-ols"

    def __init__(self, halflife: float) -> None:
        super().__init__(EwmMoments.from_halflife(halflife))


def _hedge_from_moments(moments: MomentSeries) -> HedgeSeries:
    with np.errstate(invalid="ignore", divide="ignore"):
        ready = moments.var_x > 0
        beta = np.where(ready, moments.cov_xy / np.where(ready, moments.var_x, 1.0), np.nan)
    return HedgeSeries(beta, moments.mean_y - beta * moments.mean_x)


def ols_batch(x: np.ndarray, y: np.ndarray) -> HedgeSeries:
    """Expanding OLS estimates after each observation (batch form of OlsHedge)."""
    return _hedge_from_moments(expanding_moments(x, y))


def rolling_ols_batch(x: np.ndarray, y: np.ndarray, window: int) -> HedgeSeries:
    """Rolling-window OLS estimates (batch form of RollingOlsHedge)."""
    return _hedge_from_moments(rolling_moments(x, y, window))


def ewm_ols_batch(x: np.ndarray, y: np.ndarray, halflife: float) -> HedgeSeries:
    """Exponentially weighted OLS estimates (batch form of EwmOlsHedge)."""
    return _hedge_from_moments(ewm_moments(x, y, ewm_alpha(halflife)))


class KalmanHedge(HedgeEstimator):
    """Kalman filter with state [beta, alpha] following a random walk.

    After `update(x, y)`, `beta`/`alpha` are the filtered estimates, `innovation` is
    y - (beta x + alpha) predicted before the update and `innovation_var` its variance, so
    innovation / sqrt(innovation_var) is a ready-made z-score.
    """

    __slots__ = (
        "delta",
        "observation_var",
        "_q",
        "count",
        "_p_bb",
        "_p_ba",
        "_p_aa",
        "innovation",
        "innovation_var",
    )
    name = "kalman"

    def __init__(
        self,
        delta: float = 1e-4,
        observation_var: float = 1e-3,
        beta0: float = 0.0,
        alpha0: float = 0.0,
        initial_var: float = 1.0,
    ) -> None:
        if not 0.0 <= delta < 1.0:
            raise ModelInputError(f"Kalman delta must be in [0, 1), got {delta}")
        if observation_var <= 0.0 or initial_var <= 0.0:
            raise ModelInputError("Kalman observation_var and initial_var must be positive")
        HedgeEstimator.__init__(self)
        self.delta = delta
        self.observation_var = observation_var
        self._q = delta / (1.0 - delta)
        self.count = 0
        self.beta = beta0
        self.alpha = alpha0
        # predicted state covariance for the next observation (symmetric 2x2)
        self._p_bb = initial_var
        self._p_ba = 0.0
        self._p_aa = initial_var
        self.innovation = 0.0
        self.innovation_var = float("nan")

    @property
    def state_cov(self) -> tuple[float, float, float]:
        """Predicted covariance (var beta, cov, var alpha) for the next observation."""
        return self._p_bb, self._p_ba, self._p_aa

    def update(self, x: float, y: float) -> None:
        p_bb, p_ba, p_aa = self._p_bb, self._p_ba, self._p_aa
        # P H' with H = [x, 1]
        ph_b = p_bb * x + p_ba
        ph_a = p_ba * x + p_aa
        s = x * ph_b + ph_a + self.observation_var
        e = y - (self.beta * x + self.alpha)
        k_b = ph_b / s
        k_a = ph_a / s
        self.beta += k_b * e
        self.alpha += k_a * e
        q = self._q
        # P - K S K' (filtered), then + Q (predicted for the next observation)
        self._p_bb = p_bb - k_b * k_b * s + q
        self._p_ba = p_ba - k_b * k_a * s
        self._p_aa = p_aa - k_a * k_a * s + q
        self.innovation = e
        self.innovation_var = s
        self.count += 1
        self.ready = True


class KalmanSeries(NamedTuple):
    beta: np.ndarray
    alpha: np.ndarray
    innovation: np.ndarray
    innovation_var: np.ndarray


def kalman_batch(
    x: np.ndarray,
    y: np.ndarray,
    delta: float = 1e-4,
    observation_var: float = 1e-3,
    beta0: float = 0.0,
    alpha0: float = 0.0,
    initial_var: float = 1.0,
) -> KalmanSeries:
    """Batch form of KalmanHedge (the same filter compiled with Numba, `kalman_kernel`)."""
    template = KalmanHedge(delta, observation_var, beta0, alpha0, initial_var)  # validates
    x = np.ascontiguousarray(x, dtype=np.float64)
    y = np.ascontiguousarray(y, dtype=np.float64)
    if x.shape != y.shape or x.ndim != 1:
        raise ModelInputError(f"x and y must be 1-D and equal length, got {x.shape} and {y.shape}")
    return KalmanSeries(
        *kalman_loop(
            x, y, template._q, observation_var, beta0, alpha0, initial_var, 0.0, initial_var
        )
    )


def make_estimator(kind: str, **params: float) -> HedgeEstimator:
    """Build an online estimator by name: ols, rolling-ols (window), ewm-ols (halflife), kalman."""
    if kind == "ols":
        return OlsHedge()
    if kind == "rolling-ols":
        return RollingOlsHedge(int(params.get("window", 100)))
    if kind == "ewm-ols":
        return EwmOlsHedge(float(params.get("halflife", 100.0)))
    if kind == "kalman":
        return KalmanHedge(**params)
    raise ModelInputError(f"unknown hedge estimator {kind!r} (ols, rolling-ols, ewm-ols, kalman)")
