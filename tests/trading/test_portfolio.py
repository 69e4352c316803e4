from __future__ import annotations

from calarb.core.events import TopOfBook
from calarb.core.order_events import VenueOrder
from calarb.core.types import Side
from calarb.trading.oms import OrderManager
from calarb.trading.orders import Liquidity, OrdType, TimeInForce, VenueFees
from calarb.trading.portfolio import Portfolio, divide_round_half_even


def test_round_half_even_division():
    assert [divide_round_half_even(n, 2) for n in (1, 3, 5, -1, -3)] == [0, 2, 2, 0, -2]
    assert divide_round_half_even(10, 3) == 3 and divide_round_half_even(-10, 3) == -3
    assert divide_round_half_even(20, 3) == 7


def test_average_cost_realised_and_unrealised():
    p = Portfolio()
    p.apply_fill("AAA", "V1", Side.BUY, 100, 1_000_000, 0)  # 100 @ 100.00
    p.apply_fill("AAA", "V1", Side.BUY, 200, 1_030_000, 0)  # 200 @ 103.00 -> avg 102.00
    position = p.positions["AAA"]
    assert (position.quantity, position.cost) == (300, 306_000_000)
    assert position.average_price == 1_020_000
    realized = p.apply_fill("AAA", "V1", Side.SELL, 100, 1_050_000, 0)
    assert realized == 100 * (1_050_000 - 1_020_000)
    p.mark("AAA", 1_010_000)
    assert p.unrealized == 200 * (1_010_000 - 1_020_000)
    assert p.net_pnl == p.realized + p.unrealized


def test_rounding_never_accumulates_over_a_round_trip():
    p = Portfolio()
    for price in (1_000_001, 1_000_002, 1_000_004):  # cost 3,000,007 over 3 shares
        p.apply_fill("AAA", "V1", Side.BUY, 1, price, 0)
    p.apply_fill("AAA", "V1", Side.SELL, 1, 1_000_000, 0)  # removes 1,000,002 (rounded)
    p.apply_fill("AAA", "V1", Side.SELL, 2, 1_000_000, 0)  # removes the rest exactly
    assert p.positions["AAA"].quantity == 0 and p.positions["AAA"].cost == 0
    assert p.realized == 3 * 1_000_000 - (1_000_001 + 1_000_002 + 1_000_004)


def test_flip_from_long_to_short_and_short_pnl():
    p = Portfolio()
    p.apply_fill("AAA", "V1", Side.BUY, 100, 1_000_000, 0)
    realized = p.apply_fill("AAA", "V2", Side.SELL, 250, 1_010_000, 0)
    assert realized == 100 * 10_000
    position = p.positions["AAA"]
    assert (position.quantity, position.cost) == (-150, -150 * 1_010_000)
    realized = p.apply_fill("AAA", "V1", Side.BUY, 50, 990_000, 0)
    assert realized == 50 * 20_000  # short sold at 101.00, covered at 99.00
    assert p.venue_positions[("AAA", "V1")].quantity == 150
    assert p.venue_positions[("AAA", "V2")].quantity == -250


def test_fees_from_oms_fills_and_marks_from_book(venue):
    p = Portfolio({"V1": VenueFees(taker=30, maker=-20)})
    oms = OrderManager([p])
    order = VenueOrder(
        "C1", "P", "V1", "AAA", Side.BUY, 300, 1_000_000, OrdType.LIMIT, TimeInForce.DAY
    )
    oms.submit(order, 0)
    oms.on_execution_report(venue.ack(order), 1)
    oms.on_execution_report(venue.fill("C1", 100, liquidity=Liquidity.REMOVED), 2)
    oms.on_execution_report(venue.fill("C1", 200, liquidity=Liquidity.ADDED), 3)
    assert p.fees == 100 * 30 - 200 * 20
    assert p.venue_positions[("AAA", "V1")].fees == p.fees
    p.on_top_of_book(TopOfBook("AAA", 0, 1_000_100, 10, 1_000_400, 10))
    assert p.positions["AAA"].mark == 1_000_250
    assert p.unrealized == 300 * 250
    assert p.net_pnl == 300 * 250 - p.fees
    p.on_top_of_book(TopOfBook("AAA", 0, 1_000_100, 10, 0, 0))  # one side: that side
    assert p.positions["AAA"].mark == 1_000_100
    assert p.state()["positions"]["AAA"]["bought"] == 300
