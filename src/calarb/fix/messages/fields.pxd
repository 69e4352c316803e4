# C declarations for fields.py (Cython pure-Python mode: the .py is the implementation).
cimport cython


cpdef bytes format_price(object price)

@cython.locals(places=Py_ssize_t)
cpdef object parse_price(bytes text)

cpdef bytes side_to_fix(object side)

cpdef object side_from_fix(bytes text)

cpdef object decode_qty(bytes text)
