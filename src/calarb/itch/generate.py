"""Deterministic synthetic ITCH 5.0 market data: valid, realistic enough to exercise books.

The generator acts as the exchange. It keeps every symbol's limit order book and only
publishes what an exchange could: adds rest near the touch and never cross the other side,
executions hit the oldest order at the best price, cancels and deletes name live orders and
never take more shares than are left, replaces give a new reference number (losing
priority). Prices follow a random walk per symbol on a $0.01 tick; non-displayed trades (P)
print between the touches. The day is framed by system events (O, S, Q at the start; M, E, C
at the end) and each symbol gets a stock directory (R), a trading action (H, 'T') and a Reg
SHO indicator (Y). Same arguments, same messages, byte for byte.
"""

from __future__ import annotations

import bisect
import gzip
import itertools
import os
import random
from collections import Counter
from collections.abc import Iterator
from typing import IO, Any

from calarb.itch.codec import ENCODERS
from calarb.itch.messages import (
    MESSAGE_CLASSES,
    AddOrder,
    AddOrderMpid,
    ItchMessage,
    OrderCancel,
    OrderDelete,
    OrderExecuted,
    OrderExecutedWithPrice,
    OrderReplace,
    RegShoRestriction,
    StockDirectory,
    StockTradingAction,
    SystemEvent,
    Trade,
)
from calarb.itch.spec import MESSAGE_LENGTHS

TICK = 100
"""$0.01 in ITCH price units (1/10,000)."""

NANOS_PER_SECOND = 1_000_000_000
START_OF_MESSAGES_NS = 3 * 3600 * NANOS_PER_SECOND
START_OF_SYSTEM_HOURS_NS = 4 * 3600 * NANOS_PER_SECOND
MARKET_OPEN_NS = 9 * 3600 * NANOS_PER_SECOND + 30 * 60 * NANOS_PER_SECOND
MARKET_CLOSE_NS = 16 * 3600 * NANOS_PER_SECOND
END_OF_SYSTEM_HOURS_NS = 20 * 3600 * NANOS_PER_SECOND
END_OF_MESSAGES_NS = END_OF_SYSTEM_HOURS_NS + 5 * 60 * NANOS_PER_SECOND

OPENING_EVENTS = "OSQ"  # start of messages, start of system hours, start of market hours
CLOSING_EVENTS = "MEC"  # end of market hours, end of system hours, end of messages
MAX_SYMBOLS = 26**4  # distinct 4-letter names (also well under the 65,535 stock locates)
LIVE_ORDERS_PER_SYMBOL = 120
"""Book depth the flow hovers around: beyond it an add becomes a delete."""

MPIDS = ("GSCO", "MSCO", "JPMS", "UBSS", "CDRG", "VIRT")

_new = tuple.__new__  # builds a NamedTuple from a tuple without the Python-level __new__


def fixed_message_count(symbols: int) -> int:
    """Messages that are not order flow: six system events and R, H, Y per symbol."""
    return len(OPENING_EVENTS) + len(CLOSING_EVENTS) + 3 * symbols


def symbol_names(count: int, seed: int) -> list[str]:
    """`count` distinct 4-letter symbols drawn from `seed`, in alphabetical order (the order
    stock locates are assigned in)."""
    if not 1 <= count <= MAX_SYMBOLS:
        raise ValueError(f"symbols must be between 1 and {MAX_SYMBOLS}, not {count}")
    rng = random.Random(f"calarb-symbols-{seed}")
    letters = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
    names: set[str] = set()
    while len(names) < count:
        names.add("".join(rng.choice(letters) for _ in range(4)))
    return sorted(names)


def generate_messages(messages: int, symbols: int, seed: int) -> Iterator[ItchMessage]:
    """Exactly `messages` typed messages for `symbols` symbols (stock locates 1..symbols).
    Raises ValueError at once if `messages` is too few for the fixed part of the day."""
    names = symbol_names(symbols, seed)
    flow = messages - fixed_message_count(symbols)
    if flow < 0:
        raise ValueError(
            f"{messages} messages cannot hold the {fixed_message_count(symbols)} system and "
            f"directory messages that {symbols} symbols need"
        )
    return _day(names, flow, seed)


