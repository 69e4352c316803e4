"""Bulk ITCH decoding into NumPy arrays agrees with the single-message codec, message for
message, on generated files, on every message type and on real third-party files; bad
frames are reported with their byte offset and type."""

from __future__ import annotations

import gzip
import warnings

import numpy as np
import pytest

from calarb.itch import bulk
from calarb.itch.codec import decode, encode_framed
from calarb.itch.errors import ItchDecodeError
from calarb.itch.files import ItchFileWarning
from calarb.itch.generate import generate_itch_file
from calarb.itch.messages import MESSAGE_CLASSES, AddOrder, SystemEvent
from calarb.itch.spec import MESSAGE_SPECS

REAL_1000 = "nasdaq-itch50-real-prefixes/12302019.NASDAQ_ITCH50.first1000msgs.itch"
REAL_CUT = "nasdaq-itch50-real-prefixes/unknown-2016-day.NASDAQ_ITCH50.first500bytes.truncated.itch"
RITCH = "ritch-itch50-example/ex20101224.TEST_ITCH_50"
MEATPY = "meatpy-itch50-sample/sample.itch50"
RITCH_COUNTS = {
    "A": 4997, "D": 1745, "E": 198, "F": 3, "H": 3, "P": 5000, "R": 3, "S": 6, "U": 12, "X": 45,
}  # fmt: skip


def codec_messages(data: bytes, zero_prefixes: bool = False) -> list:
    """Reference decode: walk the length prefixes in Python and decode each message with
    `calarb.itch.codec.decode`."""
    out, pos = [], 0
    while pos < len(data):
        length = int.from_bytes(data[pos : pos + 2], "big")
        if zero_prefixes and length == 0:
            length = bulk.LENGTH_TABLE[data[pos + 2]]
        out.append(decode(data, pos + 2, length))
        pos += 2 + length
    return out


def sample_message(type_code: str, n: int):
    """A message of any type with distinct field values (alpha padded, big numbers)."""
    values = []
    for k, field in enumerate(MESSAGE_SPECS[type_code].fields[1:]):
        if field.kind == "alpha":
            values.append("ABCDEFGH"[: max(1, field.size - 1 - (n + k) % 2)])
        elif field.kind == "timestamp":
            values.append((1 << 47) - 1 - n)
        else:
            values.append((1 << (8 * field.size)) - 1 - n - k)
    return MESSAGE_CLASSES[type_code](*values)


def test_generated_file_decodes_like_the_codec(tmp_path):
    path = tmp_path / "day.itch"
    summary = generate_itch_file(path, 6000, 6, seed=11)
    decoded = bulk.decode_file(path)
    assert decoded.messages == 6000
    assert decoded.counts == summary["by_type"]
    assert list(decoded.iter_messages()) == codec_messages(path.read_bytes())
    adds = decoded["A"]
    assert adds.dtype["order_reference_number"] == np.dtype("<u8")
    assert adds.dtype["shares"] == np.dtype("<u4")
    assert adds.dtype["stock"] == np.dtype("S8")
    assert np.all(np.diff(adds["index"]) > 0)  # file order within a type


def test_gzip_file_gives_the_same_arrays(tmp_path):
    plain = tmp_path / "day.itch"
    generate_itch_file(plain, 3000, 4, seed=2)
    packed = tmp_path / "day.bin"  # no .gz suffix: recognised by the magic bytes
    packed.write_bytes(gzip.compress(plain.read_bytes()))
    a, b = bulk.decode_file(plain), bulk.decode_file(packed)
    for code in MESSAGE_SPECS:
        assert np.array_equal(a[code], b[code])


def test_every_message_type_field_by_field():
    messages = [sample_message(code, n) for n in range(3) for code in MESSAGE_SPECS]
    data = b"".join(encode_framed(m) for m in messages)
    decoded = bulk.decode_bytes(data)
    assert list(decoded.iter_messages()) == messages
    for code in MESSAGE_SPECS:
        assert decoded[code].shape == (3,)
        assert decoded[code]["timestamp"][0] == (1 << 47) - 1
    first_add = decoded["A"][0]
    assert first_add["order_reference_number"] == (1 << 64) - 1 - 3  # the 4th field
    assert first_add["stock"] == b"ABCDEFG "  # wire padding kept
    before = list(MESSAGE_SPECS).index("A")
    expected_offset = sum(2 + spec.length for spec in list(MESSAGE_SPECS.values())[:before]) + 2
    assert first_add["offset"] == expected_offset and first_add["index"] == before


