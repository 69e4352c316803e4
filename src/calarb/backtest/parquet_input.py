"""Top-of-book / L2 series in Parquet (the tick store's format) as one venue's ITCH 5.0 file.

Parquet (`parquet_to_itch`): each row is matched as above, so a level's size going down is a
cancel from the back of its queue (L2 carries no trades: passive fills come only from crossing
adds); going up is a new synthetic order for the difference at
the back (the shares already there keep their place; nothing resets); a new price is a new
order, a vanished price a delete. Queue model: the probabilistic L2 model.
"""

from __future__ import annotations

import itertools
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from calarb.backtest.itch_conversion import (
    QUEUE_BY_KIND,
    Level,
    PreparedVenue,
    SymbolItch,
    check_symbols,
    write_itch,
)
from calarb.itch.errors import ItchEncodeError

PARQUET_PREFIX = "parquet:"


@dataclass(frozen=True)
class ParquetInput:
    path: Path
    symbol: str | None  # None: a `symbol` column, else the file name


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
    check_symbols([s.symbol for s in series], [s.source for s in series])
    refs, matches = itertools.count(1), itertools.count(1)
    items, conversions = [], []
    for locate, one in enumerate(series, 1):
        item = SymbolItch(one.symbol, locate, refs, matches)
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
    write_itch(Path(out), items)
    source = PARQUET_PREFIX + ",".join(str(f.path) for f in files)
    return PreparedVenue(Path(out), "parquet", QUEUE_BY_KIND["parquet"], source, conversions)


def _present(prices: np.ndarray, shares: np.ndarray) -> list[Level]:
    """The levels of one side of one row (checked: present levels come first)."""
    count = int(np.count_nonzero(prices))
    return list(zip(prices[:count].tolist(), shares[:count].tolist(), strict=True))
