# C declarations for moments.py (Cython pure-Python mode: the .py is the implementation).
cimport cython


cdef class Moments:
    cdef public Py_ssize_t count
    cdef public double mean_x, mean_y, var_x, var_y, cov_xy
    cpdef void update(self, double x, double y)


cdef class _SampleCovariance(Moments):
    cdef public double _cxx, _cyy, _cxy
    @cython.locals(dof=Py_ssize_t)
    cdef inline void _derive_variances(self)


cdef class ExpandingMoments(_SampleCovariance):
    @cython.locals(dx=double, dy=double)
    cpdef void update(self, double x, double y)


cdef class RollingMoments(_SampleCovariance):
    cdef public Py_ssize_t window
    cdef double[::1] _xs, _ys  # length `window`
    cdef Py_ssize_t _slot      # in [0, window)

    @cython.locals(slot=Py_ssize_t, full=bint, old_x=double, old_y=double, n=Py_ssize_t,
                   dx=double, dy=double)
    cpdef void update(self, double x, double y)

    @cython.locals(xs="double[::1]", ys="double[::1]", n=Py_ssize_t, i=Py_ssize_t,
                   sum_x=double, sum_y=double, mean_x=double, mean_y=double,
                   cxx=double, cyy=double, cxy=double, dx=double, dy=double)
    cdef void _recompute(self)


cdef class EwmMoments(Moments):
    cdef public double alpha
    @cython.locals(a=double, dx=double, dy=double, keep=double)
    cpdef void update(self, double x, double y)
