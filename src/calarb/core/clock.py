"""Clocks. Logic never reads the wall clock directly: it is handed a Clock.

Two readings are offered: `monotonic_ns` for measuring intervals (latency, timeouts,
heartbeats) and `wall_ns` for timestamps that leave the process (FIX SendingTime, reports).
A SimulatedClock is advanced by whoever replays events, so a backtest is deterministic.
"""

from __future__ import annotations

import datetime as dt
import time
from typing import Protocol, runtime_checkable

DAY_NS = 86_400_000_000_000


@runtime_checkable
class Clock(Protocol):
    def monotonic_ns(self) -> int:
        """Nanoseconds from an arbitrary origin; never goes backwards."""
        ...

    def wall_ns(self) -> int:
        """Nanoseconds since the Unix epoch (UTC)."""
        ...


class LiveClock:
    """The system's clocks. Its readings are the `time` functions themselves (no wrapper
    frame: the tick-to-trade path reads this clock several times per order)."""

    __slots__ = ()

    monotonic_ns = staticmethod(time.monotonic_ns)
    wall_ns = staticmethod(time.time_ns)


class SimulatedClock:
    """A clock that moves only when told to. Both readings advance together.

    `wall_origin_ns` is the epoch time that corresponds to monotonic 0, so that simulated
    SendingTimes look like real dates.
    """

    __slots__ = ("_now_ns", "wall_origin_ns")

    def __init__(self, start_ns: int = 0, wall_origin_ns: int = 1_700_000_000_000_000_000) -> None:
        self._now_ns = start_ns
        self.wall_origin_ns = wall_origin_ns

    def monotonic_ns(self) -> int:
        return self._now_ns

    def wall_ns(self) -> int:
        return self.wall_origin_ns + self._now_ns

    def advance(self, delta_ns: int) -> int:
        if delta_ns < 0:
            raise ValueError(f"cannot move a clock backwards by {delta_ns} ns")
        self._now_ns += delta_ns
        return self._now_ns

    def advance_to(self, now_ns: int) -> int:
        """Move to `now_ns`; a time in the past is ignored (events may tie or arrive late)."""
        if now_ns > self._now_ns:
            self._now_ns = now_ns
        return self._now_ns


def utc_midnight_ns(day: dt.date) -> int:
    """The wall time (ns since the Unix epoch) of `day`'s midnight, UTC: the wall origin a
    simulated clock is given when its monotonic time counts from that midnight."""
    return (day - dt.date(1970, 1, 1)).days * DAY_NS
