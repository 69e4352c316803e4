"""MoldUDP64 (NASDAQ MoldUDP64 protocol specification v1.00): framing and sans-I/O cores.

Downstream packet: Session (10 bytes, alphanumeric, space padded), Sequence Number (8 bytes,
big-endian, the sequence of the first message in the packet), Message Count (2 bytes), then
that many message blocks, each a 2-byte big-endian Message Length and the Message Data.
A count of 0 is a heartbeat and 0xFFFF the end of session; both carry the next expected
sequence number and no blocks. A request packet (receiver -> re-request server, unicast) is
Session, Sequence Number, Requested Message Count; it is answered with ordinary downstream
packets sent unicast to the requester.

The cores here open no sockets and read no clock: `MoldSender` turns messages into packets,
`RetransmissionServer` turns request packets into answer packets, and `MoldReceiver` turns
packets (and the time passed in) into messages delivered exactly once in sequence order plus
request packets to send. Asyncio adapters live in `calarb.itch.transport`.
"""

from __future__ import annotations

import struct
from bisect import bisect_right
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, fields
from operator import itemgetter

SESSION_LENGTH = 10
HEADER = struct.Struct(">10sQH")
HEADER_LENGTH = HEADER.size  # 20
REQUEST_LENGTH = HEADER_LENGTH  # a request packet has the header's layout
BLOCK_LENGTH_SIZE = 2
HEARTBEAT_COUNT = 0
END_OF_SESSION_COUNT = 0xFFFF
MAX_MESSAGES_PER_PACKET = 0xFFFE  # 0xFFFF is reserved for the end of session
MAX_MESSAGE_LENGTH = 0xFFFF
MAX_REQUEST_COUNT = 0xFFFF
MAX_SEQUENCE = 2**64 - 1
DEFAULT_MAX_PAYLOAD = 1500 - 20 - 8  # UDP payload of one unfragmented IPv4 datagram, 1500 MTU
DEFAULT_HISTORY_LIMIT = 1_000_000
DEFAULT_MAX_MESSAGES_PER_ANSWER = 1024
DEFAULT_REQUEST_TIMEOUT_NS = 100_000_000
DEFAULT_MAX_REQUESTS_PER_POLL = 16

_LENGTH = struct.Struct(">H")
_pack_header = HEADER.pack
_unpack_header = HEADER.unpack_from
_pack_length = _LENGTH.pack
_unpack_length = _LENGTH.unpack_from
_ONE_BLOCK_START = HEADER_LENGTH + BLOCK_LENGTH_SIZE  # where a packet's first message starts


class MoldDecodeError(ValueError):
    """Malformed MoldUDP64 bytes; `offset` is the byte offset in the packet where it went wrong."""

    def __init__(self, offset: int, reason: str) -> None:
        self.offset = offset
        self.reason = reason
        super().__init__(f"MoldUDP64 decode error at byte offset {offset}: {reason}")


def session_bytes(session: str | bytes) -> bytes:
    """The 10-byte wire form of a session name: ASCII letters and digits, padded with spaces."""
    raw = session.encode("ascii") if isinstance(session, str) else bytes(session)
    if len(raw) > SESSION_LENGTH:
        raise ValueError(f"session {session!r} is longer than {SESSION_LENGTH} bytes")
    stripped = raw.rstrip(b" ")
    if not stripped.isalnum():
        raise ValueError(f"session {session!r} must be non-empty ASCII letters and digits")
    return raw.ljust(SESSION_LENGTH, b" ")


def session_name(session: bytes) -> str:
    """The readable form of a 10-byte session (trailing padding removed)."""
    return session.decode("ascii", errors="replace").rstrip(" ")


@dataclass(frozen=True, slots=True)
class DownstreamPacket:
    """A decoded downstream packet. `messages` hold the message data without length prefixes."""

    session: bytes
    sequence: int
    message_count: int
    messages: tuple[bytes, ...]

    @property
    def is_heartbeat(self) -> bool:
        return self.message_count == HEARTBEAT_COUNT

    @property
    def is_end_of_session(self) -> bool:
        return self.message_count == END_OF_SESSION_COUNT

    @property
    def next_sequence(self) -> int:
        """The sequence number that follows this packet's messages."""
        return self.sequence + len(self.messages)


