"""The price levels of the venue's book: one FIFO queue per price, one sorted level list per side.

The matching engine (`calarb.venue.matching`) decides; this module only keeps the queues.
Layout, chosen for speed at both speeds: each side keeps its `Level` objects in a list sorted
by a signed price key with the best last (bids key = price, asks key = -price), so the best
level is `levels[-1]` and removing it is `levels.pop()`; another level is found by a binary
search on the keys (C integers when compiled: no dict keyed by Python ints). A level's queue
is a list of `Order` read from `head` (the orders before it have left), so taking the front
order is an index step. A cancelled order is only marked dead (`leaves == 0`) and skipped when
it reaches the front, so cancels are O(log levels) apart from removing an emptied level.
"""

from __future__ import annotations

from bisect import bisect_left
from operator import attrgetter

import cython

from calarb.core.types import Instrument, Side
from calarb.venue.orders import Order

_COMPACT_AFTER = 32
"""Orders passed at a queue's front before the list is cut (`Level.cut_front`)."""


class Level:
    """The orders resting at one price, oldest first from `head`; `live` counts those with
    leaves > 0."""

    __slots__ = ("key", "price", "queue", "head", "live")  # interpreted: cheaper attributes

    def __init__(self, key: int, price: int) -> None:
        self.key = key
        self.price = price
        self.queue: list[Order] = []
        self.head = 0
        self.live = 0

    def cut_front(self) -> None:
        """Drop the orders before `head` (they have left the book) once they are many: the
        matching engine steps `head` past each order it takes off, then calls this."""
        head = self.head
        if head >= _COMPACT_AFTER and head + head > len(self.queue):
            del self.queue[:head]
            self.head = 0

    def waiting(self) -> list[Order]:
        """The queue from its front (dead orders included)."""
        return self.queue[self.head :]


def _new_level(key: int, price: int) -> Level:
    """An empty level (compiled: no Python-level call)."""
    level = Level.__new__(Level)
    level.key = key
    level.price = price
    level.queue = []
    level.head = 0
    level.live = 0
    return level


_LEVEL_KEY = attrgetter("key")


def _level_index(levels: list[Level], key: int) -> int:
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


class BookSide:
    """One side of one symbol's book."""

    def __init__(self, side: Side) -> None:
        self.side = side
        self.sign = 1 if side is Side.BUY else -1
        self.levels: list[Level] = []  # ascending keys (sign * price): the best level is last

    def crossed_by(self, limit_key: int) -> bool:
        """Whether the best level is at or better than `limit_key` (an incoming order's
        signed limit on this side's scale)."""
        levels = self.levels
        if not levels:
            return False
        best = levels[len(levels) - 1]
        return best.key >= limit_key

    def best_price(self) -> int | None:
        """The best level's price, None when the side is empty."""
        return self.levels[-1].price if self.levels else None

    def levels_best_first(self) -> list[Level]:
        return self.levels[::-1]

    def add(self, order: Order) -> None:
        """Put a live order at the back of its price's queue."""
        price = order.price
        key = self.sign * price
        levels = self.levels
        count = len(levels)
        if count:
            level = levels[count - 1]
            if key > level.key:
                level = _new_level(key, price)
                levels.append(level)
            elif key != level.key:
                index = _level_index(levels, key)
                level = levels[index]
                if level.key != key:
                    level = _new_level(key, price)
                    levels.insert(index, level)
        else:
            level = _new_level(key, price)
            levels.append(level)
        level.queue.append(order)
        level.live += 1

    def remove(self, order: Order) -> None:
        """Take a live order off its level (marked dead; dropped from the queue lazily)."""
        key = self.sign * order.price
        levels = self.levels
        index = len(levels) - 1  # most cancels are at the best price
        level = levels[index]
        if level.key != key:
            index = _level_index(levels, key)
            level = levels[index]
        order.leaves = 0
        level.live -= 1
        if not level.live:
            del levels[index]
        elif len(level.queue) - level.head > 2 * level.live + 16:
            level.queue = [o for o in level.waiting() if o.leaves]
            level.head = 0

    def drop_best_if_empty(self, level: Level) -> None:
        """After matching at the best level: unlink it if nothing live is left on it."""
        levels = self.levels
        if not level.live and levels and levels[len(levels) - 1] is level:
            levels.pop()

    def fillable(self, order: Order, limit_key: int, skip_own: bool) -> bool:
        """Whether `order` would fill in full now up to `limit_key` (the FOK check); own
        resting orders are skipped when they would be cancelled (`skip_own`), else they stop
        the fill."""
        needed = order.leaves
        participant = order.participant
        for level in reversed(self.levels):
            if level.key < limit_key:
                return False
            for resting in level.waiting():
                if not resting.leaves:
                    continue
                if resting.participant == participant:
                    if skip_own:
                        continue
                    return False
                needed -= resting.leaves
                if needed <= 0:
                    return True
        return False

    def depth(self, max_levels: int | None, displayed_only: bool) -> list[tuple[int, int, int]]:
        """(price, shares, orders) of each level with a counted order, best first."""
        result = []
        for level in self.levels_best_first():
            if max_levels is not None and len(result) >= max_levels:
                break
            shares = orders = 0
            for order in level.waiting():
                if order.leaves and (order.displayed or not displayed_only):
                    shares += order.leaves
                    orders += 1
            if orders:
                result.append((level.price, shares, orders))
        return result

    def live_orders(self) -> list[Order]:
        """Live orders in priority order (best price first, then time)."""
        return [
            order for level in self.levels_best_first() for order in level.waiting() if order.leaves
        ]


class Book:
    """One symbol's book: both sides, its instrument's tick and lot, whether it is halted."""

    def __init__(self, instrument: Instrument) -> None:
        self.instrument = instrument
        self.symbol = instrument.symbol
        self.tick_size = instrument.tick_size
        self.lot_size = instrument.lot_size
        self.halted = False
        self.bids = BookSide(Side.BUY)
        self.asks = BookSide(Side.SELL)
