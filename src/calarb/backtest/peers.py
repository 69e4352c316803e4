"""Peer backtesters replaying calarb's benchmark ITCH file: NautilusTrader and hftbacktest.

Both runners read the same ITCH 5.0 file, turn its order messages into the peer's L3
(market-by-order) input, and time only the peer's replay; conversion is reported apart.

The shared step is `book_actions`: every order message, in file order, as rows of book
changes that carry what a market-by-order feed needs (side, price and remaining shares of
the order each message names, which ITCH only states on the add):

- A, F (add): one ADD row.
- D (delete): one DELETE row.
- X (cancel): one CANCEL row (shares cancelled, shares left).
- E, C (executed): one EXECUTE row (shares executed, shares left).
- U (replace): a DELETE row of the old reference, then an ADD row of the new one (same side;
  the new order loses time priority, as in ITCH).

Messages naming a reference that was never added in the file are skipped and counted. Trades
of non-displayed orders (P) and the non-order messages do not change a book and are not sent.

Timestamps: ITCH has nanoseconds since midnight; NautilusTrader wants UNIX nanoseconds, so
`SESSION_DATE_NS` (a fixed UTC midnight) is added for it.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from importlib.metadata import version
from itertools import repeat
from typing import Any

import numpy as np
from numba import njit

from calarb.itch.bulk import decode_file

__all__ = [
    "ADD",
    "CANCEL",
    "DELETE",
    "EXECUTE",
    "SESSION_DATE_NS",
    "BookActions",
    "book_actions",
    "hftbacktest_events",
    "nautilus_deltas",
    "run_hftbacktest",
    "run_nautilus",
]

ADD, DELETE, CANCEL, EXECUTE = 1, 2, 3, 4
"""Book action codes of `BookActions.action`."""
BUY, SELL = 0, 1
"""Side codes of `BookActions.side`."""

SESSION_DATE_NS = 1_704_153_600_000_000_000
"""2024-01-02 00:00 UTC in UNIX nanoseconds: the day the ITCH timestamps are placed on."""

PRICE_DECIMALS = 4  # ITCH prices are in 1/10,000 of a dollar
BOOK_TYPES = "AFECXDU"


@dataclass(frozen=True, slots=True)
class BookActions:
    """Book changes in file order, one row per change (columns of equal length)."""

    locate: np.ndarray  # uint16 stock locate
    action: np.ndarray  # uint8: ADD, DELETE, CANCEL, EXECUTE
    side: np.ndarray  # uint8: BUY, SELL
    timestamp: np.ndarray  # int64 ns since midnight
    reference: np.ndarray  # uint64 order reference number
    price: np.ndarray  # int64, 1/10,000 dollars
    shares: np.ndarray  # int64: added, deleted, cancelled or executed shares
    remaining: np.ndarray  # int64 shares the order has after this row (0 once deleted)
    last: np.ndarray  # bool: the last row of its ITCH message (False on a replace's delete)
    symbols: dict[int, str]  # stock locate -> symbol (from the adds)
    messages: int  # all messages in the file
    order_messages: int  # A F E C X D U messages
    unknown_references: int  # order messages skipped: their reference was never added

    def __len__(self) -> int:
        return int(self.action.shape[0])

    def count(self, action: int) -> int:
        return int(np.count_nonzero(self.action == action))


@njit(cache=True)
def _emit_rows(kind, slot, new_slot, reference, new_reference, side_in, shares_in, price_in,
               slot_side, slot_price, slot_left, out_message, out_reference, action, side,
               price, shares, remaining, last):  # fmt: skip
    """One pass over the order messages in file order (`kind`: their type letter) keeping the
    side, price and shares left of every order by dense slot; writes the rows. Returns the
    rows written and the messages skipped for an unknown (or no longer live) reference."""
    rows = 0
    unknown = 0
    for m in range(kind.shape[0]):
        k = kind[m]
        s = slot[m]
        if k == 65 or k == 70:  # A, F: a new order
            added, added_reference, added_side = s, reference[m], side_in[m]
        else:
            if s < 0 or slot_left[s] <= 0:
                unknown += 1
                continue
            left = slot_left[s]
            if k == 68 or k == 85:  # D, U: the old order leaves the book
                action[rows] = 2
                shares[rows] = left
                remaining[rows] = 0
                slot_left[s] = 0
            else:  # X, E, C: shares taken from the order
                taken = min(shares_in[m], left)
                action[rows] = 3 if k == 88 else 4
                shares[rows] = taken
                remaining[rows] = left - taken
                slot_left[s] = left - taken
            out_message[rows] = m
            out_reference[rows] = reference[m]
            side[rows] = slot_side[s]
            price[rows] = slot_price[s]
            last[rows] = k != 85
            rows += 1
            if k != 85:
                continue
            # U: the replacing order, same side, new reference, price and shares
            added, added_reference, added_side = new_slot[m], new_reference[m], slot_side[s]
        slot_side[added] = added_side
        slot_price[added] = price_in[m]
        slot_left[added] = shares_in[m]
        out_message[rows] = m
        out_reference[rows] = added_reference
        action[rows] = 1
        side[rows] = added_side
        price[rows] = price_in[m]
        shares[rows] = shares_in[m]
        remaining[rows] = shares_in[m]
        last[rows] = True
        rows += 1
    return rows, unknown


_SHARE_FIELDS = {"A": "shares", "F": "shares", "E": "executed_shares", "C": "executed_shares",
                 "X": "cancelled_shares", "U": "shares"}  # fmt: skip


def book_actions(itch_path: str | os.PathLike[str]) -> BookActions:
    """Decode an ITCH file and derive its book changes (see the module docstring)."""
    bulk = decode_file(itch_path, types=BOOK_TYPES)
    arrays = {code: bulk[code] for code in BOOK_TYPES}
    # Order messages in file order: each type's rows scattered to their rank among them.
    is_order = np.zeros(256, dtype=bool)
    is_order[[ord(code) for code in BOOK_TYPES]] = True
    order_mask = is_order[bulk.frames.types]
    rank = np.cumsum(order_mask) - 1
    total = int(order_mask.sum())
    kind = np.zeros(total, dtype=np.uint8)
    locate = np.zeros(total, dtype=np.uint16)
    stamp = np.zeros(total, dtype=np.int64)
    reference = np.zeros(total, dtype=np.uint64)
    new_reference = np.zeros(total, dtype=np.uint64)
    side_in = np.zeros(total, dtype=np.uint8)
    shares_in = np.zeros(total, dtype=np.int64)
    price_in = np.zeros(total, dtype=np.int64)
    for code, rows in arrays.items():
        at = rank[rows["index"]]
        kind[at] = ord(code)
        locate[at] = rows["stock_locate"]
        stamp[at] = rows["timestamp"]
        if code == "U":
            reference[at] = rows["original_order_reference_number"]
            new_reference[at] = rows["new_order_reference_number"]
        else:
            reference[at] = rows["order_reference_number"]
        if code in ("A", "F"):
            side_in[at] = np.where(rows["buy_sell_indicator"] == b"S", SELL, BUY)
        if code in _SHARE_FIELDS:
            shares_in[at] = rows[_SHARE_FIELDS[code]]
        if code in ("A", "F", "U"):
            price_in[at] = rows["price"]
    # Dense slots: one per reference an add or a replace creates.
    known = np.unique(np.concatenate([reference[(kind == 65) | (kind == 70)],
                                      new_reference[kind == 85]]))  # fmt: skip
    capacity = total + len(arrays["U"])
    message = np.empty(capacity, dtype=np.int64)
    row_reference = np.empty(capacity, dtype=np.uint64)
    action = np.empty(capacity, dtype=np.uint8)
    side = np.empty(capacity, dtype=np.uint8)
    price = np.empty(capacity, dtype=np.int64)
    shares = np.empty(capacity, dtype=np.int64)
    remaining = np.empty(capacity, dtype=np.int64)
    last = np.empty(capacity, dtype=np.bool_)
    slots = known.shape[0]
    rows, unknown = _emit_rows(
        kind, _slots(known, reference), _slots(known, new_reference), reference, new_reference,
        side_in, shares_in, price_in,
        np.zeros(slots, np.uint8), np.zeros(slots, np.int64), np.zeros(slots, np.int64),
        message, row_reference, action, side, price, shares, remaining, last,
    )  # fmt: skip
    message = message[:rows]
    return BookActions(
        locate=locate[message], action=action[:rows], side=side[:rows],
        timestamp=stamp[message], reference=row_reference[:rows], price=price[:rows],
        shares=shares[:rows], remaining=remaining[:rows], last=last[:rows],
        symbols=_symbols(arrays), messages=bulk.messages, order_messages=total,
        unknown_references=int(unknown),
    )  # fmt: skip


def _slots(known: np.ndarray, references: np.ndarray) -> np.ndarray:
    """Dense slot of each reference in the sorted unique `known`, -1 where absent."""
    if known.shape[0] == 0:
        return np.full(references.shape[0], -1, dtype=np.int64)
    at = np.minimum(np.searchsorted(known, references), known.shape[0] - 1)
    return np.where(known[at] == references, at, -1).astype(np.int64)


def _symbols(arrays: dict[str, np.ndarray]) -> dict[int, str]:
    """Stock locate -> symbol, as the adds name them."""
    names: dict[int, str] = {}
    for code in ("A", "F"):
        locates, first = np.unique(arrays[code]["stock_locate"], return_index=True)
        for loc, row in zip(locates.tolist(), first.tolist(), strict=True):
            names.setdefault(loc, arrays[code]["stock"][row].decode("ascii").rstrip(" "))
    return dict(sorted(names.items()))


# --------------------------------------------------------------------------- NautilusTrader


def nautilus_deltas(actions: BookActions, instrument_ids: dict[int, Any]) -> list:
    """One NautilusTrader `OrderBookDelta` per book action: ADD -> ADD; DELETE -> DELETE;
    CANCEL / EXECUTE -> UPDATE to the shares left, or DELETE when none are left. The last
    delta of each ITCH message has the F_LAST flag (a replace's DELETE has none)."""
    from nautilus_trader.model.data import OrderBookDelta
    from nautilus_trader.model.enums import BookAction, OrderSide, RecordFlag
    from nautilus_trader.model.objects import FIXED_PRECISION

    book_action = np.full(5, int(BookAction.UPDATE), dtype=np.int64)
    book_action[ADD] = int(BookAction.ADD)
    book_action[DELETE] = int(BookAction.DELETE)
    codes = book_action[actions.action]
    codes[actions.remaining == 0] = int(BookAction.DELETE)
    sides = np.where(actions.side == SELL, int(OrderSide.SELL), int(OrderSide.BUY))
    # Raw fixed-point values: value * 10**FIXED_PRECISION (sizes exceed int64: Python ints).
    price_raw = actions.price * 10 ** (FIXED_PRECISION - PRICE_DECIMALS)
    size_scale = 10**FIXED_PRECISION
    sizes = np.where(codes == int(BookAction.UPDATE), actions.remaining, actions.shares)
    flags = np.where(actions.last, int(RecordFlag.F_LAST), 0)
    ts = actions.timestamp + SESSION_DATE_NS
    by_locate = [instrument_ids.get(i) for i in range(int(actions.locate.max(initial=0)) + 1)]
    ts_list = ts.tolist()
    rows = len(actions)
    return list(
        map(
            OrderBookDelta.from_raw,
            [by_locate[i] for i in actions.locate.tolist()],
            codes.tolist(),
            sides.tolist(),
            price_raw.tolist(),
            repeat(PRICE_DECIMALS, rows),
            [size * size_scale for size in sizes.tolist()],
            repeat(0, rows),
            actions.reference.tolist(),
            flags.tolist(),
            range(rows),
            ts_list,
            ts_list,
        )
    )


def _delta_counter_class():
    from nautilus_trader.model.enums import BookType
    from nautilus_trader.trading.strategy import Strategy

    class DeltaCounter(Strategy):
        """Subscribes to the L3 deltas of every instrument and counts what it receives."""

        def __init__(self, instrument_ids: list) -> None:
            super().__init__()
            self.subscribed = instrument_ids
            self.received = 0

        def on_start(self) -> None:
            for instrument_id in self.subscribed:
                self.subscribe_order_book_deltas(instrument_id, book_type=BookType.L3_MBO)

        def on_order_book_deltas(self, deltas) -> None:
            self.received += len(deltas.deltas)

    return DeltaCounter


def _equity(symbol: str, venue: Any):
    from nautilus_trader.model.currencies import USD
    from nautilus_trader.model.identifiers import InstrumentId, Symbol
    from nautilus_trader.model.instruments import Equity
    from nautilus_trader.model.objects import Price, Quantity

    return Equity(
        instrument_id=InstrumentId(Symbol(symbol), venue),
        raw_symbol=Symbol(symbol),
        currency=USD,
        price_precision=PRICE_DECIMALS,
        price_increment=Price(10**-PRICE_DECIMALS, PRICE_DECIMALS),
        lot_size=Quantity.from_int(1),
        ts_event=0,
        ts_init=0,
    )


def run_nautilus(
    itch_path: str | os.PathLike[str], *, venue_name: str = "XNAS", book_depth: int = 0
) -> dict:
    """Replay the ITCH file through NautilusTrader's BacktestEngine: a simulated venue with
    L3_MBO books, one Equity per symbol, every book action as an `OrderBookDelta`, and a
    trivial strategy subscribed to every symbol's order book deltas.

    `events` counts the deltas the engine processed (= rows of `book_actions`: one per order
    message, two per replace); the strategy's received count is reported as
    `strategy_deltas`. Only `engine.run()` is timed (`elapsed_s`); decoding, delta building
    and `add_data` are `conversion_s`. With `book_depth` > 0, `books` holds the top levels
    of every symbol's final book (from the engine's cache) as calarb `BookLevels` tuples."""
    from nautilus_trader.backtest.engine import BacktestEngine, BacktestEngineConfig
    from nautilus_trader.config import LoggingConfig
    from nautilus_trader.model.currencies import USD
    from nautilus_trader.model.enums import AccountType, BookType, OmsType
    from nautilus_trader.model.identifiers import Venue
    from nautilus_trader.model.objects import Money

    started = time.perf_counter()
    actions = book_actions(itch_path)
    engine = BacktestEngine(
        BacktestEngineConfig(logging=LoggingConfig(bypass_logging=True), run_analysis=False)
    )
    venue = Venue(venue_name)
    engine.add_venue(
        venue=venue, oms_type=OmsType.NETTING, account_type=AccountType.CASH,
        starting_balances=[Money(1_000_000, USD)], base_currency=USD,
        book_type=BookType.L3_MBO,
    )  # fmt: skip
    instruments = {loc: _equity(symbol, venue) for loc, symbol in actions.symbols.items()}
    for instrument in instruments.values():
        engine.add_instrument(instrument)
    ids = {loc: instrument.id for loc, instrument in instruments.items()}
    deltas = nautilus_deltas(actions, ids)
    # One add_data per instrument (the engine registers the instrument of each call's first
    # element only), in file order within each; the last call sorts the whole stream by time.
    groups = _groups_by_locate(actions.locate)
    for n, rows in enumerate(groups.values()):
        engine.add_data([deltas[i] for i in rows.tolist()], sort=n == len(groups) - 1)
    strategy = _delta_counter_class()(list(ids.values()))
    engine.add_strategy(strategy)
    conversion = time.perf_counter() - started
    del deltas
    started = time.perf_counter()
    engine.run()
    elapsed = time.perf_counter() - started
    events = len(actions)
    result = {
        "peer": "nautilus_trader",
        "version": version("nautilus_trader"),
        "events": events,
        "strategy_deltas": strategy.received,
        "messages": actions.messages,
        "order_messages": actions.order_messages,
        "unknown_references": actions.unknown_references,
        "symbols": len(ids),
        "conversion_s": round(conversion, 3),
        "elapsed_s": round(elapsed, 3),
        "events_per_s": round(events / elapsed) if elapsed > 0 else None,
        "notes": "BacktestEngine, L3_MBO venue book, OrderBookDelta per book action "
        "(replace = delete + add), strategy subscribed to every symbol's deltas",
    }
    if book_depth > 0:
        result["books"] = {
            actions.symbols[loc]: _nautilus_levels(engine.cache.order_book(iid), book_depth)
            for loc, iid in ids.items()
        }
    engine.dispose()
    return result


def _nautilus_levels(book, depth: int):
    from calarb.book.bulk import BookLevels

    def side(levels):
        return tuple(
            (round(float(level.price) * 10**PRICE_DECIMALS), round(level.size()))
            for level in levels[:depth]
        )

    return BookLevels(side(book.bids()), side(book.asks()))


# --------------------------------------------------------------------------- hftbacktest


def hftbacktest_events(actions: BookActions, feed_latency_ns: int = 0) -> dict[int, np.ndarray]:
    """hftbacktest L3 event arrays, one per stock locate, in file order: ADD -> ADD_ORDER;
    DELETE -> CANCEL_ORDER; CANCEL -> MODIFY_ORDER to the shares left (CANCEL_ORDER when none
    are left); EXECUTE -> FILL (shares executed, for the queue model) then MODIFY_ORDER or
    CANCEL_ORDER as for a cancel. Each event is both an exchange and a local event
    (local_ts = exch_ts + `feed_latency_ns`); prices are dollars, sizes shares."""
    from hftbacktest import (
        ADD_ORDER_EVENT,
        BUY_EVENT,
        CANCEL_ORDER_EVENT,
        EXCH_EVENT,
        FILL_EVENT,
        LOCAL_EVENT,
        MODIFY_ORDER_EVENT,
        SELL_EVENT,
        event_dtype,
    )

    fills = actions.action == EXECUTE
    repeat = np.where(fills, 2, 1)
    row = np.repeat(np.arange(len(actions)), repeat)
    first = np.ones(row.shape[0], dtype=bool)  # the FILL of an EXECUTE is its first event
    first[np.cumsum(repeat)[fills] - 1] = False  # the EXECUTE's book update
    is_fill = fills[row] & first
    code = np.full(row.shape[0], MODIFY_ORDER_EVENT, dtype=np.uint64)
    code[actions.action[row] == ADD] = ADD_ORDER_EVENT
    code[(actions.remaining[row] == 0) & (actions.action[row] != ADD)] = CANCEL_ORDER_EVENT
    code[is_fill] = FILL_EVENT
    code |= np.where(actions.side[row] == SELL, SELL_EVENT, BUY_EVENT).astype(np.uint64)
    code |= np.uint64(EXCH_EVENT | LOCAL_EVENT)
    qty = np.where(actions.action[row] == ADD, actions.shares[row], actions.remaining[row])
    qty = np.where(is_fill, actions.shares[row], qty)
    events = np.zeros(row.shape[0], dtype=event_dtype)
    events["ev"] = code
    events["exch_ts"] = actions.timestamp[row]
    events["local_ts"] = actions.timestamp[row] + feed_latency_ns
    events["px"] = actions.price[row] / 10**PRICE_DECIMALS
    events["qty"] = qty
    events["order_id"] = actions.reference[row]
    return {
        locate: np.ascontiguousarray(events[rows])
        for locate, rows in _groups_by_locate(actions.locate[row]).items()
    }


def _groups_by_locate(locates: np.ndarray) -> dict[int, np.ndarray]:
    """Stock locate -> the row numbers of that locate, in row order."""
    order = np.argsort(locates, kind="stable")
    bounds = np.flatnonzero(np.diff(locates[order])) + 1
    return {int(locates[rows[0]]): rows for rows in np.split(order, bounds) if rows.shape[0]}


_ELAPSE_LOOP = None


def _elapse_loop():
    """The trivial strategy: elapse in steps until the data ends, reading every asset's best
    bid and ask each step (compiled by Numba once per process)."""
    global _ELAPSE_LOOP
    if _ELAPSE_LOOP is None:

        @njit
        def loop(hbt, step_ns, assets):
            steps = 0
            touched = 0
            while hbt.elapse(step_ns) == 0:
                steps += 1
                for asset in range(assets):
                    depth = hbt.depth(asset)
                    if depth.best_bid_tick < depth.best_ask_tick:
                        touched += 1
            return steps, touched

        _ELAPSE_LOOP = loop
    return _ELAPSE_LOOP


def _hftbacktest_asset(events: np.ndarray, tick: float):
    from hftbacktest import BacktestAsset

    return (
        BacktestAsset()
        .data(events)
        .linear_asset(1.0)
        .constant_order_latency(10_000, 10_000)
        .l3_fifo_queue_model()
        .no_partial_fill_exchange()
        .trading_value_fee_model(0.0, 0.0)
        .tick_size(tick)
        .lot_size(1.0)
    )


def _warm_up(tick: float) -> None:
    """Compile the elapse loop on a two-event backtest so its compile time is not timed."""
    from hftbacktest import (
        ADD_ORDER_EVENT,
        BUY_EVENT,
        CANCEL_ORDER_EVENT,
        EXCH_EVENT,
        LOCAL_EVENT,
        HashMapMarketDepthBacktest,
        event_dtype,
    )

    events = np.zeros(2, dtype=event_dtype)
    flags = EXCH_EVENT | LOCAL_EVENT | BUY_EVENT
    events["ev"] = [ADD_ORDER_EVENT | flags, CANCEL_ORDER_EVENT | flags]
    events["exch_ts"] = events["local_ts"] = [1_000, 2_000]
    events["px"] = 1.0
    events["qty"] = 1.0
    events["order_id"] = 1
    hbt = HashMapMarketDepthBacktest([_hftbacktest_asset(events, tick)])
    _elapse_loop()(hbt, 1_000, 1)
    hbt.close()


def run_hftbacktest(
    itch_path: str | os.PathLike[str],
    *,
    step_ns: int = 100_000_000,
    feed_latency_ns: int = 0,
    book_depth: int = 0,
) -> dict:
    """Replay the ITCH file through hftbacktest: one asset per symbol with the L3 FIFO queue
    model (L3 local and exchange processors on a HashMap depth), fed the arrays of
    `hftbacktest_events`, and a trivial strategy that elapses `step_ns` at a time to the end
    of the data, reading each asset's best bid and ask.

    `events` counts the L3 events replayed (add, cancel, modify and fill events: one per book
    action, plus one FILL per execution). hftbacktest keeps only a raw pointer to each event
    array, so they are held here until the backtest is closed. Only the elapse loop is timed
    (`elapsed_s`); decoding and event building are `conversion_s`, the one-off Numba compile
    of the loop `compile_s`. With `book_depth` > 0, `books` holds the final top levels of
    every symbol (from the local depth) as calarb `BookLevels` tuples."""
    from hftbacktest import HashMapMarketDepthBacktest

    tick = 10**-PRICE_DECIMALS
    started = time.perf_counter()
    actions = book_actions(itch_path)
    arrays = hftbacktest_events(actions, feed_latency_ns)
    conversion = time.perf_counter() - started
    started = time.perf_counter()
    _warm_up(tick)
    compile_s = time.perf_counter() - started
    locates = list(arrays)
    hbt = HashMapMarketDepthBacktest([_hftbacktest_asset(arrays[loc], tick) for loc in locates])
    started = time.perf_counter()
    steps, _ = _elapse_loop()(hbt, step_ns, len(locates))
    elapsed = time.perf_counter() - started
    books = (
        {actions.symbols[loc]: _hftbacktest_levels(hbt.depth(n), book_depth)
         for n, loc in enumerate(locates)}
        if book_depth > 0 else None
    )  # fmt: skip
    hbt.close()
    events = sum(int(array.shape[0]) for array in arrays.values())
    del arrays  # only now: the backtest read them through raw pointers
    result = {
        "peer": "hftbacktest",
        "version": version("hftbacktest"),
        "events": events,
        "messages": actions.messages,
        "order_messages": actions.order_messages,
        "unknown_references": actions.unknown_references,
        "symbols": len(locates),
        "steps": steps,
        "conversion_s": round(conversion, 3),
        "compile_s": round(compile_s, 3),
        "elapsed_s": round(elapsed, 3),
        "events_per_s": round(events / elapsed) if elapsed > 0 else None,
        "notes": "HashMapMarketDepthBacktest, one asset per symbol, L3 FIFO queue model, "
        "no-partial-fill exchange; L3 add/cancel/modify/fill events",
    }
    if books is not None:
        result["books"] = books
    return result


def _hftbacktest_levels(depth, levels: int):
    """Top `levels` price levels of each side, walking ticks away from the best."""
    from calarb.book.bulk import BookLevels

    def walk(best: int, step: int, qty_at) -> tuple:
        found = []
        tick = best
        for _ in range(1_000_000):
            if len(found) == levels:
                break
            qty = qty_at(tick)
            if qty > 0:
                found.append((tick, round(qty)))
            tick += step
        return tuple(found)

    bids = walk(depth.best_bid_tick, -1, depth.bid_qty_at_tick) if depth.best_bid_qty else ()
    asks = walk(depth.best_ask_tick, 1, depth.ask_qty_at_tick) if depth.best_ask_qty else ()
    return BookLevels(bids, asks)
