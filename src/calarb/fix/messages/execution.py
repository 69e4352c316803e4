"""Execution messages: ExecutionReport (8), OrderCancelReject (9), BusinessMessageReject (j).

The typed `ExecutionReport` is the message as FIX writes it (codes as text, FIX 4.2's
ExecTransType, the venue's billing fields). The order events the rest of calarb runs on are
calarb.core.order_events'; this module converts between the two: `order_event` (a received
report -> the core event), `fix_execution_report` (a venue's core event -> the message),
`decode_cancel_reject` / `cancel_reject_message` likewise for OrderCancelReject.

`encode_execution_report` is the one ExecutionReport encoder (the venue's and the
benchmark's): a fill with every common field set is formatted with one ``%`` operation, other
reports field by field. `decode_execution_report` is the generic decoder specialised.
"""

from __future__ import annotations

from typing import NamedTuple

from calarb.core import order_events
from calarb.core.orders import ExecType, Liquidity, OrdStatus, OrdType
from calarb.core.types import Side
from calarb.fix.codec import FixMessage
from calarb.fix.errors import MessageRejected
from calarb.fix.errors import SessionRejectReason as R
from calarb.fix.messages.fields import (
    decode_qty,
    field_writers,
    format_price,
    from_message,
    parse_price,
    side_from_fix,
    side_to_fix,
    write_fields,
)
from calarb.fix.timefmt import parse_utc_timestamp

EXEC_TRANS_TYPES = frozenset({b"0", b"1", b"2", b"3"})
"""ExecTransType (20), FIX 4.2: new, cancel, correct, status."""


class ExecutionReport(NamedTuple):
    order_id: str
    exec_id: str
    exec_type: str  # 150: '0' new, 'F' trade, '4' canceled, '8' rejected, ...
    ord_status: str  # 39
    symbol: str
    side: Side
    leaves_qty: int
    cum_qty: int
    avg_px: int
    cl_ord_id: str | None = None
    order_qty: int | None = None
    price: int | None = None
    last_qty: int | None = None
    last_px: int | None = None
    transact_time_ns: int | None = None
    text: str | None = None
    ord_type: str | None = None  # 40: '1' market, '2' limit
    time_in_force: str | None = None  # 59: '0' day, '3' IOC, '4' FOK
    orig_cl_ord_id: str | None = None  # 41: on answers to a cancel or a replace
    secondary_exec_id: str | None = None  # 527: the venue's match number on a fill
    last_liquidity_ind: int | None = None  # 851: 1 added, 2 removed, 3 routed out
    commission: int | None = None  # 12, 1/10,000 units; negative for a rebate
    comm_type: str | None = None  # 13: '1' per unit, '2' percent, '3' absolute
    ord_rej_reason: int | None = None  # 103, on a reject (or 150=I for an unknown order)
    ord_status_req_id: str | None = None  # 790, echoed from the OrderStatusRequest
    # 20, FIX 4.2 only, where it is required: '0' new, '1' cancel (a bust of ExecRefID),
    # '2' correct, '3' status. FIX 4.4 has no ExecTransType (ExecType carries it).
    exec_trans_type: str | None = None
    msg_type = b"8"
    FIELDS = (
        ("avg_px", 6, "price", True),
        ("cl_ord_id", 11, "str", False),
        ("commission", 12, "amt", False),
        ("comm_type", 13, "char", False),
        ("cum_qty", 14, "qty", True),
        ("exec_id", 17, "str", True),
        ("exec_trans_type", 20, "char", False),  # required in FIX 4.2 (builtin_dictionary)
        ("last_px", 31, "price", False),
        ("last_qty", 32, "qty", False),
        ("order_id", 37, "str", True),
        ("order_qty", 38, "qty", False),
        ("ord_status", 39, "char", True),
        ("ord_type", 40, "char", False),
        ("orig_cl_ord_id", 41, "str", False),
        ("price", 44, "price", False),
        ("side", 54, "side", True),
        ("symbol", 55, "str", True),
        ("text", 58, "str", False),
        ("time_in_force", 59, "char", False),
        ("transact_time_ns", 60, "time", False),
        ("ord_rej_reason", 103, "int", False),
        ("exec_type", 150, "char", True),
        ("leaves_qty", 151, "qty", True),
        ("secondary_exec_id", 527, "str", False),
        ("ord_status_req_id", 790, "str", False),
        ("last_liquidity_ind", 851, "int", False),
    )


