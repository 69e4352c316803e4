"""Typed FIX session (admin) messages, from the FIX 4.2/4.4 specification."""

from __future__ import annotations

from typing import NamedTuple


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
