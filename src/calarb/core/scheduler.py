"""The event scheduler: a time-ordered queue of actions driving a `SimulatedClock`.

Everything that happens later in a simulated run (an order reaching a venue, a report or a
feed message reaching the engine, a timer) is an action scheduled at a time. `run_until(t)`
pops every event due at or before t in (time, insertion number) order, moves the clock to the
event's time and calls it; events it schedules run in the same pass when due. Ties keep
insertion order, so a run is deterministic.

Drivers that batch events themselves use the public parts below: `queue` is the heap itself,
of `(at_ns, sequence, action, args)` entries, which they may push to and pop from with
`heapq` as long as every sequence number comes from `next_sequence` (the compiled replay
numbers the events it makes in bulk, then moves `next_sequence` past them); `running` is the
entry of the event running (or run last); `run_next()` runs the head event.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable

from calarb.core.clock import SimulatedClock

_heappop = heapq.heappop
_heappush = heapq.heappush


class EventScheduler:
    """A time-ordered event queue driving a SimulatedClock (see the module docstring)."""

    def __init__(self, clock: SimulatedClock) -> None:
        self.clock = clock
        self.queue: list[tuple[int, int, Callable[..., object], tuple]] = []
        self.next_sequence = 0  # the insertion number of the next event scheduled
        self.events_run = 0
        # (time, insertion number, action, args) of the event running or run last
        self.running: tuple[int, int, Callable[..., object] | None, tuple] = (
            clock.monotonic_ns(), -1, None, (),
        )  # fmt: skip

    def schedule(self, at_ns: int, action: Callable[..., object], *args: object) -> None:
        sequence = self.next_sequence
        self.next_sequence = sequence + 1
        _heappush(self.queue, (at_ns, sequence, action, args))

    def schedule_in(self, delay_ns: int, action: Callable[..., object], *args: object) -> None:
        self.schedule(self.clock.monotonic_ns() + delay_ns, action, *args)

    @property
    def pending(self) -> int:
        return len(self.queue)

    def next_time(self) -> int | None:
        return self.queue[0][0] if self.queue else None

    def run_next(self) -> None:
        """Pop the earliest event, move the clock to its time and run it."""
        self.running = entry = _heappop(self.queue)
        self.clock.advance_to(entry[0])
        self.events_run += 1
        entry[2](*entry[3])

    def run_until(self, until_ns: int) -> int:
        """Run due events, then leave the clock at `until_ns`; returns how many ran."""
        queue = self.queue
        count = 0
        while queue and queue[0][0] <= until_ns:
            self.run_next()
            count += 1
        self.clock.advance_to(until_ns)
        return count

    def run_until_held(
        self, until_ns: int, action: Callable[..., object], hold: Callable[[], bool]
    ) -> bool:
        """`run_until`, but stop before the first due event of `action` if `hold()` says so
        then (the event stays queued, the clock stays at the last event run); returns whether
        it stopped there."""
        queue = self.queue
        while queue and queue[0][0] <= until_ns:
            if queue[0][2] is action and hold():
                return True
            self.run_next()
        self.clock.advance_to(until_ns)
        return False
