"""Running first and second moments of a pair of series: expanding, rolling and exponential.

Each weighting has an online form (a class; `update(x, y)` is O(1) on Python floats, no NumPy
and no allocation per observation) and a batch form (a function over arrays, vectorised)
computing the same recurrences, so both agree to ~1e-12. Hedge ratios and z-scores are built
on these: beta = cov_xy / var_x, and a single series' mean/std is the (v, v) case.

Variances: expanding and rolling use the sample convention (divide by n - 1); the exponential
form is the usual recursive EW variance, var(t) = (1 - a) (var(t-1) + a d(t)^2) with d(t) the
deviation from the previous mean.
"""

from __future__ import annotations

from array import array
from typing import NamedTuple

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view
from scipy.signal import lfilter

from calarb.model.validation import ModelInputError


class MomentSeries(NamedTuple):
    """Batch moments: one entry per observation, NaN while fewer than two points are in."""

    mean_x: np.ndarray
    mean_y: np.ndarray
    var_x: np.ndarray
    var_y: np.ndarray
    cov_xy: np.ndarray


_NAN = float("nan")


class Moments:
    """What every online form keeps, updated by `update(x, y)`: the count, the means, and
    the variances and covariance (NaN while undefined)."""

    __slots__ = ("count", "mean_x", "mean_y", "var_x", "var_y", "cov_xy")

    def __init__(self) -> None:
        self.count = 0
        self.mean_x = 0.0
        self.mean_y = 0.0
        self.var_x = _NAN
        self.var_y = _NAN
        self.cov_xy = _NAN

    def update(self, x: float, y: float) -> None:
        raise NotImplementedError


class _SampleCovariance(Moments):
    """Sample (n - 1) variances and covariance from running sums of squared deviations."""

    __slots__ = ("_cxx", "_cyy", "_cxy")

    def __init__(self) -> None:
        Moments.__init__(self)
        self._cxx = 0.0
        self._cyy = 0.0
        self._cxy = 0.0

    def _derive_variances(self) -> None:
        if self.count > 1:
            dof = self.count - 1
            self.var_x = self._cxx / dof
            self.var_y = self._cyy / dof
            self.cov_xy = self._cxy / dof
        else:
            self.var_x = self.var_y = self.cov_xy = _NAN


class ExpandingMoments(_SampleCovariance):
    """Moments of everything seen so far (Welford's update)."""

    __slots__ = ()

    def update(self, x: float, y: float) -> None:
        self.count += 1
        dx = x - self.mean_x
        dy = y - self.mean_y
        self.mean_x += dx / self.count
        self.mean_y += dy / self.count
        self._cxx += dx * (x - self.mean_x)
        self._cyy += dy * (y - self.mean_y)
        self._cxy += dx * (y - self.mean_y)
        self._derive_variances()


class RollingMoments(_SampleCovariance):
    """Moments of the last `window` observations (Welford add, then remove the oldest).

    Adding and removing points lets rounding drift accumulate, so each time the ring buffer
    wraps (every `window` updates once full) the moments are recomputed exactly from the
    buffer: O(window) once per `window` updates, amortised O(1), no allocation.
    """

    __slots__ = ("window", "_xs", "_ys", "_slot")

    def __init__(self, window: int) -> None:
        if window < 2:
            raise ModelInputError(f"rolling window must be at least 2, got {window}")
        _SampleCovariance.__init__(self)
        self.window = window
        # ring buffers of C doubles, preallocated: no allocation per update
        self._xs = array("d", bytes(8 * window))
        self._ys = array("d", bytes(8 * window))
        self._slot = 0

    def update(self, x: float, y: float) -> None:
        slot = self._slot
        full = self.count == self.window
        old_x = self._xs[slot]
        old_y = self._ys[slot]
        self._xs[slot] = x
        self._ys[slot] = y
        self._slot = slot + 1 if slot + 1 < self.window else 0
        # add the new point
        n = self.count + 1
        dx = x - self.mean_x
        dy = y - self.mean_y
        self.mean_x += dx / n
        self.mean_y += dy / n
        self._cxx += dx * (x - self.mean_x)
        self._cyy += dy * (y - self.mean_y)
        self._cxy += dx * (y - self.mean_y)
        if not full:
            self.count = n
            self._derive_variances()
            return
        # remove the oldest: the exact inverse of adding it
        n -= 1
        dx = old_x - self.mean_x
        dy = old_y - self.mean_y
        self.mean_x -= dx / n
        self.mean_y -= dy / n
        self._cxx -= dx * (old_x - self.mean_x)
        self._cyy -= dy * (old_y - self.mean_y)
        self._cxy -= dx * (old_y - self.mean_y)
        if self._slot == 0:
            self._recompute()
        self._derive_variances()

    def _recompute(self) -> None:
        """Exact two-pass moments of the full buffer (the batch form's arithmetic)."""
        xs, ys, n = self._xs, self._ys, self.window
        sum_x = sum_y = 0.0
        for i in range(n):
            sum_x += xs[i]
            sum_y += ys[i]
        mean_x = sum_x / n
        mean_y = sum_y / n
        cxx = cyy = cxy = 0.0
        for i in range(n):
            dx = xs[i] - mean_x
            dy = ys[i] - mean_y
            cxx += dx * dx
            cyy += dy * dy
            cxy += dx * dy
        self.mean_x, self.mean_y = mean_x, mean_y
        self._cxx, self._cyy, self._cxy = cxx, cyy, cxy


