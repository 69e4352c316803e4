# C declarations for codec.py (Cython pure-Python mode: the .py is the implementation).
cimport cython


cdef class FixMessage:
    cdef public object _fields
    cdef public object raw
    cdef public dict by_text


cdef class Envelope:
    cdef public bytes begin_string
    cdef bytes _head, _after_seq, _after_time, _sender, _target
    cdef long long _head_sum
    cdef Py_ssize_t _fixed_size
    cdef dict _type_prefix

    @cython.locals(seq_text=bytes, prefix=bytes, prefix_sum="long long", typed=tuple,
                   size=Py_ssize_t, length=bytes, total="long long")
    cpdef bytes wrap(self, bytes msg_type, long long seq, bytes sending_time, bytes body,
                     object header=*)


cdef tuple _LENGTH_TEXT, _CHECKSUM_FIELD


cdef inline long long bytes_sum(bytes data):
    """The sum of the bytes of `data` (a C loop: the compiled `_piece_sum`)."""
    cdef const unsigned char* p = data
    cdef Py_ssize_t i, n = len(data)
    cdef long long total = 0
    for i in range(n):
        total += p[i]
    return total


cdef long long _piece_sum(bytes data) except? -1


cdef class FixFramer:
    cdef bytearray _buffer
    cdef public Py_ssize_t max_message_size

    @cython.locals(buffer=bytearray, first=Py_ssize_t, second=Py_ssize_t, start=Py_ssize_t,
                   skipped=Py_ssize_t, keep=Py_ssize_t, length=Py_ssize_t,
                   body_end=Py_ssize_t, trailer=Py_ssize_t, stop=Py_ssize_t,
                   size=Py_ssize_t, data=bytes)
    cpdef object next_frame(self)


@cython.locals(size=Py_ssize_t, start=Py_ssize_t, total="long long")
cpdef object byte_sum(object data)


@cython.locals(size=Py_ssize_t, pos=Py_ssize_t, start=Py_ssize_t, count=Py_ssize_t,
               tag=Py_ssize_t, byte="unsigned char", tag_texts=list, ordinary=bytes,
               by_text=dict, value=bytes, first_tags=list, first_values=list)
cdef list _scan(bytes raw)


@cython.locals(scanned=list, by_text=dict, begin=bytes, length_text=bytes, sum_text=bytes,
               first_tags=list, trailer_start=Py_ssize_t, message=FixMessage)
cpdef FixMessage decode(object raw, bint verify=*)
