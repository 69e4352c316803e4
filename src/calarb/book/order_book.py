"""One symbol's limit order book: L3 (every order by reference number) with L2 levels.

Layout, chosen for speed on the common case (activity at or near the touch):

* A price is held as a *key*, ``price * side`` (``Side.BUY`` is +1, ``Side.SELL`` is -1), so
  on both sides a larger key is a better price, and bid keys (> 0) never meet ask keys (< 0).
* ``_orders``: reference number -> `_Order` (side, key, shares left, its `_Level`); dict
  insertion order is time priority. An order holds its level, so removing or reducing it
  needs no second lookup.
* ``_bids``, ``_asks``: each side's `_Level` objects (key, total shares, order count) in
  ascending key order, so the best level is the *last* element: a new best level is an
  append, removing the best is a pop, and inserting near the touch moves only the few levels
  better than it. A level is found by its key with a binary search (no dict of levels).
* ``_best_bid_key``, ``_best_ask_key``: the last key of each side (``_NO_BID_KEY`` /
  ``_NO_ASK_KEY``, below every key of the side, when it is empty), kept beside the lists
  because reading them is much cheaper than the list's last level on every message.

Compiled (order_book.pxd), `_Order` and `_Level` are extension types with C integer fields
and the book's fields are C integers, so a change allocates one `_Order` (from a free list)
and one Python int, the reference number, that keys `_orders`.

Operations are atomic: an invalid operation raises a `BookError` subclass and leaves the book
unchanged, so a builder can count the error and carry on. Each ITCH order message is one call
(`add`, `execute_order`, `cancel_order`, `delete_order`, `replace_order`) that does the whole
change and says whether the top of book may have moved: the fast path of `calarb.book.feed`.
"""

from __future__ import annotations

from bisect import bisect_left
from operator import attrgetter
from typing import NamedTuple

import cython

from calarb.core.events import BookLevel, TopOfBook
from calarb.core.types import Side

_new_tuple = tuple.__new__  # builds a NamedTuple without its Python-level __new__

_SIDES = (None, Side.BUY, Side.SELL)
"""Indexed by a side's int value: [1] is BUY, [-1] is SELL."""

_NO_BID_KEY = 0
"""The best bid key of an empty bid side: below every bid key (a positive price)."""
_NO_ASK_KEY = -0x7FFFFFFFFFFFFFFF - 1  # -(2**63), the least int64 (spelt so C folds it)
"""The best ask key of an empty ask side: below every ask key (minus a price)."""


class _Level:
    """One price level: its key, total shares and number of orders."""

    __slots__ = ("key", "shares", "count")  # interpreted: cheaper attributes (compiled: C)

    def __init__(self, key: int, shares: int, count: int) -> None:
        self.key = key
        self.shares = shares
        self.count = count


@cython.no_gc  # compiled: not GC-tracked; its one object field, its level, refers to nothing
@cython.cclass
class _Order:
    """One resting order: side (+1/-1), key, shares left and the level it rests on."""

    __slots__ = ("side", "key", "shares", "level")

    def __init__(self, side: int, key: int, shares: int, level: _Level) -> None:
        self.side = side
        self.key = key
        self.shares = shares
        self.level = level


def _new_level(key: int, shares: int) -> _Level:
    """A level holding one order of `shares` (compiled: no Python-level call)."""
    level = _Level.__new__(_Level)
    level.key = key
    level.shares = shares
    level.count = 1
    return level


_LEVEL_KEY = attrgetter("key")


def _level_index(levels: list[_Level], key: int) -> int:
    """Where the level of `key` is, or goes, in the ascending `levels` (`bisect_left`).

    Compiled, a C binary search on the levels' C keys; interpreted, `bisect_left` itself."""
    if cython.compiled:
        low = 0
        high = len(levels)
        while low < high:
            middle = (low + high) >> 1
            level = levels[middle]
            if level.key < key:
                low = middle + 1
            else:
                high = middle
        return low
    return bisect_left(levels, key, key=_LEVEL_KEY)


class BookError(ValueError):
    """An operation the book cannot apply; the book is left unchanged."""

    def __init__(self, symbol: str, ref: int, reason: str) -> None:
        self.symbol = symbol
        self.ref = ref
        self.reason = reason
        super().__init__(f"{symbol or '?'}: order {ref}: {reason}")