class OrderCancelReject(NamedTuple):
    order_id: str
    cl_ord_id: str
    orig_cl_ord_id: str
    ord_status: str
    cxl_rej_response_to: str  # '1' cancel, '2' cancel/replace
    cxl_rej_reason: int | None = None
    text: str | None = None
    msg_type = b"9"
    FIELDS = (
        ("cl_ord_id", 11, "str", True),
        ("order_id", 37, "str", True),
        ("ord_status", 39, "char", True),
        ("orig_cl_ord_id", 41, "str", True),
        ("text", 58, "str", False),
        ("cxl_rej_reason", 102, "int", False),
        ("cxl_rej_response_to", 434, "char", True),
    )


class BusinessMessageReject(NamedTuple):
    ref_msg_type: str
    business_reject_reason: int
    ref_seq_num: int | None = None
    text: str | None = None
    msg_type = b"j"
    FIELDS = (
        ("ref_seq_num", 45, "int", False),
        ("text", 58, "str", False),
        ("ref_msg_type", 372, "str", True),
        ("business_reject_reason", 380, "int", True),
    )


# --- the encoder -----------------------------------------------------------------------------

_EXEC_FILL = (
    b"6=%s\x0111=%s\x0114=%d\x0117=%s\x0131=%s\x0132=%d\x0137=%s\x0138=%d\x0139=%s\x01"
    b"44=%s\x0154=%s\x0155=%s\x0160=%s\x01150=%s\x01151=%d\x01"
)
_EXEC_HEAD = (
    b"6=%s\x0111=%s\x0114=%d\x0117=%s\x0137=%s\x0139=%s\x0154=%s\x0155=%s\x0160=%s\x01"
    b"150=%s\x01151=%d\x01"
)

# Text (58) and the fields after it in ExecutionReport: written only when one of them is set.
_EXEC_TAIL_START = ExecutionReport._fields.index("text")
_EXEC_TAIL = field_writers(ExecutionReport, ExecutionReport._fields[_EXEC_TAIL_START:])
_EXEC_NO_TAIL = (None,) * (len(ExecutionReport._fields) - _EXEC_TAIL_START)
# The fields before Text but TransactTime (60), which the encoder is given as text.
_EXEC_FIRST = field_writers(
    ExecutionReport,
    tuple(
        name for name in ExecutionReport._fields[:_EXEC_TAIL_START] if name != "transact_time_ns"
    ),
)


def encode_execution_report(report: ExecutionReport, transact_time: bytes) -> bytes:
    """ExecutionReport body with TransactTime (60) `transact_time`. A fill carrying ClOrdID,
    OrderQty, Price, LastQty and LastPx is one formatting step (those fields and the required
    ones, in tag order); other reports write what they carry. Then the optional tail (Text,
    OrdType, OrigClOrdID, LastLiquidityInd, ...) when any of it is set."""
    cl_ord_id = report.cl_ord_id
    order_qty = report.order_qty
    price = report.price
    last_qty = report.last_qty
    last_px = report.last_px
    if cl_ord_id is None:
        body = write_fields(report, _EXEC_FIRST) + b"60=%s\x01" % transact_time
    elif order_qty is None or price is None or last_qty is None or last_px is None:
        body = _EXEC_HEAD % (
            format_price(report.avg_px), cl_ord_id.encode(), report.cum_qty,
            report.exec_id.encode(), report.order_id.encode(), report.ord_status.encode(),
            side_to_fix(report.side), report.symbol.encode(), transact_time,
            report.exec_type.encode(), report.leaves_qty,
        )  # fmt: skip
        if order_qty is not None:
            body += b"38=%d\x01" % order_qty
        if price is not None:
            body += b"44=%s\x01" % format_price(price)
        if last_qty is not None:
            body += b"32=%d\x01" % last_qty
        if last_px is not None:
            body += b"31=%s\x01" % format_price(last_px)
    else:
        body = _EXEC_FILL % (
            format_price(report.avg_px), cl_ord_id.encode(), report.cum_qty,
            report.exec_id.encode(), format_price(last_px), last_qty, report.order_id.encode(),
            order_qty, report.ord_status.encode(), format_price(price),
            side_to_fix(report.side), report.symbol.encode(), transact_time,
            report.exec_type.encode(), report.leaves_qty,
        )  # fmt: skip
    if report[_EXEC_TAIL_START:] == _EXEC_NO_TAIL:
        return body
    return body + write_fields(report, _EXEC_TAIL)


