"""Market data inputs of `calarb backtest`: every input becomes ITCH 5.0, one file per venue, so
LOBSTER and Parquet data run through the one replay path of `calarb.backtest.replay`.

A `--data` value (docs/backtest.md, "Inputs") is one of:

* ``synthetic``: a market generated from the configuration (not handled here);
* ``A.itch,B.itch``: ITCH 5.0 files, one venue each (used as they are);
* ``lobster:ITEM,ITEM,...``: ONE venue made of LOBSTER message/orderbook pairs of one day, one
  symbol each (the symbol and the day come from the file name, ``AMZN_2012-06-21_...``). An
  item is a message file (its orderbook file is the same name with ``_orderbook_`` for
  ``_message_``, in the same folder), an orderbook file (then its message file must be listed
  too), a directory (every ``*_message_*.csv`` in it) or a glob;
* ``parquet:ITEM,ITEM,...``: ONE venue made of top-of-book / L2 series in the tick store's
  format (`calarb.book.bulk.bbo_series`, written by ``calarb book bbo``): ``timestamp``,
  ``bid_price_1..N``, ``bid_shares_1..N``, ``ask_price_1..N``, ``ask_shares_1..N``, prices in
  1/10,000, an absent level 0/0. An item is ``FILE``, ``SYMBOL=FILE``, a directory (every
  ``*.parquet``) or a glob. The symbol is the ``SYMBOL=`` prefix, else a ``symbol`` column
  (several symbols in one file), else the file name up to its first ``_`` or ``.``.

The conversion keeps its own view of each book (an `OrderBook` plus each level's queue) and
writes the stock directory ('R') first, then adds, executions, cancels and deletes of every
symbol merged in time order. After each input row it makes the book's best levels equal to the
row (`_SymbolItch.match_row`): a level the row shows that the book lacks (revealed from beyond
the data's depth) gets a synthetic order for the missing shares at the back of its queue, a
level with more shares than the row loses the excess from the back of its queue (X, or D when
an order has nothing left), a level inside the row's price range that the row does not show is
deleted. Levels beyond the row's depth are kept as last seen (their orders keep their queue
places if they come back into view); when a side shows fewer levels than its depth, the side
is complete and nothing beyond is kept.

LOBSTER (`lobster_to_itch`): the book is seeded with one synthetic order per level of the
state *before* the first message (orderbook row 1 with message 1 undone). Types map 1 submit
-> A, 2 partial cancel -> X, 3 delete -> D, 4 visible execution -> E, 5 hidden execution -> P,
6 cross trade -> Q, 7 halt -> H. A cancel, delete or execution of an order id the file never
submitted (placed before the file, or while its level was out of view), or of more shares than
the known order still holds, takes the rest from the other orders at its price and side
(`_SymbolItch.reduce_unattributed`), so every visible execution stays an execution. Queue
model: FIFO (order identities are known).

Parquet (`parquet_to_itch`): each row is matched as above, so a level's size going down is a
cancel from the back of its queue (L2 carries no trades: passive fills come only from crossing
adds); going up is a new synthetic order for the difference at
the back (the shares already there keep their place; nothing resets); a new price is a new
order, a vanished price a delete. Queue model: the probabilistic L2 model.
"""

from __future__ import annotations

import glob
import itertools
import os
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from calarb.backtest.config import BacktestConfig
from calarb.book.order_book import OrderBook
from calarb.core.types import Side
from calarb.data.lobster import (
    CANCEL,
    CROSS_TRADE,
    DELETE,
    EXECUTE_HIDDEN,
    EXECUTE_VISIBLE,
    HALT,
    SUBMIT,
    LobsterFormatError,
    LobsterMessage,
    OrderbookRow,
    read_messages,
    read_orderbook,
)
from calarb.itch.codec import encode
from calarb.itch.errors import ItchEncodeError
from calarb.itch.messages import (
    AddOrder,
    CrossTrade,
    ItchMessage,
    OrderCancel,
    OrderDelete,
    OrderExecuted,
    StockDirectory,
    StockTradingAction,
    Trade,
)

Level = tuple[int, int]  # (price, shares)

SYNTHETIC_DATA = "synthetic"
LOBSTER_PREFIX = "lobster:"
PARQUET_PREFIX = "parquet:"
QUEUE_BY_KIND = {"itch": "fifo", "lobster": "fifo", "parquet": "probabilistic"}
"""The queue model each kind of data supports: FIFO needs order identities (L3)."""

