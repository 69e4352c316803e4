"""Typed FIX messages (admin and application), written from the FIX 4.2/4.4 specification:
the one place calarb writes the tags of its FIX messages.

`fields`: value codecs (prices as integer 1/10,000 units <-> decimal text, sides, times)
and the generic codec (`to_body`, `from_message`). `admin`: the session messages.
`orders`: the order-entry requests (D, F, G, H), the hot NewOrderSingle encoder, the core
requests -> messages (a trader) and `decode_order_request` (a venue). `execution`:
ExecutionReport, OrderCancelReject, BusinessMessageReject, the one ExecutionReport encoder
and decoder, and the conversions to and from the core order events. `catalog`: every
message by MsgType (`parse`) and the built-in data dictionary.
"""

from calarb.fix.messages.admin import (
    Heartbeat,
    Logon,
    Logout,
    Reject,
    ResendRequest,
    SequenceReset,
    TestRequest,
)
from calarb.fix.messages.catalog import MESSAGE_TYPES, builtin_dictionary, parse
from calarb.fix.messages.execution import (
    EXEC_TRANS_TYPES,
    BusinessMessageReject,
    ExecutionReport,
    OrderCancelReject,
    cancel_reject_message,
    decode_cancel_reject,
    decode_execution_report,
    encode_execution_report,
    fix_execution_report,
    order_event,
)
from calarb.fix.messages.fields import format_price, from_message, parse_price, to_body
from calarb.fix.messages.orders import (
    NewOrderSingle,
    OrderCancelReplaceRequest,
    OrderCancelRequest,
    OrderStatusRequest,
    cancel_request_message,
    decode_order_request,
    encode_new_order_single,
    replace_request_message,
    status_request_message,
)

__all__ = [
    "EXEC_TRANS_TYPES",
    "MESSAGE_TYPES",
    "BusinessMessageReject",
    "ExecutionReport",
    "Heartbeat",
    "Logon",
    "Logout",
    "NewOrderSingle",
    "OrderCancelReject",
    "OrderCancelReplaceRequest",
    "OrderCancelRequest",
    "OrderStatusRequest",
    "Reject",
    "ResendRequest",
    "SequenceReset",
    "TestRequest",
    "builtin_dictionary",
    "cancel_reject_message",
    "cancel_request_message",
    "decode_cancel_reject",
    "decode_execution_report",
    "decode_order_request",
    "encode_execution_report",
    "encode_new_order_single",
    "fix_execution_report",
    "format_price",
    "from_message",
    "order_event",
    "parse",
    "parse_price",
    "replace_request_message",
    "status_request_message",
    "to_body",
]