# --- the decoder -----------------------------------------------------------------------------

_new_execution_report = tuple.__new__


def decode_execution_report(message: FixMessage) -> ExecutionReport:
    """Typed ExecutionReport from a decoded message (the generic `from_message`, specialised).
    A FIX 4.2 report (BeginString 8 as received) must carry ExecTransType (20); a value of
    20 other than 0-3 is refused whatever the version."""
    fields = message.by_text
    get = fields.get
    exec_trans_type = get(b"20")
    if exec_trans_type is None:
        if get(b"8") == b"FIX.4.2":
            raise MessageRejected(R.REQUIRED_TAG_MISSING, 20, "ExecTransType is required in 4.2")
    elif exec_trans_type not in EXEC_TRANS_TYPES:
        raise MessageRejected(R.VALUE_IS_INCORRECT, 20, f"ExecTransType {exec_trans_type!r}")
    try:
        transact = get(b"60")
        last_px = get(b"31")
        last_qty = get(b"32")
        order_qty = get(b"38")
        price = get(b"44")
        cl_ord_id = get(b"11")
        text = get(b"58")
        ord_type = get(b"40")
        time_in_force = get(b"59")
        orig_cl_ord_id = get(b"41")
        secondary_exec_id = get(b"527")
        liquidity = get(b"851")
        commission = get(b"12")
        comm_type = get(b"13")
        rej_reason = get(b"103")
        status_req_id = get(b"790")
        side = fields[b"54"]
        leaves = fields[b"151"]
        cum = fields[b"14"]
        return _new_execution_report(
            ExecutionReport,
            (
                fields[b"37"].decode(), fields[b"17"].decode(), fields[b"150"].decode(),
                fields[b"39"].decode(), fields[b"55"].decode(),
                Side.BUY if side == b"1" else side_from_fix(side),
                int(leaves) if leaves.isdigit() else decode_qty(leaves),
                int(cum) if cum.isdigit() else decode_qty(cum),
                parse_price(fields[b"6"]),
                None if cl_ord_id is None else cl_ord_id.decode(),
                None
                if order_qty is None
                else int(order_qty) if order_qty.isdigit() else decode_qty(order_qty),
                None if price is None else parse_price(price),
                None
                if last_qty is None
                else int(last_qty) if last_qty.isdigit() else decode_qty(last_qty),
                None if last_px is None else parse_price(last_px),
                None if transact is None else parse_utc_timestamp(transact),
                None if text is None else text.decode("latin-1"),
                None if ord_type is None else ord_type.decode(),
                None if time_in_force is None else time_in_force.decode(),
                None if orig_cl_ord_id is None else orig_cl_ord_id.decode(),
                None if secondary_exec_id is None else secondary_exec_id.decode(),
                None if liquidity is None else int(liquidity),
                None if commission is None else parse_price(commission),
                None if comm_type is None else comm_type.decode(),
                None if rej_reason is None else int(rej_reason),
                None if status_req_id is None else status_req_id.decode(),
                None if exec_trans_type is None else exec_trans_type.decode(),
            ),
        )  # fmt: skip
    except (KeyError, ValueError):
        return from_message(ExecutionReport, message)  # raises, naming the tag


# --- to and from the core order events -----------------------------------------------------------

# LastLiquidityInd (851, an INT in FIX 4.4) <-> Liquidity
_LIQUIDITY_CODES = {1: Liquidity.ADDED, 2: Liquidity.REMOVED}
_LIQUIDITY_IND = {Liquidity.ADDED: 1, Liquidity.REMOVED: 2}
_FIX42_FILL_TYPES = {"1": ExecType.TRADE, "2": ExecType.TRADE}  # 4.2 partial fill, fill
_LIMIT = OrdType.LIMIT
_NO_ORDER_ID = "NONE"


