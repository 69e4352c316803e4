"""Typed messages: integer prices at the FIX edge, round trips, errors naming the tag."""

from __future__ import annotations

import pytest

from calarb.core.clock import SimulatedClock
from calarb.core.order_events import (
    CancelReject,
    CancelRequest,
    ExecutionReport,
    ReplaceRequest,
    StatusRequest,
)
from calarb.core.orders import ExecType, Liquidity, OrdStatus, OrdType, TimeInForce
from calarb.core.types import Side
from calarb.fix import messages as m
from calarb.fix.codec import decode
from calarb.fix.config import SessionSettings
from calarb.fix.errors import MessageRejected
from calarb.fix.messages import orders as order_messages
from calarb.fix.session import FixSession

T = 1_700_000_000_123_000_000


def sent(msg_type: bytes, body: bytes, begin: str = "FIX.4.4"):
    session = FixSession(SessionSettings(begin, "A", "B"))
    session.send_body(msg_type, body, 0, SimulatedClock().wall_ns())
    return decode(session.data_to_send())


@pytest.mark.parametrize(
    "price, text", [(1234500, b"123.45"), (10000, b"1"), (1, b"0.0001"), (-25000, b"-2.5")]
)
def test_price_text(price, text):
    assert m.format_price(price) == text
    assert m.parse_price(text) == price


ALL = [
    m.Logon(30, reset_seq_num=True, username="u", password="p"),
    m.Heartbeat("x"),
    m.TestRequest("t"),
    m.ResendRequest(2, 0),
    m.Reject(5, "why", 55, "D", 1),
    m.SequenceReset(9, True),
    m.Logout("bye"),
    m.NewOrderSingle("C1", "AAPL", Side.BUY, 100, "2", T, price=1234500, time_in_force="0"),
    m.OrderCancelRequest("C1", "C2", "AAPL", Side.SELL, T, order_qty=100),
    m.OrderCancelReplaceRequest("C1", "C3", "AAPL", Side.BUY, 200, "2", T, price=1230000),
    m.OrderStatusRequest("C1", "AAPL", Side.BUY, order_id="O1"),
    m.ExecutionReport(
        "O1", "E1", "F", "2", "AAPL", Side.BUY, 0, 100, 1234500, "C1", 100, 1234500, 100, 1234500, T
    ),
    m.OrderCancelReject("O1", "C2", "C1", "0", "1", 1, "too late"),
    m.BusinessMessageReject("8", 3, 7, "Unsupported Message Type"),
]
# ExecutionReports carrying the optional venue fields (a fill, a reject, a status answer)
VENUE_REPORTS = [
    m.ExecutionReport(
        "O1", "E2", "F", "1", "AAPL", Side.SELL, 60, 40, 1234500, "C2", 100, 1234500, 40,
        1234500, T, None, "2", "3", "C1", "77", 2, -8000, "3",
    ),
    m.ExecutionReport(
        "NONE", "E3", "8", "8", "AAPL", Side.BUY, 0, 0, 0, "C4", 100, None, None, None, T,
        "price off the tick", "2", "0", ord_rej_reason=99,
    ),
    m.ExecutionReport(
        "NONE", "E4", "I", "8", "AAPL", Side.BUY, 0, 0, 0, "C9", ord_rej_reason=5,
        ord_status_req_id="REQ1",
    ),
]  # fmt: skip


@pytest.mark.parametrize("typed", ALL + VENUE_REPORTS, ids=lambda t: type(t).__name__)
def test_round_trip_through_the_wire(typed):
    decoded = sent(typed.msg_type, m.to_body(typed))
    assert m.parse(decoded) == typed


def test_hot_path_encoders_match_generic_ones():
    order = m.NewOrderSingle("C1", "AAPL", Side.SELL, 300, "2", T, price=991200, time_in_force="3")
    fast = m.encode_new_order_single(
        b"C1", b"AAPL", Side.SELL, 300, 991200, b"20231114-22:13:20.123", b"3"
    )
    assert m.from_message(m.NewOrderSingle, sent(b"D", fast)) == order
    for report in (ALL[11], VENUE_REPORTS[0]):
        fast = m.encode_execution_report(report, b"20231114-22:13:20.123")
        assert m.decode_execution_report(sent(b"8", fast)) == report


