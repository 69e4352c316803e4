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
    /* An ExecutionReport-shaped tuple subclass of 25 fields from its 25 fields: no
       temporary tuple to fill, copy and free; untracked as above. */
    static CYTHON_UNUSED PyObject *calarb_new_untracked_report(PyTypeObject *cls, PyObject *a0, PyObject *a1, PyObject *a2, PyObject *a3, PyObject *a4, PyObject *a5, PyObject *a6, PyObject *a7, PyObject *a8, PyObject *a9, PyObject *a10, PyObject *a11, PyObject *a12, PyObject *a13, PyObject *a14, PyObject *a15, PyObject *a16, PyObject *a17, PyObject *a18, PyObject *a19, PyObject *a20, PyObject *a21, PyObject *a22, PyObject *a23, PyObject *a24) {
        PyObject *items[25] = {a0, a1, a2, a3, a4, a5, a6, a7, a8, a9, a10, a11, a12, a13, a14, a15, a16, a17, a18, a19, a20, a21, a22, a23, a24};
        Py_ssize_t i;
        PyObject *record = cls->tp_alloc(cls, 25);
        if (record == NULL) return NULL;
        for (i = 0; i < 25; i++) {
            Py_INCREF(items[i]);
            PyTuple_SET_ITEM(record, i, items[i]);
        }
        PyObject_GC_UnTrack(record);
        return record;
    }
    """
    object new_untracked_tuple "calarb_new_untracked_tuple" (type cls, tuple fields)
    object new_untracked_report "calarb_new_untracked_report" (
        type cls,
        object, object, object, object, object,
        object, object, object, object, object,
        object, object, object, object, object,
        object, object, object, object, object,
        object, object, object, object, object)

cdef object _new_record(type cls, tuple fields)
cdef object _report(
    object venue, object cl_ord_id, object order_id, object exec_id, object exec_type,
    object ord_status, object symbol, object side, object order_qty, object price,
    object cum_qty, object leaves_qty, object average_px, object last_qty, object last_px,
    object orig_cl_ord_id, object liquidity, object transact_time_ns, object text,
    object participant, object ord_type, object time_in_force, object cum_notional,
    object match_number, object reason)

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
