"""Any market data as ITCH 5.0: the book view and file writer that the LOBSTER and Parquet
inputs of `calarb backtest` share (`calarb.backtest.lobster_input`,
`calarb.backtest.parquet_input`).

The conversion keeps its own view of each book (an `OrderBook` plus each level's queue) and
writes the stock directory ('R') first, then adds, executions, cancels and deletes of every
symbol merged in time order. After each input row it makes the book's best levels equal to the
row (`SymbolItch.match_row`): a level the row shows that the book lacks (revealed from beyond
the data's depth) gets a synthetic order for the missing shares at the back of its queue, a
level with more shares than the row loses the excess from the back of its queue (X, or D when
an order has nothing left), a level inside the row's price range that the row does not show is
deleted. Levels beyond the row's depth are kept as last seen (their orders keep their queue
places if they come back into view); when a side shows fewer levels than its depth, the side
is complete and nothing beyond is kept.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from calarb.book.order_book import OrderBook
from calarb.core.types import Side
from calarb.itch.codec import encode
from calarb.itch.messages import (
    AddOrder,
    ItchMessage,
    OrderCancel,
    OrderDelete,
    OrderExecuted,
    StockDirectory,
)

Level = tuple[int, int]  # (price, shares)

QUEUE_BY_KIND = {"itch": "fifo", "lobster": "fifo", "parquet": "probabilistic"}
"""The queue model each kind of data supports: FIFO needs order identities (L3)."""


@dataclass
class SymbolConversion:
    """What the conversion of one symbol did."""

    symbol: str
    locate: int
    source: str  # file(s) it came from
    rows: int  # input rows (LOBSTER message/orderbook rows, Parquet rows)
    levels: int  # levels per side the rows give
    row_ends: list[int] = field(repr=False, default_factory=list)
    """Messages of this symbol in the ITCH file (after the directory) once each row is
    applied, so a replay can be checked against the input row by row."""
    messages: int = 0
    learned_levels: int = 0  # levels added or resized to match a row (synthetic orders)
    dropped_levels: int = 0  # levels deleted because a row did not show them
    unattributed: int = 0  # reductions of unknown orders larger than their price level


@dataclass
class PreparedVenue:
    """One venue's ITCH file, ready for `run_itch_backtest`."""

    path: Path
    kind: str
    queue: str  # the queue model the data supports: "fifo" or "probabilistic"
    source: str
    symbols: list[SymbolConversion] = field(default_factory=list)


def check_symbols(symbols: list[str], sources: list[Path | str]) -> None:
    seen: dict[str, Path | str] = {}
    for symbol, source in zip(symbols, sources, strict=True):
        if not symbol or len(symbol) > 8 or not symbol.isascii():
            raise ValueError(f"{source}: symbol {symbol!r} is not 1-8 ASCII characters")
        if symbol in seen:
            raise ValueError(f"symbol {symbol} twice in one venue: {seen[symbol]} and {source}")
        seen[symbol] = source