class UnknownOrderError(BookError):
    """The reference number is not in the book."""


class DuplicateOrderError(BookError):
    """An add (or a replace's new reference) reuses a live reference number."""


class OverExecutionError(BookError):
    """More shares executed or cancelled than the order has left."""


class InvalidOrderError(BookError):
    """An add with a non-positive price or share count, or a side that is not BUY/SELL."""


class RestingOrder(NamedTuple):
    ref: int
    side: Side
    price: int
    shares: int


class BookSnapshot(NamedTuple):
    """The first N levels of each side, best first."""

    symbol: str
    timestamp_ns: int
    bids: list[BookLevel]
    asks: list[BookLevel]


class OrderBook:
    """L3/L2 order book of one symbol. Prices are int 1/10,000 units, shares int.

    Compiled, an extension type (order_book.pxd): its fields are declared there, and no other
    attribute can be set on an instance."""

    def __init__(self, symbol: str = "") -> None:
        self.symbol = symbol
        self.trading_state: str | None = None
        """Last ITCH trading state letter ('H', 'P', 'Q', 'T'); None until one is seen."""
        self._orders: dict[int, _Order] = {}
        self._bids: list[_Level] = []
        self._asks: list[_Level] = []
        self._best_bid_key = _NO_BID_KEY
        self._best_ask_key = _NO_ASK_KEY
        self._last_bid_price = 0
        self._last_bid_shares = 0
        self._last_ask_price = 0
        self._last_ask_shares = 0

    # ---------------------------------------------------------------- changes
    #
    # One call per ITCH order message does the whole change: `add` (A, F), `execute_order`
    # (E, C), `cancel_order` (X), `delete_order` (D), `replace_order` (U). Each returns True
    # when the change was at or above its side's best price, that is when the top of book
    # may have moved (`poll_top_change` then tells whether it did); a feed polls only then.
    # `execute`, `cancel`, `delete` and `replace` make the same changes and return the
    # order's price and side instead, for callers that report trades.

    def add(self, ref: int, side: Side | int, price: int, shares: int) -> bool:
        """Add a new order at the back of its price level's queue (ITCH A, F); True when it
        rests at or above its side's best price."""
        if side == 1:
            s = 1  # store a plain int, whatever int-like the caller passed
        elif side == -1:
            s = -1
        else:
            raise self._add_error(ref, side, price, shares)
        if shares <= 0 or price <= 0:
            raise self._add_error(ref, s, price, shares)
        order = _Order.__new__(_Order)  # compiled: no Python-level call
        order.side = s
        order.key = price * s
        order.shares = shares
        if self._orders.setdefault(ref, order) is not order:
            raise self._add_error(ref, s, price, shares)
        return self._join_level(order)

    def execute_order(self, ref: int, shares: int) -> bool:
        """Execute `shares` (1 to what is left) of a resting order (ITCH E, C); True when at
        its side's best price."""
        order = self._orders.get(ref)
        if order is None or shares <= 0 or shares > order.shares:
            raise self._reduce_error(ref, order, shares, "executed", "execution")
        level = order.level
        if shares == order.shares:
            del self._orders[ref]
            if level.count == 1:
                return self._drop_level(level)
            level.count -= 1
        else:
            order.shares -= shares
        level.shares -= shares
        key = level.key
        return key == (self._best_bid_key if key > 0 else self._best_ask_key)

    def cancel_order(self, ref: int, shares: int) -> bool:
        """Cancel `shares` (0 to what is left; all of them removes the order) of a resting
        order (ITCH X); True when at its side's best price and some shares were cancelled."""
        order = self._orders.get(ref)
        if order is None or shares < 0 or shares > order.shares:
            raise self._reduce_error(ref, order, shares, "cancelled", "cancel")
        return self.execute_order(ref, shares) if shares else False

    def delete_order(self, ref: int) -> bool:
        """Remove an order entirely (ITCH D); True when it was at its side's best price."""
        order = self._orders.pop(ref, None)
        if order is None:
            raise UnknownOrderError(self.symbol, ref, "deleted but not in the book")
        level = order.level  # `_leave_level` written out: the most frequent message
        if level.count == 1:
            return self._drop_level(level)
        level.shares -= order.shares
        level.count -= 1
        key = level.key
        return key == (self._best_bid_key if key > 0 else self._best_ask_key)

    def replace_order(self, old_ref: int, new_ref: int, shares: int, price: int) -> bool:
        """Cancel-replace (ITCH U): the new order keeps the side, takes a new reference number
        and goes to the back of its level's queue (priority is lost even at the same price).
        True when the old or the new price is at or above the side's best."""
        orders = self._orders
        order = orders.get(old_ref)
        if order is None or shares <= 0 or price <= 0 or new_ref in orders:
            error = self._replace_error(old_ref, order, new_ref, shares, price)
            if error is not None:
                raise error
        del orders[old_ref]
        old_key = order.key
        self._leave_level(order)
        key = price * order.side
        order.key = key  # the same entry, under its new reference at the back of the queue
        order.shares = shares
        orders[new_ref] = order
        self._join_level(order)
        if old_key > key:
            key = old_key
        return key >= (self._best_bid_key if key > 0 else self._best_ask_key)

    def execute(self, ref: int, shares: int) -> tuple[int, Side]:
        """`execute_order`, returning the order's (price, side) for a trade event."""
        order = self._orders.get(ref)
        self.execute_order(ref, shares)
        return order.key * order.side, _SIDES[order.side]

    def cancel(self, ref: int, shares: int) -> tuple[int, Side]:
        """`cancel_order`, returning the order's (price, side)."""
        order = self._orders.get(ref)
        self.cancel_order(ref, shares)
        return order.key * order.side, _SIDES[order.side]

    def delete(self, ref: int) -> tuple[int, Side]:
        """`delete_order`, returning the order's (price, side)."""
        order = self._orders.get(ref)
        self.delete_order(ref)
        return order.key * order.side, _SIDES[order.side]

    def replace(self, old_ref: int, new_ref: int, shares: int, price: int) -> Side:
        """`replace_order`, returning the order's side."""
        order = self._orders.get(old_ref)
        self.replace_order(old_ref, new_ref, shares, price)
        return _SIDES[order.side]

    # An order joining or leaving its level; each returns whether its key is (was) the best.

    def _join_level(self, order: _Order) -> bool:
        """Put a new order (not yet on a level) on the level of its key, made if need be."""
        key = order.key
        shares = order.shares
        if order.side == 1:
            levels = self._bids
            best = self._best_bid_key
        else:
            levels = self._asks
            best = self._best_ask_key
        if key > best:  # a new best level
            level = _new_level(key, shares)
            levels.append(level)
            if key > 0:
                self._best_bid_key = key
            else:
                self._best_ask_key = key
            order.level = level
            return True
        if key == best:
            level = levels[len(levels) - 1]
        else:  # below the best: the best level is after `index`
            index = _level_index(levels, key)
            level = levels[index]
            if level.key != key:
                level = _new_level(key, shares)
                levels.insert(index, level)
                order.level = level
                return False
        order.level = level
        level.shares += shares
        level.count += 1
        return key == best

    def _leave_level(self, order: _Order) -> bool:
        """Take an order that has left `_orders` off its level."""
        level = order.level
        if level.count == 1:
            return self._drop_level(level)
        level.shares -= order.shares
        level.count -= 1
        key = level.key
        return key == (self._best_bid_key if key > 0 else self._best_ask_key)

    def _drop_level(self, level: _Level) -> bool:
        """Remove an emptied level from its side; True when it was the best."""
        key = level.key
        if key > 0:
            levels = self._bids
            if key == self._best_bid_key:
                levels.pop()
                if levels:
                    best = levels[len(levels) - 1]
                    self._best_bid_key = best.key
                else:
                    self._best_bid_key = _NO_BID_KEY
                return True
        else:
            levels = self._asks
            if key == self._best_ask_key:
                levels.pop()
                if levels:
                    best = levels[len(levels) - 1]
                    self._best_ask_key = best.key
                else:
                    self._best_ask_key = _NO_ASK_KEY
                return True
        del levels[_level_index(levels, key)]
        return False

    # The errors of refused changes, checked in the order the rules are listed.

    def _add_error(self, ref: int, side: object, price: int, shares: int) -> BookError:
        if ref in self._orders:
            return DuplicateOrderError(self.symbol, ref, "reference number already live")
        if side != 1 and side != -1:
            return InvalidOrderError(self.symbol, ref, f"side must be BUY or SELL, got {side!r}")
        return InvalidOrderError(
            self.symbol, ref, f"add needs positive price and shares, got {price} x {shares}"
        )

    def _reduce_error(
        self, ref: int, order: _Order | None, shares: int, done: str, action: str
    ) -> BookError:
        if order is None:
            return UnknownOrderError(self.symbol, ref, f"{done} but not in the book")
        return OverExecutionError(
            self.symbol, ref, f"{action} of {shares} shares, {order.shares} left"
        )

    def _replace_error(
        self, old_ref: int, order: _Order | None, new_ref: int, shares: int, price: int
    ) -> BookError | None:
        """The error of a refused replace; None for a valid replace onto its own reference."""
        if order is None:
            return UnknownOrderError(self.symbol, old_ref, "replaced but not in the book")
        if new_ref in self._orders and new_ref != old_ref:
            return DuplicateOrderError(self.symbol, new_ref, "replacement reference already live")
        if shares <= 0 or price <= 0:
            return InvalidOrderError(
                self.symbol,
                new_ref,
                f"replace needs positive price and shares, got {price} x {shares}",
            )
        return None

    def clear(self) -> None:
        """Remove every order (the trading state is kept)."""
        self._orders.clear()
        self._bids.clear()
        self._asks.clear()
        self._best_bid_key = _NO_BID_KEY
        self._best_ask_key = _NO_ASK_KEY

    # ---------------------------------------------------------------- queries

    def __len__(self) -> int:
        """Number of live orders."""
        return len(self._orders)

    def __contains__(self, ref: object) -> bool:
        return ref in self._orders

    def order(self, ref: int) -> RestingOrder | None:
        order = self._orders.get(ref)
        if order is None:
            return None
        return RestingOrder(ref, _SIDES[order.side], order.key * order.side, order.shares)

    def orders(self) -> list[RestingOrder]:
        """Every live order, oldest first (so in time priority within each level)."""
        return [
            RestingOrder(ref, _SIDES[order.side], order.key * order.side, order.shares)
            for ref, order in self._orders.items()
        ]

    def queue(self, side: Side, price: int) -> list[int]:
        """Reference numbers at one price level in priority order (scans all orders)."""
        key = price * side
        return [ref for ref, order in self._orders.items() if order.key == key]

    def _side_levels(self, side: int) -> list[_Level]:
        return self._bids if side == 1 else self._asks

    def _best(self, side: int) -> BookLevel | None:
        levels = self._side_levels(side)
        if not levels:
            return None
        level = levels[-1]
        return BookLevel(level.key * side, level.shares, level.count)

    @property
    def best_bid(self) -> BookLevel | None:
        return self._best(1)

    @property
    def best_ask(self) -> BookLevel | None:
        return self._best(-1)

    def level_count(self, side: Side) -> int:
        """Number of occupied price levels on one side."""
        return len(self._side_levels(side))

    def level(self, side: Side, price: int) -> BookLevel | None:
        """The level at an exact price, or None if no order rests there."""
        levels = self._side_levels(side)
        key = price * side
        index = _level_index(levels, key)
        if index == len(levels) or levels[index].key != key:
            return None
        level = levels[index]
        return BookLevel(price, level.shares, level.count)

    def levels(self, side: Side, n: int | None = None) -> list[BookLevel]:
        """Up to `n` levels of one side (all if None), best first."""
        levels = self._side_levels(side)
        best_first = levels[::-1] if n is None else levels[: -n - 1 : -1] if n > 0 else []
        return [BookLevel(level.key * side, level.shares, level.count) for level in best_first]

    def top_of_book(self, timestamp_ns: int = 0) -> TopOfBook:
        """Best bid and offer; a missing side has price 0 and shares 0."""
        return TopOfBook(self.symbol, timestamp_ns, *self._top())

    def snapshot(self, n: int, timestamp_ns: int = 0) -> BookSnapshot:
        """The first `n` levels of each side, best first."""
        return BookSnapshot(self.symbol, timestamp_ns, self.levels(1, n), self.levels(-1, n))

    def _top(self) -> tuple[int, int, int, int]:
        bids, asks = self._bids, self._asks
        bid_price = self._best_bid_key
        bid_shares = bids[-1].shares if bids else 0
        if asks:
            ask_price = -self._best_ask_key
            ask_shares = asks[-1].shares
        else:
            ask_price = ask_shares = 0
        return bid_price, bid_shares, ask_price, ask_shares

    def poll_top_change(self, timestamp_ns: int) -> TopOfBook | None:
        """The top of book if it differs from the one this method last reported, else None.

        On the hot path of every builder, hence written out rather than built on `_top`."""
        bids = self._bids
        asks = self._asks
        bid_price = self._best_bid_key  # a bid's key is its price
        bid_shares = 0
        if bids:
            best = bids[len(bids) - 1]
            bid_shares = best.shares
        if asks:
            best = asks[len(asks) - 1]
            ask_price = -best.key
            ask_shares = best.shares
        else:
            ask_price = ask_shares = 0
        if (
            bid_price == self._last_bid_price
            and bid_shares == self._last_bid_shares
            and ask_price == self._last_ask_price
            and ask_shares == self._last_ask_shares
        ):
            return None
        self._last_bid_price = bid_price
        self._last_bid_shares = bid_shares
        self._last_ask_price = ask_price
        self._last_ask_shares = ask_shares
        return _new_tuple(
            TopOfBook, (self.symbol, timestamp_ns, bid_price, bid_shares, ask_price, ask_shares)
        )

    @property
    def crossed(self) -> bool:
        """Best bid above best ask (both sides present)."""
        return bool(self._bids and self._asks) and self._best_bid_key > -self._best_ask_key

    @property
    def locked(self) -> bool:
        """Best bid equal to best ask (both sides present)."""
        return bool(self._bids and self._asks) and self._best_bid_key == -self._best_ask_key

    def _state(self) -> tuple[object, ...]:
        """Everything `__eq__` compares, as plain values."""
        return (
            self.symbol,
            self.trading_state,
            [(ref, o.side, o.key, o.shares) for ref, o in self._orders.items()],
            [(level.key, level.shares, level.count) for level in self._bids],
            [(level.key, level.shares, level.count) for level in self._asks],
        )

    def __eq__(self, other: object) -> bool:
        """Same symbol and trading state, same live orders in the same priority order."""
        if not isinstance(other, OrderBook):
            return NotImplemented
        return self._state() == other._state()

    __hash__ = None  # type: ignore[assignment]

    def check_invariants(self) -> None:
        """Recompute every level from the orders and compare (for tests and audits)."""
        expected: dict[int, list[int]] = {}
        for ref, order in self._orders.items():
            side, key, shares = order.side, order.key, order.shares
            level = order.level
            if level is None or level.key != key:
                raise AssertionError(f"{self.symbol}: order {ref} is not linked to its level")
            if shares <= 0 or side not in (1, -1) or key * side <= 0:
                raise AssertionError(
                    f"{self.symbol}: order {ref} is malformed: {side, key, shares}"
                )
            entry = expected.setdefault(key, [0, 0])
            entry[0] += shares
            entry[1] += 1
        for ref, order in self._orders.items():
            levels = self._side_levels(order.side)
            if levels[_level_index(levels, order.key)] is not order.level:
                raise AssertionError(f"{self.symbol}: order {ref}'s level is not on its side")
        for side, levels in ((1, self._bids), (-1, self._asks)):
            found = {level.key: [level.shares, level.count] for level in levels}
            wanted = {key: entry for key, entry in expected.items() if (key > 0) == (side == 1)}
            if found != wanted:
                raise AssertionError(f"{self.symbol}: levels disagree with the orders")
            keys = [level.key for level in levels]
            if keys != sorted(set(keys)):
                raise AssertionError(f"{self.symbol}: sorted levels are out of step")
        bids, asks = self._bids, self._asks
        if self._best_bid_key != (bids[-1].key if bids else _NO_BID_KEY) or self._best_ask_key != (
            asks[-1].key if asks else _NO_ASK_KEY
        ):
            raise AssertionError(f"{self.symbol}: best keys are out of step")

    def __repr__(self) -> str:
        return (
            f"OrderBook({self.symbol!r}, orders={len(self._orders)}, "
            f"bid={self.best_bid}, ask={self.best_ask})"
        )
