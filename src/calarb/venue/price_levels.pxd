# C declarations for price_levels.py (Cython pure-Python mode: the .py is the implementation).
cimport cython

from calarb.venue.orders cimport Order

cdef Py_ssize_t _COMPACT_AFTER
cdef object _LEVEL_KEY


@cython.final
@cython.freelist(64)
cdef class Level:
    cdef public long long key, price
    cdef public list queue  # of Order, oldest first from head
    cdef public Py_ssize_t head, live

    @cython.locals(head=Py_ssize_t)
    cpdef void cut_front(self) except *


@cython.locals(level=Level)
cdef Level _new_level(long long key, long long price)

@cython.locals(low=Py_ssize_t, high=Py_ssize_t, middle=Py_ssize_t, level=Level)
cdef Py_ssize_t _level_index(list levels, long long key) except -1


cdef class BookSide:
    cdef public object side
    cdef public long long sign
    cdef public list levels

    @cython.locals(levels=list, best=Level)
    cpdef bint crossed_by(self, long long limit_key) except -1
    @cython.locals(price=cython.longlong, key=cython.longlong, levels=list, count=Py_ssize_t,
                   level=Level, index=Py_ssize_t)
    cpdef void add(self, Order order) except *
    @cython.locals(key=cython.longlong, levels=list, index=Py_ssize_t, level=Level)
    cpdef void remove(self, Order order) except *
    @cython.locals(levels=list)
    cpdef void drop_best_if_empty(self, Level level) except *
    @cython.locals(needed=cython.longlong, level=Level, resting=Order)
    cpdef bint fillable(self, Order order, long long limit_key, bint skip_own) except -1


cdef class Book:
    cdef public object instrument, symbol
    cdef public long long tick_size, lot_size
    cdef public bint halted
    cdef public BookSide bids, asks
