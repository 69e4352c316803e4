"""Codec: framing, BodyLength/CheckSum, ordering, raw data fields."""

from __future__ import annotations

import pytest

from calarb.fix.codec import FixFramer, GarbledMessage, checksum, decode, encode, frame

LOGON = [
    (35, b"A"),
    (34, b"1"),
    (49, b"TW44"),
    (52, b"20240101-00:00:00"),
    (56, b"ISLD"),
    (98, b"0"),
    (108, b"30"),
]


def test_encode_computes_body_length_and_checksum():
    raw = encode(b"FIX.4.4", LOGON)
    assert raw.startswith(b"8=FIX.4.4\x019=")
    body = raw[raw.index(b"35=") : raw.rindex(b"10=")]
    assert int(raw.split(b"\x01")[1][2:]) == len(body)
    assert raw.endswith(b"10=%03d\x01" % checksum(raw[: raw.rindex(b"10=")]))
    message = decode(raw)
    assert message.msg_type == b"A" and message.get_int(108) == 30
    assert [t for t, _ in message.fields] == [8, 9, 35, 34, 49, 52, 56, 98, 108, 10]


def test_wrong_checksum_names_the_offset():
    raw = encode(b"FIX.4.4", LOGON)
    bad = raw[:-4] + b"%03d\x01" % ((int(raw[-4:-1]) + 1) % 256)
    with pytest.raises(GarbledMessage, match="CheckSum") as info:
        decode(bad)
    assert info.value.offset == raw.rindex(b"10=")


def test_wrong_body_length_is_garbled():
    raw = encode(b"FIX.4.4", LOGON)
    bad = raw.replace(b"9=", b"9=1", 1)
    with pytest.raises(GarbledMessage, match="BodyLength"):
        decode(bad)


@pytest.mark.parametrize(
    "raw, reason",
    [
        (b"9=5\x018=FIX.4.4\x0135=0\x0110=000\x01", "start with 8= and 9="),
        (b"8=FIX.4.4\x019=5\x0134=1\x0135=0\x0110=000\x01", "MsgType"),
        (b"8=FIX.4.4\x019=5\x0135=0\x01abc\x0110=000\x01", "no '='"),
        (b"8=FIX.4.4\x019=5\x0135=0\x01x1=2\x0110=000\x01", "not a number"),
        (b"8=FIX.4.4\x019=5\x0135=0\x0110=000", "end with SOH"),
    ],
)
def test_malformed_frames(raw, reason):
    with pytest.raises(GarbledMessage, match=reason):
        decode(raw)


def test_negative_and_zero_tags_are_kept_for_rejection():
    message = decode(frame(b"FIX.4.4", b"35=0\x010=HI\x01-1=HI\x01"))
    assert [t for t, _ in message.fields][3:5] == [0, -1]


def test_raw_data_field_may_contain_soh():
    payload = b"a\x01b=c"
    raw = encode(b"FIX.4.4", [(35, b"B"), (95, b"%d" % len(payload)), (96, payload), (58, b"x")])
    message = decode(raw)
    assert message[96] == payload and message[58] == b"x"


def test_repeated_tags_kept_in_order_and_lookup_sees_first():
    message = decode(encode(b"FIX.4.4", [(35, b"D"), (40, b"1"), (40, b"2")]))
    assert message[40] == b"1"
    assert [v for t, v in message.fields if t == 40] == [b"1", b"2"]


def test_framer_handles_any_split_and_skips_garbage():
    one = encode(b"FIX.4.4", LOGON)
    two = encode(b"FIX.4.4", [(35, b"0"), (34, b"2")])
    stream = b"junk" + one + two
    for cut in range(1, len(stream)):
        framer = FixFramer()
        out = []
        for part in (stream[:cut], stream[cut:]):
            framer.feed(part)
            while (item := framer.next_frame()) is not None:
                out.append(item)
        frames = [f for f in out if isinstance(f, bytes)]
        assert frames == [one, two], cut


def test_framer_cuts_at_trailer_when_body_length_is_too_short():
    good = encode(b"FIX.4.4", [(35, b"0"), (34, b"2"), (49, b"A")])
    length_field = good.split(b"\x01")[1]
    short = good.replace(length_field, b"9=5", 1)
    assert short != good
    framer = FixFramer()
    framer.feed(short + good)
    first, second = framer.next_frame(), framer.next_frame()
    with pytest.raises(GarbledMessage):
        decode(first)
    assert second == good


def test_framer_refuses_oversized_message():
    framer = FixFramer(max_message_size=1000)
    framer.feed(b"8=FIX.4.4\x019=10000000\x0135=0\x01" + b"x" * 5000)
    item = framer.next_frame()
    assert isinstance(item, GarbledMessage) and "exceeds" in item.reason
    assert framer.buffered < 5000


def test_byte_sum_is_exact_beyond_one_adler_chunk():
    from calarb.fix.codec import byte_sum

    for size in (0, 1, 255, 256, 257, 1000, 70_000):
        data = bytes([255]) * size  # the worst case for Adler-32's modulus
        assert byte_sum(data) == 255 * size
    mixed = bytes(range(256)) * 5
    assert byte_sum(mixed) == sum(mixed) and checksum(mixed) == sum(mixed) % 256


def test_long_message_checksum_is_verified():
    text = b"x" * 600  # the frame is well over 256 bytes: the chunked sum is used
    raw = encode(b"FIX.4.4", [*LOGON, (58, text)])
    assert decode(raw)[58] == text
    broken = raw.replace(b"x" * 10, b"y" + b"x" * 9, 1)
    with pytest.raises(GarbledMessage, match="CheckSum"):
        decode(broken)


def test_field_without_equals_is_not_paired_wrongly():
    # one field lacks '=' and another has two: as many '=' as SOH, but misaligned
    body = b"35=D\x0134=2\x0149=A\x0152=20240101-00:00:00\x0156=B\x0155\x011=2=3\x01"
    raw = frame(b"FIX.4.4", body)
    with pytest.raises(GarbledMessage, match="no '='"):
        decode(raw)


def test_value_with_equals_takes_the_general_path():
    raw = encode(b"FIX.4.4", [*LOGON, (58, b"a=b")])
    message = decode(raw)
    assert message[58] == b"a=b" and message.msg_type == b"A"
