"""Read ITCH 5.0 files: length-prefixed ("BinaryFILE") messages, plain or gzip-compressed.

Compression is recognised by the gzip magic bytes, not the file name. Files whose 2-byte
length prefixes are all zero are detected from the first frame and read by each type's
fixed length, with a warning. A file that ends in the middle of a message raises
`ItchDecodeError` naming the offset of the cut message, or, with `lenient=True`, yields the
whole messages before it and warns.
"""

from __future__ import annotations

import gzip
import os
import warnings
from collections import Counter
from collections.abc import Iterator
from typing import IO, Any

from calarb.itch.codec import LENGTHS_BY_BYTE
from calarb.itch.errors import ItchDecodeError
from calarb.itch.messages import MESSAGE_CLASSES, ItchMessage
from calarb.itch.spec import MESSAGE_LENGTHS
from calarb.itch.stream import PREFIX_LENGTH, FrameSplitter, StreamDecoder

GZIP_MAGIC = b"\x1f\x8b"
DEFAULT_CHUNK_SIZE = 1 << 20

StrPath = str | os.PathLike[str]

_SYMBOL_CLASSES = frozenset(MESSAGE_CLASSES[code] for code in "RAFP")
"""Stock directory and the order messages that name their stock."""


class ItchFileWarning(UserWarning):
    """An ITCH file was readable only by bending a rule (zero length prefixes, a cut tail)."""


def open_itch(path: StrPath) -> IO[bytes]:
    """Open an ITCH file for binary reading, decompressing it if it is gzip."""
    with open(path, "rb") as probe:
        magic = probe.read(len(GZIP_MAGIC))
    if magic == GZIP_MAGIC:
        return gzip.open(path, "rb")
    return open(path, "rb")


def has_zero_length_prefixes(first_bytes: bytes) -> bool:
    """True if the first frame has a zero length prefix before a known type byte: the file
    was written without prefixes filled in, and lengths must come from the types."""
    return (
        len(first_bytes) >= 3
        and first_bytes[0] == 0
        and first_bytes[1] == 0
        and first_bytes[2] in LENGTHS_BY_BYTE
    )


def iter_message_batches(
    path: StrPath, *, lenient: bool = False, chunk_size: int = DEFAULT_CHUNK_SIZE
) -> Iterator[list[ItchMessage]]:
    """The file's messages, one list per chunk read (the fast way to walk a big file)."""
    return _iter_batches(StreamDecoder, path, lenient, chunk_size)


def iter_frames(
    path: StrPath, *, lenient: bool = False, chunk_size: int = DEFAULT_CHUNK_SIZE
) -> Iterator[bytes]:
    """Each message's bytes, without its length prefix (e.g. to publish over MoldUDP64).
    Framing is checked as for `iter_messages`; field contents are not decoded."""
    for batch in _iter_batches(FrameSplitter, path, lenient, chunk_size):
        yield from batch


def _iter_batches(
    decoder_class: type[StreamDecoder], path: StrPath, lenient: bool, chunk_size: int
) -> Iterator[list[Any]]:
    with open_itch(path) as stream:
        chunk = stream.read(max(chunk_size, 3))  # enough to see the first prefix
        decoder = decoder_class(lengths_from_type=has_zero_length_prefixes(chunk))
        if decoder.lengths_from_type:
            warnings.warn(
                f"{os.fspath(path)}: ITCH length prefixes are zero; "
                "reading each message by its type's length",
                ItchFileWarning,
                stacklevel=2,
            )
        while chunk:
            batch = decoder.feed(chunk)
            if batch:
                yield batch
            chunk = stream.read(chunk_size)
        decoder.feed(b"")  # a bad frame that stopped decoding raises here, lenient or not
        if not (lenient and decoder.pending):
            decoder.finish()
            return
        try:
            decoder.finish()
        except ItchDecodeError as exc:  # only a truncated tail is left to report
            warnings.warn(
                f"{os.fspath(path)}: stopped at a truncated final message; {exc}",
                ItchFileWarning,
                stacklevel=2,
            )


def iter_messages(
    path: StrPath, *, lenient: bool = False, chunk_size: int = DEFAULT_CHUNK_SIZE
) -> Iterator[ItchMessage]:
    """Every message of the file, in order. See the module docstring for the rules."""
    for batch in iter_message_batches(path, lenient=lenient, chunk_size=chunk_size):
        yield from batch


def read_messages(path: StrPath, *, lenient: bool = False) -> list[ItchMessage]:
    """All messages of a (small) file as a list."""
    return list(iter_messages(path, lenient=lenient))


def file_stats(
    path: StrPath, *, lenient: bool = False, chunk_size: int = DEFAULT_CHUNK_SIZE
) -> dict[str, Any]:
    """Counts and extent of a file: `messages`, `by_type` (type letter -> count, sorted),
    `bytes` (ITCH bytes decoded, prefixes included: the uncompressed size of a whole file),
    `symbols` (distinct stock symbols named by stock directory and order messages),
    `first_timestamp_ns` and `last_timestamp_ns` (None for an empty file)."""
    by_class: Counter[type] = Counter()
    symbols: set[str] = set()
    first_timestamp = last_timestamp = None
    for batch in iter_message_batches(path, lenient=lenient, chunk_size=chunk_size):
        by_class.update(map(type, batch))
        symbols.update([m.stock for m in batch if type(m) in _SYMBOL_CLASSES])  # type: ignore[union-attr]
        if first_timestamp is None:
            first_timestamp = batch[0].timestamp
        last_timestamp = batch[-1].timestamp
    by_type = dict(sorted((cls.message_type, n) for cls, n in by_class.items()))
    return {
        "messages": sum(by_type.values()),
        "by_type": by_type,
        "bytes": sum((PREFIX_LENGTH + MESSAGE_LENGTHS[code]) * n for code, n in by_type.items()),
        "symbols": len(symbols - {""}),
        "first_timestamp_ns": first_timestamp,
        "last_timestamp_ns": last_timestamp,
    }
