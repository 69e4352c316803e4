"""Unit tests of the matching engine: each order type, priority rules, self-match prevention,
rejects, halts, and the records the gateway and the publisher will turn into wire messages."""

from __future__ import annotations

import pytest

from calarb.core.events import BookLevel
from calarb.core.order_events import CancelReject, ExecutionReport
from calarb.core.orders import ExecType, Liquidity
from calarb.core.types import Instrument, Side
from calarb.venue.matching import MatchingEngine
from calarb.venue.orders import (
    CancelReason,
    Execution,
    OrderAdded,
    OrderCancelled,
    OrderDeleted,
    OrderReplaced,
    OrdStatus,
    OrdType,
    RejectReason,
    SelfMatchPolicy,
    TimeInForce,
    TradingStatus,
)

BUY, SELL = Side.BUY, Side.SELL
P100 = 1_000_000  # 100.00
TICK = 100


@pytest.fixture
def engine() -> MatchingEngine:
    return MatchingEngine([Instrument("AAA", locate=1), Instrument("BBB", locate=2, lot_size=100)])


def drain(engine: MatchingEngine) -> tuple[list, list]:
    return engine.take_reports(), engine.take_book_events()


def test_limit_order_rests_with_new_report_and_add_event(engine: MatchingEngine) -> None:
    order_id = engine.submit(5, "alice", "c1", "AAA", BUY, 300, P100)
    reports, events = drain(engine)
    assert order_id == 1
    assert reports == [
        ExecutionReport(
            "", "c1", "1", "", ExecType.NEW, OrdStatus.NEW, "AAA", BUY, 300, P100, 0, 300, 0,
            0, 0, None, Liquidity.UNKNOWN, 5, "", "alice", OrdType.LIMIT, TimeInForce.DAY, 0, 0,
            None,
        )
    ]  # fmt: skip
    assert events == [OrderAdded(5, "AAA", 1, BUY, 300, P100, "alice")]
    assert engine.best_bid("AAA") == P100
    assert engine.best_ask("AAA") is None
    assert engine.live_quantity(order_id) == 300


def test_order_ids_increase_across_symbols(engine: MatchingEngine) -> None:
    ids = [
        engine.submit(1, "a", "x", "AAA", BUY, 1, P100),
        engine.submit(2, "a", "y", "BBB", BUY, 100, P100),
        engine.submit(3, "a", "z", "AAA", SELL, 1, P100 + TICK),
    ]
    assert ids == [1, 2, 3]


def test_crossing_limit_trades_at_resting_price_and_rests_remainder(engine) -> None:
    engine.submit(1, "alice", "a1", "AAA", SELL, 100, P100)
    engine.submit(2, "alice", "a2", "AAA", SELL, 100, P100 + TICK)
    drain(engine)
    buy_id = engine.submit(3, "bob", "b1", "AAA", BUY, 250, P100 + 2 * TICK)
    reports, events = drain(engine)
    trades = [r for r in reports if r.exec_type is ExecType.TRADE]
    # resting fills at its own price, then the aggressor's report for the same match
    assert [(r.participant, r.last_qty, r.last_px, r.match_number) for r in trades] == [
        ("alice", 100, P100, 1),
        ("bob", 100, P100, 1),
        ("alice", 100, P100 + TICK, 2),
        ("bob", 100, P100 + TICK, 2),
    ]
    last_bob = trades[-1]
    assert last_bob.ord_status is OrdStatus.PARTIALLY_FILLED
    assert (last_bob.cum_qty, last_bob.leaves_qty) == (200, 50)
    assert last_bob.cum_notional == 100 * P100 + 100 * (P100 + TICK)
    assert last_bob.average_price == P100 + TICK / 2
    assert trades[0].ord_status is OrdStatus.FILLED
    executions = [e for e in events if isinstance(e, Execution)]
    assert [(e.resting_order_id, e.aggressor_order_id, e.aggressor_side) for e in executions] == [
        (1, buy_id, BUY),
        (2, buy_id, BUY),
    ]
    assert events[-1] == OrderAdded(3, "AAA", buy_id, BUY, 50, P100 + 2 * TICK, "bob")
    assert engine.best_bid("AAA") == P100 + 2 * TICK and engine.best_ask("AAA") is None