_HALT_STATES = {-1: "H", 0: "Q", 1: "T"}  # LOBSTER type-7 price -> ITCH trading state
_NOON_NS = 12 * 3600 * 1_000_000_000
_DAY = re.compile(r"_(\d{4}-\d{2}-\d{2})_")
_GLOB_CHARS = set("*?[")


@dataclass(frozen=True)
class LobsterPair:
    symbol: str
    day: str | None  # YYYY-MM-DD from the file name, when it has one
    message: Path
    orderbook: Path


@dataclass(frozen=True)
class ParquetInput:
    path: Path
    symbol: str | None  # None: a `symbol` column, else the file name


@dataclass(frozen=True)
class VenueInput:
    """One venue of a backtest's input, before conversion."""

    kind: str  # "itch", "lobster" or "parquet"
    itch: Path | None = None
    lobster: tuple[LobsterPair, ...] = ()
    parquet: tuple[ParquetInput, ...] = ()


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


# --------------------------------------------------------------------------- parsing --data


def parse_data(data: str | Sequence[str | os.PathLike[str]]) -> list[VenueInput]:
    """The venues of one or more `--data` values (see the module docstring). Missing files
    raise FileNotFoundError, inconsistent ones ValueError; both name the file."""
    specs = [data] if isinstance(data, str) else [os.fspath(item) for item in data]
    venues: list[VenueInput] = []
    for spec in specs:
        if spec.startswith(LOBSTER_PREFIX):
            venues.append(
                VenueInput("lobster", lobster=_lobster_pairs(spec[len(LOBSTER_PREFIX) :]))
            )
        elif spec.startswith(PARQUET_PREFIX):
            items = _parquet_items(spec[len(PARQUET_PREFIX) :])
            venues.append(VenueInput("parquet", parquet=items))
        elif spec == SYNTHETIC_DATA:
            raise ValueError("'synthetic' cannot be combined with other market data")
        else:
            venues.extend(VenueInput("itch", itch=_itch_path(part)) for part in _split(spec))
    if not venues:
        raise ValueError("no market data given")
    days = {p.day for venue in venues for p in venue.lobster if p.day is not None}
    if len(days) > 1:
        raise ValueError(f"LOBSTER files of different days: {sorted(days)} (one day per run)")
    return venues


def _split(spec: str) -> list[str]:
    return [part.strip() for part in spec.split(",") if part.strip()]


def _itch_path(text: str) -> Path:
    path = Path(text)
    if not path.exists():
        raise FileNotFoundError(f"no such market data file: {text}")
    if path.suffix == ".csv" and "_message_" in path.name:
        raise ValueError(f"{text} looks like a LOBSTER file: give it as lobster:{text}")
    if path.suffix == ".parquet":
        raise ValueError(f"{text} is a Parquet file: give it as parquet:{text}")
    return path


def _expand(item: str, directory_pattern: str) -> list[Path]:
    """A file, every `directory_pattern` file of a directory, or the files of a glob."""
    if _GLOB_CHARS & set(item):
        found = sorted(glob.glob(item))
        if not found:
            raise FileNotFoundError(f"{item} matches no file")
        return [Path(p) for p in found]
    path = Path(item)
    if path.is_dir():
        found = sorted(path.glob(directory_pattern))
        if not found:
            raise FileNotFoundError(f"directory {item} has no {directory_pattern} file")
        return found
    if not path.exists():
        raise FileNotFoundError(f"no such market data file: {item}")
    return [path]


def _lobster_pairs(spec: str) -> tuple[LobsterPair, ...]:
    messages: list[Path] = []
    orderbooks: set[Path] = set()
    for item in _split(spec):
        for path in _expand(item, "*_message_*.csv"):
            if "_message_" in path.name:
                messages.append(path)
            elif "_orderbook_" in path.name:
                orderbooks.add(path)
            else:
                raise ValueError(
                    f"{path}: not a LOBSTER file name (SYMBOL_DAY_..._message_N.csv or "
                    "..._orderbook_N.csv)"
                )
    if not messages:
        raise ValueError(f"lobster:{spec}: no message file")
    pairs = []
    for message in dict.fromkeys(messages):  # listed twice (a glob and a file): once
        orderbook = message.with_name(message.name.replace("_message_", "_orderbook_", 1))
        if not orderbook.exists():
            raise FileNotFoundError(f"message file {message} has no orderbook file {orderbook}")
        orderbooks.discard(orderbook)
        day = _DAY.search(message.name)
        pairs.append(
            LobsterPair(message.name.split("_")[0], day.group(1) if day else None, message,
                        orderbook)
        )  # fmt: skip
    if orderbooks:
        raise ValueError(
            f"orderbook file(s) without their message file: {sorted(map(str, orderbooks))}"
        )
    _check_symbols([p.symbol for p in pairs], [p.message for p in pairs])
    days = {p.day for p in pairs if p.day is not None}
    if len(days) > 1:
        raise ValueError(f"lobster:{spec}: files of different days {sorted(days)}")
    return tuple(pairs)


