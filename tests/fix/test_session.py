"""The sans-I/O session driven with bytes and a simulated clock."""

from __future__ import annotations

import pytest

from calarb.core.clock import SimulatedClock
from calarb.core.types import Side
from calarb.fix.codec import FixFramer, decode, encode
from calarb.fix.config import SessionSettings
from calarb.fix.errors import LogonRejected
from calarb.fix.events import (
    AppMessageReceived,
    Disconnected,
    GarbledIgnored,
    LoggedOn,
    RejectSent,
)
from calarb.fix.messages import NewOrderSingle, to_body
from calarb.fix.session import FixSession
from calarb.fix.store import MemoryStore
from calarb.fix.timefmt import TimestampFormatter

SECOND = 1_000_000_000


def make_pair(clock, begin="FIX.4.4", heartbeat=30, **acceptor_kw):
    initiator = FixSession(
        SessionSettings(begin, "CLIENT", "VENUE", "initiator", heartbeat), MemoryStore()
    )
    acceptor = FixSession(
        SessionSettings(begin, "VENUE", "CLIENT", "acceptor"), MemoryStore(), **acceptor_kw
    )
    return initiator, acceptor


def messages(data: bytes):
    framer = FixFramer()
    framer.feed(data)
    out = []
    while (frame := framer.next_frame()) is not None:
        out.append(decode(frame))
    return out


def pump(a: FixSession, b: FixSession, clock) -> list:
    """Move bytes both ways until quiet; returns all events."""
    events = []
    for _ in range(50):
        moved = False
        for src, dst in ((a, b), (b, a)):
            data = src.data_to_send()
            if data:
                moved = True
                events += dst.on_bytes(data, clock.monotonic_ns(), clock.wall_ns())
        if not moved:
            return events
    raise AssertionError("sessions never went quiet")


def logged_on_pair(clock, **kw):
    initiator, acceptor = make_pair(clock, **kw)
    initiator.connection_made(clock.monotonic_ns(), clock.wall_ns())
    acceptor.connection_made(clock.monotonic_ns(), clock.wall_ns())
    events = pump(initiator, acceptor, clock)
    assert any(isinstance(e, LoggedOn) for e in events)
    assert initiator.logged_on and acceptor.logged_on
    return initiator, acceptor


def order(n: int) -> bytes:
    return to_body(
        NewOrderSingle(f"ORD{n}", "AAPL", Side.BUY, 100, "2", 1_700_000_000 * SECOND, 1_500_000)
    )


def test_logon_exchange_sets_sequence_numbers():
    clock = SimulatedClock()
    initiator, acceptor = logged_on_pair(clock)
    assert (initiator.next_sender_seq, initiator.next_target_seq) == (2, 2)
    assert (acceptor.next_sender_seq, acceptor.next_target_seq) == (2, 2)


def test_application_message_delivered_in_sequence():
    clock = SimulatedClock()
    initiator, acceptor = logged_on_pair(clock)
    initiator.send_body(b"D", order(1), clock.monotonic_ns(), clock.wall_ns())
    events = pump(initiator, acceptor, clock)
    delivered = [e.message for e in events if isinstance(e, AppMessageReceived)]
    assert [m[11] for m in delivered] == [b"ORD1"]
    assert acceptor.next_target_seq == 3


def test_heartbeat_then_test_request_then_disconnect_driven_by_time():
    clock = SimulatedClock()
    initiator, acceptor = logged_on_pair(clock, heartbeat=10)
    clock.advance(10 * SECOND)
    acceptor.poll(clock.monotonic_ns(), clock.wall_ns())
    sent = messages(acceptor.data_to_send())
    assert [m.msg_type for m in sent] == [b"0"]
    clock.advance(2 * SECOND)  # 12 s of silence from the initiator: 1.2 x HeartBtInt
    acceptor.poll(clock.monotonic_ns(), clock.wall_ns())
    sent = messages(acceptor.data_to_send())
    assert [(m.msg_type, m.get(112)) for m in sent] == [(b"1", b"TEST")]
    clock.advance(12 * SECOND)  # 24 s: 2.4 x HeartBtInt
    events = acceptor.poll(clock.monotonic_ns(), clock.wall_ns())
    assert any(isinstance(e, Disconnected) for e in events)


def test_gap_is_detected_and_filled_by_resend():
    clock = SimulatedClock()
    initiator, acceptor = logged_on_pair(clock)
    initiator.send_body(b"D", order(1), clock.monotonic_ns(), clock.wall_ns())
    lost = initiator.data_to_send()  # never reaches the acceptor
    assert lost
    initiator.send_body(b"D", order(2), clock.monotonic_ns(), clock.wall_ns())
    events = pump(initiator, acceptor, clock)
    delivered = [e.message for e in events if isinstance(e, AppMessageReceived)]
    # order 2 arrives first (seq 3 > expected 2): queued; the resend brings 2 then the queue runs
    assert [m[11] for m in delivered] == [b"ORD1", b"ORD2"]
    assert delivered[0].get(43) == b"Y" and 122 in delivered[0]
    assert acceptor.next_target_seq == 4 and initiator.next_sender_seq == 4