def test_price_then_time_priority(engine: MatchingEngine) -> None:
    first = engine.submit(1, "a", "1", "AAA", BUY, 100, P100)
    second = engine.submit(2, "b", "2", "AAA", BUY, 100, P100)
    better = engine.submit(3, "c", "3", "AAA", BUY, 100, P100 + TICK)
    drain(engine)
    engine.submit(4, "d", "4", "AAA", SELL, 250, P100)
    executions = [e for e in engine.take_book_events() if isinstance(e, Execution)]
    assert [(e.resting_order_id, e.shares, e.price) for e in executions] == [
        (better, 100, P100 + TICK),
        (first, 100, P100),
        (second, 50, P100),
    ]
    assert engine.live_quantity(second) == 50


def test_long_queue_keeps_time_priority_through_fills_and_cancels(engine) -> None:
    """One price level far longer than its queue's front cut (32 passed orders), with enough
    cancels to compact it: fills and cancels interleaved keep strict time priority."""
    ids = [engine.submit(i, f"p{i % 7}", str(i), "AAA", BUY, 100, P100) for i in range(200)]
    kept = set(ids[:10] + ids[10:190:4] + ids[190:])
    for index, order_id in enumerate(ids):
        if order_id not in kept:
            assert engine.cancel(1_000, f"p{index % 7}", order_id)
    drain(engine)
    expected = [order_id for order_id in ids if order_id in kept]
    assert len(expected) == 65
    filled: list[int] = []
    for step in range(4):  # four sweeps of 1,550 shares: 15.5 orders each, across the cut
        engine.submit(2_000 + step, "taker", f"t{step}", "AAA", SELL, 1_550, P100)
        events = engine.take_book_events()
        filled += [e.resting_order_id for e in events if isinstance(e, Execution)]
    assert list(dict.fromkeys(filled)) == expected[:62]  # 6,200 shares: 62 whole orders
    assert all(engine.live_quantity(order_id) == 0 for order_id in expected[:62])
    assert [state.order_id for state in engine.resting_orders("AAA", BUY)] == expected[62:]
    assert engine.depth("AAA", BUY) == [BookLevel(P100, 300, 3)]
    engine.submit(3_000, "taker", "last", "AAA", SELL, 400, P100)
    assert engine.depth("AAA", BUY) == [] and engine.best_bid("AAA") is None


def test_market_order_sweeps_and_cancels_remainder(engine: MatchingEngine) -> None:
    engine.submit(1, "a", "1", "AAA", SELL, 100, P100)
    engine.submit(2, "a", "2", "AAA", SELL, 100, P100 + 5 * TICK)
    drain(engine)
    order_id = engine.submit(3, "b", "m", "AAA", BUY, 300, 0, OrdType.MARKET)
    reports, _ = drain(engine)
    assert [r.exec_type for r in reports] == [
        ExecType.NEW, ExecType.TRADE, ExecType.TRADE, ExecType.TRADE, ExecType.TRADE,
        ExecType.CANCELED,
    ]  # fmt: skip
    cancelled = reports[-1]
    assert cancelled.order_id == str(order_id)
    assert cancelled.reason is CancelReason.NO_LIQUIDITY
    assert (cancelled.cum_qty, cancelled.leaves_qty, cancelled.price) == (200, 0, 0)
    assert engine.live_quantity(order_id) == 0
    assert engine.best_ask("AAA") is None and engine.best_bid("AAA") is None


def test_market_order_on_empty_book_is_cancelled(engine: MatchingEngine) -> None:
    engine.submit(1, "b", "m", "AAA", SELL, 10, 0, OrdType.MARKET)
    reports, events = drain(engine)
    assert [r.exec_type for r in reports] == [ExecType.NEW, ExecType.CANCELED]
    assert events == []


def test_ioc_fills_what_it_can_and_never_rests(engine: MatchingEngine) -> None:
    engine.submit(1, "a", "1", "AAA", BUY, 100, P100)
    engine.submit(1, "a", "2", "AAA", BUY, 100, P100 - TICK)
    drain(engine)
    order_id = engine.submit(2, "b", "i", "AAA", SELL, 500, P100, time_in_force=TimeInForce.IOC)
    reports, events = drain(engine)
    assert [e.price for e in events if isinstance(e, Execution)] == [P100]  # limit respected
    assert reports[-1].exec_type is ExecType.CANCELED
    assert reports[-1].reason is CancelReason.IMMEDIATE_OR_CANCEL
    assert reports[-1].cum_qty == 100
    assert not any(isinstance(e, OrderAdded) for e in events)
    assert engine.live_quantity(order_id) == 0
    assert engine.best_ask("AAA") is None


