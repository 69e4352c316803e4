"""ItchBookFeed, the fast path: same books and events as BookBuilder on the same bytes."""

from __future__ import annotations

import json
import random

import pytest

from calarb.book.builder import BookBuilder
from calarb.book.feed import ItchBookFeed
from calarb.core.events import BookLevel, TopOfBook
from calarb.core.types import Side
from calarb.itch import messages as m
from calarb.itch.codec import encode, encode_framed
from calarb.itch.errors import ItchDecodeError
from calarb.itch.files import ItchFileWarning, read_messages
from calarb.itch.generate import generate_messages


def directory(locate: int, stock: str) -> m.StockDirectory:
    return m.StockDirectory(
        locate, 0, 1, stock, "Q", "N", 100, "N", "C", "Z", "P", "N", "N", "1", "N", 0, "N"
    )


def feed_in_chunks(feed: ItchBookFeed, data: bytes, rng: random.Random) -> list[TopOfBook]:
    events = []
    pos = 0
    while pos < len(data):
        size = rng.choice([1, 2, 3, 7, 36, 100, 4096, rng.randrange(1, 50_000)])
        events += feed.feed(data[pos : pos + size])
        pos += size
    return events


def with_bad_messages(messages: list, rng: random.Random) -> list:
    """Sprinkle in messages the book must reject: unknown references and locates, and right
    after an add (so its order is still live) duplicates, over-executions, over-cancels and
    invalid adds."""
    out = list(messages)
    adds = [i for i, message in enumerate(out) if message.message_type == "A"]
    for at in sorted(rng.sample(adds[len(adds) // 10 :], 80), reverse=True):
        add = out[at]
        locate, ref, shares = add.stock_locate, add.order_reference_number, add.shares
        bad = rng.choice(
            [
                m.OrderDelete(locate, 0, 5, 10**12),
                m.OrderExecuted(locate, 0, 5, 10**12, 1, 1),
                m.OrderReplace(locate, 0, 5, 10**12, 10**12 + 1, 100, 100),
                m.OrderDelete(999, 0, 5, ref),
                add,  # the same reference again
                m.OrderExecuted(locate, 0, 5, ref, shares + 1, 1),
                m.OrderExecutedWithPrice(locate, 0, 5, ref, 0, 1, "Y", 100),
                m.OrderCancel(locate, 0, 5, ref, shares + 1),
                m.OrderCancel(locate, 0, 5, ref, 0),  # cancels nothing: not an error
                m.AddOrder(locate, 0, 5, 10**13 + at, "B", 0, "ZZZZ", 100),
                m.AddOrder(locate, 0, 5, 10**13 + at, "X", 10, "ZZZZ", 100),
            ]
        )
        out.insert(at + 1, bad)
    return out


@pytest.mark.parametrize("seed", [1, 2])
def test_feed_equals_builder_on_a_generated_stream_in_random_chunks(seed):
    rng = random.Random(seed)
    messages = with_bad_messages(list(generate_messages(30_000, 3, seed)), rng)
    data = b"".join(encode_framed(message) for message in messages)

    builder = BookBuilder()
    expected_events = builder.on_messages(messages)
    feed = ItchBookFeed()
    events = feed_in_chunks(feed, data, rng)

    assert feed.books == builder.books
    assert events == expected_events
    assert len(events) > 1000
    assert feed.errors == builder.errors
    assert sum(builder.errors.values()) >= 60  # the bad messages were seen and counted
    assert set(builder.errors) == {
        "UnknownOrderError",
        "OverExecutionError",
        "DuplicateOrderError",
        "InvalidOrderError",
        "unknown_locate",
    }
    assert feed.messages == builder.messages == len(messages)
    assert feed.pending_bytes == 0
    for book in feed.books.values():
        book.check_invariants()
        assert len(book) > 0
        assert book.trading_state == "T"


def test_message_at_a_time_and_replay_only_modes_give_the_same_books():
    messages = list(generate_messages(10_000, 2, 5))
    builder = BookBuilder()
    expected_events = builder.on_messages(messages)

    single = ItchBookFeed()
    events = [single.on_message_bytes(encode(message)) for message in messages]
    assert [e for e in events if e is not None] == expected_events
    assert single.books == builder.books

    replay = ItchBookFeed(emit_events=False)
    assert replay.feed(b"".join(encode_framed(message) for message in messages)) == []
    assert replay.books == builder.books


def test_symbol_filter_and_book_access():
    messages = list(generate_messages(5_000, 3, 9))
    stocks = [msg.stock for msg in messages if msg.message_type == "R"]
    wanted = stocks[1]
    builder = BookBuilder(symbols=[wanted])
    expected = builder.on_messages(messages)
    feed = ItchBookFeed(symbols=[wanted])
    events = feed.feed(b"".join(encode_framed(message) for message in messages))
    assert set(feed.books) == {wanted}
    assert feed.book(wanted) == builder.book(wanted)
    assert events == expected and {e.symbol for e in events} == {wanted}
    assert not feed.errors
    with pytest.raises(KeyError):
        feed.book(stocks[0])


def test_hand_made_stream():
    stream = [
        directory(1, "AAA"),
        m.AddOrder(1, 0, 100, 1, "B", 100, "AAA", 10_0000),
        m.AddOrderMpid(1, 0, 101, 2, "S", 200, "AAA", 10_0100, "GSCO"),
        m.AddOrder(1, 0, 102, 3, "B", 100, "AAA", 9_9900),
        m.OrderExecutedWithPrice(1, 0, 103, 2, 50, 9, "Y", 10_0100),
        m.OrderReplace(1, 0, 104, 3, 4, 300, 10_0000),
        m.Trade(1, 0, 105, 0, "B", 10, "AAA", 10_0050, 10),
    ]
    feed = ItchBookFeed()
    events = feed.feed(b"".join(encode_framed(message) for message in stream))
    assert events == [
        TopOfBook("AAA", 100, 10_0000, 100, 0, 0),
        TopOfBook("AAA", 101, 10_0000, 100, 10_0100, 200),
        TopOfBook("AAA", 103, 10_0000, 100, 10_0100, 150),
        TopOfBook("AAA", 104, 10_0000, 400, 10_0100, 150),
    ]
    book = feed.book("AAA")
    assert book.levels(Side.BUY) == [BookLevel(10_0000, 400, 2)]
    assert book.queue(Side.BUY, 10_0000) == [1, 4]


def test_framing_errors_name_the_offset_and_skip_the_message():
    good = encode_framed(directory(1, "AAA")) + encode_framed(
        m.AddOrder(1, 0, 5, 1, "B", 100, "AAA", 10_0000)
    )
    unknown_type = b"\x00\x05Zabcd"
    wrong_length = b"\x00\x0a" + b"D" + bytes(9)  # D is 19 bytes long
    after = encode_framed(m.AddOrder(1, 0, 6, 2, "B", 100, "AAA", 10_0000))
    data = good + unknown_type + wrong_length + after

    feed = ItchBookFeed()
    feed.feed(data)
    assert feed.errors["decode_error"] == 2
    first, second = feed.decode_errors
    assert (first.offset, first.message_type) == (len(good), "Z")
    assert "unknown message type" in str(first) and f"byte offset {len(good)}" in str(first)
    assert (second.offset, second.message_type) == (len(good) + 7, "D")
    assert "length 10 disagrees" in str(second)
    assert feed.book("AAA").best_bid == BookLevel(10_0000, 200, 2)  # both adds applied

    strict = ItchBookFeed(strict=True)
    with pytest.raises(ItchDecodeError) as info:
        strict.feed(data)
    assert info.value.offset == len(good)
    assert strict.book("AAA").best_bid == BookLevel(10_0000, 200, 2)  # the chunk was applied


def test_truncated_stream_is_reported_at_close():
    data = encode_framed(directory(1, "AAA")) + encode_framed(
        m.AddOrder(1, 0, 5, 1, "B", 100, "AAA", 10_0000)
    )
    feed = ItchBookFeed(strict=True)
    feed.feed(data[:-5])
    assert feed.pending_bytes == 38 - 5
    with pytest.raises(ItchDecodeError, match="truncated") as info:
        feed.close()
    assert info.value.offset == 41 and info.value.message_type == "A"


def test_zero_length_prefix_and_bad_single_messages_are_errors():
    feed = ItchBookFeed()
    feed.feed(b"\x00\x00" + encode_framed(directory(1, "AAA")))
    assert feed.errors["decode_error"] == 1
    assert "zero length" in str(feed.decode_errors[0])
    assert set(feed.books) == {"AAA"}  # the message after it was read
    assert feed.on_message_bytes(b"") is None
    assert feed.on_message_bytes(encode(m.OrderDelete(1, 0, 5, 1))[:-1]) is None
    assert feed.errors["decode_error"] == 3
    assert "disagrees" in str(feed.decode_errors[-1])


def test_a_bad_single_message_names_offset_zero_and_strict_raises_it():
    feed = ItchBookFeed()
    feed.on_message_bytes(encode(directory(1, "AAA")))
    feed.on_message_bytes(encode(m.OrderDelete(1, 0, 5, 1)) + b"\x00")  # one byte too long
    feed.on_message_bytes(b"\x01" + bytes(10))  # no such message type
    assert [(error.offset, error.message_type) for error in feed.decode_errors] == [
        (0, "D"),
        (0, "\x01"),
    ]
    strict = ItchBookFeed(strict=True)
    with pytest.raises(ItchDecodeError, match="disagrees") as info:
        strict.on_message_bytes(encode(m.OrderDelete(1, 0, 5, 1))[:-1])
    assert info.value.offset == 0
    assert strict.on_message_bytes(encode(directory(1, "AAA"))) is None  # no error left over
    assert set(strict.books) == {"AAA"}


def test_third_party_files_feed_equals_builder(shared_data):
    """MeatPy's sample (real length prefixes) as raw bytes; RITCH's example (12,012 messages,
    zero length prefixes) re-framed from the file reader's messages."""
    meatpy = (shared_data / "meatpy-itch50-sample" / "sample.itch50").read_bytes()
    messages = read_messages(shared_data / "meatpy-itch50-sample" / "sample.itch50")
    feed = ItchBookFeed()
    builder = BookBuilder()
    assert feed.feed(meatpy) == builder.on_messages(messages)
    assert feed.books == builder.books and set(feed.books) == {"MEAT", "PYTH"}
    assert feed.messages == 20 and not feed.errors and feed.pending_bytes == 0

    with pytest.warns(ItchFileWarning):
        messages = read_messages(shared_data / "ritch-itch50-example" / "ex20101224.TEST_ITCH_50")
    assert len(messages) == 12_012
    feed = ItchBookFeed()
    builder = BookBuilder()
    events = feed_in_chunks(feed, b"".join(map(encode_framed, messages)), random.Random(3))
    assert events == builder.on_messages(messages)
    assert feed.books == builder.books and set(feed.books) == {"ALC", "BOB", "CHAR"}
    assert feed.errors == builder.errors
    for book in feed.books.values():
        book.check_invariants()


def test_real_nasdaq_directory_prefix(shared_data):
    path = shared_data / "nasdaq-itch50-real-prefixes" / "12302019.NASDAQ_ITCH50.first1000msgs.itch"
    feed = ItchBookFeed()
    assert feed.feed(path.read_bytes()) == []  # reference data only: no order messages
    assert feed.messages == 1000 and not feed.errors
    assert len(feed.books) == 993
    assert [feed.book(s).trading_state for s in ("A", "AA", "AAAU")] == ["T", "T", "T"]
    assert feed.book("AAPL").trading_state is None and len(feed.book("AAPL")) == 0


def test_bbo_command_series_equals_the_feed_events(tmp_path, capsys):
    """`calarb book bbo` (the bulk NumPy replay) and the streaming feed are independent
    implementations: at one level, the series rows are exactly the feed's events."""
    import pyarrow.parquet as pq

    from calarb.cli import main
    from calarb.itch.generate import generate_itch_file

    itch = tmp_path / "day.itch"
    generate_itch_file(itch, 20_000, 3, 4)
    data = itch.read_bytes()
    everything = ItchBookFeed(emit_events=False)
    everything.feed(data)
    symbol = sorted(everything.books)[0]
    out = tmp_path / "bbo.parquet"
    assert (
        main(["book", "bbo", str(itch), "--symbol", symbol, "--levels", "1", "--out", str(out)])
        == 0
    )
    summary = json.loads(capsys.readouterr().out)
    feed = ItchBookFeed(symbols=[symbol])
    events = feed.feed(data)
    assert summary["rows"] == len(events) > 100
    rows = pq.read_table(out).to_pylist()
    assert [
        (r["timestamp"], r["bid_price_1"], r["bid_shares_1"], r["ask_price_1"], r["ask_shares_1"])
        for r in rows
    ] == [(e.timestamp_ns, e.bid_price, e.bid_shares, e.ask_price, e.ask_shares) for e in events]
