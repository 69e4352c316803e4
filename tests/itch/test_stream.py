"""The streaming decoder: any chunking gives the same messages; bad bytes give errors that
name the byte offset of the frame and its type."""

from __future__ import annotations

import gc

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from calarb.itch.codec import encode, encode_framed
from calarb.itch.errors import ItchDecodeError
from calarb.itch.messages import (
    MESSAGE_CLASSES,
    AddOrder,
    OrderDelete,
    OrderExecuted,
    SystemEvent,
)
from calarb.itch.spec import MESSAGE_SPECS
from calarb.itch.stream import FrameSplitter, StreamDecoder


def example(code: str, seed: int):
    """A valid message of type `code` whose field values depend on `seed`."""
    values = []
    for index, field in enumerate(MESSAGE_SPECS[code].fields[1:]):
        if field.kind == "alpha":
            values.append(chr(0x21 + (seed + index) % 94) * min(field.size, 1 + seed % 8))
        else:
            bits = 48 if field.kind == "timestamp" else 8 * field.size
            values.append((seed * 0x9E3779B97F4A7C15 + index) % (1 << bits))
    return MESSAGE_CLASSES[code](*values)


ANY_MESSAGE = st.sampled_from([example(code, seed) for code in MESSAGE_SPECS for seed in range(9)])


def frames(messages) -> bytes:
    return b"".join(encode_framed(m) for m in messages)


def zero_prefixed(messages) -> bytes:
    return b"".join(b"\x00\x00" + encode(m) for m in messages)


def feed_in_pieces(decoder: StreamDecoder, data: bytes, cuts: list[int]) -> list:
    out = []
    start = 0
    for cut in sorted(cuts) + [len(data)]:
        out += decoder.feed(data[start:cut])
        start = cut
    return out


SAMPLE = [
    SystemEvent(0, 0, 100, "O"),
    AddOrder(1, 0, 200, 1, "B", 100, "AAPL", 1_500_000),
    OrderExecuted(1, 0, 300, 1, 40, 9),
    OrderDelete(1, 0, 400, 1),
]


@settings(max_examples=200)
@given(st.lists(ANY_MESSAGE, max_size=30), st.data())
def test_any_chunking_gives_the_same_messages(messages, data):
    wire = frames(messages)
    cuts = data.draw(st.lists(st.integers(0, len(wire)), max_size=12))
    decoder = StreamDecoder()
    assert feed_in_pieces(decoder, wire, cuts) == messages
    decoder.finish()
    assert decoder.offset == len(wire) and decoder.pending == 0


@given(st.lists(ANY_MESSAGE, max_size=30), st.data())
def test_zero_prefixes_read_by_type_length_in_any_chunking(messages, data):
    wire = zero_prefixed(messages)
    cuts = data.draw(st.lists(st.integers(0, len(wire)), max_size=12))
    decoder = StreamDecoder(lengths_from_type=True)
    assert feed_in_pieces(decoder, wire, cuts) == messages
    decoder.finish()
    assert decoder.offset == len(wire)


def test_byte_by_byte_offset_and_pending_accounting():
    wire = frames(SAMPLE)
    decoder = StreamDecoder()
    got = []
    boundaries = []
    for i in range(len(wire)):
        new = decoder.feed(wire[i : i + 1])
        got += new
        assert decoder.offset + decoder.pending == i + 1
        if new:
            boundaries.append(decoder.offset)
    assert got == SAMPLE
    ends, total = [], 0
    for message in SAMPLE:
        total += 2 + len(encode(message))
        ends.append(total)
    assert boundaries == ends


def test_memoryview_and_bytearray_input():
    wire = frames(SAMPLE)
    assert StreamDecoder().feed(memoryview(wire)) == SAMPLE
    assert StreamDecoder().feed(bytearray(wire)) == SAMPLE
    # the decoder keeps its own copy of a partial frame: mutating the caller's buffer later
    # does not change what it decodes
    source = bytearray(wire[:20])
    decoder = StreamDecoder()
    assert decoder.feed(source) == SAMPLE[:1]
    source[:] = b"\xff" * len(source)
    assert decoder.feed(wire[20:]) == SAMPLE[1:]


def test_large_batch_decodes_and_leaves_the_garbage_collector_as_it_was():
    messages = [AddOrder(1, 0, t, t, "S", 100, "MSFT", 10_000 + t) for t in range(3000)]
    wire = frames(messages)
    assert len(wire) > 64 * 1024  # big enough to pause the collector
    assert gc.isenabled()
    assert StreamDecoder().feed(wire) == messages
    assert gc.isenabled()
    gc.disable()
    try:
        assert StreamDecoder().feed(wire) == messages
        assert not gc.isenabled()
    finally:
        gc.enable()