def test_real_nasdaq_prefix_counts_and_values(shared_data):
    path = shared_data / REAL_1000
    decoded = bulk.decode_file(path)
    assert decoded.counts == {"S": 1, "R": 993, "H": 3, "Y": 3}
    assert list(decoded.iter_messages()) == codec_messages(path.read_bytes())
    directory = decoded["R"]
    assert directory["stock_locate"][:3].tolist() == [1, 2, 3]
    assert directory["stock"][:3].tolist() == [b"A       ", b"AA      ", b"AAAU    "]
    assert decoded["S"]["timestamp"][0] == 11072057543747


@pytest.mark.parametrize("name", [RITCH, RITCH + ".gz"])
def test_ritch_zero_prefixes_are_read_by_type_length_with_a_warning(shared_data, name):
    with pytest.warns(ItchFileWarning, match="zero"):
        decoded = bulk.decode_file(shared_data / name)
    assert decoded.messages == 12_012
    assert decoded.counts == RITCH_COUNTS
    assert decoded.frames.zero_prefixes
    plain = (shared_data / RITCH).read_bytes()
    assert list(decoded.iter_messages()) == codec_messages(plain, zero_prefixes=True)


def test_meatpy_sample(shared_data):
    path = shared_data / MEATPY
    decoded = bulk.decode_file(path)
    assert decoded.counts == {"S": 6, "R": 2, "A": 7, "E": 2, "X": 1, "D": 1, "P": 1}
    assert list(decoded.iter_messages()) == codec_messages(path.read_bytes())
    assert decoded["R"]["stock"].tolist() == [b"MEAT    ", b"PYTH    "]


def test_truncated_real_file_names_the_offset_and_type(shared_data):
    path = shared_data / REAL_CUT
    with pytest.raises(ItchDecodeError) as caught:
        bulk.decode_file(path)
    assert caught.value.offset == 497  # 500 bytes, the last 3 are a cut 'R' frame
    assert caught.value.message_type == "R"
    assert "truncated" in str(caught.value)
    with pytest.warns(ItchFileWarning, match="16 whole messages"):
        lenient = bulk.decode_file(path, lenient=True)
    assert lenient.messages == 16
    assert lenient.counts == {"S": 1, "R": 7, "H": 4, "Y": 4}
    assert lenient.error is not None and lenient.error.offset == 497


def test_unknown_type_and_length_mismatch_offsets():
    good = encode_framed(SystemEvent(0, 0, 5, "O")) + encode_framed(
        AddOrder(1, 0, 6, 7, "B", 100, "AAA", 10000)
    )
    with pytest.raises(ItchDecodeError) as caught:
        bulk.decode_bytes(good + b"\x00\x05Zabcd")
    assert (caught.value.offset, caught.value.message_type) == (len(good), "Z")
    assert "unknown" in caught.value.reason
    bad_length = bytearray(encode_framed(SystemEvent(0, 0, 5, "S")))
    bad_length[1] = 13
    with pytest.raises(ItchDecodeError) as caught:
        bulk.decode_bytes(good + bytes(bad_length))
    assert (caught.value.offset, caught.value.message_type) == (len(good), "S")
    assert "length prefix 13" in caught.value.reason
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ItchFileWarning)
        kept = bulk.decode_bytes(good + bytes(bad_length), lenient=True)
    assert kept.messages == 2 and kept.error.offset == len(good)


def test_empty_input_and_type_selection():
    assert bulk.decode_bytes(b"").messages == 0
    data = b"".join(encode_framed(sample_message(code, 0)) for code in "SAD")
    only_adds = bulk.decode_bytes(data, types="A")
    assert set(only_adds.arrays) == {"A"} and only_adds.counts == {"S": 1, "A": 1, "D": 1}
