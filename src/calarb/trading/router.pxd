# C declarations for router.py (Cython pure-Python mode: the .py is the implementation).
cimport cython

cdef object _new, _BUY, _DAY, _DISCONNECTED, _NO_LIQUIDITY, _TAKE


cdef class VenueState:
    cdef public object name, fees
    cdef public bint connected
    cdef public object latency_ns
    cdef public dict books

    cpdef levels(self, symbol, bint buy)


cdef class Router:
    cdef public dict venues
    cdef public object latency_alpha, latency_cost_per_ms
    cdef public Py_ssize_t max_children
    cdef public object size_source
    cdef public long long decisions, splits

    @cython.locals(state=VenueState)
    cpdef on_top_of_book(self, venue, top)

    @cython.locals(state=VenueState, buy=bint, any_connected=bint, legs=list, skipped=list,
                   takers=list)
    cpdef route(self, intent)

    cpdef _latency_cost(self, VenueState state)

    @cython.locals(state=VenueState, rest=VenueState, merged=bint, index=Py_ssize_t)
    cpdef _rest_remainder(self, list legs, left, symbol, bint buy)
