"""The messages a MoldUDP64 sender keeps for retransmission: a bounded window in memory and,
optionally, everything older in a spill file, so a publisher's memory stays flat all day
while a late joiner can still be answered from sequence 1.

The spill file is any binary file opened for reading and writing (the caller opens it: a
temporary file for a venue). Messages are appended length-prefixed (2 bytes, as in a
MoldUDP64 block) in sequence order, in batches as they leave memory; every `INDEX_EVERY`-th
message's file offset is kept (8 bytes per 256 messages), so a read seeks to the nearest
indexed message before it and skips forward.
"""

from __future__ import annotations

import struct
from array import array
from collections.abc import Iterable
from typing import BinaryIO

from calarb.itch.mold_packets import DEFAULT_HISTORY_LIMIT

INDEX_EVERY = 256
_LENGTH = struct.Struct(">H")


class SpillFile:
    """Messages from `first_sequence` on, appended in order to `file`, read back by sequence."""

    def __init__(self, file: BinaryIO, first_sequence: int = 1) -> None:
        self.file = file
        self.first_sequence = first_sequence
        self.next_sequence = first_sequence
        self._offsets = array("q")  # file offset of message first_sequence + k * INDEX_EVERY
        self._end = 0

    def append(self, messages: list[bytes]) -> None:
        parts = []
        offset = self._end
        number = self.next_sequence - self.first_sequence
        for message in messages:
            if number % INDEX_EVERY == 0:
                self._offsets.append(offset)
            parts.append(_LENGTH.pack(len(message)))
            parts.append(message)
            offset += 2 + len(message)
            number += 1
        self.file.seek(self._end)
        self.file.write(b"".join(parts))
        self._end = offset
        self.next_sequence += len(messages)

    def get(self, start: int, count: int) -> list[bytes]:
        """Messages [start, start + count) within what the file holds."""
        start = max(start, self.first_sequence)
        end = min(start + count, self.next_sequence)
        if start >= end:
            return []
        slot = (start - self.first_sequence) // INDEX_EVERY
        number = self.first_sequence + slot * INDEX_EVERY
        self.file.seek(self._offsets[slot])
        read = self.file.read
        out = []
        while number < end:
            (length,) = _LENGTH.unpack(read(2))
            message = read(length)
            if number >= start:
                out.append(message)
            number += 1
        return out


class MessageHistory:
    """The last `limit` messages sent, by sequence number, for retransmission; with a
    `spill`, the older ones too (from the file)."""

    def __init__(
        self,
        first_sequence: int = 1,
        limit: int = DEFAULT_HISTORY_LIMIT,
        spill: SpillFile | None = None,
    ) -> None:
        if limit < 1:
            raise ValueError(f"history limit must be at least 1, got {limit}")
        if spill is not None and spill.next_sequence != first_sequence:
            raise ValueError(
                f"spill file ends before {spill.next_sequence}, history starts at {first_sequence}"
            )
        self.limit = limit
        self.spill = spill
        self._messages: list[bytes] = []
        self._base = first_sequence  # sequence of self._messages[0]

    @property
    def first_sequence(self) -> int:
        """The oldest sequence still held (equals next_sequence when empty)."""
        if self.spill is not None:
            return self.spill.first_sequence
        return self._base + max(0, len(self._messages) - self.limit)

    @property
    def memory_first_sequence(self) -> int:
        """The oldest sequence held in memory."""
        return self._base + max(0, len(self._messages) - self.limit)

    @property
    def next_sequence(self) -> int:
        return self._base + len(self._messages)

    def __len__(self) -> int:
        return self.next_sequence - self.first_sequence

    def extend(self, messages: Iterable[bytes]) -> None:
        self._messages.extend(messages)
        excess = len(self._messages) - self.limit
        if excess > self.limit // 4:  # amortised trim: keeps slices O(answer), not O(history)
            if self.spill is not None:
                self.spill.append(self._messages[:excess])
            del self._messages[:excess]
            self._base += excess

    def get(self, start: int, count: int) -> tuple[int, list[bytes]]:
        """Messages of [start, start + count) still held: (first sequence returned, messages).
        Evicted and not-yet-sent sequences are left out, so the result may be shorter."""
        first = max(start, self.first_sequence)
        end = min(start + count, self.next_sequence)
        if first >= end:
            return first, []
        if first < self._base:  # from the spill file, then from memory
            spilled = self.spill.get(first, min(end, self._base) - first)
            return first, spilled + self._messages[: max(0, end - self._base)]
        return first, self._messages[first - self._base : end - self._base]
