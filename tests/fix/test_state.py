"""The session lifecycle table, and a session walking through it driven by bytes."""

from __future__ import annotations

import pytest

from calarb.core.clock import SimulatedClock
from calarb.fix.config import SessionSettings
from calarb.fix.session import FixSession
from calarb.fix.state import (
    TRANSITIONS,
    InvalidTransition,
    Role,
    SessionState,
    Trigger,
    next_state,
)

S = SessionState


def test_a_connection_starts_per_role_and_ends_disconnected_from_anywhere():
    starts = {Role.INITIATOR: S.LOGON_SENT, Role.ACCEPTOR: S.AWAITING_LOGON}
    for role, start in starts.items():
        other_start = starts[Role.ACCEPTOR if role is Role.INITIATOR else Role.INITIATOR]
        assert set(TRANSITIONS[role]) == set(S) - {other_start}  # every state of the role
        for state in TRANSITIONS[role]:
            assert next_state(role, state, Trigger.CONNECTION_MADE) is start
            assert next_state(role, state, Trigger.CONNECTION_LOST) is S.DISCONNECTED


def test_logon_and_logout_paths():
    for role, start in ((Role.INITIATOR, S.LOGON_SENT), (Role.ACCEPTOR, S.AWAITING_LOGON)):
        assert next_state(role, start, Trigger.PEER_LOGON_ACCEPTED) is S.LOGGED_ON
        assert next_state(role, start, Trigger.LOGOUT_SENT) is S.LOGOUT_SENT_BEFORE_LOGON
        assert next_state(role, S.LOGGED_ON, Trigger.LOGOUT_SENT) is S.LOGOUT_SENT
        before = S.LOGOUT_SENT_BEFORE_LOGON
        assert next_state(role, before, Trigger.PEER_LOGON_ACCEPTED) is S.LOGOUT_SENT


def test_inputs_outside_the_table_are_refused():
    with pytest.raises(InvalidTransition, match="peer logon accepted"):
        next_state(Role.ACCEPTOR, S.DISCONNECTED, Trigger.PEER_LOGON_ACCEPTED)
    with pytest.raises(InvalidTransition):
        next_state(Role.ACCEPTOR, S.LOGON_SENT, Trigger.LOGOUT_SENT)  # an initiator's state
    assert S.AWAITING_LOGON not in TRANSITIONS[Role.INITIATOR]


def test_a_session_walks_the_table():
    clock = SimulatedClock()
    initiator = FixSession(SessionSettings("FIX.4.4", "CLIENT", "VENUE", "initiator"))
    acceptor = FixSession(SessionSettings("FIX.4.4", "VENUE", "CLIENT", "acceptor"))
    assert initiator.state is acceptor.state is S.UNCONNECTED
    now, wall = clock.monotonic_ns(), clock.wall_ns()
    initiator.connection_made(now, wall)
    acceptor.connection_made(now, wall)
    assert (initiator.state, acceptor.state) == (S.LOGON_SENT, S.AWAITING_LOGON)
    acceptor.on_bytes(initiator.data_to_send(), now, wall)
    initiator.on_bytes(acceptor.data_to_send(), now, wall)
    assert initiator.state is acceptor.state is S.LOGGED_ON
    initiator.logout(now, wall)
    assert initiator.state is S.LOGOUT_SENT and initiator.logged_on
    acceptor.on_bytes(initiator.data_to_send(), now, wall)
    assert acceptor.disconnect_reason == "Logout received"
    initiator.on_bytes(acceptor.data_to_send(), now, wall)
    assert initiator.disconnect_reason == "Logout response received"
    initiator.connection_lost(now)
    acceptor.connection_lost(now)
    assert initiator.state is acceptor.state is S.DISCONNECTED
    assert not initiator.connected and initiator.disconnect_reason is None
