"""The MoldUDP64 receiver against hostile and broken feeds, driven with bytes: sequence jumps
(spoofed or a late join), a full out-of-order buffer, a silent re-request server and a
publisher that restarts under a new session name."""

from __future__ import annotations

import pytest

from calarb.itch.moldudp64 import (
    MoldReceiver,
    MoldSender,
    RetransmissionServer,
    SpillFile,
    decode_request,
    encode_heartbeat,
    encode_packet,
)

SESSION = b"SESSION01 "
MS = 1_000_000
S = 1_000_000_000


def packet(sequence: int, *messages: bytes, session: bytes = SESSION) -> bytes:
    return encode_packet(session, sequence, list(messages))


def message(n: int) -> bytes:
    return f"m{n}".encode()


def live_receiver(**options) -> MoldReceiver:
    receiver = MoldReceiver(SESSION, **options)
    assert receiver.on_packet(packet(1, *map(message, range(1, 11))), 0) == [
        message(n) for n in range(1, 11)
    ]
    return receiver


def test_a_packet_a_billion_ahead_opens_no_gap_and_asks_only_a_bounded_range():
    receiver = live_receiver(max_sequence_jump=1000, max_request_count=100,
                             max_requests_in_flight=4)  # fmt: skip
    assert receiver.on_packet(packet(10**9, b"spoof"), 1 * MS) == []
    assert receiver.missing_ranges == [] and receiver.buffered_messages == 0
    assert receiver.stats.jumps_refused == 1 and receiver.stats.gaps_detected == 0
    assert receiver.last_refused_jump == (10**9 + 1, 11)
    requests = [decode_request(r) for r in receiver.poll(2 * MS)]
    assert [(r.sequence, r.count) for r in requests] == [(11, 100), (111, 100), (211, 100),
                                                         (311, 100)]  # fmt: skip
    # the live feed goes on and is delivered at once; the claim dies unconfirmed
    assert receiver.on_packet(packet(11, b"x", b"y"), 3 * MS) == [b"x", b"y"]
    assert receiver.poll(10 * S) == [] and not receiver.catching_up(10 * S)
    assert receiver.stats.messages_requested == 400
    assert receiver.on_packet(packet(13, b"z"), 10 * S) == [b"z"]


def test_twenty_spoofed_packets_far_ahead_are_not_delivered_instead_of_the_real_ones():
    receiver = live_receiver(max_sequence_jump=1000)
    for n in range(20):
        assert receiver.on_packet(packet(5000 + n, b"spoof"), MS) == []
    real = [message(n) for n in range(11, 31)]
    delivered = [m for n, m in enumerate(real, 11) for m in receiver.on_packet(packet(n, m), MS)]
    assert delivered == real
    assert receiver.stats.duplicates_dropped == 0 and receiver.stats.jumps_refused == 20


def test_a_late_joiner_catches_up_in_bounded_chunks_with_a_limited_number_in_flight():
    sender = MoldSender("SESSION01", max_payload=1400)
    server = RetransmissionServer.for_sender(sender)
    history = [message(n) for n in range(1, 100_001)]
    for m in history:
        sender.add(m)
    sender.flush()
    receiver = MoldReceiver(max_sequence_jump=5000, max_request_count=1000,
                            max_requests_in_flight=4)  # fmt: skip
    live = [m for m in (message(n) for n in range(100_001, 100_011))]
    for m in live:
        sender.add(m)
    assert receiver.on_packet(sender.flush()[0], 0) == []  # the first packet seen: 100,001
    assert receiver.catching_up(0)
    delivered: list[bytes] = []
    most_in_flight = 0
    now = 0
    while receiver.next_sequence <= 100_010 and now < 10 * S:
        now += MS
        requests = receiver.poll(now)
        most_in_flight = max(most_in_flight, len(receiver._in_flight))
        for request in requests:
            assert decode_request(request).count <= 1000
            for answer in server.on_request(request):
                delivered += receiver.on_packet(answer, now)
        if receiver.next_sequence > 100_000 - 5000 and now % (5 * MS) == 0:
            sender.add(message(0))
            for data in sender.flush():  # the live feed goes on; the last gap is small
                delivered += receiver.on_packet(data, now)
    assert delivered[:100_010] == history + live
    assert most_in_flight <= 4
    assert receiver.stats.requests_sent < 200  # ~100 chunks of 1000, no snowball


def test_the_out_of_order_buffer_is_bounded_and_what_it_dropped_is_asked_again():
    sender = MoldSender("SESSION01", max_payload=60)  # one message per packet
    server = RetransmissionServer.for_sender(sender)
    packets = [p for n in range(1, 501) for p in sender.add(message(n))] + sender.flush()
    receiver = MoldReceiver(max_buffered=50)
    delivered: list[bytes] = []
    for data in packets[1:]:  # sequence 1 is lost, the server does not answer yet
        delivered += receiver.on_packet(data, 0)
        assert receiver.buffered_messages <= 50
    assert delivered == [] and receiver.buffered_messages == 50
    assert receiver.stats.messages_overflowed + 50 + receiver.next_sequence - 1 < 500
    now = 0
    while receiver.next_sequence <= 500 and now < 5 * S:
        now += 200 * MS
        for request in receiver.poll(now):
            for answer in server.on_request(request):
                delivered += receiver.on_packet(answer, now)
        receiver.on_packet(encode_heartbeat(SESSION, 501), now)
    assert delivered == [message(n) for n in range(1, 501)]


