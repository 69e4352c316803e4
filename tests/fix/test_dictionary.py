"""Validation against QuickFIX's XML data dictionaries."""

from __future__ import annotations

import pytest

from calarb.fix.codec import decode, encode
from calarb.fix.dictionary import DataDictionary
from calarb.fix.errors import MessageRejected, SessionRejectReason

HEADER = [(34, b"2"), (49, b"TW"), (52, b"20240101-00:00:00"), (56, b"ISLD")]
ORDER = [
    (11, b"ID"),
    (21, b"1"),
    (38, b"100"),
    (40, b"1"),
    (54, b"1"),
    (55, b"INTC"),
    (60, b"20240101-00:00:00"),
]


@pytest.fixture(scope="module")
def fix44(shared_data):
    return DataDictionary.from_xml(shared_data / "quickfix-acceptance/spec/FIX44.xml")


@pytest.fixture(scope="module")
def fix42(shared_data):
    return DataDictionary.from_xml(shared_data / "quickfix-acceptance/spec/FIX42.xml")


def message(msg_type, body, header=HEADER, begin=b"FIX.4.4"):
    return decode(encode(begin, [(35, msg_type), *header, *body]))


def test_loads_versions_and_groups(fix44, fix42):
    assert fix44.begin_string == "FIX.4.4" and fix42.begin_string == "FIX.4.2"
    assert b"D" in fix44.messages and b"8" in fix42.messages
    assert 386 in fix44.messages[b"D"].groups  # NoTradingSessions
    assert fix44.messages[b"D"].groups[386].delimiter == 336


def test_valid_order_passes(fix44):
    fix44.validate(message(b"D", ORDER))


@pytest.mark.parametrize(
    "body, reason, tag",
    [
        ([f for f in ORDER if f[0] != 11], SessionRejectReason.REQUIRED_TAG_MISSING, 11),
        ([*ORDER, (999, b"x")], SessionRejectReason.INVALID_TAG_NUMBER, 999),
        ([*ORDER, (112, b"x")], SessionRejectReason.TAG_NOT_DEFINED_FOR_MESSAGE_TYPE, 112),
        (
            [(t, b"" if t == 55 else v) for t, v in ORDER],
            SessionRejectReason.TAG_SPECIFIED_WITHOUT_A_VALUE,
            55,
        ),
        (
            [(t, b"9" if t == 21 else v) for t, v in ORDER],
            SessionRejectReason.VALUE_IS_INCORRECT,
            21,
        ),
        (
            [(t, b"+1" if t == 38 else v) for t, v in ORDER],
            SessionRejectReason.INCORRECT_DATA_FORMAT,
            38,
        ),
        ([*ORDER, (40, b"2")], SessionRejectReason.TAG_APPEARS_MORE_THAN_ONCE, 40),
        ([*ORDER, (386, b"2"), (336, b"A")], SessionRejectReason.INCORRECT_NUMINGROUP_COUNT, 386),
        ([*ORDER, (126, b"20240101")], SessionRejectReason.INCORRECT_DATA_FORMAT, 126),
    ],
)
def test_rejections_name_reason_and_tag(fix44, body, reason, tag):
    with pytest.raises(MessageRejected) as info:
        fix44.validate(message(b"D", body))
    assert info.value.reason == reason and info.value.tag == tag
    assert str(tag) in str(info.value)


def test_header_field_after_body_is_out_of_order(fix44):
    msg = decode(encode(b"FIX.4.4", [(35, b"D"), *ORDER, *HEADER]))
    with pytest.raises(MessageRejected) as info:
        fix44.validate(msg)
    assert info.value.reason == SessionRejectReason.TAG_SPECIFIED_OUT_OF_REQUIRED_ORDER


def test_unknown_msg_type(fix42):
    with pytest.raises(MessageRejected) as info:
        fix42.validate(message(b"*", [], begin=b"FIX.4.2"))
    assert info.value.reason == SessionRejectReason.INVALID_MSGTYPE


def test_group_with_zero_entries(fix42):
    body = [(320, b"R"), (322, b"1"), (323, b"6"), (55, b"TBS"), (393, b"0"), (146, b"0")]
    fix42.validate(message(b"d", body, begin=b"FIX.4.2"))
