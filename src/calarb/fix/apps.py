"""Applications that sit on a session: the echo application used by conformance runs.

`EchoApplication` answers every order-entry request (NewOrderSingle D, OrderCancelRequest F,
OrderCancelReplaceRequest G, OrderStatusRequest H) and SecurityDefinition (d) by sending the
same message back; any other application message gets BusinessMessageReject 380=3
(Unsupported Message Type). A NewOrderSingle with PossResend(97)=Y whose ClOrdID was already
seen on the session is not echoed again. The echoed body lists fields in tag order with each
repeating group kept whole at its NumInGroup field (the order QuickFIX writes).
"""

from __future__ import annotations

from calarb.core.types import Side
from calarb.fix.admin import HEADER_TAGS, reverse_route
from calarb.fix.codec import FixMessage
from calarb.fix.dictionary import Section
from calarb.fix.errors import MessageRejected, UnsupportedMessageType
from calarb.fix.errors import SessionRejectReason as R
from calarb.fix.limits import MAX_STRING_LENGTH
from calarb.fix.messages import format_price, parse_price
from calarb.fix.session import FixSession
from calarb.fix.timefmt import TimestampFormatter

# ExecutionReport of a full fill: AvgPx, ClOrdID, CumQty, ExecID, LastPx, LastQty, OrderID,
# OrderQty, OrdStatus=2, Price, Side, Symbol, TransactTime, ExecType (F in 4.4, 2 = fill in
# 4.2, which has no F), LeavesQty=0.
_FILL = (
    b"6=%s\x0111=%s\x0114=%d\x0117=E%d\x0131=%s\x0132=%d\x0137=O%d\x0138=%d\x0139=2\x01"
    b"44=%s\x0154=%s\x0155=%s\x0160=%s\x01150=%s\x01151=0\x01"
)
_SIDE_CODES = {Side.BUY: b"1", Side.SELL: b"2"}
ECHOED_TYPES = frozenset({b"D", b"F", b"G", b"H", b"d"})
_SESSION_HEADER = frozenset({8, 9, 35, 34, 49, 52, 56, 43, 122, 10, 115, 128, 116, 129, 144, 145})


def _flatten(section: Section) -> list[tuple[int, bytes]]:
    groups: dict[int, list[list[Section]]] = {}
    for count_tag, entries in section.groups:
        groups.setdefault(count_tag, []).append(entries)
    out: list[tuple[int, bytes]] = []
    for tag, value in sorted(section.fields, key=lambda item: item[0]):
        out.append((tag, value))
        pending = groups.get(tag)
        if pending:
            for entry in pending.pop(0):
                out += _flatten_entry(entry)
    return out


def _flatten_entry(entry: Section) -> list[tuple[int, bytes]]:
    groups: dict[int, list[list[Section]]] = {}
    for count_tag, entries in entry.groups:
        groups.setdefault(count_tag, []).append(entries)
    out: list[tuple[int, bytes]] = []
    for tag, value in entry.fields:  # group members keep their wire order
        out.append((tag, value))
        pending = groups.get(tag)
        if pending:
            for sub in pending.pop(0):
                out += _flatten_entry(sub)
    return out


def canonical_body(session: FixSession, message: FixMessage) -> list[tuple[int, bytes]]:
    """Body fields of `message` in tag order, groups kept whole."""
    if session.dictionary is not None:
        return _flatten(session.dictionary.parse_structure(message).body)
    body = [(t, v) for t, v in message.fields if t not in HEADER_TAGS and t != 10]
    for tag, value in body:
        if len(value) > MAX_STRING_LENGTH:
            raise MessageRejected(R.VALUE_IS_INCORRECT, tag)
    return sorted(body, key=lambda item: item[0])


