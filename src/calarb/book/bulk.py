"""Bulk L3 order-book replay of a whole ITCH file in one Numba pass over its bytes.

The replay walks the frames itself (`calarb.itch.bulk.frame_length`) and reads the order
fields straight from the bytes, so no per-message Python object and no intermediate array
exists; the books are the flat arrays of `calarb.book.kernel`.

A book is `stock_locate * 2 + side` (side 0 bid, 1 ask). Rules, the same as itch-book's: an
execute, cancel or delete of an unknown reference is counted and ignored; an execution or
cancel of at least the remaining shares removes the order (clamped); an add or replace with
zero shares or zero price is rejected; an add (or replace) onto a live reference evicts the
stale order first; a replace keeps side and book, takes the new reference, price and shares
and loses priority. P, Q and B do not touch the displayed book.
"""

from __future__ import annotations

import os
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from numba import njit

from calarb.book.kernel import (
    BOOK_COUNTERS,
    EVICTED,
    LEVEL_NEXT,
    LEVEL_PRICE,
    LEVEL_SHARES,
    LEVELS_USED,
    LIVE_ORDERS,
    ORDER_BOOK,
    ORDER_PRICE,
    ORDER_REF,
    ORDER_SEQ,
    ORDER_SHARES,
    ORDERS_USED,
    REJECTED,
    add_order,
    at_least,
    empty_pools,
    find_order,
    grown_pools,
    read_be16,
    read_be32,
    read_be48,
    read_be64,
    reduce_order,
    remove_order,
    replace_order,
    rows_at_least,
)
from calarb.itch.bulk import (
    LENGTH_TABLE,
    PREFIX_SIZE,
    ByteSource,
    detect_zero_prefixes,
    frame_length,
    hot_kernel,
    load_itch_bytes,
    stop_at_bad_frame,
)
from calarb.itch.errors import ItchDecodeError
from calarb.itch.files import ItchFileWarning

__all__ = [
    "BookLevels",
    "BulkBooks",
    "bbo_series",
    "final_books",
    "replay_books",
    "write_bbo_parquet",
]

# Counters of the replay, after the books' own.
_APPLIED, _UNKNOWN_REF, _SERIES, _POS, _MESSAGES, _BAD_FRAME = range(
    BOOK_COUNTERS, BOOK_COUNTERS + 6
)
_COUNTERS = BOOK_COUNTERS + 6

_LOCATES = 65536
_BOOKS = _LOCATES * 2  # every stock locate, both sides
_ALL_BOOKS = -1  # target locate: replay every book
_NO_BOOKS = -2  # target locate: only walk the frames and read the directory
_CHUNK = 1 << 10  # messages between capacity checks

_A, _F, _E, _C, _X, _D, _U, _R = (ord(c) for c in "AFECXDUR")
_BUY, _SELL = ord("B"), ord("S")


@hot_kernel
def _record_if_changed(levels, best, locate, depth, current, last, series_ts, series_rows,
                       timestamp, ctr):  # fmt: skip
    """Append a series row if the top `depth` levels of the book differ from the last row.
    Row layout: bid prices, bid shares, ask prices, ask shares (0 past a side's end)."""
    changed = False
    for side in range(2):
        cur = best[locate * 2 + side]
        base = side * 2 * depth
        for k in range(depth):
            price = 0
            shares = 0
            if cur >= 0:
                price = levels[cur, LEVEL_PRICE]
                shares = levels[cur, LEVEL_SHARES]
                cur = levels[cur, LEVEL_NEXT]
            current[base + k] = price
            current[base + depth + k] = shares
            if price != last[base + k] or shares != last[base + depth + k]:
                changed = True
    if changed:
        row = ctr[_SERIES]
        for k in range(current.shape[0]):
            series_rows[row, k] = current[k]
            last[k] = current[k]
        series_ts[row] = timestamp
        ctr[_SERIES] = row + 1


