"""An `OrderGateway` over a FIX 4.4 initiator session: the engine's orders on the wire.

Out: NewOrderSingle (35=D), OrderCancelRequest (35=F), OrderCancelReplaceRequest (35=G),
OrderStatusRequest (35=H). In: ExecutionReport (35=8) -> `ExecutionReport` (the core event,
through `fix.messages.order_event`) -> `sink.on_execution_report`; OrderCancelReject (35=9) ->
`sink.on_cancel_reject`. Every tag is written and read by calarb.fix.messages.

The gateway is the session's `Application` and is told about session events
(`on_session_event`): a Logon marks the venue connected for the router and, when orders are
open at the venue, starts a reconciliation (an OrderStatusRequest per open order; the
answers, ExecType I, are collected, then `reconcile` + `oms.apply_reconciliation`, and the
repairs' messages are sent); a disconnect marks the venue disconnected, so the router routes
around it. While the session is down, a new order is rejected at once (a local
ExecutionReport REJECTED, never sent late) and cancels wait for the next Logon.

Latency: the recorder gets FIX_ENCODED once the session has framed the NewOrderSingle and
WRITTEN once the bytes went to the transport. Round trips (NewOrderSingle written -> first
report) are kept per gateway (`round_trips_ns`); the engine feeds the router's latency from
its own submit -> ExecType NEW times, so the gateway does not feed it twice.

The gateway holds no socket: it writes through the session and a `flush` callable (the
initiator's), so the benchmark drives it over an unconnected session.
"""

from __future__ import annotations

import itertools
import logging
from collections import Counter, deque
from collections.abc import Callable

from calarb.core.clock import Clock
from calarb.core.order_events import (
    CancelReject,
    CancelRequest,
    ExecutionReport,
    ReplaceRequest,
    StatusRequest,
    VenueOrder,
)
from calarb.core.orders import ExecType, OrdStatus, OrdType, TimeInForce
from calarb.fix.codec import FixMessage
from calarb.fix.messages import (
    cancel_request_message,
    decode_cancel_reject,
    decode_execution_report,
    encode_new_order_single,
    order_event,
    replace_request_message,
    status_request_message,
    to_body,
)
from calarb.fix.messages.options import instrument_fields
from calarb.fix.session import Disconnected, FixSession, LoggedOn, SessionEvent
from calarb.ops.latency import LatencyRecorder, Stage
from calarb.trading.gateway import ExecutionSink
from calarb.trading.oms import OrderManager
from calarb.trading.orders import venue_order_fields
from calarb.trading.reconcile import Difference, reconcile
from calarb.trading.router import Router

log = logging.getLogger("calarb.trading.fix_gateway")

_FIX_ENCODED = Stage.FIX_ENCODED
_WRITTEN = Stage.WRITTEN
_LIMIT = OrdType.LIMIT
_ORDER_STATUS = ExecType.ORDER_STATUS
_NEW_ORDER, _CANCEL, _REPLACE, _STATUS = b"D", b"F", b"G", b"H"
_REPORT, _CANCEL_REJECT = b"8", b"9"
_TIME_IN_FORCE = {tif: tif.value.encode() for tif in TimeInForce}


class Reconciliation:
    """One reconciliation in progress: which status answers are still awaited."""

    __slots__ = ("started_ns", "awaited", "answers")

    def __init__(self, started_ns: int, awaited: set[str]) -> None:
        self.started_ns = started_ns
        self.awaited = awaited
        self.answers: list[ExecutionReport] = []


