"""The checks of a Logon that need no sequence number and no session state, and the rule by
which a Logon on a second connection takes a session over from a half-open one.

`FixSession` refuses a Logon that fails any of them with a Logout saying why, before the
Logon changes anything (ResetSeqNumFlag, sequence numbers, state).
"""

from __future__ import annotations

import hmac
from collections.abc import Callable
from typing import Any

from calarb.fix.codec import FixMessage
from calarb.fix.config import SessionSettings
from calarb.fix.errors import LogonRejected
from calarb.fix.limits import MAX_HEARTBEAT_S

_SECOND_NS = 1_000_000_000


def heartbeat_problem(settings: SessionSettings, message: FixMessage) -> str | None:
    """HeartBtInt(108) must be 1 to MAX_HEARTBEAT_S seconds (or our own interval, if longer):
    0 or less would turn liveness off."""
    text = message.get(108) or b""
    limit = max(MAX_HEARTBEAT_S, settings.heartbeat_interval_s)
    if text.isdigit() and 0 < int(text) <= limit:
        return None
    shown = text.decode("latin-1")[:20]
    return f"HeartBtInt (108) must be 1 to {limit} seconds, received {shown!r}"


def credentials_problem(
    settings: SessionSettings,
    authenticate: Callable[[str | None, str | None, FixMessage], None] | None,
    message: FixMessage,
) -> str | None:
    """An acceptor's check of Username(553)/Password(554): against the settings when they
    name a Password (compared in constant time), then the authentication hook, which refuses
    by raising LogonRejected. The reason says nothing about what was expected."""
    user, password = message.get(553), message.get(554)
    expected = settings.password
    if expected is not None:
        user_ok = settings.username is None or hmac.compare_digest(
            user or b"", settings.username.encode()
        )
        password_ok = hmac.compare_digest(password or b"", expected.encode())
        if not (user_ok and password_ok):
            return "invalid Username or Password"
    if authenticate is not None:
        try:
            authenticate(
                user.decode("latin-1") if user else None,
                password.decode("latin-1") if password else None,
                message,
            )
        except LogonRejected as exc:
            return str(exc) or "Logon rejected"
    return None


def takeover_refusal(session: Any, message: FixMessage, now_ns: int, wall_ns: int) -> str | None:
    """A Logon for an acceptor session on a second connection while the session still has
    one: None when it may replace that connection, else why not. The rule: the current peer
    has sent nothing for longer than its HeartBtInt (a live peer sends at least a Heartbeat
    every interval, so it is presumed half-open), and the new Logon passes every check a
    Logon passes before it may change anything (`FixSession._logon_problem`: the
    authentication hook is called for it, and again when the Logon is then processed).
    Sends and changes nothing."""
    if session.initiator:
        return "an initiator session is not taken over"
    heartbeat_ns = session.heartbeat_ns
    silent_ns = now_ns - session.last_received_ns
    if heartbeat_ns <= 0 or silent_ns <= heartbeat_ns:
        return (
            f"the current connection is alive (last message {silent_ns / _SECOND_NS:.1f} s "
            f"ago, HeartBtInt {heartbeat_ns / _SECOND_NS:g} s)"
        )
    if 52 not in message:
        return "the new Logon has no SendingTime (52)"
    problem = session._logon_problem(message, message.get(141) == b"Y", wall_ns)
    if problem is not None:
        return f"the new Logon is refused: {problem}"
    return None
