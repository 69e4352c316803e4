"""The bulk (Numba) L3 replay ends in the same books as a plain dict-based reference replay
written here, on generated days, on a third-party file and on flows full of edge cases; the
N-level series has exactly the rows a hand-made stream calls for."""

from __future__ import annotations

import random
import warnings
from collections import defaultdict

import pyarrow.parquet as pq
import pytest

from calarb.book.bulk import BookLevels, bbo_series, final_books, replay_books, write_bbo_parquet
from calarb.itch.codec import decode, encode_framed
from calarb.itch.errors import ItchDecodeError
from calarb.itch.files import ItchFileWarning
from calarb.itch.generate import generate_itch_file
from calarb.itch.messages import (
    AddOrder,
    AddOrderMpid,
    OrderCancel,
    OrderDelete,
    OrderExecuted,
    OrderExecutedWithPrice,
    OrderReplace,
    StockDirectory,
    Trade,
)
from calarb.itch.spec import MESSAGE_LENGTHS

EVERYTHING = 10_000  # a depth beyond any book here: compare whole books


def messages_of(data: bytes):
    pos = 0
    while pos < len(data):
        length = int.from_bytes(data[pos : pos + 2], "big") or MESSAGE_LENGTHS[chr(data[pos + 2])]
        yield decode(data, pos + 2, length)
        pos += 2 + length


def reference_replay(data: bytes):
    """Dict-based replay with the documented rules. Returns (symbol -> BookLevels of whole
    books, symbol -> set of live (reference, side, price, shares))."""
    orders: dict[int, list] = {}  # reference -> [locate, side, price, shares]
    names: dict[int, str] = {}
    for m in messages_of(data):
        code = m.message_type
        if code == "R":
            names[m.stock_locate] = m.stock
        elif code in "AF":
            names.setdefault(m.stock_locate, m.stock)
            if m.shares and m.price and m.buy_sell_indicator in "BS":
                orders[m.order_reference_number] = [m.stock_locate, m.buy_sell_indicator,
                                                    m.price, m.shares]  # fmt: skip
        elif code in "ECX":
            order = orders.get(m.order_reference_number)
            taken = m.cancelled_shares if code == "X" else m.executed_shares
            if order is not None:
                if taken >= order[3]:
                    del orders[m.order_reference_number]
                else:
                    order[3] -= taken
        elif code == "D":
            orders.pop(m.order_reference_number, None)
        elif code == "U":
            old = orders.pop(m.original_order_reference_number, None)
            if old is not None and m.shares and m.price:
                orders[m.new_order_reference_number] = [old[0], old[1], m.price, m.shares]
    levels: dict[tuple[int, str], dict[int, int]] = defaultdict(lambda: defaultdict(int))
    live: dict[str, set] = defaultdict(set)
    for ref, (locate, side, price, shares) in orders.items():
        levels[locate, side][price] += shares
        live[names[locate]].add((ref, side, price, shares))
    books = {}
    for locate, name in names.items():
        bids = tuple(sorted(levels[locate, "B"].items(), reverse=True))
        asks = tuple(sorted(levels[locate, "S"].items()))
        if bids or asks:
            books[name] = BookLevels(bids, asks)
    return books, dict(live)


def assert_matches_reference(data: bytes) -> None:
    expected_books, expected_live = reference_replay(data)
    books = replay_books(data)
    assert books.final_levels(EVERYTHING) == expected_books
    for symbol, live in expected_live.items():
        got = books.live_orders_of(symbol)
        rows = {(int(r["reference"]), r["side"].decode(), int(r["price"]), int(r["shares"]))
                for r in got}  # fmt: skip
        assert rows == live
    assert books.live_orders == sum(len(v) for v in expected_live.values())


def directory(locate: int, stock: str) -> StockDirectory:
    return StockDirectory(locate, 0, 1, stock, "Q", "N", 100, "N", "C", "Z", "P", "N", "N",
                          "1", "N", 0, "N")  # fmt: skip


