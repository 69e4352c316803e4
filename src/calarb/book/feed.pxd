# C declarations for feed.py (Cython pure-Python mode: the .py is the implementation).
cimport cython

from calarb.book.order_book cimport OrderBook

cdef Py_ssize_t _LOCATE, _REF, _ADD_SIDE, _ADD_SHARES, _ADD_PRICE, _REDUCE_SHARES
cdef Py_ssize_t _OLD_REF, _NEW_REF, _REPLACE_SHARES, _REPLACE_PRICE, _STAMP, _PREFIX
cdef Py_ssize_t _MAX_KEPT_DECODE_ERRORS
cdef int[::1] _LENGTHS, _SIDE_BY_BYTE


@cython.locals(value="unsigned long long", index=Py_ssize_t)
cdef unsigned long long _uint(const unsigned char[::1] view, Py_ssize_t pos,
                              Py_ssize_t size) noexcept


@cython.final
cdef class ItchBookFeed:
    cdef public object symbol_filter
    cdef public bint emit_events, strict
    cdef public dict books
    cdef list _by_locate
    cdef set _known_locates
    cdef object _pending
    cdef object _stream_offset
    cdef public long long messages
    cdef public object errors
    cdef public list decode_errors
    cdef object _first_new_error

    @cython.locals(events=list)
    cpdef object on_message_bytes(self, payload)

    @cython.locals(view="const unsigned char[::1]", by_locate=list, lengths="int[::1]",
                   sides="int[::1]", emit=bint, end=Py_ssize_t,
                   limit=Py_ssize_t, pos=Py_ssize_t, count=Py_ssize_t, start=Py_ssize_t,
                   length=Py_ssize_t, kind=int, locate=Py_ssize_t, book=OrderBook,
                   touched=bint)
    cdef Py_ssize_t _run(self, buf, Py_ssize_t base, list events, bint single=*) except -1
