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

import enum
import hmac
from collections.abc import Callable, Iterable
from decimal import Decimal, InvalidOperation
from typing import NamedTuple

from calarb.core.clock import Clock
from calarb.core.types import Side
from calarb.fix.codec import FixMessage
from calarb.fix.config import SessionSettings
from calarb.fix.errors import (
    LogonRejected,
    MessageRejected,
    SessionRejectReason,
    UnsupportedMessageType,
)
from calarb.fix.messages import format_price, parse_price
from calarb.fix.session import Disconnected, FixSession, LoggedOn, SessionEvent
from calarb.fix.timefmt import TimestampFormatter
from calarb.venue.config import ParticipantConfig, ParticipantLimits
from calarb.venue.matching import MatchingEngine
from calarb.venue.orders import (
    CancelReason,
    CancelReject,
    CancelRejectResponseTo,
    ExecType,
    ExecutionReport,
    OrdStatus,
    OrdType,
    RejectReason,
    TimeInForce,
)

BEGIN_STRING = "FIX.4.4"


class GatewayRejectReason(enum.Enum):
    """Why the gateway refused a request before it reached the engine."""

    DUPLICATE_CLORDID = "duplicate ClOrdID"
    LIMIT = "participant limit"
    UNSUPPORTED = "unsupported side, order type or time in force"
    MISMATCH = "symbol or side differs from the order's"
    TOO_LATE = "order is no longer live"
    UNKNOWN_ORDER = "unknown order"


class OrdRejReason(enum.IntEnum):
    """FIX OrdRejReason (103), the codes used here."""

    BROKER_OPTION = 0
    UNKNOWN_SYMBOL = 1
    EXCHANGE_CLOSED = 2
    ORDER_EXCEEDS_LIMIT = 3
    TOO_LATE_TO_ENTER = 4
    UNKNOWN_ORDER = 5
    DUPLICATE_ORDER = 6
    UNSUPPORTED_ORDER_CHARACTERISTIC = 11
    INCORRECT_QUANTITY = 13
    OTHER = 99  # FIX 4.4 has no "invalid price increment" (18 came with FIX 5.0)


class CxlRejReason(enum.IntEnum):
    """FIX CxlRejReason (102), the codes used here."""

    TOO_LATE_TO_CANCEL = 0
    UNKNOWN_ORDER = 1
    BROKER_OPTION = 2
    DUPLICATE_CLORDID = 6
    OTHER = 99


AnyReason = RejectReason | GatewayRejectReason | CancelReason

_ORD_REJ_REASON: dict[AnyReason, OrdRejReason] = {
    RejectReason.UNKNOWN_SYMBOL: OrdRejReason.UNKNOWN_SYMBOL,
    RejectReason.BAD_PRICE: OrdRejReason.OTHER,
    RejectReason.BAD_QUANTITY: OrdRejReason.INCORRECT_QUANTITY,
    RejectReason.HALTED: OrdRejReason.EXCHANGE_CLOSED,
    RejectReason.BAD_ORDER: OrdRejReason.UNSUPPORTED_ORDER_CHARACTERISTIC,
    RejectReason.UNKNOWN_ORDER: OrdRejReason.UNKNOWN_ORDER,
    RejectReason.TOO_LATE: OrdRejReason.TOO_LATE_TO_ENTER,
    GatewayRejectReason.DUPLICATE_CLORDID: OrdRejReason.DUPLICATE_ORDER,
    GatewayRejectReason.LIMIT: OrdRejReason.ORDER_EXCEEDS_LIMIT,
    GatewayRejectReason.UNSUPPORTED: OrdRejReason.UNSUPPORTED_ORDER_CHARACTERISTIC,
    GatewayRejectReason.UNKNOWN_ORDER: OrdRejReason.UNKNOWN_ORDER,
}
_CXL_REJ_REASON: dict[AnyReason, CxlRejReason] = {
    RejectReason.UNKNOWN_ORDER: CxlRejReason.UNKNOWN_ORDER,
    RejectReason.TOO_LATE: CxlRejReason.TOO_LATE_TO_CANCEL,
    GatewayRejectReason.TOO_LATE: CxlRejReason.TOO_LATE_TO_CANCEL,
    GatewayRejectReason.UNKNOWN_ORDER: CxlRejReason.UNKNOWN_ORDER,
    GatewayRejectReason.DUPLICATE_CLORDID: CxlRejReason.DUPLICATE_CLORDID,
    RejectReason.HALTED: CxlRejReason.BROKER_OPTION,
    GatewayRejectReason.LIMIT: CxlRejReason.BROKER_OPTION,
}

