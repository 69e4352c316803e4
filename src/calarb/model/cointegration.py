"""Cointegration tests: Engle-Granger (vectorised across pairs), Johansen, half-life, Hurst.

The Engle-Granger test here is statsmodels' `coint(y, x)` (trend "c", autolag "aic", default
maxlag) computed for many pairs at once: the cointegrating regressions are closed-form, the
ADF lag search works from cumulative lagged cross-products (one pass per block of pairs gives
every lag order's normal equations; nested fits share one Cholesky factor), and the
p-values come from statsmodels' MacKinnon (1994) tables through the same formula as
`statsmodels.tsa.adfvalues.mackinnonp`. Results match `coint` to ~1e-12.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.stats import norm
from statsmodels.tsa import adfvalues
from statsmodels.tsa.adfvalues import mackinnoncrit

from calarb.model.validation import MIN_OBSERVATIONS, ModelInputError, check_series, prepare_pair

_COLLINEAR_RSQUARED = 1 - 100 * math.sqrt(np.finfo(float).eps)
"""statsmodels' threshold: above it `coint` calls the pair collinear (t = -inf, p = 0)."""


def mackinnon_pvalues(stats: np.ndarray, regression: str = "c", n_series: int = 2) -> np.ndarray:
    """Vectorised `statsmodels.tsa.adfvalues.mackinnonp` (same tables, same formula)."""
    stats = np.asarray(stats, dtype=np.float64)
    k = n_series - 1
    max_stat = adfvalues._tau_maxs[regression][k]
    min_stat = adfvalues._tau_mins[regression][k]
    star_stat = adfvalues._tau_stars[regression][k]
    small = np.asarray(adfvalues._tau_smallps[regression][k])[::-1]
    large = np.asarray(adfvalues._tau_largeps[regression][k])[::-1]
    finite = np.where(np.isfinite(stats), stats, 0.0)
    pvalues = np.where(
        finite <= star_stat,
        norm.cdf(np.polyval(small, finite)),
        norm.cdf(np.polyval(large, finite)),
    )
    pvalues = np.where(stats > max_stat, 1.0, pvalues)
    pvalues = np.where(stats < min_stat, 0.0, pvalues)
    return pvalues


