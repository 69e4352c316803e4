"""LOBSTER files: read the message and orderbook CSVs, replay the messages through an
`OrderBook` and check the book against every orderbook row.

Format (LOBSTER_SampleFiles_ReadMe): the message file has one row per event, ``time`` (seconds
after midnight, up to 9 decimals), ``type`` (1 submit, 2 partial cancel, 3 delete, 4 visible
execution, 5 hidden execution, 6 cross trade, 7 trading halt), ``order id``, ``size``,
``price`` (dollars x 10,000, calarb's own scale) and ``direction`` (1 buy, -1 sell: the side of
the resting limit order). Orderbook row k is the book *after* message k: ask price, ask size,
bid price, bid size for each of the file's levels; an empty level is 9999999999 (ask) or
-9999999999 (bid) with size 0.

The replay rule (docs/lobster.md explains it): the book is seeded from orderbook row 1 (orders
placed before the file starts are not in the message file), then for each later row it applies
that row's message, compares the levels the book can know with the file row, and learns the
rest from the row. A level-W file only reports events within its W levels and only shows W
levels, so a level uncovered from beyond level W is something no replay can know.
"""

from __future__ import annotations

import os
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

from calarb.book.order_book import BookError, OrderBook
from calarb.core.types import Side, format_price

EMPTY_ASK_PRICE = 9_999_999_999
EMPTY_BID_PRICE = -9_999_999_999

SUBMIT, CANCEL, DELETE, EXECUTE_VISIBLE, EXECUTE_HIDDEN, CROSS_TRADE, HALT = range(1, 8)

_HALT_STATES = {-1: "H", 0: "Q", 1: "T"}  # type-7 price: halt, quoting, resume trading


class LobsterFormatError(ValueError):
    """A LOBSTER file that cannot be read; names the file and the 1-based row."""

    def __init__(self, path: str | os.PathLike[str], row: int | None, reason: str) -> None:
        self.path = os.fspath(path)
        self.row = row
        self.reason = reason
        where = f"{self.path}, row {row}" if row is not None else self.path
        super().__init__(f"{where}: {reason}")


class LobsterMessage(NamedTuple):
    time_ns: int  # nanoseconds after midnight
    type: int
    order_id: int
    size: int
    price: int  # 1/10,000 units
    direction: int  # 1 buy, -1 sell


Level = tuple[int, int]  # (price, size)


class OrderbookRow(NamedTuple):
    """One orderbook row, non-empty levels only, best first."""

    asks: list[Level]
    bids: list[Level]


def parse_time_ns(text: str) -> int:
    """Seconds after midnight as a decimal string -> integer nanoseconds (exact)."""
    whole, _, fraction = text.strip().partition(".")
    if not whole.isdigit() or (fraction and not fraction.isdigit()) or len(fraction) > 9:
        raise ValueError(f"not a time in seconds with up to 9 decimals: {text!r}")
    return int(whole) * 1_000_000_000 + int(fraction.ljust(9, "0") or 0)


def _lines(path: str | os.PathLike[str]) -> list[str]:
    try:
        with open(path, encoding="ascii") as file:
            return file.read().splitlines()
    except UnicodeDecodeError as exc:
        raise LobsterFormatError(path, None, f"not an ASCII CSV file ({exc.reason})") from None


def read_messages(path: str | os.PathLike[str]) -> list[LobsterMessage]:
    """Every row of a LOBSTER message file. Bad rows raise LobsterFormatError."""
    messages = []
    for row, line in enumerate(_lines(path), start=1):
        cells = line.split(",")
        if len(cells) != 6:
            raise LobsterFormatError(path, row, f"expected 6 columns, found {len(cells)}")
        try:
            time_ns = parse_time_ns(cells[0])
            kind, order_id, size, price, direction = (int(cell) for cell in cells[1:])
        except ValueError as exc:
            raise LobsterFormatError(path, row, str(exc)) from None
        if not SUBMIT <= kind <= HALT:
            raise LobsterFormatError(path, row, f"event type {kind} is not 1..7")
        if direction not in (1, -1):
            raise LobsterFormatError(path, row, f"direction {direction} is not 1 or -1")
        if kind != HALT and (size < 0 or order_id < 0):
            raise LobsterFormatError(path, row, f"negative size {size} or order id {order_id}")
        if kind == HALT and price not in _HALT_STATES:
            raise LobsterFormatError(path, row, f"halt message with price {price}, not -1/0/1")
        messages.append(LobsterMessage(time_ns, kind, order_id, size, price, direction))
    return messages


