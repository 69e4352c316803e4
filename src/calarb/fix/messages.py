"""Typed FIX messages (admin and application), written from the FIX 4.2/4.4 specification.

Each message is a NamedTuple with a class attribute `msg_type` and a field table
`FIELDS` of (attribute, tag, kind). `to_body(message)` encodes the body; `from_message`
builds the typed message from a decoded `FixMessage`, raising `MessageRejected` naming the
tag for a missing required field or a malformed value.

Prices are integers in 1/10,000 units (calarb.core.types) in the application; they become
decimal text only here, at the FIX edge. Quantities are integer shares. Times are epoch
nanoseconds (UTC). The hot messages (NewOrderSingle, ExecutionReport) have hand-written
encoders that format the always-present fields with one ``%`` operation.
"""

from __future__ import annotations

from typing import NamedTuple

from calarb.core.types import Side, price_from_str
from calarb.fix.codec import FixMessage
from calarb.fix.errors import MessageRejected
from calarb.fix.errors import SessionRejectReason as R
from calarb.fix.timefmt import TimestampFormatter, parse_utc_timestamp

_timestamp = TimestampFormatter()


def format_price(price: int) -> bytes:
    """Integer 1/10,000 units to FIX decimal text: 1234500 -> b'123.45'."""
    sign = b"-" if price < 0 else b""
    whole, fraction = divmod(abs(price), 10_000)
    if not fraction:
        return b"%s%d" % (sign, whole)
    return (b"%s%d.%04d" % (sign, whole, fraction)).rstrip(b"0")


_PLACES_SCALE = (10_000, 1_000, 100, 10, 1)


def parse_price(text: bytes) -> int:
    """FIX decimal text to integer 1/10,000 units, exactly; ValueError naming the text."""
    whole, _, fraction = text.partition(b".")
    places = len(fraction)
    if places <= 4 and whole.isdigit() and (not places or fraction.isdigit()):
        return int(whole + fraction) * _PLACES_SCALE[places]  # ASCII digits: no sign, no 'e'
    return price_from_str(text.decode("ascii"))  # signs, exponents, more places, errors


def _side_to_fix(side: Side) -> bytes:
    return b"1" if side is Side.BUY else b"2"


_SIDE_CODES = {b"1": Side.BUY, b"2": Side.SELL}


def _side_from_fix(text: bytes) -> Side:
    side = _SIDE_CODES.get(text)
    return side if side is not None else Side.from_code(text)


_ENCODERS = {
    "str": lambda v: v.encode() if isinstance(v, str) else v,
    "char": lambda v: v.encode() if isinstance(v, str) else v,
    "int": lambda v: b"%d" % v,
    "qty": lambda v: b"%d" % v,
    "price": format_price,
    "amt": format_price,
    "side": _side_to_fix,
    "bool": lambda v: b"Y" if v else b"N",
    "time": lambda v: _timestamp(v),
}


def _decode_qty(text: bytes) -> int:
    if text.isdigit():
        return int(text)
    value = price_from_str(text.decode("ascii"))
    if value % 10_000:
        raise ValueError(f"quantity {text!r} is not a whole number")
    return value // 10_000


_DECODERS = {
    "str": lambda v: v.decode("latin-1"),
    "char": lambda v: v.decode("latin-1"),
    "int": int,
    "qty": _decode_qty,
    "price": parse_price,
    "amt": parse_price,
    "side": _side_from_fix,
    "bool": lambda v: v == b"Y",
    "time": parse_utc_timestamp,
}


def to_body(message: NamedTuple) -> bytes:
    """The body (fields after the standard header) of a typed message."""
    return _encode_fields(message, type(message).FIELDS)


def _encode_fields(message: NamedTuple, fields: tuple) -> bytes:
    parts = []
    for attribute, tag, kind, _required in fields:
        value = getattr(message, attribute)
        if value is None:
            continue
        parts.append(b"%d=%s\x01" % (tag, _ENCODERS[kind](value)))
    return b"".join(parts)


def from_message(cls: type, message: FixMessage):
    """Build a typed message from a decoded one; MessageRejected names a bad or missing tag."""
    values = {}
    for attribute, tag, kind, required in cls.FIELDS:
        text = message.get(tag)
        if text is None:
            if required:
                raise MessageRejected(R.REQUIRED_TAG_MISSING, tag)
            values[attribute] = None
            continue
        try:
            values[attribute] = _DECODERS[kind](text)
        except ValueError as exc:
            raise MessageRejected(R.INCORRECT_DATA_FORMAT, tag, str(exc)) from None
    return cls(**values)


# --- admin ---------------------------------------------------------------------------------


