"""Whole-file ITCH 5.0 decoding into NumPy structured arrays, one array per message type.

The framing walk is inherently sequential (each length prefix says where the next message
starts), so it runs as Numba loops: one validates every frame and counts the types, one
records each message's offset and groups the message numbers by type (a counting sort).
Field extraction then fills each type's whole array in one pass: a copy plan derived from
`calarb.itch.spec` says, per field, where its bytes are in the message and in the record
and whether to reverse them (big-endian wire integers to little-endian array fields).
`frame_length` is also the framing step of the bulk book replay (`calarb.book.bulk`).

Offsets reported anywhere in this module are byte offsets in the (decompressed) file: a
frame's offset is where its 2-byte length prefix starts; a message's `offset` column is
where its type byte is (frame offset + 2).
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from numba import njit

from calarb.itch.errors import ItchDecodeError
from calarb.itch.files import GZIP_MAGIC, ItchFileWarning, has_zero_length_prefixes, open_itch
from calarb.itch.messages import MESSAGE_CLASSES, ItchMessage
from calarb.itch.spec import MESSAGE_LENGTHS, MESSAGE_SPECS, FieldSpec

__all__ = [
    "LENGTH_TABLE",
    "BulkItch",
    "Frames",
    "decode_bytes",
    "decode_file",
    "decode_frames",
    "diagnose_frame",
    "frame_bytes",
    "frame_length",
    "load_itch_bytes",
    "record_dtype",
]

PREFIX_SIZE = 2

LENGTH_TABLE = np.zeros(256, dtype=np.int64)
"""Message length by type byte; 0 marks a byte that is not an ITCH 5.0 type."""
for _code, _length in MESSAGE_LENGTHS.items():
    LENGTH_TABLE[ord(_code)] = _length


ByteSource = str | os.PathLike[str] | bytes | bytearray | memoryview | np.ndarray


def load_itch_bytes(source: ByteSource) -> np.ndarray:
    """The bytes of an ITCH file (plain or gzip, detected by its magic number) or of an
    in-memory buffer, as a read-only uint8 array (no copy for in-memory input)."""
    if isinstance(source, np.ndarray):
        return source.view(np.uint8).reshape(-1)
    if isinstance(source, bytes | bytearray | memoryview):
        return np.frombuffer(source, dtype=np.uint8)
    path = Path(source)
    with path.open("rb") as probe:
        compressed = probe.read(len(GZIP_MAGIC)) == GZIP_MAGIC
    if compressed:
        with open_itch(path) as stream:
            return np.frombuffer(stream.read(), dtype=np.uint8)
    return np.fromfile(path, dtype=np.uint8)


# --------------------------------------------------------------------------- framing loop


def hot_kernel(function):
    """Numba for helpers on a per-message hot path: inlined into the caller and compiled
    without Numba's reference counting (`_nrt=False`). Passing arrays to a helper otherwise
    costs atomic reference-count updates per call, which dominated the replay loops (about
    twice slower). Such helpers and their callers must not allocate arrays."""
    return njit(cache=True, inline="always", _nrt=False)(function)


@hot_kernel
def frame_length(buf, pos, lengths, zero_prefixes):
    """Length of the message whose frame starts at `pos` (prefix excluded), or -1 if that
    frame is bad (unknown type, prefix disagreeing with the type, cut by the end of `buf`)."""
    size = buf.shape[0]
    if size - pos < PREFIX_SIZE + 1:
        return -1
    expected = lengths[buf[pos + PREFIX_SIZE]]
    prefix = (np.int64(buf[pos]) << 8) | np.int64(buf[pos + 1])
    if expected == 0 or (prefix != expected and not (zero_prefixes and prefix == 0)):
        return -1
    if pos + PREFIX_SIZE + expected > size:
        return -1
    return expected


@njit(cache=True, _nrt=False)
def _count_frames(buf, lengths, zero_prefixes, counts):
    """First pass: walk the frames, counting messages per type byte into `counts`.
    Returns (messages, end): `end` is the offset of the first bad frame, or the size."""
    size = buf.shape[0]
    pos = 0
    messages = 0
    while pos < size:
        length = frame_length(buf, pos, lengths, zero_prefixes)
        if length < 0:
            break
        counts[buf[pos + PREFIX_SIZE]] += 1
        messages += 1
        pos += PREFIX_SIZE + length
    return messages, pos


@njit(cache=True, _nrt=False)
def _fill_frames(buf, lengths, types, offsets, grouped, cursor):
    """Second pass over the validated frames: per message its type byte and the offset of
    its type byte, and the message numbers grouped by type (a counting sort: `cursor[t]`
    starts where type byte t's group begins; file order is kept within a group)."""
    pos = 0
    for i in range(types.shape[0]):
        type_byte = buf[pos + PREFIX_SIZE]
        types[i] = type_byte
        offsets[i] = pos + PREFIX_SIZE
        grouped[cursor[type_byte]] = i
        cursor[type_byte] += 1
        pos += PREFIX_SIZE + lengths[type_byte]


def diagnose_frame(buf: np.ndarray, offset: int, zero_prefixes: bool) -> ItchDecodeError:
    """The error for the bad frame starting at `offset` (as `frame_length` rejected it)."""
    present = int(buf.shape[0]) - offset
    if present < PREFIX_SIZE + 1:
        return ItchDecodeError(
            offset, None, f"truncated: {present} trailing byte(s), no whole frame"
        )
    type_byte = int(buf[offset + PREFIX_SIZE])
    type_code = chr(type_byte)
    expected = int(LENGTH_TABLE[type_byte])
    if expected == 0:
        return ItchDecodeError(offset, type_code, f"unknown message type byte 0x{type_byte:02x}")
    prefix = (int(buf[offset]) << 8) | int(buf[offset + 1])
    if prefix != expected and not (zero_prefixes and prefix == 0):
        return ItchDecodeError(
            offset, type_code, f"length prefix {prefix} disagrees with the type's length {expected}"
        )
    return ItchDecodeError(
        offset,
        type_code,
        f"truncated: {present - PREFIX_SIZE} of {expected} message bytes present at end of data",
    )


def detect_zero_prefixes(buf: np.ndarray) -> bool:
    """True (with an `ItchFileWarning`) if the buffer's length prefixes are zero, so frames
    must be read by their type's length."""
    zero_prefixes = has_zero_length_prefixes(buf[: PREFIX_SIZE + 1].tobytes())
    if zero_prefixes:
        warnings.warn(
            "ITCH length prefixes are zero; framing messages by their type's length",
            ItchFileWarning,
            stacklevel=3,
        )
    return zero_prefixes


def stop_at_bad_frame(
    buf: np.ndarray, end: int, zero_prefixes: bool, messages: int, lenient: bool
) -> ItchDecodeError | None:
    """None if the walk consumed the whole buffer; else the error of the frame at `end`,
    raised, or (lenient) returned after a warning that the messages before it are kept."""
    if end >= buf.shape[0]:
        return None
    error = diagnose_frame(buf, end, zero_prefixes)
    if not lenient:
        raise error
    warnings.warn(
        f"{error}; kept the {messages} whole messages before it", ItchFileWarning, stacklevel=3
    )
    return error


@dataclass(frozen=True, slots=True)
class Frames:
    """The framing of a buffer: message type bytes and type-byte offsets in file order,
    message numbers grouped by type, and how the walk ended."""

    buffer: np.ndarray
    types: np.ndarray  # uint8, one per message, file order
    offsets: np.ndarray  # int64, offset of each message's type byte
    grouped: np.ndarray  # int64 message numbers, grouped by type byte (file order within)
    starts: np.ndarray  # int64[257]: group of type byte t is grouped[starts[t]:starts[t+1]]
    consumed: int  # bytes framed as whole messages
    zero_prefixes: bool
    error: ItchDecodeError | None  # the first bad frame when decoded leniently

    @property
    def messages(self) -> int:
        return int(self.types.shape[0])

    def message_numbers(self, type_code: str) -> np.ndarray:
        """File-order message numbers of one type."""
        t = ord(type_code)
        return self.grouped[self.starts[t] : self.starts[t + 1]]

    def counts(self) -> dict[str, int]:
        """Message type letter -> count, for the types present."""
        sizes = np.diff(self.starts)
        return {chr(t): int(sizes[t]) for t in np.flatnonzero(sizes)}


def frame_bytes(source: ByteSource, *, lenient: bool = False) -> Frames:
    """Frame a whole ITCH buffer or file (2-byte big-endian length prefix per message).

    Files whose first length prefix is zero are read in zero-prefix mode: every message is
    framed by its type's length and a prefix must be 0 (or the right length); an
    `ItchFileWarning` says so. A bad frame raises `ItchDecodeError` naming its byte
    offset and type; with `lenient=True` the whole messages before it are kept, the error is
    stored in `Frames.error` and a warning is issued instead."""
    buf = load_itch_bytes(source)
    zero_prefixes = detect_zero_prefixes(buf)
    counts = np.zeros(256, dtype=np.int64)
    messages, end = _count_frames(buf, LENGTH_TABLE, zero_prefixes, counts)
    error = stop_at_bad_frame(buf, end, zero_prefixes, messages, lenient)
    starts = np.zeros(257, dtype=np.int64)
    np.cumsum(counts, out=starts[1:])
    types = np.empty(messages, dtype=np.uint8)
    offsets = np.empty(messages, dtype=np.int64)
    grouped = np.empty(messages, dtype=np.int64)
    _fill_frames(buf, LENGTH_TABLE, types, offsets, grouped, starts[:256].copy())
    return Frames(buf, types, offsets, grouped, starts, int(end), zero_prefixes, error)


# --------------------------------------------------------------------------- field extraction


def _native_dtype(field_spec: FieldSpec) -> np.dtype:
    if field_spec.kind == "alpha":
        return np.dtype(f"S{field_spec.size}")
    if field_spec.kind == "timestamp":
        return np.dtype("<u8")
    return np.dtype(f"<u{field_spec.size}")


def record_dtype(type_code: str) -> np.dtype:
    """The structured dtype of one message type's array: `index` (message number in the
    file), `offset` (byte offset of the type byte), then the specification's fields after
    the type byte, alpha as fixed bytes (space padded, as on the wire), integers unsigned of
    the wire width, timestamps uint64 nanoseconds. Packed, little-endian."""
    spec = MESSAGE_SPECS[type_code]
    fields = [("index", "<i8"), ("offset", "<i8")]
    fields += [(f.name, _native_dtype(f)) for f in spec.fields[1:]]
    return np.dtype(fields)


# Field copy plan rows: source offset in the message, source size, destination offset in the
# record, destination size, 1 to reverse the bytes (big-endian integer -> little-endian).
_COPY_COLUMNS = 5


def _copy_plan(type_code: str) -> np.ndarray:
    dtype = _RECORD_DTYPES[type_code]
    plan = [
        (f.offset, f.size, dtype.fields[f.name][1], dtype.fields[f.name][0].itemsize,
         0 if f.kind == "alpha" else 1)
        for f in MESSAGE_SPECS[type_code].fields[1:]
    ]  # fmt: skip
    return np.array(plan, dtype=np.int64).reshape(-1, _COPY_COLUMNS)


@njit(cache=True)
def _fill_records(buf, offsets, numbers, plan, out):
    """Write the records of one type into `out` (the record array viewed as an (n, itemsize)
    byte matrix) in one pass: message number and offset, then every field by the plan."""
    for i in range(offsets.shape[0]):
        src = offsets[i]
        number = numbers[i]
        for b in range(8):
            out[i, b] = (number >> (8 * b)) & 0xFF
            out[i, 8 + b] = (src >> (8 * b)) & 0xFF
        for f in range(plan.shape[0]):
            start = src + plan[f, 0]
            size = plan[f, 1]
            dst = plan[f, 2]
            if plan[f, 4] == 0:
                for b in range(size):
                    out[i, dst + b] = buf[start + b]
            else:
                for b in range(size):
                    out[i, dst + b] = buf[start + size - 1 - b]
                for b in range(size, plan[f, 3]):
                    out[i, dst + b] = 0


_RECORD_DTYPES = {code: record_dtype(code) for code in MESSAGE_SPECS}
_COPY_PLANS = {code: _copy_plan(code) for code in MESSAGE_SPECS}


def _extract(frames: Frames, type_code: str) -> np.ndarray:
    numbers = frames.message_numbers(type_code)
    dtype = _RECORD_DTYPES[type_code]
    out = np.empty(numbers.shape[0], dtype=dtype)
    if numbers.shape[0]:
        out_bytes = out.view(np.uint8).reshape(numbers.shape[0], dtype.itemsize)
        offsets = frames.offsets[numbers]
        _fill_records(frames.buffer, offsets, numbers, _COPY_PLANS[type_code], out_bytes)
    return out


@dataclass(frozen=True, slots=True)
class BulkItch:
    """A decoded ITCH file: one structured array per message type (`record_dtype`), plus the
    framing (type and offset of every message in file order)."""

    arrays: dict[str, np.ndarray]
    frames: Frames
    counts: dict[str, int] = field(default_factory=dict)

    @property
    def messages(self) -> int:
        return self.frames.messages

    @property
    def error(self) -> ItchDecodeError | None:
        return self.frames.error

    def __getitem__(self, type_code: str) -> np.ndarray:
        return self.arrays[type_code]

    def iter_messages(self) -> Iterator[ItchMessage]:
        """Every message as a typed record, in file order (slow: for checks and small files)."""
        rows: dict[str, np.ndarray] = self.arrays
        cursor = dict.fromkeys(rows, 0)
        for type_byte in self.frames.types:
            code = chr(type_byte)
            row = rows[code][cursor[code]]
            cursor[code] += 1
            yield _to_message(code, row)


def _to_message(type_code: str, row: np.void) -> ItchMessage:
    values = []
    for f in MESSAGE_SPECS[type_code].fields[1:]:
        value = row[f.name]
        if f.kind == "alpha":
            text = value.ljust(f.size, b"\0").decode("ascii")  # numpy drops trailing NULs
            values.append(text.rstrip(" ") if f.size > 1 else text)
        else:
            values.append(int(value))
    return MESSAGE_CLASSES[type_code](*values)


def decode_frames(frames: Frames, types: str | None = None) -> BulkItch:
    """Extract the arrays of `types` (letters; default every type, empty when absent)."""
    counts = frames.counts()
    wanted = MESSAGE_SPECS if types is None else [code for code in types if code in MESSAGE_SPECS]
    arrays = {code: _extract(frames, code) for code in wanted}
    return BulkItch(arrays, frames, counts)


def decode_bytes(
    data: bytes | bytearray | memoryview | np.ndarray,
    *,
    lenient: bool = False,
    types: str | None = None,
) -> BulkItch:
    """Decode an in-memory ITCH buffer (length-prefixed messages) into per-type arrays."""
    return decode_frames(frame_bytes(data, lenient=lenient), types)


def decode_file(
    path: str | os.PathLike[str], *, lenient: bool = False, types: str | None = None
) -> BulkItch:
    """Decode a whole ITCH file (plain or .gz) into per-type arrays; see `frame_bytes` for
    zero-prefix files and errors."""
    return decode_frames(frame_bytes(path, lenient=lenient), types)
