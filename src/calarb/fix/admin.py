"""The session-level (admin) messages' vocabulary: message types, header tags, and the bodies
the session writes (Logon, Reject, BusinessMessageReject, ResendRequest, SequenceReset) and
takes apart (a stored message to resend). Pure functions: the session decides when.
"""

from __future__ import annotations

from calarb.fix.codec import FixMessage, decode
from calarb.fix.errors import BusinessMessageRejected, SessionRejectReason

# Message types
LOGON, HEARTBEAT, TEST_REQUEST, RESEND_REQUEST = b"A", b"0", b"1", b"2"
REJECT, SEQUENCE_RESET, LOGOUT, BUSINESS_REJECT = b"3", b"4", b"5", b"j"
ADMIN_TYPES = frozenset(
    {LOGON, HEARTBEAT, TEST_REQUEST, RESEND_REQUEST, REJECT, SEQUENCE_RESET, LOGOUT}
)

ADMIN_REQUIRED: dict[bytes, tuple[int, ...]] = {
    LOGON: (98, 108),
    TEST_REQUEST: (112,),
    RESEND_REQUEST: (7, 16),
    REJECT: (45,),
    SEQUENCE_RESET: (36,),
}
"""Body fields each admin message needs, checked when the session has no data dictionary."""

# Header tags (FIX 4.2/4.4 standard header) used to split stored messages for resending.
HEADER_TAGS = frozenset(
    {8, 9, 35, 49, 56, 115, 128, 90, 91, 34, 50, 142, 57, 143, 116, 144, 129, 145, 43, 97, 52,
     122, 212, 213, 347, 369, 627, 628, 629, 630}
)  # fmt: skip
_REVERSE_ROUTE = ((115, 128), (128, 115), (116, 129), (129, 116), (144, 145), (145, 144))
_RESEND_DROPPED = frozenset({34, 49, 56, 43, 122})  # rewritten by the resend


def reverse_route(message: FixMessage) -> list[tuple[int, bytes]]:
    """Routing header fields for a reply: OnBehalfOf* <-> DeliverTo* (empty values dropped)."""
    route = []
    for source, target in _REVERSE_ROUTE:
        value = message.get(source)
        if value:
            route.append((target, value))
    return route


def split_header_body(
    message: FixMessage,
) -> tuple[list[tuple[int, bytes]], list[tuple[int, bytes]]]:
    """Header fields (other than 8, 9, 35) and body fields of a decoded message."""
    header, body = [], []
    for tag, value in message.fields:
        if tag in (8, 9, 35, 10):
            continue
        (header if tag in HEADER_TAGS else body).append((tag, value))
    return header, body


def logon_body(
    heartbeat_s: int, reset: bool, username: str | None, password: str | None
) -> list[tuple[int, bytes]]:
    """EncryptMethod 0, HeartBtInt, ResetSeqNumFlag=Y when asked, then the credentials."""
    body = [(98, b"0"), (108, b"%d" % heartbeat_s)]
    if reset:
        body.append((141, b"Y"))
    if username:
        body.append((553, username.encode()))
    if password:
        body.append((554, password.encode()))
    return body


def resend_request_body(begin: int, fix42_or_later: bool) -> list[tuple[int, bytes]]:
    """BeginSeqNo `begin` to infinity (EndSeqNo 0 from FIX 4.2 on, 999999 before)."""
    return [(7, b"%d" % begin), (16, b"0" if fix42_or_later else b"999999")]


def gap_fill_body(new_seq: int) -> bytes:
    """SequenceReset-GapFill to `new_seq`."""
    return b"36=%d\x01123=Y\x01" % new_seq


def reject_body(
    message: FixMessage,
    reason: SessionRejectReason,
    tag: int | None,
    begin_string: str,
) -> tuple[list[tuple[int, bytes]], str]:
    """Reject(3) fields in tag order, and its Text: RefSeqNum(45), RefMsgType(372),
    SessionRejectReason(373, FIX 4.2 knows reasons up to 11 only), RefTagID(371) from FIX 4.2
    on; before, the tag goes into the Text."""
    seq_text = message.get(34)
    msg_type = message.msg_type
    body: list[tuple[int, bytes]] = []
    if seq_text and seq_text.isdigit():
        body.append((45, b"%d" % int(seq_text)))
    text = reason.text
    if begin_string >= "FIX.4.2":
        if msg_type:
            body.append((372, msg_type))
        if begin_string > "FIX.4.2" or reason <= SessionRejectReason.INVALID_MSGTYPE:
            body.append((373, b"%d" % reason))
        if tag is not None:
            body.append((371, b"%d" % tag))
    elif tag is not None:
        text = f"{text} ({tag})"
    body.append((58, text.encode()))
    body.sort()
    return body, text


def business_reject_body(
    message: FixMessage, error: BusinessMessageRejected
) -> list[tuple[int, bytes]]:
    """BusinessMessageReject(j) fields in tag order."""
    body = [
        (45, message.get(34) or b""),
        (58, error.text.encode()),
        (372, message.msg_type),
        (380, b"%d" % error.reason),
    ]
    if error.tag is not None:
        body.append((379, b"%d" % error.tag))
    body.sort()
    return body


def resend_parts(
    raw: bytes,
) -> tuple[bytes, int, list[tuple[int, bytes]], list[tuple[int, bytes]]]:
    """A stored message taken apart to be resent: MsgType, MsgSeqNum, the header fields to
    keep followed by PossDupFlag=Y and OrigSendingTime (its SendingTime), and the body."""
    stored = decode(raw, verify=False)
    header = []
    body = []
    original_time = b""
    for tag, value in stored.fields[3:-1]:
        if tag in HEADER_TAGS:
            if tag == 52:
                original_time = value
            elif tag not in _RESEND_DROPPED:
                header.append((tag, value))
        else:
            body.append((tag, value))
    header += [(43, b"Y"), (122, original_time)]
    return stored.msg_type, int(stored[34]), header, body
