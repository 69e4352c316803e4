"""Encode and decode single ITCH 5.0 messages (no length prefix).

The per-type functions are compiled once from the layout table in `calarb.itch.spec`, so each
decode is one `struct.unpack_from` plus a tuple construction, and each encode one `pack`.
Framing (the 2-byte length prefix of ITCH files and MoldUDP64 message blocks) is the job of
`calarb.itch.stream` and `calarb.itch.files`.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from typing import Any

from calarb.itch.errors import ItchDecodeError, ItchEncodeError
from calarb.itch.messages import MESSAGE_CLASSES, ItchMessage
from calarb.itch.spec import MESSAGE_LENGTHS, MESSAGE_SPECS, MessageSpec

_UINT_CODES = {1: "B", 2: "H", 4: "I", 8: "Q"}

Decoder = Callable[[bytes | bytearray | memoryview, int], ItchMessage]
Encoder = Callable[[ItchMessage], bytes]


def _struct_format(spec: MessageSpec) -> str:
    """The struct format of a message after its type byte; timestamps split as H (high 16
    bits) + I (low 32 bits) since struct has no 6-byte integer."""
    parts = [">"]
    for field in spec.fields[1:]:
        if field.kind == "alpha":
            parts.append(f"{field.size}s")
        elif field.kind == "timestamp":
            parts.append("HI")
        else:
            parts.append(_UINT_CODES[field.size])
    return "".join(parts)


def compile_layout(spec: MessageSpec, message_class: type) -> tuple[Decoder, Encoder]:
    """decode(buf, offset) and encode(message) for one layout and its NamedTuple class; the
    ITCH-family feeds (TotalView here, ITTO in `calarb.itch.options_codec`) share it."""
    fmt = struct.Struct(_struct_format(spec))
    assert fmt.size == spec.length - 1
    names, decoded, packed = [], [], []
    for field in spec.fields[1:]:
        name = field.name
        if field.kind == "timestamp":
            names += [f"{name}_hi", f"{name}_lo"]
            decoded.append(f"({name}_hi << 32) | {name}_lo")
            packed += [f"m.{name} >> 32", f"m.{name} & 0xFFFFFFFF"]
        elif field.kind == "alpha":
            names.append(name)
            strip = ".rstrip(' ')" if field.size > 1 else ""
            decoded.append(f"{name}.decode('ascii'){strip}")
            packed.append(f"_alpha(m.{name}, {field.size}, {name!r})")
        else:
            names.append(name)
            decoded.append(name)
            packed.append(f"m.{name}")
    source = (
        f"def decode(buf, offset):\n"
        f"    {', '.join(names)}, = _unpack(buf, offset + 1)\n"
        f"    return _new(_cls, ({', '.join(decoded)},))\n"
        f"def encode(m):\n"
        f"    return _type + _pack({', '.join(packed)})\n"
    )
    namespace = {
        "_unpack": fmt.unpack_from,
        "_pack": fmt.pack,
        "_new": tuple.__new__,
        "_cls": message_class,
        "_type": spec.type_code.encode("ascii"),
        "_alpha": _alpha,
    }
    exec(compile(source, f"<itch codec {spec.type_code}>", "exec"), namespace)
    return namespace["decode"], namespace["encode"]


def _alpha(value: str, size: int, name: str) -> bytes:
    try:
        raw = value.encode("ascii")
    except UnicodeEncodeError:
        raise ItchEncodeError(f"field {name} {value!r} is not ASCII") from None
    if len(raw) > size:
        raise ItchEncodeError(f"field {name} {value!r} is longer than its {size} bytes")
    return raw.ljust(size, b" ")


_COMPILED = {
    code: compile_layout(spec, MESSAGE_CLASSES[code]) for code, spec in MESSAGE_SPECS.items()
}

DECODERS: dict[int, Decoder] = {ord(code): pair[0] for code, pair in _COMPILED.items()}
"""First byte (the type letter as an int) -> decode(buf, offset) for a message at offset."""

ENCODERS: dict[str, Encoder] = {code: pair[1] for code, pair in _COMPILED.items()}
"""Type letter -> encode(message) giving the message's bytes without a length prefix."""

LENGTHS_BY_BYTE: dict[int, int] = {ord(code): n for code, n in MESSAGE_LENGTHS.items()}
"""First byte (the type letter as an int) -> message length."""


def decode(buf: bytes | bytearray | memoryview, offset: int = 0, length: int | None = None) -> ItchMessage:
    """Decode the one message starting at `offset`. `length`, when given (from a framing
    prefix), must match the type's length. Errors name the offset and the type."""
    return decode_from_tables(buf, offset, length, DECODERS, LENGTHS_BY_BYTE)


def decode_from_tables(
    buf: bytes | bytearray | memoryview,
    offset: int,
    length: int | None,
    decoders: dict[int, Decoder],
    lengths: dict[int, int],
    protocol: str = "",
) -> Any:
    """The one message at `offset` by a protocol's tables (type byte -> decoder, length):
    ITCH 5.0 here, ITTO in calarb.itch.options_codec (`protocol` names it in errors)."""
    kind = f"{protocol} message" if protocol else "message"
    if offset >= len(buf):
        raise ItchDecodeError(offset, None, f"no bytes left for {'an' if protocol else 'a'} {kind}")
    type_byte = buf[offset]
    type_code = chr(type_byte)
    decoder = decoders.get(type_byte)
    if decoder is None:
        raise ItchDecodeError(offset, type_code, f"unknown {kind} type byte 0x{type_byte:02x}")
    expected = lengths[type_byte]
    if length is not None and length != expected:
        raise ItchDecodeError(
            offset, type_code, f"length {length} disagrees with the type's length {expected}"
        )
    if len(buf) - offset < expected:
        raise ItchDecodeError(
            offset, type_code, f"truncated: {len(buf) - offset} of {expected} bytes present"
        )
    try:
        return decoder(buf, offset)
    except UnicodeDecodeError as exc:
        raise ItchDecodeError(offset, type_code, f"alpha field is not ASCII ({exc.reason})") from None


def encode(message: ItchMessage) -> bytes:
    """The message's bytes, without a length prefix."""
    try:
        return ENCODERS[message.message_type](message)
    except struct.error as exc:
        raise ItchEncodeError(f"{type(message).__name__}: {exc}") from None


def encode_framed(message: ItchMessage) -> bytes:
    """The message with its 2-byte big-endian length prefix (file and MoldUDP64 framing)."""
    body = encode(message)
    return len(body).to_bytes(2, "big") + body