def test_fok_kills_when_not_fully_fillable(engine: MatchingEngine) -> None:
    engine.submit(1, "a", "1", "AAA", SELL, 100, P100)
    engine.submit(1, "a", "2", "AAA", SELL, 100, P100 + TICK)
    drain(engine)
    engine.submit(2, "b", "f", "AAA", BUY, 201, P100 + TICK, time_in_force=TimeInForce.FOK)
    reports, events = drain(engine)
    assert [r.exec_type for r in reports] == [ExecType.NEW, ExecType.CANCELED]
    assert reports[-1].reason is CancelReason.FILL_OR_KILL
    assert events == []  # the book is untouched
    assert [level.shares for level in engine.depth("AAA", SELL)] == [100, 100]


def test_fok_fills_in_full_across_levels(engine: MatchingEngine) -> None:
    engine.submit(1, "a", "1", "AAA", SELL, 100, P100)
    engine.submit(1, "a", "2", "AAA", SELL, 100, P100 + TICK)
    drain(engine)
    engine.submit(2, "b", "f", "AAA", BUY, 200, P100 + TICK, time_in_force=TimeInForce.FOK)
    reports, _ = drain(engine)
    assert reports[-1].exec_type is ExecType.TRADE
    assert reports[-1].ord_status is OrdStatus.FILLED
    assert reports[-1].cum_qty == 200
    assert engine.depth("AAA", SELL) == []


def test_cancel_reports_and_deletes(engine: MatchingEngine) -> None:
    order_id = engine.submit(1, "a", "c1", "AAA", BUY, 100, P100)
    drain(engine)
    assert engine.cancel(2, "a", order_id, "c2")
    reports, events = drain(engine)
    assert events == [OrderDeleted(2, "AAA", order_id)]
    (report,) = reports
    assert report.exec_type is ExecType.CANCELED and report.ord_status is OrdStatus.CANCELED
    assert (report.cl_ord_id, report.orig_cl_ord_id) == ("c2", "c1")
    assert report.reason is CancelReason.REQUESTED
    assert engine.best_bid("AAA") is None


def test_cancel_of_unknown_filled_or_foreign_order_is_rejected(engine: MatchingEngine) -> None:
    order_id = engine.submit(1, "a", "c1", "AAA", BUY, 100, P100)
    drain(engine)
    assert not engine.cancel(2, "mallory", order_id, "x")  # not hers
    (foreign,) = engine.take_reports()
    assert engine.live_quantity(order_id) == 100
    assert not engine.cancel(2, "a", 999, "y")  # never existed
    (unknown,) = engine.take_reports()
    engine.submit(3, "b", "s", "AAA", SELL, 100, P100)  # fills it
    drain(engine)
    assert not engine.cancel(4, "a", order_id, "z")  # too late
    (filled,) = engine.take_reports()
    for reject, client_order_id in ((foreign, "x"), (unknown, "y"), (filled, "z")):
        assert isinstance(reject, CancelReject)
        assert reject.reason is RejectReason.UNKNOWN_ORDER
        assert not reject.response_to_replace  # a cancel's
        assert reject.ord_status is OrdStatus.REJECTED
        assert reject.cl_ord_id == client_order_id
    assert foreign.orig_cl_ord_id == ""  # another participant's ids are not leaked
    assert engine.take_book_events() == []


def test_replace_size_decrease_keeps_priority(engine: MatchingEngine) -> None:
    first = engine.submit(1, "a", "a1", "AAA", BUY, 300, P100)
    second = engine.submit(2, "b", "b1", "AAA", BUY, 100, P100)
    drain(engine)
    assert engine.replace(3, "a", first, "a2", 200, P100) == first
    reports, events = drain(engine)
    assert events == [OrderCancelled(3, "AAA", first, 100)]
    (report,) = reports
    assert report.exec_type is ExecType.REPLACED
    assert (report.order_id, report.order_qty, report.leaves_qty) == (str(first), 200, 200)
    assert (report.cl_ord_id, report.orig_cl_ord_id) == ("a2", "a1")
    engine.submit(4, "c", "s", "AAA", SELL, 200, P100)
    executions = [e for e in engine.take_book_events() if isinstance(e, Execution)]
    assert [e.resting_order_id for e in executions] == [first]
    assert engine.live_quantity(second) == 100


