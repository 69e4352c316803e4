"""Encode and decode ITTO 4.0 (Nasdaq options ITCH) messages; a sans-I/O stream decoder.

Same machinery as TotalView-ITCH 5.0: each layout of `calarb.itch.options_spec` is compiled by
`calarb.itch.codec.compile_layout` into one `struct` unpack/pack, and `OptionsStreamDecoder`
is `calarb.itch.stream.StreamDecoder` with ITTO's tables (2-byte length prefixes, as in
MoldUDP64 message blocks and binary files). Errors are `ItchDecodeError`s naming the byte
offset and the type letter.
"""

from __future__ import annotations

import struct
from typing import Any

from calarb.itch.codec import Decoder, Encoder, compile_layout, decode_from_tables
from calarb.itch.errors import ItchEncodeError
from calarb.itch.options_spec import (
    OPTIONS_MESSAGE_CLASSES,
    OPTIONS_MESSAGE_LENGTHS,
    OPTIONS_MESSAGE_SPECS,
)
from calarb.itch.stream import PREFIX_LENGTH, StreamDecoder, frame_table

_COMPILED = {
    code: compile_layout(spec, OPTIONS_MESSAGE_CLASSES[code])
    for code, spec in OPTIONS_MESSAGE_SPECS.items()
}

OPTIONS_DECODERS: dict[int, Decoder] = {ord(code): pair[0] for code, pair in _COMPILED.items()}
"""Type byte -> decode(buf, offset) of the ITTO message at offset."""

OPTIONS_ENCODERS: dict[str, Encoder] = {code: pair[1] for code, pair in _COMPILED.items()}
"""Type letter -> encode(message): the message's bytes without a length prefix."""

OPTIONS_LENGTHS_BY_BYTE: dict[int, int] = {
    ord(code): n for code, n in OPTIONS_MESSAGE_LENGTHS.items()
}


def decode_options_message(
    buf: bytes | bytearray | memoryview, offset: int = 0, length: int | None = None
) -> Any:
    """Decode the one ITTO message at `offset`. `length`, when given (a MoldUDP64 block's
    length), must equal the type's length. Errors name the offset and the type."""
    return decode_from_tables(
        buf, offset, length, OPTIONS_DECODERS, OPTIONS_LENGTHS_BY_BYTE, protocol="ITTO"
    )


def encode_options_message(message: Any) -> bytes:
    """The ITTO message's bytes, without a length prefix."""
    try:
        return OPTIONS_ENCODERS[message.message_type](message)
    except struct.error as exc:
        raise ItchEncodeError(f"{type(message).__name__}: {exc}") from None


def encode_options_framed(message: Any) -> bytes:
    """The message with its 2-byte big-endian length prefix."""
    body = encode_options_message(message)
    return len(body).to_bytes(PREFIX_LENGTH, "big") + body


_OPTIONS_TABLES = {
    flag: frame_table(OPTIONS_DECODERS, flag, OPTIONS_LENGTHS_BY_BYTE) for flag in (False, True)
}


class OptionsStreamDecoder(StreamDecoder):
    """Length-prefixed ITTO bytes in any chunking in, typed ITTO messages out (see
    `StreamDecoder` for the error contract: offsets from the start of the stream, messages
    before a bad frame always delivered)."""

    __slots__ = ()
    _TABLES = _OPTIONS_TABLES
    _LENGTHS = OPTIONS_LENGTHS_BY_BYTE