def test_new_order_single_price_text_is_format_price_whether_remembered_or_not():
    """The hot-path encoder remembers price texts; past its bound it forgets and starts over,
    and every body still carries exactly `format_price`'s text."""
    limit = order_messages._PRICE_TEXT_LIMIT
    prices = [1, 10_000, 991_200, 12_345_678, *range(400_000, 400_000 + 2 * limit)]
    for price in prices + prices[:10]:
        body = m.encode_new_order_single(b"C1", b"AAPL", Side.BUY, 100, price, b"T", b"0")
        assert b"\x0144=%s\x01" % m.format_price(price) in body
        assert len(order_messages._PRICE_TEXT) <= order_messages._PRICE_TEXT_LIMIT


@pytest.mark.parametrize("report", VENUE_REPORTS, ids=["fill", "reject", "status"])
def test_execution_report_decoder_reads_the_venue_fields_like_the_generic_one(report):
    decoded = sent(b"8", m.to_body(report))
    assert m.decode_execution_report(decoded) == m.from_message(m.ExecutionReport, decoded)
    assert m.decode_execution_report(decoded) == report


@pytest.mark.parametrize("good, bad, tag", [(b"851=2", b"851=R", 851), (b"12=-0.8", b"12=x", 12)])
def test_malformed_venue_fields_name_the_tag(good, bad, tag):
    body = m.to_body(VENUE_REPORTS[0])
    assert good in body
    with pytest.raises(MessageRejected, match=f"tag {tag}"):
        m.decode_execution_report(sent(b"8", body.replace(good, bad)))


def test_missing_and_malformed_fields_name_the_tag():
    body = m.to_body(ALL[11]).replace(b"\x0117=E1", b"")
    with pytest.raises(MessageRejected, match="tag 17"):
        m.decode_execution_report(sent(b"8", body))
    body = m.to_body(ALL[11]).replace(b"6=123.45", b"6=12x")
    with pytest.raises(MessageRejected, match="tag 6"):
        m.decode_execution_report(sent(b"8", body))


def test_builtin_dictionary_validates_typed_messages():
    dictionary = m.builtin_dictionary("FIX.4.4")
    for typed in ALL:
        dictionary.validate(sent(typed.msg_type, m.to_body(typed)))
    body = m.to_body(ALL[7]).replace(b"54=1", b"54=X")
    with pytest.raises(MessageRejected, match="tag 54"):
        dictionary.validate(sent(b"D", body))
    with pytest.raises(MessageRejected, match="tag 11"):
        dictionary.validate(sent(b"D", m.to_body(ALL[7]).replace(b"11=C1\x01", b"")))


@pytest.mark.parametrize(
    "good, bad, tag",
    [(b"851=2", b"851=4", 851), (b"13=3", b"13=9", 13), (b"40=2", b"40=Z", 40),
     (b"59=3", b"59=9", 59), (b"12=-0.8", b"12=x", 12)],
)  # fmt: skip
def test_builtin_dictionary_checks_the_venue_fields_types_and_enums(good, bad, tag):
    dictionary = m.builtin_dictionary("FIX.4.4")
    body = m.to_body(VENUE_REPORTS[0])
    dictionary.validate(sent(b"8", body))
    with pytest.raises(MessageRejected, match=f"tag {tag}"):
        dictionary.validate(sent(b"8", body.replace(good, bad)))
    for report in VENUE_REPORTS[1:]:
        dictionary.validate(sent(b"8", m.to_body(report)))
    with pytest.raises(MessageRejected, match="tag 103"):
        dictionary.validate(sent(b"8", m.to_body(VENUE_REPORTS[1]).replace(b"103=99", b"103=12")))


