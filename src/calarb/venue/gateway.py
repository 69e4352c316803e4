"""The venue's FIX 4.4 order entry: a FIX application over the matching engine (sans-I/O).

One `VenueGateway` serves every participant of one venue. It is the `Application` of the FIX
acceptor's sessions (one session per participant, keyed by the participant's SenderCompID)
and their `authenticate` hook (Username 553 / Password 554 on Logon). It never touches a
socket or a clock: it reads the venue's time from the `now_ns` callable it is given, writes
replies into the sessions (`FixSession.send_body`), and leaves flushing to the transport
(`take_touched_sessions` lists the sessions written outside a session callback).

Requests and answers (FIX 4.4):

=============================  =========================================================
NewOrderSingle (D)             ExecutionReport NEW (150=0), then TRADE (150=F) per fill,
                               CANCELED (150=4) for an IOC/FOK/market remainder; or
                               REJECTED (150=8, 39=8) with OrdRejReason (103) and Text (58)
OrderCancelRequest (F)         ExecutionReport CANCELED, or OrderCancelReject (9, 434=1)
OrderCancelReplaceRequest (G)  ExecutionReport REPLACED (150=5), then TRADE if the new price
                               is marketable; or OrderCancelReject (434=2)
OrderStatusRequest (H)         ExecutionReport ORDER_STATUS (150=I); 39=8, 103=5 if unknown
anything else                  BusinessMessageReject (j, 380=3) by the session
missing tag, malformed value   Reject (3) naming the tag, by the session
=============================  =========================================================

Every ExecutionReport carries OrderID (37: the venue's order id, equal to the order's ITCH
reference number; a replace that loses priority moves the order to a new id, as ITCH U does),
a venue-unique ExecID (17), ExecType, OrdStatus, OrderQty (38, the total after replaces),
CumQty, LeavesQty, AvgPx (6: cum notional / CumQty rounded to 1/10,000) and, on fills, LastQty,
LastPx, SecondaryExecID (527: the ITCH match number of the trade; FIX 4.4 has no TrdMatchID
on ExecutionReport), LastLiquidityInd (851: 1 added, 2 removed)
and, when the venue charges fees, Commission (12, CommType 13=3 absolute; a rebate is
negative). OrigClOrdID (41) is set on CANCELED/REPLACED answers to a request.

Rejects before the engine: unsupported side/order type/time in force (103=11), duplicate
ClOrdID (103=6 / 102=6), participant limits (103=3: order size, notional, open orders, and
ITCH's 4-byte caps `MAX_SHARES`/`MAX_PRICE`, so every accepted order can be published). The
engine rejects unknown symbols (103=1), prices off the tick (103=99 with Text), bad lots (103=13) and
halted symbols (103=2, Exchange closed).

Reports for a participant whose session is not logged on (after a disconnect) are held and
sent, in order, right after its next Logon.
"""

from __future__ import annotations

import hmac
from collections.abc import Callable, Iterable

from calarb.core.clock import Clock
from calarb.core.order_events import CancelReject, ExecutionReport, average_price
from calarb.core.orders import (
    CancelRejectResponseTo,
    ExecType,
    Liquidity,
    OrdStatus,
    OrdType,
    TimeInForce,
)
from calarb.core.types import Side
from calarb.fix.codec import FixMessage
from calarb.fix.config import SessionSettings
from calarb.fix.errors import LogonRejected
from calarb.fix.messages import (
    NewOrderSingle,
    OrderCancelReplaceRequest,
    OrderCancelRequest,
    OrderStatusRequest,
    cancel_reject_message,
    decode_order_request,
    encode_execution_report,
    fix_execution_report,
    format_price,
    to_body,
)
from calarb.fix.messages.options import option_contract_from_fix
from calarb.fix.session import Disconnected, FixSession, LoggedOn, SessionEvent
from calarb.fix.timefmt import TimestampFormatter
from calarb.venue.config import ParticipantConfig
from calarb.venue.gateway_state import (
    BEGIN_STRING,
    CXL_REJ_REASON,
    ORD_REJ_REASON,
    CxlRejReason,
    GatewayRejectReason,
    GatewayStats,
    OrdRejReason,
    ParticipantState,
    acceptor_settings,
)
from calarb.venue.matching import MatchingEngine

