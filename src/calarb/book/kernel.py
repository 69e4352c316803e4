"""The compiled L3 book state of every symbol of a feed, and one Numba function per change.

State lives in flat int64 arrays, so a replay allocates nothing per message:

- an open-addressing hash table (Fibonacci hashing, linear probing, backward-shift delete)
  from order reference number to order slot: any 64-bit reference works, and the table is
  sized by the live orders, not by the largest reference of the day;
- an order pool (reference, shares, price, book, level, sequence number) with a free list;
- a level pool (key, price, shares, order count, prev, next) with a free list; the levels of
  one side of one book form a doubly linked list sorted best first, so the best level is one
  read and a new price walks in from whichever end of the side is nearer.

A *pair* is a stock locate (or any index of the caller's, such as venue and locate) whose bid
book is `pair * 2` and ask book `pair * 2 + 1`. The API, used by the whole-file replay
`calarb.book.bulk` and the backtest's `calarb.backtest.replay_kernel`: the column names
`ORDER_*` and `LEVEL_*` of the two pools; the counter names of `ctr` (its first
`BOOK_COUNTERS` entries belong to the books, a caller's own counters follow);
`empty_pools` and `grown_pools` (room for a number of messages, after which nothing
allocates); `find_order`, `add_order`, `remove_order`, `reduce_order`, `replace_order` (one
change each; the caller applies its own rules first); `read_top`; the big-endian readers
`read_be16` to `read_be64`; `rows_at_least` and `at_least` to grow arrays of the caller's.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from calarb.itch.bulk import hot_kernel

__all__ = [
    "BOOK_COUNTERS",
    "EVICTED",
    "LEVELS_FREE",
    "LEVELS_USED",
    "LEVEL_COUNT",
    "LEVEL_FIELDS",
    "LEVEL_KEY",
    "LEVEL_NEXT",
    "LEVEL_PREV",
    "LEVEL_PRICE",
    "LEVEL_SHARES",
    "LIVE_ORDERS",
    "ORDERS_FREE",
    "ORDERS_USED",
    "ORDER_BOOK",
    "ORDER_FIELDS",
    "ORDER_LEVEL",
    "ORDER_PRICE",
    "ORDER_REF",
    "ORDER_SEQ",
    "ORDER_SHARES",
    "REJECTED",
    "add_order",
    "at_least",
    "empty_pools",
    "find_order",
    "grown_pools",
    "read_be16",
    "read_be32",
    "read_be48",
    "read_be64",
    "read_top",
    "reduce_order",
    "remove_order",
    "replace_order",
    "rows_at_least",
]

# Order record fields (columns of the int64 order pool).
ORDER_REF, ORDER_SHARES, ORDER_PRICE, ORDER_BOOK, ORDER_LEVEL, ORDER_SEQ = 0, 1, 2, 3, 4, 5
ORDER_FIELDS = 6
# Level record fields. KEY is the price for asks and minus the price for bids, so "better"
# is "smaller key" on both sides.
LEVEL_KEY, LEVEL_PRICE, LEVEL_SHARES, LEVEL_COUNT, LEVEL_PREV, LEVEL_NEXT = 0, 1, 2, 3, 4, 5
LEVEL_FIELDS = 6
# Counters of the books: pool use, live orders, replaces refused (zero price or shares) and
# stale orders evicted by a replace onto a live reference.
ORDERS_USED, ORDERS_FREE, LEVELS_USED, LEVELS_FREE, LIVE_ORDERS, REJECTED, EVICTED = range(7)
BOOK_COUNTERS = 7

_FIB = np.uint64(0x9E3779B97F4A7C15)
_INITIAL_BITS = 12
_INITIAL_ROWS = 1 << 10

# --------------------------------------------------------------------------- byte readers


@hot_kernel
def read_be16(buf, p):
    """The big-endian unsigned 16-bit field at `p` of a uint8 buffer, as int64."""
    return (np.int64(buf[p]) << 8) | np.int64(buf[p + 1])


@hot_kernel
def read_be32(buf, p):
    """The big-endian unsigned 32-bit field at `p`, as int64."""
    return (
        (np.int64(buf[p]) << 24)
        | (np.int64(buf[p + 1]) << 16)
        | (np.int64(buf[p + 2]) << 8)
        | np.int64(buf[p + 3])
    )


@hot_kernel
def read_be48(buf, p):
    """The big-endian 48-bit field at `p` (an ITCH timestamp), as int64."""
    return (read_be16(buf, p) << 32) | read_be32(buf, p + 2)


@hot_kernel
def read_be64(buf, p):
    """A 64-bit reference number as int64 bits (wraps above 2**63; only equality matters)."""
    return (read_be32(buf, p) << 32) | read_be32(buf, p + 4)


# --------------------------------------------------------------------------- hash table


@hot_kernel
def _home(key, shift):
    return np.int64((np.uint64(key) * _FIB) >> shift)


@hot_kernel
def find_order(table, shift, key):
    """Hash table position of order reference `key` (its slot is `table[pos, 1]`), or -1."""
    mask = table.shape[0] - 1
    pos = _home(key, shift)
    while table[pos, 1] >= 0:
        if table[pos, 0] == key:
            return pos
        pos = (pos + 1) & mask
    return -1


@hot_kernel
def _hash_put(table, shift, key, value):
    mask = table.shape[0] - 1
    pos = _home(key, shift)
    while table[pos, 1] >= 0:
        pos = (pos + 1) & mask
    table[pos, 0] = key
    table[pos, 1] = value


@hot_kernel
def _hash_delete(table, shift, pos):
    """Remove the entry at `pos`, shifting later entries of its probe run back."""
    mask = table.shape[0] - 1
    hole = pos
    j = pos
    while True:
        j = (j + 1) & mask
        if table[j, 1] < 0:
            break
        home = _home(table[j, 0], shift)
        if ((j - home) & mask) >= ((j - hole) & mask):
            table[hole, 0] = table[j, 0]
            table[hole, 1] = table[j, 1]
            hole = j
    table[hole, 1] = -1


@njit(cache=True)
def _hash_grown(table, shift):
    bigger = np.full((table.shape[0] * 2, 2), -1, dtype=np.int64)
    new_shift = shift - np.uint64(1)
    mask = bigger.shape[0] - 1
    for old in range(table.shape[0]):
        if table[old, 1] >= 0:
            pos = _home(table[old, 0], new_shift)
            while bigger[pos, 1] >= 0:
                pos = (pos + 1) & mask
            bigger[pos, 0] = table[old, 0]
            bigger[pos, 1] = table[old, 1]
    return bigger, new_shift


# --------------------------------------------------------------------------- levels and orders


@hot_kernel
def _level_for(levels, best, worst, book, key, price, candidate):
    """The level of `key` in `book`, linking `candidate` in sorted place when there is none.
    Returns (level handle, whether the candidate was used)."""
    head = best[book]
    if head < 0:
        before = -1
        after = -1
    else:
        tail = worst[book]
        if key - levels[head, LEVEL_KEY] <= levels[tail, LEVEL_KEY] - key:
            cur = head
            while cur >= 0 and levels[cur, LEVEL_KEY] < key:
                cur = levels[cur, LEVEL_NEXT]
            if cur >= 0 and levels[cur, LEVEL_KEY] == key:
                return cur, False
            after = cur
            before = tail if cur < 0 else levels[cur, LEVEL_PREV]
        else:
            cur = tail
            while cur >= 0 and levels[cur, LEVEL_KEY] > key:
                cur = levels[cur, LEVEL_PREV]
            if cur >= 0 and levels[cur, LEVEL_KEY] == key:
                return cur, False
            before = cur
            after = head if cur < 0 else levels[cur, LEVEL_NEXT]
    levels[candidate, LEVEL_KEY] = key
    levels[candidate, LEVEL_PRICE] = price
    levels[candidate, LEVEL_SHARES] = 0
    levels[candidate, LEVEL_COUNT] = 0
    levels[candidate, LEVEL_PREV] = before
    levels[candidate, LEVEL_NEXT] = after
    if before < 0:
        best[book] = candidate
    else:
        levels[before, LEVEL_NEXT] = candidate
    if after < 0:
        worst[book] = candidate
    else:
        levels[after, LEVEL_PREV] = candidate
    return candidate, True


@hot_kernel
def remove_order(orders, levels, best, worst, table, shift, level_free, order_free, ctr, slot,
                  pos):  # fmt: skip
    """Take the order in `slot` (at hash position `pos`) off its level and out of the book."""
    level = orders[slot, ORDER_LEVEL]
    levels[level, LEVEL_SHARES] -= orders[slot, ORDER_SHARES]
    levels[level, LEVEL_COUNT] -= 1
    if levels[level, LEVEL_COUNT] == 0:
        book = orders[slot, ORDER_BOOK]
        before = levels[level, LEVEL_PREV]
        after = levels[level, LEVEL_NEXT]
        if before < 0:
            best[book] = after
        else:
            levels[before, LEVEL_NEXT] = after
        if after < 0:
            worst[book] = before
        else:
            levels[after, LEVEL_PREV] = before
        level_free[ctr[LEVELS_FREE]] = level
        ctr[LEVELS_FREE] += 1
    _hash_delete(table, shift, pos)
    ctr[LIVE_ORDERS] -= 1
    orders[slot, ORDER_BOOK] = -1
    orders[slot, ORDER_SHARES] = 0
    order_free[ctr[ORDERS_FREE]] = slot
    ctr[ORDERS_FREE] += 1


@hot_kernel
def add_order(orders, levels, best, worst, table, shift, level_free, order_free, ctr, ref, book,
               price, shares, seq):  # fmt: skip
    """Rest a new order (the caller ensured room for one more order, level and entry)."""
    if ctr[ORDERS_FREE] > 0:
        ctr[ORDERS_FREE] -= 1
        slot = order_free[ctr[ORDERS_FREE]]
    else:
        slot = ctr[ORDERS_USED]
        ctr[ORDERS_USED] += 1
    candidate = level_free[ctr[LEVELS_FREE] - 1] if ctr[LEVELS_FREE] > 0 else ctr[LEVELS_USED]
    key = price if book & 1 else -price
    level, created = _level_for(levels, best, worst, book, key, price, candidate)
    if created:
        if ctr[LEVELS_FREE] > 0:
            ctr[LEVELS_FREE] -= 1
        else:
            ctr[LEVELS_USED] += 1
    levels[level, LEVEL_SHARES] += shares
    levels[level, LEVEL_COUNT] += 1
    orders[slot, ORDER_REF] = ref
    orders[slot, ORDER_SHARES] = shares
    orders[slot, ORDER_PRICE] = price
    orders[slot, ORDER_BOOK] = book
    orders[slot, ORDER_LEVEL] = level
    orders[slot, ORDER_SEQ] = seq
    _hash_put(table, shift, ref, slot)
    ctr[LIVE_ORDERS] += 1


@hot_kernel
def reduce_order(orders, levels, best, worst, table, shift, level_free, order_free, ctr, slot,
                 pos, shares):  # fmt: skip
    """Take `shares` off the order in `slot` (at hash position `pos`); at least what is left
    removes it (an execution or cancel of too many shares is clamped)."""
    if shares >= orders[slot, ORDER_SHARES]:
        remove_order(orders, levels, best, worst, table, shift, level_free, order_free, ctr,
                     slot, pos)  # fmt: skip
    else:
        orders[slot, ORDER_SHARES] -= shares
        levels[orders[slot, ORDER_LEVEL], LEVEL_SHARES] -= shares


@hot_kernel
def replace_order(orders, levels, best, worst, table, shift, level_free, order_free, ctr, slot,
                  pos, new_ref, price, shares, seq):  # fmt: skip
    """Cancel-replace the order in `slot` (at hash position `pos`): the new order keeps the
    book, takes `new_ref`, `price` and `shares` and goes to the back of its level. A zero
    price or share count only removes the old order (counted as rejected); a live `new_ref`
    is evicted first (counted)."""
    book = orders[slot, ORDER_BOOK]
    remove_order(orders, levels, best, worst, table, shift, level_free, order_free, ctr, slot,
                 pos)  # fmt: skip
    if shares == 0 or price == 0:
        ctr[REJECTED] += 1
        return
    stale = find_order(table, shift, new_ref)
    if stale >= 0:
        ctr[EVICTED] += 1
        remove_order(orders, levels, best, worst, table, shift, level_free, order_free, ctr,
                     table[stale, 1], stale)  # fmt: skip
    add_order(orders, levels, best, worst, table, shift, level_free, order_free, ctr, new_ref,
              book, price, shares, seq)  # fmt: skip


@hot_kernel
def read_top(levels, best, pair, top):
    """The top of book of `pair` into top[0:4]: bid, bid shares, ask, ask shares (0 for a
    missing side)."""
    bid = best[pair * 2]
    ask = best[pair * 2 + 1]
    top[0] = levels[bid, LEVEL_PRICE] if bid >= 0 else 0
    top[1] = levels[bid, LEVEL_SHARES] if bid >= 0 else 0
    top[2] = levels[ask, LEVEL_PRICE] if ask >= 0 else 0
    top[3] = levels[ask, LEVEL_SHARES] if ask >= 0 else 0


@njit(cache=True)
def rows_at_least(rows, needed):
    """`rows` if it has `needed` rows, else a copy with at least that many (doubling)."""
    if rows.shape[0] >= needed:
        return rows
    bigger = np.empty((max(needed, 2 * rows.shape[0]), rows.shape[1]), dtype=rows.dtype)
    bigger[: rows.shape[0]] = rows
    return bigger


@njit(cache=True)
def at_least(values, needed):
    """`values` if it has `needed` entries, else a copy with at least that many (doubling)."""
    if values.shape[0] >= needed:
        return values
    bigger = np.empty(max(needed, 2 * values.shape[0]), dtype=values.dtype)
    bigger[: values.shape[0]] = values
    return bigger


@njit(cache=True)
def empty_pools():
    """A small empty book state: (table, shift, orders, order_free, levels, level_free)."""
    table = np.full((1 << _INITIAL_BITS, 2), -1, dtype=np.int64)
    shift = np.uint64(64 - _INITIAL_BITS)
    orders = np.empty((_INITIAL_ROWS, ORDER_FIELDS), dtype=np.int64)
    order_free = np.empty(_INITIAL_ROWS, dtype=np.int64)
    levels = np.empty((_INITIAL_ROWS, LEVEL_FIELDS), dtype=np.int64)
    level_free = np.empty(_INITIAL_ROWS, dtype=np.int64)
    return table, shift, orders, order_free, levels, level_free


@njit(cache=True)
def grown_pools(table, shift, orders, order_free, levels, level_free, ctr, messages):
    """The state with room for `messages` more (each adds at most one order, level and hash
    entry), the hash table kept at most half full: (table, shift, orders, order_free,
    levels, level_free), each array the same one unless it had to grow."""
    orders = rows_at_least(orders, ctr[ORDERS_USED] + messages)
    order_free = at_least(order_free, orders.shape[0])
    levels = rows_at_least(levels, ctr[LEVELS_USED] + messages)
    level_free = at_least(level_free, levels.shape[0])
    while 2 * (ctr[LIVE_ORDERS] + messages) > table.shape[0]:
        table, shift = _hash_grown(table, shift)
    return table, shift, orders, order_free, levels, level_free