@dataclass(frozen=True, slots=True)
class RequestPacket:
    """A decoded retransmission request: `count` messages starting at `sequence`."""

    session: bytes
    sequence: int
    count: int


def encode_packet(session: bytes, sequence: int, messages: Sequence[bytes]) -> bytes:
    """A downstream packet carrying `messages` (0 messages gives a heartbeat)."""
    if len(messages) > MAX_MESSAGES_PER_PACKET:
        raise ValueError(f"{len(messages)} messages exceed {MAX_MESSAGES_PER_PACKET} per packet")
    parts = [_pack_header(session, sequence, len(messages))]
    for message in messages:
        if len(message) > MAX_MESSAGE_LENGTH:
            raise ValueError(f"message of {len(message)} bytes exceeds {MAX_MESSAGE_LENGTH}")
        parts.append(_pack_length(len(message)))
        parts.append(message)
    return b"".join(parts)


def encode_heartbeat(session: bytes, next_sequence: int) -> bytes:
    return _pack_header(session, next_sequence, HEARTBEAT_COUNT)


def encode_end_of_session(session: bytes, next_sequence: int) -> bytes:
    return _pack_header(session, next_sequence, END_OF_SESSION_COUNT)


def encode_request(session: bytes, sequence: int, count: int) -> bytes:
    if not 0 <= count <= MAX_REQUEST_COUNT:
        raise ValueError(f"requested message count {count} is outside 0..{MAX_REQUEST_COUNT}")
    return _pack_header(session, sequence, count)


def decode_packet(data: bytes | bytearray | memoryview) -> DownstreamPacket:
    """Decode one downstream packet; raises MoldDecodeError naming the byte offset."""
    size = len(data)
    if size < HEADER_LENGTH:
        raise MoldDecodeError(0, f"short header: {size} bytes, a header needs {HEADER_LENGTH}")
    session, sequence, count = _unpack_header(data, 0)
    if count in (HEARTBEAT_COUNT, END_OF_SESSION_COUNT):
        if size != HEADER_LENGTH:
            kind = "heartbeat" if count == HEARTBEAT_COUNT else "end-of-session packet"
            raise MoldDecodeError(
                HEADER_LENGTH, f"{size - HEADER_LENGTH} unexpected bytes after a {kind} header"
            )
        return DownstreamPacket(session, sequence, count, ())
    if sequence + count - 1 > MAX_SEQUENCE:
        raise MoldDecodeError(10, f"sequence {sequence} + {count} messages overflows 64 bits")
    messages = []
    offset = HEADER_LENGTH
    for index in range(count):
        if offset + BLOCK_LENGTH_SIZE > size:
            raise MoldDecodeError(
                offset,
                f"count mismatch: header declares {count} messages, packet ends after {index}"
                + (" (truncated length prefix)" if offset < size else ""),
            )
        (length,) = _unpack_length(data, offset)
        start = offset + BLOCK_LENGTH_SIZE
        end = start + length
        if end > size:
            raise MoldDecodeError(
                offset,
                f"message block {index} declares length {length} but only {size - start} "
                f"bytes remain (block length beyond packet end)",
            )
        messages.append(bytes(data[start:end]))
        offset = end
    if offset != size:
        raise MoldDecodeError(
            offset,
            f"count mismatch: {size - offset} bytes follow the {count} declared message blocks",
        )
    return DownstreamPacket(session, sequence, count, tuple(messages))


def decode_request(data: bytes | bytearray | memoryview) -> RequestPacket:
    """Decode a request packet (exactly 20 bytes); raises MoldDecodeError naming the offset."""
    if len(data) != REQUEST_LENGTH:
        offset = min(len(data), REQUEST_LENGTH)
        raise MoldDecodeError(
            offset, f"request packet is {len(data)} bytes, expected exactly {REQUEST_LENGTH}"
        )
    session, sequence, count = _unpack_header(data, 0)
    return RequestPacket(session, sequence, count)


