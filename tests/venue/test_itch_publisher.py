"""The ITCH publisher, sans-I/O: each engine book event maps to its exact ITCH message, the
session frame is right, and a client `ItchBookFeed` fed the published bytes holds exactly
the engine's displayed books (random order streams and a synthetic-market run)."""

from __future__ import annotations

from collections import Counter

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from calarb.book.feed import ItchBookFeed
from calarb.core.types import Instrument, Side
from calarb.itch.codec import decode, encode
from calarb.itch.messages import (
    AddOrder,
    AddOrderMpid,
    OrderCancel,
    OrderDelete,
    OrderExecuted,
    OrderReplace,
    StockDirectory,
    StockTradingAction,
    SystemEvent,
    Trade,
)
from calarb.venue.itch_publisher import (
    MAX_PRICE,
    MAX_SHARES,
    NS_PER_DAY,
    ItchPublisher,
    ItchPublishError,
    assign_locates,
    book_differences,
    midnight_utc_ns,
)
from calarb.venue.matching import MatchingEngine
from calarb.venue.orders import (
    Execution,
    OrderAdded,
    OrderCancelled,
    OrderDeleted,
    OrderReplaced,
    OrdType,
    TimeInForce,
    TradingStatus,
)
from calarb.venue.synthetic import (
    MarketMakerConfig,
    NoiseTraderConfig,
    PairConfig,
    SymbolConfig,
    SyntheticMarket,
    SyntheticMarketConfig,
)

T0 = 34_200_000_000_000  # 09:30 in ns since midnight
PX = 1_000_000  # 100.0000


def engine_and_publisher(**options) -> tuple[MatchingEngine, ItchPublisher]:
    engine = MatchingEngine([Instrument("AAA", 0), Instrument("BBB", 9)])
    return engine, ItchPublisher(engine.instruments, **options)


def only_event(engine: MatchingEngine, kind: type):
    (event,) = engine.take_book_events()
    assert type(event) is kind, event
    return event


def books_equal(engine: MatchingEngine, feed: ItchBookFeed) -> None:
    assert book_differences(engine, feed.books) == []
    assert not feed.errors, feed.errors


def feed_for(publisher: ItchPublisher, halted=(), timestamp_ns: int = T0) -> ItchBookFeed:
    feed = ItchBookFeed(strict=True)
    for message in publisher.start_of_day(timestamp_ns, halted):
        feed.on_message_bytes(encode(message))
    return feed


def publish(engine: MatchingEngine, publisher: ItchPublisher, feed: ItchBookFeed) -> list:
    """Engine events -> ITCH bytes -> feed; returns the decoded messages."""
    payloads = publisher.encode(engine.take_book_events())
    for payload in payloads:
        feed.on_message_bytes(payload)
    return [decode(payload) for payload in payloads]


# --- session frame and set-up ----------------------------------------------------------------


def test_start_and_end_of_day_messages() -> None:
    instruments = [Instrument("AAA"), Instrument("BBB", 1, round_lot=10), Instrument("CCC", 0)]
    publisher = ItchPublisher(instruments)
    assert publisher.locates == {"AAA": 2, "BBB": 1, "CCC": 3}
    messages = publisher.start_of_day(T0 - 5, halted={"CCC"})
    clock = T0 - 5
    directory = ("N", "N", "C", "Z", "P", "N", "N", " ", "N", 0, "N")
    assert messages == [
        SystemEvent(0, 1, clock, "O"),
        StockDirectory(2, 2, clock, "AAA", "Q", directory[0], 100, *directory[1:]),
        StockDirectory(1, 3, clock, "BBB", "Q", directory[0], 10, *directory[1:]),
        StockDirectory(3, 4, clock, "CCC", "Q", directory[0], 100, *directory[1:]),
        StockTradingAction(2, 5, clock, "AAA", "T", " ", ""),
        StockTradingAction(1, 6, clock, "BBB", "T", " ", ""),
        StockTradingAction(3, 7, clock, "CCC", "H", " ", ""),
        SystemEvent(0, 8, clock, "S"),
        SystemEvent(0, 9, clock, "Q"),
    ]
    end = T0 + 23_400 * 10**9
    assert publisher.end_of_day(end) == [
        SystemEvent(0, 10, end, "M"),
        SystemEvent(0, 11, end, "E"),
        SystemEvent(0, 12, end, "C"),
    ]
    for message in messages:  # every message survives the wire
        assert decode(encode(message)) == message
    with pytest.raises(ItchPublishError, match=r"halted symbol\(s\) \['ZZZ'\]"):
        publisher.start_of_day(T0, halted={"ZZZ"})


