# C declarations for store.py (Cython pure-Python mode: the .py is the implementation).
# MemoryStore is an extension type so the session journals each message it sends with a C call
# (`save_message` runs compiled); FileStore stays a Python subclass of it. Sequence numbers stay
# Python ints (a peer's MsgSeqNum is hostile input of any size).
cimport cython


cdef class MemoryStore:
    cdef public object next_sender_seq, next_target_seq
    cdef public Py_ssize_t window
    cdef public object _messages

    @cython.locals(messages=object)
    cpdef save_message(self, seq, raw)
