# C declarations for strategy.py (Cython pure-Python mode: the .py is the implementation).
# Share counts and prices are bounded integers (ITCH prices < 2**32; positions, targets and
# orders far below 2**62): `long long`. Times (ns) are int64 by definition.
cimport cython

from calarb.model.live cimport PairModel
from calarb.model.signal cimport SpreadSignal
from calarb.trading.orders cimport new_intent

cdef object _NOTHING, _BUY, _SELL, _IOC, _DAY, _LIMIT, _FAR, _IOC_STYLE, _SHARES, _LOG
cdef object _HOLD, _STOP, _ENTER_LONG, _ENTER_SHORT, _ENTRY, _EXIT


cdef class _Leg:
    cdef public object symbol, label, tag
    cdef public long long position, target, start, remaining
    cdef public object working, working_side
    cdef public bint cancel_sent, armed, aggressive


cdef class PairState:
    cdef public object config, name
    cdef public PairModel model
    cdef public long long min_observations
    cdef public SpreadSignal signal
    cdef public _Leg leg_a, leg_b
    cdef public tuple legs
    cdef public object transition
    cdef public long long action_ns, reprices_done, cooldown_until_ns
    cdef public bint legged
    cdef public object counters


cdef class PairsStrategy:
    cdef public object id_prefix
    cdef public dict pairs, pairs_by_symbol, tops
    cdef public long long _next_id
    cdef public dict _parents

    cpdef on_top_of_book(self, top)

    @cython.locals(state=PairState, model=PairModel)
    cpdef on_model_update(self, pair, now_ns)

    cpdef _reduce_working(self, _Leg leg, parent_id, quantity)

    cpdef list _drive(self, PairState state, now_ns, signal)

    @cython.locals(actions=list, z=double, beta=double)
    cpdef list _decide(self, PairState state, long long now_ns, signal)

    @cython.locals(direction="long long", shares_a="long long",
                   shares_b="long long")
    cpdef _apply_signal(self, PairState state, double z, double beta, long long now_ns,
                        list actions)

    @cython.locals(leg=_Leg)
    cpdef _start(self, PairState state, transition, long long now_ns)

    @cython.locals(gap="long long", bid="long long", bid_shares="long long",
                   ask="long long", ask_shares="long long", reference="long long",
                   present="long long", offset="long long", tick="long long",
                   price="long long", quantity="long long", buy=bint)
    cpdef _leg_intent(self, PairState state, _Leg leg)