@pytest.mark.parametrize(
    ("instruments", "message"),
    [
        ([Instrument("TOOLONGSYM")], "8-character"),
        (
            [Instrument("AAA", 3), Instrument("BBB", 3)],
            "locate code 3 is given to both AAA and BBB",
        ),
        ([Instrument("AAA"), Instrument("AAA")], "listed twice"),
        ([Instrument("AAA", 70_000)], "outside 1..65535"),
    ],
)
def test_bad_listings_are_refused_by_name(instruments, message) -> None:
    with pytest.raises(ItchPublishError, match=message):
        assign_locates(instruments)


def test_bad_mpid_is_refused() -> None:
    with pytest.raises(ItchPublishError, match="participant 'MM1': MPID 'TOOLONG'"):
        ItchPublisher([Instrument("AAA")], mpids={"MM1": "TOOLONG"})


# --- one event, one message ------------------------------------------------------------------


def test_every_book_event_maps_to_its_exact_message() -> None:
    engine, publisher = engine_and_publisher(mpids={"MM2": "MMB"})
    publisher.start_of_day(T0)  # 1 + 2 + 2 + 2 = 7 messages
    assert publisher.messages_built == 7
    tracking = iter(range(8, 100))
    a = publisher.locates["AAA"]
    assert a == 1 and publisher.locates["BBB"] == 9

    def check(event, expected) -> None:
        message = publisher.message_for(event)
        assert message == expected
        assert decode(encode(message)) == expected

    ask = engine.submit(T0 + 1, "MM1", "c1", "AAA", Side.SELL, 300, PX)
    event = only_event(engine, OrderAdded)
    check(event, AddOrder(a, next(tracking), 1 + T0, ask, "S", 300, "AAA", PX))

    engine.submit(T0 + 2, "MM2", "c2", "AAA", Side.BUY, 200, PX - 100)
    event = only_event(engine, OrderAdded)
    check(event, AddOrderMpid(a, next(tracking), T0 + 2, event.order_id, "B", 200, "AAA",
                              PX - 100, "MMB"))  # fmt: skip
    bid = event.order_id

    engine.submit(T0 + 3, "NT1", "c3", "AAA", Side.BUY, 100, PX, time_in_force=TimeInForce.IOC)
    event = only_event(engine, Execution)
    check(event, OrderExecuted(a, next(tracking), T0 + 3, ask, 100, event.match_number))
    assert event.match_number == 1

    # a size decrease at the same price keeps priority: X for the difference (300 - 100
    # filled = 200 left; new total 250 leaves 150)
    assert engine.replace(T0 + 4, "MM1", ask, "c4", 250, PX) == ask
    check(only_event(engine, OrderCancelled), OrderCancel(a, next(tracking), T0 + 4, ask, 50))

    # a price change loses priority: U with a new reference
    moved = engine.replace(T0 + 5, "MM1", ask, "c5", 250, PX + 100)
    assert moved > ask
    check(
        only_event(engine, OrderReplaced),
        OrderReplace(a, next(tracking), T0 + 5, ask, moved, 150, PX + 100),
    )

    engine.cancel(T0 + 6, "MM1", moved)
    check(only_event(engine, OrderDeleted), OrderDelete(a, next(tracking), T0 + 6, moved))

    # a non-displayed resting order trades: P with reference 0 and the resting side
    hidden = engine.submit(T0 + 7, "MM1", "c7", "AAA", Side.SELL, 400, PX, displayed=False)
    assert hidden and not engine.take_book_events()  # hidden orders are not published
    engine.submit(T0 + 8, "NT2", "c8", "AAA", Side.BUY, 150, 0, OrdType.MARKET, TimeInForce.IOC)
    event = only_event(engine, Execution)
    assert not event.resting_displayed
    check(event, Trade(a, next(tracking), T0 + 8, 0, "S", 150, "AAA", PX, event.match_number))

    engine.halt(T0 + 9, "BBB", "T1")
    check(
        only_event(engine, TradingStatus),
        StockTradingAction(9, next(tracking), T0 + 9, "BBB", "H", " ", "T1"),
    )
    engine.resume(T0 + 10, "BBB", "operator resumed trading")  # free text: blank reason
    check(
        only_event(engine, TradingStatus),
        StockTradingAction(9, next(tracking), T0 + 10, "BBB", "T", " ", ""),
    )
    engine.cancel(T0 + 11, "MM2", bid)
    check(only_event(engine, OrderDeleted), OrderDelete(a, next(tracking), T0 + 11, bid))


