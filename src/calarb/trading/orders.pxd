# C declarations for orders.py (Cython pure-Python mode: the .py is the implementation).
# OrderRecord is an extension type: its fields are C slots, read and written by the OMS, the
# portfolio, the risk gate and the strategy on every fill. Quantities and money stay Python ints.
cimport cython

cdef object _PENDING_NEW, _INTENT_FIELDS


# A strategy's parent order: read by the risk gate and the router at C level. Quantity and price
# stay Python ints (the gate's money arithmetic is exact and unbounded). Its fields are read-only
# strings, enums, ints and a bool, so it can be in no reference cycle: not GC-tracked.
@cython.final
@cython.no_gc
@cython.freelist(8)
cdef class OrderIntent:
    cdef readonly object cl_ord_id, symbol, side, quantity, price, ord_type, time_in_force, tag
    cdef readonly bint reduce_only
    cdef readonly object purpose

    cpdef tuple _values(self)


@cython.locals(intent=OrderIntent)
cpdef OrderIntent new_intent(cl_ord_id, symbol, side, quantity, price, ord_type, time_in_force,
                             tag, bint reduce_only, purpose)


cpdef tuple venue_order_fields(object order)


@cython.final
cdef class OrderRecord:
    cdef public object root_id, cl_ord_id, parent_id, venue, symbol, side
    cdef public list chain
    cdef public object quantity, price, ord_type, time_in_force, tag, purpose, status
    cdef public object order_id, cum_qty, leaves_qty, avg_px, cum_notional
    cdef public object pending_id, pending_quantity, pending_price, status_before_pending
    cdef public object created_ns, updated_ns, text
