"""Order gateways: how the engine reaches venues, without knowing whether over FIX or in-process.

`OrderGateway` is the engine's whole view of a venue's order entry: three calls that send
(new order, cancel, cancel/replace) and return nothing. Answers come back later by method
calls on an `ExecutionSink` (the engine): `on_execution_report` and `on_cancel_reject`.
A FIX-backed gateway (NewOrderSingle 35=D, 35=F, 35=G out; 35=8 and 35=9 in) implements the
same protocol over a FIX session.

`SimulatedVenue` is the in-process implementation: a `venue.matching.MatchingEngine` behind
a configurable one-way latency, on an `EventScheduler` that runs a `SimulatedClock`. An
order sent at t reaches the matching engine at t + latency; its reports come back at
arrival + latency; the venue's book changes leave as ITCH 5.0 message bytes (through
`venue.itch_publisher.ItchPublisher`) and reach the market-data sink after the feed latency,
so the engine's market-data path is the real byte path. The backtester builds on this.
"""

from __future__ import annotations

import heapq
import itertools
from collections.abc import Callable
from typing import Protocol

from calarb.core.clock import SimulatedClock
from calarb.core.order_events import (
    CancelReject,
    CancelRequest,
    ExecutionReport,
    ReplaceRequest,
    VenueOrder,
)
from calarb.ops.latency import LatencyRecorder, Stage
from calarb.venue.itch_publisher import ItchPublisher
from calarb.venue.matching import MatchingEngine


class OrderGateway(Protocol):
    """Order entry to one venue. Sends only; answers arrive on the `ExecutionSink`."""

    def send_new_order(self, order: VenueOrder, now_ns: int) -> None: ...

    def send_cancel(self, request: CancelRequest, now_ns: int) -> None: ...

    def send_replace(self, request: ReplaceRequest, now_ns: int) -> None: ...


class ExecutionSink(Protocol):
    """Where a gateway delivers what the venue answered (the engine)."""

    def on_execution_report(self, report: ExecutionReport, now_ns: int | None = None) -> None: ...

    def on_cancel_reject(self, reject: CancelReject, now_ns: int | None = None) -> None: ...


MarketDataSink = Callable[[str, bytes], object]
"""Called with (venue name, one ITCH message without length prefix)."""


class EventScheduler:
    """A time-ordered event queue driving a SimulatedClock.

    `run_until(t)` pops every event due at or before t in (time, insertion) order, moves the
    clock to the event's time and calls it; events it schedules run in the same pass when
    due. Ties keep insertion order, so a run is deterministic.
    """

    def __init__(self, clock: SimulatedClock) -> None:
        self.clock = clock
        self._queue: list[tuple[int, int, Callable[..., object], tuple]] = []
        self._sequence = itertools.count()
        self.events_run = 0

    def schedule(self, at_ns: int, action: Callable[..., object], *args: object) -> None:
        heapq.heappush(self._queue, (at_ns, next(self._sequence), action, args))

    def schedule_in(self, delay_ns: int, action: Callable[..., object], *args: object) -> None:
        self.schedule(self.clock.monotonic_ns() + delay_ns, action, *args)

    @property
    def pending(self) -> int:
        return len(self._queue)

    def next_time(self) -> int | None:
        return self._queue[0][0] if self._queue else None

    def run_until(self, until_ns: int) -> int:
        """Run due events, then leave the clock at `until_ns`; returns how many ran."""
        queue = self._queue
        count = 0
        while queue and queue[0][0] <= until_ns:
            self._run_head()
            count += 1
        return self._finish(until_ns, count)

    def _run_head(self) -> None:
        """Pop the earliest event, move the clock to its time and run it."""
        at_ns, _, action, args = heapq.heappop(self._queue)
        self.clock.advance_to(at_ns)
        action(*args)

    def _finish(self, until_ns: int, count: int) -> int:
        self.clock.advance_to(until_ns)
        self.events_run += count
        return count


