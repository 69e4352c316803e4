"""Message stores: both sequence numbers and the outbound application messages to resend.

`MemoryStore` lives and dies with the process. `FileStore` is an append-only journal: changes
are collected as small records and written by `flush()` into a shared memory mapping of the
journal file (the kernel's page cache, the same place `os.write` puts data, without a system
call per write); the session flushes its store before it hands out bytes to send, so
whatever the peer has seen is in the kernel, and survives the process being killed
(SIGKILL). `fsync` chooses whether each flush is also forced to the disk (msync: survives a
power cut; one sync covers every record of the batch).

Journal record: kind (1 byte) | sequence number (u64 LE) | payload length (u32 LE) | payload.
Kinds: ``M`` outbound message (implies next sender = seq + 1), ``S`` next sender number,
``T`` next target number, ``R`` reset (both numbers to 1, messages dropped). The file is
grown ahead in steps and its unused tail is zeros; a flush writes its records and then, last,
the kind byte of the first one, so a batch cut short by a crash reads as the zero tail. On
load, reading stops at the first record that is not whole (a zero kind byte, a torn record)
and the file is truncated there; `close()` truncates the zero tail.

Memory is bounded: both stores keep the last `window` messages in memory. `MemoryStore`
forgets older ones, so a ResendRequest reaching below its window is answered with
SequenceReset-GapFill over the forgotten numbers (the FIX rule for messages that are not
resent); `FileStore` reads older ones back from its journal. The journal's mapping is released
to the kernel behind the write position (`madvise`), so its pages do not stay in the process.
"""

from __future__ import annotations

import mmap
import os
import struct
from bisect import bisect_right
from collections import OrderedDict
from pathlib import Path

_RECORD = struct.Struct("<cQI")
_pack = _RECORD.pack
_GROWTH = 1 << 20  # the mapping grows by at least this many bytes at a time
_RELEASE_STEP = 4 << 20  # bytes written between two releases of the mapping's pages
STORE_WINDOW = 10_000
INDEX_STEP = 1_024
"""A FileStore notes the journal offset of every INDEX_STEP-th message, so reading older
messages back starts near the first one asked for (a ResendRequest served in chunks reads
each chunk without walking the journal from its start)."""
"""Default number of sent application messages a store keeps in memory (StoreWindow)."""


def _journal_records(journal, end: int, start: int = 0):
    """(kind, seq, payload start, payload end) of each whole record from `start` to `end`;
    stops at the first record that is not whole or of no known kind."""
    size = _RECORD.size
    unpack = _RECORD.unpack_from
    pos = start
    while pos + size <= end:
        kind, seq, length = unpack(journal, pos)
        record_end = pos + size + length
        if record_end > end or kind not in b"MSTR":
            return
        yield kind, seq, pos + size, record_end
        pos = record_end


class MemoryStore:
    """Sequence numbers and the last `window` sent application messages, in memory."""

    def __init__(self, window: int = STORE_WINDOW) -> None:
        if window < 1:
            raise ValueError(f"store window {window} must be at least 1 message")
        self.next_sender_seq = 1
        self.next_target_seq = 1
        self.window = window
        # insertion-ordered with an O(1) pop of the oldest (deleting a plain dict's first key
        # again and again makes each next(iter()) walk the deleted slots before it)
        self._messages: OrderedDict[int, bytes] = OrderedDict()

    def save_message(self, seq: int, raw: bytes) -> None:
        """Record an outbound message sent with MsgSeqNum `seq` (next sender becomes seq+1)."""
        messages = self._messages
        messages[seq] = raw
        self.next_sender_seq = seq + 1
        if len(messages) > self.window:
            messages.popitem(last=False)  # the oldest: numbers only grow until a reset

    def set_next_sender(self, seq: int) -> None:
        self.next_sender_seq = seq

    def set_next_target(self, seq: int) -> None:
        self.next_target_seq = seq

    def get_messages(self, begin: int, end: int) -> dict[int, bytes]:
        """Stored messages with begin <= seq <= end."""
        messages = self._messages
        if end - begin < len(messages):
            return {seq: messages[seq] for seq in range(begin, end + 1) if seq in messages}
        return {seq: raw for seq, raw in messages.items() if begin <= seq <= end}

    def reset(self) -> None:
        self.next_sender_seq = 1
        self.next_target_seq = 1
        self._messages.clear()

    def flush(self) -> None:
        """Make the changes so far durable (nothing to do in memory)."""

    def close(self) -> None:
        pass


