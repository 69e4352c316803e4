"""The calibration-arbitrage strategy on the simulator's quotes: quiet when the market sits on
its surface, buys a planted cheap option (and hedges its delta) when one appears, exits when
the price comes back; and the options risk gate's limits."""

from __future__ import annotations

import numpy as np
import pytest

from calarb.backtest.options_market import OptionsMarket, OptionsMarketConfig
from calarb.core.types import Side
from calarb.trading.options_risk import OptionsRiskGate, OptionsRiskLimits, OptionsRiskReason
from calarb.trading.options_strategy import (
    OptionsCalibrationStrategy,
    OptionsFill,
    OptionsStrategyConfig,
)

ATM_CALL = "SYNTH 260306C00100000"


def setup(limits: OptionsRiskLimits | None = None):
    market = OptionsMarket(OptionsMarketConfig(seed=7, mispricings_per_minute=0.0))
    risk = OptionsRiskGate(limits or OptionsRiskLimits())
    config = OptionsStrategyConfig("SYNTH", market.config.trade_date)
    strategy = OptionsCalibrationStrategy(config, risk)
    for contract in market.contracts:
        strategy.on_option_listed(contract)
    return market, strategy


def drive(market: OptionsMarket, strategy: OptionsCalibrationStrategy, steps: int) -> list:
    orders = []
    for _ in range(steps):
        for symbol in [*market.symbols, "SYNTH"]:
            strategy.on_quote(market.engine.top_of_book(symbol, market.now_ns))
        orders += [(market.now_ns, o) for o in strategy.on_timer(market.now_ns)]
        market.step()
    return orders


def test_quiet_on_the_surface_then_buys_a_planted_cheap_option_and_hedges():
    market, strategy = setup()
    assert drive(market, strategy, 300) == []  # 30 s of noisy quotes: no trade
    assert strategy.fits >= 10 and strategy.fit.arbitrage["arbitrage_free"]
    # the fitted surface is the simulator's truth within a fraction of a vol point
    residuals = np.array(list(strategy.residuals.values()))
    assert np.sqrt(np.mean(residuals**2)) < 0.5

    market.plant(ATM_CALL, -4.0, 10.0)
    orders = drive(market, strategy, 20)
    entries = [o for _, o in orders if o.purpose == "entry"]
    assert [(o.symbol, o.side) for o in entries] == [(ATM_CALL, Side.BUY)]
    entry = entries[0]
    hedges = [o for _, o in orders if o.purpose == "hedge"]
    assert len(hedges) == 1 and hedges[0].side is Side.SELL
    # the hedge sells the calls' delta (about 0.5 x 100 per contract)
    assert 0.3 * 100 * entry.quantity < hedges[0].quantity < 0.7 * 100 * entry.quantity
    fair = market.fair_values()[market.symbols.index(ATM_CALL)] * 10_000
    assert entry.price < fair  # bought under the true value

    # the fills come back: position, then an exit once the price is back on the surface
    when = orders[0][0]
    strategy.on_fill(OptionsFill(when, ATM_CALL, Side.BUY, entry.quantity, entry.price, "entry"))
    strategy.on_fill(
        OptionsFill(when, "SYNTH", Side.SELL, hedges[0].quantity, hedges[0].price, "hedge")
    )
    strategy.on_order_done(ATM_CALL)
    strategy.on_order_done("SYNTH")
    assert abs(strategy.book_delta()) <= strategy.config.hedge_band_shares
    assert strategy.fees == entry.quantity * strategy.config.fee_per_contract
    later = drive(market, strategy, 150)
    exits = [o for _, o in later if o.purpose == "exit"]
    assert exits and exits[0].symbol == ATM_CALL and exits[0].side is Side.SELL
    assert exits[0].quantity == entry.quantity
    assert exits[0].price > entry.price  # the mispricing has gone: sold higher


def test_the_vega_limit_stops_the_entry():
    market, strategy = setup(OptionsRiskLimits(max_vega_per_vol_point=5.0))
    drive(market, strategy, 300)
    market.plant(ATM_CALL, -4.0, 10.0)
    orders = drive(market, strategy, 20)
    assert [o for _, o in orders if o.purpose == "entry"] == []
    assert strategy.risk.refused[OptionsRiskReason.VEGA] >= 1
    assert strategy.signals >= 1


def test_risk_gate_limits():
    gate = OptionsRiskGate(OptionsRiskLimits(
        max_order_contracts=5, max_contracts_per_option=8, max_vega_per_vol_point=100.0,
        max_delta_shares=1_000.0, max_hedge_order_shares=2_000,
    ))  # fmt: skip
    passed = OptionsRiskReason.PASSED
    assert gate.check_option(5, 0, 10.0, 50.0, 0.0, 0.0) is passed
    assert gate.check_option(6, 0, 10.0, 50.0, 0.0, 0.0) is OptionsRiskReason.ORDER_SIZE
    assert gate.check_option(5, 4, 10.0, 50.0, 0.0, 0.0) is OptionsRiskReason.POSITION
    assert gate.check_option(-5, 4, 10.0, 50.0, 0.0, 0.0) is passed
    assert gate.check_option(5, 0, 10.0, 50.0, 60.0, 0.0) is OptionsRiskReason.VEGA
    assert gate.check_option(5, 0, 10.0, 50.0, 0.0, 800.0) is OptionsRiskReason.DELTA
    # a hedge may always reduce the delta; it may not push it past the limit
    assert gate.check_hedge(-1_500, 1_400.0) is passed
    assert gate.check_hedge(1_500, 0.0) is OptionsRiskReason.DELTA
    assert gate.check_hedge(2_001, -2_001.0) is OptionsRiskReason.ORDER_SIZE
    assert sum(gate.refused.values()) == 6
    with pytest.raises(ValueError, match="max_delta_shares"):
        OptionsRiskLimits(max_delta_shares=0)
