# C declarations for order_book.py (Cython pure-Python mode: the .py is the implementation).
# Prices are ITCH prices (< 2**32, in 1/10,000) and shares ITCH share counts (< 2**32): a key
# (price * side) and every level total fit in a long long. Reference numbers stay Python ints
# (they key the dict of live orders).
cimport cython

cdef object _new_tuple, _LEVEL_KEY
cdef tuple _SIDES
cdef long long _NO_BID_KEY, _NO_ASK_KEY


@cython.final
@cython.freelist(64)
cdef class _Level:
    cdef public long long key, shares, count


# not GC-tracked (@cython.no_gc in order_book.py): its level refers to no object
@cython.final
@cython.freelist(256)
cdef class _Order:
    cdef public long long side, key, shares
    cdef public _Level level


@cython.locals(level=_Level)
cdef _Level _new_level(long long key, long long shares)

@cython.locals(low=Py_ssize_t, high=Py_ssize_t, middle=Py_ssize_t, level=_Level)
cdef Py_ssize_t _level_index(list levels, long long key) except -1


@cython.final
cdef class OrderBook:
    cdef public object symbol, trading_state
    cdef public dict _orders
    cdef public list _bids, _asks
    cdef public long long _best_bid_key, _best_ask_key
    cdef long long _last_bid_price, _last_bid_shares, _last_ask_price, _last_ask_shares

    @cython.locals(order=_Order, s="long long")
    cpdef bint add(self, ref, side, long long price, long long shares) except? -1

    @cython.locals(order=_Order, level=_Level, key="long long")
    cpdef bint execute_order(self, ref, long long shares) except? -1

    @cython.locals(order=_Order)
    cpdef bint cancel_order(self, ref, long long shares) except? -1

    @cython.locals(order=_Order, level=_Level, key="long long")
    cpdef bint delete_order(self, ref) except? -1

    @cython.locals(orders=dict, order=_Order, old_key="long long", key="long long",
                   error=object)
    cpdef bint replace_order(self, old_ref, new_ref, long long shares, long long price) except? -1

    @cython.locals(key="long long", shares="long long", levels=list, best="long long",
                   level=_Level, index=Py_ssize_t)
    cdef bint _join_level(self, _Order order) except? -1

    @cython.locals(level=_Level, key="long long")
    cdef bint _leave_level(self, _Order order) except? -1

    @cython.locals(key="long long", levels=list, best=_Level)
    cdef bint _drop_level(self, _Level level) except? -1

    @cython.locals(bids=list, asks=list, best=_Level, bid_price="long long",
                   bid_shares="long long", ask_price="long long", ask_shares="long long")
    cpdef object poll_top_change(self, timestamp_ns)