class SimulatedVenue:
    """An in-process venue: matching engine + one-way latencies + ITCH market data.

    `participant` is calarb's identity on the venue (its SenderCompID); reports of other
    participants (the background market) are dropped, as a venue sends each owner only its
    own, with this venue's name and ExecIDs.
    Call `pump(now)` after anything else acts on the engine (background traders) to send the
    resulting reports and market data.
    """

    def __init__(
        self,
        name: str,
        engine: MatchingEngine,
        scheduler: EventScheduler,
        *,
        participant: str = "CALARB",
        order_latency_ns: int = 50_000,
        market_data_latency_ns: int = 20_000,
        publisher: ItchPublisher | None = None,
        recorder: LatencyRecorder | None = None,
    ) -> None:
        if order_latency_ns < 0 or market_data_latency_ns < 0:
            raise ValueError("latencies cannot be negative")
        self.name = name
        self.engine = engine
        self.scheduler = scheduler
        self.participant = participant
        self.order_latency_ns = order_latency_ns
        self.market_data_latency_ns = market_data_latency_ns
        self.publisher = publisher or ItchPublisher(engine.instruments)
        self.recorder = recorder
        self.execution_sink: ExecutionSink | None = None
        self.market_data_sink: MarketDataSink | None = None
        self._venue_ids: dict[str, int] = {}  # ClOrdID -> venue order id (the venue's own map)
        self._exec_ids = itertools.count(1)
        self.orders_received = 0
        self.cancels_received = 0
        self.replaces_received = 0
        self.reports_sent = 0
        self.messages_published = 0

    def connect(self, execution_sink: ExecutionSink, market_data_sink: MarketDataSink) -> None:
        self.execution_sink = execution_sink
        self.market_data_sink = market_data_sink

    def start_of_day(self, now_ns: int) -> None:
        """Publish the session frame (stock directory, trading states) to the feed."""
        from calarb.itch.codec import ENCODERS

        for message in self.publisher.start_of_day(now_ns):
            self._publish(ENCODERS[message.message_type](message), now_ns)

    # -- OrderGateway (calarb -> venue) ----------------------------------------------------

    def send_new_order(self, order: VenueOrder, now_ns: int) -> None:
        recorder = self.recorder
        if recorder is not None:
            recorder.stamp_once(Stage.FIX_ENCODED)
        self.scheduler.schedule(now_ns + self.order_latency_ns, self._arrive_new, order)
        if recorder is not None:
            recorder.stamp_once(Stage.WRITTEN)

    def send_cancel(self, request: CancelRequest, now_ns: int) -> None:
        self.scheduler.schedule(now_ns + self.order_latency_ns, self._arrive_cancel, request)

    def send_replace(self, request: ReplaceRequest, now_ns: int) -> None:
        self.scheduler.schedule(now_ns + self.order_latency_ns, self._arrive_replace, request)

    # -- at the venue ----------------------------------------------------------------------

    def _arrive_new(self, order: VenueOrder) -> None:
        now = self.scheduler.clock.monotonic_ns()
        self.orders_received += 1
        self.engine.submit(
            now,
            self.participant,
            order.cl_ord_id,
            order.symbol,
            order.side,
            order.quantity,
            order.price,
            order.ord_type,
            order.time_in_force,
        )
        self.pump(now)

    def _arrive_cancel(self, request: CancelRequest) -> None:
        now = self.scheduler.clock.monotonic_ns()
        self.cancels_received += 1
        order_id = self._venue_id(request.orig_cl_ord_id, request.order_id)
        self.engine.cancel(now, self.participant, order_id, request.cl_ord_id)
        self.pump(now)

    def _arrive_replace(self, request: ReplaceRequest) -> None:
        now = self.scheduler.clock.monotonic_ns()
        self.replaces_received += 1
        order_id = self._venue_id(request.orig_cl_ord_id, request.order_id)
        self.engine.replace(
            now, self.participant, order_id, request.cl_ord_id, request.quantity, request.price
        )
        self.pump(now)

    def _venue_id(self, cl_ord_id: str, order_id: str | None) -> int:
        known = self._venue_ids.get(cl_ord_id)
        if known is not None:
            return known
        return int(order_id) if order_id and order_id.isdigit() else 0

    def pump(self, now_ns: int) -> None:
        """Send calarb's reports and the book changes the engine produced since last time."""
        engine = self.engine
        if engine.reports:
            for event in engine.take_reports():
                if event.participant == self.participant:
                    self._answer(event, now_ns)
        if engine.book_events:
            for payload in self.publisher.encode(engine.take_book_events()):
                self._publish(payload, now_ns)

    def _answer(self, event: ExecutionReport | CancelReject, now_ns: int) -> None:
        sink = self.execution_sink
        at = now_ns + self.order_latency_ns
        self.reports_sent += 1
        # The venue's own reason enum stays at the venue (as over FIX, the text carries it).
        if type(event) is CancelReject:
            if sink is not None:
                reject = event._replace(venue=self.name, reason=None)
                self.scheduler.schedule(at, sink.on_cancel_reject, reject)
            return
        if event.order_id:
            self._venue_ids[event.cl_ord_id] = int(event.order_id)
        exec_id = f"{self.name}-{next(self._exec_ids)}"
        report = event._replace(venue=self.name, exec_id=exec_id, reason=None)
        if sink is not None:
            self.scheduler.schedule(at, sink.on_execution_report, report)

    def _publish(self, payload: bytes, now_ns: int) -> None:
        self.messages_published += 1
        sink = self.market_data_sink
        if sink is not None:
            self.scheduler.schedule(now_ns + self.market_data_latency_ns, sink, self.name, payload)
