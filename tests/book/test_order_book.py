"""OrderBook: L3 operations, L2 levels, priority, crossed/locked, errors, invariants."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from calarb.book.order_book import (
    BookSnapshot,
    DuplicateOrderError,
    InvalidOrderError,
    OrderBook,
    OverExecutionError,
    RestingOrder,
    UnknownOrderError,
)
from calarb.core.events import BookLevel, TopOfBook
from calarb.core.types import Side

BUY, SELL = Side.BUY, Side.SELL


def make_book() -> OrderBook:
    book = OrderBook("TEST")
    book.add(1, BUY, 100_0000, 100)
    book.add(2, BUY, 100_0000, 200)
    book.add(3, BUY, 99_9900, 300)
    book.add(4, SELL, 100_0100, 50)
    book.add(5, SELL, 100_0200, 70)
    book.add(6, SELL, 100_0100, 25)
    return book


def test_levels_best_first_with_order_counts():
    book = make_book()
    assert book.best_bid == BookLevel(100_0000, 300, 2)
    assert book.best_ask == BookLevel(100_0100, 75, 2)
    assert book.levels(BUY, 5) == [BookLevel(100_0000, 300, 2), BookLevel(99_9900, 300, 1)]
    assert book.levels(SELL, 1) == [BookLevel(100_0100, 75, 2)]
    assert book.levels(SELL) == [BookLevel(100_0100, 75, 2), BookLevel(100_0200, 70, 1)]
    assert book.levels(SELL, 0) == []
    assert book.level_count(BUY) == 2
    assert book.level(SELL, 100_0200) == BookLevel(100_0200, 70, 1)
    assert book.level(SELL, 100_0300) is None
    assert len(book) == 6
    assert book.top_of_book(42) == TopOfBook("TEST", 42, 100_0000, 300, 100_0100, 75)
    assert book.snapshot(1, 7) == BookSnapshot(
        "TEST", 7, [BookLevel(100_0000, 300, 2)], [BookLevel(100_0100, 75, 2)]
    )


def test_execute_cancel_delete_update_levels_and_return_price_and_side():
    book = make_book()
    assert book.execute(1, 40) == (100_0000, BUY)
    assert book.order(1) == RestingOrder(1, BUY, 100_0000, 60)
    assert book.best_bid == BookLevel(100_0000, 260, 2)
    assert book.cancel(2, 200) == (100_0000, BUY)  # cancelling all that is left removes it
    assert 2 not in book
    assert book.best_bid == BookLevel(100_0000, 60, 1)
    assert book.delete(1) == (100_0000, BUY)
    assert book.best_bid == BookLevel(99_9900, 300, 1)  # the level is gone
    assert book.execute(5, 70) == (100_0200, SELL)
    assert book.levels(SELL) == [BookLevel(100_0100, 75, 2)]
    book.check_invariants()


def test_partial_execution_keeps_priority_replace_loses_it():
    book = make_book()
    book.execute(1, 10)
    assert book.queue(BUY, 100_0000) == [1, 2]  # a partial fill keeps the order's place
    assert book.replace(1, 11, 90, 100_0000) == BUY  # same price and size, new reference
    assert book.queue(BUY, 100_0000) == [2, 11]  # ... but at the back of the queue
    assert book.order(11) == RestingOrder(11, BUY, 100_0000, 90)
    assert book.order(1) is None
    assert book.level(BUY, 100_0000) == BookLevel(100_0000, 290, 2)
    book.replace(4, 12, 10, 100_0200)  # moving to another level keeps the side
    assert book.best_ask == BookLevel(100_0100, 25, 1)
    assert book.level(SELL, 100_0200) == BookLevel(100_0200, 80, 2)
    assert book.queue(SELL, 100_0200) == [5, 12]
    book.check_invariants()


def test_crossed_and_locked():
    book = OrderBook("X")
    assert not book.crossed and not book.locked
    book.add(1, BUY, 100, 10)
    assert not book.crossed and not book.locked  # one side only
    book.add(2, SELL, 101, 10)
    assert not book.crossed and not book.locked
    book.add(3, SELL, 100, 10)
    assert book.locked and not book.crossed
    assert book.top_of_book().locked
    book.add(4, SELL, 99, 10)
    assert book.crossed and not book.locked
    assert book.top_of_book().crossed


@pytest.mark.parametrize(
    ("operation", "error"),
    [
        (lambda b: b.add(1, BUY, 100, 10), DuplicateOrderError),
        (lambda b: b.add(9, BUY, 100, 0), InvalidOrderError),
        (lambda b: b.add(9, BUY, 0, 10), InvalidOrderError),
        (lambda b: b.add(9, 0, 100, 10), InvalidOrderError),
        (lambda b: b.execute(99, 1), UnknownOrderError),
        (lambda b: b.execute(1, 101), OverExecutionError),
        (lambda b: b.execute(1, 0), OverExecutionError),
        (lambda b: b.cancel(1, 101), OverExecutionError),
        (lambda b: b.cancel(99, 1), UnknownOrderError),
        (lambda b: b.delete(99), UnknownOrderError),
        (lambda b: b.replace(99, 100, 10, 100), UnknownOrderError),
        (lambda b: b.replace(1, 2, 10, 100), DuplicateOrderError),
        (lambda b: b.replace(1, 100, 0, 100), InvalidOrderError),
    ],
)
def test_invalid_operations_raise_and_leave_the_book_unchanged(operation, error):
    book = make_book()
    before = make_book()
    with pytest.raises(error) as info:
        operation(book)
    assert "TEST" in str(info.value)  # the error names the symbol and the order
    assert book == before
    book.check_invariants()


def test_empty_side_top_of_book_is_zero():
    book = OrderBook("E")
    book.add(1, SELL, 500, 3)
    assert book.top_of_book() == TopOfBook("E", 0, 0, 0, 500, 3)
    assert book.best_bid is None


def test_poll_top_change_reports_only_changes():
    book = OrderBook("P")
    assert book.poll_top_change(1) is None  # empty book, nothing reported yet
    book.add(1, BUY, 100, 10)
    assert book.poll_top_change(2) == TopOfBook("P", 2, 100, 10, 0, 0)
    book.add(2, BUY, 99, 10)  # behind the best bid
    assert book.poll_top_change(3) is None
    book.replace(1, 3, 10, 100)  # same price and size: the top did not change
    assert book.poll_top_change(4) is None
    book.cancel(3, 4)
    assert book.poll_top_change(5) == TopOfBook("P", 5, 100, 6, 0, 0)


# --------------------------------------------------------------------------- properties

PRICES = st.integers(min_value=1, max_value=40)


@st.composite
def operation_streams(draw):
    """Valid operation sequences: adds (buys at 1..20, sells at 21..40, so never crossed),
    then executions, cancels, deletes and replaces of live orders."""
    live: dict[int, tuple[int, int, int]] = {}  # ref -> side, price, shares
    next_ref = 1
    ops = []
    for _ in range(draw(st.integers(min_value=1, max_value=80))):
        kind = draw(st.sampled_from("AAAEXDU")) if live else "A"
        if kind == "A":
            side = draw(st.sampled_from([1, -1]))
            price = draw(st.integers(1, 20)) if side == 1 else draw(st.integers(21, 40))
            shares = draw(st.integers(1, 500))
            ops.append(("add", next_ref, side, price, shares))
            live[next_ref] = (side, price, shares)
            next_ref += 1
            continue
        ref = draw(st.sampled_from(sorted(live)))
        side, price, shares = live[ref]
        if kind in "EX":
            amount = draw(st.integers(1, shares))
            ops.append(("execute" if kind == "E" else "cancel", ref, amount))
            if amount == shares:
                del live[ref]
            else:
                live[ref] = (side, price, shares - amount)
        elif kind == "D":
            ops.append(("delete", ref))
            del live[ref]
        else:
            price = draw(st.integers(1, 20)) if side == 1 else draw(st.integers(21, 40))
            shares = draw(st.integers(1, 500))
            ops.append(("replace", ref, next_ref, shares, price))
            del live[ref]
            live[next_ref] = (side, price, shares)
            next_ref += 1
    return ops, live


@settings(max_examples=200, deadline=None)
@given(operation_streams())
def test_levels_always_equal_the_sum_of_live_orders(stream):
    ops, live = stream
    book = OrderBook("H")
    for op in ops:
        getattr(book, op[0])(*op[1:])
        book.check_invariants()
        bid, ask = book.best_bid, book.best_ask
        if bid is not None and ask is not None:
            assert bid.price < ask.price
        assert not book.crossed and not book.locked
    assert {o.ref: (int(o.side), o.price, o.shares) for o in book.orders()} == live
    for side in (BUY, SELL):
        expected: dict[int, list[int]] = {}
        for s, price, shares in live.values():
            if s == side:
                expected.setdefault(price, [0, 0])
                expected[price][0] += shares
                expected[price][1] += 1
        best_first = sorted(expected, reverse=side == BUY)
        assert book.levels(side) == [BookLevel(p, *expected[p]) for p in best_first]
        assert sum(level.shares for level in book.levels(side)) == sum(
            shares for s, _, shares in live.values() if s == side
        )


@settings(max_examples=100, deadline=None)
@given(operation_streams(), st.data())
def test_a_rejected_operation_never_changes_the_book(stream, data):
    ops, live = stream
    book = OrderBook("R")
    for op in ops:
        getattr(book, op[0])(*op[1:])
    refs = sorted(live) or [1]
    ref = data.draw(st.sampled_from(refs))
    left = live[ref][2] if ref in live else 0
    bad = data.draw(
        st.sampled_from(
            [
                ("execute", 10_000, 1),
                ("execute", ref, left + 1),
                ("cancel", ref, left + 1),
                ("delete", 10_000),
                ("add", ref, 1, 5, 10) if ref in live else ("add", 10_001, 1, 5, 0),
            ]
        )
    )
    snapshot = (book.orders(), book.levels(BUY), book.levels(SELL))
    with pytest.raises(
        (UnknownOrderError, OverExecutionError, DuplicateOrderError, InvalidOrderError)
    ):
        getattr(book, bad[0])(*bad[1:])
    assert (book.orders(), book.levels(BUY), book.levels(SELL)) == snapshot
    book.check_invariants()


def test_feed_operations_say_when_the_change_was_at_the_touch():
    book = make_book()  # bids 100.00 (refs 1, 2), 99.99 (3); asks 100.01 (4, 6), 100.02 (5)
    assert book.add(7, BUY, 99_9900, 10) is False  # behind the best bid
    assert book.add(8, BUY, 100_0000, 10) is True  # joins the best bid
    assert book.add(9, SELL, 100_0050, 10) is True  # a new best ask
    assert book.execute_order(3, 10) is False
    assert book.cancel_order(5, 10) is False
    assert book.cancel_order(9, 0) is False  # nothing cancelled
    assert book.cancel_order(9, 4) is True
    assert book.delete_order(9) is True  # the best ask level goes
    assert book.delete_order(7) is False
    assert book.replace_order(3, 10, 5, 99_9800) is False  # both prices behind the best
    assert book.replace_order(10, 11, 5, 100_0000) is True  # onto the best
    assert book.replace_order(6, 12, 5, 100_0300) is True  # off the best
    book.check_invariants()


FEED_OPERATIONS = {
    "add": "add",
    "execute": "execute_order",
    "cancel": "cancel_order",
    "delete": "delete_order",
    "replace": "replace_order",
}


@settings(max_examples=200, deadline=None)
@given(operation_streams())
def test_a_feed_operation_that_moves_the_top_says_so(stream):
    ops, _ = stream
    book = OrderBook("T")
    reference = OrderBook("T")
    for op in ops:
        before = book.top_of_book()
        touched = getattr(book, FEED_OPERATIONS[op[0]])(*op[1:])
        getattr(reference, op[0])(*op[1:])
        assert touched or book.top_of_book() == before
        book.check_invariants()
    assert book == reference
