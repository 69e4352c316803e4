"""Bad input, generated: nothing crashes, every case ends in a documented response.

Documented responses: ignore as garbled (GarbledIgnored, no sequence number consumed),
Reject(3) / BusinessMessageReject(j), or Logout and disconnect; or, for input that happens to
be valid, normal processing. Over 10 k generated cases in total.
"""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from calarb.core.clock import SimulatedClock
from calarb.fix.apps import EchoApplication
from calarb.fix.codec import FixFramer, FixMessage, GarbledMessage, decode, encode
from calarb.fix.config import SessionSettings
from calarb.fix.dictionary import DataDictionary
from calarb.fix.events import Disconnected, GarbledIgnored
from calarb.fix.session import FixSession
from calarb.fix.state import LOGOUT_PENDING, PEER_LOGGED_ON
from calarb.fix.timefmt import TimestampFormatter

FUZZ = settings(
    deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow], derandomize=True
)
SECOND = 1_000_000_000
ALLOWED_REPLIES = {b"0", b"1", b"2", b"3", b"4", b"5", b"j", b"D", b"F", b"G", b"H", b"d"}


@pytest.fixture(scope="module")
def dictionary(shared_data):
    return DataDictionary.from_xml(shared_data / "quickfix-acceptance/spec/FIX44.xml")


def logged_on_acceptor(dictionary, clock):
    session = FixSession(
        SessionSettings("FIX.4.4", "ISLD", "TW", "acceptor"),
        dictionary=dictionary,
        application=EchoApplication(),
    )
    session.connection_made(clock.monotonic_ns(), clock.wall_ns())
    now = TimestampFormatter()(clock.wall_ns())
    logon = encode(
        b"FIX.4.4",
        [(35, b"A"), (34, b"1"), (49, b"TW"), (52, now), (56, b"ISLD"), (98, b"0"), (108, b"30")],
    )
    session.on_bytes(logon, clock.monotonic_ns(), clock.wall_ns())
    session.data_to_send()
    assert session.logged_on
    return session


def replies(data: bytes) -> list[FixMessage]:
    framer = FixFramer()
    framer.feed(data)
    out = []
    while (item := framer.next_frame()) is not None:
        assert isinstance(item, bytes), "the engine must only send well-framed messages"
        out.append(decode(item))
    return out


def check_outcome(session: FixSession, events, target_before: int) -> None:
    sent = replies(session.data_to_send())
    assert {m.msg_type for m in sent} <= ALLOWED_REPLIES
    garbled_only = events and all(isinstance(e, GarbledIgnored) for e in events)
    # (garbage then a well-framed message with a wrong BeginString: that message is answered
    # by a Logout and consumed, as FIX says; the session is then logging out)
    if garbled_only and session.state not in LOGOUT_PENDING:
        assert session.next_target_seq == target_before
        assert sent == []
    if any(m.msg_type == b"5" for m in sent) and session.state not in LOGOUT_PENDING:
        raise AssertionError("a Logout went out without the session knowing")
    if any(isinstance(e, Disconnected) for e in events):
        assert not sent or sent[-1].msg_type in (b"5", b"3") or session.state in PEER_LOGGED_ON


@settings(FUZZ, max_examples=3000)
@given(st.binary(max_size=400))
def test_decoder_never_crashes_on_random_bytes(data):
    try:
        decode(data)
    except GarbledMessage as exc:
        assert exc.reason


def _valid_order(clock) -> bytes:
    now = TimestampFormatter()(clock.wall_ns())
    return encode(
        b"FIX.4.4",
        [(35, b"D"), (34, b"2"), (49, b"TW"), (52, now), (56, b"ISLD"), (11, b"ID"), (21, b"1"),
         (38, b"100"), (40, b"1"), (54, b"1"), (55, b"INTC"), (60, now)],
    )  # fmt: skip


mutations = st.lists(
    st.tuples(
        st.sampled_from(["flip", "delete", "insert", "soh"]),
        st.integers(0, 300),
        st.integers(0, 255),
    ),
    min_size=1,
    max_size=4,
)


@settings(FUZZ, max_examples=2500)
@given(mutations)
def test_session_survives_mutated_messages(dictionary, edits):
    clock = SimulatedClock()
    session = logged_on_acceptor(dictionary, clock)
    data = bytearray(_valid_order(clock))
    for kind, position, value in edits:
        position %= len(data) + 1
        if kind == "flip" and position < len(data):
            data[position] = value
        elif kind == "delete" and position < len(data):
            del data[position]
        elif kind == "insert":
            data.insert(position, value)
        elif kind == "soh":
            data.insert(position, 1)
    before = session.next_target_seq
    events = session.on_bytes(bytes(data), clock.monotonic_ns(), clock.wall_ns())
    check_outcome(session, events, before)


