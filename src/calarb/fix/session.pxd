# C declarations for session.py (Cython pure-Python mode: the .py is the implementation).
cimport cython
from calarb.fix.codec cimport FixFramer, FixMessage, decode
from calarb.fix.outbound cimport OutboundSession
from calarb.fix.timefmt cimport parse_utc_timestamp


cdef class FixSession(OutboundSession):
    cdef public object dictionary, application, authenticate
    cdef public FixFramer _framer
    cdef object _resend_next, _resend_end

    @cython.locals(framer=FixFramer, message=FixMessage)
    cpdef list on_bytes(self, bytes data, object now_ns, object wall_ns)

    cpdef _next(self, FixMessage message, bint queued)

    @cython.locals(fields=dict, msg_type=bytes, seq_text=bytes, sent=bytes, seq=object)
    cpdef bint _next_in_sequence_app(self, FixMessage message) except -1