def order_event(
    report: ExecutionReport, venue: str, orig_cl_ord_id: str | None = None
) -> order_events.ExecutionReport:
    """The core event for a received ExecutionReport (typed, or any object with the same
    attribute names). OrigClOrdID (41) and LastLiquidityInd (851) come from the message;
    `orig_cl_ord_id` is used only when it carries no OrigClOrdID. A LastLiquidityInd other
    than 1 (added) or 2 (removed), e.g. 3 (routed out), becomes `Liquidity.UNKNOWN`: the fill
    still counts, charged as taker. FIX 4.2's fill codes, ExecType 1 (partial fill) and 2
    (fill), are read as 4.4's F (trade); a 4.2 ExecTransType (20) other than 0 (new) or 3
    (status) is refused. Raises ValueError naming the tag for a code calarb does not know."""
    code = report.exec_type
    try:
        exec_type = ExecType(code)
    except ValueError:
        exec_type = _FIX42_FILL_TYPES.get(code)
        if exec_type is None:
            raise ValueError(f"ExecType (150) {code!r} is not supported") from None
    trans_type = getattr(report, "exec_trans_type", None)
    if trans_type not in (None, "0", "3"):
        raise ValueError(
            f"ExecTransType (20) {trans_type!r} (cancel or correct of an earlier report) "
            "is not supported"
        )
    try:
        ord_status = OrdStatus(report.ord_status)
    except ValueError:
        raise ValueError(f"OrdStatus (39) {report.ord_status!r} is not supported") from None
    return order_events.ExecutionReport(
        venue,
        report.cl_ord_id or "",
        report.order_id,
        report.exec_id,
        exec_type,
        ord_status,
        report.symbol,
        report.side,
        report.order_qty or 0,
        report.price or 0,
        report.cum_qty,
        report.leaves_qty,
        report.avg_px,
        report.last_qty or 0,
        report.last_px or 0,
        report.orig_cl_ord_id or orig_cl_ord_id,
        _LIQUIDITY_CODES.get(report.last_liquidity_ind, Liquidity.UNKNOWN),
        report.transact_time_ns or 0,
        report.text or "",
    )


def fix_execution_report(
    event: order_events.ExecutionReport,
    exec_id: str,
    *,
    side: Side | str | None = None,
    commission: int | None = None,
    ord_rej_reason: int | None = None,
    ord_status_req_id: str | None = None,
) -> ExecutionReport:
    """The ExecutionReport a venue sends for its core event. OrderID is "NONE" when the
    order has none (a reject); Price only for a limit order; on a fill LastQty, LastPx,
    SecondaryExecID (the match number) and LastLiquidityInd; Commission (CommType 3,
    absolute) when given. `side` overrides the event's (a reject echoes the Side as sent)."""
    fill = event.last_qty
    text = event.text
    commission = commission or None
    return _new_execution_report(
        ExecutionReport,
        (
            event.order_id or _NO_ORDER_ID,
            exec_id,
            event.exec_type.value,
            event.ord_status.value,
            event.symbol,
            event.side if side is None else side,
            event.leaves_qty,
            event.cum_qty,
            event.avg_px,
            event.cl_ord_id,
            event.order_qty,
            event.price if event.price and event.ord_type is _LIMIT else None,
            fill or None,
            event.last_px if fill else None,
            event.transact_time_ns or None,
            text.replace("\x01", " ") if text else None,
            event.ord_type.value,
            event.time_in_force.value,
            event.orig_cl_ord_id or None,
            str(event.match_number) if fill else None,
            _LIQUIDITY_IND.get(event.liquidity) if fill else None,
            commission,
            None if commission is None else "3",
            ord_rej_reason,
            ord_status_req_id,
            None,
        ),
    )


def decode_cancel_reject(message: FixMessage, venue: str) -> order_events.CancelReject:
    """The core event for a received OrderCancelReject (9); KeyError/ValueError when a
    field it needs is missing or not a known OrdStatus."""
    return order_events.CancelReject(
        venue,
        message[11].decode(),
        message[41].decode(),
        message[37].decode(),
        OrdStatus(message[39].decode()),
        message.get(434) == b"2",
        (message.get(58) or b"").decode("latin-1"),
    )


def cancel_reject_message(
    reject: order_events.CancelReject, cxl_rej_reason: int, orig_cl_ord_id: str = ""
) -> OrderCancelReject:
    """The OrderCancelReject (9) a venue sends for its core event (`orig_cl_ord_id` when the
    event has none)."""
    return OrderCancelReject(
        reject.order_id or _NO_ORDER_ID,
        reject.cl_ord_id,
        reject.orig_cl_ord_id or orig_cl_ord_id,
        reject.ord_status.value,
        "2" if reject.response_to_replace else "1",
        cxl_rej_reason,
        reject.text.replace("\x01", " ") if reject.text else None,
    )