def edge_case_flow(seed: int, count: int, big_references: bool) -> bytes:
    """Random order flow over three symbols that also holds unknown references, adds onto
    live references, over-sized executions and cancels, zero-share adds and replaces onto
    live references; with `big_references`, references near 2**64."""
    rng = random.Random(seed)
    base = (1 << 64) - 10 * count if big_references else 1
    out = [encode_framed(directory(loc, name)) for loc, name in ((1, "AAA"), (2, "BB"), (3, "C"))]
    live: list[int] = []
    next_ref = base
    for k in range(count):
        ts = 1000 + k
        roll = rng.random()
        locate = rng.randint(1, 3)
        if roll < 0.45 or not live:
            ref = next_ref if rng.random() > 0.02 or not live else rng.choice(live)  # duplicate
            next_ref += rng.randint(1, 3)
            side = rng.choice("BS")
            price = 10_000 + 100 * rng.randint(-30, 30) + (0 if side == "B" else 3_100)
            shares = 0 if rng.random() < 0.01 else 100 * rng.randint(1, 9)
            stock = ("AAA", "BB", "C")[locate - 1]
            if rng.random() < 0.1:
                out.append(
                    encode_framed(
                        AddOrderMpid(locate, 0, ts, ref, side, shares, stock, price, "MPID")
                    )
                )
            else:
                out.append(encode_framed(AddOrder(locate, 0, ts, ref, side, shares, stock, price)))
            live.append(ref)
            continue
        ref = rng.choice(live) if rng.random() > 0.03 else next_ref + 7_777  # unknown reference
        if roll < 0.65:
            out.append(encode_framed(OrderDelete(locate, 0, ts, ref)))
        elif roll < 0.75:
            out.append(encode_framed(OrderExecuted(locate, 0, ts, ref, rng.randint(1, 1200), k)))
        elif roll < 0.8:
            out.append(
                encode_framed(
                    OrderExecutedWithPrice(locate, 0, ts, ref, rng.randint(1, 900), k, "Y", 1)
                )
            )
        elif roll < 0.88:
            out.append(encode_framed(OrderCancel(locate, 0, ts, ref, rng.randint(1, 1200))))
        elif roll < 0.97:
            new_ref = next_ref if rng.random() > 0.05 else rng.choice(live)  # onto a live one
            next_ref += 1
            price = 10_000 + 100 * rng.randint(-30, 60)
            out.append(
                encode_framed(
                    OrderReplace(locate, 0, ts, ref, new_ref, 100 * rng.randint(0, 5), price)
                )
            )
            live.append(new_ref)
        else:
            out.append(encode_framed(Trade(locate, 0, ts, 0, "B", 100, "AAA", 10_000, k)))
    return b"".join(out)


def test_generated_day_matches_the_reference(tmp_path):
    path = tmp_path / "day.itch"
    generate_itch_file(path, 30_000, 8, seed=5)
    assert_matches_reference(path.read_bytes())
    books = replay_books(path)
    assert books.messages == 30_000
    assert books.unknown_references == books.rejected == books.evicted == 0


@pytest.mark.parametrize("big_references", [False, True])
def test_edge_case_flow_matches_the_reference(big_references):
    data = edge_case_flow(seed=3, count=20_000, big_references=big_references)
    assert_matches_reference(data)
    books = replay_books(data)
    assert books.unknown_references > 0 and books.rejected > 0 and books.evicted > 0


def test_many_live_orders_grow_the_tables():
    """10,000 resting orders over 2,000 prices: pools and the hash table grow mid-replay."""
    rng = random.Random(9)
    out = [encode_framed(directory(1, "AAA"))]
    for ref in range(1, 10_001):
        side = "B" if ref % 2 else "S"
        price = 100 * rng.randint(1, 1000) + (0 if side == "B" else 200_000)
        out.append(encode_framed(AddOrder(1, 0, ref, ref * 1_000_003, side, ref, "AAA", price)))
    for ref in range(1, 10_001, 3):
        out.append(encode_framed(OrderDelete(1, 0, 20_000 + ref, ref * 1_000_003)))
    data = b"".join(out)
    assert_matches_reference(data)
    assert replay_books(data).live_orders == 10_000 - len(range(1, 10_001, 3))


def test_ritch_third_party_file_matches_the_reference(shared_data):
    path = shared_data / "ritch-itch50-example" / "ex20101224.TEST_ITCH_50"
    data = path.read_bytes()
    with pytest.warns(ItchFileWarning):
        assert_matches_reference(data)
    with pytest.warns(ItchFileWarning):
        assert final_books(path, 3).keys() == {"ALC", "BOB", "CHAR"}