class SymbolItch:
    """One symbol's ITCH messages and the book they build (the converter's own view of it:
    an `OrderBook` for the levels, plus each level's queue of references)."""

    def __init__(self, symbol: str, locate: int, refs: Iterator[int], matches: Iterator[int]):
        self.symbol = symbol
        self.locate = locate
        self.book = OrderBook(symbol)
        self.queues: dict[tuple[int, int], list[int]] = {}  # (side, price) -> refs in priority
        self.synthetic: set[int] = set()
        self.times: list[int] = []
        self.payloads: list[bytes] = []
        self.row_ends: list[int] = []
        self.learned = 0
        self.dropped = 0
        self.unattributed = 0
        self._refs = refs
        self._matches = matches

    def emit(self, message: ItchMessage) -> None:
        self.times.append(message.timestamp)
        self.payloads.append(encode(message))

    def next_match(self) -> int:
        return next(self._matches)

    def end_row(self) -> None:
        self.row_ends.append(len(self.payloads))

    # -- order operations, each one ITCH message --------------------------------------------

    def add(self, time_ns: int, side: int, price: int, shares: int, synthetic: bool) -> int:
        ref = next(self._refs)
        self.book.add(ref, side, price, shares)
        self.queues.setdefault((side, price), []).append(ref)
        if synthetic:
            self.synthetic.add(ref)
        indicator = "B" if side == Side.BUY else "S"
        self.emit(AddOrder(self.locate, 0, time_ns, ref, indicator, shares, self.symbol, price))
        return ref

    def reduce(self, time_ns: int, ref: int, shares: int, executed: bool) -> None:
        """Take `shares` (at most what is left) off an order: an execution (E), or a cancel
        (X; D when nothing is left)."""
        order = self.book.order(ref)
        assert order is not None and 0 < shares <= order.shares
        if executed:
            self.book.execute(ref, shares)
            self.emit(OrderExecuted(self.locate, 0, time_ns, ref, shares, next(self._matches)))
        elif shares < order.shares:
            self.book.cancel(ref, shares)
            self.emit(OrderCancel(self.locate, 0, time_ns, ref, shares))
        else:
            self.book.delete(ref)
            self.emit(OrderDelete(self.locate, 0, time_ns, ref))
        if ref not in self.book:
            self._forget(ref, int(order.side), order.price)

    def delete(self, time_ns: int, ref: int) -> None:
        order = self.book.order(ref)
        assert order is not None
        self.book.delete(ref)
        self.emit(OrderDelete(self.locate, 0, time_ns, ref))
        self._forget(ref, int(order.side), order.price)

    def _forget(self, ref: int, side: int, price: int) -> None:
        queue = self.queues[(side, price)]
        queue.remove(ref)
        if not queue:
            del self.queues[(side, price)]
        self.synthetic.discard(ref)

    def reduce_unattributed(
        self, time_ns: int, side: int, price: int, shares: int, executed: bool
    ) -> None:
        """A reduction of an order the data never showed arriving (placed before the data
        starts, or while its level was out of view). An execution takes the front of the
        level's queue: under price-time priority whatever was ahead of that order is gone. A
        cancel draws on the synthetic orders at the price (front first), then on the others
        from the back (orders last seen while the level was out of view)."""
        queue = self.queues.get((side, price), [])
        if executed:
            candidates = list(queue)
        else:
            synthetic = [ref for ref in queue if ref in self.synthetic]
            candidates = synthetic + [ref for ref in reversed(queue) if ref not in self.synthetic]
        for ref in candidates:
            order = self.book.order(ref)
            assert order is not None
            taken = min(shares, order.shares)
            self.reduce(time_ns, ref, taken, executed)
            shares -= taken
            if shares == 0:
                return
        self.unattributed += 1  # more than the level holds: the next row's match settles it

    # -- making the book show a row ---------------------------------------------------------

    def match_book(self, time_ns: int, asks: list[Level], bids: list[Level], depth: int) -> None:
        """`match_row` on both sides; the side moving away goes first (the bids when the row's
        best ask is at or below the book's best bid), so no step shows a crossed book."""
        best_bid = self.book.best_bid
        if asks and best_bid is not None and asks[0][0] <= best_bid.price:
            self.match_row(time_ns, Side.BUY, bids, depth)
            self.match_row(time_ns, Side.SELL, asks, depth)
        else:
            self.match_row(time_ns, Side.SELL, asks, depth)
            self.match_row(time_ns, Side.BUY, bids, depth)

    def match_row(self, time_ns: int, side: int, levels: list[Level], depth: int) -> None:
        """Make the best levels of one side equal `levels` (best first, at most `depth`; fewer
        means the side has nothing more). See the module docstring for the rules. Levels are
        added and resized before others are dropped, so no step shows a stale level on top."""
        book = self.book
        top = book.levels(side, len(levels) + 1)
        complete = len(levels) < depth
        shown = [(level.price, level.shares) for level in top[: len(levels)]]
        if shown == levels and not (complete and len(top) > len(levels)):
            return
        for price, shares in levels:
            level = book.level(side, price)
            have = level.shares if level is not None else 0
            if have == shares:
                continue
            self.learned += 1
            if have < shares:
                self.add(time_ns, side, price, shares - have, synthetic=True)
                continue
            excess = have - shares
            for ref in reversed(list(self.queues[(side, price)])):  # from the back
                order = book.order(ref)
                assert order is not None
                taken = min(excess, order.shares)
                self.reduce(time_ns, ref, taken, executed=False)
                excess -= taken
                if excess == 0:
                    break
        wanted = dict(levels)
        in_view = book.levels(side)
        if not complete:  # levels worse than the row's last are beyond its view: kept
            in_view = [lv for lv in in_view if (lv.price - levels[-1][0]) * side >= 0]
        for level in in_view:
            if level.price not in wanted:
                for ref in list(self.queues[(side, level.price)]):
                    self.delete(time_ns, ref)
                self.dropped += 1

    def conversion(self, source: str, levels: int) -> SymbolConversion:
        return SymbolConversion(
            self.symbol, self.locate, source, len(self.row_ends), levels, self.row_ends,
            len(self.payloads), self.learned, self.dropped, self.unattributed,
        )  # fmt: skip


def write_itch(path: Path, items: list[SymbolItch]) -> None:
    """The stock directory, then every symbol's messages merged by time (each symbol's own
    order kept: merged on its running maximum time, ties by symbol then order)."""
    stamps = [np.maximum.accumulate(np.asarray(item.times, np.int64)) for item in items]
    times = np.concatenate(stamps) if items else np.zeros(0, np.int64)
    which = np.concatenate([np.full(len(s), i, np.int64) for i, s in enumerate(stamps)])
    index = np.concatenate([np.arange(len(s), dtype=np.int64) for s in stamps])
    order = np.lexsort((index, which, times))
    start = int(times.min()) if times.size else 0
    directory = [encode(_directory(item.locate, item.symbol, start)) for item in items]
    payloads = [item.payloads for item in items]
    body = [directory[i] for i in range(len(items))]
    body.extend(payloads[i][k] for i, k in zip(which[order].tolist(), index[order].tolist(),
                                               strict=True))  # fmt: skip
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as out:
        out.write(b"".join(len(p).to_bytes(2, "big") + p for p in body))


def _directory(locate: int, symbol: str, time_ns: int) -> StockDirectory:
    return StockDirectory(
        stock_locate=locate, tracking_number=0, timestamp=time_ns, stock=symbol,
        market_category="Q", financial_status_indicator="N", round_lot_size=100,
        round_lots_only="N", issue_classification="C", issue_sub_type="Z", authenticity="P",
        short_sale_threshold_indicator="N", ipo_flag="N", luld_reference_price_tier="1",
        etp_flag="N", etp_leverage_factor=0, inverse_indicator="N",
    )  # fmt: skip
