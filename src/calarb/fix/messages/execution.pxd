# C declarations for execution.py (Cython pure-Python mode: the .py is the implementation).
cimport cython
from calarb.fix.codec cimport FixMessage
from calarb.fix.messages.fields cimport parse_price, side_from_fix, decode_qty, format_price, side_to_fix
from calarb.fix.timefmt cimport parse_utc_timestamp


@cython.locals(cl_ord_id=object, order_qty=object, price=object, last_qty=object,
               last_px=object, body=bytes)
cpdef bytes encode_execution_report(object report, bytes transact_time)


@cython.locals(fields=dict, side=bytes, leaves=bytes, cum=bytes, transact=bytes, last_px=bytes,
               last_qty=bytes, order_qty=bytes, price=bytes, cl_ord_id=bytes, text=bytes,
               ord_type=bytes, time_in_force=bytes, orig_cl_ord_id=bytes,
               secondary_exec_id=bytes, liquidity=bytes, commission=bytes, comm_type=bytes,
               rej_reason=bytes, status_req_id=bytes, exec_trans_type=bytes)
cpdef object decode_execution_report(FixMessage message)


cpdef object order_event(object report, object venue, object orig_cl_ord_id=*)