def test_a_silent_server_is_asked_ever_less_often_and_recovery_restarts_at_once():
    receiver = live_receiver(request_timeout_ns=100 * MS, max_request_timeout_ns=1 * S)
    receiver.on_packet(packet(20, b"t"), 0)  # 11..19 lost
    sent = 0
    for now in range(0, 30 * S, 5 * MS):  # the subscriber polls every 5 ms for 30 s
        sent += len(receiver.poll(now))
    assert 30 <= sent <= 40  # 100, 200, 400, 800 ms, then every second: not 6,000
    assert receiver.request_timeout_now_ns == 1 * S
    assert receiver.oldest_gap_detected_ns == 0
    assert receiver.on_packet(packet(11, *map(message, range(11, 20))), 30 * S) != []
    assert not receiver.has_missing and receiver.oldest_gap_detected_ns is None


def test_a_new_session_is_followed_after_the_old_one_fell_silent():
    receiver = live_receiver(session_silence_ns=3 * S)
    new = b"SESSION02 "
    assert receiver.on_packet(packet(1, b"n1", session=new), 1 * S) == []
    assert receiver.on_packet(packet(11, b"old"), 2 * S) == [b"old"]  # the old one still talks
    assert receiver.on_packet(packet(2, b"n2", session=new), 4 * S) == []
    assert receiver.session_generation == 0 and receiver.stats.packets_wrong_session == 2
    # the silence counts from the first new packet after the old session last spoke (4 s)
    assert receiver.on_packet(packet(3, b"n3", session=new), 6 * S) == []  # 2 s: not yet
    assert receiver.on_packet(packet(3, b"n3", session=new), 7 * S) == []  # 3 s of silence
    assert receiver.session_generation == 1 and receiver.session == new
    assert receiver.previous_session == SESSION and receiver.stats.session_changes == 1
    assert receiver.missing_ranges == [(1, 3)]  # replay from 1 of the new session
    assert receiver.on_packet(packet(1, b"n1", b"n2"), 7 * S) == []  # the old name: dropped
    assert receiver.on_packet(packet(1, b"n1", b"n2", session=new), 7 * S) == [b"n1", b"n2",
                                                                               b"n3"]  # fmt: skip


def test_an_ended_session_is_followed_at_once_and_a_pinned_receiver_never_follows():
    from calarb.itch.moldudp64 import encode_end_of_session

    receiver = live_receiver()
    receiver.on_packet(encode_end_of_session(SESSION, 11), 1)
    assert receiver.on_packet(packet(1, b"a", session=b"NEXT      "), 2) == [b"a"]
    pinned = live_receiver(follow_new_sessions=False)
    for second in range(10):
        assert pinned.on_packet(packet(1, b"a", session=b"NEXT      "), second * S) == []
    assert pinned.session == SESSION


@pytest.mark.parametrize("name", ["max_sequence_jump", "max_buffered", "max_requests_in_flight"])
def test_bounds_must_be_positive(name):
    with pytest.raises(ValueError, match=name):
        MoldReceiver(**{name: 0})


def test_a_history_with_a_spill_file_keeps_a_bounded_window_and_answers_from_sequence_1(
    tmp_path,
):
    with (tmp_path / "history.bin").open("w+b") as file:
        sender = MoldSender("SESSION01", history_limit=100,
                            history_spill=SpillFile(file))  # fmt: skip
        server = RetransmissionServer.for_sender(sender)
        messages = [f"message {n}".encode() * (1 + n % 3) for n in range(1, 20_001)]
        for m in messages:
            sender.add(m)
        sender.flush()
        assert len(sender.history._messages) <= 125  # the window in memory
        assert sender.history.first_sequence == 1 and len(sender.history) == 20_000
        for start, count in ((1, 1024), (255, 3), (256, 1), (19_950, 100), (19_870, 50)):
            first, got = sender.history.get(start, count)
            assert first == start and got == messages[start - 1 : start - 1 + count][:count]
        receiver = MoldReceiver(max_request_count=1000)
        receiver.on_packet(encode_heartbeat(SESSION, 20_001), 0)  # a late joiner from 1
        delivered = []
        now = 0
        while receiver.next_sequence != 20_001 and now < 100:
            now += 1
            for request in receiver.poll(now * 200 * MS):
                for answer in server.on_request(request):
                    delivered += receiver.on_packet(answer, now * 200 * MS)
        assert delivered == messages
    no_spill = MoldSender("SESSION01", history_limit=100)
    for m in messages:
        no_spill.add(m)
    no_spill.flush()
    assert no_spill.history.get(1, 10) == (no_spill.history.first_sequence, [])
