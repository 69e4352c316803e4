"""What a FIX session reports to its transport and application (the `on_bytes`, `poll` and
connection calls return lists of these)."""

from __future__ import annotations

from dataclasses import dataclass

from calarb.fix.codec import FixMessage


@dataclass(frozen=True, slots=True)
class LoggedOn:
    next_sender_seq: int
    next_target_seq: int


@dataclass(frozen=True, slots=True)
class AppMessageReceived:
    message: FixMessage


@dataclass(frozen=True, slots=True)
class RejectSent:
    ref_seq_num: int | None
    reason: int
    tag: int | None
    text: str


@dataclass(frozen=True, slots=True)
class RejectReceived:
    message: FixMessage


@dataclass(frozen=True, slots=True)
class GarbledIgnored:
    reason: str


@dataclass(frozen=True, slots=True)
class ResendRequested:
    begin: int
    end: int


@dataclass(frozen=True, slots=True)
class Disconnected:
    """The transport must flush `data_to_send()` and close the connection."""

    reason: str


SessionEvent = (
    LoggedOn
    | AppMessageReceived
    | RejectSent
    | RejectReceived
    | GarbledIgnored
    | ResendRequested
    | Disconnected
)