@njit(cache=True, _nrt=False)
def _apply(buf, lengths, zero_prefixes, limit, target_locate, depth, orders, levels, table, shift,
           best, worst, order_free, level_free, directory, ctr, series_ts, series_rows, last,
           current):  # fmt: skip
    """Walk and apply up to `limit` frames from ctr[_POS]; stops at a bad frame (flagged in
    ctr[_BAD_FRAME]). Room for `limit` more orders, levels, entries and rows is ensured by
    the caller, so nothing is allocated here (see `hot_kernel`)."""
    size = buf.shape[0]
    pos = ctr[_POS]
    for _ in range(limit):
        if pos >= size:
            break
        length = frame_length(buf, pos, lengths, zero_prefixes)
        if length < 0:
            ctr[_BAD_FRAME] = 1
            break
        p = pos + PREFIX_SIZE
        pos = p + length
        seq = ctr[_MESSAGES]
        ctr[_MESSAGES] = seq + 1
        t = buf[p]
        if t != _A and t != _F and t != _E and t != _C and t != _X and t != _D and t != _U:
            if t == _R:
                directory[read_be16(buf, p + 1), 0] = p + 11
            continue
        locate = read_be16(buf, p + 1)
        if t in (_A, _F) and directory[locate, 1] < 0:
            directory[locate, 1] = p + 24
        if target_locate != _ALL_BOOKS and locate != target_locate:
            continue
        ref = read_be64(buf, p + 11)
        if t in (_A, _F):
            side_byte = buf[p + 19]
            shares = read_be32(buf, p + 20)
            price = read_be32(buf, p + 32)
            if shares == 0 or price == 0 or (side_byte != _BUY and side_byte != _SELL):
                ctr[REJECTED] += 1
                continue
            found = find_order(table, shift, ref)
            if found >= 0:
                ctr[EVICTED] += 1
                remove_order(orders, levels, best, worst, table, shift, level_free, order_free,
                             ctr, table[found, 1], found)  # fmt: skip
            book = locate * 2 + (1 if side_byte == _SELL else 0)
            add_order(orders, levels, best, worst, table, shift, level_free, order_free, ctr,
                      ref, book, price, shares, seq)  # fmt: skip
        else:
            found = find_order(table, shift, ref)
            if found < 0:
                ctr[_UNKNOWN_REF] += 1
                continue
            slot = table[found, 1]
            if t == _D:
                remove_order(orders, levels, best, worst, table, shift, level_free, order_free,
                             ctr, slot, found)  # fmt: skip
            elif t == _U:
                replace_order(orders, levels, best, worst, table, shift, level_free, order_free,
                              ctr, slot, found, read_be64(buf, p + 19), read_be32(buf, p + 31),
                              read_be32(buf, p + 27), seq)  # fmt: skip
            else:  # E, C and X reduce the order; all three carry their shares at offset 19
                reduce_order(orders, levels, best, worst, table, shift, level_free, order_free,
                             ctr, slot, found, read_be32(buf, p + 19))  # fmt: skip
        ctr[_APPLIED] += 1
        if depth > 0:
            _record_if_changed(levels, best, locate, depth, current, last, series_ts,
                               series_rows, read_be48(buf, p + 5), ctr)  # fmt: skip
    ctr[_POS] = pos


@njit(cache=True)
def _replay(buf, lengths, zero_prefixes, target_locate, depth):
    """Replay the order messages of every book (`_ALL_BOOKS`), of one locate, or of none
    (`_NO_BOOKS`: directory only), `_CHUNK` frames at a time: before each chunk the pools,
    the hash table and the series grow so that the chunk cannot overflow them (a message
    adds at most one order, level, entry and row). With depth > 0 and one locate, a series
    row is recorded each time that book's top `depth` levels change."""
    ctr = np.zeros(_COUNTERS, dtype=np.int64)
    table, shift, orders, order_free, levels, level_free = empty_pools()
    best = np.full(_BOOKS, -1, dtype=np.int64)
    worst = np.full(_BOOKS, -1, dtype=np.int64)
    directory = np.full((_LOCATES, 2), -1, dtype=np.int64)
    width = 4 * depth
    series_rows = np.zeros((_CHUNK if depth > 0 else 0, width), dtype=np.int64)
    series_ts = np.zeros(series_rows.shape[0], dtype=np.int64)
    last = np.zeros(width, dtype=np.int64)
    current = np.zeros(width, dtype=np.int64)
    while ctr[_POS] < buf.shape[0] and ctr[_BAD_FRAME] == 0:
        table, shift, orders, order_free, levels, level_free = grown_pools(
            table, shift, orders, order_free, levels, level_free, ctr, _CHUNK
        )
        if depth > 0:
            series_rows = rows_at_least(series_rows, ctr[_SERIES] + _CHUNK)
            series_ts = at_least(series_ts, series_rows.shape[0])
        _apply(buf, lengths, zero_prefixes, _CHUNK, target_locate, depth, orders, levels, table,
               shift, best, worst, order_free, level_free, directory, ctr, series_ts,
               series_rows, last, current)  # fmt: skip
    series_n = ctr[_SERIES]
    return (
        ctr,
        orders[: ctr[ORDERS_USED]],
        levels[: ctr[LEVELS_USED]],
        best,
        directory,
        series_ts[:series_n],
        series_rows[:series_n],
    )


