# C declarations for hedge.py (Cython pure-Python mode: the .py is the implementation).
cimport cython

from calarb.model.moments cimport Moments


cdef class HedgeEstimator:
    cdef public bint ready
    cdef public double beta, alpha
    cpdef void update(self, double x, double y)


cdef class _MomentHedge(HedgeEstimator):
    cdef readonly Moments _moments
    cpdef void update(self, double x, double y)
    @cython.locals(moments=Moments, var_x=double, cov_xy=double)
    cdef inline void _derive(self)


cdef class OlsHedge(_MomentHedge):
    pass


cdef class RollingOlsHedge(_MomentHedge):
    pass


cdef class EwmOlsHedge(_MomentHedge):
    pass


cdef class KalmanHedge(HedgeEstimator):
    cdef public double delta, observation_var, _q
    cdef public Py_ssize_t count
    cdef public double _p_bb, _p_ba, _p_aa, innovation, innovation_var

    @cython.locals(p_bb=double, p_ba=double, p_aa=double, ph_b=double, ph_a=double, s=double,
                   e=double, k_b=double, k_a=double, q=double)
    cpdef void update(self, double x, double y)
