"""The live PairModel: quotes and own fills in, parameters and history out."""

from __future__ import annotations

import math
import time

import numpy as np
import pytest

from calarb.core.events import TopOfBook
from calarb.core.types import Side, price_from_float
from calarb.model.cointegration import engle_granger
from calarb.model.hedge import KalmanHedge, OlsHedge, RollingOlsHedge, ols_batch
from calarb.model.live import PairModel
from calarb.model.spread import SpreadForm
from calarb.model.validation import ModelInputError

DAY = 86_400 * 1_000_000_000


def _quote(symbol: str, price: float, time_ns: int, bid_shares: int = 500, ask_shares: int = 500):
    mid = price_from_float(price)
    return TopOfBook(symbol, time_ns, mid - 100, bid_shares, mid + 100, ask_shares)


def _feed_daily(model: PairModel, prices, a: str, b: str) -> None:
    for day, (price_a, price_b) in enumerate(
        zip(prices[a].tolist(), prices[b].tolist(), strict=True)
    ):
        model.on_top_of_book(_quote(b, price_b, day * DAY))
        model.on_top_of_book(_quote(a, price_a, day * DAY + 1))


def test_model_on_real_quotes_equals_the_batch_estimator(sp500_prices):
    window = sp500_prices.loc["2015":"2019"]
    model = PairModel("XOM", "CVX", OlsHedge(), zscore_window=60)
    _feed_daily(model, window, "XOM", "CVX")
    history = model.history_frame()
    # a day whose mid equals the leg's previous one is not a new observation
    repeats = sum(
        int(np.count_nonzero(np.diff([price_from_float(p) for p in window[leg].tolist()]) == 0))
        for leg in ("XOM", "CVX")
    )
    assert repeats > 0
    assert len(history) == model.observations == 2 * len(window) - 1 - repeats
    assert (history["source"] == "quote").all()
    # the model's observations, replayed through the batch estimator, give the same path
    x, y = np.log(history["price_b"].to_numpy()), np.log(history["price_a"].to_numpy())
    batch = ols_batch(x, y)
    ready = ~np.isnan(batch.beta)
    np.testing.assert_allclose(history["beta"][ready], batch.beta[ready], rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(history["alpha"][ready], batch.alpha[ready], rtol=1e-9, atol=1e-12)
    # each spread is measured against the parameters held before that observation
    previous = history.iloc[1000]
    current = history.iloc[1001]
    expected = (
        math.log(current.price_a) - previous.alpha - previous.beta * math.log(current.price_b)
    )
    assert current.spread == pytest.approx(expected, rel=1e-12)
    parameters = model.parameters()
    assert parameters["pair"] == "XOM/CVX" and parameters["estimator"] == "ols"
    assert parameters["beta"] == pytest.approx(batch.beta[-1])
    # the same data seen daily: the research hedge ratio (0.1713 for 2015-2019)
    research = engle_granger(window["XOM"], window["CVX"])
    assert model.beta == pytest.approx(research.loc[0, "hedge_ratio"], abs=2e-3)


def test_theoretical_prices_and_calibration_errors():
    model = PairModel("A", "B", OlsHedge(), form=SpreadForm.PRICE, zscore_window=5)
    for t, (price_a, price_b) in enumerate([(21.0, 10.0), (23.0, 11.0), (25.0, 12.0)]):
        model.on_top_of_book(_quote("B", price_b, 2 * t))
        model.on_top_of_book(_quote("A", price_a, 2 * t + 1))
    # every observation lies on A = 1 + 2 B except the mixed pairs in between; refit exactly:
    alpha, beta = model.alpha, model.beta
    model.on_top_of_book(_quote("B", 12.5, 10))
    assert model.theoretical_price("A") == pytest.approx(model.alpha + model.beta * 12.5)
    assert model.calibration_error("A") == pytest.approx(25.0 - (model.alpha + model.beta * 12.5))
    assert model.theoretical_price("B") == pytest.approx((25.0 - model.alpha) / model.beta)
    assert model.calibration_error("B") == pytest.approx(12.5 - (25.0 - model.alpha) / model.beta)
    assert (alpha, beta) != (model.alpha, model.beta)  # the quote recalibrated the model
    with pytest.raises(ModelInputError, match="not a leg"):
        model.theoretical_price("C")


def test_microprice_source_leans_toward_the_thin_side():
    mid_model = PairModel("A", "B", OlsHedge(), price_source="mid")
    micro_model = PairModel("A", "B", OlsHedge(), price_source="microprice")
    top = TopOfBook("A", 5, 100_000, 100, 100_200, 900)  # heavy offer: fair value near the bid
    mid_model.on_top_of_book(top)
    micro_model.on_top_of_book(top)
    assert mid_model.price_a == pytest.approx(10.01)
    assert micro_model.price_a == pytest.approx((100_000 * 900 + 100_200 * 100) / 1000 / 10_000)
    assert micro_model.price_a < mid_model.price_a
    with pytest.raises(ModelInputError, match="price_source"):
        PairModel("A", "B", OlsHedge(), price_source="last")


def test_unusable_quotes_are_ignored_and_counted_never_raised():
    model = PairModel("A", "B", OlsHedge())
    assert not model.on_top_of_book(_quote("B", 10.0, 100))  # priced, but A has no price yet
    assert model.price_b == 10.0 and model.ignored_updates == 0
    assert not model.on_top_of_book(_quote("C", 10.0, 101))
    assert "not a leg" in model.last_ignored_reason
    assert not model.on_top_of_book(TopOfBook("A", 102, 0, 0, 100_000, 10))
    assert "empty side" in model.last_ignored_reason
    assert not model.on_top_of_book(TopOfBook("A", 103, 100_100, 10, 100_000, 10))
    assert "crossed" in model.last_ignored_reason
    assert not model.on_top_of_book(_quote("A", 10.0, 50))
    assert "older" in model.last_ignored_reason
    assert model.ignored_updates == 4 and model.observations == 0
    assert not model.ready
    with pytest.raises(ModelInputError, match="not calibrated"):
        model.theoretical_price("A")


def test_fills_move_positions_realised_spread_and_recalibrate():
    model = PairModel("A", "B", RollingOlsHedge(50), form=SpreadForm.PRICE, zscore_window=20)
    rng = np.random.default_rng(4)
    b_prices = 10.0 + np.cumsum(rng.normal(0, 0.01, 200))
    for t, price_b in enumerate(b_prices.tolist()):
        model.on_top_of_book(_quote("B", price_b, 2 * t))
        model.on_top_of_book(_quote("A", 1.0 + 2.0 * price_b + rng.normal(0, 0.005), 2 * t + 1))
    observations = model.observations
    fair_a = model.theoretical_price("A")
    # buy the spread: buy 100 A at 0.02 over fair, sell 200 B in two fills
    price_a = price_from_float(round(fair_a + 0.02, 4))
    assert model.on_fill("A", Side.BUY, price_a, 100, 1_000)
    model.on_fill("B", Side.SELL, price_from_float(10.5), 150, 1_001)
    model.on_fill("B", Side.SELL, price_from_float(10.7), 50, 1_002)
    assert model.position("A") == 100 and model.position("B") == -200
    assert model.average_open_price("B") == pytest.approx((10.5 * 150 + 10.7 * 50) / 200)
    fill = model.fills[0]
    assert fill.symbol == "A" and fill.side is Side.BUY
    assert fill.calibration_error == pytest.approx(price_a / 10_000 - fair_a, abs=1e-9)
    assert model.realised_spread == pytest.approx(
        model.average_open_price("A") - model.alpha - model.beta * model.average_open_price("B")
    )
    assert model.observations == observations + 3
    assert list(model.history_frame()["source"].tail(3)) == ["fill", "fill", "fill"]
    # closing A entirely resets its open price; the realised spread is gone
    model.on_fill("A", Side.SELL, price_a, 100, 1_003)
    assert model.position("A") == 0 and model.realised_spread is None
    with pytest.raises(ModelInputError, match="not a leg"):
        model.on_fill("C", Side.BUY, 100_000, 1, 1_004)
    with pytest.raises(ModelInputError, match="must be > 0"):
        model.on_fill("A", Side.BUY, 100_000, 0, 1_004)


def test_fills_can_leave_the_model_alone():
    model = PairModel("A", "B", OlsHedge(), fills_as_observations=False)
    model.on_top_of_book(_quote("A", 10.0, 1))
    model.on_top_of_book(_quote("B", 20.0, 2))
    assert not model.on_fill("A", Side.BUY, 100_500, 10, 3)
    assert model.observations == 1 and model.position("A") == 10
    assert model.price_a == 10.0  # the fill price did not replace the quote
    assert math.isnan(model.fills[0].calibration_error)  # not calibrated when it filled


def test_history_is_bounded_and_the_model_never_reads_the_clock(monkeypatch):
    def no_clock(*_args):
        raise AssertionError("the model read the wall clock")

    for name in ("time", "time_ns", "monotonic", "monotonic_ns", "perf_counter", "perf_counter_ns"):
        monkeypatch.setattr(time, name, no_clock)
    model = PairModel("A", "B", KalmanHedge(delta=1e-5, observation_var=1e-4), history_limit=50)
    for t in range(300):
        model.on_top_of_book(_quote("B", 20.0 + 0.01 * math.sin(t / 7), 2 * t))
        model.on_top_of_book(_quote("A", 30.0 + 0.015 * math.sin(t / 7), 2 * t + 1))
    assert len(model.history) == 50
    assert model.history[-1].time_ns == 599
    assert model.history[0].time_ns == 550
    assert all(math.isfinite(s.z) for s in model.history)


def test_a_model_without_history_keeps_no_snapshots_but_the_same_parameters_and_fills():
    """history_limit=0 (the live engine's choice): no ParameterSnapshot is kept, the
    parameters, z-score and observation count are those of a model that keeps them, and its
    own fills are still recorded (bounded by fill_limit)."""
    kept = PairModel("A", "B", OlsHedge(), zscore_window=20)
    bare = PairModel("A", "B", OlsHedge(), zscore_window=20, history_limit=0, fill_limit=3)
    for t in range(200):
        for model in (kept, bare):
            model.on_top_of_book(_quote("B", 20.0 + 0.01 * math.sin(t / 7), 2 * t))
            model.on_top_of_book(_quote("A", 30.0 + 0.015 * math.cos(t / 5), 2 * t + 1))
    for t in range(5):
        for model in (kept, bare):
            model.on_fill("A", Side.BUY, price_from_float(30.0), 100, 1_000 + t)
    assert len(kept.history) == kept.observations > 200
    assert len(bare.history) == 0
    assert bare.observations == kept.observations
    assert (bare.z, bare.beta, bare.alpha) == (kept.z, kept.beta, kept.alpha)
    assert [f.time_ns for f in bare.fills] == [1_002, 1_003, 1_004]
    assert len(kept.fills) == 5
    with pytest.raises(ModelInputError, match="history_limit -1"):
        PairModel("A", "B", OlsHedge(), history_limit=-1)