def test_fields_beyond_itch_sizes_are_refused_by_name_without_using_a_tracking_number() -> None:
    engine, publisher = engine_and_publisher()
    big = engine.submit(T0, "MM1", "c1", "AAA", Side.SELL, MAX_SHARES + 1, PX)
    assert big
    event = only_event(engine, OrderAdded)
    with pytest.raises(ItchPublishError, match=r"shares 4294967296 does not fit .*4-byte Shares"):
        publisher.message_for(event)
    dear = (MAX_PRICE // 100 + 1) * 100
    engine.submit(T0, "MM1", "c2", "AAA", Side.SELL, 100, dear)
    event = only_event(engine, OrderAdded)
    with pytest.raises(ItchPublishError, match=r"price 4294967300 \(429496\.7300\).*Price\(4\)"):
        publisher.message_for(event)
    # the largest values that fit go through
    fits = OrderAdded(T0, "AAA", 99, Side.BUY, MAX_SHARES, MAX_PRICE, "MM1")
    assert publisher.message_for(fits).shares == MAX_SHARES
    assert publisher.messages_built == 1  # refusals consumed no tracking number
    with pytest.raises(ItchPublishError, match="ITCH timestamps lie within one day"):
        publisher.message_for(OrderDeleted(NS_PER_DAY, "AAA", 1))
    with pytest.raises(ItchPublishError, match="symbol 'ZZZ' is not listed"):
        publisher.message_for(OrderDeleted(T0, "ZZZ", 1))
    assert publisher.messages_built == 1


def test_timestamps_count_from_the_given_midnight_and_tracking_numbers_wrap() -> None:
    epoch_now = 1_700_000_000_123_456_789
    midnight = midnight_utc_ns(epoch_now)
    assert midnight % NS_PER_DAY == 0 and 0 <= epoch_now - midnight < NS_PER_DAY
    publisher = ItchPublisher([Instrument("AAA")], midnight_ns=midnight)
    publisher.messages_built = 65_534
    first = publisher.message_for(OrderDeleted(epoch_now, "AAA", 5))
    second = publisher.message_for(OrderDeleted(epoch_now + 1, "AAA", 6))
    assert first.timestamp == epoch_now - midnight
    assert (first.tracking_number, second.tracking_number) == (65_535, 0)
    with pytest.raises(ItchPublishError, match="from midnight"):
        publisher.message_for(OrderDeleted(midnight - 1, "AAA", 7))


# --- a client rebuilding books holds the engine's books --------------------------------------

SYMBOLS = ("AAA", "BBB")
PARTICIPANTS = ("P1", "P2", "P3")

submit_op = st.tuples(
    st.just("submit"),
    st.sampled_from(SYMBOLS),
    st.sampled_from(PARTICIPANTS),
    st.sampled_from((Side.BUY, Side.SELL)),
    st.integers(1, 8),  # lots of 100
    st.integers(-4, 4),  # ticks from 100.00
    st.sampled_from(
        (
            (OrdType.LIMIT, TimeInForce.DAY),
            (OrdType.LIMIT, TimeInForce.DAY),
            (OrdType.LIMIT, TimeInForce.DAY),
            (OrdType.LIMIT, TimeInForce.IOC),
            (OrdType.LIMIT, TimeInForce.FOK),
            (OrdType.MARKET, TimeInForce.IOC),
        )
    ),
    st.sampled_from((True, True, True, False)),  # displayed 3 times in 4
)
cancel_op = st.tuples(st.just("cancel"), st.integers(0, 10_000))
replace_op = st.tuples(
    st.just("replace"), st.integers(0, 10_000), st.integers(1, 10), st.integers(-4, 4)
)
shrink_op = st.tuples(st.just("shrink"), st.integers(0, 10_000), st.integers(1, 5))
status_op = st.tuples(st.sampled_from(("halt", "resume", "resume")), st.sampled_from(SYMBOLS))
OPERATION_WEIGHTS = {submit_op: 12, cancel_op: 2, replace_op: 2, shrink_op: 2, status_op: 1}
operations = st.lists(
    st.sampled_from(
        [op for op, weight in OPERATION_WEIGHTS.items() for _ in range(weight)]
    ).flatmap(lambda op: op),
    min_size=40,
    max_size=160,
)


def apply(engine: MatchingEngine, op: tuple, now: int, order_ids: list[int]) -> None:
    """Apply one operation; cancels and replaces pick a live order by index."""
    kind = op[0]
    if kind == "submit":
        _, symbol, participant, side, lots, ticks, (order_type, tif), displayed = op
        order_id = engine.submit(
            now, participant, f"c{now}", symbol, side, 100 * lots, PX + 100 * ticks,
            order_type, tif, displayed,
        )  # fmt: skip
        if order_id:
            order_ids.append(order_id)
    elif kind in ("cancel", "replace", "shrink"):
        order_ids[:] = [order_id for order_id in order_ids if engine.order(order_id)]
        if not order_ids:
            return
        state = engine.order(order_ids[op[1] % len(order_ids)])
        if kind == "cancel":
            engine.cancel(now, state.participant, state.order_id)
            return
        if kind == "shrink":  # same price, smaller size: keeps priority (ITCH X)
            quantity, price = state.quantity - 100 * op[2], state.price
        else:
            quantity, price = state.cum_qty + 100 * op[2], PX + 100 * op[3]
        new_id = engine.replace(now, state.participant, state.order_id, f"r{now}", quantity, price)
        if new_id and new_id != state.order_id:
            order_ids.append(new_id)
    elif kind == "halt":
        engine.halt(now, op[1], "T1")
    else:
        engine.resume(now, op[1])


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(ops=operations)
def test_feed_rebuilt_from_random_order_streams_equals_engine_books(ops) -> None:
    engine, publisher = engine_and_publisher()
    feed = feed_for(publisher)
    order_ids: list[int] = []
    for index, op in enumerate(ops):
        apply(engine, op, T0 + index, order_ids)
        publish(engine, publisher, feed)
        if index % 10 == 0:
            books_equal(engine, feed)
        engine.take_reports()
    books_equal(engine, feed)


def test_feed_equals_engine_books_through_a_synthetic_market_run_with_a_halt() -> None:
    config = SyntheticMarketConfig(
        seed=17,
        symbols=(
            SymbolConfig("AAA", 100.0, 0.03),
            SymbolConfig("BBB", 50.0, lot_size=10),
            SymbolConfig("CCC", 20.0, 0.05, tick_size=50, locate=40),
        ),
        pairs=(PairConfig("BBB", "AAA", 1.2, 60.0, 0.004),),
        step_ns=100_000_000,
        start_ns=T0,
        market_makers=MarketMakerConfig(count=2, levels=4),
        noise_traders=NoiseTraderConfig(count=3, orders_per_s=4.0),
    )
    market = SyntheticMarket(config)
    engine = market.engine
    publisher = ItchPublisher(engine.instruments)
    feed = feed_for(publisher, timestamp_ns=T0)
    types: Counter[str] = Counter()
    for step in range(3_000):
        if step == 1_000:
            engine.halt(market.now_ns, "CCC", "LUDP")
        if step == 1_200:
            engine.resume(market.now_ns, "CCC")
        market.step()
        types.update(message.message_type for message in publish(engine, publisher, feed))
        engine.take_reports()
        if step % 500 == 0:
            books_equal(engine, feed)
    books_equal(engine, feed)
    for message in publisher.end_of_day(market.now_ns):
        feed.on_message_bytes(encode(message))
    assert feed.errors == Counter()
    # the run exercised the messages a synthetic market needs
    assert types["A"] > 100 and types["E"] > 100 and types["U"] > 100 and types["D"] > 10
    assert types["H"] == 2
    assert sum(types.values()) == publisher.messages_built - len(publisher.locates) * 2 - 6
    assert feed.book("CCC").trading_state == "T"
