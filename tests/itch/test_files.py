"""ITCH files: real NASDAQ bytes and third-party files decode with their documented counts;
gzip is recognised by its magic bytes; zero prefixes and cut tails are handled as documented."""

from __future__ import annotations

import gzip
import shutil
import warnings
from collections import Counter
from pathlib import Path

import pytest

from calarb.itch.codec import encode, encode_framed
from calarb.itch.errors import ItchDecodeError
from calarb.itch.files import (
    ItchFileWarning,
    file_stats,
    iter_frames,
    iter_messages,
    open_itch,
    read_messages,
)
from calarb.itch.messages import AddOrder, StockDirectory, SystemEvent

REAL_1000 = "nasdaq-itch50-real-prefixes/12302019.NASDAQ_ITCH50.first1000msgs.itch"
REAL_CUT = "nasdaq-itch50-real-prefixes/unknown-2016-day.NASDAQ_ITCH50.first500bytes.truncated.itch"
RITCH = "ritch-itch50-example/ex20101224.TEST_ITCH_50"
MEATPY = "meatpy-itch50-sample/sample.itch50"

RITCH_COUNTS = {
    "A": 4997, "D": 1745, "E": 198, "F": 3, "H": 3, "P": 5000, "R": 3, "S": 6, "U": 12, "X": 45,
}  # fmt: skip


def counts(messages) -> dict[str, int]:
    return dict(Counter(m.message_type for m in messages))


def whole_frames_end(data: bytes) -> int:
    """Where the whole length-prefixed frames of `data` end, walking the prefixes."""
    offset = 0
    while offset + 2 <= len(data):
        frame_end = offset + 2 + int.from_bytes(data[offset : offset + 2], "big")
        if frame_end > len(data):
            break
        offset = frame_end
    return offset


def test_real_nasdaq_thousand_messages(shared_data):
    messages = read_messages(shared_data / REAL_1000)
    assert len(messages) == 1000
    assert counts(messages) == {"S": 1, "R": 993, "H": 3, "Y": 3}
    first = messages[0]
    assert isinstance(first, SystemEvent)
    assert (first.event_code, first.timestamp) == ("O", 11_072_057_543_747)
    directory = [m for m in messages if isinstance(m, StockDirectory)]
    assert [m.stock_locate for m in directory] == list(range(1, 994))
    by_locate = {m.stock_locate: m for m in directory}
    assert (by_locate[1].stock, by_locate[1].round_lot_size) == ("A", 100)
    assert (by_locate[2].stock, by_locate[3].stock) == ("AA", "AAAU")
    assert by_locate[1].market_category == "N" and by_locate[3].market_category == "P"
    timestamps = [m.timestamp for m in messages]
    assert timestamps == sorted(timestamps)


def test_chunk_size_does_not_change_the_messages(shared_data):
    path = shared_data / REAL_1000
    whole = read_messages(path)
    for chunk_size in (1, 2, 3, 41, 4096):
        assert list(iter_messages(path, chunk_size=chunk_size)) == whole


def test_truncated_real_file_names_the_offset_of_the_cut_message(shared_data):
    path = shared_data / REAL_CUT
    data = path.read_bytes()
    cut_at = whole_frames_end(data)
    assert 0 < cut_at < len(data)
    seen = []
    with pytest.raises(ItchDecodeError) as info:
        for message in iter_messages(path):
            seen.append(message)
    assert info.value.offset == cut_at
    assert info.value.message_type == "R"  # the cut 17th message's type byte survives
    assert f"byte offset {cut_at}" in str(info.value)
    assert len(seen) == 16  # strict mode still delivered everything before the cut


def test_truncated_real_file_in_lenient_mode(shared_data):
    path = shared_data / REAL_CUT
    with pytest.warns(ItchFileWarning, match="truncated") as caught:
        messages = read_messages(path, lenient=True)
    assert path.name in str(caught[0].message)
    assert len(messages) == 16
    assert counts(messages) == {"S": 1, "R": 7, "H": 4, "Y": 4}
    assert {"AA-", "AA-B", "AAAP"} <= {m.stock for m in messages if hasattr(m, "stock")}