def _parquet_items(spec: str) -> tuple[ParquetInput, ...]:
    items = []
    for item in _split(spec):
        symbol, _, rest = item.partition("=")
        if rest and not _GLOB_CHARS & set(symbol) and "/" not in symbol:
            items.extend(ParquetInput(path, symbol) for path in _expand(rest, "*.parquet"))
        else:
            items.extend(ParquetInput(path, None) for path in _expand(item, "*.parquet"))
    return tuple(dict.fromkeys(items))


def _check_symbols(symbols: list[str], sources: list[Path | str]) -> None:
    seen: dict[str, Path | str] = {}
    for symbol, source in zip(symbols, sources, strict=True):
        if not symbol or len(symbol) > 8 or not symbol.isascii():
            raise ValueError(f"{source}: symbol {symbol!r} is not 1-8 ASCII characters")
        if symbol in seen:
            raise ValueError(f"symbol {symbol} twice in one venue: {seen[symbol]} and {source}")
        seen[symbol] = source


# --------------------------------------------------------------------------- conversion


def prepare_inputs(
    data: str | Sequence[str | os.PathLike[str]], work_dir: str | os.PathLike[str]
) -> list[PreparedVenue]:
    """Every venue of `data` as an ITCH file: ITCH inputs as they are, LOBSTER and Parquet
    venues converted into `work_dir` (`venue<N>.itch`)."""
    prepared = []
    for number, venue in enumerate(parse_data(data), 1):
        out = Path(work_dir) / f"venue{number}.itch"
        if venue.kind == "itch":
            assert venue.itch is not None
            prepared.append(
                PreparedVenue(venue.itch, "itch", QUEUE_BY_KIND["itch"], str(venue.itch))
            )
        elif venue.kind == "lobster":
            prepared.append(lobster_to_itch(venue.lobster, out))
        else:
            prepared.append(parquet_to_itch(venue.parquet, out))
    return prepared


class _SymbolItch:
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


def _write_itch(path: Path, items: list[_SymbolItch]) -> None:
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


# --------------------------------------------------------------------------- LOBSTER


def lobster_to_itch(pairs: Sequence[LobsterPair], out: str | os.PathLike[str]) -> PreparedVenue:
    """One venue of LOBSTER pairs as an ITCH file (see the module docstring)."""
    refs, matches = itertools.count(1), itertools.count(1)
    items, conversions = [], []
    for locate, pair in enumerate(pairs, 1):
        messages = read_messages(pair.message)
        depth, rows = read_orderbook(pair.orderbook)
        if len(messages) != len(rows):
            raise LobsterFormatError(
                pair.orderbook, None,
                f"{len(rows)} rows, but the message file {pair.message} has {len(messages)}",
            )  # fmt: skip
        item = _SymbolItch(pair.symbol, locate, refs, matches)
        try:
            _convert_lobster(item, messages, rows, depth)
        except ItchEncodeError as exc:  # a price or size beyond ITCH's 32 bits
            row = len(item.row_ends) + 1
            raise LobsterFormatError(pair.message, row, f"not encodable as ITCH: {exc}") from None
        items.append(item)
        conversions.append(item.conversion(str(pair.message), depth))
    _write_itch(Path(out), items)
    source = LOBSTER_PREFIX + ",".join(str(p.message) for p in pairs)
    return PreparedVenue(Path(out), "lobster", QUEUE_BY_KIND["lobster"], source, conversions)


def state_before(first: LobsterMessage, row: OrderbookRow) -> OrderbookRow:
    """The book before message 1, from orderbook row 1 (the book after it): a submit is taken
    off its level, a cancel, delete or visible execution put back."""
    asks, bids = dict(row.asks), dict(row.bids)
    levels = bids if first.direction == Side.BUY else asks
    if first.type == SUBMIT and first.price in levels:
        levels[first.price] -= first.size
        if levels[first.price] <= 0:
            del levels[first.price]
    elif first.type in (CANCEL, DELETE, EXECUTE_VISIBLE):
        levels[first.price] = levels.get(first.price, 0) + first.size
    return OrderbookRow(sorted(asks.items()), sorted(bids.items(), reverse=True))