def pack_messages(
    session: bytes,
    first_sequence: int,
    messages: Sequence[bytes],
    max_payload: int = DEFAULT_MAX_PAYLOAD,
) -> list[bytes]:
    """Downstream packets carrying consecutive `messages` from `first_sequence`, each packet at
    most `max_payload` bytes (a message too big for any packet is an error)."""
    packets: list[bytes] = []
    batch: list[bytes] = []
    batch_bytes = HEADER_LENGTH
    sequence = first_sequence
    for message in messages:
        block = BLOCK_LENGTH_SIZE + len(message)
        if HEADER_LENGTH + block > max_payload:
            raise ValueError(f"message of {len(message)} bytes does not fit in {max_payload}")
        if batch and (batch_bytes + block > max_payload or len(batch) == MAX_MESSAGES_PER_PACKET):
            packets.append(encode_packet(session, sequence, batch))
            sequence += len(batch)
            batch = []
            batch_bytes = HEADER_LENGTH
        batch.append(message)
        batch_bytes += block
    if batch:
        packets.append(encode_packet(session, sequence, batch))
    return packets


class MessageHistory:
    """The last `limit` messages sent, by sequence number, for retransmission."""

    def __init__(self, first_sequence: int = 1, limit: int = DEFAULT_HISTORY_LIMIT) -> None:
        if limit < 1:
            raise ValueError(f"history limit must be at least 1, got {limit}")
        self.limit = limit
        self._messages: list[bytes] = []
        self._base = first_sequence  # sequence of self._messages[0]

    @property
    def first_sequence(self) -> int:
        """The oldest sequence still held (equals next_sequence when empty)."""
        return self._base + max(0, len(self._messages) - self.limit)

    @property
    def next_sequence(self) -> int:
        return self._base + len(self._messages)

    def __len__(self) -> int:
        return self.next_sequence - self.first_sequence

    def extend(self, messages: Iterable[bytes]) -> None:
        self._messages.extend(messages)
        excess = len(self._messages) - self.limit
        if excess > self.limit // 4:  # amortised trim: keeps slices O(answer), not O(history)
            del self._messages[:excess]
            self._base += excess

    def get(self, start: int, count: int) -> tuple[int, list[bytes]]:
        """Messages of [start, start + count) still held: (first sequence returned, messages).
        Evicted and not-yet-sent sequences are left out, so the result may be shorter."""
        first = max(start, self.first_sequence)
        end = min(start + count, self.next_sequence)
        if first >= end:
            return first, []
        return first, self._messages[first - self._base : end - self._base]