class EwmMoments(Moments):
    """Exponentially weighted moments with smoothing factor `alpha` in (0, 1]."""

    __slots__ = ("alpha",)

    def __init__(self, alpha: float) -> None:
        if not 0.0 < alpha <= 1.0:
            raise ModelInputError(f"EW smoothing factor must be in (0, 1], got {alpha}")
        Moments.__init__(self)
        self.alpha = alpha

    @classmethod
    def from_halflife(cls, halflife: float) -> EwmMoments:
        """Weights halve every `halflife` observations."""
        return cls(ewm_alpha(halflife))

    def update(self, x: float, y: float) -> None:
        self.count += 1
        if self.count == 1:
            self.mean_x = x
            self.mean_y = y
            self.var_x = self.var_y = self.cov_xy = 0.0
            return
        a = self.alpha
        dx = x - self.mean_x
        dy = y - self.mean_y
        self.mean_x += a * dx
        self.mean_y += a * dy
        keep = 1.0 - a
        self.var_x = keep * (self.var_x + a * dx * dx)
        self.var_y = keep * (self.var_y + a * dy * dy)
        self.cov_xy = keep * (self.cov_xy + a * dx * dy)


def ewm_alpha(halflife: float) -> float:
    """Smoothing factor whose weights halve every `halflife` observations."""
    if halflife <= 0:
        raise ModelInputError(f"EW half-life must be positive, got {halflife}")
    return 1.0 - 0.5 ** (1.0 / halflife)


def _as_pair(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    if x.shape != y.shape or x.ndim != 1:
        raise ModelInputError(f"x and y must be 1-D and equal length, got {x.shape} and {y.shape}")
    return x, y


def expanding_moments(x: np.ndarray, y: np.ndarray) -> MomentSeries:
    """Batch form of ExpandingMoments (same recurrence, vectorised with cumulative sums)."""
    x, y = _as_pair(x, y)
    count = np.arange(1, x.size + 1, dtype=np.float64)
    mean_x = np.cumsum(x) / count
    mean_y = np.cumsum(y) / count
    prev_x = np.concatenate(([0.0], mean_x[:-1]))
    prev_y = np.concatenate(([0.0], mean_y[:-1]))
    dx = x - prev_x
    dy = y - prev_y
    with np.errstate(invalid="ignore", divide="ignore"):
        dof = np.where(count > 1, count - 1, np.nan)
        return MomentSeries(
            mean_x,
            mean_y,
            np.cumsum(dx * (x - mean_x)) / dof,
            np.cumsum(dy * (y - mean_y)) / dof,
            np.cumsum(dx * (y - mean_y)) / dof,
        )


def rolling_moments(
    x: np.ndarray, y: np.ndarray, window: int, chunk: int = 1 << 20
) -> MomentSeries:
    """Batch form of RollingMoments: exact two-pass moments of every window.

    While fewer than `window` points are in, the moments are expanding (as online). Windows
    are processed in chunks of about `chunk` numbers to bound memory.
    """
    x, y = _as_pair(x, y)
    if window < 2:
        raise ModelInputError(f"rolling window must be at least 2, got {window}")
    head = min(window - 1, x.size)
    start = expanding_moments(x[:head], y[:head])
    out = [np.concatenate((part, np.empty(x.size - head))) for part in start]
    if x.size >= window:
        windows_x = sliding_window_view(x, window)
        windows_y = sliding_window_view(y, window)
        step = max(1, chunk // window)
        for first in range(0, windows_x.shape[0], step):
            wx = windows_x[first : first + step]
            wy = windows_y[first : first + step]
            mx = wx.mean(axis=1)
            my = wy.mean(axis=1)
            cx = wx - mx[:, None]
            cy = wy - my[:, None]
            rows = slice(head + first, head + first + wx.shape[0])
            out[0][rows] = mx
            out[1][rows] = my
            out[2][rows] = np.einsum("ij,ij->i", cx, cx) / (window - 1)
            out[3][rows] = np.einsum("ij,ij->i", cy, cy) / (window - 1)
            out[4][rows] = np.einsum("ij,ij->i", cx, cy) / (window - 1)
    return MomentSeries(*out)


def ewm_moments(x: np.ndarray, y: np.ndarray, alpha: float) -> MomentSeries:
    """Batch form of EwmMoments: the same recurrences as linear filters (scipy lfilter)."""
    x, y = _as_pair(x, y)
    if not 0.0 < alpha <= 1.0:
        raise ModelInputError(f"EW smoothing factor must be in (0, 1], got {alpha}")
    if x.size == 0:
        empty = np.empty(0)
        return MomentSeries(empty, empty, empty, empty, empty)
    keep = 1.0 - alpha
    smooth_b, smooth_a = [alpha], [1.0, -keep]
    mean_x = np.concatenate(([x[0]], lfilter(smooth_b, smooth_a, x[1:], zi=[keep * x[0]])[0]))
    mean_y = np.concatenate(([y[0]], lfilter(smooth_b, smooth_a, y[1:], zi=[keep * y[0]])[0]))
    dx = x[1:] - mean_x[:-1]
    dy = y[1:] - mean_y[:-1]
    var_b = [keep * alpha]

    def filtered(values: np.ndarray) -> np.ndarray:
        return np.concatenate(([0.0], lfilter(var_b, smooth_a, values)))

    return MomentSeries(mean_x, mean_y, filtered(dx * dx), filtered(dy * dy), filtered(dx * dy))
