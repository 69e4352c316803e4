# C declarations for records.py (Cython pure-Python mode: the .py is the implementation).
cimport cython

from calarb.venue.orders cimport Order

cdef object _NEW, _TRADE, _CANCELED, _REPLACED, _REJECTED
cdef object _ST_NEW, _ST_PARTIAL, _ST_FILLED, _ST_CANCELED, _ST_REJECTED, _NO_FILL
cdef dict _CANCEL_TEXT

cdef extern from *:
    """
    /* tuple.__new__(cls, fields) for a tuple subclass without its own fields (a NamedTuple),
       as CPython's tuple_subtype_new does it but without the Python-level call, and left
       untracked by the cycle collector (records._new_record says why that is safe). */
    static CYTHON_UNUSED PyObject *calarb_new_untracked_tuple(PyTypeObject *cls, PyObject *fields) {
        Py_ssize_t i, n = PyTuple_GET_SIZE(fields);
        PyObject *record = cls->tp_alloc(cls, n);
        if (record == NULL) return NULL;
        for (i = 0; i < n; i++) {
            PyObject *item = PyTuple_GET_ITEM(fields, i);
            Py_INCREF(item);
            PyTuple_SET_ITEM(record, i, item);
        }
        PyObject_GC_UnTrack(record);
        return record;
    }
    """
    object new_untracked_tuple "calarb_new_untracked_tuple" (type cls, tuple fields)

cdef object _new_record(type cls, tuple fields)

cpdef long long avg_px(long long cum_notional, long long cum_qty)
cpdef object live_status(Order order)
@cython.locals(quantity=object)
cpdef object new_report(Order order, object timestamp_ns)
@cython.locals(cum_qty=cython.longlong, cum_notional=cython.longlong, leaves=cython.longlong)
cpdef object fill_report(Order order, object last_px, long long last_qty, object liquidity,
                         object timestamp_ns, long long match_number)
@cython.locals(cum_qty=cython.longlong, cum_notional=cython.longlong)
cpdef object cancelled_report(Order order, object timestamp_ns, object reason,
                              object orig_client_order_id)
@cython.locals(cum_qty=cython.longlong, cum_notional=cython.longlong)
cpdef object replaced_report(Order order, object timestamp_ns, object orig_client_order_id)
cpdef object added_event(Order order, object timestamp_ns)
cpdef object deleted_event(Order order, object timestamp_ns)
cpdef object execution_event(Order resting, Order incoming, object price, long long shares,
                             object timestamp_ns, long long match_number)
