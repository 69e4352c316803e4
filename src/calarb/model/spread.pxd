# C declarations for spread.py (Cython pure-Python mode: the .py is the implementation).
cimport cython
from libc cimport math as _libm

from calarb.model.moments cimport Moments


cdef class SpreadStats:
    cdef Moments _moments
    cdef public double z, std
    cdef public bint ready

    @cython.locals(moments=Moments, variance=double, std=double)
    cpdef double update(self, double spread)