def _side_levels(
    path: str | os.PathLike[str], row: int, pairs: list[Level], empty_price: int, name: str
) -> list[Level]:
    levels: list[Level] = []
    for number, (price, size) in enumerate(pairs, start=1):
        if price == empty_price:
            if size != 0:
                raise LobsterFormatError(path, row, f"empty {name} level {number} has size {size}")
            continue
        if len(levels) != number - 1:
            raise LobsterFormatError(path, row, f"{name} level {number} follows an empty level")
        if size <= 0 or price <= 0:
            raise LobsterFormatError(
                path, row, f"{name} level {number}: price {price}, size {size} (both must be > 0)"
            )
        levels.append((price, size))
    return levels


def read_orderbook(path: str | os.PathLike[str]) -> tuple[int, list[OrderbookRow]]:
    """(levels in the file, rows) of a LOBSTER orderbook file."""
    rows = []
    file_levels = 0
    for row, line in enumerate(_lines(path), start=1):
        cells = line.split(",")
        if row == 1:
            if len(cells) % 4 or not cells[0]:
                raise LobsterFormatError(path, row, f"{len(cells)} columns is not 4 per level")
            file_levels = len(cells) // 4
        elif len(cells) != 4 * file_levels:
            raise LobsterFormatError(
                path, row, f"expected {4 * file_levels} columns, found {len(cells)}"
            )
        try:
            values = [int(cell) for cell in cells]
        except ValueError as exc:
            raise LobsterFormatError(path, row, str(exc)) from None
        asks = _side_levels(
            path, row, list(zip(values[0::4], values[1::4], strict=True)), EMPTY_ASK_PRICE, "ask"
        )
        bids = _side_levels(
            path, row, list(zip(values[2::4], values[3::4], strict=True)), EMPTY_BID_PRICE, "bid"
        )
        rows.append(OrderbookRow(asks, bids))
    if not rows:
        raise LobsterFormatError(path, None, "no rows")
    return file_levels, rows


@dataclass(frozen=True)
class Mismatch:
    row: int  # 1-based row, the same in both files
    differences: list[str]

    def to_dict(self) -> dict[str, Any]:
        return {"row": self.row, "differences": self.differences}


@dataclass
class LobsterReplayResult:
    rows: int
    checked: int  # rows compared with the replayed book (every row after the seed row)
    mismatches: int  # rows where a level the book can know differs from the file
    first_mismatch: Mismatch | None
    levels: int  # levels compared per side
    file_levels: int
    compared_levels: int = 0  # (row, side, level) positions compared
    learned_levels: int = 0  # levels taken from the file, not the replay (after the seed)
    book_errors: Counter[str] = field(default_factory=Counter)

    def to_dict(self) -> dict[str, Any]:
        return {
            "rows": self.rows,
            "checked": self.checked,
            "mismatches": self.mismatches,
            "first_mismatch": None
            if self.first_mismatch is None
            else self.first_mismatch.to_dict(),
            "levels": self.levels,
            "file_levels": self.file_levels,
            "compared_levels": self.compared_levels,
            "learned_levels": self.learned_levels,
            "book_errors": dict(self.book_errors),
        }


_SIDES = ((Side.SELL, "ask"), (Side.BUY, "bid"))


