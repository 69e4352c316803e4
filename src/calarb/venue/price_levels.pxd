# C declarations for price_levels.py (Cython pure-Python mode: the .py is the implementation).
cimport cython

from calarb.venue.orders cimport Order


cdef class Level:
    cdef public long long price
    cdef public object queue  # collections.deque of Order
    cdef public Py_ssize_t live


cdef class BookSide:
    cdef public object side
    cdef public long long sign
    cdef public dict levels
    cdef public list keys

    @cython.locals(keys=list)
    cpdef bint crossed_by(self, long long limit_key)
    @cython.locals(price=cython.longlong, key=cython.longlong, level=Level, keys=list)
    cpdef void add(self, Order order) except *
    @cython.locals(key=cython.longlong, level=Level, keys=list)
    cpdef void remove(self, Order order) except *
    cpdef void drop_best_if_empty(self, long long key, Level level) except *
    @cython.locals(needed=cython.longlong, levels=dict, key=cython.longlong, level=Level,
                   resting=Order)
    cpdef bint fillable(self, Order order, long long limit_key, bint skip_own) except -1


cdef class Book:
    cdef public object instrument, symbol
    cdef public long long tick_size, lot_size
    cdef public bint halted
    cdef public BookSide bids, asks
