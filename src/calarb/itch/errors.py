"""ITCH decoding errors: each names the byte offset and the message type where it happened."""

from __future__ import annotations


class ItchDecodeError(ValueError):
    """Bad ITCH bytes. `offset` is the byte offset of the message (or its length prefix)
    in the stream or file; `message_type` is the type letter when known, else None."""

    def __init__(self, offset: int, message_type: str | None, reason: str) -> None:
        self.offset = offset
        self.message_type = message_type
        self.reason = reason
        where = f"byte offset {offset}"
        what = f"message type {message_type!r}" if message_type is not None else "unknown message"
        super().__init__(f"ITCH decode error at {where} ({what}): {reason}")


class ItchEncodeError(ValueError):
    """A message field does not fit its ITCH layout (too long, negative, too large)."""
