"""Message stores: both sequence numbers and the outbound application messages to resend.

`MemoryStore` lives and dies with the process. `FileStore` is an append-only journal: changes
are collected as small records and written by `flush()` with one `os.write` on an O_APPEND
descriptor; the session flushes its store before it hands out bytes to send, so whatever the
peer has seen is in the kernel, and survives the process being killed (SIGKILL). `fsync`
chooses whether each flush is also forced to the disk (survives a power cut; one fsync covers
every record of the batch).

Journal record: kind (1 byte) | sequence number (u64 LE) | payload length (u32 LE) | payload.
Kinds: ``M`` outbound message (implies next sender = seq + 1), ``S`` next sender number,
``T`` next target number, ``R`` reset (both numbers to 1, messages dropped). A torn record at
the tail (a crash mid-write) is ignored on load and truncated away.
"""

from __future__ import annotations

import os
import struct
from pathlib import Path

_RECORD = struct.Struct("<cQI")


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
        self._load()
        self._fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        self._pending = bytearray()

    def _load(self) -> None:
        if not self.path.exists():
            return
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
        if pos != len(data):  # torn tail from a crash mid-write: drop it
            with open(self.path, "r+b") as handle:
                handle.truncate(pos)

    def _append(self, kind: bytes, seq: int, payload: bytes = b"") -> None:
        self._pending += _RECORD.pack(kind, seq, len(payload))
        self._pending += payload

    def flush(self) -> None:
        if self._pending:
            data = bytes(self._pending)
            self._pending.clear()
            written = os.write(self._fd, data)
            while written < len(data):
                written += os.write(self._fd, data[written:])
            if self.fsync:
                os.fsync(self._fd)

    def save_message(self, seq: int, raw: bytes) -> None:
        super().save_message(seq, raw)
        self._append(b"M", seq, raw)

    def set_next_sender(self, seq: int) -> None:
        if seq != self.next_sender_seq:
            super().set_next_sender(seq)
            self._append(b"S", seq)

    def set_next_target(self, seq: int) -> None:
        if seq != self.next_target_seq:
            super().set_next_target(seq)
            self._append(b"T", seq)

    def reset(self) -> None:
        """Start a new journal: the old file is replaced atomically by an empty one."""
        super().reset()
        self._pending.clear()
        os.close(self._fd)
        tmp = self.path.with_suffix(self.path.suffix + ".new")
        tmp.write_bytes(_RECORD.pack(b"R", 0, 0))
        os.replace(tmp, self.path)
        self._fd = os.open(self.path, os.O_WRONLY | os.O_APPEND, 0o644)

    def close(self) -> None:
        if self._fd >= 0:
            self.flush()
            os.close(self._fd)
            self._fd = -1