def default_maxlag(n_obs: int) -> int:
    """statsmodels' ADF default: ceil(12 (n/100)^(1/4)) (Schwert), capped at n/2 - 1."""
    maxlag = int(np.ceil(12.0 * np.power(n_obs / 100.0, 1 / 4.0)))
    maxlag = min(n_obs // 2 - 1, maxlag)
    if maxlag < 0:
        raise ModelInputError(f"{n_obs} observations are too few for the ADF test")
    return maxlag


@dataclass(frozen=True)
class EngleGrangerBatch:
    """Engle-Granger results for a block of (y, x) orderings, one entry per ordering."""

    adf_stat: np.ndarray
    pvalue: np.ndarray
    hedge_ratio: np.ndarray  # beta in y = alpha + beta x
    intercept: np.ndarray  # alpha
    lags: np.ndarray  # ADF lags chosen by AIC
    half_life: np.ndarray  # of the residual spread, in observations
    n_obs: int


class _LagSums:
    """Window sums of lagged cross-products of a block of residual series.

    Every entry of the ADF regression's Gram matrix, for any lag order and its sample, is the
    sum of one lagged product series (de(s) de(s+L), or e(s+j) de(s)) over all but a few
    terms at each end. So each product series is reduced once to its total plus cumulative
    sums of its first and last maxlag + 1 terms: O(n x maxlag) per pair for the whole lag
    search and the final regression, and no long running sums to lose accuracy
    (agreement with statsmodels is ~1e-13).
    """

    def __init__(self, resid: np.ndarray, maxlag: int) -> None:
        diff = np.diff(resid, axis=1)
        pairs, n_diff = diff.shape
        self.n_diff = n_diff
        edge = maxlag + 1
        shape = (pairs, maxlag + 1, edge + 1)
        # for product series L: total, head[k] = sum of first k terms, tail[h] = of last h
        self.dd_total = np.empty((pairs, maxlag + 1))
        self.dd_head = np.zeros(shape)
        self.dd_tail = np.zeros(shape)
        self.ed_total = np.empty((pairs, maxlag + 1))
        self.ed_head = np.zeros(shape)
        for lag in range(maxlag + 1):
            width = n_diff - lag
            left, right = diff[:, :width], diff[:, lag:]
            self.dd_total[:, lag] = np.einsum("ij,ij->i", left, right)
            np.cumsum(left[:, :edge] * right[:, :edge], axis=1, out=self.dd_head[:, lag, 1:])
            np.cumsum(
                (left[:, -edge:] * right[:, -edge:])[:, ::-1], axis=1, out=self.dd_tail[:, lag, 1:]
            )
            level = resid[:, lag : lag + width]
            self.ed_total[:, lag] = np.einsum("ij,ij->i", level, left)
            np.cumsum(level[:, :edge] * left[:, :edge], axis=1, out=self.ed_head[:, lag, 1:])
        levels = resid[:, :n_diff]
        self.ee_total = np.einsum("ij,ij->i", levels, levels)
        self.ee_head = np.zeros((pairs, edge + 1))
        np.cumsum(levels[:, :edge] ** 2, axis=1, out=self.ee_head[:, 1:])

    def normal_equations(
        self, lags: int, rows: np.ndarray | slice = slice(None)
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
        """X'X, X'y, y'y and the sample size of the ADF regression with `lags` lags.

        X = [e(t-1), de(t-1)..de(t-lags)], y = de(t), over statsmodels' sample t >= lags.
        Column k of the lagged differences pairs with column l through product series
        |k - l|, summed from s = lags - max(k, l) to its end less min(k, l) terms.
        """
        order = np.arange(lags + 1)  # 0 is de(t) itself, k is de(t-k)
        i, j = np.meshgrid(order, order, indexing="ij")
        latest = np.maximum(i, j)
        distance = np.abs(i - j)
        diff_gram = (
            self.dd_total[rows][:, distance]
            - self.dd_tail[rows][:, distance, latest - distance]
            - self.dd_head[rows][:, distance, lags - latest]
        )
        level_diff = self.ed_total[rows][:, order] - self.ed_head[rows][:, order, lags - order]
        size = lags + 1
        xtx = np.empty((diff_gram.shape[0], size, size))
        xtx[:, 0, 0] = self.ee_total[rows] - self.ee_head[rows][:, lags]
        xtx[:, 0, 1:] = level_diff[:, 1:]
        xtx[:, 1:, 0] = level_diff[:, 1:]
        xtx[:, 1:, 1:] = diff_gram[:, 1:, 1:]
        xty = np.concatenate([level_diff[:, :1], diff_gram[:, 1:, 0]], axis=1)
        return xtx, xty, diff_gram[:, 0, 0], self.n_diff - lags

    def aic_lags(self, maxlag: int) -> np.ndarray:
        """Lag order minimising AIC over 0..maxlag on the common sample (statsmodels' rule)."""
        xtx, xty, yty, rows = self.normal_equations(maxlag)
        chol = np.linalg.cholesky(xtx)
        z = np.linalg.solve(chol, xty[:, :, None])[:, :, 0]
        ssr = yty[:, None] - np.cumsum(z * z, axis=1)  # nested fits: first k regressors
        n_params = np.arange(1, maxlag + 2)
        llf = -rows / 2.0 * (np.log(2 * np.pi) + np.log(ssr / rows) + 1.0)
        aic = -2.0 * llf + 2.0 * n_params
        return np.argmin(aic, axis=1)

    def tstats(self, lags: int, rows: np.ndarray) -> np.ndarray:
        """t-statistic of the lagged level in the ADF regression with `lags` lags."""
        xtx, xty, yty, n_rows = self.normal_equations(lags, rows)
        inverse = np.linalg.inv(xtx)
        coef = np.einsum("pij,pj->pi", inverse, xty)
        ssr = yty - np.einsum("pi,pi->p", coef, xty)
        sigma2 = ssr / (n_rows - (lags + 1))
        return coef[:, 0] / np.sqrt(sigma2 * inverse[:, 0, 0])


def ar1_half_life(spread: np.ndarray) -> np.ndarray:
    """Half-life (observations) of an AR(1)/Ornstein-Uhlenbeck fit s(t) = c + phi s(t-1) + e.

    half-life = ln 2 / -ln(phi) for 0 < phi < 1; inf when phi >= 1 (no mean reversion);
    0 when phi <= 0 (reverts within one observation). Accepts one series or rows of series.
    """
    spread = np.atleast_2d(np.asarray(spread, dtype=np.float64))
    lagged, current = spread[:, :-1], spread[:, 1:]
    lagged_c = lagged - lagged.mean(axis=1, keepdims=True)
    current_c = current - current.mean(axis=1, keepdims=True)
    denominator = np.sum(lagged_c * lagged_c, axis=1)
    if np.any(denominator == 0):
        raise ModelInputError("half-life of a constant spread is undefined")
    phi = np.sum(lagged_c * current_c, axis=1) / denominator
    with np.errstate(divide="ignore", invalid="ignore"):
        half_life = np.where(
            phi >= 1.0, np.inf, np.where(phi <= 0.0, 0.0, -np.log(2.0) / np.log(phi))
        )
    return half_life


def engle_granger_arrays(
    y: np.ndarray, x: np.ndarray, maxlag: int | None = None
) -> EngleGrangerBatch:
    """Engle-Granger for each row pair (y[i], x[i]) of two (pairs, n) arrays of clean floats.

    Equals `statsmodels.tsa.stattools.coint(y[i], x[i])` with its defaults (trend "c",
    autolag "aic"). Inputs must already be checked (finite, aligned, non-constant).
    """
    y = np.atleast_2d(np.asarray(y, dtype=np.float64))
    x = np.atleast_2d(np.asarray(x, dtype=np.float64))
    if y.shape != x.shape:
        raise ModelInputError(f"y has shape {y.shape} and x has shape {x.shape}; they must match")
    n = y.shape[1]
    if n < MIN_OBSERVATIONS:
        raise ModelInputError(f"{n} observations, need at least {MIN_OBSERVATIONS}")
    x_mean = x.mean(axis=1, keepdims=True)
    y_mean = y.mean(axis=1, keepdims=True)
    xc, yc = x - x_mean, y - y_mean
    sxx = np.einsum("ij,ij->i", xc, xc)
    syy = np.einsum("ij,ij->i", yc, yc)
    if np.any(sxx == 0) or np.any(syy == 0):
        raise ModelInputError("a constant series cannot be tested for cointegration")
    beta = np.einsum("ij,ij->i", xc, yc) / sxx
    alpha = y_mean[:, 0] - beta * x_mean[:, 0]
    resid = yc - beta[:, None] * xc
    rsquared = 1.0 - np.einsum("ij,ij->i", resid, resid) / syy
    collinear = rsquared >= _COLLINEAR_RSQUARED

    maxlag = default_maxlag(n) if maxlag is None else maxlag
    sums = _LagSums(resid, maxlag)
    lags = sums.aic_lags(maxlag)
    stats = np.empty(y.shape[0])
    for lag in np.unique(lags):
        chosen = np.flatnonzero(lags == lag)
        stats[chosen] = sums.tstats(int(lag), chosen)
    stats[collinear] = -np.inf
    return EngleGrangerBatch(
        adf_stat=stats,
        pvalue=mackinnon_pvalues(stats, "c", 2),
        hedge_ratio=beta,
        intercept=alpha,
        lags=lags,
        half_life=ar1_half_life(resid),
        n_obs=n,
    )


def engle_granger(
    a: np.ndarray | pd.Series,
    b: np.ndarray | pd.Series,
    *,
    log: bool = True,
    names: tuple[str, str] | None = None,
) -> pd.DataFrame:
    """Engle-Granger in both orderings (a on b, b on a) as a tidy table.

    Columns: dependent, independent, adf_stat, pvalue, crit_1pct, crit_5pct, crit_10pct,
    hedge_ratio, intercept, lags, half_life, n_obs, method. `log` tests log prices.
    """
    if names is None:
        names = (
            str(getattr(a, "name", None) or "a"),
            str(getattr(b, "name", None) or "b"),
        )
    a_values, b_values = prepare_pair(a, b, log=log, names=names)
    result = engle_granger_arrays(np.vstack([a_values, b_values]), np.vstack([b_values, a_values]))
    crit = mackinnoncrit(N=2, regression="c", nobs=result.n_obs - 1)
    return pd.DataFrame(
        {
            "dependent": [names[0], names[1]],
            "independent": [names[1], names[0]],
            "adf_stat": result.adf_stat,
            "pvalue": result.pvalue,
            "crit_1pct": crit[0],
            "crit_5pct": crit[1],
            "crit_10pct": crit[2],
            "hedge_ratio": result.hedge_ratio,
            "intercept": result.intercept,
            "lags": result.lags,
            "half_life": result.half_life,
            "n_obs": result.n_obs,
            "method": method_name(log),
        }
    )


def method_name(log: bool) -> str:
    """The `method` string of the scan contract: which test, on prices or log prices."""
    return "engle-granger:log-prices" if log else "engle-granger:prices"


def johansen(
    prices: pd.DataFrame, *, log: bool = True, det_order: int = 0, k_ar_diff: int = 1
) -> pd.DataFrame:
    """Johansen trace and maximum-eigenvalue tests (statsmodels `coint_johansen`) as a table.

    One row per hypothesis "rank <= r" with both statistics, their 90/95/99% critical values
    (statsmodels gives critical values, not p-values, for Johansen) and whether 95% rejects.
    """
    from statsmodels.tsa.vector_ar.vecm import coint_johansen

    if prices.shape[1] < 2:
        raise ModelInputError("Johansen needs at least two series")
    columns = [check_series(prices[column], str(column), positive=log) for column in prices.columns]
    data = np.column_stack(columns)
    if log:
        data = np.log(data)
    result = coint_johansen(data, det_order, k_ar_diff)
    rows = []
    for rank in range(data.shape[1]):
        rows.append(
            {
                "rank_le": rank,
                "eigenvalue": result.eig[rank],
                "trace_stat": result.lr1[rank],
                "trace_crit_90": result.cvt[rank, 0],
                "trace_crit_95": result.cvt[rank, 1],
                "trace_crit_99": result.cvt[rank, 2],
                "max_eig_stat": result.lr2[rank],
                "max_eig_crit_90": result.cvm[rank, 0],
                "max_eig_crit_95": result.cvm[rank, 1],
                "max_eig_crit_99": result.cvm[rank, 2],
                "trace_reject_95": bool(result.lr1[rank] > result.cvt[rank, 1]),
                "max_eig_reject_95": bool(result.lr2[rank] > result.cvm[rank, 1]),
            }
        )
    return pd.DataFrame(rows)


def half_life(spread: np.ndarray | pd.Series) -> float:
    """Half-life in observations of one spread series (see `ar1_half_life`)."""
    values = check_series(spread, "spread")
    return float(ar1_half_life(values)[0])


def hurst_exponent(series: np.ndarray | pd.Series, max_lag: int = 100) -> float:
    """Hurst exponent from the scaling of lagged differences: std(x(t+l) - x(t)) ~ l^H.

    About 0.5 for a random walk, below 0.5 for a mean-reverting series, above for trending.
    Uses lags 2..max_lag (capped at a quarter of the series length).
    """
    values = check_series(series, "series", min_length=MIN_OBSERVATIONS)
    top = min(max_lag, values.size // 4)
    if top < 4:
        raise ModelInputError(f"series: {values.size} observations are too few for Hurst")
    lags = np.arange(2, top + 1)
    spread = np.array([np.std(values[lag:] - values[:-lag]) for lag in lags])
    if np.any(spread == 0):
        raise ModelInputError("series: lagged differences are constant; Hurst is undefined")
    slope = np.polyfit(np.log(lags), np.log(spread), 1)[0]
    return float(slope)
