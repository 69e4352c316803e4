# C declarations for live.py (Cython pure-Python mode: the .py is the implementation).
cimport cython
from libc cimport math as _libm

from calarb.model.hedge cimport HedgeEstimator
from calarb.model.spread cimport SpreadStats

cdef double _PRICE_SCALE


cdef class PairModel:
    cdef public object leg_a, leg_b, form, price_source
    cdef public HedgeEstimator estimator
    cdef public bint fills_as_observations
    cdef public SpreadStats stats
    cdef public double price_a, price_b, spread, z
    cdef public object last_time_ns
    cdef public Py_ssize_t observations, ignored_updates
    cdef public object last_ignored_reason
    cdef public object history, fills
    cdef bint _keeps_history
    cdef dict _positions
    cdef double _quote_a, _quote_b

    # prices and sizes of a top of book are ITCH integers (< 2**32)
    @cython.locals(bid="long long", bid_shares="long long", ask="long long",
                   ask_shares="long long", price=double)
    cpdef bint on_top_of_book(self, top)

    cpdef bint is_ready(self)

    cdef bint _ignore(self, reason)

    @cython.locals(log_form=bint, price_a=double, price_b=double, x=double, y=double,
                   estimator=HedgeEstimator, stats=SpreadStats)
    cdef bint _observe(self, symbol, double price, time_ns, source)