def test_replace_size_increase_loses_priority(engine: MatchingEngine) -> None:
    first = engine.submit(1, "a", "a1", "AAA", BUY, 100, P100)
    second = engine.submit(2, "b", "b1", "AAA", BUY, 100, P100)
    drain(engine)
    moved = engine.replace(3, "a", first, "a2", 150, P100)
    assert moved not in (first, second) and moved > second
    _, events = drain(engine)
    assert events == [OrderReplaced(3, "AAA", first, moved, 150, P100)]
    assert engine.live_quantity(first) == 0
    engine.submit(4, "c", "s", "AAA", SELL, 100, P100)
    executions = [e for e in engine.take_book_events() if isinstance(e, Execution)]
    assert [e.resting_order_id for e in executions] == [second]


def test_replace_price_change_loses_priority_and_keeps_fills(engine: MatchingEngine) -> None:
    order_id = engine.submit(1, "a", "a1", "AAA", BUY, 300, P100)
    engine.submit(2, "b", "s", "AAA", SELL, 100, P100)
    drain(engine)
    moved = engine.replace(3, "a", order_id, "a2", 300, P100 - TICK)
    reports, events = drain(engine)
    assert events == [OrderReplaced(3, "AAA", order_id, moved, 200, P100 - TICK)]
    (report,) = reports
    assert report.ord_status is OrdStatus.PARTIALLY_FILLED
    assert (report.cum_qty, report.leaves_qty, report.cum_notional) == (100, 200, 100 * P100)
    assert engine.order(moved).price == P100 - TICK


def test_marketable_replace_deletes_matches_then_adds(engine: MatchingEngine) -> None:
    engine.submit(1, "b", "s", "AAA", SELL, 100, P100 + TICK)
    order_id = engine.submit(2, "a", "a1", "AAA", BUY, 300, P100)
    drain(engine)
    moved = engine.replace(3, "a", order_id, "a2", 300, P100 + TICK)
    reports, events = drain(engine)
    assert [type(e) for e in events] == [OrderDeleted, Execution, OrderAdded]
    assert events[0].order_id == order_id
    assert events[1].aggressor_order_id == moved and events[1].aggressor_side is BUY
    assert events[2] == OrderAdded(3, "AAA", moved, BUY, 200, P100 + TICK, "a")
    assert [r.exec_type for r in reports if r.participant == "a"] == [
        ExecType.REPLACED,
        ExecType.TRADE,
    ]
    assert engine.best_bid("AAA") == P100 + TICK and engine.best_ask("AAA") is None


def test_replace_rejects(engine: MatchingEngine) -> None:
    order_id = engine.submit(1, "a", "a1", "AAA", BUY, 300, P100)
    engine.submit(2, "b", "s", "AAA", SELL, 100, P100)
    drain(engine)
    assert engine.replace(3, "a", order_id, "a2", 100, P100) == 0  # not above filled 100
    assert engine.replace(3, "a", order_id, "a3", 300, P100 + 1) == 0  # off tick
    assert engine.replace(3, "b", order_id, "a4", 300, P100) == 0  # not b's order
    reports = engine.take_reports()
    assert [r.reason for r in reports] == [
        RejectReason.TOO_LATE,
        RejectReason.BAD_PRICE,
        RejectReason.UNKNOWN_ORDER,
    ]
    assert all(r.response_to_replace for r in reports)
    assert reports[0].ord_status is OrdStatus.PARTIALLY_FILLED
    assert reports[0].orig_cl_ord_id == "a1"
    assert engine.live_quantity(order_id) == 200  # untouched


