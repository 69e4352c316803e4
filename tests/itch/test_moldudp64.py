"""MoldUDP64 framing and the sans-I/O sender, re-request server and receiver, driven with bytes."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from calarb.itch.codec import encode
from calarb.itch.messages import AddOrder
from calarb.itch.moldudp64 import (
    DEFAULT_MAX_PAYLOAD,
    HEADER_LENGTH,
    MessageHistory,
    MoldDecodeError,
    MoldReceiver,
    MoldSender,
    RetransmissionServer,
    decode_packet,
    decode_request,
    encode_end_of_session,
    encode_heartbeat,
    encode_packet,
    encode_request,
    pack_messages,
    session_bytes,
)

SESSION = b"SESSION01 "
SESSION_HEX = SESSION.hex()
MS = 1_000_000


def seq_hex(sequence: int) -> str:
    return sequence.to_bytes(8, "big").hex()


def add_order(reference: int) -> bytes:
    """A real ITCH 'A' message (36 bytes) whose order reference identifies it."""
    return encode(
        AddOrder(
            stock_locate=1 + reference % 7,
            tracking_number=0,
            timestamp=34_200_000_000_000 + reference,
            order_reference_number=reference,
            buy_sell_indicator="B" if reference % 2 else "S",
            shares=100 * (1 + reference % 5),
            stock="AAPL",
            price=1_500_000 + reference % 100,
        )
    )


def packet(sequence: int, *messages: bytes) -> bytes:
    return encode_packet(SESSION, sequence, list(messages))


def msgs(first: int, last: int) -> list[bytes]:
    """Distinct payloads for sequences first..last inclusive."""
    return [f"m{n}".encode() for n in range(first, last + 1)]


# --- framing ---------------------------------------------------------------------------------


def test_packet_bytes_follow_the_spec_layout():
    data = packet(5, b"ab", b"xyz")
    assert data == bytes.fromhex(
        "53455353494f4e303120" + "0000000000000005" + "0002" + "0002" + "6162" + "0003" + "78797a"
    )
    decoded = decode_packet(data)
    assert decoded.session == SESSION
    assert decoded.sequence == 5
    assert decoded.message_count == 2
    assert decoded.messages == (b"ab", b"xyz")
    assert decoded.next_sequence == 7
    assert not decoded.is_heartbeat and not decoded.is_end_of_session


def test_heartbeat_and_end_of_session_bytes():
    heartbeat = encode_heartbeat(SESSION, 42)
    assert heartbeat == bytes.fromhex(SESSION_HEX + seq_hex(42) + "0000")
    end = encode_end_of_session(SESSION, 42)
    assert end == bytes.fromhex(SESSION_HEX + seq_hex(42) + "ffff")
    assert decode_packet(heartbeat).is_heartbeat
    decoded_end = decode_packet(end)
    assert decoded_end.is_end_of_session and decoded_end.messages == ()
    assert decoded_end.sequence == 42


def test_request_bytes_follow_the_spec_layout():
    request = encode_request(SESSION, 1_000_000_007, 300)
    assert request == bytes.fromhex(SESSION_HEX + seq_hex(1_000_000_007) + "012c")
    decoded = decode_request(request)
    assert (decoded.session, decoded.sequence, decoded.count) == (SESSION, 1_000_000_007, 300)
    with pytest.raises(ValueError, match="outside 0..65535"):
        encode_request(SESSION, 1, 70_000)


def test_real_itch_messages_round_trip_through_a_packet():
    messages = [add_order(n) for n in range(30)]
    decoded = decode_packet(packet(1, *messages))
    assert list(decoded.messages) == messages
    assert all(len(m) == 36 for m in decoded.messages)


@pytest.mark.parametrize(
    ("data", "offset", "reason"),
    [
        (SESSION + b"\x00" * 5, 0, "short header: 15 bytes"),
        (packet(1, b"abc")[:-1], 20, "declares length 3 but only 2 bytes remain"),
        (packet(1, b"abc", b"de")[:-4], 25, "count mismatch: header declares 2 messages"),
        (packet(1, b"abc", b"de")[:-3], 25, "truncated length prefix"),
        (packet(1, b"abc") + b"\x00", 25, "1 bytes follow the 1 declared message blocks"),
        (encode_heartbeat(SESSION, 3) + b"xx", 20, "2 unexpected bytes after a heartbeat"),
        (encode_end_of_session(SESSION, 3) + b"x", 20, "after a end-of-session packet"),
        (SESSION + (2**64 - 1).to_bytes(8, "big") + b"\x00\x02\x00\x00\x00\x00", 10, "overflows"),
    ],
)
def test_malformed_packets_name_offset_and_fault(data, offset, reason):
    with pytest.raises(MoldDecodeError) as caught:
        decode_packet(data)
    assert caught.value.offset == offset
    assert reason in str(caught.value)
    assert f"byte offset {offset}" in str(caught.value)


def test_malformed_request_names_offset():
    with pytest.raises(MoldDecodeError, match="request packet is 19 bytes, expected exactly 20"):
        decode_request(encode_request(SESSION, 1, 1)[:-1])


def test_session_names_are_padded_and_checked():
    assert session_bytes("ABC123") == b"ABC123    "
    assert session_bytes(b"0123456789") == b"0123456789"
    for bad in ("TOOLONGSESSION", "", "has space", "dash-1"):
        with pytest.raises(ValueError):
            session_bytes(bad)


# --- sender and history ----------------------------------------------------------------------


def test_sender_fills_packets_up_to_the_payload_limit():
    sender = MoldSender("SESSION01")
    messages = [add_order(n) for n in range(1000)]
    packets = []
    for message in messages:
        packets += sender.add(message)
    assert sender.pending_messages > 0
    packets += sender.flush()
    assert sender.flush() == []
    per_packet = (DEFAULT_MAX_PAYLOAD - HEADER_LENGTH) // (2 + 36)
    assert per_packet == 38  # (1472 - 20) // 38
    decoded = [decode_packet(p) for p in packets]
    assert all(len(p) <= DEFAULT_MAX_PAYLOAD for p in packets)
    assert [d.message_count for d in decoded[:-1]] == [per_packet] * (len(decoded) - 1)
    assert [d.sequence for d in decoded] == list(range(1, 1001, per_packet))
    assert [m for d in decoded for m in d.messages] == messages
    assert sender.next_sequence == sender.sent_sequence == 1001


def test_sender_heartbeat_flushes_and_announces_next_sequence():
    sender = MoldSender("SESSION01", first_sequence=10)
    assert sender.heartbeat() == [encode_heartbeat(SESSION, 10)]
    assert sender.add(b"hello") == []
    assert sender.heartbeat() == [packet(10, b"hello"), encode_heartbeat(SESSION, 11)]
    assert sender.end_of_session() == [encode_end_of_session(SESSION, 11)]
    assert sender.heartbeat() == [encode_end_of_session(SESSION, 11)]
    with pytest.raises(RuntimeError, match="has ended"):
        sender.add(b"late")


def test_sender_rejects_a_message_that_fits_no_packet():
    sender = MoldSender("S1", max_payload=100)
    sender.add(b"x" * 78)  # 20 header + 2 length + 78 = 100
    with pytest.raises(ValueError, match="does not fit in a 100-byte packet"):
        sender.add(b"x" * 79)


def test_pack_messages_builds_the_same_packets_as_the_sender():
    messages = [add_order(n) for n in range(100)]
    sender = MoldSender("SESSION01", first_sequence=50, max_payload=300)
    from_sender = [p for m in messages for p in sender.add(m)] + sender.flush()
    assert pack_messages(SESSION, 50, messages, 300) == from_sender
    assert [decode_packet(p).message_count for p in from_sender[:2]] == [7, 7]  # 20 + 7 * 38
    with pytest.raises(ValueError, match="message of 300 bytes does not fit in 300"):
        pack_messages(SESSION, 1, [b"x" * 300], 300)


def test_history_is_bounded_and_slices_by_sequence():
    history = MessageHistory(first_sequence=1, limit=100)
    for start in range(1, 1001, 10):
        history.extend(msgs(start, start + 9))
    assert history.next_sequence == 1001
    assert history.first_sequence == 901
    assert len(history) == 100
    assert history.get(950, 3) == (950, msgs(950, 952))
    assert history.get(890, 20) == (901, msgs(901, 909))  # evicted prefix left out
    assert history.get(995, 20) == (995, msgs(995, 1000))  # unsent tail left out
    assert history.get(1001, 5) == (1001, [])


# --- retransmission server -------------------------------------------------------------------


def make_server(count: int = 100, **options) -> tuple[MoldSender, RetransmissionServer]:
    sender = MoldSender("SESSION01", max_payload=60)
    for message in msgs(1, count):
        sender.add(message)
    sender.flush()
    return sender, RetransmissionServer.for_sender(sender, **options)


def test_server_answers_a_request_with_downstream_packets():
    _, server = make_server()
    answer = server.on_request(encode_request(SESSION, 7, 3))
    assert answer == [packet(7, b"m7", b"m8", b"m9")]
    big = server.on_request(encode_request(SESSION, 1, 40))
    assert all(len(p) <= 60 for p in big) and len(big) > 1
    assert [m for p in big for m in decode_packet(p).messages] == msgs(1, 40)
    assert server.stats.messages_resent == 43


def test_server_caps_answers_and_ignores_bad_requests():
    _, server = make_server(max_messages_per_answer=5)
    answer = server.on_request(encode_request(SESSION, 10, 50))
    assert [m for p in answer for m in decode_packet(p).messages] == msgs(10, 14)
    assert server.on_request(encode_request(b"OTHER     ", 10, 5)) == []
    assert server.on_request(b"garbage") == []
    assert server.on_request(encode_request(SESSION, 10, 0)) == []
    assert server.on_request(encode_request(SESSION, 101, 5)) == []  # not sent yet
    assert server.on_request(encode_request(SESSION, 98, 5)) == [packet(98, *msgs(98, 100))]
    stats = server.stats
    assert (stats.requests_received, stats.requests_bad, stats.requests_wrong_session) == (6, 1, 1)
    assert stats.requests_unavailable == 2  # the future range and the clipped tail
    assert "request packet is 7 bytes" in str(server.last_error)


# --- receiver --------------------------------------------------------------------------------


def test_in_order_packets_are_delivered_without_requests():
    receiver = MoldReceiver()
    assert receiver.on_packet(packet(1, b"a", b"b"), 0) == [b"a", b"b"]
    assert receiver.on_packet(packet(3, b"c"), 1) == [b"c"]
    assert receiver.poll(10 * MS) == []
    assert receiver.session == SESSION
    assert receiver.next_sequence == 4
    assert receiver.stats.messages_delivered == 3
    assert receiver.stats.gaps_detected == 0


def test_gap_produces_the_exact_request_and_the_answer_fills_it():
    receiver = MoldReceiver()
    assert receiver.on_packet(packet(1, *msgs(1, 3)), 0) == msgs(1, 3)
    assert receiver.on_packet(packet(8, *msgs(8, 9)), 1) == []  # 4..7 missing
    assert receiver.missing_ranges == [(4, 8)]
    assert receiver.stats.gaps_detected == 1
    assert receiver.poll(2) == [bytes.fromhex(SESSION_HEX + seq_hex(4) + "0004")]
    assert receiver.poll(3) == []  # already asked, not timed out
    assert receiver.on_packet(packet(4, *msgs(4, 7)), 4) == msgs(4, 9)
    assert receiver.stats.gaps_recovered == 1
    assert receiver.stats.requests_sent == 1
    assert not receiver.has_missing
    assert receiver.poll(5) == []


def test_out_of_order_packets_are_buffered_and_released_in_order():
    receiver = MoldReceiver()
    assert receiver.on_packet(packet(3, b"c"), 0) == []
    assert receiver.on_packet(packet(4, b"d", b"e"), 0) == []
    assert receiver.buffered_messages == 3
    assert receiver.on_packet(packet(2, b"b"), 0) == []
    assert receiver.missing_ranges == [(1, 2)]
    assert receiver.on_packet(packet(1, b"a"), 0) == [b"a", b"b", b"c", b"d", b"e"]
    assert receiver.stats.gaps_detected == receiver.stats.gaps_recovered == 1


def test_duplicates_and_old_messages_are_dropped():
    receiver = MoldReceiver()
    receiver.on_packet(packet(1, b"a", b"b"), 0)
    assert receiver.on_packet(packet(1, b"a", b"b"), 0) == []
    receiver.on_packet(packet(5, b"e"), 0)
    assert receiver.on_packet(packet(5, b"e"), 0) == []  # duplicate of a buffered message
    assert receiver.on_packet(packet(2, b"b", b"c", b"d"), 0) == [b"c", b"d", b"e"]
    assert receiver.stats.duplicates_dropped == 4
    assert receiver.stats.messages_delivered == 5


def test_heartbeat_reveals_a_lost_tail():
    receiver = MoldReceiver()
    receiver.on_packet(packet(1, b"a"), 0)
    assert receiver.on_packet(encode_heartbeat(SESSION, 2), 1) == []
    assert receiver.stats.gaps_detected == 0
    assert receiver.on_packet(encode_heartbeat(SESSION, 6), 2) == []
    assert receiver.missing_ranges == [(2, 6)]
    assert receiver.poll(3) == [encode_request(SESSION, 2, 4)]
    assert receiver.stats.heartbeats_received == 2


def test_request_is_sent_again_after_the_timeout():
    receiver = MoldReceiver(request_timeout_ns=50 * MS)
    receiver.on_packet(packet(1, b"a"), 0)
    receiver.on_packet(packet(4, b"d"), 0)
    first = receiver.poll(1 * MS)
    assert first == [encode_request(SESSION, 2, 2)]
    assert receiver.poll(50 * MS) == []  # 49 ms after sending
    assert receiver.poll(51 * MS) == first
    receiver.on_packet(packet(2, b"b"), 52 * MS)  # half of the answer arrives
    assert receiver.poll(200 * MS) == [encode_request(SESSION, 3, 1)]
    assert receiver.stats.requests_sent == 3


def test_requests_are_capped_and_split():
    receiver = MoldReceiver(max_request_count=100, max_requests_per_poll=2)
    receiver.on_packet(encode_heartbeat(SESSION, 351), 0)
    assert receiver.poll(0) == [encode_request(SESSION, 1, 100), encode_request(SESSION, 101, 100)]
    assert receiver.poll(1) == [encode_request(SESSION, 201, 100), encode_request(SESSION, 301, 50)]
    assert receiver.poll(2) == []


def test_partially_filled_gap_requests_only_the_holes():
    receiver = MoldReceiver()
    receiver.on_packet(encode_heartbeat(SESSION, 11), 0)
    receiver.on_packet(packet(4, b"d", b"e"), 0)
    receiver.on_packet(packet(8, b"h"), 0)
    assert receiver.missing_ranges == [(1, 4), (6, 8), (9, 11)]
    assert receiver.poll(0) == [
        encode_request(SESSION, 1, 3),
        encode_request(SESSION, 6, 2),
        encode_request(SESSION, 9, 2),
    ]
    assert receiver.stats.gaps_detected == 1


def test_request_delay_tolerates_reordering():
    receiver = MoldReceiver(request_delay_ns=5 * MS)
    receiver.on_packet(packet(2, b"b"), 0)
    assert receiver.poll(4 * MS) == []
    assert receiver.on_packet(packet(1, b"a"), 4 * MS) == [b"a", b"b"]
    assert receiver.poll(10 * MS) == []
    assert receiver.stats.requests_sent == 0


def test_other_sessions_are_rejected():
    receiver = MoldReceiver()
    receiver.on_packet(packet(1, b"a"), 0)
    other = encode_packet(b"OTHER     ", 2, [b"x"])
    assert receiver.on_packet(other, 0) == []
    assert receiver.on_packet(encode_heartbeat(b"OTHER     ", 99), 0) == []
    assert receiver.stats.packets_wrong_session == 2
    assert not receiver.has_missing
    pinned = MoldReceiver("ABC")
    assert pinned.on_packet(packet(1, b"a"), 0) == []
    assert pinned.stats.packets_wrong_session == 1


def test_malformed_packets_are_counted_not_fatal():
    receiver = MoldReceiver()
    assert receiver.on_packet(b"", 0) == []
    assert receiver.on_packet(packet(1, b"abc")[:-1], 0) == []
    assert receiver.session is None  # nothing learnt from bad bytes
    assert receiver.on_packet(packet(1, b"abc"), 0) == [b"abc"]
    assert receiver.stats.packets_bad == 2
    assert receiver.last_error is not None and receiver.last_error.offset == 20


def test_late_joiner_starts_at_the_first_packet_seen():
    receiver = MoldReceiver(first_sequence=None)
    assert receiver.on_packet(packet(1000, b"x"), 0) == [b"x"]
    assert receiver.on_packet(packet(999, b"w"), 0) == []
    assert receiver.stats.duplicates_dropped == 1
    assert not receiver.has_missing


def test_end_of_session_finishes_once_everything_arrived():
    receiver = MoldReceiver()
    receiver.on_packet(packet(1, b"a"), 0)
    receiver.on_packet(encode_end_of_session(SESSION, 3), 0)
    assert receiver.end_of_session and receiver.end_sequence == 3
    assert not receiver.finished
    assert receiver.poll(0) == [encode_request(SESSION, 2, 1)]
    receiver.on_packet(packet(2, b"b"), 1)
    assert receiver.finished


def test_sender_server_and_receiver_recover_a_lost_packet_end_to_end():
    sender = MoldSender("SESSION01", max_payload=200)
    server = RetransmissionServer.for_sender(sender)
    messages = [add_order(n) for n in range(100)]
    packets = [p for m in messages for p in sender.add(m)] + sender.end_of_session()
    receiver = MoldReceiver()
    delivered = []
    for index, data in enumerate(packets):
        if index != 3:  # lost on the wire
            delivered += receiver.on_packet(data, 0)
    for request in receiver.poll(0):
        for answer in server.on_request(request):
            delivered += receiver.on_packet(answer, 1)
    assert delivered == messages
    assert receiver.finished


# --- property: any loss / duplication / order, then re-requests, delivers exactly once --------


@st.composite
def faulty_feeds(draw):
    sizes = draw(st.lists(st.integers(0, 40), min_size=1, max_size=150))
    messages = [bytes([n % 251]) * size + n.to_bytes(3, "big") for n, size in enumerate(sizes)]
    max_payload = draw(st.integers(70, 400))
    sender = MoldSender("PROP1", max_payload=max_payload)
    packets = [p for m in messages for p in sender.add(m)] + sender.flush()
    copies = draw(st.lists(st.integers(0, 3), min_size=len(packets), max_size=len(packets)))
    wire = [p for p, n in zip(packets, copies, strict=True) for _ in range(n)]
    wire = draw(st.permutations(wire))
    tail = draw(st.sampled_from(["heartbeat", "end"]))
    wire.append(sender.heartbeat()[0] if tail == "heartbeat" else sender.end_of_session()[-1])
    answer_losses = draw(st.lists(st.booleans(), max_size=20))
    options = {
        "server_cap": draw(st.integers(1, 50)),
        "request_cap": draw(st.integers(1, 60)),
        "per_poll": draw(st.integers(1, 8)),
    }
    return messages, sender, wire, answer_losses, options


@settings(max_examples=300, deadline=None)
@given(faulty_feeds())
def test_any_fault_pattern_then_retransmission_delivers_everything_once_in_order(feed):
    messages, sender, wire, answer_losses, options = feed
    server = RetransmissionServer.for_sender(sender, max_messages_per_answer=options["server_cap"])
    timeout = 10 * MS
    receiver = MoldReceiver(
        request_timeout_ns=timeout,
        max_request_count=options["request_cap"],
        max_requests_per_poll=options["per_poll"],
    )
    now = 0
    delivered = []
    for data in wire:
        delivered += receiver.on_packet(data, now)
    losses = iter(answer_losses)
    for _ in range(10_000):
        requests = receiver.poll(now)
        for request in requests:
            for answer in server.on_request(request):
                if not next(losses, False):  # some answers are lost too
                    delivered += receiver.on_packet(answer, now)
        if not receiver.has_missing:
            break
        now += timeout
    assert delivered == messages
    stats = receiver.stats
    assert stats.messages_delivered == len(messages)
    assert stats.gaps_recovered == stats.gaps_detected
    assert receiver.next_sequence == len(messages) + 1
    assert receiver.buffered_messages == 0
    assert receiver.finished == wire[-1].endswith(b"\xff\xff")


def test_one_message_packets_in_line_take_the_same_checks_as_any_packet():
    receiver = MoldReceiver(SESSION)
    good = packet(1, b"abc")
    assert receiver.on_packet(good[:-1], 0) == []  # block length beyond packet end
    assert receiver.on_packet(good + b"x", 0) == []  # a byte after the declared block
    assert receiver.stats.packets_bad == 2 and receiver.next_sequence == 1
    assert receiver.on_packet(encode_packet(b"OTHER     ", 1, [b"abc"]), 0) == []
    assert receiver.stats.packets_wrong_session == 1
    assert receiver.on_packet(good, 0) == [b"abc"]
    assert receiver.on_packet(bytearray(packet(2, b"de")), 0) == [b"de"]
    assert receiver.on_packet(memoryview(packet(3, b"f")), 0) == [b"f"]
    assert receiver.on_packet(good, 0) == []  # a duplicate
    stats = receiver.stats
    assert (stats.messages_delivered, stats.duplicates_dropped, receiver.next_sequence) == (3, 1, 4)
    assert all(type(message) is bytes for message in receiver.on_packet(packet(4, b"g"), 0))
