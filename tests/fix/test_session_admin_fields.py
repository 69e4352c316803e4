"""Admin messages missing a field the session needs, on a session without a data dictionary
(the venue's): a Reject naming the tag, never an exception out of `on_bytes`."""

from __future__ import annotations

import pytest
from tests.fix.test_session import logged_on_pair, messages

from calarb.core.clock import SimulatedClock
from calarb.fix.codec import encode
from calarb.fix.events import RejectSent
from calarb.fix.timefmt import TimestampFormatter


@pytest.mark.parametrize(
    "msg_type, body, missing",
    [
        (b"2", [(7, b"1")], 16),  # ResendRequest without EndSeqNo
        (b"2", [(16, b"0")], 7),  # ... without BeginSeqNo
        (b"4", [(123, b"Y")], 36),  # SequenceReset without NewSeqNo
        (b"1", [], 112),  # TestRequest without TestReqID
    ],
)
def test_admin_message_without_a_needed_field_is_rejected(msg_type, body, missing):
    """Before: a ResendRequest without 16 raised KeyError out of on_bytes (the transport
    dropped the connection with a traceback)."""
    clock = SimulatedClock()
    _, acceptor = logged_on_pair(clock)
    now = TimestampFormatter()(clock.wall_ns())
    header = [(35, msg_type), (34, b"2"), (49, b"CLIENT"), (52, now), (56, b"VENUE")]
    events = acceptor.on_bytes(encode(b"FIX.4.4", header + body), 0, clock.wall_ns())
    assert [e.tag for e in events if isinstance(e, RejectSent)] == [missing]
    (reject,) = messages(acceptor.data_to_send())
    assert (reject.msg_type, reject[371], reject[373]) == (b"3", b"%d" % missing, b"1")
    consumed = msg_type != b"4"  # a refused SequenceReset uses up no number (as in QuickFIX)
    assert acceptor.logged_on and acceptor.next_target_seq == 2 + consumed