class Logon(NamedTuple):
    heartbeat_interval_s: int
    encrypt_method: int = 0
    reset_seq_num: bool | None = None
    username: str | None = None
    password: str | None = None
    msg_type = b"A"
    FIELDS = (
        ("encrypt_method", 98, "int", True),
        ("heartbeat_interval_s", 108, "int", True),
        ("reset_seq_num", 141, "bool", False),
        ("username", 553, "str", False),
        ("password", 554, "str", False),
    )


class Heartbeat(NamedTuple):
    test_req_id: str | None = None
    msg_type = b"0"
    FIELDS = (("test_req_id", 112, "str", False),)


class TestRequest(NamedTuple):
    test_req_id: str
    msg_type = b"1"
    FIELDS = (("test_req_id", 112, "str", True),)


class ResendRequest(NamedTuple):
    begin_seq_no: int
    end_seq_no: int
    msg_type = b"2"
    FIELDS = (("begin_seq_no", 7, "int", True), ("end_seq_no", 16, "int", True))


class Reject(NamedTuple):
    ref_seq_num: int
    text: str | None = None
    ref_tag_id: int | None = None
    ref_msg_type: str | None = None
    session_reject_reason: int | None = None
    msg_type = b"3"
    FIELDS = (
        ("ref_seq_num", 45, "int", True),
        ("text", 58, "str", False),
        ("ref_tag_id", 371, "int", False),
        ("ref_msg_type", 372, "str", False),
        ("session_reject_reason", 373, "int", False),
    )


class SequenceReset(NamedTuple):
    new_seq_no: int
    gap_fill: bool | None = None
    msg_type = b"4"
    FIELDS = (("new_seq_no", 36, "int", True), ("gap_fill", 123, "bool", False))


class Logout(NamedTuple):
    text: str | None = None
    msg_type = b"5"
    FIELDS = (("text", 58, "str", False),)


# --- application ---------------------------------------------------------------------------


class NewOrderSingle(NamedTuple):
    cl_ord_id: str
    symbol: str
    side: Side
    order_qty: int
    ord_type: str  # '1' market, '2' limit
    transact_time_ns: int
    price: int | None = None
    time_in_force: str | None = None  # '0' day, '3' IOC, '4' FOK
    account: str | None = None
    handl_inst: str | None = "1"
    msg_type = b"D"
    FIELDS = (
        ("account", 1, "str", False),
        ("cl_ord_id", 11, "str", True),
        ("handl_inst", 21, "char", False),
        ("order_qty", 38, "qty", True),
        ("ord_type", 40, "char", True),
        ("price", 44, "price", False),
        ("side", 54, "side", True),
        ("symbol", 55, "str", True),
        ("time_in_force", 59, "char", False),
        ("transact_time_ns", 60, "time", True),
    )


class OrderCancelRequest(NamedTuple):
    orig_cl_ord_id: str
    cl_ord_id: str
    symbol: str
    side: Side
    transact_time_ns: int
    order_qty: int | None = None
    order_id: str | None = None
    msg_type = b"F"
    FIELDS = (
        ("cl_ord_id", 11, "str", True),
        ("order_id", 37, "str", False),
        ("order_qty", 38, "qty", False),
        ("orig_cl_ord_id", 41, "str", True),
        ("side", 54, "side", True),
        ("symbol", 55, "str", True),
        ("transact_time_ns", 60, "time", True),
    )


class OrderCancelReplaceRequest(NamedTuple):
    orig_cl_ord_id: str
    cl_ord_id: str
    symbol: str
    side: Side
    order_qty: int
    ord_type: str
    transact_time_ns: int
    price: int | None = None
    order_id: str | None = None
    handl_inst: str | None = "1"
    msg_type = b"G"
    FIELDS = (
        ("cl_ord_id", 11, "str", True),
        ("handl_inst", 21, "char", False),
        ("order_id", 37, "str", False),
        ("order_qty", 38, "qty", True),
        ("ord_type", 40, "char", True),
        ("orig_cl_ord_id", 41, "str", True),
        ("price", 44, "price", False),
        ("side", 54, "side", True),
        ("symbol", 55, "str", True),
        ("transact_time_ns", 60, "time", True),
    )


class OrderStatusRequest(NamedTuple):
    cl_ord_id: str
    symbol: str
    side: Side
    order_id: str | None = None
    msg_type = b"H"
    FIELDS = (
        ("cl_ord_id", 11, "str", True),
        ("order_id", 37, "str", False),
        ("side", 54, "side", True),
        ("symbol", 55, "str", True),
    )


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


MESSAGE_TYPES: dict[bytes, type] = {
    cls.msg_type: cls
    for cls in (
        Logon, Heartbeat, TestRequest, ResendRequest, Reject, SequenceReset, Logout,
        NewOrderSingle, OrderCancelRequest, OrderCancelReplaceRequest, OrderStatusRequest,
        ExecutionReport, OrderCancelReject, BusinessMessageReject,
    )
}  # fmt: skip