@pytest.mark.parametrize("name", [RITCH, RITCH + ".gz"])
def test_ritch_zero_prefix_file_is_read_by_type_lengths_with_a_warning(shared_data, name):
    path = shared_data / name
    with pytest.warns(ItchFileWarning, match="prefixes are zero") as caught:
        messages = read_messages(path)
    assert path.name in str(caught[0].message)
    assert len(messages) == 12_012
    assert counts(messages) == RITCH_COUNTS
    assert {m.stock for m in messages if isinstance(m, StockDirectory)} == {"ALC", "BOB", "CHAR"}


def test_meatpy_sample(shared_data):
    messages = read_messages(shared_data / MEATPY)
    assert len(messages) == 20
    assert counts(messages) == {"S": 6, "R": 2, "A": 7, "E": 2, "X": 1, "D": 1, "P": 1}
    assert {m.stock for m in messages if isinstance(m, StockDirectory)} == {"MEAT", "PYTH"}
    assert (messages[0].timestamp, messages[-1].timestamp) == (
        32_400_000_000_000,
        57_600_002_000_000,
    )


def test_gzip_is_recognised_by_magic_not_name(shared_data, tmp_path):
    plain = shared_data / REAL_1000
    disguised = tmp_path / "looks-plain.itch"
    with open(plain, "rb") as source, gzip.open(disguised, "wb") as target:
        shutil.copyfileobj(source, target)
    with open_itch(disguised) as stream:
        assert stream.read() == plain.read_bytes()
    renamed = tmp_path / "not-compressed.itch.gz"
    shutil.copy(plain, renamed)
    assert read_messages(renamed) == read_messages(disguised) == read_messages(plain)


def test_file_stats_of_real_files(shared_data):
    stats = file_stats(shared_data / REAL_1000)
    assert stats == {
        "messages": 1000,
        "by_type": {"H": 3, "R": 993, "S": 1, "Y": 3},
        "bytes": 40_874,
        "symbols": 993,
        "first_timestamp_ns": 11_072_057_543_747,
        "last_timestamp_ns": read_messages(shared_data / REAL_1000)[-1].timestamp,
    }
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ItchFileWarning)
        ritch = file_stats(shared_data / (RITCH + ".gz"))
    assert ritch["by_type"] == dict(sorted(RITCH_COUNTS.items()))
    assert ritch["bytes"] == 465_048  # the uncompressed size
    assert ritch["symbols"] == 3


def test_bad_type_in_the_middle_of_a_file(tmp_path):
    good = [SystemEvent(0, 0, 1, "O"), AddOrder(1, 0, 2, 1, "B", 100, "ZZZ", 10_000)]
    head = b"".join(encode_framed(m) for m in good)
    path = tmp_path / "bad.itch"
    path.write_bytes(head + b"\x00\x13*" + bytes(18) + encode_framed(good[0]))
    seen = []
    with pytest.raises(ItchDecodeError) as info:
        for message in iter_messages(path, lenient=True):  # lenient forgives only a cut tail
            seen.append(message)
    assert seen == good
    assert (info.value.offset, info.value.message_type) == (len(head), "*")


def test_empty_file(tmp_path):
    path = tmp_path / "empty.itch"
    path.write_bytes(b"")
    assert read_messages(path) == []
    assert file_stats(path)["messages"] == 0


def test_missing_file_raises_oserror(tmp_path):
    with pytest.raises(FileNotFoundError):
        read_messages(Path(tmp_path / "nope.itch"))


@pytest.mark.parametrize("name", [REAL_1000, MEATPY, RITCH + ".gz"])
def test_frames_are_the_file_bytes_and_re_encode_exactly(shared_data, name):
    """Decoding then encoding real messages gives back their bytes, exactly."""
    path = shared_data / name
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ItchFileWarning)
        frames = list(iter_frames(path, chunk_size=1000))
        messages = read_messages(path)
        with open_itch(path) as stream:
            data = stream.read()
    assert len(frames) == len(messages)
    assert [encode(m) for m in messages] == frames
    assert sum(2 + len(f) for f in frames) == len(data)
    if name == REAL_1000:
        assert b"".join(encode_framed(m) for m in messages) == data
