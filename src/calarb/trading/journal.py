"""Append-only journal of order events, one JSON line per OMS input.

Line format: ``{"k": kind, "t": now_ns, "v": [field values in NamedTuple order]}``, kinds
`order` (VenueOrder), `cancel` (CancelRequest), `replace` (ReplaceRequest), `report`
(ExecutionReport), `cancel_reject` (CancelReject) and `close_local` ([ClOrdID, OrdStatus, reason]).
Enums are written as their FIX codes (Side as +1/-1).

Each line goes to the kernel with one `os.write` on an O_APPEND descriptor before the OMS
applies it, so a crash of the process loses nothing that was applied. `FsyncPolicy` decides
when the data is also forced to the disk (power loss): NEVER (kernel only, the default: an
fsync costs milliseconds on a disk), FILLS (after new orders and fill reports), ALWAYS.

On reopening, a last line without its newline or that does not parse (the write a crash
interrupted) is reported in `JournalContents.truncated_bytes` and cut off the file; a bad line
anywhere else raises `JournalCorruptError` naming the line and byte offset: that is not a
crash artefact, and silently skipping it could lose an order.
"""

from __future__ import annotations

import enum
import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any, NamedTuple

from calarb.core.order_events import (
    CancelReject,
    CancelRequest,
    ExecutionReport,
    ReplaceRequest,
    VenueOrder,
)
from calarb.core.orders import ExecType, OrderPurpose
from calarb.core.types import Side
from calarb.trading.orders import Liquidity, OrdStatus, OrdType, TimeInForce


class FsyncPolicy(enum.StrEnum):
    NEVER = "never"
    FILLS = "fills"
    ALWAYS = "always"


class JournalCorruptError(ValueError):
    def __init__(self, path: Path, line: int, offset: int, reason: str) -> None:
        super().__init__(f"{path}: line {line} (byte offset {offset}): {reason}")
        self.path = path
        self.line = line
        self.offset = offset


def _tuple_decoder(cls: type, converters: dict[int, Callable[[Any], Any]]) -> Callable:
    """Values in field order to `cls`. Lines written before a trailing field existed lack it
    (its default applies)."""

    def decode(values: list) -> Any:
        for index, convert in converters.items():
            if index < len(values) and values[index] is not None:  # older lines: fewer fields
                values[index] = convert(values[index])
        return cls(*values)

    return decode


_DECODERS: dict[str, Callable[[list], Any]] = {
    "order": _tuple_decoder(  # purpose (10): MANUAL on lines written before orders had one
        VenueOrder, {4: Side, 7: OrdType, 8: TimeInForce, 10: OrderPurpose}
    ),
    "cancel": _tuple_decoder(CancelRequest, {5: Side}),
    "replace": _tuple_decoder(ReplaceRequest, {5: Side, 8: OrdType}),
    "report": _tuple_decoder(
        ExecutionReport,
        {4: ExecType, 5: OrdStatus, 7: Side, 16: Liquidity, 20: OrdType, 21: TimeInForce},
    ),
    "cancel_reject": _tuple_decoder(CancelReject, {4: OrdStatus}),
    "close_local": tuple,
}


class JournalEntry(NamedTuple):
    kind: str
    now_ns: int
    payload: Any


class JournalContents(NamedTuple):
    entries: list[JournalEntry]
    valid_bytes: int
    truncated_bytes: int  # bytes of an incomplete last line (0 if the file ended cleanly)
    truncation_reason: str


def read_journal(path: str | Path) -> JournalContents:
    """Parse a journal file; a missing file is an empty journal."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return JournalContents([], 0, 0, "")
    entries: list[JournalEntry] = []
    offset = 0
    line_number = 0
    size = len(data)
    while offset < size:
        line_number += 1
        end = data.find(b"\n", offset)
        last = end < 0 or end == size - 1
        raw = data[offset:] if end < 0 else data[offset:end]
        try:
            if end < 0:
                raise ValueError("line has no terminating newline")
            item = json.loads(raw)
            decoder = _DECODERS.get(item["k"])
            if decoder is None:
                raise ValueError(f"unknown record kind {item['k']!r}")
            entries.append(JournalEntry(item["k"], int(item["t"]), decoder(item["v"])))
        except (ValueError, KeyError, TypeError, IndexError) as error:
            if last:
                return JournalContents(entries, offset, size - offset, str(error))
            raise JournalCorruptError(path, line_number, offset, str(error)) from None
        offset = end + 1
    return JournalContents(entries, offset, 0, "")


def archive_journal(path: str | Path) -> Path:
    """Move a finished day's journal aside (`journal.jsonl` -> `journal.1.jsonl`, the next
    free number) so the next run starts a new one; returns where it went."""
    path = Path(path)
    number = 1
    while (target := path.with_name(f"{path.stem}.{number}{path.suffix}")).exists():
        number += 1
    path.rename(target)
    return target


class Journal:
    """Appends OMS inputs to a file (the OMS's `journal`)."""

    def __init__(self, path: str | Path, fsync: FsyncPolicy = FsyncPolicy.NEVER) -> None:
        self.path = Path(path)
        self.fsync = FsyncPolicy(fsync)
        self._fd: int | None = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        self.records_written = 0
        self._dumps = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False).encode

    @classmethod
    def open(
        cls, path: str | Path, fsync: FsyncPolicy = FsyncPolicy.NEVER
    ) -> tuple[Journal, JournalContents]:
        """Read what an earlier run wrote, cut an interrupted last line, and open for
        appending. Feed `contents.entries` to `OrderManager.replay`."""
        contents = read_journal(path)
        if contents.truncated_bytes:
            os.truncate(path, contents.valid_bytes)
        return cls(path, fsync), contents

    def record(self, kind: str, now_ns: int, payload: tuple) -> None:
        if self._fd is None:
            raise ValueError(f"journal {self.path} is closed")
        line = self._dumps({"k": kind, "t": now_ns, "v": payload}) + "\n"
        os.write(self._fd, line.encode())
        self.records_written += 1
        policy = self.fsync
        if policy is FsyncPolicy.ALWAYS or (
            policy is FsyncPolicy.FILLS
            and (kind == "order" or (kind == "report" and payload.last_qty))
        ):
            os.fsync(self._fd)

    def sync(self) -> None:
        if self._fd is not None:
            os.fsync(self._fd)

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    def __enter__(self) -> Journal:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
