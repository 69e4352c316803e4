"""What a MoldUDP64 subscriber tells the operator: its recovery state and rate-limited warnings.

`FeedHealth` reads a `MoldReceiver`'s counters and gaps from a timer (never per packet) and
says, at most once per `warn_interval_ns` each: how many bad, foreign-session, too-far-ahead
and overflowed packets arrived since it last said so; "feed X stuck on gap N..M since T" when
a gap has been open longer than `stuck_after_ns` (and once when it closes); the progress of a
catch-up (a late join). `state(now_ns)` is the same picture for an engine or a summary.

Times come in as arguments (monotonic and wall ns); the caller reads the clocks.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from calarb.itch.mold_receiver import MoldReceiver

log = logging.getLogger("calarb.itch.feed")

DEFAULT_STUCK_AFTER_NS = 1_000_000_000
DEFAULT_WARN_INTERVAL_NS = 10_000_000_000

LIVE = "live"
RECOVERING = "recovering"
STUCK = "stuck"
CATCHING_UP = "catching_up"

_COUNTED = (
    ("packets_bad", "malformed"),
    ("packets_wrong_session", "of another session"),
    ("jumps_refused", "too far ahead to trust"),
    ("messages_overflowed", "messages over the out-of-order buffer"),
)


def format_wall(wall_ns: int) -> str:
    return datetime.fromtimestamp(wall_ns / 1e9, UTC).strftime("%H:%M:%S.%f")[:-3] + "Z"


@dataclass(slots=True)
class RateLimit:
    """True at most once per `interval_ns`; counts what it held back meanwhile."""

    interval_ns: int
    last_ns: int | None = None
    held_back: int = 0

    def allow(self, now_ns: int) -> bool:
        if self.last_ns is not None and now_ns - self.last_ns < self.interval_ns:
            self.held_back += 1
            return False
        self.last_ns = now_ns
        self.held_back = 0
        return True


class FeedHealth:
    """Recovery state and rate-limited warnings of one subscriber's receiver."""

    def __init__(
        self,
        name: str,
        receiver: MoldReceiver,
        *,
        stuck_after_ns: int = DEFAULT_STUCK_AFTER_NS,
        warn_interval_ns: int = DEFAULT_WARN_INTERVAL_NS,
    ) -> None:
        self.name = name
        self.receiver = receiver
        self.stuck_after_ns = stuck_after_ns
        self.warn_interval_ns = warn_interval_ns
        self.warnings_logged = 0
        self.stuck_reports = 0
        self._counted_logged = [0] * len(_COUNTED)
        self._counted_limit = RateLimit(warn_interval_ns)
        self._stuck_limit = RateLimit(warn_interval_ns)
        self._progress_limit = RateLimit(warn_interval_ns)
        self._stuck_gap: tuple[int, int] | None = None
        self._caught_up_logged = True

    def state(self, now_ns: int) -> dict[str, Any]:
        """{"state": live | recovering | stuck | catching_up, ...details}."""
        receiver = self.receiver
        details: dict[str, Any] = {
            "next_sequence": receiver.next_sequence,
            "highest_known": receiver.highest_known_sequence,
            "buffered": receiver.buffered_messages,
        }
        detected = receiver.oldest_gap_detected_ns
        if receiver.catching_up(now_ns):
            details["state"] = CATCHING_UP
            details["target"] = receiver.claimed_sequence
            details["progress"] = round(receiver.next_sequence / receiver.claimed_sequence, 4)
        elif detected is not None and now_ns - detected >= self.stuck_after_ns:
            start, end = receiver.missing_ranges[0]
            details["state"] = STUCK
            details["gap"] = [start, end - 1]
            details["stuck_s"] = round((now_ns - detected) / 1e9, 3)
        elif detected is not None:
            details["state"] = RECOVERING
        else:
            details["state"] = LIVE
        return details

    def check(self, now_ns: int, wall_ns: int) -> None:
        """Log what is due (call from a timer)."""
        self._check_counted(now_ns)
        self._check_stuck(now_ns, wall_ns)
        self._check_catch_up(now_ns)

    def _warn(self, message: str, *args: object) -> None:
        self.warnings_logged += 1
        log.warning(message, *args)

    def _check_counted(self, now_ns: int) -> None:
        stats = self.receiver.stats
        totals = [getattr(stats, name) for name, _ in _COUNTED]
        if totals == self._counted_logged or not self._counted_limit.allow(now_ns):
            return
        parts = [
            f"{total - logged} {what} (total {total})"
            for (_, what), total, logged in zip(_COUNTED, totals, self._counted_logged, strict=True)
            if total != logged
        ]
        self._counted_logged = totals
        detail = ""
        error = self.receiver.last_error
        if stats.packets_bad and error is not None:
            detail += f"; last malformed: {error}"
        jump = self.receiver.last_refused_jump
        if stats.jumps_refused and jump is not None:
            detail += f"; last claimed sequence {jump[0] - 1} with {jump[1] - 1} trusted"
        self._warn("feed %s: dropped packets: %s%s", self.name, ", ".join(parts), detail)

    def _check_stuck(self, now_ns: int, wall_ns: int) -> None:
        receiver = self.receiver
        detected = receiver.oldest_gap_detected_ns
        if detected is None or now_ns - detected < self.stuck_after_ns:
            if self._stuck_gap is not None:
                start, end = self._stuck_gap
                log.info("feed %s: gap %d..%d recovered", self.name, start, end)
                self._stuck_gap = None
                self._stuck_limit.last_ns = None
            return
        start, end = receiver.missing_ranges[0]
        self._stuck_gap = (start, end - 1)
        if not self._stuck_limit.allow(now_ns):
            return
        self.stuck_reports += 1
        since = format_wall(wall_ns - (now_ns - detected))
        self._warn(
            "feed %s stuck on gap %d..%d since %s (%.1f s; %d requests timed out, next asked "
            "every %.1f s; %d messages buffered)",
            self.name, start, end - 1, since, (now_ns - detected) / 1e9,
            receiver.stats.requests_timed_out, receiver.request_timeout_now_ns / 1e9,
            receiver.buffered_messages,
        )  # fmt: skip

    def _check_catch_up(self, now_ns: int) -> None:
        receiver = self.receiver
        if not receiver.catching_up(now_ns):
            if not self._caught_up_logged:
                self._caught_up_logged = True
                log.info("feed %s: caught up at sequence %d", self.name, receiver.next_sequence)
            return
        if self._caught_up_logged:
            self._caught_up_logged = False
            self._progress_limit.last_ns = None
        if self._progress_limit.allow(now_ns):
            target = receiver.claimed_sequence
            log.info(
                "feed %s: catching up, sequence %d of %d (%.1f%%), asking in chunks of %d, "
                "%d in flight at most",
                self.name, receiver.next_sequence, target - 1,
                100.0 * receiver.next_sequence / target, receiver.max_request_count,
                receiver.max_requests_in_flight,
            )  # fmt: skip