def test_unknown_type_names_offset_after_delivering_the_good_messages():
    good = frames(SAMPLE[:2])
    wire = good + b"\x00\x0cZ" + bytes(11) + frames(SAMPLE[2:])
    decoder = StreamDecoder()
    assert decoder.feed(wire) == SAMPLE[:2]
    assert decoder.offset == len(good)
    with pytest.raises(ItchDecodeError) as info:
        decoder.finish()
    assert info.value.offset == len(good)
    assert info.value.message_type == "Z"
    assert "unknown message type byte 0x5a" in str(info.value)
    assert f"byte offset {len(good)}" in str(info.value)
    with pytest.raises(ItchDecodeError):  # stays stopped at the bad frame
        decoder.feed(frames(SAMPLE))


def test_bad_first_frame_raises_at_once():
    with pytest.raises(ItchDecodeError) as info:
        StreamDecoder().feed(b"\x00\x13?" + bytes(18))
    assert info.value.offset == 0 and info.value.message_type == "?"


def test_length_prefix_that_disagrees_with_the_type():
    good = frames(SAMPLE[:1])
    bad = b"\x00\x24" + encode(OrderDelete(1, 0, 5, 3)) + bytes(17)  # D is 19 bytes, not 36
    decoder = StreamDecoder()
    with pytest.raises(ItchDecodeError) as info:
        decoder.feed(good + bad[:3])  # the type byte is enough to see the disagreement
        decoder.feed(bad[3:])
    assert info.value.offset == len(good)
    assert info.value.message_type == "D"
    assert "length prefix 36 disagrees with the type's length 19" in str(info.value)


def test_zero_prefix_without_the_option_says_what_to_do():
    with pytest.raises(ItchDecodeError, match="lengths_from_type") as info:
        StreamDecoder().feed(zero_prefixed(SAMPLE))
    assert info.value.offset == 0 and info.value.message_type == "S"


def test_zero_prefix_mode_still_rejects_a_wrong_nonzero_prefix():
    wire = zero_prefixed(SAMPLE[:2]) + b"\x00\x05" + encode(SAMPLE[2])
    decoder = StreamDecoder(lengths_from_type=True)
    assert decoder.feed(wire) == SAMPLE[:2]
    with pytest.raises(ItchDecodeError) as info:
        decoder.finish()
    assert info.value.offset == len(zero_prefixed(SAMPLE[:2]))
    assert info.value.message_type == "E"


def test_zero_prefix_mode_accepts_honest_prefixes_too():
    wire = zero_prefixed(SAMPLE[:2]) + frames(SAMPLE[2:])
    assert StreamDecoder(lengths_from_type=True).feed(wire) == SAMPLE


@pytest.mark.parametrize("kept", [1, 2, 3, 10, 37])
def test_truncated_final_message(kept):
    good = frames(SAMPLE[:2])
    cut = encode_framed(AddOrder(2, 0, 9, 7, "B", 1, "IBM", 1))[:kept]
    decoder = StreamDecoder()
    assert decoder.feed(good + cut) == SAMPLE[:2]
    assert decoder.pending == kept
    with pytest.raises(ItchDecodeError) as info:
        decoder.finish()
    assert info.value.offset == len(good)
    assert info.value.message_type == ("A" if kept >= 3 else None)
    assert "truncated" in info.value.reason
    if kept >= 3:
        assert f"{kept - 2} of 36 message bytes" in info.value.reason


def test_non_ascii_alpha_names_the_frame():
    good = frames(SAMPLE[:1])
    bad = bytearray(encode_framed(AddOrder(1, 0, 9, 7, "B", 1, "IBM", 1)))
    bad[2 + 24] = 0xFF  # inside `stock`
    decoder = StreamDecoder()
    assert decoder.feed(good + bad) == SAMPLE[:1]
    with pytest.raises(ItchDecodeError) as info:
        decoder.finish()
    assert (info.value.offset, info.value.message_type) == (len(good), "A")
    assert "ASCII" in info.value.reason


def test_finish_on_a_clean_stream_is_quiet():
    decoder = StreamDecoder()
    decoder.feed(frames(SAMPLE))
    decoder.finish()
    assert decoder.offset == len(frames(SAMPLE))


@given(st.lists(ANY_MESSAGE, max_size=20), st.data())
def test_frame_splitter_gives_each_message_bytes_in_any_chunking(messages, data):
    wire = frames(messages)
    cuts = data.draw(st.lists(st.integers(0, len(wire)), max_size=8))
    splitter = FrameSplitter()
    assert feed_in_pieces(splitter, wire, cuts) == [encode(m) for m in messages]
    splitter.finish()
    assert splitter.offset == len(wire)


def test_frame_splitter_checks_framing_like_the_decoder():
    good = frames(SAMPLE[:1])
    splitter = FrameSplitter()
    assert splitter.feed(good + b"\x00\x05" + encode(SAMPLE[1])) == [encode(SAMPLE[0])]
    with pytest.raises(ItchDecodeError) as info:
        splitter.finish()
    assert (info.value.offset, info.value.message_type) == (len(good), "A")
    cut = FrameSplitter()
    cut.feed(frames(SAMPLE)[:-1])
    with pytest.raises(ItchDecodeError, match="truncated"):
        cut.finish()
