# C declarations for orders.py (Cython pure-Python mode: the .py is the implementation).
cimport cython


# allocated from a free list (one Order per accepted order is the engine's main allocation);
# not GC-tracked: @cython.no_gc in orders.py
@cython.freelist(64)
cdef class Order:
    cdef public long long order_id, price, quantity, leaves, cum_qty, cum_notional
    cdef public str order_id_text
    cdef public object participant, client_order_id, symbol, side, order_type, time_in_force
    cdef public bint displayed


@cython.locals(order=Order)
cpdef Order new_order(long long order_id, object participant, object client_order_id,
                      object symbol, object side, object order_type, object time_in_force,
                      long long price, long long quantity, long long leaves, long long cum_qty,
                      long long cum_notional, bint displayed)