_SIDES = {b"1": Side.BUY, b"2": Side.SELL}
_SIDE_CODES = {Side.BUY: b"1", Side.SELL: b"2"}
_ORD_TYPES = {b"1": OrdType.MARKET, b"2": OrdType.LIMIT}
_TIME_IN_FORCE = {b"0": TimeInForce.DAY, b"3": TimeInForce.IOC, b"4": TimeInForce.FOK}
_ADDED, _REMOVED = b"1", b"2"
_NO_ORDER_ID = b"NONE"

# The fields of every ExecutionReport, in tag order (one %-format on the hot path).
_REPORT = (
    b"6=%s\x0111=%s\x0114=%d\x0117=%s\x0137=%s\x0138=%d\x0139=%s\x0140=%s\x01"
    b"54=%s\x0155=%s\x0159=%s\x0160=%s\x01150=%s\x01151=%d\x01"
)
_FILL = b"31=%s\x0132=%d\x01527=%d\x01851=%s\x01"


class NewOrder(NamedTuple):
    cl_ord_id: str
    symbol: str
    side: Side | None  # None: a FIX side the venue does not trade
    quantity: int
    order_type: OrdType | None
    price: int
    time_in_force: TimeInForce | None
    side_code: bytes  # Side (54) as sent, echoed on a reject


class CancelOrder(NamedTuple):
    cl_ord_id: str
    orig_cl_ord_id: str
    symbol: str
    side: Side | None


class ReplaceOrder(NamedTuple):
    cl_ord_id: str
    orig_cl_ord_id: str
    symbol: str
    side: Side | None
    quantity: int
    order_type: OrdType | None
    price: int


class StatusRequest(NamedTuple):
    cl_ord_id: str
    symbol: str
    side: Side | None
    status_req_id: bytes | None
    side_code: bytes


Request = NewOrder | CancelOrder | ReplaceOrder | StatusRequest


# --- parsing (raises MessageRejected, which the session answers with Reject 35=3) -----------


def _required(fields: dict[bytes, bytes], tag: bytes) -> bytes:
    value = fields.get(tag)
    if not value:
        raise MessageRejected(SessionRejectReason.REQUIRED_TAG_MISSING, int(tag))
    return value


def _quantity(fields: dict[bytes, bytes], tag: bytes) -> int:
    text = _required(fields, tag)
    if text.isdigit():
        return int(text)
    try:
        value = Decimal(text.decode("ascii"))
    except (InvalidOperation, UnicodeDecodeError):
        value = None
    if value is None or value != value.to_integral_value() or value < 0:
        raise MessageRejected(
            SessionRejectReason.INCORRECT_DATA_FORMAT, int(tag), f"quantity {text!r}"
        )
    return int(value)


def _price(fields: dict[bytes, bytes], tag: bytes = b"44") -> int:
    text = fields.get(tag)
    if not text:
        return 0
    try:
        return parse_price(text)
    except ValueError as exc:
        raise MessageRejected(
            SessionRejectReason.INCORRECT_DATA_FORMAT, int(tag), str(exc)
        ) from None


def parse_request(message: FixMessage) -> Request:
    """The typed order-entry request in a FIX message; MessageRejected (tag named) when a
    required field is missing or malformed, UnsupportedMessageType for other messages."""
    fields = message.by_text
    msg_type = message.msg_type
    if msg_type == b"D":
        side_code = _required(fields, b"54")
        return NewOrder(
            _required(fields, b"11").decode("latin-1"),
            _required(fields, b"55").decode("latin-1"),
            _SIDES.get(side_code),
            _quantity(fields, b"38"),
            _ORD_TYPES.get(_required(fields, b"40")),
            _price(fields),
            _TIME_IN_FORCE.get(fields.get(b"59", b"0")),
            side_code,
        )
    if msg_type == b"F":
        return CancelOrder(
            _required(fields, b"11").decode("latin-1"),
            _required(fields, b"41").decode("latin-1"),
            _required(fields, b"55").decode("latin-1"),
            _SIDES.get(_required(fields, b"54")),
        )
    if msg_type == b"G":
        return ReplaceOrder(
            _required(fields, b"11").decode("latin-1"),
            _required(fields, b"41").decode("latin-1"),
            _required(fields, b"55").decode("latin-1"),
            _SIDES.get(_required(fields, b"54")),
            _quantity(fields, b"38"),
            _ORD_TYPES.get(_required(fields, b"40")),
            _price(fields),
        )
    if msg_type == b"H":
        side_code = _required(fields, b"54")
        return StatusRequest(
            _required(fields, b"11").decode("latin-1"),
            _required(fields, b"55").decode("latin-1"),
            _SIDES.get(side_code),
            fields.get(b"790"),
            side_code,
        )
    raise UnsupportedMessageType(msg_type)


