"""One symbol's limit order book: L3 (every order by reference number) with L2 levels.

Layout, chosen for speed on the common case (activity at or near the touch):

* A price is held as a *key*, ``price * side`` (``Side.BUY`` is +1, ``Side.SELL`` is -1), so
  on both sides a larger key is a better price, and bid keys (> 0) never meet ask keys (< 0).
* ``_orders``: reference number -> ``[side, key, shares, level]``, a mutable list so partial
  executions and cancels keep the order's place; dict insertion order is time priority.
  ``level`` is the order's entry of ``_levels``, so removing or reducing an order needs no
  second lookup.
* ``_levels``: key -> ``[shares, orders]`` for both sides.
* ``_keys[side]``: the side's keys in ascending order, so the best level is the *last*
  element: a new best level is an append, removing the best is a pop, and inserting near the
  touch moves only the few keys better than it. ``_keys`` is a 3-tuple indexed by the side's
  int value (``_keys[1]`` bids, ``_keys[-1]`` asks), which avoids a branch per message.
* ``_best_bid_key``, ``_best_ask_key``: the last key of each side (``_NO_BID_KEY`` /
  ``_NO_ASK_KEY``, below every key of the side, when it is empty), kept beside the lists
  because reading them is much cheaper than ``_keys[side][-1]`` on every message.

Operations are atomic: an invalid operation raises a `BookError` subclass and leaves the book
unchanged, so a builder can count the error and carry on. Each ITCH order message is one call
(`add`, `execute_order`, `cancel_order`, `delete_order`, `replace_order`) that does the whole
change and says whether the top of book may have moved: the fast path of `calarb.book.feed`.
"""

from __future__ import annotations

from bisect import bisect_left
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


