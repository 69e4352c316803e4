# C declarations for oms.py (Cython pure-Python mode: the .py is the implementation).
cimport cython

from calarb.trading.orders cimport OrderRecord, venue_order_fields

cdef object _NEW, _PARTIAL, _REPLACED_STATUS, _PENDING_CANCEL, _PENDING_REPLACE
cdef object _LIVE_STATUSES, _PENDING_STATUSES, _TRADE, _EXEC_REPLACED


cdef class OrderManager:
    cdef public tuple _listeners
    cdef public object journal
    cdef public dict _by_id, _by_order_id, _by_parent, _open
    cdef public set _exec_ids
    cdef public object anomalies, recent_anomalies
    cdef public long long late_cancel_rejects, reports_applied

    @cython.locals(record=OrderRecord, by_id=dict, siblings=list, fields=tuple)
    cpdef OrderRecord submit(self, order, now_ns)

    @cython.locals(record=OrderRecord)
    cpdef on_execution_report(self, report, now_ns)

    cpdef _apply_fill(self, OrderRecord record, report)
    cpdef _apply_status(self, OrderRecord record, report)
    cpdef _set_leaves(self, OrderRecord record, leaves)
    cpdef _close(self, OrderRecord record)
