"""Contract multipliers in the engine's money: an option contract stands for 100 shares of its
underlying, so its P&L, notional, exposure and the daily loss count 100 x price x contracts
in the Portfolio and the RiskGate themselves (one source: core.option_contract); an equity
keeps multiplier 1 and the figures it always had."""

from __future__ import annotations

import dataclasses

import pytest

from calarb.core.events import TopOfBook
from calarb.core.option_contract import (
    CONTRACT_MULTIPLIER,
    contract_multiplier,
    contract_multipliers,
)
from calarb.core.order_events import VenueOrder
from calarb.core.types import Side
from calarb.trading.oms import OrderManager
from calarb.trading.orders import OrderIntent, OrdType, TimeInForce
from calarb.trading.portfolio import Portfolio
from calarb.trading.risk import RiskGate, RiskLimits, RiskReason, deleveraging_intents

OPTION = "SYNTH 261218C00100000"  # the 18 Dec 2026 100.00 call
STOCK = "SYNTH"
MULTIPLIERS = contract_multipliers([OPTION, STOCK])
LIMITS = RiskLimits(
    max_order_quantity=1_000,
    max_order_notional=1_000 * 10_000,  # 1,000.00
    max_position=1_000,
    max_gross_exposure=100_000 * 10_000,
    max_net_exposure=100_000 * 10_000,
    max_daily_loss=200 * 10_000,  # 200.00
    max_open_orders=50,
    max_orders_per_window=50,
)


def top(symbol, bid, ask, size=100):
    return TopOfBook(symbol, 0, bid, size, ask, size)


def engine_parts(multipliers=MULTIPLIERS, limits=LIMITS):
    portfolio = Portfolio(multipliers=multipliers)
    gate = RiskGate(limits, portfolio, multipliers=multipliers)
    return portfolio, gate, OrderManager([portfolio, gate])


def trade(oms, venue, gate, cl_ord_id, symbol, side, quantity, price, now_ns):
    """One intent through the gate, sent and filled in full at `price` (the OMS tells the
    portfolio and the gate)."""
    intent = OrderIntent(cl_ord_id, symbol, side, quantity, price)
    reason = gate.check(intent, now_ns)
    if reason is not RiskReason.PASSED:
        return reason
    order = VenueOrder(
        f"{cl_ord_id}.1", cl_ord_id, "V1", symbol, side, quantity, price, OrdType.LIMIT,
        TimeInForce.IOC,
    )  # fmt: skip
    oms.submit(order, now_ns)
    oms.on_execution_report(venue.ack(order), now_ns + 1)
    oms.on_execution_report(venue.fill(order.cl_ord_id, quantity), now_ns + 2)
    return reason


def test_one_source_names_the_multiplier_of_each_symbol():
    assert contract_multiplier(OPTION) == CONTRACT_MULTIPLIER == 100
    assert contract_multiplier(STOCK) == 1
    assert contract_multiplier("SYNTH 26XX18C00100000") == 1  # 21 characters, no OCC date
    assert MULTIPLIERS == {OPTION: 100}


def test_round_trip_in_one_option_contract_is_100_times_the_price_change(venue):
    portfolio, gate, oms = engine_parts()
    for symbol, bid, ask in ((OPTION, 24_900, 25_100), (STOCK, 999_900, 1_000_100)):
        gate.on_top_of_book(top(symbol, bid, ask))
        portfolio.on_top_of_book(top(symbol, bid, ask))
    assert trade(oms, venue, gate, "B", OPTION, Side.BUY, 1, 25_100, 10) is RiskReason.PASSED
    position = portfolio.positions[OPTION]
    assert (position.quantity, position.cost, position.multiplier) == (1, 2_510_000, 100)
    assert position.average_price == 25_100
    portfolio.on_top_of_book(top(OPTION, 27_400, 27_600))  # mark 2.75
    assert portfolio.unrealized == 100 * (27_500 - 25_100) == 240_000
    assert trade(oms, venue, gate, "S", OPTION, Side.SELL, 1, 27_400, 20) is RiskReason.PASSED
    assert portfolio.realized == 100 * (27_400 - 25_100) == 230_000  # 23.00 on 0.23
    assert portfolio.unrealized == 0 and position.cost == 0
    # the same prices on the equity: one share, 1 x the change
    assert trade(oms, venue, gate, "EB", STOCK, Side.BUY, 1, 1_000_100, 30) is RiskReason.PASSED
    portfolio.on_top_of_book(top(STOCK, 1_002_400, 1_002_600))
    assert trade(oms, venue, gate, "ES", STOCK, Side.SELL, 1, 1_002_400, 40) is RiskReason.PASSED
    assert portfolio.positions[STOCK].realized == 1_002_400 - 1_000_100
    assert portfolio.net_pnl == 230_000 + 2_300


