"""Single-message encode/decode: every ITCH 5.0 type round-trips over its full field ranges,
the typed messages agree with the layout table, and bad bytes fail naming offset and type."""

from __future__ import annotations

import struct

import pytest
from hypothesis import given
from hypothesis import strategies as st

from calarb.itch.codec import (
    DECODERS,
    ENCODERS,
    LENGTHS_BY_BYTE,
    decode,
    encode,
    encode_framed,
)
from calarb.itch.errors import ItchDecodeError, ItchEncodeError
from calarb.itch.messages import MESSAGE_CLASSES, AddOrder, StockDirectory, SystemEvent
from calarb.itch.spec import MESSAGE_LENGTHS, MESSAGE_SPECS, FieldSpec

ALL_TYPES = "SRHYLVWKJhAFECXDUPQBINO"
PRINTABLE = st.characters(min_codepoint=0x20, max_codepoint=0x7E)


def field_strategy(field: FieldSpec) -> st.SearchStrategy:
    """Values over a field's whole range. Alpha fields of more than one byte lose their
    trailing space padding on decode, so they are drawn without trailing spaces; a one-byte
    alpha is kept as is, so it is any one printable character, space included."""
    if field.kind == "alpha":
        if field.size == 1:
            return PRINTABLE
        text = st.text(PRINTABLE, min_size=0, max_size=field.size)
        return text.map(lambda value: value.rstrip(" "))
    bits = 48 if field.kind == "timestamp" else 8 * field.size
    return st.integers(min_value=0, max_value=(1 << bits) - 1)


def message_strategy(code: str) -> st.SearchStrategy:
    spec = MESSAGE_SPECS[code]
    fields = [field_strategy(field) for field in spec.fields[1:]]
    return st.tuples(*fields).map(lambda values: MESSAGE_CLASSES[code](*values))


ANY_MESSAGE = st.one_of([message_strategy(code) for code in ALL_TYPES])


def test_the_specification_has_all_23_types():
    assert "".join(MESSAGE_SPECS) == ALL_TYPES
    assert set(MESSAGE_CLASSES) == set(ALL_TYPES)
    assert {chr(b) for b in DECODERS} == set(ALL_TYPES) == set(ENCODERS)


@pytest.mark.parametrize("code", ALL_TYPES)
def test_message_classes_match_the_layout_table(code):
    spec = MESSAGE_SPECS[code]
    cls = MESSAGE_CLASSES[code]
    assert cls.message_type == code
    assert cls.__name__ == spec.name
    assert cls._fields == tuple(field.name for field in spec.fields[1:])
    assert spec.fields[0].name == "message_type"
    assert LENGTHS_BY_BYTE[ord(code)] == MESSAGE_LENGTHS[code] == spec.length
    # fields tile the message exactly
    assert spec.fields[-1].offset + spec.fields[-1].size == spec.length
    for before, after in zip(spec.fields, spec.fields[1:], strict=False):
        assert after.offset == before.offset + before.size


@pytest.mark.parametrize("code", ALL_TYPES)
@given(data=st.data())
def test_every_type_round_trips_over_its_full_field_ranges(code, data):
    message = data.draw(message_strategy(code))
    wire = encode(message)
    assert len(wire) == MESSAGE_LENGTHS[code]
    assert wire[:1] == code.encode()
    assert decode(wire) == message
    assert type(decode(wire)) is MESSAGE_CLASSES[code]
    framed = encode_framed(message)
    assert framed[:2] == len(wire).to_bytes(2, "big") and framed[2:] == wire
    # decoding at an offset inside a bigger buffer, with the framing length checked
    padded = b"\xee" * 5 + framed + b"\xee" * 3
    assert decode(padded, 7, length=len(wire)) == message


@given(ANY_MESSAGE)
def test_wire_fields_sit_where_the_specification_puts_them(message):
    spec = MESSAGE_SPECS[message.message_type]
    wire = encode(message)
    for field, value in zip(spec.fields[1:], message, strict=True):
        raw = wire[field.offset : field.offset + field.size]
        if field.kind == "alpha":
            assert raw == value.encode("ascii").ljust(field.size, b" ")
        else:
            assert raw == value.to_bytes(field.size, "big")


def test_a_known_add_order_layout():
    message = AddOrder(7, 2, 34_200_000_000_123, 42, "B", 300, "AAPL", 1_234_500)
    wire = encode(message)
    expected = (
        b"A"
        + struct.pack(">HH", 7, 2)
        + (34_200_000_000_123).to_bytes(6, "big")
        + struct.pack(">Q", 42)
        + b"B"
        + struct.pack(">I", 300)
        + b"AAPL    "
        + struct.pack(">I", 1_234_500)
    )
    assert wire == expected


def test_decode_unknown_type_names_offset_and_type():
    buf = encode(SystemEvent(0, 0, 1, "O")) + b"Z" + bytes(30)
    with pytest.raises(ItchDecodeError) as info:
        decode(buf, 12)
    assert info.value.offset == 12
    assert info.value.message_type == "Z"
    assert "unknown message type" in str(info.value) and "byte offset 12" in str(info.value)


def test_decode_length_that_disagrees_with_the_type():
    wire = encode(SystemEvent(0, 0, 1, "O"))
    with pytest.raises(ItchDecodeError) as info:
        decode(wire, 0, length=13)
    assert (info.value.offset, info.value.message_type) == (0, "S")
    assert "length 13" in info.value.reason


def test_decode_truncated_message():
    wire = encode(AddOrder(1, 0, 5, 9, "S", 100, "MSFT", 10_000))
    with pytest.raises(ItchDecodeError) as info:
        decode(b"xx" + wire[:-1], 2)
    assert (info.value.offset, info.value.message_type) == (2, "A")
    assert "truncated" in info.value.reason


def test_decode_non_ascii_alpha_field():
    wire = bytearray(encode(AddOrder(1, 0, 5, 9, "S", 100, "MSFT", 10_000)))
    wire[MESSAGE_SPECS["A"].fields[7].offset] = 0xC3  # first byte of `stock`
    with pytest.raises(ItchDecodeError) as info:
        decode(bytes(4) + wire, 4)
    assert (info.value.offset, info.value.message_type) == (4, "A")
    assert "ASCII" in info.value.reason


@pytest.mark.parametrize(
    "message, words",
    [
        (SystemEvent(0, 0, 1, "é"), "not ASCII"),
        (AddOrder(1, 0, 1, 1, "B", 1, "TOOLONGSYM", 1), "longer than its 8 bytes"),
        (SystemEvent(0, 0, 1 << 48, "O"), "SystemEvent"),
        (AddOrder(1, 0, 1, 1, "B", -1, "X", 1), "AddOrder"),
        (
            StockDirectory(
                70_000, 0, 1, "X", "Q", "N", 1, "N", "C", "Z", "P", "N", "N", "1", "N", 0, "N"
            ),
            "StockDirectory",
        ),  # fmt: skip
    ],
)
def test_encode_rejects_values_that_do_not_fit(message, words):
    with pytest.raises(ItchEncodeError, match=words):
        encode(message)