def _convert_lobster(
    item: _SymbolItch, messages: list[LobsterMessage], rows: list[OrderbookRow], depth: int
) -> None:
    seed = state_before(messages[0], rows[0])
    start = messages[0].time_ns
    for side, levels in ((Side.SELL, seed.asks), (Side.BUY, seed.bids)):
        for price, shares in levels:
            item.add(start, side, price, shares, synthetic=True)
    ids: dict[int, int] = {}  # LOBSTER order id -> ITCH reference
    for message, row in zip(messages, rows, strict=True):
        _apply_lobster(item, message, ids)
        item.match_book(message.time_ns, row.asks[:depth], row.bids[:depth], depth)
        item.end_row()


def _apply_lobster(item: _SymbolItch, message: LobsterMessage, ids: dict[int, int]) -> None:
    time_ns, kind, side, price = message.time_ns, message.type, message.direction, message.price
    locate, symbol = item.locate, item.symbol
    if kind == SUBMIT:
        if message.size > 0 and price > 0:
            ids[message.order_id] = item.add(time_ns, side, price, message.size, synthetic=False)
    elif kind in (CANCEL, DELETE, EXECUTE_VISIBLE):
        if message.size <= 0:
            return
        executed = kind == EXECUTE_VISIBLE
        ref = ids.get(message.order_id)
        order = None if ref is None else item.book.order(ref)
        left = message.size
        if order is not None and order.price == price and order.side == side:
            assert ref is not None
            if kind == DELETE:
                item.delete(time_ns, ref)
            else:
                item.reduce(time_ns, ref, min(left, order.shares), executed)
            left -= order.shares  # more than the order holds: an earlier guess took from it
        if left > 0:
            item.reduce_unattributed(time_ns, side, price, left, executed)
    elif kind == EXECUTE_HIDDEN:
        indicator = "B" if side == Side.BUY else "S"
        item.emit(Trade(locate, 0, time_ns, 0, indicator, message.size, symbol, price,
                        item.next_match()))  # fmt: skip
    elif kind == CROSS_TRADE:  # LOBSTER does not say which cross: opening before noon
        cross = "O" if time_ns < _NOON_NS else "C"
        item.emit(CrossTrade(locate, 0, time_ns, message.size, symbol, price,
                             item.next_match(), cross))  # fmt: skip
    elif kind == HALT:
        item.emit(StockTradingAction(locate, 0, time_ns, symbol, _HALT_STATES[price], " ", ""))


# --------------------------------------------------------------------------- Parquet


@dataclass
class _Series:
    symbol: str
    source: str
    levels: int
    rows: np.ndarray  # int64 row numbers in the file (1-based)
    timestamps: np.ndarray
    bid_price: np.ndarray  # (rows, levels)
    bid_shares: np.ndarray
    ask_price: np.ndarray
    ask_shares: np.ndarray