@pytest.mark.parametrize("version", ["FIX.4.4", "FIX.4.2"])
def test_builtin_dictionary_agrees_with_quickfix_on_the_venue_fields(shared_data, version):
    """Same types, enumerations and required flags as QuickFIX's FIX44.xml/FIX42.xml for the
    venue fields of ExecutionReport; FIX 4.2 has no SecondaryExecID, OrdStatusReqID or
    LastLiquidityInd, and only FIX 4.2 has ExecTransType (required there)."""
    from calarb.fix.dictionary import DataDictionary

    spec = shared_data / "quickfix-acceptance/spec" / f"{version.replace('.', '')}.xml"
    quickfix = DataDictionary.from_xml(spec)
    builtin = m.builtin_dictionary(version)
    allowed = quickfix.messages[b"8"].fields
    for tag in (12, 13, 20, 40, 41, 59, 103, 527, 790, 851):
        assert (tag in builtin.messages[b"8"].fields) == (tag in allowed), tag
        required = quickfix.messages[b"8"].required
        assert (tag in builtin.messages[b"8"].required) == (tag in required), tag
        if tag in builtin.field_defs:
            ours, theirs = builtin.field_defs[tag], quickfix.field_defs[tag]
            assert (ours.type, ours.values) == (theirs.type, theirs.values), tag
    assert ({527, 790, 851} <= builtin.messages[b"8"].fields) is (version == "FIX.4.4")
    assert (20 in builtin.messages[b"8"].fields) is (version == "FIX.4.2")


def sent_fix42(msg_type: bytes, body: bytes):
    return sent(msg_type, body, "FIX.4.2")


FIX42_FILL = m.ExecutionReport(
    "O1", "E5", "2", "2", "AAPL", Side.BUY, 0, 100, 1234500, "C1", 100, 1234500, 100, 1234500, T,
    exec_trans_type="0",
)  # fmt: skip


def test_fix42_execution_report_sends_and_requires_exec_trans_type():
    fix42, fix44 = m.builtin_dictionary("FIX.4.2"), m.builtin_dictionary("FIX.4.4")
    body = m.to_body(FIX42_FILL)
    fast = m.encode_execution_report(FIX42_FILL, b"20231114-22:13:20.123")
    for encoded in (body, fast):
        assert b"\x0120=0\x01" in encoded
        message = sent_fix42(b"8", encoded)
        fix42.validate(message)
        assert m.decode_execution_report(message) == FIX42_FILL
    for code in "123":  # cancel (bust), correct, status: accepted and carried
        message = sent_fix42(b"8", body.replace(b"20=0", b"20=" + code.encode()))
        fix42.validate(message)
        assert m.decode_execution_report(message).exec_trans_type == code
    # Missing or out of range on FIX 4.2: the dictionary and the decoder both name tag 20.
    for broken in (body.replace(b"20=0\x01", b""), body.replace(b"20=0", b"20=4")):
        message = sent_fix42(b"8", broken)
        with pytest.raises(MessageRejected, match="tag 20"):
            fix42.validate(message)
        with pytest.raises(MessageRejected, match="tag 20"):
            m.decode_execution_report(message)
    # FIX 4.4 has no ExecTransType: its reports go without it, and its dictionary refuses 20.
    fix44_body = m.to_body(FIX42_FILL._replace(exec_trans_type=None))
    assert b"\x0120=" not in fix44_body
    fix44.validate(sent(b"8", fix44_body))
    assert m.decode_execution_report(sent(b"8", fix44_body)).exec_trans_type is None
    with pytest.raises(MessageRejected, match="tag 20"):
        fix44.validate(sent(b"8", body))


