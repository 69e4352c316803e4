"""Order-entry requests: NewOrderSingle (D), OrderCancelRequest (F),
OrderCancelReplaceRequest (G), OrderStatusRequest (H).

Out (a trader): `encode_new_order_single` formats the hot NewOrderSingle in one step;
`cancel_request_message`, `replace_request_message` and `status_request_message` turn the
core requests (calarb.core.order_events) into typed messages for `to_body`.
In (a venue): `decode_order_request` reads any of the four into its typed message.
"""

from __future__ import annotations

from typing import NamedTuple

from calarb.core.order_events import CancelRequest, ReplaceRequest, StatusRequest
from calarb.core.orders import OrdType
from calarb.core.types import Side
from calarb.fix.codec import FixMessage
from calarb.fix.errors import MessageRejected, UnsupportedMessageType
from calarb.fix.errors import SessionRejectReason as R
from calarb.fix.limits import MAX_STRING_LENGTH
from calarb.fix.messages.fields import SIDE_TEXT, decode_qty, format_price, parse_price


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
    ord_status_req_id: str | None = None  # 790, echoed on the answer
    msg_type = b"H"
    FIELDS = (
        ("cl_ord_id", 11, "str", True),
        ("order_id", 37, "str", False),
        ("side", 54, "side", True),
        ("symbol", 55, "str", True),
        ("ord_status_req_id", 790, "str", False),
    )


# --- hot-path encoder ------------------------------------------------------------------------

_NOS_LIMIT = b"11=%s\x0121=1\x0138=%d\x0140=2\x0144=%s\x0154=%s\x0155=%s\x0159=%s\x0160=%s\x01"
_NOS_MARKET = b"11=%s\x0121=1\x0138=%d\x0140=1\x0154=%s\x0155=%s\x0159=%s\x0160=%s\x01"


def encode_new_order_single(
    cl_ord_id: bytes, symbol: bytes, side: Side, quantity: int, price: int | None,
    transact_time: bytes, time_in_force: bytes = b"0",
) -> bytes:  # fmt: skip
    """NewOrderSingle body in one formatting step (limit when `price` is given, else market)."""
    if price is None:
        return _NOS_MARKET % (
            cl_ord_id,
            quantity,
            SIDE_TEXT[side],
            symbol,
            time_in_force,
            transact_time,
        )
    price_text = _PRICE_TEXT.get(price)
    if price_text is None:
        price_text = _remember_price_text(price)
    return _NOS_LIMIT % (
        cl_ord_id, quantity, price_text, SIDE_TEXT[side], symbol, time_in_force, transact_time
    )  # fmt: skip


_PRICE_TEXT: dict[int, bytes] = {}
"""Limit price -> `format_price` text, for the NewOrderSingle path (prices repeat)."""
_PRICE_TEXT_LIMIT = 4096


def _remember_price_text(price: int) -> bytes:
    if len(_PRICE_TEXT) >= _PRICE_TEXT_LIMIT:
        _PRICE_TEXT.clear()
    text = _PRICE_TEXT[price] = format_price(price)
    return text


# --- trader side: core requests to typed messages ----------------------------------------------

_LIMIT = OrdType.LIMIT


def cancel_request_message(request: CancelRequest, transact_time_ns: int) -> OrderCancelRequest:
    """The OrderCancelRequest (F) for a core `CancelRequest`."""
    return OrderCancelRequest(
        request.orig_cl_ord_id, request.cl_ord_id, request.symbol, request.side,
        transact_time_ns, request.quantity, request.order_id or None,
    )  # fmt: skip


def replace_request_message(
    request: ReplaceRequest, transact_time_ns: int
) -> OrderCancelReplaceRequest:
    """The OrderCancelReplaceRequest (G) for a core `ReplaceRequest` (Price only on a limit)."""
    return OrderCancelReplaceRequest(
        request.orig_cl_ord_id, request.cl_ord_id, request.symbol, request.side,
        request.quantity, request.ord_type.value, transact_time_ns,
        request.price if request.ord_type is _LIMIT else None, request.order_id or None,
    )  # fmt: skip


