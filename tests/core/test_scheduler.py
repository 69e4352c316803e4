"""The event scheduler: time order, insertion order on ties, and the public parts the
replays drive it with."""

from __future__ import annotations

import heapq

from calarb.core.clock import SimulatedClock
from calarb.core.scheduler import EventScheduler


def _scheduler():
    clock = SimulatedClock(1_000)
    return EventScheduler(clock), clock


def test_events_run_in_time_then_insertion_order_and_move_the_clock():
    scheduler, clock = _scheduler()
    ran = []
    scheduler.schedule(3_000, lambda: ran.append(("b", clock.monotonic_ns())))
    scheduler.schedule(2_000, lambda: ran.append(("a", clock.monotonic_ns())))
    scheduler.schedule(3_000, lambda: ran.append(("c", clock.monotonic_ns())))
    scheduler.schedule_in(5_000, ran.append, ("late", 6_000))
    assert scheduler.pending == 4 and scheduler.next_time() == 2_000
    assert scheduler.run_until(3_500) == 3
    assert ran == [("a", 2_000), ("b", 3_000), ("c", 3_000)]
    assert clock.monotonic_ns() == 3_500
    assert scheduler.events_run == 3 and scheduler.pending == 1


def test_an_event_scheduled_by_an_event_runs_in_the_same_pass_when_due():
    scheduler, clock = _scheduler()
    ran = []

    def first():
        ran.append("first")
        scheduler.schedule_in(10, lambda: ran.append(clock.monotonic_ns()))

    scheduler.schedule(2_000, first)
    assert scheduler.run_until(2_010) == 2
    assert ran == ["first", 2_010]


def test_running_names_the_event_in_progress():
    scheduler, clock = _scheduler()
    assert scheduler.running[:2] == (1_000, -1)
    seen = []
    scheduler.schedule(2_000, lambda: seen.append(scheduler.running[:2]))
    scheduler.schedule(2_000, lambda: seen.append(scheduler.running[:2]))
    scheduler.run_until(2_000)
    assert seen == [(2_000, 0), (2_000, 1)]


def test_run_until_held_stops_before_a_held_action():
    scheduler, clock = _scheduler()
    ran = []

    def tick():
        ran.append("tick")

    scheduler.schedule(2_000, ran.append, "before")
    scheduler.schedule(3_000, tick)
    scheduler.schedule(3_000, ran.append, "after")
    assert scheduler.run_until_held(5_000, tick, lambda: True)
    assert ran == ["before"] and clock.monotonic_ns() == 2_000
    assert scheduler.queue[0][2] is tick
    assert not scheduler.run_until_held(5_000, tick, lambda: False)
    assert ran == ["before", "tick", "after"] and clock.monotonic_ns() == 5_000
    assert scheduler.events_run == 3


def test_entries_numbered_outside_take_their_place_in_the_queue():
    """A batch driver pushes entries it numbered from `next_sequence` itself."""
    scheduler, clock = _scheduler()
    ran = []
    scheduler.schedule(2_000, ran.append, "scheduled")
    base = scheduler.next_sequence
    heapq.heappush(scheduler.queue, (2_000, base + 1, ran.append, ("second",)))
    heapq.heappush(scheduler.queue, (2_000, base, ran.append, ("first",)))
    scheduler.next_sequence = base + 2
    scheduler.schedule(2_000, ran.append, "last")
    scheduler.run_until(2_000)
    assert ran == ["scheduled", "first", "second", "last"]