def test_fill_application_answers_fix42_with_exec_trans_type():
    """The FIX 4.2 ExecutionReport of the fill venue passes the 4.2 dictionary and decodes."""
    from calarb.fix.apps import FillApplication

    venue = FixSession(SessionSettings("FIX.4.2", "V", "C", "acceptor"))
    order = m.NewOrderSingle("Q1", "AAPL", Side.BUY, 100, "2", T, price=1502500)
    FillApplication().on_message(venue, sent_fix42(b"D", m.to_body(order)))
    report = decode(venue.data_to_send())
    m.builtin_dictionary("FIX.4.2").validate(report)
    decoded = m.decode_execution_report(report)
    assert (decoded.exec_trans_type, decoded.cl_ord_id, decoded.last_qty) == ("0", "Q1", 100)


# --- the core order events at the FIX edge ---------------------------------------------------


def test_core_requests_become_their_typed_messages():
    cancel = CancelRequest("V1", "C2", "C1", "O1", "AAPL", Side.SELL, 100)
    replace = ReplaceRequest("V1", "C3", "C2", None, "AAPL", Side.BUY, 200, 1230000, OrdType.LIMIT)
    market = replace._replace(ord_type=OrdType.MARKET)
    status = StatusRequest("V1", "C1", "O1", "AAPL", Side.BUY)
    assert m.cancel_request_message(cancel, T) == m.OrderCancelRequest(
        "C1", "C2", "AAPL", Side.SELL, T, order_qty=100, order_id="O1"
    )
    assert m.replace_request_message(replace, T) == m.OrderCancelReplaceRequest(
        "C2", "C3", "AAPL", Side.BUY, 200, "2", T, price=1230000
    )
    assert m.replace_request_message(market, T).price is None  # Price only on a limit
    assert m.status_request_message(status) == m.OrderStatusRequest(
        "C1", "AAPL", Side.BUY, order_id="O1"
    )


def test_venue_reads_requests_leniently_and_names_a_bad_tag():
    order = m.NewOrderSingle("C1", "AAPL", Side.SELL, 300, "2", T, price=991200)
    decoded = m.decode_order_request(sent(b"D", m.to_body(order)))
    assert decoded == order._replace(transact_time_ns=0, time_in_force="0", handl_inst="1")
    odd = m.to_body(order).replace(b"54=2", b"54=5")
    assert m.decode_order_request(sent(b"D", odd)).side == "5"  # the venue refuses it itself
    status = m.to_body(m.OrderStatusRequest("C1", "AAPL", Side.BUY)) + b"790=Q1\x01"
    assert m.decode_order_request(sent(b"H", status)).ord_status_req_id == "Q1"
    with pytest.raises(MessageRejected, match="tag 38"):
        m.decode_order_request(sent(b"D", m.to_body(order).replace(b"38=300", b"38=3x")))


def test_venue_event_to_the_wire_and_back_to_the_trader():
    fill = ExecutionReport(
        "", "C1", "7", "", ExecType.TRADE, OrdStatus.PARTIALLY_FILLED, "AAPL", Side.BUY, 300,
        1234500, 100, 200, 1234500, 100, 1234500, None, Liquidity.ADDED, T, "", "ALICE",
        OrdType.LIMIT, TimeInForce.DAY, 100 * 1234500, 42, None,
    )  # fmt: skip
    message = m.fix_execution_report(fill, "E1", commission=-2000)
    assert (message.secondary_exec_id, message.last_liquidity_ind, message.comm_type) == (
        "42", 1, "3",
    )  # fmt: skip
    wire = sent(b"8", m.encode_execution_report(message, b"20231114-22:13:20.123"))
    assert m.decode_execution_report(wire) == message._replace(transact_time_ns=T)
    back = m.order_event(m.decode_execution_report(wire), "V1")
    assert back == fill._replace(
        venue="V1", exec_id="E1", participant="", cum_notional=0, match_number=0
    )
    reject = CancelReject("", "C2", "C1", "", OrdStatus.REJECTED, True, "unknown order")
    body = m.to_body(m.cancel_reject_message(reject, 1))
    assert m.decode_cancel_reject(sent(b"9", body), "V1") == reject._replace(
        venue="V1", order_id="NONE"
    )