def _day(names: list[str], flow: int, seed: int) -> Iterator[ItchMessage]:
    timestamp = START_OF_MESSAGES_NS
    yield SystemEvent(0, 0, timestamp, OPENING_EVENTS[0])
    for locate, name in enumerate(names, 1):
        timestamp += 1000
        yield StockDirectory(
            stock_locate=locate,
            tracking_number=0,
            timestamp=timestamp,
            stock=name,
            market_category="Q",  # NASDAQ Global Select
            financial_status_indicator="N",
            round_lot_size=100,
            round_lots_only="N",
            issue_classification="C",  # common stock
            issue_sub_type="Z",
            authenticity="P",  # production
            short_sale_threshold_indicator="N",
            ipo_flag="N",
            luld_reference_price_tier="1",
            etp_flag="N",
            etp_leverage_factor=0,
            inverse_indicator="N",
        )
    yield SystemEvent(0, 0, START_OF_SYSTEM_HOURS_NS, OPENING_EVENTS[1])
    timestamp = START_OF_SYSTEM_HOURS_NS
    for locate, name in enumerate(names, 1):
        timestamp += 1000
        yield StockTradingAction(locate, 0, timestamp, name, "T", " ", "")
        yield RegShoRestriction(locate, 0, timestamp, name, "0")
    yield SystemEvent(0, 0, MARKET_OPEN_NS, OPENING_EVENTS[2])
    yield from _OrderFlow(names, seed).run(flow)
    yield SystemEvent(0, 0, MARKET_CLOSE_NS, CLOSING_EVENTS[0])
    yield SystemEvent(0, 0, END_OF_SYSTEM_HOURS_NS, CLOSING_EVENTS[1])
    yield SystemEvent(0, 0, END_OF_MESSAGES_NS, CLOSING_EVENTS[2])


class _Book:
    """One symbol's resting orders, as the exchange sees them."""

    __slots__ = ("locate", "stock", "mid", "levels", "prices", "live")

    def __init__(self, locate: int, stock: str, mid: int) -> None:
        self.locate = locate
        self.stock = stock
        self.mid = mid  # random-walk reference price, a multiple of TICK
        # side (True = buy) -> price -> order references in time priority
        self.levels: dict[bool, dict[int, list[int]]] = {True: {}, False: {}}
        # side -> ascending prices that have orders (best bid last, best ask first)
        self.prices: dict[bool, list[int]] = {True: [], False: []}
        self.live: list[int] = []  # references of live orders, for uniform picks

    def best(self, is_buy: bool) -> int | None:
        prices = self.prices[is_buy]
        if not prices:
            return None
        return prices[-1] if is_buy else prices[0]


