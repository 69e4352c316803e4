"""LOBSTER message/orderbook pairs of one day as one venue's ITCH 5.0 file.

LOBSTER (`lobster_to_itch`): the book is seeded with one synthetic order per level of the
state *before* the first message (orderbook row 1 with message 1 undone). Types map 1 submit
-> A, 2 partial cancel -> X, 3 delete -> D, 4 visible execution -> E, 5 hidden execution -> P,
6 cross trade -> Q, 7 halt -> H. A cancel, delete or execution of an order id the file never
submitted (placed before the file, or while its level was out of view), or of more shares than
the known order still holds, takes the rest from the other orders at its price and side
(`SymbolItch.reduce_unattributed`), so every visible execution stays an execution. Queue
model: FIFO (order identities are known).
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from calarb.backtest.itch_conversion import QUEUE_BY_KIND, PreparedVenue, SymbolItch, write_itch
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
from calarb.itch.errors import ItchEncodeError
from calarb.itch.messages import CrossTrade, StockTradingAction, Trade

LOBSTER_PREFIX = "lobster:"
_HALT_STATES = {-1: "H", 0: "Q", 1: "T"}  # LOBSTER type-7 price -> ITCH trading state
_NOON_NS = 12 * 3600 * 1_000_000_000


@dataclass(frozen=True)
class LobsterPair:
    symbol: str
    day: str | None  # YYYY-MM-DD from the file name, when it has one
    message: Path
    orderbook: Path


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
        item = SymbolItch(pair.symbol, locate, refs, matches)
        try:
            _convert_lobster(item, messages, rows, depth)
        except ItchEncodeError as exc:  # a price or size beyond ITCH's 32 bits
            row = len(item.row_ends) + 1
            raise LobsterFormatError(pair.message, row, f"not encodable as ITCH: {exc}") from None
        items.append(item)
        conversions.append(item.conversion(str(pair.message), depth))
    write_itch(Path(out), items)
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
    item: SymbolItch, messages: list[LobsterMessage], rows: list[OrderbookRow], depth: int
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


def _apply_lobster(item: SymbolItch, message: LobsterMessage, ids: dict[int, int]) -> None:
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
