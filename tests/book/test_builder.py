"""BookBuilder: routing by stock locate, events only on top-of-book changes, trades, errors."""

from __future__ import annotations

from calarb.book.builder import BookBuilder
from calarb.core.events import BookLevel, TopOfBook, TradeEvent
from calarb.core.types import Side
from calarb.itch import messages as m


def directory(locate: int, stock: str) -> m.StockDirectory:
    return m.StockDirectory(
        locate, 0, 1, stock, "Q", "N", 100, "N", "C", "Z", "P", "N", "N", "1", "N", 0, "N"
    )


def add(locate, ref, side, shares, price, ts=10, stock="AAA"):
    return m.AddOrder(locate, 0, ts, ref, side, shares, stock, price)


def test_events_only_when_the_top_of_book_changes():
    builder = BookBuilder()
    assert builder.on_message(directory(1, "AAA")) is None
    assert builder.on_message(add(1, 1, "B", 100, 10_0000, ts=11)) == TopOfBook(
        "AAA", 11, 10_0000, 100, 0, 0
    )
    assert builder.on_message(add(1, 2, "B", 100, 9_9900, ts=12)) is None  # behind the touch
    assert builder.on_message(add(1, 3, "S", 50, 10_0100, ts=13)) == TopOfBook(
        "AAA", 13, 10_0000, 100, 10_0100, 50
    )
    assert builder.on_message(add(1, 4, "B", 10, 10_0000, ts=14)) == TopOfBook(
        "AAA", 14, 10_0000, 110, 10_0100, 50
    )  # joins the best bid: its size changed
    assert builder.on_message(m.OrderCancel(1, 0, 15, 2, 50)) is None  # second level
    assert builder.on_message(m.OrderDelete(1, 0, 16, 2)) is None
    # Replace at the same price and size: removes and re-adds, the top is the same.
    assert builder.on_message(m.OrderReplace(1, 0, 17, 3, 5, 50, 10_0100)) is None
    assert builder.on_message(m.OrderExecuted(1, 0, 18, 1, 100, 7)) == TopOfBook(
        "AAA", 18, 10_0000, 10, 10_0100, 50
    )
    assert builder.on_message(m.OrderDelete(1, 0, 19, 4)) == TopOfBook("AAA", 19, 0, 0, 10_0100, 50)
    assert builder.book("AAA").best_ask == BookLevel(10_0100, 50, 1)
    assert builder.book("AAA").order(5).side is Side.SELL
    assert not builder.errors


def test_routes_by_locate_and_filters_symbols():
    builder = BookBuilder(symbols={"BBB"})
    builder.on_message(directory(1, "AAA"))
    builder.on_message(directory(2, "BBB"))
    assert builder.on_message(add(1, 1, "B", 100, 10_0000, stock="AAA")) is None
    event = builder.on_message(add(2, 2, "S", 100, 20_0000, stock="BBB"))
    assert event == TopOfBook("BBB", 10, 0, 0, 20_0000, 100)
    assert set(builder.books) == {"BBB"}
    assert not builder.errors  # a filtered symbol is not an error
    assert builder.on_message(add(3, 3, "S", 100, 20_0000, stock="CCC")) is None
    assert builder.errors == {"unknown_locate": 1}  # no stock directory for locate 3


def test_errors_are_counted_not_raised():
    builder = BookBuilder()
    builder.on_message(directory(1, "AAA"))
    builder.on_message(add(1, 1, "B", 100, 10_0000))
    assert builder.on_message(m.OrderExecuted(1, 0, 2, 99, 10, 1)) is None
    assert builder.on_message(m.OrderExecuted(1, 0, 2, 1, 101, 1)) is None
    assert builder.on_message(add(1, 1, "B", 100, 10_0000)) is None
    assert builder.on_message(m.OrderDelete(1, 0, 3, 42)) is None
    assert builder.on_message(m.OrderReplace(1, 0, 3, 42, 43, 10, 10_0000)) is None
    assert builder.errors == {
        "UnknownOrderError": 3,
        "OverExecutionError": 1,
        "DuplicateOrderError": 1,
    }
    assert builder.book("AAA").best_bid == BookLevel(10_0000, 100, 1)  # untouched


def test_trades_trading_state_and_non_displayed_orders():
    trades: list[TradeEvent] = []
    builder = BookBuilder(on_trade=trades.append)
    builder.on_message(directory(1, "AAA"))
    builder.on_message(m.StockTradingAction(1, 0, 2, "AAA", "H", " ", "IPO1"))
    assert builder.book("AAA").trading_state == "H"
    builder.on_message(m.StockTradingAction(1, 0, 3, "AAA", "T", " ", ""))
    assert builder.book("AAA").trading_state == "T"
    builder.on_message(add(1, 1, "S", 300, 10_0100))
    builder.on_message(m.OrderExecuted(1, 0, 20, 1, 100, 501))
    builder.on_message(m.OrderExecutedWithPrice(1, 0, 21, 1, 50, 502, "Y", 10_0050))
    builder.on_message(m.OrderExecutedWithPrice(1, 0, 22, 1, 50, 503, "N", 10_0050))
    # P: a non-displayed order traded; the book does not change.
    before = builder.book("AAA").levels(Side.SELL)
    assert builder.on_message(m.Trade(1, 0, 23, 0, "B", 70, "AAA", 10_0000, 504)) is None
    assert builder.book("AAA").levels(Side.SELL) == before == [BookLevel(10_0100, 100, 1)]
    builder.on_message(m.CrossTrade(1, 0, 24, 1000, "AAA", 10_0000, 505, "O"))
    builder.on_message(m.BrokenTrade(1, 0, 25, 501))  # ignored
    assert trades == [
        TradeEvent("AAA", 20, 10_0100, 100, 501, True),  # resting sell hit: a buyer
        TradeEvent("AAA", 21, 10_0050, 50, 502, True),
        # 503 is non-printable: no trade event, but the book still lost the shares
        TradeEvent("AAA", 23, 10_0000, 70, 504, False),  # resting non-displayed buy
        TradeEvent("AAA", 24, 10_0000, 1000, 505, None),
    ]
    assert not builder.errors


def test_on_messages_collects_events():
    builder = BookBuilder()
    events = builder.on_messages(
        [directory(7, "ZZZ"), add(7, 1, "B", 5, 100), add(7, 2, "B", 5, 99), add(7, 3, "S", 5, 101)]
    )
    assert [(e.bid_price, e.ask_price) for e in events] == [(100, 0), (100, 101)]
    assert builder.messages == 4