class _OrderFlow:
    """The exchange's state and the random choices that drive it."""

    def __init__(self, names: list[str], seed: int) -> None:
        rng = random.Random(seed)
        self.random = rng.random
        self.books = [
            _Book(locate, name, TICK * rng.randrange(1000, 20000))
            for locate, name in enumerate(names, 1)
        ]
        # Zipf-like activity: a few symbols trade much more than the rest.
        weights = [1.0 / rank for rank in range(1, len(names) + 1)]
        rng.shuffle(weights)
        self.cumulative = list(itertools.accumulate(weights))
        # reference -> [book, is_buy, price, shares, position in book.live]
        self.orders: dict[int, list[Any]] = {}
        self.next_reference = 1
        self.next_match = 1
        self.timestamp = MARKET_OPEN_NS

    def run(self, count: int) -> Iterator[ItchMessage]:
        random_ = self.random
        cumulative = self.cumulative
        total_weight = cumulative[-1]
        books = self.books
        bisect_left = bisect.bisect_left
        mean_gap = max(1, (MARKET_CLOSE_NS - MARKET_OPEN_NS) // max(count, 1))
        last_ns = MARKET_CLOSE_NS - 1
        timestamp = self.timestamp
        for _ in range(count):
            timestamp += int(random_() * 2 * mean_gap)
            self.timestamp = timestamp = min(timestamp, last_ns)
            book = books[bisect_left(cumulative, random_() * total_weight)]
            action = random_()
            live = len(book.live)
            if live == 0 or (action < 0.44 and live < LIVE_ORDERS_PER_SYMBOL):
                yield self.add(book, action < 0.02)
            elif action < 0.78:
                yield self.delete(book)
            elif action < 0.86:
                yield self.replace(book)
            elif action < 0.89:
                yield self.cancel(book)
            elif action < 0.96:
                yield self.execute(book, action < 0.90)
            else:
                yield self.trade(book)

    # -- order bookkeeping -------------------------------------------------------------

    def _rest(self, book: _Book, reference: int, is_buy: bool, price: int, shares: int) -> None:
        level = book.levels[is_buy].get(price)
        if level is None:
            book.levels[is_buy][price] = [reference]
            bisect.insort(book.prices[is_buy], price)
        else:
            level.append(reference)
        self.orders[reference] = [book, is_buy, price, shares, len(book.live)]
        book.live.append(reference)

    def _remove(self, reference: int) -> list[Any]:
        order = self.orders.pop(reference)
        book, is_buy, price = order[0], order[1], order[2]
        level = book.levels[is_buy][price]
        level.remove(reference)
        if not level:
            del book.levels[is_buy][price]
            prices = book.prices[is_buy]
            del prices[bisect.bisect_left(prices, price)]
        # swap-remove from the live list, keeping positions right
        position, last = order[4], book.live.pop()
        if last != reference:
            book.live[position] = last
            self.orders[last][4] = position
        return order

    def _pick(self, book: _Book) -> int:
        """A live order, preferring the one further from the reference price (stale orders
        leave first, so the book follows the random walk)."""
        live, random_ = book.live, self.random
        first = live[int(random_() * len(live))]
        second = live[int(random_() * len(live))]
        orders = self.orders
        if abs(orders[second][2] - book.mid) > abs(orders[first][2] - book.mid):
            return second
        return first

    @staticmethod
    def _quote_price(book: _Book, is_buy: bool, price: int) -> int:
        """`price` moved, if needed, so that it does not lock or cross the other side. (The
        reference price never falls below $1.00 and asks stay near it, so a bid always has
        room below the ask.)"""
        if is_buy:
            asks = book.prices[False]
            if asks and price >= asks[0]:
                price = asks[0] - TICK
            return max(price, TICK)
        bids = book.prices[True]
        if bids and price <= bids[-1]:
            return bids[-1] + TICK
        return price

    def _shares(self) -> int:
        draw = self.random()
        if draw < 0.1:
            return 1 + int(draw * 990)  # odd lot, 1..99
        return 100 * (1 + int((draw - 0.1) ** 3 * 27))  # round lots, mostly small

    # -- the messages --------------------------------------------------------------------

    def add(self, book: _Book, with_mpid: bool) -> ItchMessage:
        random_ = self.random
        if random_() < 0.1:  # the reference price takes a step
            book.mid = max(book.mid + (TICK if random_() < 0.5 else -TICK), 100 * TICK)
        is_buy = random_() < 0.5
        distance = TICK * int(random_() ** 2 * 10)  # mostly at or near the touch
        price = book.mid - distance if is_buy else book.mid + TICK + distance
        price = self._quote_price(book, is_buy, price)
        shares = self._shares()
        reference = self.next_reference
        self.next_reference += 1
        self._rest(book, reference, is_buy, price, shares)
        side = "B" if is_buy else "S"
        if with_mpid:
            attribution = MPIDS[int(random_() * len(MPIDS))]
            fields = (book.locate, 0, self.timestamp, reference, side, shares, book.stock, price,
                      attribution)  # fmt: skip
            return _new(AddOrderMpid, fields)
        return _new(AddOrder, (book.locate, 0, self.timestamp, reference, side, shares,
                               book.stock, price))  # fmt: skip

    def delete(self, book: _Book) -> ItchMessage:
        reference = self._pick(book)
        self._remove(reference)
        return _new(OrderDelete, (book.locate, 0, self.timestamp, reference))

    def cancel(self, book: _Book) -> ItchMessage:
        reference = self._pick(book)
        order = self.orders[reference]
        if order[3] == 1:
            return self.delete(book)
        cancelled = 1 + int(self.random() * (order[3] - 1))  # leaves at least one share
        order[3] -= cancelled
        return _new(OrderCancel, (book.locate, 0, self.timestamp, reference, cancelled))

    def replace(self, book: _Book) -> ItchMessage:
        random_ = self.random
        original = self._pick(book)
        _, is_buy, old_price = self._remove(original)[:3]
        toward_mid = TICK if old_price < book.mid else -TICK
        price = old_price + toward_mid * int(random_() * 3)
        price = self._quote_price(book, is_buy, price)
        shares = self._shares()
        reference = self.next_reference
        self.next_reference += 1
        self._rest(book, reference, is_buy, price, shares)
        return _new(OrderReplace, (book.locate, 0, self.timestamp, original, reference, shares,
                                   price))  # fmt: skip

    def execute(self, book: _Book, with_price: bool) -> ItchMessage:
        """An incoming order hits the oldest order at the best price of one side."""
        random_ = self.random
        is_buy = random_() < 0.5  # the resting side that gets hit
        if not book.prices[is_buy]:
            is_buy = not is_buy
        price = book.best(is_buy)
        assert price is not None  # the book has live orders
        reference = book.levels[is_buy][price][0]
        order = self.orders[reference]
        shares = order[3]
        executed = shares if random_() < 0.5 else 1 + int(random_() * shares)
        if executed >= shares:
            executed = shares
            self._remove(reference)
        else:
            order[3] = shares - executed
        match = self.next_match
        self.next_match += 1
        if with_price:
            return _new(OrderExecutedWithPrice, (book.locate, 0, self.timestamp, reference,
                                                 executed, match, "Y", price))  # fmt: skip
        return _new(OrderExecuted, (book.locate, 0, self.timestamp, reference, executed, match))

    def trade(self, book: _Book) -> ItchMessage:
        """A non-displayed execution, printed between the touches (or at the reference)."""
        random_ = self.random
        bid, ask = book.best(True), book.best(False)
        if bid is not None and ask is not None:
            price = bid + TICK * int(random_() * ((ask - bid) // TICK + 1))
        else:
            price = book.mid
        match = self.next_match
        self.next_match += 1
        side = "B" if random_() < 0.5 else "S"
        return _new(Trade, (book.locate, 0, self.timestamp, 0, side, self._shares(), book.stock,
                            price, match))  # fmt: skip


_FRAMERS = {
    MESSAGE_CLASSES[code]: (MESSAGE_LENGTHS[code].to_bytes(2, "big"), ENCODERS[code])
    for code in MESSAGE_LENGTHS
}
"""Message class -> (length prefix, encoder)."""
_BATCH = 4096  # messages per write (small batches keep the garbage collector's work small)


def generate_itch_file(
    path: str | os.PathLike[str], messages: int, symbols: int, seed: int
) -> dict[str, Any]:
    """Write `generate_messages(messages, symbols, seed)` as a length-prefixed ITCH file
    (gzip-compressed, reproducibly, if the name ends in .gz). Returns a summary: path,
    messages, bytes (uncompressed), symbols, seed, by_type, first/last timestamps."""
    stream = generate_messages(messages, symbols, seed)  # validates before the file is made
    by_class: Counter[type] = Counter()
    written = 0
    first = last = None
    with _create(path) as out:
        while batch := list(itertools.islice(stream, _BATCH)):
            by_class.update(map(type, batch))
            frames: list[bytes] = []
            append = frames.append
            for message in batch:
                prefix, encoder = _FRAMERS[type(message)]
                append(prefix)
                append(encoder(message))
            written += out.write(b"".join(frames))
            first = first or batch[0]
            last = batch[-1]
    assert first is not None and last is not None  # a day has at least its system events
    return {
        "path": os.fspath(path),
        "messages": messages,
        "bytes": written,
        "symbols": symbols,
        "seed": seed,
        "by_type": dict(sorted((cls.message_type, n) for cls, n in by_class.items())),
        "first_timestamp_ns": first.timestamp,
        "last_timestamp_ns": last.timestamp,
    }


def _create(path: str | os.PathLike[str]) -> IO[bytes]:
    """A new file for writing; gzip (with no name or time in its header, so the bytes
    depend only on the content) if the name ends in .gz."""
    if os.fspath(path).endswith(".gz"):
        return gzip.GzipFile(filename="", mode="wb", fileobj=open(path, "wb"), mtime=0)
    return open(path, "wb")
