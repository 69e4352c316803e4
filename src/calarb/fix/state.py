"""The FIX session's lifecycle as a state enum and a transition table (in the manner of h11's
`_state.py`): which state a session moves to when something happens, per role.

The table holds the whole lifecycle; `FixSession` asks `next_state` and stores the answer, so
an input the table does not allow in the current state is a programming error
(`InvalidTransition`), never a silent flag combination. Data that is not a phase of the
lifecycle stays on the session: the outstanding ResendRequest's range, the TestRequests sent
since the peer last spoke, the reason of a decided disconnect.

Roles differ only in how a connection starts: an initiator's Logon goes out at once
(LOGON_SENT), an acceptor waits for the initiator's (AWAITING_LOGON) and answers it.
"""

from __future__ import annotations

from enum import Enum


class Role(Enum):
    INITIATOR = "initiator"
    ACCEPTOR = "acceptor"


class SessionState(Enum):
    __hash__ = object.__hash__  # members are singletons: identity hashing, set lookups in C
    UNCONNECTED = "unconnected"
    """Never connected: the session is used as a bare encoder and hands out every message."""
    DISCONNECTED = "disconnected"
    """The connection went away; application messages are journaled, not sent."""
    AWAITING_LOGON = "awaiting logon"
    """Acceptor, connected: nothing sent until the initiator's Logon is accepted."""
    LOGON_SENT = "logon sent"
    """Initiator, connected: our Logon is out, the answer not yet accepted."""
    LOGGED_ON = "logged on"
    """Both Logons exchanged: application messages flow."""
    LOGOUT_SENT = "logout sent"
    """Logged on and our Logout is out: waiting `logout_timeout_s` for the answer."""
    LOGOUT_SENT_BEFORE_LOGON = "logout sent before logon"
    """A Logout went out before the peer's Logon was accepted (the logon timeout still runs)."""


class Trigger(Enum):
    __hash__ = object.__hash__
    CONNECTION_MADE = "connection made"
    PEER_LOGON_ACCEPTED = "peer logon accepted"
    LOGOUT_SENT = "logout sent"
    CONNECTION_LOST = "connection lost"


class InvalidTransition(RuntimeError):
    """An input the transition table does not allow in the session's current state."""


UNCONNECTED = SessionState.UNCONNECTED
DISCONNECTED = SessionState.DISCONNECTED
AWAITING_LOGON = SessionState.AWAITING_LOGON
LOGON_SENT = SessionState.LOGON_SENT
LOGGED_ON = SessionState.LOGGED_ON
LOGOUT_SENT = SessionState.LOGOUT_SENT
LOGOUT_SENT_BEFORE_LOGON = SessionState.LOGOUT_SENT_BEFORE_LOGON


def _table(connected: SessionState) -> dict[SessionState, dict[Trigger, SessionState]]:
    """One role's rows; `connected` is where its connections start. A new connection starts
    over from any state, and a lost one ends in DISCONNECTED from any state."""
    rows: dict[SessionState, dict[Trigger, SessionState]] = {
        UNCONNECTED: {},
        DISCONNECTED: {},
        connected: {
            Trigger.PEER_LOGON_ACCEPTED: LOGGED_ON,
            Trigger.LOGOUT_SENT: LOGOUT_SENT_BEFORE_LOGON,
        },
        LOGGED_ON: {
            Trigger.PEER_LOGON_ACCEPTED: LOGGED_ON,  # a second Logon (e.g. a sequence reset)
            Trigger.LOGOUT_SENT: LOGOUT_SENT,
        },
        LOGOUT_SENT: {
            Trigger.PEER_LOGON_ACCEPTED: LOGOUT_SENT,
            Trigger.LOGOUT_SENT: LOGOUT_SENT,  # another Logout (the timer restarts)
        },
        LOGOUT_SENT_BEFORE_LOGON: {
            Trigger.PEER_LOGON_ACCEPTED: LOGOUT_SENT,
            Trigger.LOGOUT_SENT: LOGOUT_SENT_BEFORE_LOGON,
        },
    }
    for row in rows.values():
        row[Trigger.CONNECTION_MADE] = connected
        row[Trigger.CONNECTION_LOST] = DISCONNECTED
    return rows


TRANSITIONS: dict[Role, dict[SessionState, dict[Trigger, SessionState]]] = {
    Role.INITIATOR: _table(LOGON_SENT),
    Role.ACCEPTOR: _table(AWAITING_LOGON),
}
"""role -> state -> trigger -> next state."""

PEER_LOGGED_ON = frozenset({LOGGED_ON, LOGOUT_SENT})
"""States in which the peer's Logon has been accepted."""
LOGOUT_PENDING = frozenset({LOGOUT_SENT, LOGOUT_SENT_BEFORE_LOGON})
"""States in which our Logout is out."""
CONNECTED = frozenset(
    {AWAITING_LOGON, LOGON_SENT, LOGGED_ON, LOGOUT_SENT, LOGOUT_SENT_BEFORE_LOGON}
)


def next_state(role: Role, state: SessionState, trigger: Trigger) -> SessionState:
    """The state `trigger` leads to from `state` for `role` (InvalidTransition if none)."""
    try:
        return TRANSITIONS[role][state][trigger]
    except KeyError:
        raise InvalidTransition(
            f"{role.value} session: {trigger.value} is not allowed in state {state.value}"
        ) from None
