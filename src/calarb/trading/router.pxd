# C declarations for router.py (Cython pure-Python mode: the .py is the implementation).
cimport cython

from calarb.trading.orders cimport OrderIntent

cdef object _new, _BUY, _DAY, _DISCONNECTED, _NO_LIQUIDITY, _TAKE, _REST, _PASSIVE, _MAX_CHILDREN
cdef object _LEG_FIELDS


# Prices, sizes, fees and latencies of one leg are bounded: C integers. Neither record can be
# in a reference cycle (immutable fields, no containers of their own kind): not GC-tracked.
@cython.final
@cython.no_gc
@cython.freelist(8)
cdef class RouteLeg:
    cdef readonly object venue, reason
    cdef readonly long long quantity, displayed, best_price, fee_per_share, latency_ns


@cython.final
@cython.no_gc
@cython.freelist(8)
cdef class RouteDecision:
    cdef readonly OrderIntent intent
    cdef readonly tuple orders, legs, skipped
    cdef readonly object unrouted


cdef class VenueState:
    cdef public object name, fees
    cdef public long long taker_fee, maker_fee
    cdef public bint connected
    cdef public object latency_ns
    cdef public dict books

    cpdef levels(self, symbol, bint buy)
    @cython.locals(quote=tuple)
    cpdef long long best_price(self, symbol, bint buy) except? -1


cdef class Router:
    cdef public dict venues
    cdef public object latency_alpha, latency_cost_per_ms
    cdef public Py_ssize_t max_children
    cdef public object size_source
    cdef public long long decisions, splits

    @cython.locals(state=VenueState)
    cpdef on_top_of_book(self, venue, top)

    @cython.locals(state=VenueState, buy=bint, any_connected=bint, legs=list, skipped=list,
                   takers=list, leg=RouteLeg, position=Py_ssize_t, k=Py_ssize_t,
                   children=list, quantity="long long", limit="long long", left="long long",
                   take="long long", displayed="long long", best="long long",
                   per_ms="long long", quote=tuple)
    cpdef RouteDecision route(self, OrderIntent intent)

    cpdef _latency_cost(self, VenueState state)

    @cython.locals(state=VenueState, rest=VenueState, leg=RouteLeg)
    cpdef _rest_remainder(self, list legs, long long left, symbol, bint buy)

    cpdef bint _cheaper_maker(self, VenueState state, VenueState than) except -1


@cython.locals(cost="long long", other_cost="long long")
cdef bint _better(RouteLeg leg, RouteLeg other, bint buy, long long per_ms) except -1

cdef tuple _leg_values(RouteLeg leg)

@cython.locals(leg=RouteLeg)
cdef RouteLeg _new_leg(venue, long long quantity, reason, long long displayed,
                       long long best_price, long long fee_per_share, long long latency_ns)

@cython.locals(decision=RouteDecision)
cdef RouteDecision _new_decision(OrderIntent intent, tuple orders, tuple legs, tuple skipped,
                                 unrouted)
