"""The in-process venue of simulated runs: the engine's `OrderGateway` without a wire.

`SimulatedVenue` implements `calarb.trading.gateway.OrderGateway` in-process: a
`venue.matching.MatchingEngine` behind a configurable one-way latency, on a
`calarb.core.scheduler.EventScheduler` that runs a `SimulatedClock`. An order sent at t
reaches the matching engine at t + latency; its reports come back at arrival + latency; the
venue's book changes leave as ITCH 5.0 message bytes (through
`venue.itch_publisher.ItchPublisher`) and reach the market-data sink after the feed latency,
so the engine's market-data path is the real byte path. The synthetic backtest
(`calarb.backtest.synthetic`) builds on this; the trading engine does not know it (it sees
an `OrderGateway`).
"""

from __future__ import annotations

import itertools
from collections.abc import Callable

from calarb.core.order_events import (
    CancelReject,
    CancelRequest,
    ExecutionReport,
    ReplaceRequest,
    VenueOrder,
)
from calarb.core.scheduler import EventScheduler
from calarb.ops.latency import LatencyRecorder, Stage
from calarb.trading.gateway import ExecutionSink
from calarb.venue.itch_publisher import ItchPublisher
from calarb.venue.matching import MatchingEngine

MarketDataSink = Callable[[str, bytes], object]
"""Called with (venue name, one ITCH message without length prefix)."""


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