def test_order_sent_while_disconnected_waits_for_logon_and_is_resent():
    clock = SimulatedClock()
    initiator, acceptor = logged_on_pair(clock)
    initiator.connection_lost(clock.monotonic_ns())
    acceptor.connection_lost(clock.monotonic_ns())
    seq = initiator.send_body(
        b"D", order(7), clock.monotonic_ns(), clock.wall_ns()
    )  # journaled, its number used, nothing sent
    assert seq == 2 and initiator.data_to_send() == b""
    initiator.connection_made(clock.monotonic_ns(), clock.wall_ns())
    acceptor.connection_made(clock.monotonic_ns(), clock.wall_ns())
    logon = initiator.data_to_send()
    assert [m.msg_type for m in messages(logon)] == [b"A"]  # the Logon goes first, alone
    events = acceptor.on_bytes(logon, clock.monotonic_ns(), clock.wall_ns()) + pump(
        initiator, acceptor, clock
    )
    delivered = [e.message for e in events if isinstance(e, AppMessageReceived)]
    assert [m[11] for m in delivered] == [b"ORD7"]  # asked for after Logon, resent
    assert delivered[0].get(43) == b"Y"


def test_admin_messages_are_gap_filled_not_resent():
    clock = SimulatedClock()
    initiator, acceptor = logged_on_pair(clock)
    initiator.send(b"1", [(112, b"X")], clock.monotonic_ns(), clock.wall_ns())  # TestRequest, seq 2
    initiator.data_to_send()  # lost
    initiator.send_body(b"D", order(3), clock.monotonic_ns(), clock.wall_ns())  # seq 3, lost too
    initiator.data_to_send()
    clock.advance(SECOND)
    initiator.send(b"0", [], clock.monotonic_ns(), clock.wall_ns())  # seq 4 arrives: gap 2..3
    pump(initiator, acceptor, clock)
    assert acceptor.next_target_seq == 5
    assert initiator.next_sender_seq == 5


def test_sequence_too_low_without_possdup_logs_out():
    clock = SimulatedClock()
    initiator, acceptor = logged_on_pair(clock)
    stale = encode(
        b"FIX.4.4",
        [
            (35, b"0"),
            (34, b"1"),
            (49, b"CLIENT"),
            (52, TimestampFormatter()(clock.wall_ns())),
            (56, b"VENUE"),
        ],
    )
    events = acceptor.on_bytes(stale, clock.monotonic_ns(), clock.wall_ns())
    out = messages(acceptor.data_to_send())
    assert out[0].msg_type == b"5"
    assert out[0][58] == b"MsgSeqNum too low, expecting 2 but received 1"
    assert any(isinstance(e, Disconnected) for e in events)


def test_possdup_without_orig_sending_time_is_rejected():
    clock = SimulatedClock()
    _, acceptor = logged_on_pair(clock)
    now = TimestampFormatter()(clock.wall_ns())
    dup = encode(
        b"FIX.4.4",
        [(35, b"0"), (34, b"1"), (43, b"Y"), (49, b"CLIENT"), (52, now), (56, b"VENUE")],
    )
    events = acceptor.on_bytes(dup, clock.monotonic_ns(), clock.wall_ns())
    rejects = [e for e in events if isinstance(e, RejectSent)]
    assert rejects and rejects[0].tag == 122 and rejects[0].reason == 1
    assert acceptor.next_target_seq == 2  # not consumed


def test_garbled_message_is_ignored_without_consuming_a_number():
    clock = SimulatedClock()
    initiator, acceptor = logged_on_pair(clock)
    initiator.send(b"0", [], clock.monotonic_ns(), clock.wall_ns())
    good = initiator.data_to_send()
    bad = good.replace(b"10=", b"10=9")[:-2] + b"\x01"  # wrong checksum text
    events = acceptor.on_bytes(bad, clock.monotonic_ns(), clock.wall_ns())
    assert any(isinstance(e, GarbledIgnored) for e in events)
    assert acceptor.next_target_seq == 2
    acceptor.on_bytes(good, clock.monotonic_ns(), clock.wall_ns())
    assert acceptor.next_target_seq == 3


def test_sending_time_out_of_range_rejects_and_logs_out():
    clock = SimulatedClock()
    _, acceptor = logged_on_pair(clock)
    old = TimestampFormatter()(clock.wall_ns() - 200 * SECOND)
    msg = encode(b"FIX.4.4", [(35, b"0"), (34, b"2"), (49, b"CLIENT"), (52, old), (56, b"VENUE")])
    acceptor.on_bytes(msg, clock.monotonic_ns(), clock.wall_ns())
    out = messages(acceptor.data_to_send())
    assert [m.msg_type for m in out] == [b"3", b"5"]
    assert out[0][373] == b"10"