# --- participants ---------------------------------------------------------------------------


class ParticipantState:
    """What the gateway knows of one participant: its session, its orders by ClOrdID."""

    __slots__ = ("config", "session", "live", "last_report", "successor", "cl_ord_ids", "held")

    def __init__(self, config: ParticipantConfig) -> None:
        self.config = config
        self.session: FixSession | None = None
        self.live: dict[str, int] = {}
        """ClOrdID -> venue order id, for orders on the book (or being entered)."""
        self.last_report: dict[str, ExecutionReport] = {}
        """ClOrdID -> the latest report that carried it."""
        self.successor: dict[str, str] = {}
        """ClOrdID -> the ClOrdID that replaced or cancelled it (the order's chain)."""
        self.cl_ord_ids: set[str] = set()
        """Every ClOrdID this participant used today (duplicate detection)."""
        self.held: list[tuple[bytes, bytes]] = []
        """(MsgType, body) waiting for the next Logon."""

    @property
    def comp_id(self) -> str:
        return self.config.comp_id

    def latest_report(self, cl_ord_id: str) -> ExecutionReport | None:
        """The order's latest report, given any ClOrdID it has had."""
        successor = self.successor
        while cl_ord_id in successor:
            cl_ord_id = successor[cl_ord_id]
        return self.last_report.get(cl_ord_id)

    @property
    def limits(self) -> ParticipantLimits:
        return self.config.limits

    @property
    def logged_on(self) -> bool:
        return self.session is not None and self.session.logged_on


class GatewayStats:
    __slots__ = ("requests", "rejects", "cancel_rejects", "reports_sent", "reports_held")

    def __init__(self) -> None:
        self.requests = 0
        self.rejects = 0
        self.cancel_rejects = 0
        self.reports_sent = 0
        self.reports_held = 0

    def as_dict(self) -> dict[str, int]:
        return {name: getattr(self, name) for name in self.__slots__}


