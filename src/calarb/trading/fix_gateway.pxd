# C declarations for fix_gateway.py (Cython pure-Python mode: the .py is the implementation).
cimport cython
from calarb.fix.codec cimport FixMessage
from calarb.fix.messages.execution cimport decode_execution_report, order_event
from calarb.fix.messages.orders cimport encode_new_order_single
from calarb.fix.session cimport FixSession
from calarb.trading.orders cimport venue_order_fields


cdef class FixOrderGateway:
    cdef dict __dict__  # attributes not declared here (subclasses, tests' seams)
    cdef public object venue, clock, recorder, _stamps, _stamp_now, reconcile_timeout_ns
    cdef public object sink, oms, router, _flush, _wall_ns, _monotonic_ns
    cdef public FixSession session
    cdef public dict _written_ns, _symbols, _instruments
    cdef public object new_orders_sent, _held_cancels, _local_ids, reconciliation
    cdef public object reconciliations, differences, round_trips_ns, counts
    cdef public bint connected
    cdef public object connection_changes

    @cython.locals(session=FixSession, symbol=bytes, now_text=bytes, body=bytes, stamps=list,
                   wall_ns=object, instrument=bytes, fields=tuple)
    cpdef send_new_order(self, object order, object now_ns)

    @cython.locals(msg_type=bytes)
    cpdef on_message(self, object session, FixMessage message)

    @cython.locals(written=object)
    cpdef _on_execution_report(self, FixMessage message)
