# C declarations for timefmt.py (Cython pure-Python mode: the .py is the implementation).
cimport cython


cdef tuple _MILLIS_TEXT


cdef class TimestampFormatter:
    cdef object _second
    cdef bytes _prefix
    cdef public bint millis

    @cython.locals(second=object, rest="long long")
    cpdef bytes format(self, wall_ns)


@cython.locals(size=Py_ssize_t, fraction=bytes, millis=bytes)
cpdef object parse_utc_timestamp(bytes text)
