"""The peer runners (NautilusTrader, hftbacktest) replay every book change of an ITCH file and
end with the same books as calarb's own replay."""

from __future__ import annotations

import numpy as np
import pytest

from calarb.backtest.peers import (
    ADD,
    CANCEL,
    DELETE,
    EXECUTE,
    book_actions,
    hftbacktest_events,
    nautilus_deltas,
    run_hftbacktest,
    run_nautilus,
)
from calarb.book.bulk import final_books
from calarb.itch.codec import encode_framed
from calarb.itch.generate import generate_itch_file
from calarb.itch.messages import AddOrder, OrderCancel, OrderDelete, OrderExecuted, OrderReplace

DEPTH = 10

HAND_MADE = [
    AddOrder(1, 0, 1_000, 10, "S", 300, "AAAA", 1_000_500),
    AddOrder(2, 0, 2_000, 11, "B", 200, "BBBB", 1_000_000),
    OrderExecuted(1, 0, 3_000, 10, 100, 1),
    OrderCancel(1, 0, 4_000, 10, 50),
    OrderReplace(1, 0, 5_000, 10, 12, 400, 1_000_400),
    OrderDelete(1, 0, 6_000, 99),  # never added
    OrderExecuted(2, 0, 7_000, 11, 200, 2),  # the whole order
    OrderDelete(2, 0, 8_000, 11),  # no longer live
    OrderDelete(1, 0, 9_000, 12),
]


@pytest.fixture(scope="module")
def hand_made(tmp_path_factory):
    path = tmp_path_factory.mktemp("peers") / "hand.itch"
    path.write_bytes(b"".join(encode_framed(message) for message in HAND_MADE))
    return book_actions(path)


@pytest.fixture(scope="module")
def generated(tmp_path_factory):
    path = tmp_path_factory.mktemp("peers") / "market.itch"
    summary = generate_itch_file(path, 20_000, 4, seed=5)
    return path, summary["by_type"]


def test_book_actions_follow_each_order(hand_made) -> None:
    a = hand_made
    assert a.action.tolist() == [ADD, ADD, EXECUTE, CANCEL, DELETE, ADD, EXECUTE, DELETE]
    assert a.reference.tolist() == [10, 11, 10, 10, 10, 12, 11, 12]
    assert a.locate.tolist() == [1, 2, 1, 1, 1, 1, 2, 1]
    assert a.side.tolist() == [1, 0, 1, 1, 1, 1, 0, 1]  # the replacing order stays a sell
    assert a.price.tolist() == [1_000_500, 1_000_000, 1_000_500, 1_000_500, 1_000_500,
                                1_000_400, 1_000_000, 1_000_400]  # fmt: skip
    assert a.shares.tolist() == [300, 200, 100, 50, 150, 400, 200, 400]
    assert a.remaining.tolist() == [300, 200, 200, 150, 0, 400, 0, 0]
    assert a.last.tolist() == [True, True, True, True, False, True, True, True]
    assert a.timestamp.tolist() == [1_000, 2_000, 3_000, 4_000, 5_000, 5_000, 7_000, 9_000]
    assert a.unknown_references == 2
    assert a.order_messages == len(HAND_MADE)
    assert a.symbols == {1: "AAAA", 2: "BBBB"}


