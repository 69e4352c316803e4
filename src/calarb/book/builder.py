"""Multi-symbol book builder over typed ITCH messages.

Routes each message by stock locate to its symbol's `OrderBook` (the locate -> symbol map is
learnt from stock directory 'R' messages; an optional symbol filter keeps only some books) and
reports a `TopOfBook` only when that symbol's best bid or offer (price or size) changed.
Trades (E/C executions of displayed orders, P non-displayed trades, Q crosses) go to an
optional `on_trade` callback. Bad messages (unknown reference, over-execution, ...) are
counted in `errors`, never raised.

This is the readable reference; `calarb.book.feed.ItchBookFeed` is the fast path over raw bytes
and ends with the same books.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable

from calarb.book.order_book import BookError, OrderBook
from calarb.core.events import TopOfBook, TradeEvent
from calarb.core.types import Side
from calarb.itch.messages import ItchMessage

_SIDE_BY_CODE = {"B": Side.BUY, "S": Side.SELL}


class BookBuilder:
    """Typed ITCH messages in, top-of-book change events out."""

    def __init__(
        self,
        symbols: Iterable[str] | None = None,
        on_trade: Callable[[TradeEvent], None] | None = None,
    ) -> None:
        self.symbol_filter = frozenset(symbols) if symbols is not None else None
        self.on_trade = on_trade
        self.books: dict[str, OrderBook] = {}
        """Symbol -> its book."""
        self._by_locate: dict[int, OrderBook | None] = {}
        self.messages = 0
        self.errors: Counter[str] = Counter()
        """Error name -> count: book errors by exception class name, 'unknown_locate'."""
        self._handlers: dict[str, Callable[[OrderBook, ItchMessage], None]] = {
            "A": self._add,
            "F": self._add,
            "E": self._executed,
            "C": self._executed_with_price,
            "X": self._cancel,
            "D": self._delete,
            "U": self._replace,
        }

    def book(self, symbol: str) -> OrderBook:
        """The book of `symbol`; KeyError if its stock directory message has not been seen."""
        return self.books[symbol]

    def on_messages(self, messages: Iterable[ItchMessage]) -> list[TopOfBook]:
        events = []
        for message in messages:
            event = self.on_message(message)
            if event is not None:
                events.append(event)
        return events

    def on_message(self, message: ItchMessage) -> TopOfBook | None:
        """Apply one message; the symbol's new top of book if it changed, else None."""
        self.messages += 1
        kind = message.message_type
        if kind == "R":
            self._on_stock_directory(message)
            return None
        handler = self._handlers.get(kind)
        if handler is None and kind not in "HPQ":
            return None  # no effect on books (system events, NOII, broken trades, ...)
        book = self._route(message.stock_locate, count_unknown=kind not in "PQ")
        if book is None:
            return None
        if kind == "H":
            book.trading_state = message.trading_state
        elif kind == "P":
            self._trade(book, message, message.price, message.buy_sell_indicator == "S")
        elif kind == "Q":
            self._trade(book, message, message.cross_price, None)
        else:
            try:
                handler(book, message)
            except BookError as exc:
                self.errors[type(exc).__name__] += 1
                return None
            return book.poll_top_change(message.timestamp)
        return None

    # ------------------------------------------------------------------ routing

    def _on_stock_directory(self, message: ItchMessage) -> None:
        symbol = message.stock
        if self.symbol_filter is not None and symbol not in self.symbol_filter:
            self._by_locate[message.stock_locate] = None
            return
        book = self.books.get(symbol)
        if book is None:
            book = self.books[symbol] = OrderBook(symbol)
        self._by_locate[message.stock_locate] = book

    def _route(self, locate: int, count_unknown: bool) -> OrderBook | None:
        try:
            return self._by_locate[locate]
        except KeyError:
            if count_unknown:  # trades of unknown stocks change no book
                self.errors["unknown_locate"] += 1
            return None

    # ------------------------------------------------------------------ order messages

    def _add(self, book: OrderBook, message: ItchMessage) -> None:
        side = _SIDE_BY_CODE.get(message.buy_sell_indicator, message.buy_sell_indicator)
        book.add(message.order_reference_number, side, message.price, message.shares)

    def _executed(self, book: OrderBook, message: ItchMessage) -> None:
        price, side = book.execute(message.order_reference_number, message.executed_shares)
        if self.on_trade is not None:
            self._trade(book, message, price, side == Side.SELL, message.executed_shares)

    def _executed_with_price(self, book: OrderBook, message: ItchMessage) -> None:
        _, side = book.execute(message.order_reference_number, message.executed_shares)
        if self.on_trade is not None and message.printable == "Y":
            price = message.execution_price
            self._trade(book, message, price, side == Side.SELL, message.executed_shares)

    def _cancel(self, book: OrderBook, message: ItchMessage) -> None:
        book.cancel(message.order_reference_number, message.cancelled_shares)

    def _delete(self, book: OrderBook, message: ItchMessage) -> None:
        book.delete(message.order_reference_number)

    def _replace(self, book: OrderBook, message: ItchMessage) -> None:
        book.replace(
            message.original_order_reference_number,
            message.new_order_reference_number,
            message.shares,
            message.price,
        )

    def _trade(
        self,
        book: OrderBook,
        message: ItchMessage,
        price: int,
        aggressor_buys: bool | None,
        shares: int | None = None,
    ) -> None:
        """Report a trade; the aggressor buys when the resting (passive) order sells."""
        if self.on_trade is None:
            return
        self.on_trade(
            TradeEvent(
                book.symbol,
                message.timestamp,
                price,
                message.shares if shares is None else shares,
                message.match_number,
                aggressor_buys,
            )
        )