@pytest.mark.parametrize(
    ("policy", "resting_left", "incoming_filled", "incoming_rests"),
    [
        (SelfMatchPolicy.CANCEL_RESTING, False, 100, True),
        (SelfMatchPolicy.CANCEL_INCOMING, True, 0, False),
        (SelfMatchPolicy.CANCEL_BOTH, False, 0, False),
    ],
)
def test_self_match_prevention(policy, resting_left, incoming_filled, incoming_rests) -> None:
    engine = MatchingEngine([Instrument("AAA")], self_match_policy=policy)
    own = engine.submit(1, "a", "own", "AAA", SELL, 100, P100)
    other = engine.submit(2, "b", "other", "AAA", SELL, 100, P100)
    engine.take_reports()
    incoming = engine.submit(3, "a", "in", "AAA", BUY, 200, P100)
    reports = engine.take_reports()
    executions = [e for e in engine.take_book_events() if isinstance(e, Execution)]
    assert all(e.resting_participant != e.aggressor_participant for e in executions)
    assert (engine.live_quantity(own) > 0) is resting_left
    assert sum(e.shares for e in executions) == incoming_filled
    assert engine.live_quantity(other) == 100 - incoming_filled
    assert (engine.live_quantity(incoming) > 0) is incoming_rests
    self_match = [r for r in reports if r.reason is CancelReason.SELF_MATCH]
    expected = {
        SelfMatchPolicy.CANCEL_RESTING: ["own"],
        SelfMatchPolicy.CANCEL_INCOMING: ["in"],
        SelfMatchPolicy.CANCEL_BOTH: ["own", "in"],
    }[policy]
    assert [r.cl_ord_id for r in self_match] == expected


def test_self_match_policy_per_participant() -> None:
    engine = MatchingEngine([Instrument("AAA")])
    engine.set_self_match_policy("a", SelfMatchPolicy.CANCEL_INCOMING)
    own = engine.submit(1, "a", "own", "AAA", SELL, 100, P100)
    engine.submit(2, "a", "in", "AAA", BUY, 100, P100)
    assert engine.live_quantity(own) == 100
    b_own = engine.submit(3, "b", "own", "AAA", BUY, 100, P100 - TICK)
    engine.submit(4, "b", "in", "AAA", SELL, 100, P100 - TICK)
    assert engine.live_quantity(b_own) == 0  # default policy: cancel resting


def test_fok_self_match_counts_only_tradeable_quantity() -> None:
    engine = MatchingEngine([Instrument("AAA")])
    own = engine.submit(1, "a", "own", "AAA", SELL, 100, P100)
    engine.submit(2, "b", "other", "AAA", SELL, 100, P100)
    engine.submit(3, "a", "f", "AAA", BUY, 200, P100, time_in_force=TimeInForce.FOK)
    reports = engine.take_reports()
    assert reports[-1].reason is CancelReason.FILL_OR_KILL
    assert engine.live_quantity(own) == 100  # a killed FOK cancels nothing


@pytest.mark.parametrize(
    ("symbol", "quantity", "price", "reason"),
    [
        ("ZZZ", 100, P100, RejectReason.UNKNOWN_SYMBOL),
        ("AAA", 100, P100 + 50, RejectReason.BAD_PRICE),
        ("AAA", 100, 0, RejectReason.BAD_PRICE),
        ("AAA", 100, -TICK, RejectReason.BAD_PRICE),
        ("AAA", 0, P100, RejectReason.BAD_QUANTITY),
        ("AAA", -5, P100, RejectReason.BAD_QUANTITY),
        ("BBB", 150, P100, RejectReason.BAD_QUANTITY),  # lot 100
    ],
)
def test_new_order_rejects(engine, symbol, quantity, price, reason) -> None:
    assert engine.submit(7, "a", "c", symbol, BUY, quantity, price) == 0
    reports, events = drain(engine)
    (report,) = reports
    assert report.exec_type is ExecType.REJECTED and report.ord_status is OrdStatus.REJECTED
    assert report.reason is reason
    assert report.order_id == "" and report.cl_ord_id == "c" and report.transact_time_ns == 7
    assert symbol in report.text
    assert events == []
    assert engine.submit(8, "a", "next", "AAA", BUY, 100, P100) == 1  # no id was used


@pytest.mark.parametrize(
    ("side", "order_type", "time_in_force"),
    [
        (1, OrdType.LIMIT, TimeInForce.DAY),  # a bare int, not a Side
        (BUY, "2", TimeInForce.DAY),  # a FIX code not parsed into OrdType
        (BUY, OrdType.LIMIT, "GTC"),
    ],
)
def test_unsupported_side_type_or_time_in_force_is_rejected(
    engine, side, order_type, time_in_force
) -> None:
    assert engine.submit(1, "a", "c", "AAA", side, 100, P100, order_type, time_in_force) == 0
    (report,) = engine.take_reports()
    assert report.reason is RejectReason.BAD_ORDER and report.order_id == ""
    assert engine.take_book_events() == []