def test_hftbacktest_events_split_executions_into_fill_and_book_update(hand_made) -> None:
    import hftbacktest as hft

    events = hftbacktest_events(hand_made, feed_latency_ns=7)
    assert sorted(events) == [1, 2]
    kinds = {
        hft.ADD_ORDER_EVENT: "add", hft.CANCEL_ORDER_EVENT: "cancel",
        hft.MODIFY_ORDER_EVENT: "modify", hft.FILL_EVENT: "fill",
    }  # fmt: skip
    sides = {hft.BUY_EVENT: "B", hft.SELL_EVENT: "S"}

    def described(array):
        return [
            (kinds[int(ev) & 0xFF], sides[int(ev) & (hft.BUY_EVENT | hft.SELL_EVENT)],
             int(order_id), float(px), float(qty))
            for ev, order_id, px, qty in zip(array["ev"], array["order_id"], array["px"],
                                             array["qty"], strict=True)
        ]  # fmt: skip

    assert described(events[1]) == [
        ("add", "S", 10, 100.05, 300.0),
        ("fill", "S", 10, 100.05, 100.0),
        ("modify", "S", 10, 100.05, 200.0),
        ("modify", "S", 10, 100.05, 150.0),
        ("cancel", "S", 10, 100.05, 0.0),
        ("add", "S", 12, 100.04, 400.0),
        ("cancel", "S", 12, 100.04, 0.0),
    ]
    assert described(events[2]) == [
        ("add", "B", 11, 100.0, 200.0),
        ("fill", "B", 11, 100.0, 200.0),
        ("cancel", "B", 11, 100.0, 0.0),
    ]
    both = hft.EXCH_EVENT | hft.LOCAL_EVENT
    assert all(int(ev) & both == both for ev in events[1]["ev"])
    assert (events[1]["local_ts"] - events[1]["exch_ts"] == 7).all()


def test_nautilus_deltas_map_book_actions(hand_made) -> None:
    from nautilus_trader.model.enums import BookAction, OrderSide
    from nautilus_trader.model.identifiers import InstrumentId

    ids = {1: InstrumentId.from_str("AAAA.XNAS"), 2: InstrumentId.from_str("BBBB.XNAS")}
    deltas = nautilus_deltas(hand_made, ids)
    assert [d.action for d in deltas] == [
        BookAction.ADD, BookAction.ADD, BookAction.UPDATE, BookAction.UPDATE,
        BookAction.DELETE, BookAction.ADD, BookAction.DELETE, BookAction.DELETE,
    ]  # fmt: skip
    assert [d.instrument_id for d in deltas[:2]] == [ids[1], ids[2]]
    assert [d.order.order_id for d in deltas] == hand_made.reference.tolist()
    assert [float(d.order.size) for d in deltas[:4]] == [300, 200, 200, 150]
    assert str(deltas[5].order.price) == "100.0400"
    assert deltas[5].order.side == OrderSide.SELL
    assert [d.flags for d in deltas[4:6]] == [0, 128]  # the replace ends on its ADD
    assert deltas[0].ts_event - 1_000 == deltas[1].ts_event - 2_000 > 0


def test_book_actions_count_what_the_file_implies(generated) -> None:
    path, by_type = generated
    actions = book_actions(path)
    n = {code: by_type.get(code, 0) for code in "AFECXDU"}
    assert actions.unknown_references == 0
    assert len(actions) == sum(n.values()) + n["U"]
    assert actions.count(ADD) == n["A"] + n["F"] + n["U"]
    assert actions.count(DELETE) == n["D"] + n["U"]
    assert actions.count(CANCEL) == n["X"]
    assert actions.count(EXECUTE) == n["E"] + n["C"]
    assert np.all(np.diff(actions.timestamp) >= 0)


@pytest.mark.slow
def test_nautilus_replays_every_delta_to_calarbs_books(generated) -> None:
    path, by_type = generated
    result = run_nautilus(path, book_depth=DEPTH)
    deltas = sum(by_type.get(code, 0) for code in "AFECXD") + 2 * by_type["U"]
    assert result["events"] == deltas
    assert result["strategy_deltas"] == deltas
    assert result["events_per_s"] > 0 and result["elapsed_s"] > 0
    expected = final_books(path, DEPTH)
    assert len(expected) == 4
    assert result["books"] == expected


@pytest.mark.slow
def test_hftbacktest_replays_every_l3_event_to_calarbs_books(generated) -> None:
    path, by_type = generated
    result = run_hftbacktest(path, book_depth=DEPTH)
    book_actions_count = sum(by_type.get(code, 0) for code in "AFECXD") + 2 * by_type["U"]
    fills = by_type.get("E", 0) + by_type.get("C", 0)
    assert result["events"] == book_actions_count + fills
    assert result["symbols"] == 4 and result["steps"] > 0
    assert result["events_per_s"] > 0
    assert result["books"] == final_books(path, DEPTH)