def test_partial_closes_of_contracts_round_in_money_and_end_exact():
    portfolio = Portfolio(multipliers=MULTIPLIERS)
    for price in (10_001, 10_002, 10_004):
        portfolio.apply_fill(OPTION, "V1", Side.BUY, 1, price, 0)
    assert portfolio.positions[OPTION].cost == 100 * 30_007
    first = portfolio.apply_fill(OPTION, "V1", Side.SELL, 2, 10_000, 0)
    assert first == 100 * 2 * 10_000 - 2_000_467  # 3,000,700 * 2 / 3 = 2,000,466.67 -> 2,000,467
    portfolio.apply_fill(OPTION, "V1", Side.SELL, 1, 10_000, 0)
    assert portfolio.positions[OPTION].cost == 0
    assert portfolio.realized == 100 * (3 * 10_000 - 30_007)


def test_a_notional_limit_refuses_the_option_order_it_passes_at_one_share_per_contract():
    # 10 contracts at 5.00: 50.00 at 1x, 5,000.00 at 100x; the limit is 1,000.00
    intent = OrderIntent("N", OPTION, Side.BUY, 10, 50_000)
    one_x = RiskGate(LIMITS, Portfolio())
    one_x.on_top_of_book(top(OPTION, 49_900, 50_000))
    assert one_x.check(intent, 0) is RiskReason.PASSED
    _, gate, _ = engine_parts()
    gate.on_top_of_book(top(OPTION, 49_900, 50_000))
    assert gate.check(intent, 0) is RiskReason.MAX_ORDER_NOTIONAL
    assert gate.check(OrderIntent("N2", OPTION, Side.BUY, 2, 50_000), 0) is RiskReason.PASSED


def test_exposure_and_daily_loss_count_contracts_at_100_times(venue):
    portfolio, gate, oms = engine_parts()
    gate.on_top_of_book(top(OPTION, 29_900, 30_000))
    portfolio.on_top_of_book(top(OPTION, 29_900, 30_000))
    assert trade(oms, venue, gate, "B", OPTION, Side.BUY, 3, 30_000, 10) is RiskReason.PASSED
    assert gate.gross_exposure == 3 * 29_950 * 100  # at the mark (mid), per contract x 100
    assert gate.net_high == gate.net_low == 3 * 29_950 * 100
    # the option falls 8.00 (a 2,400.00 loss at 100x, 24.00 at 1x; the limit is 200.00)
    gate.on_top_of_book(top(OPTION, 0, 0, size=0))
    loss_top = top(OPTION, 21_900, 22_000)
    gate.on_top_of_book(loss_top)
    portfolio.on_top_of_book(loss_top)
    assert portfolio.net_pnl == 3 * 100 * (21_950 - 30_000)
    assert [b.reason for b in gate.breaches()] == [RiskReason.DAILY_LOSS]
    refused = trade(oms, venue, gate, "B2", OPTION, Side.BUY, 1, 22_000, 20)
    assert refused is RiskReason.DAILY_LOSS
    # deleveraging flattens all 3 contracts, reduce-only
    (flatten,) = deleveraging_intents(gate, 30)
    assert (flatten.symbol, flatten.side, flatten.quantity, flatten.reduce_only) == (
        OPTION, Side.SELL, 3, True,
    )  # fmt: skip


def test_deleveraging_cuts_contracts_by_their_money_value(venue):
    limits = dataclasses.replace(
        LIMITS, max_order_notional=10**12, max_gross_exposure=5_000 * 10_000, max_daily_loss=10**12
    )
    portfolio, gate, oms = engine_parts(limits=limits)
    gate.on_top_of_book(top(OPTION, 49_900, 50_100))  # 5.00: 500.00 per contract
    for k in range(9):  # 9 contracts: 4,500.00 of gross
        assert trade(oms, venue, gate, f"B{k}", OPTION, Side.BUY, 1, 50_100, k * 10) is (
            RiskReason.PASSED
        )
    assert trade(oms, venue, gate, "B10", OPTION, Side.BUY, 2, 50_100, 100) is (
        RiskReason.GROSS_EXPOSURE  # 11 x 500.00 > 5,000.00; at 1x it would be 55.00
    )
    gate.on_top_of_book(top(OPTION, 79_900, 80_100))  # 8.00: 9 contracts are 7,200.00
    assert [b.reason for b in gate.breaches()] == [RiskReason.GROSS_EXPOSURE]
    (cut,) = deleveraging_intents(gate, 200)
    # down to 90% of 5,000.00 = 4,500.00 at 800.00 per contract: 5 contracts (4,000.00)
    assert (cut.side, cut.quantity) == (Side.SELL, 4)


def test_a_bad_multiplier_is_refused_at_construction():
    with pytest.raises(ValueError, match="multiplier"):
        RiskGate(LIMITS, multipliers={OPTION: 0})
    with pytest.raises(ValueError, match="multiplier 0 of"):
        Portfolio(multipliers={OPTION: 0}).position(OPTION)