class FixOrderGateway:
    """Order entry to one venue over `session` (an initiator's `FixSession`).

    `flush` writes what the session has to send (FixInitiator.flush); `sink` is the engine;
    `oms` and `router` are the engine's (reconciliation, connection state). Set `sink`,
    `oms` and `router` after construction when the engine is built later (`attach`).
    """

    def __init__(
        self,
        venue: str,
        session: FixSession,
        flush: Callable[[], None],
        clock: Clock,
        *,
        recorder: LatencyRecorder | None = None,
        reconcile_timeout_ns: int = 2_000_000_000,
    ) -> None:
        self.venue = venue
        self.session = session
        self.clock = clock
        self.recorder = recorder
        self._stamps = recorder.stamps if recorder is not None else None  # stored inline
        self._stamp_now = recorder.now if recorder is not None else None
        self.reconcile_timeout_ns = reconcile_timeout_ns
        self.sink: ExecutionSink | None = None
        self.oms: OrderManager | None = None
        self.router: Router | None = None
        session.application = self
        self._flush = flush
        self._wall_ns = clock.wall_ns
        self._monotonic_ns = clock.monotonic_ns
        self._written_ns: dict[str, int] = {}
        self._symbols: dict[str, bytes] = {}
        self._instruments: dict[str, bytes] = {}  # OCC option symbol -> 167/200/201/202/541
        self.new_orders_sent = 0
        self._held_cancels: list[CancelRequest] = []
        self._local_ids = itertools.count(1)
        self.reconciliation: Reconciliation | None = None
        self.reconciliations = 0
        self.differences: list[Difference] = []
        self.round_trips_ns: deque[int] = deque(maxlen=10_000)
        self.counts: Counter[str] = Counter()
        self.connected = False
        self.connection_changes: list[tuple[int, bool]] = []  # (monotonic ns, connected)

    def attach(self, sink: ExecutionSink, oms: OrderManager, router: Router) -> None:
        """Wire the engine's pieces (the engine is built after its gateways)."""
        self.sink = sink
        self.oms = oms
        self.router = router
        router.set_connected(self.venue, self.connected)

    # -- OrderGateway ----------------------------------------------------------------------

    def send_new_order(self, order: VenueOrder, now_ns: int) -> None:
        session = self.session
        if not session.logged_on:
            self._reject_locally(order, f"venue {self.venue} is not connected")
            return
        fields = venue_order_fields(order)
        cl_ord_id = fields[0]
        symbol_name = fields[3]
        side = fields[4]
        quantity = fields[5]
        price = fields[6]
        ord_type = fields[7]
        time_in_force = fields[8]
        symbol = self._symbols.get(symbol_name)
        if symbol is None:
            symbol = self._symbols[symbol_name] = symbol_name.encode()
            instrument = instrument_fields(symbol_name)
            if instrument:
                self._instruments[symbol_name] = instrument
        wall_ns = self._wall_ns()
        now_text = session.format_time.format(wall_ns)  # TransactTime and SendingTime
        body = encode_new_order_single(
            cl_ord_id.encode(),
            symbol,
            side,
            quantity,
            price if ord_type is _LIMIT else None,
            now_text,
            _TIME_IN_FORCE[time_in_force],
        )
        if self._instruments:  # an option on an OCC symbol: its instrument block (empty for pairs)
            instrument = self._instruments.get(symbol_name)
            if instrument is not None:
                body += instrument
        session.send_body(_NEW_ORDER, body, self._monotonic_ns(), wall_ns, now_text)
        stamps = self._stamps
        if stamps is None:
            self._flush()
        else:
            if not stamps[_FIX_ENCODED]:
                stamps[_FIX_ENCODED] = self._stamp_now()
            self._flush()
            if not stamps[_WRITTEN]:
                stamps[_WRITTEN] = self._stamp_now()
        self._written_ns[cl_ord_id] = self._monotonic_ns()
        self.new_orders_sent += 1

    def send_cancel(self, request: CancelRequest, now_ns: int) -> None:
        if not self.session.logged_on:
            self._held_cancels.append(request)
            self.counts["cancel_held"] += 1
            return
        message = cancel_request_message(request, self._wall_ns())
        self.session.send_body(_CANCEL, to_body(message), self._monotonic_ns(), self._wall_ns())
        self._flush()
        self.counts["cancel"] += 1

    def send_replace(self, request: ReplaceRequest, now_ns: int) -> None:
        if not self.session.logged_on:
            self._reject_replace_locally(request)
            return
        message = replace_request_message(request, self._wall_ns())
        self.session.send_body(_REPLACE, to_body(message), self._monotonic_ns(), self._wall_ns())
        self._flush()
        self.counts["replace"] += 1

    def send_status_request(self, request: StatusRequest) -> None:
        message = status_request_message(request)
        self.session.send_body(_STATUS, to_body(message), self._monotonic_ns(), self._wall_ns())
        self._flush()
        self.counts["status_request"] += 1

    # -- session application ---------------------------------------------------------------

    def on_message(self, session: FixSession, message: FixMessage) -> None:
        """An in-sequence application message from the venue. Never raises for content the
        engine cannot use: it is logged and counted (the session keeps running)."""
        msg_type = message.msg_type
        try:
            if msg_type == _REPORT:
                self._on_execution_report(message)
            elif msg_type == _CANCEL_REJECT:
                self._on_cancel_reject(message)
            else:
                self.counts[f"ignored_{msg_type.decode('latin-1')}"] += 1
        except Exception as exc:  # a bad report or an engine bug must not kill the session
            self.counts["bad_message"] += 1
            log.error("%s: cannot apply %r: %s", self.venue, message, exc)

    def _on_execution_report(self, message: FixMessage) -> None:
        now = self._monotonic_ns()
        report = order_event(decode_execution_report(message), self.venue)
        written = self._written_ns.pop(report.cl_ord_id, None)
        if written is not None:
            self.round_trips_ns.append(now - written)
        self.counts["execution_report"] += 1
        if report.exec_type is _ORDER_STATUS and self.reconciliation is not None:
            self._on_status_answer(report, now)
            return
        if self.sink is not None:
            self.sink.on_execution_report(report, now)

    def _on_cancel_reject(self, message: FixMessage) -> None:
        now = self._monotonic_ns()
        reject = decode_cancel_reject(message, self.venue)
        self.counts["cancel_reject"] += 1
        if self.sink is not None:
            self.sink.on_cancel_reject(reject, now)

    def on_session_event(self, event: SessionEvent) -> None:
        """The initiator's session events (connection state, reconciliation)."""
        if isinstance(event, LoggedOn):
            self._set_connected(True)
            self._after_logon()
        elif isinstance(event, Disconnected):
            self._set_connected(False)
            self._written_ns.clear()

    def _set_connected(self, connected: bool) -> None:
        if connected != self.connected:
            self.connection_changes.append((self._monotonic_ns(), connected))
            self.counts["connected" if connected else "disconnected"] += 1
            log.info("%s: FIX session %s", self.venue, "up" if connected else "down")
        self.connected = connected
        if self.router is not None:
            self.router.set_connected(self.venue, connected)

    def _after_logon(self) -> None:
        held, self._held_cancels = self._held_cancels, []
        for request in held:
            self.send_cancel(request, self._monotonic_ns())
        self.start_reconciliation()

    # -- reconciliation --------------------------------------------------------------------

    def start_reconciliation(self) -> bool:
        """Ask the venue for the status of every order open here; False if none is open."""
        if self.oms is None or not self.session.logged_on:
            return False
        requests = self.oms.status_requests(self.venue)
        if not requests:
            return False
        self.reconciliation = Reconciliation(
            self._monotonic_ns(), {request.cl_ord_id for request in requests}
        )
        for request in requests:
            self.send_status_request(request)
        return True

    def _on_status_answer(self, report: ExecutionReport, now_ns: int) -> None:
        state = self.reconciliation
        assert state is not None
        state.answers.append(report)
        oms = self.oms
        record = oms.order(report.cl_ord_id) if oms is not None else None
        if record is not None:
            state.awaited.difference_update(record.chain)
        else:
            state.awaited.discard(report.cl_ord_id)
        if not state.awaited:
            self.finish_reconciliation(now_ns)

    def on_timer(self, now_ns: int) -> None:
        """Close a reconciliation whose answers did not all come in time."""
        state = self.reconciliation
        if state is not None and now_ns - state.started_ns >= self.reconcile_timeout_ns:
            self.finish_reconciliation(now_ns)

    def finish_reconciliation(self, now_ns: int) -> None:
        """Compare the answers with the OMS, repair, send what the repairs need."""
        state, self.reconciliation = self.reconciliation, None
        if state is None or self.oms is None:
            return
        result = reconcile(self.oms.open_orders(venue=self.venue), state.answers)
        self.reconciliations += 1
        self.differences.extend(result.differences)
        for difference in result.differences:
            log.warning("%s reconciliation: %s", self.venue, difference)
        for outbound in self.oms.apply_reconciliation(result, now_ns):
            if isinstance(outbound, CancelRequest):
                self.send_cancel(outbound, now_ns)
            else:
                self.send_status_request(outbound)
        if self.sink is not None and hasattr(self.sink, "on_timer"):
            self.sink.on_timer(now_ns)  # let the strategy see the repaired state

    # -- local answers ---------------------------------------------------------------------

    def _reject_locally(self, order: VenueOrder, text: str) -> None:
        self.counts["rejected_locally"] += 1
        report = ExecutionReport(
            self.venue, order.cl_ord_id, "", f"LOCAL-{self.venue}-{next(self._local_ids)}",
            ExecType.REJECTED, OrdStatus.REJECTED, order.symbol, order.side, order.quantity,
            order.price, 0, 0, 0, text=text,
        )  # fmt: skip
        if self.sink is not None:
            self.sink.on_execution_report(report, self._monotonic_ns())

    def _reject_replace_locally(self, request: ReplaceRequest) -> None:
        self.counts["replace_rejected_locally"] += 1
        record = self.oms.order(request.orig_cl_ord_id) if self.oms is not None else None
        status = record.status_before_pending if record is not None else OrdStatus.NEW
        reject = CancelReject(
            self.venue, request.cl_ord_id, request.orig_cl_ord_id, request.order_id or "",
            status, True, f"venue {self.venue} is not connected",
        )  # fmt: skip
        if self.sink is not None:
            self.sink.on_cancel_reject(reject, self._monotonic_ns())

    def stats(self) -> dict[str, object]:
        trips = sorted(self.round_trips_ns)
        return {
            "connected": self.connected,
            "new_orders_sent": self.new_orders_sent,
            "counts": dict(self.counts),
            "reconciliations": self.reconciliations,
            "differences": [d.kind.value for d in self.differences],
            "round_trip_p50_us": trips[len(trips) // 2] / 1000 if trips else None,
            "next_sender_seq": self.session.next_sender_seq,
        }
