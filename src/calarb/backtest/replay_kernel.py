"""Compiled fast path of the ITCH replay: the L3 books of every venue in one Numba state.

`run_itch_backtest(fast=True)` hands the merged message stream to `ReplayKernel.advance`,
which applies messages to the books (the order, level and hash machinery of
`calarb.book.kernel`) until Python must act, and reports the top-of-book changes the venues
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

Each published top gets an insertion number from the scheduler's counter (`seq_base` on),
as the slow path's scheduled delivery would. A top that must reach the engine at its
`arrival` (the message time plus the constant feed latency) is an output row, which Python
schedules. A **size-only** change (same prices, both sides quoted, not crossed, of a symbol
quoted on one venue only and modelled on its mid) changes nothing in the engine but stored
sizes (see docs/backtest.md, "Fast replay"): it goes to its slot's chain of pending entries
instead, replacing the chain's last entry when it arrives before `horizon` (nothing can read
the chain before then), and Python asks for the entries when the router needs them.

The timer's tick, while the engine is idle on a timer (Python says so), runs here too: the
kernel counts the ticks due before the horizon and before each message, and takes the
insertion number of the tick each one schedules; Python records their equity rows.

`frame_times` frames a whole file in one walk for the replay (offsets, types, running-maximum
times, messages per locate).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
from numba import njit

from calarb.book.kernel import (
    BOOK_COUNTERS,
    ORDER_BOOK,
    ORDER_PRICE,
    ORDER_REF,
    ORDER_SEQ,
    ORDER_SHARES,
    ORDERS_USED,
    add_order,
    at_least,
    empty_pools,
    find_order,
    grown_pools,
    read_be16,
    read_be32,
    read_be48,
    read_be64,
    read_top,
    reduce_order,
    remove_order,
    replace_order,
    rows_at_least,
)
from calarb.itch.bulk import (
    LENGTH_TABLE,
    PREFIX_SIZE,
    detect_zero_prefixes,
    frame_length,
    hot_kernel,
    load_itch_bytes,
    stop_at_bad_frame,
)
from calarb.itch.files import GZIP_MAGIC
from calarb.itch.spec import MESSAGE_LENGTHS

LOCATES = 65536

# Stop reasons.
END, HORIZON, WATCHED, LIMIT, ANOMALY = 0, 1, 2, 3, 4
# Output row columns (active top changes): (venue, locate) slot, feed arrival, ITCH timestamp,
# the top, the insertion number of its delivery.
OUT_VL, OUT_ARRIVAL, OUT_TS, OUT_BID, OUT_BID_SZ, OUT_ASK, OUT_ASK_SZ, OUT_SEQ = range(8)
_OUT_FIELDS = 8
# Pending entry columns (size-only top changes): arrival, insertion number, ITCH timestamp,
# the top.
_ENTRY_FIELDS = 7
# last_pub columns: the top, and whether one was published.
_PUBLISHED = 4
# Kernel counters (after the book counters of calarb.book.kernel). A call's results, read
# together: stop reason, next position, outputs, insertion numbers taken, timer ticks run,
# the next tick's time (NO_TICK: none) and insertion number (-1: none scheduled).
_REASON = BOOK_COUNTERS
_POS = _REASON + 1
_OUTS = _REASON + 2
_MADE = _REASON + 3
_TICKS = _REASON + 4
_TICK_AT = _REASON + 5
_TICK_SEQ = _REASON + 6
_RESULTS = 7
_OFF_QUEUE = _REASON + 7  # size-only top changes (never scheduled)
_ANOMALY_AT = _REASON + 8
_E_USED = _REASON + 9  # pending entries used
_COUNTERS = _REASON + 10

_A, _F, _E, _C, _X, _D, _U, _R = (ord(c) for c in "AFECXDUR")
_BUY, _SELL = ord("B"), ord("S")
_VENUE_SHIFT = 56  # order keys of venue v are ref | v << 56 (several venues: refs < 2**56)
_NO_HORIZON = np.iinfo(np.int64).max
NO_TICK = _NO_HORIZON  # the timer's state when the kernel may not run a tick
_SHORTEST = min(MESSAGE_LENGTHS.values())
_CALL_LIMIT = 512  # messages per kernel call at most
_ROOM = 2 * _CALL_LIMIT  # pool and table room ensured at a time (a small table stays cached)


# --------------------------------------------------------------------------- kernel


@njit(cache=True, _nrt=False)
def _frame_times(buf, lengths, zero_prefixes, offsets, types, times, locate_counts):
    """One walk over the frames (`frame_length` validates each): per message the offset of
    its type byte, the type byte and the running maximum of the timestamps (a file's order
    is kept where its timestamps step back); each message counts in `locate_counts[its
    stock locate]`. Returns (messages, end): `end` is the first bad frame's offset, or the
    size."""
    size = buf.shape[0]
    pos = 0
    i = 0
    latest = 0
    while pos < size:
        length = frame_length(buf, pos, lengths, zero_prefixes)
        if length < 0:
            break
        p = pos + PREFIX_SIZE
        offsets[i] = p
        types[i] = buf[p]
        stamp = read_be48(buf, p + 5)
        if stamp > latest:
            latest = stamp
        times[i] = latest
        locate_counts[read_be16(buf, p + 1)] += 1
        i += 1
        pos = p + length
    return i, pos


def _mapped(source) -> np.ndarray | None:
    """A plain ITCH file mapped read-only (its pages are the page cache's: nothing is copied
    or allocated); None for anything else (in-memory data, gzip, an empty file)."""
    if not isinstance(source, str | os.PathLike):
        return None
    path = Path(source)
    with path.open("rb") as probe:
        head = probe.read(len(GZIP_MAGIC))
    if len(head) < len(GZIP_MAGIC) or head == GZIP_MAGIC:
        return None
    return np.memmap(path, dtype=np.uint8, mode="r").view(np.ndarray)


def frame_times(source) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """A whole ITCH file (or buffer) framed in one walk: (bytes, type-byte offsets, types,
    running-maximum times, messages per stock locate). A bad frame raises the
    `ItchDecodeError` of `calarb.itch.bulk.frame_bytes`, naming its byte offset."""
    buf = _mapped(source)
    if buf is None:
        buf = load_itch_bytes(source)
    zero_prefixes = detect_zero_prefixes(buf)
    most = buf.shape[0] // (PREFIX_SIZE + _SHORTEST) + 1
    offsets = np.empty(most, dtype=np.int64)  # pages past the last message are never touched
    types = np.empty(most, dtype=np.uint8)
    times = np.empty(most, dtype=np.int64)
    locate_counts = np.zeros(LOCATES, dtype=np.int64)
    messages, end = _frame_times(
        buf, LENGTH_TABLE, zero_prefixes, offsets, types, times, locate_counts
    )
    stop_at_bad_frame(buf, end, zero_prefixes, messages, lenient=False)
    return buf, offsets[:messages], types[:messages], times[:messages], locate_counts


@hot_kernel
def _apply_message(buf, p, v, venues, orders, levels, table, shift, best, worst, order_free,
                   level_free, ctr, known, seq):  # fmt: skip
    """Apply one order message (type byte at p) of venue v; returns (vl, status): status 0
    applied or ignored as the Python book ignores it, 1 anomaly, 2 not an order message."""
    t = buf[p]
    if t == _R:
        known[v * LOCATES + read_be16(buf, p + 1)] = 1
        return -1, 2
    if t != _A and t != _F and t != _E and t != _C and t != _X and t != _D and t != _U:
        return -1, 2
    locate = read_be16(buf, p + 1)
    vl = v * LOCATES + locate
    if known[vl] == 0:
        return vl, 0  # before its stock directory: the Python feed has no book, ignores it
    ref = read_be64(buf, p + 11)
    if venues > 1:
        if (ref >> _VENUE_SHIFT) != 0:
            return vl, 1
        ref = ref | (np.int64(v) << _VENUE_SHIFT)
    bid_book = vl * 2
    if t in (_A, _F):
        side_byte = buf[p + 19]
        shares = read_be32(buf, p + 20)
        price = read_be32(buf, p + 32)
        if shares == 0 or price == 0 or (side_byte != _BUY and side_byte != _SELL):
            return vl, 0  # both books reject it
        if find_order(table, shift, ref) >= 0:
            return vl, 1
        add_order(orders, levels, best, worst, table, shift, level_free, order_free, ctr,
                   ref, bid_book + (1 if side_byte == _SELL else 0), price, shares, seq)  # fmt: skip
        return vl, 0
    found = find_order(table, shift, ref)
    if found < 0:
        return vl, 0  # unknown reference: both books ignore it
    slot = table[found, 1]
    book = orders[slot, ORDER_BOOK]
    if book != bid_book and book != bid_book + 1:
        return vl, 1
    if t == _D:
        remove_order(orders, levels, best, worst, table, shift, level_free, order_free, ctr,
                      slot, found)  # fmt: skip
    elif t == _U:
        new_ref = read_be64(buf, p + 19)
        shares = read_be32(buf, p + 27)
        price = read_be32(buf, p + 31)
        if venues > 1:
            if (new_ref >> _VENUE_SHIFT) != 0:
                return vl, 1
            new_ref = new_ref | (np.int64(v) << _VENUE_SHIFT)
        if shares == 0 or price == 0:
            return vl, 1
        if new_ref != ref and find_order(table, shift, new_ref) >= 0:
            return vl, 1
        replace_order(orders, levels, best, worst, table, shift, level_free, order_free, ctr,
                      slot, found, new_ref, price, shares, seq)  # fmt: skip
    else:  # E, C, X: shares at offset 19
        reduce_by = read_be32(buf, p + 19)
        if reduce_by > orders[slot, ORDER_SHARES]:
            return vl, 1
        reduce_order(orders, levels, best, worst, table, shift, level_free, order_free, ctr,
                     slot, found, reduce_by)  # fmt: skip
    return vl, 0


@njit(cache=True, _nrt=False)
def _advance(start, limit, horizon, seq_base, tick_at, period, tick_end, buf, offsets,
             venue_of, times, venues,
             feed_latency, feed_free, orders, levels, table, shift, best, worst, order_free,
             level_free, ctr, known, watched, publish, coalesce, last_pub, out, before, after,
             chain, entries, entry_next, superseded):  # fmt: skip
    """Apply messages from `start` until a stop (see the module docstring); fills `out` with
    the active top changes and the slots' chains with the size-only ones. `tick_at`: when
    the timer's next tick is due, if the kernel may run it (it is idle: only its equity row
    is recorded; NO_TICK otherwise), then every `period` up to `tick_end`."""
    n = times.shape[0]
    end = min(n, start + limit)
    outs = 0
    made = 0  # insertion numbers taken: seq_base + made is the next one
    pos = start
    reason = LIMIT if end < n else END
    ran = 0
    tick_seq = -1
    while pos < end:
        t = times[pos]
        while tick_at <= t and tick_at < horizon:  # an idle tick: the equity row only
            ran += 1
            if tick_at + period <= tick_end:
                tick_seq = seq_base + made  # the tick schedules its next run
                made += 1
                tick_at += period
            else:
                tick_seq = -1
                tick_at = _NO_HORIZON
        if t >= horizon:
            reason = HORIZON
            break
        p = offsets[pos]
        v = venue_of[pos]
        kind = buf[p]
        vl = v * LOCATES + read_be16(buf, p + 1)
        if watched[vl] != 0:
            reason = WATCHED
            break
        watch_top = publish[vl] != 0 and kind != _R
        if watch_top:
            read_top(levels, best, vl, before)
        vl, status = _apply_message(buf, p, v, venues, orders, levels, table, shift, best,
                                    worst, order_free, level_free, ctr, known, pos)  # fmt: skip
        if status == 1:
            reason = ANOMALY
            ctr[_ANOMALY_AT] = pos
            break
        pos += 1
        if not watch_top or status != 0:
            continue
        read_top(levels, best, vl, after)
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
            and last_pub[vl, _PUBLISHED] != 0
            and last_pub[vl, 1] > 0
            and last_pub[vl, 3] > 0
            and after[0] == last_pub[vl, 0]
            and after[2] == last_pub[vl, 2]
            and after[0] <= after[2]
        )
        for k in range(4):
            last_pub[vl, k] = after[k]
        last_pub[vl, _PUBLISHED] = 1
        seq = seq_base + made
        made += 1
        stamp = read_be48(buf, p + 5)
        if size_only:
            ctr[_OFF_QUEUE] += 1
            # entries an active top of the slot superseded (it ran) are dead: drop them
            head = chain[vl, 0]
            while head >= 0 and (
                entries[head, 0] < superseded[vl, 0]
                or (entries[head, 0] == superseded[vl, 0] and entries[head, 1] < superseded[vl, 1])
            ):
                head = entry_next[head]
            chain[vl, 0] = head
            if head < 0:
                chain[vl, 1] = -1
            if arrival < horizon and chain[vl, 1] >= 0:
                e = chain[vl, 1]  # nothing can read the tail before this one arrives
            else:
                e = ctr[_E_USED]
                ctr[_E_USED] = e + 1
                entry_next[e] = -1
                if chain[vl, 1] >= 0:
                    entry_next[chain[vl, 1]] = e
                else:
                    chain[vl, 0] = e
                chain[vl, 1] = e
            entries[e, 0] = arrival
            entries[e, 1] = seq
            entries[e, 2] = stamp
            for k in range(4):
                entries[e, 3 + k] = after[k]
            continue
        if arrival < horizon:
            horizon = arrival
        out[outs, OUT_VL] = vl
        out[outs, OUT_ARRIVAL] = arrival
        out[outs, OUT_TS] = stamp
        for k in range(4):
            out[outs, OUT_BID + k] = after[k]
        out[outs, OUT_SEQ] = seq
        outs += 1
    ctr[_REASON] = reason
    ctr[_POS] = pos
    ctr[_OUTS] = outs
    ctr[_MADE] = made
    ctr[_TICKS] = ran
    ctr[_TICK_AT] = tick_at
    ctr[_TICK_SEQ] = tick_seq


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
    kernel share (watched locates, last published tops, pending size-only tops, the timer).

    `buf`: the venues' message bytes concatenated; `offsets[i]`: where merged message i's type
    byte is in `buf`; `venue_of[i]`, `times[i]`: its venue and (merged) time.
    `publish[vl]`: the (venue, locate) is a subscribed symbol (its top changes are reported);
    `coalesce[vl]`: its size-only changes may be held (pending).

    Pending size-only tops: each slot has a chain of entries (arrival, insertion number,
    ITCH timestamp, top), oldest first, in `entries` linked by `entry_next`
    (`chain[vl]` = head, tail; -1 when empty). `superseded[vl]`: (time, insertion number) of
    the last active top of the slot that reached the engine; entries before it are dead
    (the slow path's engine had that top later, and nothing reads theirs any more).
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
        self.last_pub = np.zeros((slots, 5), dtype=np.int64)
        self.chain = np.full((slots, 2), -1, dtype=np.int64)
        self.superseded = np.full((slots, 2), -1, dtype=np.int64)
        self.entries = np.empty((_ROOM, _ENTRY_FIELDS), dtype=np.int64)
        self.entry_next = np.empty(_ROOM, dtype=np.int64)
        self.ctr = np.zeros(_COUNTERS, dtype=np.int64)
        self._keep_pools(empty_pools())
        self.best = np.full(slots * 2, -1, dtype=np.int64)
        self.worst = np.full(slots * 2, -1, dtype=np.int64)
        self.out = np.empty((_CALL_LIMIT, _OUT_FIELDS), dtype=np.int64)
        self._before = np.zeros(4, dtype=np.int64)
        self._after = np.zeros(4, dtype=np.int64)
        self._budget = 0  # messages that can be applied before the pools must be checked
        self._state: tuple = ()  # the arrays after `tick_end` in `_advance`'s arguments

    def _keep_pools(self, pools: tuple) -> None:
        """Keep the book state of `empty_pools` or `grown_pools`; Numba hands the hash shift
        back as a Python int, and the kernels are compiled for a uint64 one."""
        self.table, shift, self.orders, self.order_free, self.levels, self.level_free = pools
        self.shift = np.uint64(shift)

    def _room(self, messages: int) -> None:
        """Grow pools and table so that `messages` more cannot overflow them (a message adds
        at most one order, level, entry of the table and pending entry). The table stays
        small (cache-resident)."""
        self._budget = messages
        ctr = self.ctr
        self._keep_pools(
            grown_pools(self.table, self.shift, self.orders, self.order_free, self.levels,
                        self.level_free, ctr, messages)
        )  # fmt: skip
        if self.entries.shape[0] < ctr[_E_USED] + messages:
            self.entries = rows_at_least(self.entries, ctr[_E_USED] + messages)
            self.entry_next = at_least(self.entry_next, self.entries.shape[0])
        self._state = (
            self.buf, self.offsets, self.venue_of, self.times, self.venues, self.feed_latency,
            self.feed_free, self.orders, self.levels, self.table, self.shift, self.best,
            self.worst, self.order_free, self.level_free, self.ctr, self.known, self.watched,
            self.publish, self.coalesce, self.last_pub, self.out, self._before, self._after,
            self.chain, self.entries, self.entry_next, self.superseded,
        )  # fmt: skip

    def advance(
        self, start: int, horizon: int | None, seq_base: int, tick_at: int = NO_TICK,
        period: int = 1, tick_end: int = 0,
    ) -> list[int]:  # fmt: skip
        """Apply messages from `start` (at most `_CALL_LIMIT`; see the module docstring),
        running the timer's idle ticks from `tick_at` (see `_advance`); returns [reason,
        next position, outputs, insertion numbers taken from `seq_base` on, ticks run, next
        tick time (NO_TICK: none), its insertion number (-1: not scheduled)]. The active top
        changes are `self.out[:outputs]`."""
        if self._budget < _CALL_LIMIT:
            self._room(_ROOM)
        _advance(start, _CALL_LIMIT, _NO_HORIZON if horizon is None else horizon, seq_base,
                 tick_at, period, tick_end, *self._state)  # fmt: skip
        results = self.ctr[_REASON : _REASON + _RESULTS].tolist()
        if results[0] == ANOMALY:
            raise FastPathUnavailable(f"message {int(self.ctr[_ANOMALY_AT])} of the merged stream")
        self._budget -= results[1] - start
        return results

    @property
    def off_queue(self) -> int:
        """Size-only top changes the kernel held instead of reporting them."""
        return int(self.ctr[_OFF_QUEUE])

    def take_due(self, slot: int, now: tuple[int, int]) -> list[int] | None:
        """Drop the slot's pending entries before `now` (time, insertion number); returns the
        last of them as [arrival, insertion number, ITCH timestamp, bid, bid shares, ask, ask
        shares] if no active top superseded it, else None."""
        chain, entries, following = self.chain, self.entries, self.entry_next
        head = int(chain[slot, 0])
        last = -1
        while head >= 0 and (int(entries[head, 0]), int(entries[head, 1])) < now:
            last = head
            head = int(following[head])
        if last < 0:
            return None
        chain[slot, 0] = head
        if head < 0:
            chain[slot, 1] = -1
        return self._live(slot, last)

    def last_pending(self, slot: int) -> list[int] | None:
        """The slot's newest pending entry (as `take_due`'s) if no active top superseded it;
        the chain is emptied."""
        tail = int(self.chain[slot, 1])
        self.chain[slot] = -1
        return self._live(slot, tail) if tail >= 0 else None

    def _live(self, slot: int, entry: int) -> list[int] | None:
        values = self.entries[entry].tolist()
        return values if tuple(values[:2]) > tuple(self.superseded[slot].tolist()) else None

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
        used = int(self.ctr[ORDERS_USED])
        rows = self.orders[:used]
        books = rows[:, ORDER_BOOK]
        rows = rows[(books == vl * 2) | (books == vl * 2 + 1)]
        rows = rows[np.argsort(rows[:, ORDER_SEQ], kind="stable")]
        refs = rows[:, ORDER_REF]
        if self.venues > 1:
            refs = refs & ((1 << _VENUE_SHIFT) - 1)
        refs = refs.view(np.uint64).tolist()
        sides = np.where(rows[:, ORDER_BOOK] & 1, -1, 1).tolist()
        prices, shares = rows[:, ORDER_PRICE].tolist(), rows[:, ORDER_SHARES].tolist()
        return list(zip(refs, sides, prices, shares, strict=True))


__all__ = [
    "ANOMALY", "END", "HORIZON", "LIMIT", "NO_TICK", "WATCHED", "FastPathUnavailable",
    "ReplayKernel",
]  # fmt: skip