def parse(message: FixMessage):
    """The typed message for a decoded one; MessageRejected if its type is not one of ours."""
    cls = MESSAGE_TYPES.get(message.msg_type)
    if cls is None:
        raise MessageRejected(R.INVALID_MSGTYPE, 35, f"no typed message for {message.msg_type!r}")
    return from_message(cls, message)


# --- hot-path encoders ---------------------------------------------------------------------

_NOS_LIMIT = b"11=%s\x0121=1\x0138=%d\x0140=2\x0144=%s\x0154=%s\x0155=%s\x0159=%s\x0160=%s\x01"
_NOS_MARKET = b"11=%s\x0121=1\x0138=%d\x0140=1\x0154=%s\x0155=%s\x0159=%s\x0160=%s\x01"
_SIDE = {Side.BUY: b"1", Side.SELL: b"2"}


def encode_new_order_single(
    cl_ord_id: bytes, symbol: bytes, side: Side, quantity: int, price: int | None,
    transact_time: bytes, time_in_force: bytes = b"0",
) -> bytes:  # fmt: skip
    """NewOrderSingle body in one formatting step (limit when `price` is given, else market)."""
    if price is None:
        return _NOS_MARKET % (
            cl_ord_id,
            quantity,
            _SIDE[side],
            symbol,
            time_in_force,
            transact_time,
        )
    price_text = _PRICE_TEXT.get(price)
    if price_text is None:
        price_text = _remember_price_text(price)
    return _NOS_LIMIT % (
        cl_ord_id, quantity, price_text, _SIDE[side], symbol, time_in_force, transact_time
    )  # fmt: skip


_PRICE_TEXT: dict[int, bytes] = {}
"""Limit price -> `format_price` text, for the NewOrderSingle path (prices repeat)."""
_PRICE_TEXT_LIMIT = 4096


def _remember_price_text(price: int) -> bytes:
    if len(_PRICE_TEXT) >= _PRICE_TEXT_LIMIT:
        _PRICE_TEXT.clear()
    text = _PRICE_TEXT[price] = format_price(price)
    return text


_EXEC = (
    b"6=%s\x0111=%s\x0114=%d\x0117=%s\x0131=%s\x0132=%d\x0137=%s\x0138=%d\x0139=%s\x01"
    b"44=%s\x0154=%s\x0155=%s\x0160=%s\x01150=%s\x01151=%d\x01"
)


# Text (58) and the fields after it in ExecutionReport: written only when one of them is set.
_EXEC_TAIL_START = ExecutionReport._fields.index("text")
_EXEC_TAIL_FIELDS = tuple(
    spec
    for spec in ExecutionReport.FIELDS
    if ExecutionReport._fields.index(spec[0]) >= _EXEC_TAIL_START
)
_EXEC_NO_TAIL = (None,) * (len(ExecutionReport._fields) - _EXEC_TAIL_START)


def encode_execution_report(report: ExecutionReport, transact_time: bytes) -> bytes:
    """ExecutionReport body in one formatting step (the fields above, in tag order), then the
    optional tail (Text, OrdType, OrigClOrdID, LastLiquidityInd, ...) when any of it is set."""
    body = _EXEC % (
        format_price(report.avg_px), (report.cl_ord_id or "").encode(), report.cum_qty,
        report.exec_id.encode(), format_price(report.last_px or 0), report.last_qty or 0,
        report.order_id.encode(), report.order_qty or 0, report.ord_status.encode(),
        format_price(report.price or 0), _SIDE[report.side], report.symbol.encode(),
        transact_time, report.exec_type.encode(), report.leaves_qty,
    )  # fmt: skip
    if report[_EXEC_TAIL_START:] == _EXEC_NO_TAIL:
        return body
    return body + _encode_fields(report, _EXEC_TAIL_FIELDS)


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
                Side.BUY if side == b"1" else _side_from_fix(side),
                int(leaves) if leaves.isdigit() else _decode_qty(leaves),
                int(cum) if cum.isdigit() else _decode_qty(cum),
                parse_price(fields[b"6"]),
                None if cl_ord_id is None else cl_ord_id.decode(),
                None
                if order_qty is None
                else int(order_qty) if order_qty.isdigit() else _decode_qty(order_qty),
                None if price is None else parse_price(price),
                None
                if last_qty is None
                else int(last_qty) if last_qty.isdigit() else _decode_qty(last_qty),
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


# --- built-in data dictionary ----------------------------------------------------------------

