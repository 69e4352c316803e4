# C declarations for outbound.py (Cython pure-Python mode: the .py is the implementation).
cimport cython
from calarb.fix.codec cimport Envelope
from calarb.fix.store cimport MemoryStore
from calarb.fix.timefmt cimport TimestampFormatter


cdef class OutboundSession:
    cdef dict __dict__  # attributes not declared here (subclasses, tests' seams)
    cdef public object settings, role, state
    cdef public MemoryStore store
    cdef public TimestampFormatter format_time  # SendingTime/TransactTime text of wall ns
    cdef public object resend_range, disconnect_reason
    cdef public bint initiator, _fix42_or_later
    cdef public bytes begin_string, _sender, _target
    cdef public TimestampFormatter _timestamp
    cdef public Envelope _envelope
    cdef public bytearray _outbound
    cdef public list _events
    cdef public dict _queue
    cdef public object now_ns, wall_ns, heartbeat_ns, last_sent_ns, last_received_ns
    cdef public object connected_ns, logout_sent_ns, test_requests

    @cython.locals(data=bytes)
    cpdef bytes data_to_send(self)

    cpdef object send_body(self, bytes msg_type, bytes body, object now_ns, object wall_ns,
                           object sending_time=*)

    @cython.locals(raw=bytes, store=MemoryStore)
    cpdef object _emit(self, bytes msg_type, bytes body, bytes sending_time, object header=*,
                       object seq=*, bint persist=*)