# --------------------------------------------------------------------------- public API


class BookLevels(NamedTuple):
    """The top levels of one book: (price, shares) pairs, best first; prices in 1/10,000."""

    bids: tuple[tuple[int, int], ...]
    asks: tuple[tuple[int, int], ...]


@dataclass(frozen=True, slots=True)
class BulkBooks:
    """The L3 books of every symbol after a bulk replay."""

    symbols: dict[str, int]  # symbol -> stock locate
    orders: np.ndarray  # (slots, 6) int64 order pool; live where the book column is >= 0
    levels: np.ndarray  # (handles, 6) int64 level pool
    best: np.ndarray  # best level handle per book (locate * 2 + side), -1 when empty
    counters: np.ndarray
    error: ItchDecodeError | None  # the bad frame that ended a lenient replay

    @property
    def messages(self) -> int:
        """Messages walked (all types)."""
        return int(self.counters[_MESSAGES])

    @property
    def applied(self) -> int:
        """Order messages (A F E C X D U) applied to a book."""
        return int(self.counters[_APPLIED])

    @property
    def unknown_references(self) -> int:
        return int(self.counters[_UNKNOWN_REF])

    @property
    def rejected(self) -> int:
        """Adds or replaces with zero shares, zero price or a bad side."""
        return int(self.counters[REJECTED])

    @property
    def evicted(self) -> int:
        """Adds or replaces onto a live reference (the stale order was removed first)."""
        return int(self.counters[EVICTED])

    @property
    def live_orders(self) -> int:
        return int(self.counters[LIVE_ORDERS])

    def locate(self, symbol: str | int) -> int:
        if isinstance(symbol, int):
            return symbol
        try:
            return self.symbols[symbol]
        except KeyError:
            raise KeyError(
                f"symbol {symbol!r} is not in the stock directory or any add order"
            ) from None

    def top_levels(self, symbol: str | int, depth: int) -> BookLevels:
        """The best `depth` levels of each side of one book."""
        locate = self.locate(symbol)
        sides = []
        for side in range(2):
            pairs = []
            cur = int(self.best[locate * 2 + side])
            while cur >= 0 and len(pairs) < depth:
                pairs.append(
                    (int(self.levels[cur, LEVEL_PRICE]), int(self.levels[cur, LEVEL_SHARES]))
                )
                cur = int(self.levels[cur, LEVEL_NEXT])
            sides.append(tuple(pairs))
        return BookLevels(sides[0], sides[1])

    def final_levels(self, depth: int) -> dict[str, BookLevels]:
        """Symbol -> its top `depth` levels, for every symbol whose book is not empty."""
        return {
            symbol: self.top_levels(locate, depth)
            for symbol, locate in self.symbols.items()
            if self.best[locate * 2] >= 0 or self.best[locate * 2 + 1] >= 0
        }

    def live_orders_of(self, symbol: str | int) -> np.ndarray:
        """The resting orders of one symbol in book priority (bids best first, then asks
        best first; time priority within a price): reference, side (b'B'/b'S'), price,
        shares, sequence (number of the message that placed the order)."""
        locate = self.locate(symbol)
        books = self.orders[:, ORDER_BOOK]
        rows = self.orders[(books == locate * 2) | (books == locate * 2 + 1)]
        ask = rows[:, ORDER_BOOK] & 1
        key = np.where(ask == 1, rows[:, ORDER_PRICE], -rows[:, ORDER_PRICE])
        rows = rows[np.lexsort((rows[:, ORDER_SEQ], key, ask))]
        out = np.empty(rows.shape[0], dtype=_LIVE_ORDER_DTYPE)
        out["reference"] = rows[:, ORDER_REF].view(np.uint64)
        out["side"] = np.where(rows[:, ORDER_BOOK] & 1, b"S", b"B")
        out["price"] = rows[:, ORDER_PRICE]
        out["shares"] = rows[:, ORDER_SHARES]
        out["sequence"] = rows[:, ORDER_SEQ]
        return out