def read_level_series(item: ParquetInput) -> list[_Series]:
    """The top-of-book / L2 series of one Parquet file, one per symbol, checked row by row.
    Errors name the file and the (1-based) row."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    path = item.path
    try:
        table = pq.read_table(path)
    except (OSError, pa.ArrowException) as exc:
        raise ValueError(f"{path}: not a readable Parquet file ({exc})") from None
    names = set(table.column_names)
    levels = 0
    while f"bid_price_{levels + 1}" in names:
        levels += 1
    blocks = ("bid_price", "bid_shares", "ask_price", "ask_shares")
    needed = ["timestamp"] + [f"{b}_{k}" for b in blocks for k in range(1, levels + 1)]
    missing = [name for name in needed if name not in names]
    if levels == 0 or missing:
        raise ValueError(
            f"{path}: not a top-of-book/L2 series (calarb book bbo): missing "
            f"{missing or ['bid_price_1']}"
        )
    columns = {}
    for name in needed:
        column = table.column(name)
        if column.null_count:
            row = int(np.flatnonzero(column.is_null().to_numpy(zero_copy_only=False))[0]) + 1
            raise ValueError(f"{path}, row {row}: {name} is empty")
        if not pa.types.is_integer(column.type):
            raise ValueError(f"{path}: column {name} is {column.type}, not an integer")
        columns[name] = column.to_numpy().astype(np.int64)
    block = {b: np.column_stack([columns[f"{b}_{k}"] for k in range(1, levels + 1)])
             for b in blocks}  # fmt: skip
    _check_rows(path, columns["timestamp"], block)
    if item.symbol is not None:
        symbols = np.full(table.num_rows, item.symbol, dtype=object)
    elif "symbol" in names:
        symbols = np.asarray(table.column("symbol").to_pylist(), dtype=object)
    else:
        symbols = np.full(table.num_rows, re.split(r"[_.]", path.name)[0], dtype=object)
    series = []
    for symbol in dict.fromkeys(symbols.tolist()):
        rows = np.flatnonzero(symbols == symbol)
        stamps = columns["timestamp"][rows]
        back = np.flatnonzero(np.diff(stamps) < 0)
        if back.size:
            raise ValueError(
                f"{path}, row {rows[back[0] + 1] + 1}: timestamp {stamps[back[0] + 1]} is before "
                f"the previous row's {stamps[back[0]]} ({symbol})"
            )
        series.append(
            _Series(str(symbol), str(path), levels, rows + 1, stamps,
                    *(block[b][rows] for b in blocks))
        )  # fmt: skip
    return series


def _check_rows(path: Path, stamps: np.ndarray, block: dict[str, np.ndarray]) -> None:
    """Raise naming the first bad row: negative values, a price without shares (or shares
    without a price), a level after an empty one, prices not strictly worse level by level."""
    bad = (stamps < 0).astype(bool)
    reasons = ["negative timestamp"]
    checks = [bad]
    for side, worse in (("bid", -1), ("ask", 1)):
        price, shares = block[f"{side}_price"], block[f"{side}_shares"]
        present = price > 0
        checks.append(((price < 0) | (shares < 0)).any(axis=1))
        reasons.append(f"negative {side} price or shares")
        checks.append((present != (shares > 0)).any(axis=1))
        reasons.append(f"a {side} level with a price but no shares, or shares but no price")
        checks.append((present[:, 1:] & ~present[:, :-1]).any(axis=1))
        reasons.append(f"a {side} level after an empty one")
        steps = (price[:, 1:] - price[:, :-1]) * worse
        checks.append((present[:, 1:] & (steps <= 0)).any(axis=1))
        reasons.append(f"{side} prices not strictly {'falling' if worse < 0 else 'rising'}")
    for check, reason in zip(checks, reasons, strict=True):
        rows = np.flatnonzero(check)
        if rows.size:
            raise ValueError(f"{path}, row {int(rows[0]) + 1}: {reason}")


def parquet_to_itch(files: Sequence[ParquetInput], out: str | os.PathLike[str]) -> PreparedVenue:
    """One venue of Parquet top-of-book / L2 series as an ITCH file (module docstring)."""
    series = [s for item in files for s in read_level_series(item)]
    _check_symbols([s.symbol for s in series], [s.source for s in series])
    refs, matches = itertools.count(1), itertools.count(1)
    items, conversions = [], []
    for locate, one in enumerate(series, 1):
        item = _SymbolItch(one.symbol, locate, refs, matches)
        depth = one.levels
        for r in range(one.timestamps.size):
            asks = _present(one.ask_price[r], one.ask_shares[r])
            bids = _present(one.bid_price[r], one.bid_shares[r])
            try:
                item.match_book(int(one.timestamps[r]), asks, bids, depth)
            except ItchEncodeError as exc:
                where = f"{one.source}, row {one.rows[r]}"
                raise ValueError(f"{where}: not encodable as ITCH: {exc}") from None
            item.end_row()
        items.append(item)
        conversions.append(item.conversion(one.source, depth))
    _write_itch(Path(out), items)
    source = PARQUET_PREFIX + ",".join(str(f.path) for f in files)
    return PreparedVenue(Path(out), "parquet", QUEUE_BY_KIND["parquet"], source, conversions)


def with_data_queues(config: BacktestConfig, venues: Sequence[PreparedVenue]) -> BacktestConfig:
    """The configuration with each venue's queue model resolved: the configured one, or when
    it sets none (or `queue = "auto"`) the one the venue's data supports."""
    overrides = {}
    for name, venue in zip(config.venue_names(len(venues)), venues, strict=True):
        value = config.venue_table(name).get("queue", "auto")
        if value == "auto" or (isinstance(value, dict) and value.get("kind") == "auto"):
            overrides[f"venues.{name}.queue"] = venue.queue
    return config.with_overrides(overrides) if overrides else config


def _present(prices: np.ndarray, shares: np.ndarray) -> list[Level]:
    """The levels of one side of one row (checked: present levels come first)."""
    count = int(np.count_nonzero(prices))
    return list(zip(prices[:count].tolist(), shares[:count].tolist(), strict=True))
