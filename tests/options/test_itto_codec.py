"""ITTO 4.0 (Nasdaq options ITCH) codec: byte-exact layouts from the specification, round trips,
any chunking of a length-prefixed stream, and errors that name the byte offset and the type."""

from __future__ import annotations

import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from calarb.itch.errors import ItchDecodeError
from calarb.itch.options_codec import (
    OptionsStreamDecoder,
    decode_options_message,
    encode_options_framed,
    encode_options_message,
)
from calarb.itch.options_messages import (
    AddOrderLong,
    AddQuoteLong,
    OptionsDirectory,
    OptionsTrade,
    QuoteDelete,
    QuoteReplaceLong,
    SingleSideExecuted,
    SystemEvent,
)
from calarb.itch.options_spec import OPTIONS_MESSAGE_CLASSES, OPTIONS_MESSAGE_SPECS

TS = 34_200_000_000_123  # 09:30:00.000000123


def ts6(value: int) -> bytes:
    return value.to_bytes(6, "big")


def test_options_directory_bytes_follow_the_specification():
    m = OptionsDirectory(7, TS, 42, "SYNTH", 26, 12, 18, 1_000_000, "C", 1, "SYNTH", "N", "Y", "E")
    expected = (
        b"R"
        + struct.pack(">H", 7)
        + ts6(TS)
        + struct.pack(">I", 42)
        + b"SYNTH "
        + bytes([26, 12, 18])
        + struct.pack(">I", 1_000_000)
        + b"C"
        + bytes([1])
        + b"SYNTH        "
        + b"NYE"
    )
    assert len(expected) == 44
    assert encode_options_message(m) == expected
    assert decode_options_message(expected) == m


def test_add_quote_long_and_quote_replace_bytes():
    add = AddQuoteLong(1, TS, 1001, 1002, 42, 51_500, 10, 52_500, 12)
    expected = (
        b"J"
        + struct.pack(">H", 1)
        + ts6(TS)
        + struct.pack(">QQIIIII", 1001, 1002, 42, 51_500, 10, 52_500, 12)
    )
    assert len(expected) == 45
    assert encode_options_message(add) == expected
    replace = QuoteReplaceLong(2, TS + 1, 1001, 1003, 1002, 1004, 51_400, 5, 52_400, 6)
    raw = encode_options_message(replace)
    assert len(raw) == 57 and raw[:1] == b"K"
    assert struct.unpack_from(">QQQQIIII", raw, 9) == (1001, 1003, 1002, 1004, 51_400, 5, 52_400, 6)


def test_system_event_trade_and_delete_bytes():
    assert encode_options_message(SystemEvent(0, TS, "O")) == b"S\x00\x00" + ts6(TS) + b"O"
    trade = OptionsTrade(3, TS, "B", 42, 0, 77, 52_500, 4)
    assert encode_options_message(trade) == (
        b"P" + struct.pack(">H", 3) + ts6(TS) + b"B" + struct.pack(">IIIII", 42, 0, 77, 52_500, 4)
    )
    assert encode_options_message(QuoteDelete(4, TS, 9, 10)) == (
        b"Y" + struct.pack(">H", 4) + ts6(TS) + struct.pack(">QQ", 9, 10)
    )


def example(code: str, seed: int):
    values = []
    for index, field in enumerate(OPTIONS_MESSAGE_SPECS[code].fields[1:]):
        if field.kind == "alpha":
            values.append(chr(0x21 + (seed + index) % 94) * min(field.size, 1 + seed % 6))
        else:
            bits = 48 if field.kind == "timestamp" else 8 * field.size
            values.append((seed * 0x9E3779B97F4A7C15 + index) % (1 << bits))
    return OPTIONS_MESSAGE_CLASSES[code](*values)


ANY_MESSAGE = st.sampled_from([example(c, s) for c in OPTIONS_MESSAGE_SPECS for s in range(7)])


@pytest.mark.parametrize("code", sorted(OPTIONS_MESSAGE_SPECS))
def test_every_type_round_trips_at_its_specified_length(code):
    m = example(code, 3)
    raw = encode_options_message(m)
    assert len(raw) == OPTIONS_MESSAGE_SPECS[code].length
    assert raw[:1] == code.encode()
    assert decode_options_message(raw, 0, len(raw)) == m


@settings(max_examples=60, deadline=None)
@given(st.lists(ANY_MESSAGE, min_size=1, max_size=20), st.lists(st.integers(0, 2000), max_size=8))
def test_stream_decoder_gives_the_same_messages_for_any_chunking(messages, cuts):
    data = b"".join(encode_options_framed(m) for m in messages)
    decoder = OptionsStreamDecoder()
    out, start = [], 0
    for cut in sorted(c for c in cuts if c <= len(data)) + [len(data)]:
        out += decoder.feed(data[start:cut])
        start = cut
    decoder.finish()
    assert out == messages


def test_errors_name_the_byte_offset_and_type():
    good = encode_options_framed(SystemEvent(0, TS, "O"))
    decoder = OptionsStreamDecoder()
    # 'Z' is no ITTO type
    bad = good + b"\x00\x0aZ" + bytes(9)
    assert decoder.feed(bad) == [SystemEvent(0, TS, "O")]
    with pytest.raises(ItchDecodeError) as info:
        decoder.feed(b"")
    assert info.value.offset == len(good) and info.value.message_type == "Z"
    assert "byte offset 12" in str(info.value)

    # a prefix disagreeing with the type's length
    wrong = b"\x00\x1dJ" + bytes(44)
    with pytest.raises(
        ItchDecodeError, match="length prefix 29 disagrees with the type's length 45"
    ):
        OptionsStreamDecoder().feed(wrong)

    # truncated final message
    decoder = OptionsStreamDecoder()
    decoder.feed(good + encode_options_framed(AddOrderLong(1, TS, 5, "B", 42, 100, 1))[:20])
    with pytest.raises(ItchDecodeError, match="truncated") as info:
        decoder.finish()
    assert info.value.offset == len(good) and info.value.message_type == "A"

    # non-ASCII alpha field
    raw = bytearray(encode_options_message(SingleSideExecuted(1, TS, 5, 1, 0, 2)))
    directory = bytearray(encode_options_message(example("R", 1)))
    directory[17] = 0xFF  # inside the security symbol
    with pytest.raises(ItchDecodeError, match="not ASCII") as info:
        decode_options_message(bytes(raw) + bytes(directory), len(raw))
    assert info.value.offset == len(raw) and info.value.message_type == "R"

    with pytest.raises(ItchDecodeError, match="truncated: 10 of 45"):
        decode_options_message(b"J" + bytes(9))
