"""Bounds on what a FIX peer may send, in one place (every input from a socket may be hostile).

A message longer than `MAX_MESSAGE_SIZE` is not framed (it is skipped as garbled); a text field
longer than `MAX_STRING_LENGTH` is refused with a Reject naming its tag (373=5), so it is never
stored or echoed back; a Logon's HeartBtInt must be 1 to `MAX_HEARTBEAT_S` seconds.
"""

from __future__ import annotations

MAX_MESSAGE_SIZE = 1024 * 1024
"""Default largest BodyLength(9) accepted (settings: MaxMessageSize). Generous on purpose: a
message that frames is answered (a Reject naming the field that is too long) and its sequence
number is used; one that does not frame is dropped unanswered and leaves a gap."""
MAX_LOGON_SIZE = 8 * 1024
"""Largest first message of a connection (its Logon) read before it reaches a session: an
unauthenticated peer cannot make the acceptor buffer more."""
MAX_STRING_LENGTH = 256
"""Largest value of a text field (identifiers, Symbol, Text); raw data fields are exempt."""
MAX_HEARTBEAT_S = 3600
"""Longest HeartBtInt(108) a Logon may ask for (or our own, if longer: a simulation's day);
0 or less would turn liveness off."""
MAX_WRITE_BUFFER = 4 * 1024 * 1024
"""Default bytes a peer may leave unread before it is disconnected (settings:
WriteBufferLimit): a peer that does not read cannot grow the process without bound."""
READ_BUDGET = 16 * 1024
"""Bytes of one connection handled per turn of the event loop (fairness between sessions)."""
