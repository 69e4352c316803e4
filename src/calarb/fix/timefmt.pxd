# C declarations for timefmt.py (Cython pure-Python mode: the .py is the implementation).
cimport cython


cdef tuple _MILLIS_TEXT


cdef class TimestampFormatter:
    cdef long long _second
    cdef bytes _prefix
    cdef public bint millis

    @cython.locals(second="long long", rest="long long")
    cpdef bytes format(self, long long wall_ns)


@cython.locals(size=Py_ssize_t, fraction=bytes, millis=bytes)
cpdef object parse_utc_timestamp(bytes text)
