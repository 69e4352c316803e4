# C declarations for matching.py (Cython pure-Python mode: the .py is the implementation).
cimport cython

from calarb.venue.orders cimport Order, new_order
from calarb.venue.price_levels cimport Book, BookSide, Level
from calarb.venue.records cimport (
    added_event,
    cancelled_report,
    deleted_event,
    execution_event,
    fill_report,
    live_status,
    new_report,
    replaced_report,
)

cdef object _BUY, _SELL, _MARKET, _LIMIT, _DAY, _IOC, _FOK, _ST_REJECTED, _ADDED, _REMOVED
cdef object _CANCEL_RESTING, _CANCEL_INCOMING
cdef object _REQUESTED, _SELF_MATCH, _NO_LIQUIDITY, _IMMEDIATE_OR_CANCEL, _FILL_OR_KILL
cdef object _RESPONSE_TO_REPLACE
cdef long long _NO_LIMIT


cdef class MatchingEngine:
    cdef dict _books, _orders, _self_match_policies
    cdef long long _next_order_id, _next_match_number
    cdef object _default_self_match_policy
    cdef public list reports, book_events

    @cython.locals(book=Book, order=Order, opposite=BookSide, order_id=cython.longlong)
    cpdef object submit(self, object timestamp_ns, object participant, object client_order_id,
                        object symbol, object side, object quantity, object price=*,
                        object order_type=*, object time_in_force=*, bint displayed=*)
    @cython.locals(order=Order)
    cpdef bint cancel(self, object timestamp_ns, object participant, object order_id,
                      object client_order_id=*) except -1
    @cython.locals(order=Order, book=Book, new_leaves=cython.longlong)
    cpdef object replace(self, object timestamp_ns, object participant, object order_id,
                         object client_order_id, object quantity, object price)
    @cython.locals(reduced=cython.longlong)
    cdef void _reduce(self, Order order, object timestamp_ns, object client_order_id,
                      long long quantity, long long new_leaves) except *
    @cython.locals(new_id=cython.longlong, order_id=cython.longlong,
                   new_leaves=cython.longlong, moved=Order, opposite=BookSide)
    cdef long long _move(self, Book book, Order order, object timestamp_ns,
                         object client_order_id, long long quantity, long long price) except -1
    @cython.locals(opposite=BookSide, limit_key=cython.longlong, stopped=bint)
    cdef void _execute(self, Book book, Order order, object timestamp_ns) except *
    @cython.locals(levels=list, stopped=bint, level=Level)
    cdef bint _match(self, BookSide opposite, Order incoming, long long limit_key,
                     object timestamp_ns) except -1
    @cython.locals(queue=list, resting=Order)
    cdef bint _match_level(self, Level level, Order incoming, object timestamp_ns) except -1
    @cython.locals(fill=cython.longlong, notional=cython.longlong,
                   match_number=cython.longlong, reports=list)
    cdef void _fill(self, Order resting, Order incoming, object price,
                    object timestamp_ns) except *
    cdef void _rest(self, Book book, Order order, object timestamp_ns) except *
    cdef void _remove_resting(self, Book book, Order order) except *
    cdef void _announce_cancel(self, Order order, object timestamp_ns, object reason,
                               object orig_client_order_id) except *
    cdef void _cancel_incoming(self, Order order, object timestamp_ns, object reason) except *


cdef object _order_problem(Book book, object side, object order_type, object time_in_force,
                           object quantity, object price)
cdef object _replace_problem(Book book, Order order, object quantity, object price)
