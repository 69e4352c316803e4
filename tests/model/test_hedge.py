"""Hedge-ratio estimators: online equals batch to 1e-9, batch equals references."""

from __future__ import annotations

import tracemalloc

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm

from calarb.model.hedge import (
    EwmOlsHedge,
    KalmanHedge,
    OlsHedge,
    RollingOlsHedge,
    ewm_ols_batch,
    kalman_batch,
    make_estimator,
    ols_batch,
    rolling_ols_batch,
)
from calarb.model.moments import ewm_alpha, rolling_moments
from calarb.model.validation import ModelInputError


@pytest.fixture(scope="module")
def ko_pep(sp500_prices) -> tuple[np.ndarray, np.ndarray]:
    """(x, y) = (log PEP, log KO), 8313 daily observations."""
    return np.log(sp500_prices["PEP"].to_numpy()), np.log(sp500_prices["KO"].to_numpy())


def _run_online(estimator, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    betas, alphas = np.empty(x.size), np.empty(x.size)
    for i, (xi, yi) in enumerate(zip(x.tolist(), y.tolist(), strict=True)):
        estimator.update(xi, yi)
        betas[i] = estimator.beta
        alphas[i] = estimator.alpha
    return betas, alphas


@pytest.mark.parametrize(
    ("online", "batch"),
    [
        (lambda: OlsHedge(), lambda x, y: ols_batch(x, y)),
        (lambda: RollingOlsHedge(60), lambda x, y: rolling_ols_batch(x, y, 60)),
        (lambda: RollingOlsHedge(500), lambda x, y: rolling_ols_batch(x, y, 500)),
        (lambda: EwmOlsHedge(30.0), lambda x, y: ewm_ols_batch(x, y, 30.0)),
        (lambda: KalmanHedge(1e-4, 1e-3), lambda x, y: kalman_batch(x, y, 1e-4, 1e-3)),
    ],
    ids=["ols", "rolling-60", "rolling-500", "ewm", "kalman"],
)
def test_online_and_batch_agree_on_real_prices(ko_pep, online, batch):
    x, y = ko_pep
    betas, alphas = _run_online(online(), x, y)
    expected = batch(x, y)
    np.testing.assert_array_equal(np.isnan(betas), np.isnan(expected.beta))
    ready = ~np.isnan(betas)
    assert ready.sum() >= x.size - 500
    np.testing.assert_allclose(betas[ready], expected.beta[ready], rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(alphas[ready], expected.alpha[ready], rtol=1e-9, atol=1e-9)


def test_rolling_batch_in_chunks_equals_one_pass(ko_pep):
    x, y = ko_pep
    whole = rolling_moments(x, y, 500)
    chunked = rolling_moments(x, y, 500, chunk=10_000)  # 20 windows per chunk
    for mine, reference in zip(chunked, whole, strict=True):
        np.testing.assert_array_equal(mine, reference)


def test_ols_matches_statsmodels_at_every_checkpoint(ko_pep):
    x, y = ko_pep
    estimates = ols_batch(x, y)
    for end in (30, 1000, x.size):
        fit = sm.OLS(y[:end], sm.add_constant(x[:end])).fit()
        assert estimates.alpha[end - 1] == pytest.approx(fit.params[0], rel=1e-10)
        assert estimates.beta[end - 1] == pytest.approx(fit.params[1], rel=1e-10)


def test_rolling_ols_matches_least_squares_and_statsmodels(ko_pep):
    from statsmodels.regression.rolling import RollingOLS

    x, y = ko_pep
    window = 250
    ours = rolling_ols_batch(x, y, window)
    for end in (window, 3879, 3989, x.size):
        design = np.column_stack([np.ones(window), x[end - window : end]])
        alpha, beta = np.linalg.lstsq(design, y[end - window : end], rcond=None)[0]
        assert ours.alpha[end - 1] == pytest.approx(alpha, rel=1e-11, abs=1e-13)
        assert ours.beta[end - 1] == pytest.approx(beta, rel=1e-11)
    # statsmodels' RollingOLS updates cross-products and drifts by ~1e-9; ours is two-pass.
    fit = RollingOLS(y, sm.add_constant(x), window=window).fit()
    np.testing.assert_allclose(ours.alpha[window - 1 :], fit.params[window - 1 :, 0], atol=1e-8)
    np.testing.assert_allclose(ours.beta[window - 1 :], fit.params[window - 1 :, 1], atol=1e-8)


def test_ewm_ols_is_weighted_least_squares_with_ew_weights(ko_pep):
    """At time t the EW fit is WLS with pandas' adjust=False weights a(1-a)^(t-s), (1-a)^t."""
    x, y = ko_pep
    halflife = 50.0
    alpha = ewm_alpha(halflife)
    assert alpha == pytest.approx(1 - np.exp(np.log(0.5) / halflife))
    ours = ewm_ols_batch(x, y, halflife)
    mean_x = pd.Series(x).ewm(alpha=alpha, adjust=False).mean().to_numpy()
    np.testing.assert_allclose(
        ours.alpha[1:] + ours.beta[1:] * mean_x[1:],
        pd.Series(y).ewm(alpha=alpha, adjust=False).mean().to_numpy()[1:],
        rtol=1e-12,
    )
    for end in (100, 2000, x.size):
        ages = np.arange(end - 1, -1, -1)
        weights = alpha * (1 - alpha) ** ages
        weights[0] = (1 - alpha) ** (end - 1)
        fit = sm.WLS(y[:end], sm.add_constant(x[:end]), weights=weights).fit()
        assert ours.beta[end - 1] == pytest.approx(fit.params[1], rel=1e-9)
        assert ours.alpha[end - 1] == pytest.approx(fit.params[0], rel=1e-9, abs=1e-10)


def test_kalman_matches_statsmodels_state_space(ko_pep):
    x, y = ko_pep
    x, y = x[:3000], y[:3000]
    delta, obs_var = 1e-4, 1e-3
    model = sm.tsa.statespace.MLEModel(
        y, k_states=2, initialization="known", initial_state=[0.0, 0.0], initial_state_cov=np.eye(2)
    )
    design = np.zeros((1, 2, x.size))
    design[0, 0], design[0, 1] = x, 1.0
    model["design"] = design
    model["transition"] = np.eye(2)
    model["selection"] = np.eye(2)
    model["state_cov"] = np.eye(2) * delta / (1 - delta)
    model["obs_cov"] = [[obs_var]]
    expected = model.filter([])
    ours = kalman_batch(x, y, delta, obs_var)
    np.testing.assert_allclose(ours.beta, expected.filtered_state[0], rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(ours.alpha, expected.filtered_state[1], rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(ours.innovation, expected.forecasts_error[0], atol=1e-12)
    np.testing.assert_allclose(ours.innovation_var, expected.forecasts_error_cov[0, 0], rtol=1e-12)


def test_kalman_with_zero_delta_converges_to_ols():
    rng = np.random.default_rng(2)
    x = np.cumsum(rng.normal(size=5000)) + 50
    y = 3.0 + 0.8 * x + rng.normal(scale=0.5, size=5000)
    kalman = KalmanHedge(delta=0.0, observation_var=0.25, initial_var=1e6)
    for xi, yi in zip(x.tolist(), y.tolist(), strict=True):
        kalman.update(xi, yi)
    ols = ols_batch(x, y)
    assert kalman.beta == pytest.approx(ols.beta[-1], rel=1e-6)
    assert kalman.alpha == pytest.approx(ols.alpha[-1], rel=1e-5)


@pytest.mark.parametrize("kind", ["ols", "rolling-ols", "ewm-ols", "kalman"])
def test_online_update_is_constant_memory_on_python_floats(kind):
    estimator = make_estimator(kind, **({"window": 50} if kind == "rolling-ols" else {}))
    rng = np.random.default_rng(1)
    xs = (100 + np.cumsum(rng.normal(size=20_000))).tolist()
    ys = [0.5 * v + 3.0 + e for v, e in zip(xs, rng.normal(size=20_000).tolist(), strict=True)]
    for xi, yi in zip(xs[:1000], ys[:1000], strict=True):
        estimator.update(xi, yi)
    assert type(estimator.beta) is float and type(estimator.alpha) is float
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    for xi, yi in zip(xs[1000:], ys[1000:], strict=True):
        estimator.update(xi, yi)
    grown = tracemalloc.get_traced_memory()[0] - before
    tracemalloc.stop()
    assert grown < 2_000, f"{kind} grew {grown} bytes over 19,000 updates"
    assert estimator.beta == pytest.approx(0.5, abs=0.05)
    assert not hasattr(estimator, "__dict__")  # slots only: no per-update attribute churn


def test_estimators_wait_until_they_can_estimate():
    ols = OlsHedge()
    ols.update(1.0, 2.0)
    assert not ols.ready and np.isnan(ols.beta)
    ols.update(1.0, 3.0)  # x has not moved yet: no slope
    assert not ols.ready
    ols.update(2.0, 4.0)
    assert ols.ready and ols.beta == pytest.approx(1.5)
    rolling = RollingOlsHedge(3)
    for x, y in [(1.0, 1.0), (2.0, 2.0), (3.0, 3.0), (3.0, 9.0), (3.0, 9.0), (3.0, 9.0)]:
        rolling.update(x, y)
    assert not rolling.ready  # the window now holds three equal x values


@pytest.mark.parametrize(
    ("factory", "message"),
    [
        (lambda: RollingOlsHedge(1), "at least 2"),
        (lambda: EwmOlsHedge(0.0), "half-life must be positive"),
        (lambda: KalmanHedge(delta=1.0), "delta"),
        (lambda: KalmanHedge(observation_var=0.0), "positive"),
        (lambda: make_estimator("lasso"), "unknown hedge estimator"),
        (lambda: ols_batch(np.ones(3), np.ones(4)), "equal length"),
    ],
)
def test_bad_parameters_raise(factory, message):
    with pytest.raises(ModelInputError, match=message):
        factory()
