from __future__ import annotations

import pytest

from calarb.core.events import BookLevel, TopOfBook
from calarb.core.types import Side
from calarb.trading.orders import OrderIntent, TimeInForce, VenueFees
from calarb.trading.router import LegReason, Router, SkipReason


def router(**kw):
    return Router(
        [
            ("A", VenueFees(taker=30, maker=-20)),
            ("B", VenueFees(taker=10, maker=-5)),
            ("C", VenueFees(taker=30, maker=-30)),
        ],
        **kw,
    )


def top(ask, ask_size, bid=990_000, bid_size=100):
    return TopOfBook("AAA", 0, bid, bid_size, ask, ask_size)


def buy(qty, price=1_000_000, tif=TimeInForce.DAY):
    return OrderIntent("P1", "AAA", Side.BUY, qty, price, time_in_force=tif)


def test_a_size_source_delivers_the_sizes_before_each_route():
    class HeldBack:
        """Sizes held back until the router asks (as the fast replay does)."""

        def __init__(self):
            self.router: Router | None = None
            self.asked: list[str] = []

        def deliver_sizes(self, symbol: str) -> None:
            self.asked.append(symbol)
            self.router.on_top_of_book("B", top(999_900, 300))

    source = HeldBack()
    r = source.router = router(size_source=source)
    decision = r.route(buy(200))
    assert source.asked == ["AAA"]
    assert [(o.venue, o.quantity, o.price) for o in decision.orders] == [("B", 200, 1_000_000)]
    assert decision.legs[0].reason is LegReason.TAKE_DISPLAYED
    passive = router().route(buy(200))  # sizes pushed (the default): nothing displayed here
    assert passive.legs[0].reason is LegReason.PASSIVE


def test_best_price_first_then_split():
    r = router()
    r.on_top_of_book("A", top(1_000_000, 300))
    r.on_top_of_book("B", top(999_900, 200))  # better price
    r.on_top_of_book("C", top(1_000_100, 900))  # above the limit
    decision = r.route(buy(450))
    assert [(o.venue, o.quantity) for o in decision.orders] == [("B", 200), ("A", 250)]
    assert [o.cl_ord_id for o in decision.orders] == ["P1.1", "P1.2"]
    assert all(o.parent_id == "P1" and o.price == 1_000_000 for o in decision.orders)
    assert decision.legs[0].reason is LegReason.TAKE_DISPLAYED and decision.legs[0].displayed == 200
    assert ("C", SkipReason.NO_LIQUIDITY_AT_PRICE) in decision.skipped
    assert r.splits == 1


def test_same_price_prefers_cheaper_all_in_cost_and_latency_matters():
    r = router(latency_cost_per_ms=10)
    for venue in "ABC":
        r.on_top_of_book(venue, top(1_000_000, 100))
    assert r.route(buy(100)).orders[0].venue == "B"  # 10 per share taker
    for _ in range(30):
        r.on_round_trip("B", 5_000_000)  # B becomes slow: 5 ms -> 50 per share
    assert r.venues["B"].latency_ns > 4_900_000
    assert r.route(buy(100)).orders[0].venue in ("A", "C")


def test_remainder_rests_at_cheapest_maker_venue_and_passive_orders():
    r = router()
    r.on_top_of_book("A", top(1_000_000, 100))
    decision = r.route(buy(250))
    assert [(leg.venue, leg.quantity, leg.reason) for leg in decision.legs] == [
        ("A", 100, LegReason.TAKE_DISPLAYED),
        ("C", 150, LegReason.REST_REMAINDER),  # C pays the best rebate
    ]
    passive = r.route(buy(100, price=980_000))
    assert [(leg.venue, leg.reason) for leg in passive.legs] == [("C", LegReason.PASSIVE)]
    ioc = r.route(buy(250, tif=TimeInForce.IOC))
    assert [(leg.venue, leg.quantity) for leg in ioc.legs] == [("A", 250)]


def test_routes_around_disconnected_venue_and_levels():
    r = router()
    r.on_levels(
        "A",
        "AAA",
        [BookLevel(990_000, 50, 1)],
        [BookLevel(999_800, 100, 1), BookLevel(1_000_000, 200, 2), BookLevel(1_000_200, 500, 1)],
    )
    r.on_top_of_book("B", top(999_700, 100))
    r.set_connected("B", False)
    decision = r.route(buy(300))
    assert [(o.venue, o.quantity) for o in decision.orders] == [("A", 300)]
    assert decision.legs[0].displayed == 300 and decision.legs[0].best_price == 999_800
    assert ("B", SkipReason.DISCONNECTED) in decision.skipped
    for name in "AC":
        r.set_connected(name, False)
    nothing = r.route(buy(300))
    assert nothing.orders == () and nothing.unrouted == 300
    r.set_connected("B", True)
    back = r.route(buy(300))
    assert [(o.venue, o.quantity) for o in back.orders] == [("B", 300)]  # book was cleared
    assert back.legs[0].reason is LegReason.PASSIVE


def test_sell_side_and_max_children():
    r = router(max_children=2)
    for venue, price in (("A", 1_000_000), ("B", 1_000_100), ("C", 1_000_200)):
        r.on_top_of_book(venue, TopOfBook("AAA", 0, price, 100, price + 100, 100))
    decision = r.route(OrderIntent("S1", "AAA", Side.SELL, 300, 1_000_000))
    # C bids best; with at most 2 children B is not taken, the remainder rests at C (best rebate)
    assert [(leg.venue, leg.quantity, leg.reason) for leg in decision.legs] == [
        ("C", 300, LegReason.TAKE_DISPLAYED)
    ]
    assert ("B", SkipReason.MAX_CHILDREN) in decision.skipped
    r3 = router(max_children=3)
    for venue, price in (("A", 1_000_000), ("B", 1_000_100), ("C", 1_000_200)):
        r3.on_top_of_book(venue, TopOfBook("AAA", 0, price, 100, price + 100, 100))
    decision = r3.route(OrderIntent("S1", "AAA", Side.SELL, 300, 1_000_000))
    assert [(o.venue, o.quantity) for o in decision.orders] == [("C", 100), ("B", 100), ("A", 100)]


def test_unknown_venue_is_a_clear_error():
    with pytest.raises(KeyError, match="unknown venue 'Z'"):
        router().on_round_trip("Z", 1)