def test_logout_handshake():
    clock = SimulatedClock()
    initiator, acceptor = logged_on_pair(clock)
    initiator.logout(clock.monotonic_ns(), clock.wall_ns(), "bye")
    events = pump(initiator, acceptor, clock)
    disconnects = [e for e in events if isinstance(e, Disconnected)]
    assert len(disconnects) == 2  # acceptor answers and closes; initiator gets the answer


def test_logout_timeout_disconnects():
    clock = SimulatedClock()
    initiator, _ = logged_on_pair(clock)
    initiator.logout(clock.monotonic_ns(), clock.wall_ns())
    initiator.data_to_send()
    clock.advance(3 * SECOND)
    events = initiator.poll(clock.monotonic_ns(), clock.wall_ns())
    assert any(isinstance(e, Disconnected) for e in events)


def test_authentication_hook_refuses_logon():
    def authenticate(user, password, _logon):
        if (user, password) != ("alice", "secret"):
            raise LogonRejected("bad credentials")

    clock = SimulatedClock()
    initiator = FixSession(
        SessionSettings(
            "FIX.4.4", "CLIENT", "VENUE", "initiator", username="alice", password="nope"
        ),
    )
    acceptor = FixSession(
        SessionSettings("FIX.4.4", "VENUE", "CLIENT", "acceptor"), authenticate=authenticate
    )
    initiator.connection_made(0, clock.wall_ns())
    acceptor.connection_made(0, clock.wall_ns())
    events = acceptor.on_bytes(initiator.data_to_send(), 0, clock.wall_ns())
    out = messages(acceptor.data_to_send())
    assert [(m.msg_type, m[58]) for m in out] == [(b"5", b"bad credentials")]
    assert any(isinstance(e, Disconnected) for e in events)


def test_authentication_hook_accepts_good_credentials():
    seen = []
    clock = SimulatedClock()
    initiator = FixSession(
        SessionSettings(
            "FIX.4.2", "CLIENT", "VENUE", "initiator", username="alice", password="secret"
        ),
    )
    acceptor = FixSession(
        SessionSettings("FIX.4.2", "VENUE", "CLIENT", "acceptor"),
        authenticate=lambda u, p, _m: seen.append((u, p)),
    )
    initiator.connection_made(0, clock.wall_ns())
    acceptor.connection_made(0, clock.wall_ns())
    pump(initiator, acceptor, clock)
    assert seen == [("alice", "secret")] and acceptor.logged_on


def test_reset_seq_num_flag_resets_both_sides():
    clock = SimulatedClock()
    initiator, acceptor = logged_on_pair(clock)
    for n in range(3):
        initiator.send_body(b"D", order(n), clock.monotonic_ns(), clock.wall_ns())
    pump(initiator, acceptor, clock)
    initiator.connection_lost(0)
    acceptor.connection_lost(0)
    initiator = FixSession(
        SessionSettings("FIX.4.4", "CLIENT", "VENUE", "initiator", reset_on_logon=True),
        initiator.store,
    )
    initiator.connection_made(0, clock.wall_ns())
    acceptor.connection_made(0, clock.wall_ns())
    pump(initiator, acceptor, clock)
    assert acceptor.logged_on
    assert (acceptor.next_sender_seq, acceptor.next_target_seq) == (2, 2)


def test_first_message_not_logon_disconnects():
    clock = SimulatedClock()
    _, acceptor = make_pair(clock)
    acceptor.connection_made(0, clock.wall_ns())
    now = TimestampFormatter()(clock.wall_ns())
    hb = encode(b"FIX.4.4", [(35, b"0"), (34, b"1"), (49, b"CLIENT"), (52, now), (56, b"VENUE")])
    events = acceptor.on_bytes(hb, 0, clock.wall_ns())
    assert any(isinstance(e, Disconnected) for e in events)
    assert acceptor.data_to_send() == b""


@pytest.mark.parametrize("begin", ["FIX.4.2", "FIX.4.4"])
def test_both_versions_log_on(begin):
    clock = SimulatedClock()
    initiator, acceptor = make_pair(clock, begin=begin)
    initiator.connection_made(0, clock.wall_ns())
    acceptor.connection_made(0, clock.wall_ns())
    pump(initiator, acceptor, clock)
    assert initiator.logged_on and acceptor.logged_on


@pytest.mark.parametrize("text_size", [0, 150, 240, 400])
def test_framing_is_exact_for_short_and_long_payloads(text_size):
    """BodyLength and CheckSum around the 256-byte boundary of the one-call checksum; a
    SendingTime passed in is the one sent."""
    clock = SimulatedClock()
    initiator, _ = logged_on_pair(clock)
    stamp = initiator.format_time(clock.wall_ns())
    body = order(1) + (b"58=%s\x01" % (b"t" * text_size) if text_size else b"")
    initiator.send_body(b"D", body, clock.monotonic_ns(), clock.wall_ns(), stamp)
    (message,) = messages(initiator.data_to_send())  # decode checks BodyLength and CheckSum
    assert message[52] == stamp and message[11] == b"ORD1"
    assert len(message.get(58) or b"") == text_size
