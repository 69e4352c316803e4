"""One symbol's limit order book: L3 (every order by reference number) with L2 levels.

Layout, chosen for speed on the common case (activity at or near the touch):

* A price is held as a *key*, ``price * side`` (``Side.BUY`` is +1, ``Side.SELL`` is -1), so
  on both sides a larger key is a better price, and bid keys (> 0) never meet ask keys (< 0).
* ``_orders``: reference number -> ``[side, key, shares]``, a mutable list so partial
  executions and cancels keep the order's place; dict insertion order is time priority.
* ``_levels``: key -> ``[shares, orders]`` for both sides.
* ``_keys[side]``: the side's keys in ascending order, so the best level is the *last*
  element: a new best level is an append, removing the best is a pop, and inserting near the
  touch moves only the few keys better than it. ``_keys`` is a 3-tuple indexed by the side's
  int value (``_keys[1]`` bids, ``_keys[-1]`` asks), which avoids a branch per message.

Operations are atomic: an invalid operation raises a `BookError` subclass and leaves the book
unchanged, so a builder can count the error and carry on. `calarb.book.feed` inlines the
common paths of these operations on the same structures.
"""

from __future__ import annotations

from bisect import bisect_left, insort
from typing import NamedTuple

from calarb.core.events import BookLevel, TopOfBook
from calarb.core.types import Side

_new_tuple = tuple.__new__  # builds a NamedTuple without its Python-level __new__

