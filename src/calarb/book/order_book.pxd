# C declarations for order_book.py (Cython pure-Python mode: the .py is the implementation).
# Prices are ITCH prices (< 2**32, in 1/10,000) and shares ITCH share counts (< 2**32): a key
# (price * side) and every level total fit in a long long. Reference numbers stay Python ints.
cimport cython

cdef object _new_tuple
cdef tuple _SIDES
cdef long long _NO_BID_KEY, _NO_ASK_KEY


@cython.locals(low=Py_ssize_t, high=Py_ssize_t, middle=Py_ssize_t, found="long long")
cdef Py_ssize_t _key_index(list keys, long long key) except -1


@cython.final
cdef class OrderBook:
    cdef public object symbol, trading_state
    cdef public dict _orders, _levels
    cdef public tuple _keys
    cdef public long long _best_bid_key, _best_ask_key
    cdef public tuple _last_top

    @cython.locals(key="long long", order=list, level=list, s="long long")
    cpdef bint add(self, ref, side, long long price, long long shares) except? -1

    @cython.locals(order=list, side="long long", key="long long", left="long long", level=list)
    cpdef bint execute_order(self, ref, long long shares) except? -1

    @cython.locals(order=list)
    cpdef bint cancel_order(self, ref, long long shares) except? -1

    @cython.locals(order=list, side="long long", key="long long", shares="long long",
                   level=list)
    cpdef bint delete_order(self, ref) except? -1

    @cython.locals(orders=dict, order=list, side="long long", old_key="long long",
                   old_shares="long long", levels=dict, level=list, key="long long",
                   error=object)
    cpdef bint replace_order(self, old_ref, new_ref, long long shares, long long price) except? -1

    @cython.locals(keys=list)
    cdef bint _new_level(self, long long side, long long key, list level) except? -1

    @cython.locals(keys=list)
    cdef bint _drop_level(self, long long side, long long key) except? -1

    @cython.locals(levels=dict, bid_price="long long", bid_shares="long long",
                   ask_price="long long", ask_shares="long long", last=tuple)
    cpdef object poll_top_change(self, timestamp_ns)
