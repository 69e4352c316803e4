"""The MoldUDP64 receiver: packets in any order, with losses and duplicates, in; the session's
messages delivered exactly once in sequence order, and request packets to send, out.

Every packet may be hostile (the transport keeps out other sources; this core bounds what a
packet of the right source can do): a sequence number further than `max_sequence_jump` beyond
the highest trusted one is not trusted (no gap opens to it; the re-request server is asked the
way there in bounded chunks, `max_requests_in_flight` at a time, which is also how a late
joiner catches up), the out-of-order buffer holds at most `max_buffered` messages, and an
unanswered request is sent again with a timeout that doubles up to `max_request_timeout_ns`.

Sans-I/O: it opens no socket and reads no clock (the time is passed in). Its in-order
one-message fast path is the first step of tick to trade. The asyncio adapter is
`calarb.itch.transport.MoldSubscriber`; the framing is `calarb.itch.mold_packets`.
"""

from __future__ import annotations

from bisect import bisect_right
from dataclasses import dataclass, fields
from operator import itemgetter

from calarb.itch.mold_packets import (
    BLOCK_LENGTH_SIZE,
    DEFAULT_MAX_BUFFERED,
    DEFAULT_MAX_MESSAGES_PER_ANSWER,
    DEFAULT_MAX_REQUEST_TIMEOUT_NS,
    DEFAULT_MAX_REQUESTS_IN_FLIGHT,
    DEFAULT_MAX_REQUESTS_PER_POLL,
    DEFAULT_MAX_SEQUENCE_JUMP,
    DEFAULT_REQUEST_TIMEOUT_NS,
    DEFAULT_SESSION_SILENCE_NS,
    END_OF_SESSION_COUNT,
    HEADER,
    HEADER_LENGTH,
    MAX_REQUEST_COUNT,
    MoldDecodeError,
    decode_packet,
    encode_request,
    session_bytes,
)

_unpack_header = HEADER.unpack_from
_ONE_BLOCK_START = HEADER_LENGTH + BLOCK_LENGTH_SIZE  # where a packet's first message starts


@dataclass(slots=True)
class ReceiverStats:
    packets_received: int = 0
    packets_bad: int = 0
    packets_wrong_session: int = 0
    heartbeats_received: int = 0
    messages_delivered: int = 0
    duplicates_dropped: int = 0
    gaps_detected: int = 0
    gaps_recovered: int = 0
    requests_sent: int = 0
    messages_requested: int = 0
    requests_timed_out: int = 0
    jumps_refused: int = 0  # packets too far ahead to trust (see max_sequence_jump)
    messages_overflowed: int = 0  # not buffered: the out-of-order buffer was full
    session_changes: int = 0  # new session names followed (a restarted publisher)

    def as_dict(self) -> dict[str, int]:
        return {field.name: getattr(self, field.name) for field in fields(self)}


_start_of = itemgetter(0)