__all__ = [
    "BEGIN_STRING",
    "CxlRejReason",
    "GatewayRejectReason",
    "GatewayStats",
    "OrdRejReason",
    "ParticipantState",
    "Request",
    "VenueGateway",
    "acceptor_settings",
]

_ORD_TYPES = {code.value: code for code in OrdType}
_TIME_IN_FORCE = {code.value: code for code in TimeInForce}
_REMOVED = Liquidity.REMOVED
Request = NewOrderSingle | OrderCancelRequest | OrderCancelReplaceRequest | OrderStatusRequest
"""An order-entry request as `fix.messages.decode_order_request` reads it."""


class VenueGateway:
    """FIX order entry for one venue's `MatchingEngine`.

    `now_ns()` gives the venue's (simulated) time for the engine; `clock` the wall time of
    TransactTime (60), the FIX sessions' clock. `exec_id_prefix` makes
    ExecIDs unique across venues. `fee_per_share` / `rebate_per_share` (integer 1/10,000 per
    share) are charged to the liquidity remover / paid to the adder. `defer(action)`, when
    given, runs each outbound report later (the venue's added one-way latency); otherwise
    reports are written at once.
    """

    def __init__(
        self,
        engine: MatchingEngine,
        participants: Iterable[ParticipantConfig],
        now_ns: Callable[[], int],
        clock: Clock,
        *,
        exec_id_prefix: str = "",
        fee_per_share: int = 0,
        rebate_per_share: int = 0,
        defer: Callable[[Callable[[], None]], object] | None = None,
    ) -> None:
        self.engine = engine
        self.now_ns = now_ns
        self.clock = clock
        self.participants: dict[str, ParticipantState] = {
            p.comp_id: ParticipantState(p) for p in participants
        }
        self.fee_per_share = fee_per_share
        self.rebate_per_share = rebate_per_share
        self.defer = defer
        self.stats = GatewayStats()
        self._exec_prefix = exec_id_prefix
        self._next_exec_id = 1
        self._timestamp = TimestampFormatter()
        self._touched: set[FixSession] = set()
        self._orig_for_reject: str = ""

    # --- FIX acceptor hooks --------------------------------------------------------------

    def application_for(self, settings: SessionSettings) -> VenueGateway:
        """`FixAcceptor`'s application factory: every session is served by this gateway."""
        if settings.target_comp_id not in self.participants:
            raise ValueError(f"no participant {settings.target_comp_id!r} on this gateway")
        return self

    def authenticate(self, username: str | None, password: str | None, logon: FixMessage) -> None:
        """Logon check: the SenderCompID is a participant whose Username/Password match."""
        comp_id = (logon.get(49) or b"").decode("latin-1")
        state = self.participants.get(comp_id)
        if state is None:
            raise LogonRejected(f"unknown participant {comp_id!r}")
        config = state.config
        if username is None or password is None:
            raise LogonRejected("Username (553) and Password (554) are required")
        user_ok = hmac.compare_digest(username.encode(), config.username.encode())
        password_ok = hmac.compare_digest(password.encode(), config.password.encode())
        if not (user_ok and password_ok):
            raise LogonRejected("invalid Username or Password")

    def on_session_event(self, session: FixSession, event: SessionEvent) -> None:
        """`FixAcceptor`'s on_event: binds a participant's session on Logon (and sends what
        was held), unbinds it on disconnect."""
        state = self.participants.get(session.settings.target_comp_id)
        if state is None:
            return
        if isinstance(event, LoggedOn):
            state.session = session
            held, state.held = state.held, []
            for msg_type, body in held:
                session.send_body(msg_type, body, self.clock.monotonic_ns(), self.clock.wall_ns())
                self.stats.reports_sent += 1
            if held:
                self._touched.add(session)
        elif isinstance(event, Disconnected):
            state.session = None

    def sessions_to_drop(self, target: str) -> list[FixSession]:
        """The logged-on sessions a disconnect fault aimed at `target` ("*" or a CompID)
        hits; the transport closes their connections."""
        return [
            state.session
            for comp_id, state in self.participants.items()
            if state.session is not None and target in ("*", comp_id)
        ]

    def take_touched_sessions(self) -> set[FixSession]:
        """Sessions written to outside a session callback since the last call: flush them."""
        touched, self._touched = self._touched, set()
        return touched

    # --- Application ---------------------------------------------------------------------

    def on_message(self, session: FixSession, message: FixMessage) -> None:
        """Called by the session for each in-sequence application message."""
        request = decode_order_request(message)
        option_contract_from_fix(message)  # an option's instrument block agrees with 55
        self.execute(session, request)

    def execute(self, session: FixSession, request: Request) -> None:
        """Carry out a parsed request for the session's participant (used directly when the
        venue delays orders by its one-way latency)."""
        state = self.participants[session.settings.target_comp_id]
        if session.logged_on:
            state.session = session
        self.stats.requests += 1
        kind = type(request)
        if kind is NewOrderSingle:
            self._new_order(state, request)
        elif kind is OrderCancelRequest:
            self._cancel(state, request)
        elif kind is OrderCancelReplaceRequest:
            self._replace(state, request)
        else:
            self._status(state, request)

    def dispatch_reports(self) -> int:
        """Route the engine's pending order outcomes to their owners (background traders'
        are dropped). Call after anything else used the engine. Returns reports routed."""
        reports = self.engine.take_reports()
        if not reports:
            return 0
        participants = self.participants
        routed = 0
        for report in reports:
            state = participants.get(report.participant)
            if state is None:
                continue
            routed += 1
            if type(report) is CancelReject:
                self._send_cancel_reject(state, report)
                continue
            self._track(state, report)
            self._send(state, b"8", self._report_body(report))
        return routed

    # --- requests --------------------------------------------------------------------------

    def _new_order(self, state: ParticipantState, request: NewOrderSingle) -> None:
        now = self.now_ns()
        cl_ord_id = request.cl_ord_id
        side = request.side if type(request.side) is Side else None
        order_type = _ORD_TYPES.get(request.ord_type)
        time_in_force = _TIME_IN_FORCE.get(request.time_in_force)
        price = request.price or 0
        if cl_ord_id in state.cl_ord_ids:
            problem = GatewayRejectReason.DUPLICATE_CLORDID, f"ClOrdID {cl_ord_id!r} was used"
        elif side is None or order_type is None or time_in_force is None:
            text = "only Side 1/2, OrdType 1/2 and TimeInForce 0/3/4 are traded"
            problem = GatewayRejectReason.UNSUPPORTED, text
        else:
            problem = self._limit_problem(
                state, request.symbol, side, request.order_qty, order_type, price,
                new_order=True,
            )  # fmt: skip
        state.cl_ord_ids.add(cl_ord_id)
        if problem is not None:
            reason, text = problem
            self._reject_new(state, request, now, reason, text)
            return
        self.engine.submit(
            now, state.comp_id, cl_ord_id, request.symbol, side, request.order_qty, price,
            order_type, time_in_force,
        )  # fmt: skip
        self.dispatch_reports()

    def _cancel(self, state: ParticipantState, request: OrderCancelRequest) -> None:
        now = self.now_ns()
        response_to = CancelRejectResponseTo.CANCEL
        order_id = self._live_order(state, request, response_to, now)
        if order_id:
            state.cl_ord_ids.add(request.cl_ord_id)
            self._orig_for_reject = request.orig_cl_ord_id
            try:
                self.engine.cancel(now, state.comp_id, order_id, request.cl_ord_id)
                self.dispatch_reports()
            finally:
                self._orig_for_reject = ""

    def _replace(self, state: ParticipantState, request: OrderCancelReplaceRequest) -> None:
        now = self.now_ns()
        response_to = CancelRejectResponseTo.REPLACE
        order_id = self._live_order(state, request, response_to, now)
        if not order_id:
            return
        state.cl_ord_ids.add(request.cl_ord_id)
        current = self.engine.order(order_id)
        assert current is not None  # _live_order checked
        price = request.price or 0
        if _ORD_TYPES.get(request.ord_type) is not OrdType.LIMIT:
            problem = GatewayRejectReason.UNSUPPORTED, "only limit orders can be replaced"
        else:
            problem = self._limit_problem(
                state, current.symbol, current.side, request.order_qty - current.cum_qty,
                OrdType.LIMIT, price, new_order=False,
            )  # fmt: skip
        if problem is not None:
            reason, text = problem
            self._reject_cancel(state, request, order_id, response_to, reason, text, now)
            return
        self._orig_for_reject = request.orig_cl_ord_id
        try:
            self.engine.replace(
                now, state.comp_id, order_id, request.cl_ord_id, request.order_qty, price
            )
            self.dispatch_reports()
        finally:
            self._orig_for_reject = ""

    def _status(self, state: ParticipantState, request: OrderStatusRequest) -> None:
        now = self.now_ns()
        last = state.latest_report(request.cl_ord_id)
        status_req_id = request.ord_status_req_id
        if last is None:
            report = ExecutionReport(
                "", request.cl_ord_id, "", "", ExecType.ORDER_STATUS, OrdStatus.REJECTED,
                request.symbol, Side.BUY, 0, 0, 0, 0, 0, transact_time_ns=now,
                text=f"no order with ClOrdID {request.cl_ord_id!r}", participant=state.comp_id,
                reason=GatewayRejectReason.UNKNOWN_ORDER,
            )  # fmt: skip
            body = self._report_body(report, request.side, status_req_id)
            self._send(state, b"8", body)
            return
        live = self.engine.order(int(last.order_id)) if last.order_id else None
        if live is not None and live.participant == state.comp_id:
            report = last._replace(
                exec_type=ExecType.ORDER_STATUS, ord_status=live.status, transact_time_ns=now,
                cl_ord_id=live.client_order_id, orig_cl_ord_id=None, order_qty=live.quantity,
                price=live.price, cum_qty=live.cum_qty, leaves_qty=live.leaves,
                avg_px=average_price(live.cum_notional, live.cum_qty),
                cum_notional=live.cum_notional, last_qty=0, last_px=0,
                liquidity=Liquidity.UNKNOWN, match_number=0, reason=None, text="",
            )  # fmt: skip
        else:
            report = last._replace(
                exec_type=ExecType.ORDER_STATUS, transact_time_ns=now, orig_cl_ord_id=None,
                leaves_qty=0, last_qty=0, last_px=0, liquidity=Liquidity.UNKNOWN,
                match_number=0,
            )  # fmt: skip
        self._send(state, b"8", self._report_body(report, None, status_req_id))

    # --- checks ------------------------------------------------------------------------------

    def _limit_problem(
        self, state: ParticipantState, symbol: str, side: Side, added_quantity: int,
        order_type: OrdType, price: int, *, new_order: bool,
    ) -> tuple[GatewayRejectReason, str] | None:  # fmt: skip
        """Participant limits and ITCH's field caps; None when the request passes."""
        limits = state.limits
        if added_quantity > limits.max_order_qty:
            return GatewayRejectReason.LIMIT, (
                f"quantity {added_quantity} is above the limit of {limits.max_order_qty}"
            )
        if order_type is OrdType.LIMIT and price > limits.max_price:
            return GatewayRejectReason.LIMIT, (
                f"price {format_price(price).decode()} is above the limit of "
                f"{format_price(limits.max_price).decode()}"
            )
        open_orders = len(state.live)
        if (
            new_order
            and limits.max_open_orders is not None
            and open_orders >= limits.max_open_orders
        ):
            return GatewayRejectReason.LIMIT, (
                f"{len(state.live)} open orders: the limit is {limits.max_open_orders}"
            )
        if limits.max_order_notional is not None and symbol in self.engine.instruments:
            value_price = price
            if order_type is OrdType.MARKET:
                best = (
                    self.engine.best_ask(symbol)
                    if side is Side.BUY
                    else self.engine.best_bid(symbol)
                )
                value_price = best or 0
            notional = value_price * added_quantity
            if notional > limits.max_order_notional:
                return GatewayRejectReason.LIMIT, (
                    f"notional {format_price(notional).decode()} is above the limit of "
                    f"{format_price(limits.max_order_notional).decode()}"
                )
        return None

    def _live_order(
        self,
        state: ParticipantState,
        request: OrderCancelRequest | OrderCancelReplaceRequest,
        response_to: CancelRejectResponseTo,
        now: int,
    ) -> int:
        """The venue id of the live order a cancel/replace aims at, or 0 after rejecting it."""
        if request.cl_ord_id in state.cl_ord_ids:
            self._reject_cancel(
                state, request, 0, response_to, GatewayRejectReason.DUPLICATE_CLORDID,
                f"ClOrdID {request.cl_ord_id!r} was used", now,
            )  # fmt: skip
            return 0
        order_id = state.live.get(request.orig_cl_ord_id, 0)
        live = self.engine.order(order_id) if order_id else None
        if live is None:
            last = state.latest_report(request.orig_cl_ord_id)
            if last is None:
                reason = GatewayRejectReason.UNKNOWN_ORDER
                text = f"no order with ClOrdID {request.orig_cl_ord_id!r}"
            else:
                reason = GatewayRejectReason.TOO_LATE
                text = f"order {request.orig_cl_ord_id!r} is {last.ord_status.name.lower()}"
            last_id = int(last.order_id) if last is not None and last.order_id else 0
            self._reject_cancel(state, request, last_id, response_to, reason, text, now)
            state.cl_ord_ids.add(request.cl_ord_id)
            return 0
        if request.symbol != live.symbol or request.side is not live.side:
            self._reject_cancel(
                state, request, order_id, response_to, GatewayRejectReason.MISMATCH,
                f"order {request.orig_cl_ord_id!r} is {live.side.name} {live.symbol}", now,
            )  # fmt: skip
            state.cl_ord_ids.add(request.cl_ord_id)
            return 0
        return order_id

    # --- answers -----------------------------------------------------------------------------

    def _reject_new(
        self, state: ParticipantState, request: NewOrderSingle, now: int,
        reason: GatewayRejectReason, text: str,
    ) -> None:  # fmt: skip
        side = request.side
        report = ExecutionReport(
            "", request.cl_ord_id, "", "", ExecType.REJECTED, OrdStatus.REJECTED,
            request.symbol, side if type(side) is Side else Side.BUY, request.order_qty,
            request.price or 0, 0, 0, 0, transact_time_ns=now, text=text,
            participant=state.comp_id,
            ord_type=_ORD_TYPES.get(request.ord_type, OrdType.LIMIT),
            time_in_force=_TIME_IN_FORCE.get(request.time_in_force, TimeInForce.DAY),
            reason=reason,
        )  # fmt: skip
        self._track(state, report)
        self._send(state, b"8", self._report_body(report, side))

    def _reject_cancel(
        self, state: ParticipantState, request: OrderCancelRequest | OrderCancelReplaceRequest,
        order_id: int, response_to: CancelRejectResponseTo, reason: GatewayRejectReason,
        text: str, now: int,
    ) -> None:  # fmt: skip
        live = self.engine.order(order_id) if order_id else None
        last = state.latest_report(request.orig_cl_ord_id)
        if live is not None:
            status = live.status
        elif last is not None:
            status = last.ord_status
        else:
            status = OrdStatus.REJECTED
        reject = CancelReject(
            "", request.cl_ord_id, request.orig_cl_ord_id, str(order_id) if order_id else "",
            status, response_to is CancelRejectResponseTo.REPLACE, text, state.comp_id, now,
            reason,
        )  # fmt: skip
        self._send_cancel_reject(state, reject)

    def _send_cancel_reject(self, state: ParticipantState, reject: CancelReject) -> None:
        self.stats.cancel_rejects += 1
        reason = CXL_REJ_REASON.get(reject.reason, CxlRejReason.OTHER)
        message = cancel_reject_message(reject, reason, self._orig_for_reject)
        self._send(state, b"9", to_body(message))

    def _track(self, state: ParticipantState, report: ExecutionReport) -> None:
        """Keep the ClOrdID maps in step with an order outcome."""
        cl_ord_id = report.cl_ord_id
        exec_type = report.exec_type
        live = state.live
        state.last_report[cl_ord_id] = report
        if exec_type is ExecType.NEW:
            live[cl_ord_id] = int(report.order_id)
        elif exec_type is ExecType.TRADE:
            if not report.leaves_qty:
                live.pop(cl_ord_id, None)
        elif exec_type is ExecType.CANCELED:
            live.pop(cl_ord_id, None)
            orig = report.orig_cl_ord_id
            if orig:
                live.pop(orig, None)
                state.successor[orig] = cl_ord_id
        elif exec_type is ExecType.REPLACED:
            orig = report.orig_cl_ord_id
            live.pop(orig, None)
            state.successor[orig] = cl_ord_id
            live[cl_ord_id] = int(report.order_id)
        elif exec_type is ExecType.REJECTED:
            self.stats.rejects += 1

    def _report_body(
        self, report: ExecutionReport, side: Side | str | None = None,
        ord_status_req_id: str | None = None,
    ) -> bytes:  # fmt: skip
        """The body of FIX ExecutionReport (35=8) for a venue order outcome: a new ExecID,
        the fee or rebate of a fill, OrdRejReason on a reject (`side`: the request's Side as
        sent, for a reject; `ord_status_req_id`: echoed on a status answer)."""
        exec_id = f"{self._exec_prefix}{self._next_exec_id}"
        self._next_exec_id += 1
        commission = None
        last_qty = report.last_qty
        if last_qty:
            fee = self.fee_per_share if report.liquidity is _REMOVED else -self.rebate_per_share
            commission = fee * last_qty
        ord_rej_reason = None
        if report.exec_type is ExecType.REJECTED or (
            report.exec_type is ExecType.ORDER_STATUS and report.ord_status is OrdStatus.REJECTED
        ):
            ord_rej_reason = ORD_REJ_REASON.get(report.reason, OrdRejReason.OTHER).value
        message = fix_execution_report(
            report, exec_id, side=side, commission=commission, ord_rej_reason=ord_rej_reason,
            ord_status_req_id=ord_status_req_id,
        )  # fmt: skip
        return encode_execution_report(message, self._timestamp(self.clock.wall_ns()))

    def _send(self, state: ParticipantState, msg_type: bytes, body: bytes) -> None:
        if self.defer is None:
            self._deliver(state, msg_type, body)
        else:
            self.defer(lambda: self._deliver(state, msg_type, body))

    def _deliver(self, state: ParticipantState, msg_type: bytes, body: bytes) -> None:
        session = state.session
        if session is None or not session.logged_on:
            state.held.append((msg_type, body))
            self.stats.reports_held += 1
            return
        session.send_body(msg_type, body, self.clock.monotonic_ns(), self.clock.wall_ns())
        self.stats.reports_sent += 1
        self._touched.add(session)