def _key_index(keys: list[int], key: int) -> int:
    """Where `key` is, or goes, in the ascending `keys` (`bisect_left`).

    Compiled, a C binary search on the keys as C integers (cheaper than calling `bisect`
    through the Python call protocol); interpreted, `bisect_left` itself."""
    if cython.compiled:
        low = 0
        high = len(keys)
        while low < high:
            middle = (low + high) >> 1
            found = keys[middle]
            if found < key:
                low = middle + 1
            else:
                high = middle
        return low
    return bisect_left(keys, key)


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
        self._orders: dict[int, list[int]] = {}
        self._levels: dict[int, list[int]] = {}
        self._keys: tuple[None, list[int], list[int]] = (None, [], [])
        self._best_bid_key = _NO_BID_KEY
        self._best_ask_key = _NO_ASK_KEY
        self._last_top = (0, 0, 0, 0)

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
        key = price * s
        order = [s, key, shares, None]
        if self._orders.setdefault(ref, order) is not order:
            raise self._add_error(ref, s, price, shares)
        level = self._levels.get(order[1])  # order[1]: the key as the int already built
        if level is None:
            level = order[3] = [shares, 1]
            return self._new_level(s, key, level)
        order[3] = level
        level[0] += shares
        level[1] += 1
        return key == (self._best_bid_key if key > 0 else self._best_ask_key)

    def execute_order(self, ref: int, shares: int) -> bool:
        """Execute `shares` (1 to what is left) of a resting order (ITCH E, C); True when at
        its side's best price."""
        order = self._orders.get(ref)
        if order is None or shares <= 0 or shares > order[2]:
            raise self._reduce_error(ref, order, shares, "executed", "execution")
        side, key, left, level = order
        if shares == left:
            del self._orders[ref]
            if level[1] == 1:
                return self._drop_level(side, key)
            level[1] -= 1
        else:
            order[2] = left - shares
        level[0] -= shares
        return key == (self._best_bid_key if key > 0 else self._best_ask_key)

    def cancel_order(self, ref: int, shares: int) -> bool:
        """Cancel `shares` (0 to what is left; all of them removes the order) of a resting
        order (ITCH X); True when at its side's best price and some shares were cancelled."""
        order = self._orders.get(ref)
        if order is None or shares < 0 or shares > order[2]:
            raise self._reduce_error(ref, order, shares, "cancelled", "cancel")
        return self.execute_order(ref, shares) if shares else False

    def delete_order(self, ref: int) -> bool:
        """Remove an order entirely (ITCH D); True when it was at its side's best price."""
        order = self._orders.pop(ref, None)
        if order is None:
            raise UnknownOrderError(self.symbol, ref, "deleted but not in the book")
        side, key, shares, level = order
        if level[1] == 1:
            return self._drop_level(side, key)
        level[0] -= shares
        level[1] -= 1
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
        side, old_key, old_shares, level = order
        del orders[old_ref]
        levels = self._levels
        if level[1] == 1:
            self._drop_level(side, old_key)
        else:
            level[0] -= old_shares
            level[1] -= 1
        key = price * side
        order = orders[new_ref] = [side, key, shares, None]
        level = levels.get(order[1])
        if level is None:
            level = order[3] = [shares, 1]
            self._new_level(side, key, level)
        else:
            order[3] = level
            level[0] += shares
            level[1] += 1
        if old_key > key:
            key = old_key
        return key >= (self._best_bid_key if key > 0 else self._best_ask_key)

    def execute(self, ref: int, shares: int) -> tuple[int, Side]:
        """`execute_order`, returning the order's (price, side) for a trade event."""
        order = self._orders.get(ref)
        self.execute_order(ref, shares)
        return order[1] * order[0], _SIDES[order[0]]

    def cancel(self, ref: int, shares: int) -> tuple[int, Side]:
        """`cancel_order`, returning the order's (price, side)."""
        order = self._orders.get(ref)
        self.cancel_order(ref, shares)
        return order[1] * order[0], _SIDES[order[0]]

    def delete(self, ref: int) -> tuple[int, Side]:
        """`delete_order`, returning the order's (price, side)."""
        order = self._orders.get(ref)
        self.delete_order(ref)
        return order[1] * order[0], _SIDES[order[0]]

    def replace(self, old_ref: int, new_ref: int, shares: int, price: int) -> Side:
        """`replace_order`, returning the order's side."""
        order = self._orders.get(old_ref)
        self.replace_order(old_ref, new_ref, shares, price)
        return _SIDES[order[0]]

    # The two structural changes of a side; each returns whether `key` is (was) the best.

    def _new_level(self, side: int, key: int, level: list[int]) -> bool:
        """`level`: the new level's entry, ``[shares, 1]``."""
        self._levels[key] = level
        keys = self._keys[side]
        if side == 1:
            if key > self._best_bid_key:
                keys.append(key)
                self._best_bid_key = key
                return True
        elif key > self._best_ask_key:
            keys.append(key)
            self._best_ask_key = key
            return True
        keys.insert(_key_index(keys, key), key)
        return False

    def _drop_level(self, side: int, key: int) -> bool:
        del self._levels[key]
        keys = self._keys[side]
        if side == 1:
            if key == self._best_bid_key:
                keys.pop()
                self._best_bid_key = keys[-1] if keys else _NO_BID_KEY
                return True
        elif key == self._best_ask_key:
            keys.pop()
            self._best_ask_key = keys[-1] if keys else _NO_ASK_KEY
            return True
        del keys[_key_index(keys, key)]
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
        self, ref: int, order: list[int] | None, shares: int, done: str, action: str
    ) -> BookError:
        if order is None:
            return UnknownOrderError(self.symbol, ref, f"{done} but not in the book")
        return OverExecutionError(self.symbol, ref, f"{action} of {shares} shares, {order[2]} left")

    def _replace_error(
        self, old_ref: int, order: list[int] | None, new_ref: int, shares: int, price: int
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
        self._levels.clear()
        self._keys[1].clear()
        self._keys[-1].clear()
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
        side, key, shares, _ = order
        return RestingOrder(ref, _SIDES[side], key * side, shares)

    def orders(self) -> list[RestingOrder]:
        """Every live order, oldest first (so in time priority within each level)."""
        return [
            RestingOrder(ref, _SIDES[side], key * side, shares)
            for ref, (side, key, shares, _) in self._orders.items()
        ]

    def queue(self, side: Side, price: int) -> list[int]:
        """Reference numbers at one price level in priority order (scans all orders)."""
        key = price * side
        return [ref for ref, order in self._orders.items() if order[1] == key]

    def _best(self, side: int) -> BookLevel | None:
        keys = self._keys[side]
        if not keys:
            return None
        key = keys[-1]
        shares, count = self._levels[key]
        return BookLevel(key * side, shares, count)

    @property
    def best_bid(self) -> BookLevel | None:
        return self._best(1)

    @property
    def best_ask(self) -> BookLevel | None:
        return self._best(-1)

    def level_count(self, side: Side) -> int:
        """Number of occupied price levels on one side."""
        return len(self._keys[side])

    def level(self, side: Side, price: int) -> BookLevel | None:
        """The level at an exact price, or None if no order rests there."""
        entry = self._levels.get(price * side)
        return None if entry is None else BookLevel(price, entry[0], entry[1])

    def levels(self, side: Side, n: int | None = None) -> list[BookLevel]:
        """Up to `n` levels of one side (all if None), best first."""
        keys = self._keys[side]
        best_first = keys[::-1] if n is None else keys[: -n - 1 : -1] if n > 0 else []
        levels = self._levels
        return [BookLevel(key * side, *levels[key]) for key in best_first]

    def top_of_book(self, timestamp_ns: int = 0) -> TopOfBook:
        """Best bid and offer; a missing side has price 0 and shares 0."""
        return TopOfBook(self.symbol, timestamp_ns, *self._top())

    def snapshot(self, n: int, timestamp_ns: int = 0) -> BookSnapshot:
        """The first `n` levels of each side, best first."""
        return BookSnapshot(self.symbol, timestamp_ns, self.levels(1, n), self.levels(-1, n))

    def _top(self) -> tuple[int, int, int, int]:
        bid_price = self._best_bid_key
        bid_shares = self._levels[bid_price][0] if bid_price != _NO_BID_KEY else 0
        ask_key = self._best_ask_key
        if ask_key != _NO_ASK_KEY:
            ask_price = -ask_key
            ask_shares = self._levels[ask_key][0]
        else:
            ask_price = ask_shares = 0
        return bid_price, bid_shares, ask_price, ask_shares

    def poll_top_change(self, timestamp_ns: int) -> TopOfBook | None:
        """The top of book if it differs from the one this method last reported, else None.

        On the hot path of every builder, hence written out rather than built on `_top`."""
        levels = self._levels
        bid_price = self._best_bid_key  # a bid's key is its price
        bid_shares = levels[bid_price][0] if bid_price != _NO_BID_KEY else 0
        ask_price = self._best_ask_key
        if ask_price != _NO_ASK_KEY:
            ask_shares = levels[ask_price][0]
            ask_price = -ask_price
        else:
            ask_price = ask_shares = 0
        last = self._last_top
        if (
            bid_price == last[0]
            and bid_shares == last[1]
            and ask_price == last[2]
            and ask_shares == last[3]
        ):
            return None
        self._last_top = (bid_price, bid_shares, ask_price, ask_shares)
        return _new_tuple(
            TopOfBook, (self.symbol, timestamp_ns, bid_price, bid_shares, ask_price, ask_shares)
        )

    @property
    def crossed(self) -> bool:
        """Best bid above best ask (both sides present)."""
        bid_keys, ask_keys = self._keys[1], self._keys[-1]
        return bool(bid_keys and ask_keys) and bid_keys[-1] > -ask_keys[-1]

    @property
    def locked(self) -> bool:
        """Best bid equal to best ask (both sides present)."""
        bid_keys, ask_keys = self._keys[1], self._keys[-1]
        return bool(bid_keys and ask_keys) and bid_keys[-1] == -ask_keys[-1]

    def __eq__(self, other: object) -> bool:
        """Same symbol and trading state, same live orders in the same priority order."""
        if not isinstance(other, OrderBook):
            return NotImplemented
        return (
            self.symbol == other.symbol
            and self.trading_state == other.trading_state
            and list(self._orders.items()) == list(other._orders.items())
            and self._levels == other._levels
            and self._keys == other._keys
        )

    __hash__ = None  # type: ignore[assignment]

    def check_invariants(self) -> None:
        """Recompute every level from the orders and compare (for tests and audits)."""
        expected: dict[int, list[int]] = {}
        for ref, (side, key, shares, level) in self._orders.items():
            if level is not self._levels.get(key):
                raise AssertionError(f"{self.symbol}: order {ref} is not linked to its level")
            if shares <= 0 or side not in (1, -1) or key * side <= 0:
                raise AssertionError(
                    f"{self.symbol}: order {ref} is malformed: {side, key, shares}"
                )
            entry = expected.setdefault(key, [0, 0])
            entry[0] += shares
            entry[1] += 1
        if expected != self._levels:
            raise AssertionError(f"{self.symbol}: levels disagree with the orders")
        if self._keys[1] != sorted(k for k in expected if k > 0):
            raise AssertionError(f"{self.symbol}: sorted bid keys are out of step")
        if self._keys[-1] != sorted(k for k in expected if k < 0):
            raise AssertionError(f"{self.symbol}: sorted ask keys are out of step")
        bids, asks = self._keys[1], self._keys[-1]
        if self._best_bid_key != (bids[-1] if bids else _NO_BID_KEY) or self._best_ask_key != (
            asks[-1] if asks else _NO_ASK_KEY
        ):
            raise AssertionError(f"{self.symbol}: best keys are out of step")

    def __repr__(self) -> str:
        return (
            f"OrderBook({self.symbol!r}, orders={len(self._orders)}, "
            f"bid={self.best_bid}, ask={self.best_ask})"
        )