class LobsterReplay:
    """Replays LOBSTER messages through an OrderBook whose window is the file's levels.

    Orders the book cannot attribute (placed before the file starts, or resting at a level
    that was outside the window for a while) are held as one synthetic order per price, with
    a negative reference number; messages about unknown order ids draw on it.
    """

    def __init__(self, window: int, levels: int, symbol: str = "") -> None:
        if not 1 <= levels <= window:
            raise ValueError(f"cannot compare {levels} levels of a {window}-level file")
        self.window = window
        self.levels = levels
        self.book = OrderBook(symbol)
        self.errors: Counter[str] = Counter()
        self.learned_levels = 0
        self.compared_levels = 0
        self._synthetic: dict[tuple[int, int], int] = {}  # (side, price) -> reference number
        self._next_synthetic_ref = -1
        self._side_complete = {Side.SELL: False, Side.BUY: False}

    def seed(self, row: OrderbookRow) -> None:
        """Start from a file row: every level becomes synthetic resting quantity."""
        self.book.clear()
        self._synthetic.clear()
        self._learn(row)
        self.learned_levels = 0

    def apply(self, message: LobsterMessage) -> None:
        kind = message.type
        if kind == SUBMIT:
            self._call(
                self.book.add, message.order_id, message.direction, message.price, message.size
            )
        elif kind in (CANCEL, DELETE, EXECUTE_VISIBLE):
            self._reduce(message)
        elif kind == HALT:
            self.book.trading_state = _HALT_STATES[message.price]
        # EXECUTE_HIDDEN and CROSS_TRADE leave the visible book unchanged.

    def check(self, row_number: int, row: OrderbookRow) -> Mismatch | None:
        """Compare the levels the book can know with the row, then learn the row."""
        differences = []
        for side, name in _SIDES:
            file_levels = (row.asks if side == Side.SELL else row.bids)[: self.window]
            book_levels = [
                (level.price, level.shares) for level in self.book.levels(side, self.window)
            ]
            # The book holds at most the window (plus one new level); past its last level the
            # file may show levels uncovered from beyond the window, unless the side was
            # shorter than the window before this message, so the book knows all of it.
            known = self.window if self._side_complete[side] else len(book_levels)
            self.compared_levels += min(known, self.levels)
            for position in range(min(known, self.levels)):
                book_level = book_levels[position] if position < len(book_levels) else None
                file_level = file_levels[position] if position < len(file_levels) else None
                if book_level != file_level:
                    differences.append(
                        f"{name} level {position + 1}: book {_describe(book_level)}, "
                        f"file {_describe(file_level)}"
                    )
        self._learn(row)
        return Mismatch(row_number, differences) if differences else None

    # ------------------------------------------------------------------ internals

    def _call(self, method, *args) -> None:
        try:
            method(*args)
        except BookError as exc:
            self.errors[type(exc).__name__] += 1

    def _reduce(self, message: LobsterMessage) -> None:
        """Cancel, delete or execute: by order id when the book holds that order at the
        message's price, else from the synthetic quantity at that price."""
        book = self.book
        order = book.order(message.order_id)
        if order is not None and order.price == message.price and order.side == message.direction:
            if message.type == DELETE:
                if message.size != order.shares:
                    self.errors["delete_size_differs"] += 1
                self._call(book.delete, message.order_id)
            elif message.type == CANCEL:
                self._call(book.cancel, message.order_id, message.size)
            else:
                self._call(book.execute, message.order_id, message.size)
            return
        ref = self._synthetic.get((message.direction, message.price))
        synthetic = None if ref is None else book.order(ref)
        if synthetic is None:
            self.errors["unattributed_without_synthetic"] += 1
            return
        if message.size > synthetic.shares:
            self.errors["unattributed_exceeds_level"] += 1
        self._call(book.cancel, ref, min(message.size, synthetic.shares))

    def _learn(self, row: OrderbookRow) -> None:
        """Make the book's window equal to the row: levels the row does not show are
        dropped, levels whose size differs become one synthetic order of the row's size."""
        book = self.book
        for side, _ in _SIDES:
            file_levels = (row.asks if side == Side.SELL else row.bids)[: self.window]
            self._side_complete[side] = len(file_levels) < self.window
            book_levels = [(level.price, level.shares) for level in book.levels(side)]
            if book_levels == file_levels:
                continue
            wanted = dict(file_levels)
            for price, shares in book_levels:
                if wanted.get(price) != shares:
                    self._drop_level(side, price)
            for price, shares in file_levels:
                if book.level(side, price) is None:
                    ref = self._next_synthetic_ref
                    self._next_synthetic_ref -= 1
                    book.add(ref, side, price, shares)
                    self._synthetic[(side, price)] = ref
                    self.learned_levels += 1

    def _drop_level(self, side: Side, price: int) -> None:
        for ref in self.book.queue(side, price):
            self.book.delete(ref)
        self._synthetic.pop((side, price), None)


def _describe(level: Level | None) -> str:
    if level is None:
        return "empty"
    price, size = level
    return f"{size} @ {format_price(price)}"


def replay_files(
    message_path: str | os.PathLike[str],
    orderbook_path: str | os.PathLike[str],
    levels: int | None = None,
) -> LobsterReplayResult:
    """Seed from the first orderbook row, replay every later message and check every later
    row at `levels` levels per side (default: all the file has)."""
    messages = read_messages(message_path)
    file_levels, rows = read_orderbook(orderbook_path)
    if len(messages) != len(rows):
        raise LobsterFormatError(
            orderbook_path,
            None,
            f"{len(rows)} rows, but the message file {os.fspath(message_path)} has {len(messages)}",
        )
    compared = file_levels if levels is None else levels
    if not 1 <= compared <= file_levels:
        raise ValueError(f"--levels {compared}: the orderbook file has {file_levels} levels")
    replay = LobsterReplay(file_levels, compared, symbol=Path(message_path).name.split("_")[0])
    replay.seed(rows[0])
    mismatches = 0
    first_mismatch = None
    for index in range(1, len(rows)):
        replay.apply(messages[index])
        mismatch = replay.check(index + 1, rows[index])
        if mismatch is not None:
            mismatches += 1
            first_mismatch = first_mismatch or mismatch
    return LobsterReplayResult(
        rows=len(rows),
        checked=len(rows) - 1,
        mismatches=mismatches,
        first_mismatch=first_mismatch,
        levels=compared,
        file_levels=file_levels,
        compared_levels=replay.compared_levels,
        learned_levels=replay.learned_levels,
        book_errors=replay.errors,
    )
