"""MoldUDP64 (NASDAQ MoldUDP64 protocol specification v1.00): the packet framing.

Downstream packet: Session (10 bytes, alphanumeric, space padded), Sequence Number (8 bytes,
big-endian, the sequence of the first message in the packet), Message Count (2 bytes), then
that many message blocks, each a 2-byte big-endian Message Length and the Message Data.
A count of 0 is a heartbeat and 0xFFFF the end of session; both carry the next expected
sequence number and no blocks. A request packet (receiver -> re-request server, unicast) is
Session, Sequence Number, Requested Message Count.

Pure functions over bytes: the constants, the decoded packet types, their encoders and
decoders, and `pack_messages`. `calarb.itch.moldudp64` re-exports all of it.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
from dataclasses import dataclass

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
DEFAULT_MAX_REQUESTS_IN_FLIGHT = 16
DEFAULT_MAX_SEQUENCE_JUMP = 65_536
"""A packet further than this beyond the highest trusted sequence is not trusted (a receiver
asks the re-request server for the way there in bounded chunks instead)."""
DEFAULT_MAX_BUFFERED = 200_000
DEFAULT_MAX_REQUEST_TIMEOUT_NS = 1_000_000_000
DEFAULT_SESSION_SILENCE_NS = 3_000_000_000
"""A new session name is followed once the current session has been silent this long."""

_LENGTH = struct.Struct(">H")
_pack_header = HEADER.pack
_unpack_header = HEADER.unpack_from
_pack_length = _LENGTH.pack
_unpack_length = _LENGTH.unpack_from


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
