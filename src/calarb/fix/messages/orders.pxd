# C declarations for orders.py (Cython pure-Python mode: the .py is the implementation).
cimport cython
from calarb.fix.messages.fields cimport format_price



@cython.locals(price_text=bytes)
cpdef bytes encode_new_order_single(bytes cl_ord_id, bytes symbol, object side,
                                    object quantity, object price, bytes transact_time,
                                    bytes time_in_force=*)

cpdef bytes _remember_price_text(object price)