def _text_field(fields: dict[bytes, bytes], tag: bytes) -> bytes:
    """A required text field, refused (Reject naming the tag) when missing, longer than
    `MAX_STRING_LENGTH` or not ASCII text."""
    value = fields.get(tag)
    if not value:
        raise MessageRejected(R.REQUIRED_TAG_MISSING, int(tag))
    if len(value) > MAX_STRING_LENGTH or not value.isascii():
        raise MessageRejected(R.VALUE_IS_INCORRECT, int(tag))
    return value


def _quantity(fields: dict[bytes, bytes]) -> int:
    text = fields.get(b"38")
    if not text:
        raise MessageRejected(R.REQUIRED_TAG_MISSING, 38)
    if text.isdigit():
        quantity = int(text)
    else:
        try:
            quantity = int(float(text))
        except ValueError:
            raise MessageRejected(R.INCORRECT_DATA_FORMAT, 38) from None
    if quantity <= 0:
        raise MessageRejected(R.VALUE_IS_INCORRECT, 38)
    return quantity


def _other_side(code: bytes | None) -> bytes:
    """Side(54) given as anything but 1/2: its 1/2 code, or a Reject naming tag 54."""
    if not code:
        raise MessageRejected(R.REQUIRED_TAG_MISSING, 54)
    try:
        return _SIDE_CODES[Side.from_code(code)]
    except (KeyError, ValueError):
        raise MessageRejected(R.VALUE_IS_INCORRECT, 54) from None


class EchoApplication:
    def __init__(self) -> None:
        self._seen_orders: set[bytes] = set()

    def on_message(self, session: FixSession, message: FixMessage) -> None:
        msg_type = message.msg_type
        if msg_type not in ECHOED_TYPES:
            raise UnsupportedMessageType(msg_type)
        if msg_type == b"D":
            cl_ord_id = message.get(11, b"")
            if message.get(97) == b"Y" and cl_ord_id in self._seen_orders:
                return
            self._seen_orders.add(cl_ord_id)
        header = [
            (t, v) for t, v in message.fields if t in HEADER_TAGS and t not in _SESSION_HEADER
        ]
        header += reverse_route(message)
        session.send(
            msg_type, canonical_body(session, message), session.now_ns, session.wall_ns, header
        )


class FillApplication:
    """A venue that fills every NewOrderSingle at once at its limit price (or 0 for market),
    answering with one ExecutionReport (ExecType F, or 2 in FIX 4.2; OrdStatus 2). Used by
    benchmarks and interoperability tests; other application messages get
    BusinessMessageReject."""

    def __init__(self) -> None:
        self.orders = 0
        self._timestamp = TimestampFormatter()

    def on_message(self, session: FixSession, message: FixMessage) -> None:
        fields = message.by_text
        msg_type = fields.get(b"35")
        if msg_type != b"D":
            if msg_type == b"8":
                return  # reports from a peer venue are accepted silently
            raise UnsupportedMessageType(message.msg_type)
        cl_ord_id = _text_field(fields, b"11")
        symbol = _text_field(fields, b"55")
        quantity = _quantity(fields)
        price_text = fields.get(b"44")
        try:
            price = format_price(parse_price(price_text)) if price_text is not None else b"0"
        except ValueError:
            raise MessageRejected(R.INCORRECT_DATA_FORMAT, 44) from None
        side = fields.get(b"54")
        if side != b"1" and side != b"2":
            side = _other_side(side)
        self.orders += 1
        now = self._timestamp(session.wall_ns)  # the time of the order's arrival
        fix42 = session.begin_string == b"FIX.4.2"
        # the ExecutionReport `encode_execution_report` writes, formatted in one step
        body = _FILL % (
            price, cl_ord_id, quantity, self.orders, price, quantity, self.orders, quantity,
            price, side, symbol, now, b"2" if fix42 else b"F",
        )  # fmt: skip
        if fix42:
            body += b"20=0\x01"  # ExecTransType, required in 4.2
        session.send_body(b"8", body, session.now_ns, session.wall_ns)
