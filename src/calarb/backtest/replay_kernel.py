"""Compiled fast path of the ITCH replay: the L3 books of every venue in one Numba state.

`run_itch_backtest(fast=True)` hands the merged message stream to `ReplayKernel.advance`,
which applies messages to the books (the order, level and hash machinery of
`calarb.book.bulk`) until Python must act, and reports the top-of-book changes the venues
publish on the way. It stops *before* a message that

* is at or after `horizon` (the scheduler's next due event, lowered to the arrival of any
  top change that moves a price in this call: the engine must react to it before later
  messages), or
* belongs to a *watched* (venue, locate): the `ReplayVenue` has own resting orders or
  consumed shares there, so its Python book and queue logic take the message, or
* would be handled differently by the Python book (`ItchBookFeed`): an add onto a live
  reference, an over-execution or over-cancel, a replace to zero or onto a live reference, a
  reference of another symbol's book. Then the fast path gives up (`ANOMALY`) and the
  backtest runs on the slow path, so results never depend on the path.

Each published top is one output row: the venue's feed shows it at `arrival` (the message
time plus the constant feed latency). A **size-only** change (same prices, both sides quoted,
not crossed, of a symbol quoted on one venue only and modelled on its mid) changes nothing in
the engine but stored sizes (see docs/backtest.md, "Fast replay"), so such a row is replaced
by the next size-only row of the same (venue, locate) when both arrive before `horizon` (the
replaced ones are counted, `coalesced`); Python holds the rest until the router needs them.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from calarb.book.bulk import (
    _BOOK,
    _CHUNK,
    _H_SIZE,
    _INITIAL_BITS,
    _L_USED,
    _LEVEL,
    _LEVEL_FIELDS,
    _LPRICE,
    _LSHARES,
    _O_USED,
    _ORDER_FIELDS,
    _PRICE,
    _REF,
    _SEQ,
    _SHARES,
    _add_order,
    _at_least,
    _be16,
    _be32,
    _be48,
    _be64,
    _hash_find,
    _hash_grown,
    _remove_order,
    _rows_at_least,
)
from calarb.book.bulk import _COUNTERS as _BOOK_COUNTERS
from calarb.itch.bulk import hot_kernel

LOCATES = 65536

# Stop reasons.
END, HORIZON, WATCHED, LIMIT, ANOMALY = 0, 1, 2, 3, 4
# Output row columns.
OUT_VL, OUT_ARRIVAL, OUT_TS, OUT_BID, OUT_BID_SZ, OUT_ASK, OUT_ASK_SZ, OUT_KIND = range(8)
# Output row kinds: replaced by a later row of its slot in the same call; a change the engine
# must see at its arrival (a price moved, a side emptied or filled, crossed, microprice, a
# symbol of several venues); size-only, arriving before `horizon` (it may replace the pending
# one of its slot); size-only, arriving at or after `horizon`.
DEAD, ACTIVE, COALESCE, SIZE_ONLY = 0, 1, 2, 3
_OUT_FIELDS = 8
# Kernel counters (after the book counters of calarb.book.bulk).
_REASON = _BOOK_COUNTERS  # reason, position, outputs: read together after a call
_POS = _REASON + 1
_OUTS = _REASON + 2
_COALESCED = _REASON + 3
_CALL = _REASON + 4
_ANOMALY_AT = _REASON + 5
_COUNTERS = _REASON + 6

_A, _F, _E, _C, _X, _D, _U, _R = (ord(c) for c in "AFECXDUR")
_BUY, _SELL = ord("B"), ord("S")
_VENUE_SHIFT = 56  # order keys of venue v are ref | v << 56 (several venues: refs < 2**56)
_NO_HORIZON = np.iinfo(np.int64).max
_CALL_LIMIT = 4096  # messages per kernel call at most
_ROOM = 4 * _CALL_LIMIT  # pool and table room ensured at a time


# --------------------------------------------------------------------------- kernel


@njit(cache=True)
def message_fields(buf, offsets):
    """(timestamp, stock locate) of every message whose type byte is at `offsets[i]`."""
    n = offsets.shape[0]
    stamps = np.empty(n, dtype=np.int64)
    locates = np.empty(n, dtype=np.int64)
    for i in range(n):
        p = offsets[i]
        stamps[i] = _be48(buf, p + 5)
        locates[i] = _be16(buf, p + 1)
    return stamps, locates


@hot_kernel
def _apply_message(buf, p, v, venues, orders, levels, table, shift, best, worst, order_free,
                   level_free, ctr, known, seq):  # fmt: skip
    """Apply one order message (type byte at p) of venue v; returns (vl, status): status 0
    applied or ignored as the Python book ignores it, 1 anomaly, 2 not an order message."""
    t = buf[p]
    if t == _R:
        known[v * LOCATES + _be16(buf, p + 1)] = 1
        return -1, 2
    if t != _A and t != _F and t != _E and t != _C and t != _X and t != _D and t != _U:
        return -1, 2
    locate = _be16(buf, p + 1)
    vl = v * LOCATES + locate
    if known[vl] == 0:
        return vl, 0  # before its stock directory: the Python feed has no book, ignores it
    ref = _be64(buf, p + 11)
    if venues > 1:
        if (ref >> _VENUE_SHIFT) != 0:
            return vl, 1
        ref = ref | (np.int64(v) << _VENUE_SHIFT)
    bid_book = vl * 2
    if t in (_A, _F):
        side_byte = buf[p + 19]
        shares = _be32(buf, p + 20)
        price = _be32(buf, p + 32)
        if shares == 0 or price == 0 or (side_byte != _BUY and side_byte != _SELL):
            return vl, 0  # both books reject it
        if _hash_find(table, shift, ref) >= 0:
            return vl, 1
        _add_order(orders, levels, best, worst, table, shift, level_free, order_free, ctr,
                   ref, bid_book + (1 if side_byte == _SELL else 0), price, shares, seq)  # fmt: skip
        return vl, 0
    found = _hash_find(table, shift, ref)
    if found < 0:
        return vl, 0  # unknown reference: both books ignore it
    slot = table[found, 1]
    book = orders[slot, _BOOK]
    if book != bid_book and book != bid_book + 1:
        return vl, 1
    if t == _D:
        _remove_order(orders, levels, best, worst, table, shift, level_free, order_free, ctr,
                      slot, found)  # fmt: skip
    elif t == _U:
        new_ref = _be64(buf, p + 19)
        shares = _be32(buf, p + 27)
        price = _be32(buf, p + 31)
        if venues > 1:
            if (new_ref >> _VENUE_SHIFT) != 0:
                return vl, 1
            new_ref = new_ref | (np.int64(v) << _VENUE_SHIFT)
        if shares == 0 or price == 0:
            return vl, 1
        if new_ref != ref and _hash_find(table, shift, new_ref) >= 0:
            return vl, 1
        _remove_order(orders, levels, best, worst, table, shift, level_free, order_free, ctr,
                      slot, found)  # fmt: skip
        _add_order(orders, levels, best, worst, table, shift, level_free, order_free, ctr,
                   new_ref, book, price, shares, seq)  # fmt: skip
    else:  # E, C, X: shares at offset 19
        reduce_by = _be32(buf, p + 19)
        left = orders[slot, _SHARES]
        if reduce_by > left:
            return vl, 1
        if reduce_by == left:
            _remove_order(orders, levels, best, worst, table, shift, level_free, order_free,
                          ctr, slot, found)  # fmt: skip
        else:
            orders[slot, _SHARES] = left - reduce_by
            levels[orders[slot, _LEVEL], _LSHARES] -= reduce_by
    return vl, 0


@hot_kernel
def _top(levels, best, vl, top):
    """Raw top of (venue, locate) vl into top[0:4]: bid, bid shares, ask, ask shares."""
    bid = best[vl * 2]
    ask = best[vl * 2 + 1]
    top[0] = levels[bid, _LPRICE] if bid >= 0 else 0
    top[1] = levels[bid, _LSHARES] if bid >= 0 else 0
    top[2] = levels[ask, _LPRICE] if ask >= 0 else 0
    top[3] = levels[ask, _LSHARES] if ask >= 0 else 0


@njit(cache=True, _nrt=False)
def _advance(buf, offsets, venue_of, times, start, limit, horizon, venues, feed_latency,
             feed_free, orders, levels, table, shift, best, worst, order_free, level_free, ctr,
             known, watched, publish, coalesce, last_pub, pending, out, before, after):  # fmt: skip
    """Apply messages from `start` until a stop (see the module docstring); fills `out`."""
    ctr[_CALL] += 1
    call = ctr[_CALL]
    n = times.shape[0]
    end = min(n, start + limit)
    outs = 0
    pos = start
    reason = LIMIT if end < n else END
    while pos < end:
        t = times[pos]
        if t >= horizon:
            reason = HORIZON
            break
        p = offsets[pos]
        v = venue_of[pos]
        kind = buf[p]
        vl = v * LOCATES + _be16(buf, p + 1)
        if watched[vl] != 0:
            reason = WATCHED
            break
        watch_top = publish[vl] != 0 and kind != _R
        if watch_top:
            _top(levels, best, vl, before)
        vl, status = _apply_message(buf, p, v, venues, orders, levels, table, shift, best,
                                    worst, order_free, level_free, ctr, known, pos)  # fmt: skip
        if status == 1:
            reason = ANOMALY
            ctr[_ANOMALY_AT] = pos
            break
        pos += 1
        if not watch_top or status != 0:
            continue
        _top(levels, best, vl, after)
        if (
            after[0] == before[0]
            and after[1] == before[1]
            and after[2] == before[2]
            and after[3] == before[3]
        ):
            continue
        arrival = t + feed_latency[v]
        if arrival < feed_free[v]:
            arrival = feed_free[v]
        feed_free[v] = arrival
        size_only = (
            coalesce[vl] != 0
            and after[1] > 0
            and after[3] > 0
            and last_pub[vl, 1] > 0
            and last_pub[vl, 3] > 0
            and after[0] == last_pub[vl, 0]
            and after[2] == last_pub[vl, 2]
            and after[0] <= after[2]
        )
        for k in range(4):
            last_pub[vl, k] = after[k]
        if size_only and arrival < horizon:
            if pending[vl, 0] == call:
                out[pending[vl, 1], OUT_KIND] = DEAD
                ctr[_COALESCED] += 1
            pending[vl, 0] = call
            pending[vl, 1] = outs
        else:
            pending[vl, 0] = 0
            if not size_only and arrival < horizon:
                horizon = arrival
        out[outs, OUT_VL] = vl
        out[outs, OUT_ARRIVAL] = arrival
        out[outs, OUT_TS] = _be48(buf, p + 5)
        for k in range(4):
            out[outs, OUT_BID + k] = after[k]
        if not size_only:
            out[outs, OUT_KIND] = ACTIVE
        elif arrival < horizon:
            out[outs, OUT_KIND] = COALESCE
        else:
            out[outs, OUT_KIND] = SIZE_ONLY
        outs += 1
    ctr[_POS] = pos
    ctr[_OUTS] = outs
    ctr[_REASON] = reason


@njit(cache=True, _nrt=False)
def _apply_one(buf, offsets, venue_of, pos, venues, orders, levels, table, shift, best, worst,
               order_free, level_free, ctr, known):  # fmt: skip
    """Apply message `pos` (one the Python venue handled); returns 1 on an anomaly."""
    _, status = _apply_message(buf, offsets[pos], venue_of[pos], venues, orders, levels, table,
                               shift, best, worst, order_free, level_free, ctr, known, pos)  # fmt: skip
    return 1 if status == 1 else 0


# --------------------------------------------------------------------------- Python side


class FastPathUnavailable(Exception):
    """The data has a message the compiled books would apply differently from the Python
    books (named by its merged index); the caller replays on the slow path instead."""


class ReplayKernel:
    """The compiled books of all venues of a merged stream, and the arrays Python and the
    kernel share (watched locates, last published tops).

    `buf`: the venues' message bytes concatenated; `offsets[i]`: where merged message i's type
    byte is in `buf`; `venue_of[i]`, `times[i]`: its venue and (merged) time.
    `publish[vl]`: the (venue, locate) is a subscribed symbol (its top changes are reported);
    `coalesce[vl]`: its size-only changes may be coalesced.
    """

    def __init__(self, buf, offsets, venue_of, times, venues: int, feed_latency) -> None:
        self.buf = buf
        self.offsets = offsets
        self.venue_of = venue_of
        self.times = times
        self.venues = venues
        slots = venues * LOCATES
        self.feed_latency = np.asarray(feed_latency, dtype=np.int64)
        self.feed_free = np.zeros(venues, dtype=np.int64)
        self.known = np.zeros(slots, dtype=np.uint8)
        self.watched = np.zeros(slots, dtype=np.uint8)
        self.publish = np.zeros(slots, dtype=np.uint8)
        self.coalesce = np.zeros(slots, dtype=np.uint8)
        self.last_pub = np.zeros((slots, 4), dtype=np.int64)
        self.pending = np.zeros((slots, 2), dtype=np.int64)
        self.ctr = np.zeros(_COUNTERS, dtype=np.int64)
        self.table = np.full((1 << _INITIAL_BITS, 2), -1, dtype=np.int64)
        self.shift = np.uint64(64 - _INITIAL_BITS)
        self.orders = np.empty((_CHUNK, _ORDER_FIELDS), dtype=np.int64)
        self.order_free = np.empty(_CHUNK, dtype=np.int64)
        self.levels = np.empty((_CHUNK, _LEVEL_FIELDS), dtype=np.int64)
        self.level_free = np.empty(_CHUNK, dtype=np.int64)
        self.best = np.full(slots * 2, -1, dtype=np.int64)
        self.worst = np.full(slots * 2, -1, dtype=np.int64)
        self.out = np.empty((_CALL_LIMIT, _OUT_FIELDS), dtype=np.int64)
        self._before = np.zeros(4, dtype=np.int64)
        self._after = np.zeros(4, dtype=np.int64)
        self._budget = 0  # messages that can be applied before the pools must be checked

    def _room(self, messages: int) -> None:
        """Grow pools and table so that `messages` more cannot overflow them (a message adds
        at most one order, level and entry). The table stays small (cache-resident)."""
        self._budget = messages
        ctr = self.ctr
        if self.orders.shape[0] < ctr[_O_USED] + messages:
            self.orders = _rows_at_least(self.orders, ctr[_O_USED] + messages)
            self.order_free = _at_least(self.order_free, self.orders.shape[0])
        if self.levels.shape[0] < ctr[_L_USED] + messages:
            self.levels = _rows_at_least(self.levels, ctr[_L_USED] + messages)
            self.level_free = _at_least(self.level_free, self.levels.shape[0])
        while 2 * (ctr[_H_SIZE] + messages) > self.table.shape[0]:
            self.table, self.shift = _hash_grown(self.table, self.shift)

    def advance(self, start: int, horizon: int | None) -> tuple[int, int, int]:
        """Apply messages from `start` (at most `_CALL_LIMIT`; see the module docstring);
        returns (reason, next position, outputs): the reported top changes are
        `self.out[:outputs]`."""
        limit = _CALL_LIMIT
        if self._budget < limit:
            self._room(_ROOM)
        _advance(
            self.buf, self.offsets, self.venue_of, self.times, start, limit,
            _NO_HORIZON if horizon is None else horizon, self.venues, self.feed_latency,
            self.feed_free, self.orders, self.levels, self.table, self.shift, self.best,
            self.worst, self.order_free, self.level_free, self.ctr, self.known, self.watched,
            self.publish, self.coalesce, self.last_pub, self.pending, self.out, self._before,
            self._after,
        )  # fmt: skip
        reason, position, outputs = self.ctr[_REASON : _OUTS + 1].tolist()
        if reason == ANOMALY:
            raise FastPathUnavailable(f"message {int(self.ctr[_ANOMALY_AT])} of the merged stream")
        self._budget -= position - start
        return reason, position, outputs

    @property
    def coalesced(self) -> int:
        return int(self.ctr[_COALESCED])

    def apply_one(self, pos: int) -> None:
        """Apply message `pos` that the Python venue handled (keeps the books in step)."""
        if self._budget < 1:
            self._room(_ROOM)
        self._budget -= 1
        if _apply_one(
            self.buf, self.offsets, self.venue_of, pos, self.venues, self.orders, self.levels,
            self.table, self.shift, self.best, self.worst, self.order_free, self.level_free,
            self.ctr, self.known,
        ):  # fmt: skip
            raise FastPathUnavailable(f"message {pos} of the merged stream")

    def live_orders(self, venue: int, locate: int) -> list[tuple[int, int, int, int]]:
        """(reference, side +1/-1, price, shares) of one book's live orders, in the order
        they joined it (time priority within a level)."""
        vl = venue * LOCATES + locate
        used = int(self.ctr[_O_USED])
        rows = self.orders[:used]
        books = rows[:, _BOOK]
        rows = rows[(books == vl * 2) | (books == vl * 2 + 1)]
        rows = rows[np.argsort(rows[:, _SEQ], kind="stable")]
        refs = rows[:, _REF]
        if self.venues > 1:
            refs = refs & ((1 << _VENUE_SHIFT) - 1)
        refs = refs.view(np.uint64).tolist()
        sides = np.where(rows[:, _BOOK] & 1, -1, 1).tolist()
        prices, shares = rows[:, _PRICE].tolist(), rows[:, _SHARES].tolist()
        return list(zip(refs, sides, prices, shares, strict=True))


__all__ = ["ANOMALY", "END", "HORIZON", "LIMIT", "WATCHED", "FastPathUnavailable", "ReplayKernel"]