def test_live_orders_are_in_priority_order():
    data = b"".join(
        encode_framed(m)
        for m in (
            directory(1, "AAA"),
            AddOrder(1, 0, 1, 11, "B", 100, "AAA", 10_000),
            AddOrder(1, 0, 2, 12, "B", 200, "AAA", 10_100),
            AddOrder(1, 0, 3, 13, "B", 300, "AAA", 10_000),
            AddOrder(1, 0, 4, 14, "S", 400, "AAA", 10_300),
            AddOrder(1, 0, 5, 15, "S", 500, "AAA", 10_200),
            OrderReplace(1, 0, 6, 11, 16, 100, 10_000),  # loses priority behind 13
        )
    )
    orders = replay_books(data).live_orders_of("AAA")
    assert orders["reference"].tolist() == [12, 13, 16, 15, 14]
    assert orders["side"].tolist() == [b"B", b"B", b"B", b"S", b"S"]


def small_stream() -> bytes:
    return b"".join(
        encode_framed(m)
        for m in (
            directory(1, "AAA"),
            directory(2, "BBB"),
            AddOrder(1, 0, 10, 1, "B", 100, "AAA", 10_000),
            AddOrder(1, 0, 20, 2, "S", 200, "AAA", 10_100),
            AddOrder(2, 0, 30, 3, "B", 50, "BBB", 9_900),  # another symbol: no row
            AddOrder(1, 0, 40, 4, "B", 30, "AAA", 9_900),  # second bid level
            OrderExecuted(1, 0, 50, 1, 40, 1),
            Trade(1, 0, 60, 0, "B", 10, "AAA", 10_050, 2),  # hidden: no row
            OrderCancel(1, 0, 70, 4, 30),  # empties the second bid level
            OrderReplace(1, 0, 80, 2, 5, 150, 10_050),
            OrderDelete(1, 0, 90, 1),  # the bid side is empty
        )
    )


def test_bbo_series_two_levels_rows():
    table = bbo_series(small_stream(), "AAA", 2)
    assert table.column_names == [
        "timestamp", "bid_price_1", "bid_price_2", "bid_shares_1", "bid_shares_2",
        "ask_price_1", "ask_price_2", "ask_shares_1", "ask_shares_2",
    ]  # fmt: skip
    rows = [tuple(row.values()) for row in table.to_pylist()]
    assert rows == [
        (10, 10_000, 0, 100, 0, 0, 0, 0, 0),
        (20, 10_000, 0, 100, 0, 10_100, 0, 200, 0),
        (40, 10_000, 9_900, 100, 30, 10_100, 0, 200, 0),
        (50, 10_000, 9_900, 60, 30, 10_100, 0, 200, 0),
        (70, 10_000, 0, 60, 0, 10_100, 0, 200, 0),
        (80, 10_000, 0, 60, 0, 10_050, 0, 150, 0),
        (90, 0, 0, 0, 0, 10_050, 0, 150, 0),
    ]


def test_bbo_series_top_level_skips_deeper_changes(tmp_path):
    table = bbo_series(small_stream(), "AAA", 1)
    assert table["timestamp"].to_pylist() == [10, 20, 50, 80, 90]
    path = tmp_path / "itch.bin"
    path.write_bytes(small_stream())
    summary = write_bbo_parquet(path, "BBB", 1, tmp_path / "out" / "bbb.parquet")
    assert summary == {"rows": 1, "symbol": "BBB", "levels": 1,
                       "path": str(tmp_path / "out" / "bbb.parquet")}  # fmt: skip
    assert pq.read_table(summary["path"]).to_pylist() == [
        {"timestamp": 30, "bid_price_1": 9_900, "bid_shares_1": 50, "ask_price_1": 0,
         "ask_shares_1": 0}
    ]  # fmt: skip
    with pytest.raises(KeyError, match="ZZZ"):
        bbo_series(small_stream(), "ZZZ", 1)


def test_bad_frames_raise_or_keep_the_books_before_them():
    data = small_stream()
    cut = data[:-5]
    with pytest.raises(ItchDecodeError) as caught:
        replay_books(cut)
    assert caught.value.offset == len(data) - 21 and caught.value.message_type == "D"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ItchFileWarning)
        books = replay_books(cut, lenient=True)
    assert books.error is not None and books.messages == 10
    assert books.top_levels("AAA", 1) == BookLevels(((10_000, 60),), ((10_050, 150),))
