"""The options strategy's time to expiry comes from the engine clock's wall time: the same
figure whether the engine's clock counts from the trade date's midnight (a backtest's
simulated clock) or from an arbitrary origin (a live engine's monotonic clock)."""

from __future__ import annotations

import datetime as dt

import pytest

from calarb.backtest.options_market import OptionsMarket, OptionsMarketConfig
from calarb.backtest.options_run import LockstepVenueGateway, market_clock
from calarb.core.clock import SimulatedClock, utc_midnight_ns
from calarb.trading.engine import TradingEngine
from calarb.trading.options_risk import OptionsRiskGate, OptionsRiskLimits
from calarb.trading.options_strategy import OptionsCalibrationStrategy, OptionsStrategyConfig
from calarb.trading.strategy_api import StrategyHost

TEN_AM_NS = 10 * 3_600 * 1_000_000_000


def strategy_on(clock, market: OptionsMarket, trade_date: dt.date | None):
    config = OptionsStrategyConfig(market.config.underlying, trade_date)
    strategy = OptionsCalibrationStrategy(
        config, OptionsRiskGate(OptionsRiskLimits()), market.contracts
    )
    host = StrategyHost(strategy, id_prefix="T")
    host.attach(TradingEngine(clock, host, {"OPTV": LockstepVenueGateway(market.engine)}))
    return strategy


def test_time_to_expiry_counts_from_the_clocks_wall_time_not_its_monotonic_origin():
    day = dt.date(2026, 3, 2)
    market = OptionsMarket(OptionsMarketConfig(trade_date=day, start_ns=TEN_AM_NS))
    midnight = utc_midnight_ns(day)
    boot = (
        987_654_321_000_000  # 11.4 days: a live engine's monotonic now: time since the host booted
    )
    clocks = {
        "backtest": market_clock(market),  # monotonic = time since midnight
        "live": SimulatedClock(boot, midnight + TEN_AM_NS - boot),
    }
    assert clocks["backtest"].wall_ns() == clocks["live"].wall_ns() == midnight + TEN_AM_NS
    contract = market.contracts[0]
    expected = ((contract.expiry - day).days * 86_400 - 36_000) / (365 * 86_400)
    for name, clock in clocks.items():
        for trade_date in (day, None):  # None: the day of the wall time
            strategy = strategy_on(clock, market, trade_date)
            years = strategy._years_to_expiry(contract, clock.monotonic_ns())
            assert years == pytest.approx(expected, rel=1e-12), (name, trade_date)
            # an hour later by the engine clock is an hour less to expiry
            later = strategy._years_to_expiry(contract, clock.monotonic_ns() + 3_600 * 10**9)
            assert later == pytest.approx(expected - 3_600 / (365 * 86_400), rel=1e-12)
    # the monotonic reading taken as a time of day (the old way) is wrong by days
    naive = ((contract.expiry - day).days * 86_400 - boot / 1e9) / (365 * 86_400)
    assert abs(naive - expected) > 10 / 365
