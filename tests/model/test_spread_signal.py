"""Spread, z-score, theoretical prices and the entry/exit/stop rules, as worked examples."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from calarb.model.signal import (
    SignalAction,
    SignalRules,
    SpreadPosition,
    SpreadSignal,
    signal_batch,
)
from calarb.model.spread import (
    SpreadForm,
    SpreadStats,
    calibration_errors,
    spread_value,
    theoretical_a,
    theoretical_b,
    zscore_batch,
)
from calarb.model.validation import ModelInputError

SECOND = 1_000_000_000


def test_price_form_worked_example():
    # A = 1 + 2 B. With B at 10.00 the fair A is 21.00; A trades at 21.50.
    assert theoretical_a(10.0, 1.0, 2.0, SpreadForm.PRICE) == 21.0
    assert spread_value(21.5, 10.0, 1.0, 2.0, SpreadForm.PRICE) == pytest.approx(0.5)
    # fair B given A = 21.50 is (21.50 - 1) / 2 = 10.25; B trades at 10.00
    assert theoretical_b(21.5, 1.0, 2.0, SpreadForm.PRICE) == pytest.approx(10.25)
    error_a, error_b = calibration_errors(21.5, 10.0, 1.0, 2.0, SpreadForm.PRICE)
    assert error_a == pytest.approx(0.5)  # A is rich by 0.50
    assert error_b == pytest.approx(-0.25)  # B is cheap by 0.25


def test_log_form_worked_example():
    # log A = 0.1 + 0.9 log B. B = 50: fair A = exp(0.1) * 50^0.9.
    fair_a = math.exp(0.1) * 50.0**0.9
    assert theoretical_a(50.0, 0.1, 0.9, SpreadForm.LOG) == pytest.approx(fair_a)
    assert spread_value(fair_a * 1.01, 50.0, 0.1, 0.9, SpreadForm.LOG) == pytest.approx(
        math.log(1.01)
    )
    assert theoretical_b(fair_a, 0.1, 0.9, SpreadForm.LOG) == pytest.approx(50.0)
    with pytest.raises(ModelInputError, match="non-positive price"):
        spread_value(-1.0, 50.0, 0.1, 0.9, SpreadForm.LOG)
    with pytest.raises(ModelInputError, match="hedge ratio is zero"):
        theoretical_b(10.0, 0.0, 0.0, SpreadForm.PRICE)


@pytest.mark.parametrize("kwargs", [{"window": 20}, {"halflife": 15.0}])
def test_online_zscore_equals_batch_on_real_spread(sp500_prices, kwargs):
    window = sp500_prices.loc["2015":"2019"]
    spread = (np.log(window["XOM"]) - 0.9 * np.log(window["CVX"])).to_numpy()
    stats = SpreadStats(**kwargs)
    online = np.array([stats.update(v) for v in spread.tolist()])
    batch = zscore_batch(spread, **kwargs)
    np.testing.assert_allclose(online, batch.z, rtol=1e-9, atol=1e-9)
    assert not np.isnan(batch.z).any()
    if "window" in kwargs:
        rolling = pd.Series(spread).rolling(20)
        expected = (spread - rolling.mean()) / rolling.std()
        np.testing.assert_allclose(batch.z[19:], expected[19:], rtol=1e-9)


def test_zscore_is_zero_until_defined():
    stats = SpreadStats(window=3)
    assert stats.update(1.0) == 0.0 and not stats.ready
    assert stats.update(1.0) == 0.0 and not stats.ready  # zero variance
    z = stats.update(4.0)  # window 1, 1, 4: mean 2, sample std sqrt(3)
    assert stats.ready and z == pytest.approx(2.0 / math.sqrt(3.0))
    with pytest.raises(ModelInputError, match="exactly one"):
        SpreadStats(window=3, halflife=2.0)


def _walk(rules: SignalRules, steps: list[tuple[float, int]]) -> list[SignalAction]:
    signal = SpreadSignal(rules)
    return [signal.on_z(z, t) for z, t in steps]


def test_rules_enter_long_below_minus_entry_and_exit_inside_band():
    rules = SignalRules(entry=2.0, exit=0.5, stop=4.0)
    actions = _walk(rules, [(-1.9, 0), (-2.0, 1), (-3.0, 2), (-0.6, 3), (-0.5, 4), (0.1, 5)])
    assert actions == [
        SignalAction.HOLD,
        SignalAction.ENTER_LONG,  # z = -2.0 <= -entry: buy A, sell beta B
        SignalAction.HOLD,  # stretched further, but not to the stop
        SignalAction.HOLD,  # |z| = 0.6 > exit
        SignalAction.EXIT,  # |z| = 0.5 <= exit
        SignalAction.HOLD,
    ]


def test_rules_short_above_entry_and_exit_on_overshoot():
    rules = SignalRules(entry=2.0, exit=0.5, stop=4.0)
    signal = SpreadSignal(rules)
    assert signal.on_z(2.5, 0) is SignalAction.ENTER_SHORT
    assert signal.position is SpreadPosition.SHORT
    # the spread jumps straight through the band to -2.5: exit, and no flip on the same tick
    assert signal.on_z(-2.5, 1) is SignalAction.EXIT
    assert signal.position is SpreadPosition.FLAT
    assert signal.on_z(-2.5, 2) is SignalAction.ENTER_LONG


def test_rules_stop_loss_and_no_reentry_until_back_inside_entry():
    rules = SignalRules(entry=2.0, exit=0.5, stop=4.0)
    actions = _walk(rules, [(2.1, 0), (3.9, 1), (4.0, 2), (3.0, 3), (2.5, 4), (1.9, 5), (2.2, 6)])
    assert actions == [
        SignalAction.ENTER_SHORT,
        SignalAction.HOLD,
        SignalAction.STOP,  # |z| >= stop
        SignalAction.HOLD,  # still stretched: stopped-out spreads are not re-entered
        SignalAction.HOLD,
        SignalAction.HOLD,  # back inside entry: re-arms
        SignalAction.ENTER_SHORT,
    ]


def test_rules_stop_after_maximum_holding_time():
    rules = SignalRules(entry=2.0, exit=0.5, stop=4.0, max_holding_ns=60 * SECOND)
    actions = _walk(rules, [(-2.2, 0), (-2.1, 59 * SECOND), (-2.1, 60 * SECOND)])
    assert actions == [SignalAction.ENTER_LONG, SignalAction.HOLD, SignalAction.STOP]


def test_signal_batch_runs_the_same_machine():
    rules = SignalRules(entry=1.0, exit=0.0, stop=3.0)
    z = np.array([0.0, -1.2, -0.5, 0.1, 1.5, 3.5, 0.0, 1.1])
    positions, actions = signal_batch(z, np.arange(z.size), rules)
    assert positions.tolist() == [0, 1, 1, 0, -1, 0, 0, -1]
    assert actions[5] is SignalAction.STOP


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"entry": 1.0, "exit": 1.0, "stop": 2.0}, "exit < entry < stop"),
        ({"entry": 2.0, "exit": 0.5, "stop": 2.0}, "exit < entry < stop"),
        ({"entry": 2.0, "exit": 0.5, "stop": 3.0, "max_holding_ns": 0}, "max_holding_ns"),
    ],
)
def test_bad_rules_raise(kwargs, message):
    with pytest.raises(ModelInputError, match=message):
        SignalRules(**kwargs)


def test_nan_z_is_refused():
    with pytest.raises(ModelInputError, match="NaN"):
        SpreadSignal(SignalRules()).on_z(float("nan"), 5)
