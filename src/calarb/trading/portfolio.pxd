# C declarations for portfolio.py (Cython pure-Python mode: the .py is the implementation).
# Money and share totals stay Python ints (exact, no overflow); the gain is C-level fields and
# calls on the per-tick mark (`on_top_of_book`).
cimport cython

cdef object _BUY


cdef class Position:
    cdef public long long multiplier
    cdef public object symbol, quantity, cost, realized, fees, mark, unrealized
    cdef public object bought, sold, fills


cdef class VenuePosition:
    cdef public object quantity, bought, sold, fees


cdef class Portfolio:
    cdef public dict fees_by_venue, multipliers, positions, venue_positions
    cdef public object realized, unrealized, fees, net_pnl

    cpdef Position position(self, symbol)

    @cython.locals(position=Position, at_venue=VenuePosition, multiplier=cython.longlong)
    cpdef apply_fill(self, symbol, venue, side, quantity, price, fee)

    cpdef _revalue(self, Position position)

    @cython.locals(position=Position)
    cpdef on_top_of_book(self, top)
