"""The price levels of the venue's book: one FIFO queue per price, one sorted key list per side.

The matching engine (`calarb.venue.matching`) decides; this module only keeps the queues.
Layout, chosen for speed at both speeds: each side keeps a dict from a signed price key to its
`Level` and a sorted list of those keys with the best last (bids key = price, asks key =
-price), so the best level is `keys[-1]` and removing it is `keys.pop()`. A level is a FIFO
deque of `Order`; a cancelled order is only marked dead (`leaves == 0`) and dropped when it
reaches the front, so cancels are O(1) apart from removing an emptied level.
"""

from __future__ import annotations

from bisect import bisect_left, insort
from collections import deque

from calarb.core.types import Instrument, Side
from calarb.venue.orders import Order


class Level:
    """The orders resting at one price, oldest first; `live` counts those with leaves > 0."""

    def __init__(self, price: int) -> None:
        self.price = price
        self.queue: deque[Order] = deque()
        self.live = 0


class BookSide:
    """One side of one symbol's book."""

    def __init__(self, side: Side) -> None:
        self.side = side
        self.sign = 1 if side is Side.BUY else -1
        self.levels: dict[int, Level] = {}
        self.keys: list[int] = []  # sign * price, ascending: the best level is last

    def crossed_by(self, limit_key: int) -> bool:
        """Whether the best level is at or better than `limit_key` (an incoming order's
        signed limit on this side's scale)."""
        keys = self.keys
        return len(keys) > 0 and keys[-1] >= limit_key

    def levels_best_first(self) -> list[Level]:
        levels = self.levels
        return [levels[key] for key in reversed(self.keys)]

    def add(self, order: Order) -> None:
        """Put a live order at the back of its price's queue."""
        price = order.price
        key = self.sign * price
        level = self.levels.get(key)
        if level is None:
            level = Level(price)
            self.levels[key] = level
            keys = self.keys
            if not keys or key > keys[-1]:
                keys.append(key)
            else:
                insort(keys, key)
        level.queue.append(order)
        level.live += 1

    def remove(self, order: Order) -> None:
        """Take a live order off its level (marked dead; dropped from the deque lazily)."""
        key = self.sign * order.price
        level: Level = self.levels[key]
        order.leaves = 0
        level.live -= 1
        if not level.live:
            del self.levels[key]
            keys = self.keys
            if keys[-1] == key:
                keys.pop()
            else:
                del keys[bisect_left(keys, key)]
        elif len(level.queue) > 2 * level.live + 16:
            level.queue = deque([o for o in level.queue if o.leaves])

    def drop_best_if_empty(self, key: int, level: Level) -> None:
        """After matching at the best level (`key`): unlink it if nothing live is left on it."""
        if not level.live and self.levels.get(key) is level:
            self.keys.pop()
            del self.levels[key]

    def fillable(self, order: Order, limit_key: int, skip_own: bool) -> bool:
        """Whether `order` would fill in full now up to `limit_key` (the FOK check); own
        resting orders are skipped when they would be cancelled (`skip_own`), else they stop
        the fill."""
        needed = order.leaves
        participant = order.participant
        levels = self.levels
        for key in reversed(self.keys):
            if key < limit_key:
                return False
            level: Level = levels[key]
            for resting in level.queue:
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
            for order in level.queue:
                if order.leaves and (order.displayed or not displayed_only):
                    shares += order.leaves
                    orders += 1
            if orders:
                result.append((level.price, shares, orders))
        return result

    def live_orders(self) -> list[Order]:
        """Live orders in priority order (best price first, then time)."""
        return [
            order for level in self.levels_best_first() for order in level.queue if order.leaves
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
