# C declarations for latency.py (Cython pure-Python mode: the .py is the implementation).
cimport cython

cdef Py_ssize_t _STAGE_COUNT, _WRITTEN


cdef class _Series:
    cdef public long long[::1] buffer  # durations (ns), `capacity` long
    cdef public Py_ssize_t capacity, length
    cdef public object histogram

    @cython.locals(length=Py_ssize_t)
    cpdef void add(self, long long value)
    cpdef void flush(self)


@cython.locals(previous="long long", stage=Py_ssize_t, now="long long", series=_Series,
               length=Py_ssize_t)
cdef void _record_stages(list series_list, list stamps)


cdef class LatencyRecorder:
    cdef public object clock, now
    cdef object _now
    cdef list _stamps, _zeros, _stages, _order_stages
    cdef public list stamps
    cdef _Series _tick_to_trade
    cdef public Py_ssize_t ticks, ticks_with_order
    cdef public long long last_tick_to_trade_ns

    @cython.locals(stamps=list)
    cpdef void begin_tick(self, received_ns=*)

    cpdef void stamp(self, Py_ssize_t stage)

    @cython.locals(stamps=list)
    cpdef void stamp_once(self, Py_ssize_t stage)

    @cython.locals(stamps=list, received="long long", written="long long")
    cpdef void end_tick(self)

    @cython.locals(series=_Series)
    cpdef void flush(self)
