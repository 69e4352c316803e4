"""A sans-I/O streaming decoder for length-prefixed ITCH 5.0 messages.

Every message is preceded by a 2-byte big-endian length: the framing of NASDAQ's
"BinaryFILE" ITCH files and of MoldUDP64 message blocks. `StreamDecoder.feed` takes bytes
in any chunking and returns the complete messages; it never reads a file or a socket.

Speed comes from doing as little per message as possible: the 2-byte prefix and the type
byte are looked up together as one 3-byte key in a table of (frame length, decoder), so one
dict lookup checks that the type is known and that the prefix agrees with it. Bytes are
decoded in place (the caller's buffer when nothing is pending), and only the remainder of an
incomplete message is copied.
"""

from __future__ import annotations

import gc
from collections.abc import Callable
from typing import Any

from calarb.itch.codec import DECODERS, LENGTHS_BY_BYTE
from calarb.itch.errors import ItchDecodeError
from calarb.itch.messages import ItchMessage

PREFIX_LENGTH = 2
"""Bytes of the big-endian length prefix before every message."""

_Decoder = Callable[[bytes | bytearray | memoryview, int], Any]
_Table = dict[int, tuple[int, _Decoder]]


def frame_table(
    decoders: dict[int, _Decoder], lengths_from_type: bool, lengths: dict[int, int] = LENGTHS_BY_BYTE
) -> _Table:
    """(length prefix << 8 | type byte) -> (frame length, decoder of the message at an
    offset). With `lengths_from_type`, a zero prefix is accepted too (key: the type byte).
    `lengths` (type byte -> message length) is ITCH 5.0's unless another family's is given."""
    table = {
        (length << 8) | type_byte: (PREFIX_LENGTH + length, decoders[type_byte])
        for type_byte, length in lengths.items()
    }
    if lengths_from_type:
        table.update({type_byte & 0xFF: entry for type_byte, entry in table.items()})
    return table


def _slicer(length: int) -> _Decoder:
    def message_bytes(buf: bytes | bytearray | memoryview, offset: int) -> bytes:
        return bytes(buf[offset : offset + length])

    return message_bytes


_MESSAGE_TABLES = {flag: frame_table(DECODERS, flag) for flag in (False, True)}
_BYTES_TABLES = {
    flag: frame_table({t: _slicer(n) for t, n in LENGTHS_BY_BYTE.items()}, flag)
    for flag in (False, True)
}

_GC_PAUSE_BYTES = 64 * 1024
"""Batches at least this big are decoded with the cyclic garbage collector paused: the
decoded messages hold only ints and strs, so they cannot form cycles, yet allocating a
million of them would make the collector rescan them again and again (it halves the speed)."""