class MoldSender:
    """Builds downstream packets for one session and keeps the sent messages for retransmission.

    `add` returns the packet completed by the previous messages when the new one does not fit
    (so at most one packet); `flush` sends what is pending. A packet is at most `max_payload`
    bytes (the UDP payload). Only flushed messages enter the history.
    """

    def __init__(
        self,
        session: str | bytes,
        *,
        first_sequence: int = 1,
        max_payload: int = DEFAULT_MAX_PAYLOAD,
        history_limit: int = DEFAULT_HISTORY_LIMIT,
    ) -> None:
        if max_payload < HEADER_LENGTH + BLOCK_LENGTH_SIZE:
            raise ValueError(f"max payload {max_payload} cannot hold a header and one block")
        if first_sequence < 1:
            raise ValueError(f"first sequence must be at least 1, got {first_sequence}")
        self.session = session_bytes(session)
        self.max_payload = max_payload
        self.history = MessageHistory(first_sequence, history_limit)
        self._pending: list[bytes] = []
        self._pending_bytes = HEADER_LENGTH
        self.ended = False
        self.packets_built = 0

    @property
    def next_sequence(self) -> int:
        """The sequence number the next added message will get."""
        return self.history.next_sequence + len(self._pending)

    @property
    def pending_messages(self) -> int:
        """Messages added but not yet in a packet."""
        return len(self._pending)

    @property
    def sent_sequence(self) -> int:
        """The sequence after the last message in a built packet (what heartbeats announce)."""
        return self.history.next_sequence

    def add(self, message: bytes) -> list[bytes]:
        if self.ended:
            raise RuntimeError(f"session {session_name(self.session)!r} has ended")
        block = BLOCK_LENGTH_SIZE + len(message)
        if HEADER_LENGTH + block > self.max_payload or len(message) > MAX_MESSAGE_LENGTH:
            raise ValueError(
                f"message of {len(message)} bytes does not fit in a {self.max_payload}-byte packet"
            )
        packets = []
        if (
            self._pending_bytes + block > self.max_payload
            or len(self._pending) == MAX_MESSAGES_PER_PACKET
        ):
            packets = self.flush()
        self._pending.append(message)
        self._pending_bytes += block
        return packets

    def flush(self) -> list[bytes]:
        if not self._pending:
            return []
        packet = encode_packet(self.session, self.history.next_sequence, self._pending)
        self.history.extend(self._pending)
        self._pending = []
        self._pending_bytes = HEADER_LENGTH
        self.packets_built += 1
        return [packet]

    def heartbeat(self) -> list[bytes]:
        """Pending messages, then a heartbeat (an end-of-session packet once the session ended)."""
        packets = self.flush()
        encode = encode_end_of_session if self.ended else encode_heartbeat
        packets.append(encode(self.session, self.sent_sequence))
        return packets

    def end_of_session(self) -> list[bytes]:
        """Pending messages, then an end-of-session packet; later `add` calls raise."""
        packets = self.flush()
        self.ended = True
        packets.append(encode_end_of_session(self.session, self.sent_sequence))
        return packets


@dataclass(slots=True)
class RetransmissionStats:
    requests_received: int = 0
    requests_bad: int = 0
    requests_wrong_session: int = 0
    requests_unavailable: int = 0  # asked (partly) for evicted or not yet sent messages
    messages_resent: int = 0
    packets_sent: int = 0


class RetransmissionServer:
    """Answers request packets from a MessageHistory.

    Behaviour: a request of another session, a malformed request or a count of 0 gets no
    answer. The count is capped at `max_messages_per_answer`. Only messages still in the
    history and already sent are answered: an evicted prefix or a not-yet-sent tail is left
    out (and counted in `stats.requests_unavailable`); if nothing remains, no answer.
    """

    def __init__(
        self,
        session: str | bytes,
        history: MessageHistory,
        *,
        max_payload: int = DEFAULT_MAX_PAYLOAD,
        max_messages_per_answer: int = DEFAULT_MAX_MESSAGES_PER_ANSWER,
    ) -> None:
        self.session = session_bytes(session)
        self.history = history
        self.max_payload = max_payload
        self.max_messages_per_answer = max_messages_per_answer
        self.stats = RetransmissionStats()
        self.last_error: MoldDecodeError | None = None

    @classmethod
    def for_sender(cls, sender: MoldSender, **options: int) -> RetransmissionServer:
        options.setdefault("max_payload", sender.max_payload)
        return cls(sender.session, sender.history, **options)

    def on_request(self, data: bytes | bytearray | memoryview) -> list[bytes]:
        stats = self.stats
        stats.requests_received += 1
        try:
            request = decode_request(data)
        except MoldDecodeError as error:
            stats.requests_bad += 1
            self.last_error = error
            return []
        if request.session != self.session:
            stats.requests_wrong_session += 1
            return []
        if request.count == 0:
            return []
        count = min(request.count, self.max_messages_per_answer)
        first, messages = self.history.get(request.sequence, count)
        if first != request.sequence or len(messages) < count:
            stats.requests_unavailable += 1
        if not messages:
            return []
        packets = pack_messages(self.session, first, messages, self.max_payload)
        stats.messages_resent += len(messages)
        stats.packets_sent += len(packets)
        return packets


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

    def as_dict(self) -> dict[str, int]:
        return {field.name: getattr(self, field.name) for field in fields(self)}


_start_of = itemgetter(0)