tags = st.one_of(
    st.sampled_from(
        [11, 21, 38, 40, 44, 54, 55, 60, 34, 49, 52, 56, 43, 97, 122, 386, 336, 10, 9, 8, 35]
    ),
    st.integers(-5, 10000),
)
values = st.one_of(
    st.sampled_from([b"", b"1", b"Y", b"ID", b"-1", b"20240101-00:00:00", b"+2", b"abc", b"2"]),
    st.binary(max_size=8).filter(lambda b: b"\x01" not in b),
)


@settings(FUZZ, max_examples=3000)
@given(
    st.sampled_from([b"D", b"0", b"1", b"2", b"4", b"5", b"3", b"8", b"A", b"*", b""]),
    st.lists(st.tuples(tags, values), max_size=12),
)
def test_session_survives_random_fields(dictionary, msg_type, fields):
    clock = SimulatedClock()
    session = logged_on_acceptor(dictionary, clock)
    now = TimestampFormatter()(clock.wall_ns())
    raw = encode(
        b"FIX.4.4", [(35, msg_type), (34, b"2"), (49, b"TW"), (52, now), (56, b"ISLD"), *fields]
    )
    before = session.next_target_seq
    events = session.on_bytes(raw, clock.monotonic_ns(), clock.wall_ns())
    check_outcome(session, events, before)


@settings(FUZZ, max_examples=1500)
@given(st.lists(st.integers(1, 60), min_size=1, max_size=20), st.binary(max_size=30))
def test_stream_cut_anywhere_yields_the_same_messages(cuts, junk):
    clock = SimulatedClock()
    one = _valid_order(clock)
    stream = junk.replace(b"8=", b"") + one + one
    framer = FixFramer()
    frames = []
    pos = 0
    for cut in [*cuts, len(stream)]:
        framer.feed(stream[pos : pos + cut])
        pos += cut
        while (item := framer.next_frame()) is not None:
            if isinstance(item, bytes):
                frames.append(item)
    framer.feed(stream[pos:])
    while (item := framer.next_frame()) is not None:
        if isinstance(item, bytes):
            frames.append(item)
    assert frames[-2:] == [one, one]


def test_ten_megabyte_message_is_refused_without_buffering_it(dictionary):
    clock = SimulatedClock()
    session = logged_on_acceptor(dictionary, clock)
    huge = b"8=FIX.4.4\x019=10485760\x0135=D\x01" + b"58=" + b"x" * (10 << 20) + b"\x0110=000\x01"
    events = []
    for start in range(0, len(huge), 1 << 16):
        events += session.on_bytes(
            huge[start : start + (1 << 16)], clock.monotonic_ns(), clock.wall_ns()
        )
    assert any(isinstance(e, GarbledIgnored) for e in events)
    assert session._framer.buffered < (2 << 20)
    assert session.next_target_seq == 2
    # the session still works afterwards
    session.on_bytes(_valid_order(clock), clock.monotonic_ns(), clock.wall_ns())
    assert session.next_target_seq == 3


def test_slow_loris_peer_is_disconnected(dictionary):
    clock = SimulatedClock()
    session = logged_on_acceptor(dictionary, clock)
    trickle = _valid_order(clock)[:-5]  # never completes
    events = []
    for byte in trickle:
        clock.advance(SECOND)
        events += session.on_bytes(bytes([byte]), clock.monotonic_ns(), clock.wall_ns())
        events += session.poll(clock.monotonic_ns(), clock.wall_ns())
        if any(isinstance(e, Disconnected) for e in events):
            break
    assert any(isinstance(e, Disconnected) for e in events)
    assert clock.monotonic_ns() <= 80 * SECOND  # 2.4 x HeartBtInt(30) after the last message


def test_slow_loris_before_logon_hits_the_logon_timeout():
    clock = SimulatedClock()
    session = FixSession(SessionSettings("FIX.4.4", "ISLD", "TW", "acceptor"))
    session.connection_made(0, clock.wall_ns())
    events = []
    for _ in range(20):
        clock.advance(SECOND)
        events += session.on_bytes(b"8", clock.monotonic_ns(), clock.wall_ns()) + session.poll(
            clock.monotonic_ns(), clock.wall_ns()
        )
    assert any(isinstance(e, Disconnected) for e in events)
