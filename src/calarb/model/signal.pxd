# C declarations for signal.py (Cython pure-Python mode: the .py is the implementation).
cimport cython


cdef class SpreadSignal:
    cdef public object rules
    cdef public object position  # a SpreadPosition member (compared by identity)
    cdef public object entered_ns
    cdef public bint stopped

    @cython.locals(signed=double)
    cpdef on_z(self, double z, time_ns)