class MoldReceiver:
    """Turns downstream packets, in any order and with losses and duplicates, into the session's
    messages delivered exactly once in sequence order, and tells what to re-request.

    - The session is learnt from the first well-formed packet unless given; packets of
      another session are dropped and counted.
    - Delivery starts at `first_sequence` (1, the start of a session); None starts at the
      sequence of the first packet seen (a late joiner that does not want the past).
    - A gap is detected when a packet (or a heartbeat / end of session, whose sequence is the
      next expected one) lies beyond the highest sequence seen; it is recovered when all its
      messages arrived. Messages beyond a gap are buffered until it fills.
    - `poll(now_ns)` returns request packets for missing ranges that are not already
      requested, each for at most `max_request_count` messages; a request with no complete
      answer after `request_timeout_ns` is sent again. Gaps younger than `request_delay_ns`
      wait (tolerance for reordering).
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
    ) -> None:
        if not 1 <= max_request_count <= MAX_REQUEST_COUNT:
            raise ValueError(
                f"max request count {max_request_count} outside 1..{MAX_REQUEST_COUNT}"
            )
        self.session: bytes | None = None if session is None else session_bytes(session)
        self.request_timeout_ns = request_timeout_ns
        self.request_delay_ns = request_delay_ns
        self.max_request_count = max_request_count
        self.max_requests_per_poll = max_requests_per_poll
        self.stats = ReceiverStats()
        self.last_error: MoldDecodeError | None = None
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

    @property
    def next_sequence(self) -> int:
        """The sequence of the next message to be delivered."""
        return self._next

    @property
    def highest_known_sequence(self) -> int:
        """One past the highest sequence known to exist (from data, heartbeats, end of session)."""
        return self._high

    @property
    def has_missing(self) -> bool:
        return bool(self._missing)

    @property
    def missing_ranges(self) -> list[tuple[int, int]]:
        """Missing [start, end) ranges, in order."""
        return [(start, end) for start, end, _ in self._missing]

    @property
    def buffered_messages(self) -> int:
        return len(self._buffer)

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
        elif packet.session != self.session:
            stats.packets_wrong_session += 1
            return []
        sequence = packet.sequence
        if not self._started:
            self._started = True
            self._next = self._high = sequence
        messages = packet.messages
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
            self._open_gap(self._high, sequence, now_ns)
            self._high = sequence
        return self._accept(sequence, messages)

    def _accept(self, sequence: int, messages: tuple[bytes, ...]) -> list[bytes]:
        delivered: list[bytes] = []
        buffer = self._buffer
        for index, message in enumerate(messages):
            number = sequence + index
            if number < self._next or number in buffer:
                self.stats.duplicates_dropped += 1
                continue
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
        self._gap_remaining[gap_id] -= 1
        if self._gap_remaining[gap_id] == 0:
            del self._gap_remaining[gap_id]
            del self._gap_detected_ns[gap_id]
            self.stats.gaps_recovered += 1

    def poll(self, now_ns: int) -> list[bytes]:
        """Request packets to send to the re-request server now."""
        if not self._missing or self.session is None:
            self._in_flight.clear()
            return []
        timeout = self.request_timeout_ns
        in_flight = sorted(
            request
            for request in self._in_flight
            if now_ns - request[2] < timeout and request[1] > self._next
        )
        requests: list[bytes] = []
        limit = self.max_requests_per_poll
        for start, end, gap_id in self._missing:
            if len(requests) >= limit:
                break
            if now_ns - self._gap_detected_ns[gap_id] < self.request_delay_ns:
                continue
            for run_start, run_end in _uncovered(start, end, in_flight):
                while run_start < run_end and len(requests) < limit:
                    count = min(run_end - run_start, self.max_request_count)
                    requests.append(encode_request(self.session, run_start, count))
                    self._in_flight.append((run_start, run_start + count, now_ns))
                    self.stats.messages_requested += count
                    run_start += count
        self._in_flight = [request for request in self._in_flight if now_ns - request[2] < timeout]
        self.stats.requests_sent += len(requests)
        return requests


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
