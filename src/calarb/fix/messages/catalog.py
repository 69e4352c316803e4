"""Every typed message by MsgType: `parse` a decoded message, `builtin_dictionary` (a data
dictionary for the typed messages, no QuickFIX XML file needed)."""

from __future__ import annotations

from calarb.fix.codec import FixMessage
from calarb.fix.errors import MessageRejected
from calarb.fix.errors import SessionRejectReason as R
from calarb.fix.messages.admin import (
    Heartbeat,
    Logon,
    Logout,
    Reject,
    ResendRequest,
    SequenceReset,
    TestRequest,
)
from calarb.fix.messages.execution import (
    EXEC_TRANS_TYPES,
    BusinessMessageReject,
    ExecutionReport,
    OrderCancelReject,
)
from calarb.fix.messages.fields import from_message
from calarb.fix.messages.orders import (
    NewOrderSingle,
    OrderCancelReplaceRequest,
    OrderCancelRequest,
    OrderStatusRequest,
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