_FIX_TYPES = {
    "str": "STRING", "char": "CHAR", "int": "INT", "qty": "QTY", "price": "PRICE",
    "amt": "AMT", "side": "CHAR", "bool": "BOOLEAN", "time": "UTCTIMESTAMP",
}  # fmt: skip
_HEADER = (
    (8, "BeginString", "STRING", True), (9, "BodyLength", "LENGTH", True),
    (35, "MsgType", "STRING", True), (49, "SenderCompID", "STRING", True),
    (56, "TargetCompID", "STRING", True), (115, "OnBehalfOfCompID", "STRING", False),
    (128, "DeliverToCompID", "STRING", False), (34, "MsgSeqNum", "SEQNUM", True),
    (50, "SenderSubID", "STRING", False), (57, "TargetSubID", "STRING", False),
    (116, "OnBehalfOfSubID", "STRING", False), (129, "DeliverToSubID", "STRING", False),
    (144, "OnBehalfOfLocationID", "STRING", False), (145, "DeliverToLocationID", "STRING", False),
    (43, "PossDupFlag", "BOOLEAN", False), (97, "PossResend", "BOOLEAN", False),
    (52, "SendingTime", "UTCTIMESTAMP", True), (122, "OrigSendingTime", "UTCTIMESTAMP", False),
)  # fmt: skip


def _codes(text: str) -> frozenset[bytes]:
    return frozenset(code.encode() for code in text.split())


# Enumerated values per FIX version (from the FIX 4.2 and 4.4 specifications).
_ENUMS_FIX44 = {
    13: _codes("1 2 3 4 5 6"),  # CommType
    40: _codes("1 2 3 4 6 7 8 9 D E G I J K L M P"),  # OrdType
    54: _codes("1 2 3 4 5 6 7 8 9"),  # Side
    59: _codes("0 1 2 3 4 5 6 7"),  # TimeInForce
    103: _codes("0 1 2 3 4 5 6 7 8 9 10 11 13 14 15 99"),  # OrdRejReason
    851: _codes("1 2 3"),  # LastLiquidityInd
}
EXEC_TRANS_TYPES = _codes("0 1 2 3")  # ExecTransType (20), FIX 4.2: new, cancel, correct, status
_ENUMS_FIX42 = {
    **_ENUMS_FIX44,
    20: EXEC_TRANS_TYPES,
    13: _codes("1 2 3"),
    40: _codes("1 2 3 4 5 6 7 8 9 A B C D E F G H I P"),
    59: _codes("0 1 2 3 4 5 6"),
    103: _codes("0 1 2 3 4 5 6 7 8"),
}
# Typed-message tags FIX 4.2 does not define: SecondaryExecID (527) came with FIX 4.3,
# OrdStatusReqID (790) and LastLiquidityInd (851) with FIX 4.4.
_NOT_IN_FIX42 = frozenset({527, 790, 851})
# Typed-message tags only FIX 4.2 defines, and there they are required (ExecTransType).
_ONLY_IN_FIX42 = frozenset({20})


def builtin_dictionary(begin_string: str = "FIX.4.4"):
    """A DataDictionary covering the typed messages above (header, trailer, their fields,
    types, enumerations and required flags), for validation without a QuickFIX XML file.
    For "FIX.4.2" the fields that version does not define are left out, its enumerations
    are used and ExecTransType (20) is a required field of ExecutionReport; FIX 4.4 does not
    define ExecTransType."""
    from calarb.fix.dictionary import DataDictionary, FieldDef, MessageDef

    fix42 = begin_string == "FIX.4.2"
    enums = _ENUMS_FIX42 if fix42 else _ENUMS_FIX44
    fields = {tag: FieldDef(tag, name, kind) for tag, name, kind, _ in _HEADER}
    fields[10] = FieldDef(10, "CheckSum", "STRING")
    messages = {}
    for msg_type, cls in MESSAGE_TYPES.items():
        order = []
        required = []
        for attribute, tag, kind, is_required in cls.FIELDS:
            if tag in (_NOT_IN_FIX42 if fix42 else _ONLY_IN_FIX42):
                continue
            fields.setdefault(tag, FieldDef(tag, attribute, _FIX_TYPES[kind], enums.get(tag)))
            order.append(tag)
            if is_required or (fix42 and tag in _ONLY_IN_FIX42):
                required.append(tag)
        messages[msg_type] = MessageDef(
            msg_type,
            cls.__name__,
            msg_type in b"0123A45",
            tuple(order),
            tuple(sorted(required)),
            {},
        )
    header = MessageDef(
        b"_header_", "Header", True, tuple(t for t, *_ in _HEADER),
        tuple(sorted(t for t, _, _, r in _HEADER if r)), {},
    )  # fmt: skip
    trailer = MessageDef(b"_trailer_", "Trailer", True, (10,), (10,), {})
    return DataDictionary(begin_string, fields, header, trailer, messages)
