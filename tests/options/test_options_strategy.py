"""The calibration-arbitrage strategy run by the trading engine on the simulator's quotes
(backtest transport: ITTO/ITCH bytes in, the engine's risk gate, router and OMS, orders
executed on the simulator's matching engine): quiet when the market sits on its surface, buys
a planted cheap option and hedges its delta when one appears, exits when the price comes back;
the options risk gate's limits stop an entry before the engine sees it."""

from __future__ import annotations

import asyncio

import numpy as np
import pytest

from calarb.backtest.options_market import OptionsMarket, OptionsMarketConfig
from calarb.backtest.options_run import (
    InProcessTransport,
    OptionsRunConfig,
    TraderFeeds,
    build_engine,
    run_step,
)
from calarb.core.orders import OrderPurpose
from calarb.core.types import Side
from calarb.trading.options_risk import OptionsRiskGate, OptionsRiskLimits, OptionsRiskReason
from calarb.trading.options_strategy import purpose_of
from calarb.trading.strategy_api import Strategy, StrategyHost
from calarb.venue.itch_publisher import ItchPublisher
from calarb.venue.options_publisher import OptionsItchPublisher

ATM_CALL = "SYNTH 260306C00100000"


class Rig:
    """The backtest's pieces, stepped by hand so a mispricing can be planted at a chosen time."""

    def __init__(self, limits: OptionsRiskLimits | None = None) -> None:
        self.market = OptionsMarket(OptionsMarketConfig(seed=7, mispricings_per_minute=0.0))
        config = OptionsRunConfig(market=self.market.config, limits=limits or OptionsRiskLimits())
        feeds = TraderFeeds()
        self.options_publisher = OptionsItchPublisher(self.market.symbols, underlying="SYNTH")
        self.transport = InProcessTransport(
            self.market, feeds, self.options_publisher, ItchPublisher([self.market.underlying])
        )
        asyncio.run(self.transport.start_of_day(self.market.now_ns))
        self.engine, self.strategy, self.risk = build_engine(config, feeds, self.transport)

    def drive(self, steps: int) -> list:
        """The OMS records of the orders sent during `steps` market steps."""
        before = len(self.engine.oms.orders())

        async def steps_():
            for _ in range(steps):
                await run_step(self.market, self.transport, self.options_publisher,
                               self.engine, self.strategy)  # fmt: skip

        asyncio.run(steps_())
        return self.engine.oms.orders()[before:]


def test_quiet_on_the_surface_then_buys_a_planted_cheap_option_hedges_and_exits():
    rig = Rig()
    strategy, engine = rig.strategy, rig.engine
    assert isinstance(strategy, Strategy) and isinstance(engine.strategy, StrategyHost)
    assert set(strategy.symbols) == {"SYNTH", *rig.market.symbols}
    assert rig.drive(300) == []  # 30 s of noisy quotes: no trade
    assert strategy.fits >= 10 and strategy.fit.arbitrage["arbitrage_free"]
    # the fitted surface is the simulator's truth within a fraction of a vol point
    residuals = np.array(list(strategy.residuals.values()))
    assert np.sqrt(np.mean(residuals**2)) < 0.5

    rig.market.plant(ATM_CALL, -4.0, 10.0)
    fair = rig.market.fair_values()[rig.market.symbols.index(ATM_CALL)] * 10_000
    orders = rig.drive(20)
    entries = [o for o in orders if purpose_of(o.tag) == "entry"]
    assert [(o.symbol, o.side, o.purpose) for o in entries] == [
        (ATM_CALL, Side.BUY, OrderPurpose.ENTRY)
    ]
    entry = entries[0]
    assert entry.price < fair  # bought under the true value
    hedges = [o for o in orders if purpose_of(o.tag) == "hedge"]
    assert len(hedges) == 1 and hedges[0].side is Side.SELL and hedges[0].symbol == "SYNTH"
    # the hedge sells the calls' delta (about 0.5 x 100 per contract)
    assert 0.3 * 100 * entry.quantity < hedges[0].quantity < 0.7 * 100 * entry.quantity
    # both went through the engine: its OMS has them filled, its portfolio holds them, and
    # the strategy heard the fills (positions from the host)
    assert entry.cum_qty == entry.quantity and hedges[0].cum_qty == hedges[0].quantity
    assert engine.portfolio.quantity(ATM_CALL) == entry.quantity == strategy.positions[ATM_CALL]
    assert engine.portfolio.quantity("SYNTH") == -hedges[0].quantity
    assert abs(strategy.book_delta()) <= strategy.config.hedge_band_shares
    assert engine.oms.open_count == 0

    later = rig.drive(150)
    exits = [o for o in later if purpose_of(o.tag) == "exit"]
    assert exits and exits[0].symbol == ATM_CALL and exits[0].side is Side.SELL
    assert exits[0].quantity == entry.quantity and exits[0].purpose is OrderPurpose.EXIT
    assert exits[0].price > entry.price  # the mispricing has gone: sold higher
    assert engine.portfolio.quantity(ATM_CALL) == 0
    assert engine.portfolio.positions[ATM_CALL].realized > 0


def test_the_vega_limit_stops_the_entry_before_the_engine():
    rig = Rig(OptionsRiskLimits(max_vega_per_vol_point=5.0))
    rig.drive(300)
    rig.market.plant(ATM_CALL, -4.0, 10.0)
    orders = rig.drive(20)
    assert [o for o in orders if purpose_of(o.tag) == "entry"] == []
    assert rig.risk.refused[OptionsRiskReason.VEGA] >= 1
    assert rig.strategy.signals >= 1
    assert rig.engine.intents == 0  # nothing reached the engine's gate


def test_the_engine_risk_gate_refuses_what_the_options_gate_passed():
    """The engine's own limits apply to option orders too: a per-symbol position limit of
    one contract refuses the five-contract entry, and the strategy hears of it."""
    rig = Rig()
    rig.engine.risk.limits.position_limits[ATM_CALL] = 1
    rig.drive(300)
    rig.market.plant(ATM_CALL, -4.0, 10.0)
    orders = rig.drive(20)
    assert [o for o in orders if o.symbol == ATM_CALL] == []
    assert rig.engine.rejects and rig.engine.strategy.counters["refused"] >= 1
    assert rig.strategy.context.open_orders == {}  # the refused intent is not left working


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