def test_float_price_is_rejected_not_truncated(engine: MatchingEngine) -> None:
    assert engine.submit(1, "a", "c", "AAA", BUY, 100, 100.0) == 0
    assert engine.take_reports()[0].reason is RejectReason.BAD_PRICE


def test_halt_and_resume(engine: MatchingEngine) -> None:
    resting = engine.submit(1, "a", "r", "AAA", BUY, 100, P100)
    drain(engine)
    engine.halt(2, "AAA", "news pending")
    assert engine.is_halted("AAA")
    assert engine.submit(3, "b", "x", "AAA", SELL, 100, P100) == 0
    assert engine.replace(3, "a", resting, "r2", 50, P100) == 0
    assert engine.submit(3, "b", "y", "BBB", SELL, 100, P100) != 0  # other symbols trade
    assert engine.cancel(4, "a", resting, "r3")  # cancels are allowed
    engine.resume(5, "AAA")
    assert engine.submit(6, "b", "z", "AAA", SELL, 100, P100) != 0
    reports, events = drain(engine)
    assert reports[0].reason is RejectReason.HALTED
    assert reports[1].reason is RejectReason.HALTED and isinstance(reports[1], CancelReject)
    statuses = [e for e in events if isinstance(e, TradingStatus)]
    assert statuses == [
        TradingStatus(2, "AAA", True, "news pending"),
        TradingStatus(5, "AAA", False, ""),
    ]
    with pytest.raises(KeyError, match="ZZZ"):
        engine.halt(1, "ZZZ")


def test_hidden_orders_trade_but_are_not_published(engine: MatchingEngine) -> None:
    hidden = engine.submit(1, "a", "h", "AAA", SELL, 100, P100, displayed=False)
    shown = engine.submit(2, "a", "s", "AAA", SELL, 100, P100)
    _, events = drain(engine)
    assert [e.order_id for e in events] == [shown]
    assert engine.depth("AAA", SELL) == [BookLevel(P100, 100, 1)]
    assert engine.depth("AAA", SELL, displayed_only=False) == [BookLevel(P100, 200, 2)]
    engine.submit(3, "b", "t", "AAA", BUY, 150, P100)
    executions = [e for e in engine.take_book_events() if isinstance(e, Execution)]
    assert [(e.resting_order_id, e.resting_displayed, e.shares) for e in executions] == [
        (hidden, False, 100),
        (shown, True, 50),
    ]


def test_top_of_book_and_depth(engine: MatchingEngine) -> None:
    engine.submit(1, "a", "1", "AAA", BUY, 100, P100)
    engine.submit(1, "b", "2", "AAA", BUY, 200, P100)
    engine.submit(1, "a", "3", "AAA", BUY, 300, P100 - TICK)
    engine.submit(1, "a", "4", "AAA", SELL, 400, P100 + 3 * TICK)
    top = engine.top_of_book("AAA", 9)
    assert (top.bid_price, top.bid_shares, top.ask_price, top.ask_shares) == (
        P100,
        300,
        P100 + 3 * TICK,
        400,
    )
    assert not top.crossed
    assert engine.depth("AAA", BUY) == [BookLevel(P100, 300, 2), BookLevel(P100 - TICK, 300, 1)]
    assert engine.depth("AAA", BUY, max_levels=1) == [BookLevel(P100, 300, 2)]
    assert [o.client_order_id for o in engine.resting_orders("AAA", BUY)] == ["1", "2", "3"]


def test_duplicate_instrument_is_refused() -> None:
    with pytest.raises(ValueError, match="AAA"):
        MatchingEngine([Instrument("AAA"), Instrument("AAA")])


def test_many_cancels_on_one_level_keep_the_queue_compact() -> None:
    engine = MatchingEngine([Instrument("AAA")])
    ids = [engine.submit(i, "a", str(i), "AAA", BUY, 1, P100) for i in range(200)]
    for order_id in ids[1:-1]:
        engine.cancel(1, "a", order_id)
    assert engine.depth("AAA", BUY) == [BookLevel(P100, 2, 2)]
    engine.submit(2, "b", "s", "AAA", SELL, 2, P100)
    executions = [e for e in engine.take_book_events() if isinstance(e, Execution)]
    assert [e.resting_order_id for e in executions] == [ids[0], ids[-1]]
    assert engine.best_bid("AAA") is None and engine.open_order_count == 0