def acceptor_settings(
    venue_comp_id: str,
    participants: Iterable[ParticipantConfig],
    port: int,
    store_dir: str | None = None,
) -> list[SessionSettings]:
    """FIX acceptor settings: one FIX 4.4 session per participant on `port`."""
    return [
        SessionSettings(
            begin_string=BEGIN_STRING,
            sender_comp_id=venue_comp_id,
            target_comp_id=participant.comp_id,
            connection_type="acceptor",
            heartbeat_interval_s=participant.heartbeat_interval_s,
            port=port,
            reset_on_logon=participant.reset_on_logon,
            file_store_path=store_dir,
        )
        for participant in participants
    ]


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
        self._exec_prefix = exec_id_prefix.encode()
        self._next_exec_id = 1
        self._timestamp = TimestampFormatter()
        self._touched: set[FixSession] = set()
        self._aggressor: tuple[str, str] | None = None  # (participant, ClOrdID) being entered
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
        self.execute(session, parse_request(message))

    def execute(self, session: FixSession, request: Request) -> None:
        """Carry out a parsed request for the session's participant (used directly when the
        venue delays orders by its one-way latency)."""
        state = self.participants[session.settings.target_comp_id]
        if session.logged_on:
            state.session = session
        self.stats.requests += 1
        kind = type(request)
        if kind is NewOrder:
            self._new_order(state, request)
        elif kind is CancelOrder:
            self._cancel(state, request)
        elif kind is ReplaceOrder:
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
        aggressor = self._aggressor
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
            liquidity = b""
            if report.last_qty:
                mine = aggressor is not None and aggressor == (
                    report.participant,
                    report.client_order_id,
                )
                liquidity = _REMOVED if mine else _ADDED
            self._send(state, b"8", self._report_body(report, liquidity))
        return routed

    # --- requests --------------------------------------------------------------------------

    def _new_order(self, state: ParticipantState, request: NewOrder) -> None:
        now = self.now_ns()
        cl_ord_id = request.cl_ord_id
        if cl_ord_id in state.cl_ord_ids:
            problem = GatewayRejectReason.DUPLICATE_CLORDID, f"ClOrdID {cl_ord_id!r} was used"
        elif request.side is None or request.order_type is None or request.time_in_force is None:
            text = "only Side 1/2, OrdType 1/2 and TimeInForce 0/3/4 are traded"
            problem = GatewayRejectReason.UNSUPPORTED, text
        else:
            problem = self._limit_problem(
                state, request.symbol, request.side, request.quantity, request.order_type,
                request.price, new_order=True,
            )  # fmt: skip
        state.cl_ord_ids.add(cl_ord_id)
        if problem is not None:
            reason, text = problem
            self._reject_new(state, request, now, reason, text)
            return
        self._aggressor = (state.comp_id, cl_ord_id)
        try:
            self.engine.submit(
                now, state.comp_id, cl_ord_id, request.symbol, request.side, request.quantity,
                request.price, request.order_type, request.time_in_force,
            )  # fmt: skip
            self.dispatch_reports()
        finally:
            self._aggressor = None

    def _cancel(self, state: ParticipantState, request: CancelOrder) -> None:
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

    def _replace(self, state: ParticipantState, request: ReplaceOrder) -> None:
        now = self.now_ns()
        response_to = CancelRejectResponseTo.REPLACE
        order_id = self._live_order(state, request, response_to, now)
        if not order_id:
            return
        state.cl_ord_ids.add(request.cl_ord_id)
        current = self.engine.order(order_id)
        assert current is not None  # _live_order checked
        if request.order_type is not OrdType.LIMIT:
            problem = GatewayRejectReason.UNSUPPORTED, "only limit orders can be replaced"
        else:
            problem = self._limit_problem(
                state, current.symbol, current.side, request.quantity - current.cum_qty,
                OrdType.LIMIT, request.price, new_order=False,
            )  # fmt: skip
        if problem is not None:
            reason, text = problem
            self._reject_cancel(state, request, order_id, response_to, reason, text, now)
            return
        self._aggressor = (state.comp_id, request.cl_ord_id)
        self._orig_for_reject = request.orig_cl_ord_id
        try:
            self.engine.replace(
                now, state.comp_id, order_id, request.cl_ord_id, request.quantity, request.price
            )
            self.dispatch_reports()
        finally:
            self._aggressor = None
            self._orig_for_reject = ""

    def _status(self, state: ParticipantState, request: StatusRequest) -> None:
        now = self.now_ns()
        last = state.latest_report(request.cl_ord_id)
        extra = b"790=%s\x01" % request.status_req_id if request.status_req_id else b""
        if last is None:
            report = ExecutionReport(
                ExecType.ORDER_STATUS, OrdStatus.REJECTED, now, state.comp_id,
                request.cl_ord_id, "", 0, request.symbol, request.side or Side.BUY,
                OrdType.LIMIT, TimeInForce.DAY, 0, 0, 0, 0, 0, 0, 0, 0,
                GatewayRejectReason.UNKNOWN_ORDER,
                f"no order with ClOrdID {request.cl_ord_id!r}",
            )  # fmt: skip
            body = self._report_body(report, b"", request.side_code)
            self._send(state, b"8", body + extra)
            return
        live = self.engine.order(last.order_id) if last.order_id else None
        if live is not None and live.participant == state.comp_id:
            report = last._replace(
                exec_type=ExecType.ORDER_STATUS, order_status=live.status, timestamp_ns=now,
                client_order_id=live.client_order_id, orig_client_order_id="",
                quantity=live.quantity, price=live.price, cum_qty=live.cum_qty,
                leaves_qty=live.leaves, cum_notional=live.cum_notional, last_qty=0,
                last_price=0, match_number=0, reason=None, text="",
            )  # fmt: skip
        else:
            report = last._replace(
                exec_type=ExecType.ORDER_STATUS, timestamp_ns=now, orig_client_order_id="",
                leaves_qty=0, last_qty=0, last_price=0, match_number=0,
            )  # fmt: skip
        self._send(state, b"8", self._report_body(report, b"") + extra)

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
        request: CancelOrder | ReplaceOrder,
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
                text = f"order {request.orig_cl_ord_id!r} is {last.order_status.name.lower()}"
            self._reject_cancel(state, request, last.order_id if last else 0, response_to,
                                reason, text, now)  # fmt: skip
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
        self, state: ParticipantState, request: NewOrder, now: int,
        reason: GatewayRejectReason, text: str,
    ) -> None:  # fmt: skip
        report = ExecutionReport(
            ExecType.REJECTED, OrdStatus.REJECTED, now, state.comp_id, request.cl_ord_id, "", 0,
            request.symbol, request.side or Side.BUY, request.order_type or OrdType.LIMIT,
            request.time_in_force or TimeInForce.DAY, request.price, request.quantity,
            0, 0, 0, 0, 0, 0, reason, text,
        )  # fmt: skip
        self._track(state, report)
        self._send(state, b"8", self._report_body(report, b"", request.side_code))

    def _reject_cancel(
        self, state: ParticipantState, request: CancelOrder | ReplaceOrder, order_id: int,
        response_to: CancelRejectResponseTo, reason: GatewayRejectReason, text: str, now: int,
    ) -> None:  # fmt: skip
        live = self.engine.order(order_id) if order_id else None
        last = state.latest_report(request.orig_cl_ord_id)
        if live is not None:
            status = live.status
        elif last is not None:
            status = last.order_status
        else:
            status = OrdStatus.REJECTED
        reject = CancelReject(
            now, state.comp_id, request.cl_ord_id, request.orig_cl_ord_id, order_id,
            response_to, status, reason, text,
        )  # fmt: skip
        self._send_cancel_reject(state, reject)

    def _send_cancel_reject(self, state: ParticipantState, reject: CancelReject) -> None:
        self.stats.cancel_rejects += 1
        orig = reject.orig_client_order_id or self._orig_for_reject
        reason = _CXL_REJ_REASON.get(reject.reason, CxlRejReason.OTHER)
        body = b"11=%s\x0137=%s\x0139=%s\x0141=%s\x0158=%s\x01102=%d\x01434=%s\x01" % (
            reject.client_order_id.encode("latin-1"),
            b"%d" % reject.order_id if reject.order_id else _NO_ORDER_ID,
            reject.order_status.value.encode(),
            orig.encode("latin-1"),
            _text(reject.text),
            reason,
            reject.response_to.value.encode(),
        )
        self._send(state, b"9", body)

    def _track(self, state: ParticipantState, report: ExecutionReport) -> None:
        """Keep the ClOrdID maps in step with an order outcome."""
        cl_ord_id = report.client_order_id
        exec_type = report.exec_type
        live = state.live
        state.last_report[cl_ord_id] = report
        if exec_type is ExecType.NEW:
            live[cl_ord_id] = report.order_id
        elif exec_type is ExecType.TRADE:
            if not report.leaves_qty:
                live.pop(cl_ord_id, None)
        elif exec_type is ExecType.CANCELED:
            live.pop(cl_ord_id, None)
            orig = report.orig_client_order_id
            if orig:
                live.pop(orig, None)
                state.successor[orig] = cl_ord_id
        elif exec_type is ExecType.REPLACED:
            orig = report.orig_client_order_id
            live.pop(orig, None)
            state.successor[orig] = cl_ord_id
            live[cl_ord_id] = report.order_id
        elif exec_type is ExecType.REJECTED:
            self.stats.rejects += 1

    def _report_body(
        self, report: ExecutionReport, liquidity: bytes, side_code: bytes = b""
    ) -> bytes:
        """The body of FIX ExecutionReport (35=8) for a venue order outcome (`side_code`:
        the request's Side as sent, for a reject)."""
        exec_id = b"%s%d" % (self._exec_prefix, self._next_exec_id)
        self._next_exec_id += 1
        cum_qty = report.cum_qty
        average = (2 * report.cum_notional + cum_qty) // (2 * cum_qty) if cum_qty else 0
        order_type = report.order_type
        body = _REPORT % (
            format_price(average), report.client_order_id.encode("latin-1"), cum_qty, exec_id,
            b"%d" % report.order_id if report.order_id else _NO_ORDER_ID, report.quantity,
            report.order_status.value.encode(), order_type.value.encode(),
            side_code or _SIDE_CODES[report.side], report.symbol.encode("latin-1"),
            report.time_in_force.value.encode(), self._timestamp(self.clock.wall_ns()),
            report.exec_type.value.encode(), report.leaves_qty,
        )  # fmt: skip
        if report.price and order_type is OrdType.LIMIT:
            body += b"44=%s\x01" % format_price(report.price)
        if report.orig_client_order_id:
            body += b"41=%s\x01" % report.orig_client_order_id.encode("latin-1")
        if report.last_qty:
            last_qty = report.last_qty
            body += _FILL % (format_price(report.last_price), last_qty, report.match_number,
                             liquidity)  # fmt: skip
            fee = self.fee_per_share if liquidity == _REMOVED else -self.rebate_per_share
            if fee:
                body += b"12=%s\x0113=3\x01" % format_price(fee * last_qty)
        if report.exec_type is ExecType.REJECTED or (
            report.exec_type is ExecType.ORDER_STATUS and report.order_status is OrdStatus.REJECTED
        ):
            code = _ORD_REJ_REASON.get(report.reason, OrdRejReason.OTHER)
            body += b"103=%d\x01" % code
        if report.text:
            body += b"58=%s\x01" % _text(report.text)
        return body

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


def _text(text: str) -> bytes:
    """Free text for Text (58): SOH and non-Latin-1 characters replaced."""
    return text.replace("\x01", " ").encode("latin-1", "replace")
