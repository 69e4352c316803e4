# C declarations for engine.py (Cython pure-Python mode: the .py is the implementation).
cimport cython

from calarb.book.feed cimport ItchBookFeed
from calarb.ops.latency cimport LatencyRecorder
from calarb.trading.oms cimport OrderManager
from calarb.trading.portfolio cimport Portfolio
from calarb.trading.risk cimport RiskGate
from calarb.trading.orders cimport OrderIntent, venue_order_fields
from calarb.trading.router cimport RouteDecision, Router
from calarb.trading.strategy cimport PairState, PairsStrategy

# the stamp slots of the latency recorder's list (Stage is an IntEnum)
cdef Py_ssize_t _DECODED, _BOOK_UPDATED, _MODEL_UPDATED, _SIGNAL, _RISK_PASSED, _ROUTED
cdef object _PASSED, _ACTIVE, _HALTED, _NO_ACTIONS, _DELEVERAGE, _STRATEGY_PURPOSES, _new_top


# top-of-book prices and sizes are ITCH integers (< 2**32)
@cython.locals(bid="long long", ask="long long", bid_shares="long long",
               ask_shares="long long")
cpdef consolidated_top(symbol, timestamp_ns, tops)


cdef class TradingEngine:
    cdef public object clock, _monotonic_ns
    cdef public PairsStrategy strategy
    cdef public dict gateways
    cdef public Portfolio portfolio
    cdef public RiskGate risk
    cdef public Router router
    cdef public OrderManager oms
    cdef public LatencyRecorder recorder
    cdef public list _stamps
    cdef public object _stamp_now, true_hedge_ratios
    cdef public dict feeds, _venue_tops, consolidated
    cdef public long long orders_sent, intents, cancels_sent, cancels_confirmed, cancel_rejects
    cdef public list fills
    cdef public object filled_shares, rejects
    cdef public long long market_data_messages, ticks_to_model, _killed_at
    cdef public long long deleveraging_orders

    @cython.locals(recorder=LatencyRecorder, feed=ItchBookFeed, stamps=list)
    cpdef on_market_data(self, venue, message, received_ns=*)
    @cython.locals(state=PairState, strategy=PairsStrategy, risk=RiskGate)
    cpdef _on_venue_top(self, venue, top)
    cpdef _execute(self, actions, now_ns)
    @cython.locals(oms=OrderManager, gateways=dict, stamps=list, decision=RouteDecision)
    cpdef bint _send_intent(self, OrderIntent intent, now_ns)
    cpdef bint _kill_pending(self)