def status_request_message(request: StatusRequest) -> OrderStatusRequest:
    """The OrderStatusRequest (H) for a core `StatusRequest`."""
    return OrderStatusRequest(
        request.cl_ord_id, request.symbol, request.side, request.order_id or None
    )


# --- venue side: requests in -----------------------------------------------------------------

_SIDES = {b"1": Side.BUY, b"2": Side.SELL}


def _required(fields: dict[bytes, bytes], tag: bytes) -> bytes:
    value = fields.get(tag)
    if not value:
        raise MessageRejected(R.REQUIRED_TAG_MISSING, int(tag))
    return value


def _text(fields: dict[bytes, bytes], tag: bytes) -> str:
    value = _required(fields, tag)
    if len(value) > MAX_STRING_LENGTH:
        raise MessageRejected(R.VALUE_IS_INCORRECT, int(tag), f"longer than {MAX_STRING_LENGTH}")
    return value.decode("latin-1")


def _side(fields: dict[bytes, bytes]) -> Side | str:
    code = _required(fields, b"54")
    side = _SIDES.get(code)
    return side if side is not None else code.decode("latin-1")


def _quantity(fields: dict[bytes, bytes], tag: bytes) -> int:
    text = _required(fields, tag)
    if text.isdigit():
        return int(text)
    try:
        value = decode_qty(text)
    except (ValueError, UnicodeDecodeError):
        value = -1
    if value < 0:
        raise MessageRejected(R.INCORRECT_DATA_FORMAT, int(tag), f"quantity {text!r}")
    return value


def _price(fields: dict[bytes, bytes]) -> int | None:
    text = fields.get(b"44")
    if not text:
        return None
    try:
        return parse_price(text)
    except ValueError as exc:
        raise MessageRejected(R.INCORRECT_DATA_FORMAT, 44, str(exc)) from None


def decode_order_request(
    message: FixMessage,
) -> NewOrderSingle | OrderCancelRequest | OrderCancelReplaceRequest | OrderStatusRequest:
    """The typed order-entry request (D, F, G or H) a venue received.

    MessageRejected (tag named) when a field the venue needs is missing or malformed;
    UnsupportedMessageType for any other message. A venue reads the request, not the
    sender's clock: TransactTime (60) is left 0. Codes are checked by the venue, not here, so
    that it can refuse an order with an ExecutionReport: OrdType (40) and TimeInForce (59,
    '0' when absent) stay text, and a Side (54) other than 1/2 is kept as its text.
    """
    fields = message.by_text
    msg_type = message.msg_type
    if msg_type == b"D":
        return NewOrderSingle(
            _text(fields, b"11"), _text(fields, b"55"), _side(fields), _quantity(fields, b"38"),
            _text(fields, b"40"), 0, _price(fields),
            fields.get(b"59", b"0").decode("latin-1"),
        )  # fmt: skip
    if msg_type == b"F":
        return OrderCancelRequest(
            _text(fields, b"41"), _text(fields, b"11"), _text(fields, b"55"), _side(fields), 0
        )
    if msg_type == b"G":
        return OrderCancelReplaceRequest(
            _text(fields, b"41"), _text(fields, b"11"), _text(fields, b"55"), _side(fields),
            _quantity(fields, b"38"), _text(fields, b"40"), 0, _price(fields),
        )  # fmt: skip
    if msg_type == b"H":
        status_req_id = fields.get(b"790")
        return OrderStatusRequest(
            _text(fields, b"11"), _text(fields, b"55"), _side(fields), None,
            None if status_req_id is None else status_req_id.decode("latin-1"),
        )  # fmt: skip
    raise UnsupportedMessageType(msg_type)
