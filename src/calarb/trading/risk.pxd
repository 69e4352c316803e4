# C declarations for risk.py (Cython pure-Python mode: the .py is the implementation).
# Prices and share counts of a symbol are bounded (ITCH prices < 2**32, shares well below
# 2**31): `long long`. Exposures (shares x price, summed) and limits stay Python ints.
cimport cython
from calarb.trading.orders cimport OrderIntent

cdef object _BUY, _PASSED, _HALTED


cdef class _SymbolRisk:
    cdef public object symbol
    cdef public long long position, open_buy, open_sell, bid, ask, mark, limit, multiplier
    cdef public object gross, net_high, net_low
    cdef public bint halted


cdef class RiskGate:
    cdef public object limits, _portfolio
    cdef public dict multipliers, _symbols, _reserved
    cdef public set _seen_ids
    cdef public object _sent_ns
    cdef public object gross_exposure, net_high, net_low
    cdef public object state, state_reason
    cdef public Py_ssize_t state_changes
    cdef public list counts

    cpdef _SymbolRisk _symbol(self, symbol)
    cpdef _refresh(self, _SymbolRisk s)
    @cython.locals(s=_SymbolRisk)
    cpdef on_top_of_book(self, top)
    cpdef _unreserve(self, parent_id, quantity)
    cpdef _reject(self, reason)

    @cython.locals(s=_SymbolRisk, mark=cython.longlong, reduce_only=bint, buy=bint)
    cpdef check(self, OrderIntent intent, now_ns)