class MoldReceiver:
    """Turns downstream packets, in any order and with losses and duplicates, into the session's
    messages delivered exactly once in sequence order, and tells what to re-request.

    - The session is learnt from the first well-formed packet unless given; packets of
      another session are dropped and counted, until the current session has ended or been
      silent for `session_silence_ns` while the other one speaks: then the receiver follows
      the new session (a restarted publisher) from its `first_sequence` and counts it in
      `stats.session_changes` and `session_generation` (the consumer resets its books).
    - Delivery starts at `first_sequence` (1, the start of a session); None starts at the
      sequence of the first packet seen (a late joiner that does not want the past).
    - A gap is detected when a packet (or a heartbeat / end of session, whose sequence is the
      next expected one) lies beyond the highest sequence seen, by at most
      `max_sequence_jump`; it is recovered when all its messages arrived. Messages beyond a
      gap are buffered (at most `max_buffered`; the rest is dropped, to be asked again).
    - A packet further ahead is a claim, not a fact: nothing is buffered or opened, and for
      `claim_ttl_ns` after it `poll` asks for the next messages after the trusted ones in
      chunks (catching up); answers of the re-request server make the way there trusted.
    - `poll(now_ns)` returns request packets for missing ranges that are not already
      requested, each for at most `max_request_count` messages, at most
      `max_requests_in_flight` unanswered at once; a request with no complete answer after
      the timeout is sent again, the timeout doubling (up to `max_request_timeout_ns`) while
      nothing arrives. Gaps younger than `request_delay_ns` wait (tolerance for reordering).
    """

    def __init__(
        self,
        session: str | bytes | None = None,
        *,
        first_sequence: int | None = 1,
        request_timeout_ns: int = DEFAULT_REQUEST_TIMEOUT_NS,
        request_delay_ns: int = 0,
        max_request_count: int = DEFAULT_MAX_MESSAGES_PER_ANSWER,
        max_requests_per_poll: int = DEFAULT_MAX_REQUESTS_PER_POLL,
        max_requests_in_flight: int = DEFAULT_MAX_REQUESTS_IN_FLIGHT,
        max_request_timeout_ns: int = DEFAULT_MAX_REQUEST_TIMEOUT_NS,
        max_sequence_jump: int = DEFAULT_MAX_SEQUENCE_JUMP,
        max_buffered: int = DEFAULT_MAX_BUFFERED,
        session_silence_ns: int = DEFAULT_SESSION_SILENCE_NS,
        follow_new_sessions: bool = True,
    ) -> None:
        if not 1 <= max_request_count <= MAX_REQUEST_COUNT:
            raise ValueError(
                f"max request count {max_request_count} outside 1..{MAX_REQUEST_COUNT}"
            )
        for name, value in (
            ("max_requests_per_poll", max_requests_per_poll),
            ("max_requests_in_flight", max_requests_in_flight),
            ("max_sequence_jump", max_sequence_jump),
            ("max_buffered", max_buffered),
        ):
            if value < 1:
                raise ValueError(f"{name} {value} must be at least 1")
        self.session: bytes | None = None if session is None else session_bytes(session)
        self.request_timeout_ns = request_timeout_ns
        self.max_request_timeout_ns = max(max_request_timeout_ns, request_timeout_ns)
        self.request_delay_ns = request_delay_ns
        self.max_request_count = max_request_count
        self.max_requests_per_poll = max_requests_per_poll
        self.max_requests_in_flight = max_requests_in_flight
        self.max_sequence_jump = max_sequence_jump
        self.max_buffered = max_buffered
        self.session_silence_ns = session_silence_ns
        self.claim_ttl_ns = 3 * session_silence_ns
        self.follow_new_sessions = follow_new_sessions
        self.stats = ReceiverStats()
        self.last_error: MoldDecodeError | None = None
        self.session_generation = 0
        """Incremented each time a new session is followed (compare it to notice a change)."""
        self.previous_session: bytes | None = None
        self.last_refused_jump: tuple[int, int] | None = None  # (sequence claimed, trusted high)
        self._first_sequence = first_sequence
        self._foreign_session: bytes | None = None
        self._foreign_since_ns = 0
        self._own_packets_mark = -1
        self._reset_sequencing()

    def _reset_sequencing(self) -> None:
        first_sequence = self._first_sequence
        self.end_of_session = False
        self.end_sequence: int | None = None  # next sequence announced by end of session
        self._started = first_sequence is not None
        self._next = first_sequence or 1  # next sequence to deliver
        self._high = self._next  # one past the highest sequence known to exist
        self._buffer: dict[int, bytes] = {}  # received out of order, all in (_next, _high)
        self._missing: list[list[int]] = []  # sorted disjoint [start, end, gap_id], >= _next
        self._gap_remaining: dict[int, int] = {}
        self._gap_detected_ns: dict[int, int] = {}
        self._in_flight: list[tuple[int, int, int]] = []  # (start, end, sent_ns) requests
        self._claimed_high = 0  # one past the highest untrusted sequence claimed
        self._claim_ns = 0
        self._timeout_ns = self.request_timeout_ns
        self._progress_mark = -1
        self._filled = 0  # messages that arrived into a gap
        self.last_progress_ns: int | None = None  # when a missing or claimed message last came

    @property
    def next_sequence(self) -> int:
        """The sequence of the next message to be delivered."""
        return self._next

    @property
    def highest_known_sequence(self) -> int:
        """One past the highest sequence known to exist (from data, heartbeats, end of session)."""
        return self._high

    @property
    def claimed_sequence(self) -> int:
        """One past the highest sequence claimed by packets too far ahead to trust (0: none)."""
        return self._claimed_high

    @property
    def has_missing(self) -> bool:
        return bool(self._missing) or self._claimed_high > self._high

    def catching_up(self, now_ns: int) -> bool:
        """A packet too far ahead was seen lately and the trusted sequence has not reached it."""
        return self._claimed_high > self._high and now_ns - self._claim_ns < self.claim_ttl_ns

    @property
    def missing_ranges(self) -> list[tuple[int, int]]:
        """Missing [start, end) ranges, in order."""
        return [(start, end) for start, end, _ in self._missing]

    @property
    def oldest_gap_detected_ns(self) -> int | None:
        """When the oldest gap still open was detected (None: no gap)."""
        return min(self._gap_detected_ns.values()) if self._gap_detected_ns else None

    @property
    def buffered_messages(self) -> int:
        return len(self._buffer)

    @property
    def request_timeout_now_ns(self) -> int:
        """The current re-request timeout (grown while requests go unanswered)."""
        return self._timeout_ns

    @property
    def finished(self) -> bool:
        """End of session seen and every message up to it delivered."""
        return self.end_of_session and not self._missing and self._next >= self._high

    def on_packet(self, data: bytes | bytearray | memoryview, now_ns: int) -> list[bytes]:
        stats = self.stats
        stats.packets_received += 1
        # Fast path, the common case: a well-formed one-message packet of our session that is
        # next in line with nothing owed. No packet object; anything else takes the full path.
        size = len(data)
        if size > _ONE_BLOCK_START and type(data) is bytes:
            session, sequence, count = _unpack_header(data, 0)
            block_end = (data[HEADER_LENGTH] << 8 | data[HEADER_LENGTH + 1]) + _ONE_BLOCK_START
            if (
                count == 1
                and block_end == size
                and sequence == self._next
                and sequence == self._high
                and session == self.session
                and self._started
            ):
                self._next = self._high = sequence + 1
                stats.messages_delivered += 1
                return [data[_ONE_BLOCK_START:]]
        try:
            packet = decode_packet(data)
        except MoldDecodeError as error:
            stats.packets_bad += 1
            self.last_error = error
            return []
        if self.session is None:
            self.session = packet.session
        elif packet.session != self.session and not self._follow(packet.session, now_ns):
            stats.packets_wrong_session += 1
            return []
        sequence = packet.sequence
        if not self._started:
            self._started = True
            self._next = self._high = sequence
        messages = packet.messages
        if sequence > self._high + self.max_sequence_jump:
            self._refuse_jump(sequence + len(messages), now_ns)
            return []
        if not messages:
            stats.heartbeats_received += 1
            if packet.message_count == END_OF_SESSION_COUNT:
                self.end_of_session = True
                self.end_sequence = sequence
            if sequence > self._high:
                self._open_gap(self._high, sequence, now_ns)
                self._high = sequence
            return []
        end = sequence + len(messages)
        if sequence == self._next == self._high:  # the common case: next in line, nothing owed
            self._next = self._high = end
            stats.messages_delivered += len(messages)
            return list(messages)
        if sequence > self._high:
            if len(self._buffer) >= self.max_buffered:  # no room: a later gap will cover it
                stats.messages_overflowed += len(messages)
                return []
            self._open_gap(self._high, sequence, now_ns)
            self._high = sequence
        return self._accept(sequence, messages)

    def _refuse_jump(self, claimed: int, now_ns: int) -> None:
        """A packet too far ahead: remember the claim (bounded requests will check it)."""
        self.stats.jumps_refused += 1
        self.last_refused_jump = (claimed, self._high)
        if claimed > self._claimed_high or now_ns - self._claim_ns >= self.claim_ttl_ns:
            self._claimed_high = claimed
        self._claim_ns = now_ns

    def _follow(self, session: bytes, now_ns: int) -> bool:
        """Whether to switch to `session` now (see the class docstring); switches if so."""
        if not self.follow_new_sessions:
            return False
        stats = self.stats
        own_packets = stats.packets_received - 1 - stats.packets_wrong_session - stats.packets_bad
        if session != self._foreign_session or own_packets != self._own_packets_mark:
            # first sight of this session, or ours spoke since: the silence starts now
            self._foreign_session = session
            self._foreign_since_ns = now_ns
            self._own_packets_mark = own_packets
            if not self.end_of_session:
                return False
        elif not self.end_of_session and now_ns - self._foreign_since_ns < self.session_silence_ns:
            return False
        self.previous_session, self.session = self.session, session
        self._foreign_session = None
        self._own_packets_mark = -1
        self._reset_sequencing()
        stats.session_changes += 1
        self.session_generation += 1
        return True

    def _accept(self, sequence: int, messages: tuple[bytes, ...]) -> list[bytes]:
        delivered: list[bytes] = []
        buffer = self._buffer
        max_buffered = self.max_buffered
        for index, message in enumerate(messages):
            number = sequence + index
            if number < self._next or number in buffer:
                self.stats.duplicates_dropped += 1
                continue
            if number != self._next and len(buffer) >= max_buffered:
                # no room: a message in a gap stays missing; past the end, a later gap covers it
                self.stats.messages_overflowed += len(messages) - index
                break
            if number < self._high:
                self._fill(number)
            else:  # number == self._high: extends what is known
                self._high = number + 1
            if number == self._next:
                delivered.append(message)
                self._next = number + 1
                while self._next in buffer:
                    delivered.append(buffer.pop(self._next))
                    self._next += 1
            else:
                buffer[number] = message
        self.stats.messages_delivered += len(delivered)
        return delivered

    def _open_gap(self, start: int, end: int, now_ns: int) -> None:
        self.stats.gaps_detected += 1
        gap_id = self.stats.gaps_detected
        self._missing.append([start, end, gap_id])
        self._gap_remaining[gap_id] = end - start
        self._gap_detected_ns[gap_id] = now_ns

    def _fill(self, number: int) -> None:
        """`number` arrived and lies in a missing range: cut it out of the range."""
        missing = self._missing
        index = bisect_right(missing, number, key=_start_of) - 1
        start, end, gap_id = missing[index]
        if start == number and end == number + 1:
            del missing[index]
        elif start == number:
            missing[index][0] = number + 1
        elif end == number + 1:
            missing[index][1] = number
        else:
            missing[index][1] = number
            missing.insert(index + 1, [number + 1, end, gap_id])
        self._filled += 1
        self._gap_remaining[gap_id] -= 1
        if self._gap_remaining[gap_id] == 0:
            del self._gap_remaining[gap_id]
            del self._gap_detected_ns[gap_id]
            self.stats.gaps_recovered += 1

    def poll(self, now_ns: int) -> list[bytes]:
        """Request packets to send to the re-request server now."""
        catch_up_end = 0
        if self.catching_up(now_ns):
            window = self.max_request_count * self.max_requests_in_flight
            catch_up_end = min(self._claimed_high, self._high + min(window, self.max_sequence_jump))
        if (not self._missing and not catch_up_end) or self.session is None:
            self._in_flight.clear()
            self._timeout_ns = self.request_timeout_ns
            return []
        self._note_progress(now_ns)
        timeout = self._timeout_ns
        owed = [r for r in self._in_flight if r[1] > self._next]
        live = [r for r in owed if now_ns - r[2] < timeout]
        expired = len(owed) - len(live)
        if expired:
            self.stats.requests_timed_out += expired
            if self.last_progress_ns is None or now_ns - self.last_progress_ns >= timeout:
                self._timeout_ns = timeout = min(2 * timeout, self.max_request_timeout_ns)
        self._in_flight = live
        in_flight = sorted(live)
        requests: list[bytes] = []
        limit = min(self.max_requests_per_poll, self.max_requests_in_flight - len(live))
        ranges = [(start, end, self._gap_detected_ns[gap_id]) for start, end, gap_id in self._missing]
        if catch_up_end > self._high:
            ranges.append((self._high, catch_up_end, self._claim_ns))
        for start, end, detected_ns in ranges:
            if len(requests) >= limit:
                break
            if now_ns - detected_ns < self.request_delay_ns:
                continue
            for run_start, run_end in _uncovered(start, end, in_flight):
                while run_start < run_end and len(requests) < limit:
                    count = min(run_end - run_start, self.max_request_count)
                    requests.append(encode_request(self.session, run_start, count))
                    self._in_flight.append((run_start, run_start + count, now_ns))
                    self.stats.messages_requested += count
                    run_start += count
        self.stats.requests_sent += len(requests)
        return requests

    def _note_progress(self, now_ns: int) -> None:
        """Messages arrived since the last poll: the timeout is back to its base."""
        mark = self._next + self._filled
        if mark != self._progress_mark:
            if self._progress_mark >= 0:
                self.last_progress_ns = now_ns
                self._timeout_ns = self.request_timeout_ns
            elif self.last_progress_ns is None:
                self.last_progress_ns = now_ns
            self._progress_mark = mark


def _uncovered(start: int, end: int, covered: list[tuple[int, int, int]]) -> list[tuple[int, int]]:
    """Parts of [start, end) outside the (sorted by start) covered intervals."""
    runs = []
    position = start
    for cover_start, cover_end, _ in covered:
        if cover_end <= position:
            continue
        if cover_start >= end:
            break
        if cover_start > position:
            runs.append((position, cover_start))
        position = max(position, cover_end)
        if position >= end:
            break
    if position < end:
        runs.append((position, end))
    return runs
