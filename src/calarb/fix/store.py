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
"""

from __future__ import annotations

import mmap
import os
import struct
from pathlib import Path

_RECORD = struct.Struct("<cQI")
_pack = _RECORD.pack
_GROWTH = 1 << 20  # the mapping grows by at least this many bytes at a time


class MemoryStore:
    """Sequence numbers and sent application messages in memory."""

    def __init__(self) -> None:
        self.next_sender_seq = 1
        self.next_target_seq = 1
        self._messages: dict[int, bytes] = {}

    def save_message(self, seq: int, raw: bytes) -> None:
        """Record an outbound message sent with MsgSeqNum `seq` (next sender becomes seq+1)."""
        self._messages[seq] = raw
        self.next_sender_seq = seq + 1

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
    """An append-only journal file; the in-memory view is rebuilt from it on open."""

    def __init__(self, path: str | Path, *, fsync: bool = False) -> None:
        super().__init__()
        self.path = Path(path)
        self.fsync = fsync
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._pending = bytearray()
        self._fd = -1
        self._map: mmap.mmap | None = None
        self._end = self._load()
        self._open(os.O_CREAT)

    def _load(self) -> int:
        """Replay the journal; returns the length of its whole records."""
        if not self.path.exists():
            return 0
        data = self.path.read_bytes()
        pos = 0
        size = _RECORD.size
        while pos + size <= len(data):
            kind, seq, length = _RECORD.unpack_from(data, pos)
            end = pos + size + length
            if end > len(data) or kind not in b"MSTR":
                break
            if kind == b"M":
                super().save_message(seq, data[pos + size : end])
            elif kind == b"S":
                self.next_sender_seq = seq
            elif kind == b"T":
                self.next_target_seq = seq
            else:
                super().reset()
            pos = end
        if pos != len(data):  # torn tail from a crash mid-write, or the zero tail: drop it
            with open(self.path, "r+b") as handle:
                handle.truncate(pos)
        return pos

    def _open(self, flags: int = 0) -> None:
        self._fd = os.open(self.path, os.O_RDWR | flags, 0o644)
        self._map_capacity(self._end + _GROWTH)

    def _map_capacity(self, capacity: int) -> None:
        if self._map is not None:
            self._map.close()
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

    def save_message(self, seq: int, raw: bytes) -> None:
        self._messages[seq] = raw
        self.next_sender_seq = seq + 1
        pending = self._pending
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