class StreamDecoder:
    """Length-prefixed ITCH bytes in, typed messages out.

    `lengths_from_type=True` reads files whose length prefixes are all zero (some writers
    never fill them in): each message's length then comes from its type. A non-zero prefix
    must still agree with the type.

    Errors (`ItchDecodeError`) name the byte offset of the frame (its length prefix) from the
    start of the stream, and the type letter when it is known: unknown type, a prefix that
    disagrees with the type's length, non-ASCII alpha fields, and (from `finish`) a truncated
    final message. Messages before a bad one are always delivered: if `feed` decoded some
    before meeting bad bytes it returns them, and the error is raised by the next `feed` or
    `finish` (the decoder stays stopped at the bad frame).
    """

    __slots__ = ("_buffer", "_offset", "_table", "_lengths_from_type")
    _TABLES = _MESSAGE_TABLES
    _LENGTHS = LENGTHS_BY_BYTE  # type byte -> message length (another ITCH family overrides)

    def __init__(self, *, lengths_from_type: bool = False) -> None:
        self._lengths_from_type = lengths_from_type
        self._table = self._TABLES[lengths_from_type]
        self._buffer = bytearray()  # bytes of the incomplete (or bad) frame not yet decoded
        self._offset = 0  # absolute stream offset of self._buffer[0]

    @property
    def lengths_from_type(self) -> bool:
        """True if zero length prefixes are read by the type's length."""
        return self._lengths_from_type

    @property
    def offset(self) -> int:
        """Bytes consumed so far: the absolute offset just after the last whole message."""
        return self._offset

    @property
    def pending(self) -> int:
        """Bytes received but not yet decoded (the start of an incomplete message)."""
        return len(self._buffer)

    def feed(self, data: bytes | bytearray | memoryview) -> list[ItchMessage]:
        """Decode every complete message in the bytes received so far."""
        if self._buffer:
            self._buffer += data
            buf: bytes | bytearray | memoryview = self._buffer
        else:
            buf = data  # nothing pending: decode the caller's bytes in place
        messages: list[ItchMessage] = []
        if len(buf) >= _GC_PAUSE_BYTES and gc.isenabled():
            gc.disable()
            try:
                consumed = self._decode_into(buf, messages)
            finally:
                gc.enable()
        else:
            consumed = self._decode_into(buf, messages)
        if buf is self._buffer:
            del self._buffer[:consumed]
        elif consumed < len(buf):
            self._buffer = bytearray(buf[consumed:])
        self._offset += consumed
        return messages

    def finish(self) -> None:
        """Declare the end of the stream: raise `ItchDecodeError` if bytes are left over (a
        truncated final message, or a bad frame that stopped decoding)."""
        if not self._buffer:
            return
        self.feed(b"")  # raises if a bad frame is what stopped the decoder
        buf, offset = self._buffer, self._offset
        if len(buf) < PREFIX_LENGTH + 1:
            raise ItchDecodeError(
                offset, None, f"truncated: {len(buf)} byte(s) of a length prefix at the end"
            )
        type_code = chr(buf[PREFIX_LENGTH])
        expected = self._frame_length(buf, 0)
        raise ItchDecodeError(
            offset,
            type_code,
            f"truncated: {len(buf) - PREFIX_LENGTH} of {expected - PREFIX_LENGTH} "
            "message bytes present at the end",
        )

    def _decode_into(self, buf: bytes | bytearray | memoryview, out: list[Any]) -> int:
        """Append the complete messages of `buf` to `out`; return the bytes consumed. Raises
        only if the very first frame is bad (else it stops before the bad frame)."""
        table = self._table
        append = out.append
        end = len(buf)
        pos = 0
        try:
            while end - pos > PREFIX_LENGTH:
                entry = table.get((buf[pos] << 16) | (buf[pos + 1] << 8) | buf[pos + 2])
                if entry is None:
                    break  # unknown type or a disagreeing prefix: diagnosed below
                next_pos = pos + entry[0]
                if next_pos > end:
                    return pos  # incomplete: wait for more bytes
                append(entry[1](buf, pos + PREFIX_LENGTH))
                pos = next_pos
            else:
                return pos
        except UnicodeDecodeError as exc:
            error = ItchDecodeError(
                self._offset + pos,
                chr(buf[pos + PREFIX_LENGTH]),
                f"alpha field is not ASCII ({exc.reason})",
            )
        else:
            error = self._diagnose(buf, pos)
        if out:
            return pos  # deliver what came before; the next call meets the bad frame first
        raise error

    def _frame_length(self, buf: bytes | bytearray | memoryview, pos: int) -> int:
        prefix = (buf[pos] << 8) | buf[pos + 1]
        if self._lengths_from_type and prefix == 0:
            return PREFIX_LENGTH + self._LENGTHS.get(buf[pos + PREFIX_LENGTH], 0)
        return PREFIX_LENGTH + prefix

    def _diagnose(self, buf: bytes | bytearray | memoryview, pos: int) -> ItchDecodeError:
        """The error for a frame at `pos` that the table rejected."""
        offset = self._offset + pos
        type_byte = buf[pos + PREFIX_LENGTH]
        type_code = chr(type_byte)
        expected = self._LENGTHS.get(type_byte)
        if expected is None:
            return ItchDecodeError(
                offset, type_code, f"unknown message type byte 0x{type_byte:02x}"
            )
        prefix = (buf[pos] << 8) | buf[pos + 1]
        if prefix == 0 and not self._lengths_from_type:
            reason = (
                f"length prefix is 0 but the type's length is {expected} "
                "(a file with all-zero prefixes needs lengths_from_type=True)"
            )
        else:
            reason = f"length prefix {prefix} disagrees with the type's length {expected}"
        return ItchDecodeError(offset, type_code, reason)


class FrameSplitter(StreamDecoder):
    """Like `StreamDecoder`, but `feed` returns each message's bytes (without the length
    prefix) instead of decoding them: the payloads a MoldUDP64 sender packs into message
    blocks. Frames are checked the same way (type known, prefix agrees with the type);
    field contents are not looked at."""

    __slots__ = ()
    _TABLES = _BYTES_TABLES

    def feed(self, data: bytes | bytearray | memoryview) -> list[bytes]:  # type: ignore[override]
        """Split off every complete message received so far."""
        return super().feed(data)  # type: ignore[return-value]