_LIVE_ORDER_DTYPE = np.dtype(
    [("reference", "<u8"), ("side", "S1"), ("price", "<i8"), ("shares", "<i8"), ("sequence", "<i8")]
)


def _symbol_map(buf: np.ndarray, directory: np.ndarray) -> dict[str, int]:
    """Symbol -> stock locate, named by the Stock Directory (R) or else by the first add."""
    symbols = {}
    for locate in np.flatnonzero((directory[:, 0] >= 0) | (directory[:, 1] >= 0)):
        start = int(directory[locate, 0] if directory[locate, 0] >= 0 else directory[locate, 1])
        raw = buf[start : start + 8].tobytes()
        symbols[raw.decode("ascii", errors="replace").rstrip(" ")] = int(locate)
    return symbols


def _run(buf: np.ndarray, zero_prefixes: bool, target_locate: int, depth: int, lenient: bool):
    result = _replay(buf, LENGTH_TABLE, zero_prefixes, target_locate, depth)
    ctr = result[0]
    error = stop_at_bad_frame(buf, int(ctr[_POS]), zero_prefixes, int(ctr[_MESSAGES]), lenient)
    return result, error


def replay_books(source: ByteSource, *, lenient: bool = False) -> BulkBooks:
    """Replay a whole ITCH file (plain or .gz) or buffer into the L3 books of every symbol.
    Bad frames raise `ItchDecodeError`; `lenient=True` keeps the books built before one."""
    buf = load_itch_bytes(source)
    zero_prefixes = detect_zero_prefixes(buf)
    result, error = _run(buf, zero_prefixes, _ALL_BOOKS, 0, lenient)
    ctr, orders, levels, best, directory, _, _ = result
    return BulkBooks(_symbol_map(buf, directory), orders, levels, best, ctr, error)


def final_books(source: ByteSource, depth: int, *, lenient: bool = False) -> dict[str, BookLevels]:
    """Symbol -> top `depth` levels of its book at the end of the file (non-empty books)."""
    return replay_books(source, lenient=lenient).final_levels(depth)


def bbo_series(source: ByteSource, symbol: str, levels: int, *, lenient: bool = False) -> pa.Table:
    """The top-`levels` time series of one symbol: one row each time any of those levels
    changes (price or shares): `timestamp` (ns since midnight), bid_price_1..N,
    bid_shares_1..N, ask_price_1..N, ask_shares_1..N (prices in 1/10,000; 0 for a level
    the side does not have)."""
    if levels < 1:
        raise ValueError(f"levels must be at least 1, got {levels}")
    buf = load_itch_bytes(source)
    zero_prefixes = detect_zero_prefixes(buf)
    directory = _run(buf, zero_prefixes, _NO_BOOKS, 0, lenient)[0][4]
    symbols = _symbol_map(buf, directory)
    if symbol not in symbols:
        raise KeyError(f"symbol {symbol!r} is not in the stock directory or any add order")
    with warnings.catch_warnings():  # the directory walk already warned of a bad frame
        warnings.simplefilter("ignore", ItchFileWarning)
        result, _ = _run(buf, zero_prefixes, symbols[symbol], levels, lenient)
    timestamps, rows = result[5], result[6]
    columns = {"timestamp": pa.array(timestamps, type=pa.int64())}
    for block, name in enumerate(("bid_price", "bid_shares", "ask_price", "ask_shares")):
        for k in range(levels):
            columns[f"{name}_{k + 1}"] = pa.array(rows[:, block * levels + k], type=pa.int64())
    return pa.table(columns)


def write_bbo_parquet(
    itch_path: str | os.PathLike[str], symbol: str, levels: int, out_path: str | os.PathLike[str]
) -> dict[str, object]:
    """Write `bbo_series` of one symbol to a Parquet file; returns rows, symbol, levels, path."""
    table = bbo_series(itch_path, symbol, levels)
    out = Path(out_path)
    out.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(table, out)
    return {"rows": table.num_rows, "symbol": symbol, "levels": levels, "path": os.fspath(out)}