_SIDES = (None, Side.BUY, Side.SELL)
"""Indexed by a side's int value: [1] is BUY, [-1] is SELL."""


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
    """L3/L2 order book of one symbol. Prices are int 1/10,000 units, shares int."""

    __slots__ = ("symbol", "trading_state", "_orders", "_levels", "_keys", "_last_top")

    def __init__(self, symbol: str = "") -> None:
        self.symbol = symbol
        self.trading_state: str | None = None
        """Last ITCH trading state letter ('H', 'P', 'Q', 'T'); None until one is seen."""
        self._orders: dict[int, list[int]] = {}
        self._levels: dict[int, list[int]] = {}
        self._keys: tuple[None, list[int], list[int]] = (None, [], [])
        self._last_top = (0, 0, 0, 0)

    # ---------------------------------------------------------------- changes

    def add(self, ref: int, side: Side, price: int, shares: int) -> None:
        """Add a new order at the back of its price level's queue."""
        if ref in self._orders:
            raise DuplicateOrderError(self.symbol, ref, "reference number already live")
        if side == 1:
            side = 1  # store a plain int, whatever int-like the caller passed
        elif side == -1:
            side = -1
        else:
            raise InvalidOrderError(self.symbol, ref, f"side must be BUY or SELL, got {side!r}")
        if shares <= 0 or price <= 0:
            raise InvalidOrderError(
                self.symbol, ref, f"add needs positive price and shares, got {price} x {shares}"
            )
        key = price * side
        level = self._levels.get(key)
        if level is None:
            self._new_level(side, key, shares)
        else:
            level[0] += shares
            level[1] += 1
        self._orders[ref] = [side, key, shares]

    def execute(self, ref: int, shares: int) -> tuple[int, Side]:
        """Execute `shares` of a resting order; returns its (price, side) for a trade event."""
        order = self._orders.get(ref)
        if order is None:
            raise UnknownOrderError(self.symbol, ref, "executed but not in the book")
        if shares > order[2] or shares <= 0:
            raise OverExecutionError(
                self.symbol, ref, f"execution of {shares} shares, {order[2]} left"
            )
        self._reduce(ref, order, shares)
        return order[1] * order[0], _SIDES[order[0]]

    def cancel(self, ref: int, shares: int) -> tuple[int, Side]:
        """Cancel part of an order (all of it if `shares` equals what is left)."""
        order = self._orders.get(ref)
        if order is None:
            raise UnknownOrderError(self.symbol, ref, "cancelled but not in the book")
        if shares > order[2] or shares < 0:
            raise OverExecutionError(
                self.symbol, ref, f"cancel of {shares} shares, {order[2]} left"
            )
        if shares:
            self._reduce(ref, order, shares)
        return order[1] * order[0], _SIDES[order[0]]

    def delete(self, ref: int) -> tuple[int, Side]:
        """Remove an order entirely; returns its (price, side)."""
        order = self._orders.get(ref)
        if order is None:
            raise UnknownOrderError(self.symbol, ref, "deleted but not in the book")
        self._reduce(ref, order, order[2])
        return order[1] * order[0], _SIDES[order[0]]

    def replace(self, old_ref: int, new_ref: int, shares: int, price: int) -> Side:
        """Cancel-replace: the new order keeps the side, takes a new reference number and
        goes to the back of its level's queue (priority is lost even at the same price)."""
        order = self._orders.get(old_ref)
        if order is None:
            raise UnknownOrderError(self.symbol, old_ref, "replaced but not in the book")
        if new_ref in self._orders and new_ref != old_ref:
            raise DuplicateOrderError(self.symbol, new_ref, "replacement reference already live")
        if shares <= 0 or price <= 0:
            raise InvalidOrderError(
                self.symbol,
                new_ref,
                f"replace needs positive price and shares, got {price} x {shares}",
            )
        side = order[0]
        self._reduce(old_ref, order, order[2])
        self.add(new_ref, side, price, shares)
        return _SIDES[side]

    def _reduce(self, ref: int, order: list[int], shares: int) -> None:
        """Take `shares` (already checked <= what is left) off an order and its level."""
        key = order[1]
        level = self._levels[key]
        if shares == order[2]:
            del self._orders[ref]
            if level[1] == 1:
                self._drop_level(order[0], key)
                return
            level[1] -= 1
        else:
            order[2] -= shares
        level[0] -= shares

    # The two structural changes of a side, shared with the fast path in calarb.book.feed.

    def _new_level(self, side: int, key: int, shares: int) -> None:
        self._levels[key] = [shares, 1]
        keys = self._keys[side]
        if not keys or key > keys[-1]:
            keys.append(key)
        else:
            insort(keys, key)

    def _drop_level(self, side: int, key: int) -> None:
        del self._levels[key]
        keys = self._keys[side]
        if keys[-1] == key:
            keys.pop()
        else:
            del keys[bisect_left(keys, key)]

    def clear(self) -> None:
        """Remove every order (the trading state is kept)."""
        self._orders.clear()
        self._levels.clear()
        self._keys[1].clear()
        self._keys[-1].clear()

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
        side, key, shares = order
        return RestingOrder(ref, _SIDES[side], key * side, shares)

    def orders(self) -> list[RestingOrder]:
        """Every live order, oldest first (so in time priority within each level)."""
        return [
            RestingOrder(ref, _SIDES[side], key * side, shares)
            for ref, (side, key, shares) in self._orders.items()
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
        bid_keys = self._keys[1]
        ask_keys = self._keys[-1]
        if bid_keys:
            bid_price = bid_keys[-1]
            bid_shares = self._levels[bid_price][0]
        else:
            bid_price = bid_shares = 0
        if ask_keys:
            ask_key = ask_keys[-1]
            ask_price = -ask_key
            ask_shares = self._levels[ask_key][0]
        else:
            ask_price = ask_shares = 0
        return bid_price, bid_shares, ask_price, ask_shares

    def poll_top_change(self, timestamp_ns: int) -> TopOfBook | None:
        """The top of book if it differs from the one this method last reported, else None.

        On the hot path of every builder, hence written out rather than built on `_top`."""
        levels = self._levels
        keys = self._keys[1]
        if keys:
            bid_price = keys[-1]
            bid_shares = levels[bid_price][0]
        else:
            bid_price = bid_shares = 0
        keys = self._keys[-1]
        if keys:
            ask_price = keys[-1]
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
        for ref, (side, key, shares) in self._orders.items():
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

    def __repr__(self) -> str:
        return (
            f"OrderBook({self.symbol!r}, orders={len(self._orders)}, "
            f"bid={self.best_bid}, ask={self.best_ask})"
        )