class FileStore(MemoryStore):
    """An append-only journal file. The in-memory view (the numbers and the last `window`
    messages) is rebuilt from it on open; older messages are read back from it when asked."""

    def __init__(
        self, path: str | Path, *, fsync: bool = False, window: int = STORE_WINDOW
    ) -> None:
        super().__init__(window)
        self.path = Path(path)
        self.fsync = fsync
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._pending = bytearray()
        self._fd = -1
        self._map: mmap.mmap | None = None
        self._released = 0  # the mapping before this offset was handed back to the kernel
        self._index_seqs: list[int] = []  # every INDEX_STEP-th message: its number...
        self._index_offsets: list[int] = []  # ...and its record's offset in the journal
        self._indexed = 0  # messages since the last reset (for the index step)
        self._end = self._load()
        self._open(os.O_CREAT)

    def _load(self) -> int:
        """Replay the journal (mapped, not read into memory); returns the length of its
        whole records."""
        if not self.path.exists() or self.path.stat().st_size == 0:
            return 0
        with open(self.path, "r+b") as handle:
            size_on_disk = os.fstat(handle.fileno()).st_size
            with mmap.mmap(handle.fileno(), size_on_disk, access=mmap.ACCESS_READ) as data:
                pos = 0
                for kind, seq, start, end in _journal_records(data, size_on_disk):
                    if kind == b"M":
                        MemoryStore.save_message(self, seq, data[start:end])
                        self._index(seq, start - _RECORD.size)
                    elif kind == b"S":
                        self.next_sender_seq = seq
                    elif kind == b"T":
                        self.next_target_seq = seq
                    else:
                        MemoryStore.reset(self)
                        self._clear_index()
                    pos = end
            if pos != size_on_disk:  # torn tail from a crash mid-write, or the zero tail
                handle.truncate(pos)
        return pos

    def get_messages(self, begin: int, end: int) -> dict[int, bytes]:
        """Stored messages with begin <= seq <= end: the window's from memory, older ones
        read back from the journal, from the indexed message nearest below `begin` up to the
        first past `end` (numbers only grow in a journal: a reset starts a new file)."""
        found = super().get_messages(begin, end)
        oldest_in_memory = next(iter(self._messages), self.next_sender_seq)
        if begin < oldest_in_memory and self._map is not None:
            self.flush()
            journal = self._map
            slot = bisect_right(self._index_seqs, begin) - 1
            start = self._index_offsets[slot] if slot >= 0 else 0
            older: dict[int, bytes] = {}
            for kind, seq, first, stop in _journal_records(journal, self._end, start):
                if kind == b"R":
                    older.clear()
                elif kind == b"M":
                    if seq > end or seq >= oldest_in_memory:
                        break
                    if seq >= begin:
                        older[seq] = journal[first:stop]
            found.update(older)
        return found

    def _index(self, seq: int, offset: int) -> None:
        if self._indexed % INDEX_STEP == 0:
            self._index_seqs.append(seq)
            self._index_offsets.append(offset)
        self._indexed += 1

    def _clear_index(self) -> None:
        self._index_seqs.clear()
        self._index_offsets.clear()
        self._indexed = 0

    def _open(self, flags: int = 0) -> None:
        self._fd = os.open(self.path, os.O_RDWR | flags, 0o644)
        self._map_capacity(self._end + _GROWTH)

    def _map_capacity(self, capacity: int) -> None:
        if self._map is not None:
            self._map.close()
        self._released = self._end  # a new mapping: nothing before the end is resident
        os.ftruncate(self._fd, capacity)
        if self.fsync:
            os.fsync(self._fd)  # the new size too must survive a power cut
        self._map = mmap.mmap(self._fd, capacity)

    def flush(self) -> None:
        pending = self._pending
        if pending:
            start = self._end
            end = start + len(pending)
            journal = self._map
            if end > len(journal):
                self._map_capacity(max(end, 2 * len(journal)) + _GROWTH)
                journal = self._map
            journal[start + 1 : end] = pending[1:]
            journal[start] = pending[0]  # last: the batch becomes visible whole
            self._end = end
            pending.clear()
            if self.fsync:
                page = start - start % mmap.ALLOCATIONGRANULARITY
                journal.flush(page, end - page)
            if end - self._released >= _RELEASE_STEP:
                self._release(journal, end)

    def _release(self, journal: mmap.mmap, end: int) -> None:
        """Hand the mapped pages behind `end` back to the kernel: the records stay in the
        file and the page cache, not in this process's resident memory."""
        upto = end - end % mmap.PAGESIZE
        start = self._released - self._released % mmap.PAGESIZE
        if upto > start:
            journal.madvise(mmap.MADV_DONTNEED, start, upto - start)
        self._released = upto

    def save_message(self, seq: int, raw: bytes) -> None:
        messages = self._messages
        messages[seq] = raw
        self.next_sender_seq = seq + 1
        if len(messages) > self.window:
            messages.popitem(last=False)  # the oldest (the journal keeps it)
        pending = self._pending
        self._index(seq, self._end + len(pending))
        pending += _pack(b"M", seq, len(raw))
        pending += raw

    def set_next_sender(self, seq: int) -> None:
        if seq != self.next_sender_seq:
            self.next_sender_seq = seq
            self._pending += _pack(b"S", seq, 0)

    def set_next_target(self, seq: int) -> None:
        if seq != self.next_target_seq:
            self.next_target_seq = seq
            self._pending += _pack(b"T", seq, 0)

    def _unmap(self) -> None:
        """Close the mapping and the file, cut to its whole records."""
        if self._map is not None:
            self._map.close()
            self._map = None
        if self._fd >= 0:
            os.ftruncate(self._fd, self._end)
            os.close(self._fd)
            self._fd = -1

    def reset(self) -> None:
        """Start a new journal: the old file is replaced atomically by an empty one."""
        super().reset()
        self._pending.clear()
        self._clear_index()
        self._unmap()
        tmp = self.path.with_suffix(self.path.suffix + ".new")
        record = _RECORD.pack(b"R", 0, 0)
        tmp.write_bytes(record)
        os.replace(tmp, self.path)
        self._end = len(record)
        self._open()

    def close(self) -> None:
        if self._fd >= 0:
            self.flush()
            self._unmap()
