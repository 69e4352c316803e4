"""The venue's FIX gateway driven sans-I/O: a client FixSession and the venue's FixSession
exchange real FIX bytes (no sockets), the gateway sits on the venue's session over a real
MatchingEngine, and every answer is checked field by field from the bytes the client got."""

from __future__ import annotations

import pytest

from calarb.core.clock import SimulatedClock
from calarb.core.orders import Liquidity
from calarb.core.types import Instrument, Side
from calarb.fix.codec import FixMessage
from calarb.fix.config import SessionSettings
from calarb.fix.events import (
    AppMessageReceived,
    Disconnected,
    LoggedOn,
    RejectReceived,
    RejectSent,
)
from calarb.fix.messages import (
    ExecutionReport,
    NewOrderSingle,
    OrderCancelReplaceRequest,
    OrderCancelRequest,
    OrderStatusRequest,
    builtin_dictionary,
    decode_execution_report,
    from_message,
    order_event,
    to_body,
)
from calarb.fix.session import FixSession
from calarb.fix.store import MemoryStore
from calarb.fix.transport import load_dictionary
from calarb.venue.benchmark import run_gateway_benchmark
from calarb.venue.config import (
    DisconnectFault,
    ParticipantConfig,
    ParticipantLimits,
    VenueFaults,
)
from calarb.venue.gateway import VenueGateway, acceptor_settings
from calarb.venue.itch_publisher import MAX_PRICE
from calarb.venue.matching import MatchingEngine

SECOND = 1_000_000_000
T0 = 34_200 * SECOND  # venue time: 09:30
AAA = Instrument("AAA", 1, tick_size=100)
BBB = Instrument("BBB", 2, tick_size=100)


class Venue:
    """One venue's gateway and one participant's FIX session, wired by bytes."""

    def __init__(
        self,
        limits: ParticipantLimits | None = None,
        fee: int = 0,
        rebate: int = 0,
        password: str = "pw1",
        dictionary: str | None = None,
    ) -> None:
        self.clock = SimulatedClock(T0)
        self.engine = MatchingEngine([AAA, BBB])
        participant = ParticipantConfig("ALICE", "alice", "pw1", limits or ParticipantLimits())
        self.gateway = VenueGateway(
            self.engine, [participant], self.clock.monotonic_ns, self.clock,
            exec_id_prefix="V1-", fee_per_share=fee, rebate_per_share=rebate,
        )  # fmt: skip
        (settings,) = acceptor_settings("VENUE1", [participant], port=0)
        self.venue = FixSession(
            settings, MemoryStore(), application=self.gateway,
            authenticate=self.gateway.authenticate,
        )  # fmt: skip
        client_settings = SessionSettings(
            "FIX.4.4", "ALICE", "VENUE1", "initiator", 30, username="alice", password=password
        )
        self.client = FixSession(
            client_settings, MemoryStore(), dictionary=load_dictionary(dictionary)
        )
        self.received: list[FixMessage] = []
        self.client_events: list = []
        self.connect()

    def connect(self) -> None:
        now, wall = self.clock.monotonic_ns(), self.clock.wall_ns()
        self._venue_events(self.venue.connection_made(now, wall))
        self.client_events += self.client.connection_made(now, wall)
        self.pump()

    def drop_connection(self) -> None:
        """What the transport does when a disconnect fault closes the TCP connection."""
        now = self.clock.monotonic_ns()
        self._venue_events(self.venue.connection_lost(now))
        self.client_events += self.client.connection_lost(now)

    def _venue_events(self, events: list) -> None:
        for event in events:
            self.gateway.on_session_event(self.venue, event)

    def pump(self) -> list[FixMessage]:
        """Move bytes both ways until quiet; returns the application messages the client got."""
        before = len(self.received)
        for _ in range(100):
            moved = False
            data = self.client.data_to_send()
            if data:
                moved = True
                now, wall = self.clock.monotonic_ns(), self.clock.wall_ns()
                self._venue_events(self.venue.on_bytes(data, now, wall))
            data = self.venue.data_to_send()
            if data:
                moved = True
                events = self.client.on_bytes(data, self.clock.monotonic_ns(), self.clock.wall_ns())
                self.client_events += events
                self.received += [
                    e.message for e in events if isinstance(e, AppMessageReceived | RejectReceived)
                ]
            if not moved:
                return self.received[before:]
        raise AssertionError("sessions never went quiet")

    def client_send_body(self, msg_type: bytes, body: bytes) -> int:
        return self.client.send_body(
            msg_type, body, self.clock.monotonic_ns(), self.clock.wall_ns()
        )

    def send(self, message) -> list[FixMessage]:
        self.clock.advance(1_000_000)
        self.client_send_body(message.msg_type, to_body(message))
        return self.pump()

    def order(self, cl_ord_id, side, quantity, price=None, symbol="AAA", ord_type="2", tif="0"):
        return self.send(
            NewOrderSingle(
                cl_ord_id, symbol, side, quantity, ord_type, self.clock.wall_ns(), price, tif
            )  # fmt: skip
        )

    def background(self, side: Side, quantity: int, price: int, participant="MM") -> int:
        """A non-FIX participant's order straight into the engine (as background traders)."""
        order_id = self.engine.submit(
            self.clock.monotonic_ns(), participant, f"bg{self.engine.match_count}-{price}",
            "AAA", side, quantity, price,
        )  # fmt: skip
        self.gateway.dispatch_reports()
        self.pump()
        return order_id


def field(message: FixMessage, tag: int) -> str | None:
    value = message.get(tag)
    return None if value is None else value.decode()


def fields(message: FixMessage, *tags: int) -> tuple:
    return tuple(field(message, tag) for tag in tags)


REPORT = (150, 39, 38, 14, 151, 6)  # ExecType, OrdStatus, OrderQty, CumQty, LeavesQty, AvgPx


def test_logon_needs_the_participants_username_and_password() -> None:
    good = Venue()
    assert good.client.logged_on and good.venue.logged_on
    assert good.gateway.participants["ALICE"].session is good.venue

    bad = Venue(password="wrong")
    assert not bad.venue.logged_on and not bad.client.logged_on
    logout = [m for m in bad.client_events if isinstance(m, Disconnected)]
    assert logout, bad.client_events
    assert bad.gateway.participants["ALICE"].session is None


def test_new_order_rests_then_fills_in_two_parts_with_fees_and_average_price() -> None:
    venue = Venue(fee=30, rebate=20)
    (new,) = venue.order("c1", Side.BUY, 500, 1_000_000)
    assert new.msg_type == b"8"
    assert fields(new, *REPORT) == ("0", "0", "500", "0", "500", "0")
    assert fields(new, 11, 55, 54, 40, 44, 59) == ("c1", "AAA", "1", "2", "100", "0")
    order_id = field(new, 37)
    assert order_id == str(venue.engine.resting_orders("AAA", Side.BUY)[0].order_id)

    venue.background(Side.SELL, 200, 1_000_000)  # hits our bid: we added liquidity
    (fill,) = venue.received[-1:]
    assert fields(fill, *REPORT) == ("F", "1", "500", "200", "300", "100")
    assert fields(fill, 31, 32, 851, 527, 37) == ("100", "200", "1", "1", order_id)
    assert fields(fill, 12, 13) == ("-0.4", "3")  # rebate 0.0020 x 200

    venue.background(Side.SELL, 300, 1_000_000)
    assert fields(venue.received[-1], *REPORT) == ("F", "2", "500", "500", "0", "100")

    # now take liquidity across two price levels: AvgPx is the weighted average
    venue.background(Side.SELL, 100, 1_000_100)
    venue.background(Side.SELL, 300, 1_000_200)
    new, first, second = venue.order("c2", Side.BUY, 400, 1_000_200)
    assert fields(first, *REPORT) == ("F", "1", "400", "100", "300", "100.01")
    assert fields(first, 851, 12) == ("2", "0.3")  # taker fee 0.0030 x 100
    assert fields(second, *REPORT) == ("F", "2", "400", "400", "0", "100.0175")
    assert fields(second, 31, 32, 527) == ("100.02", "300", "4")
    typed = decode_execution_report(second)  # what calarb's own FIX client reads
    assert (typed.avg_px, typed.cum_qty, typed.leaves_qty, typed.last_px) == (
        1_000_175, 400, 0, 1_000_200,
    )  # fmt: skip
    exec_ids = [field(m, 17) for m in venue.received]
    assert len(set(exec_ids)) == len(exec_ids) and all(e.startswith("V1-") for e in exec_ids)


def test_ioc_remainder_is_cancelled_and_market_order_has_no_price() -> None:
    venue = Venue()
    venue.background(Side.SELL, 100, 1_000_000)
    new, fill, cancelled = venue.order("ioc", Side.BUY, 300, 1_000_000, tif="3")
    assert fields(fill, *REPORT) == ("F", "1", "300", "100", "200", "100")
    assert fields(cancelled, *REPORT) == ("4", "4", "300", "100", "0", "100")
    new, cancelled = venue.order("mkt", Side.BUY, 100, ord_type="1", tif="0")
    assert field(new, 44) is None and field(new, 40) == "1"
    assert fields(cancelled, 150, 39, 58) == ("4", "4", "market order remainder")


def test_cancel_then_cancel_reject_for_done_and_unknown_orders() -> None:
    venue = Venue()
    (new,) = venue.order("c1", Side.SELL, 100, 1_010_000)
    (cancelled,) = venue.send(
        OrderCancelRequest("c1", "x1", "AAA", Side.SELL, venue.clock.wall_ns())
    )
    assert fields(cancelled, *REPORT[:5]) == ("4", "4", "100", "0", "0")
    assert fields(cancelled, 11, 41, 37) == ("x1", "c1", field(new, 37))
    assert venue.engine.best_ask("AAA") is None

    (again,) = venue.send(OrderCancelRequest("c1", "x2", "AAA", Side.SELL, venue.clock.wall_ns()))
    assert again.msg_type == b"9"
    assert fields(again, 11, 41, 39, 434, 102) == ("x2", "c1", "4", "1", "0")

    (unknown,) = venue.send(
        OrderCancelRequest("nope", "x3", "AAA", Side.SELL, venue.clock.wall_ns())
    )
    assert fields(unknown, 35, 37, 39, 434, 102) == ("9", "NONE", "8", "1", "1")

    (duplicate,) = venue.send(
        OrderCancelRequest("c1", "x1", "AAA", Side.SELL, venue.clock.wall_ns())
    )
    assert fields(duplicate, 35, 102) == ("9", "6")

    venue.order("c2", Side.SELL, 100, 1_010_000)
    (wrong_side,) = venue.send(
        OrderCancelRequest("c2", "x4", "AAA", Side.BUY, venue.clock.wall_ns())
    )
    assert fields(wrong_side, 35, 39, 102) == ("9", "0", "99")
    assert venue.engine.best_ask("AAA") == 1_010_000


def test_replace_keeps_or_loses_priority_and_can_trade() -> None:
    venue = Venue()
    (new,) = venue.order("c1", Side.BUY, 500, 990_000)
    first_id = field(new, 37)
    replace = lambda orig, cl, qty, price: venue.send(  # noqa: E731
        OrderCancelReplaceRequest(orig, cl, "AAA", Side.BUY, qty, "2", venue.clock.wall_ns(), price)
    )
    (smaller,) = replace("c1", "c2", 300, 990_000)  # size down: keeps its id and place
    assert fields(smaller, *REPORT[:5]) == ("5", "0", "300", "0", "300")
    assert fields(smaller, 11, 41, 37) == ("c2", "c1", first_id)

    (moved,) = replace("c2", "c3", 300, 995_000)  # new price: a new venue order id
    assert fields(moved, 150, 39, 44, 11, 41) == ("5", "0", "99.5", "c3", "c2")
    assert field(moved, 37) != first_id
    assert venue.engine.best_bid("AAA") == 995_000

    venue.background(Side.SELL, 100, 1_000_000)
    replaced, fill = replace("c3", "c4", 300, 1_000_000)  # marketable: trades as aggressor
    assert fields(replaced, 150, 11, 41) == ("5", "c4", "c3")
    assert fields(fill, *REPORT) == ("F", "1", "300", "100", "200", "100")
    assert fields(fill, 851, 11) == ("2", "c4")

    (too_small,) = replace("c4", "c5", 100, 1_000_000)  # not above the 100 filled
    assert fields(too_small, 35, 11, 41, 39, 434, 102) == ("9", "c5", "c4", "1", "2", "0")

    (status,) = venue.send(OrderStatusRequest("c1", "AAA", Side.BUY))  # an old ClOrdID
    assert fields(status, 150, 39, 14, 151, 11) == ("I", "1", "100", "200", "c4")


def test_status_request_for_live_filled_and_unknown_orders() -> None:
    venue = Venue()
    venue.order("live", Side.BUY, 200, 990_000)
    message = OrderStatusRequest("live", "AAA", Side.BUY)
    venue.clock.advance(1)
    venue.client_send_body(b"H", to_body(message) + b"790=REQ7\x01")
    (status,) = venue.pump()
    assert fields(status, *REPORT) == ("I", "0", "200", "0", "200", "0")
    assert field(status, 790) == "REQ7"

    venue.background(Side.SELL, 100, 1_010_000)
    venue.order("filled", Side.BUY, 100, 1_010_000)
    (status,) = venue.send(OrderStatusRequest("filled", "AAA", Side.BUY))
    assert fields(status, *REPORT) == ("I", "2", "100", "100", "0", "101")

    (status,) = venue.send(OrderStatusRequest("ghost", "AAA", Side.BUY))
    assert fields(status, 150, 39, 103, 37) == ("I", "8", "5", "NONE")


@pytest.mark.parametrize(
    ("symbol", "quantity", "price", "code", "text"),
    [
        ("ZZZ", 100, 1_000_000, "1", "not traded"),
        ("AAA", 100, 1_000_050, "99", "tick"),
        ("AAA", 100, MAX_PRICE + 1, "3", "above the limit"),
        ("AAA", 5_000, 1_000_000, "3", "quantity 5000 is above"),
        ("AAA", 1_000, 1_000_000, "3", "notional 100000 is above"),
    ],
)
def test_rejects_name_the_reason(symbol, quantity, price, code, text) -> None:
    limits = ParticipantLimits(max_order_qty=2_000, max_order_notional=50_000 * 10_000)
    venue = Venue(limits)
    (reject,) = venue.order("r1", Side.BUY, quantity, price, symbol=symbol)
    assert fields(reject, 150, 39, 103, 37, 14, 151) == ("8", "8", code, "NONE", "0", "0")
    assert text in field(reject, 58)
    assert venue.engine.open_order_count == 0
    assert venue.gateway.stats.rejects == 1


def test_halted_symbol_duplicate_clordid_unsupported_side_and_open_order_limit() -> None:
    venue = Venue(ParticipantLimits(max_open_orders=2))
    venue.engine.halt(venue.clock.monotonic_ns(), "BBB", "LUDP")
    (halted,) = venue.order("h1", Side.BUY, 100, 500_000, symbol="BBB")
    assert fields(halted, 150, 103, 58) == ("8", "2", "BBB is halted")

    (duplicate,) = venue.order("h1", Side.BUY, 100, 990_000)
    assert fields(duplicate, 150, 103) == ("8", "6")

    venue.clock.advance(1)
    short_sale = to_body(NewOrderSingle("s1", "AAA", Side.SELL, 100, "2", 0, 1_000_000))
    venue.client_send_body(b"D", short_sale.replace(b"54=2", b"54=5"))
    (reject,) = venue.pump()
    assert fields(reject, 150, 103, 54) == ("8", "11", "5")

    venue.order("o1", Side.BUY, 100, 980_000)
    venue.order("o2", Side.BUY, 100, 970_000)
    (third,) = venue.order("o3", Side.BUY, 100, 960_000)
    assert fields(third, 150, 103) == ("8", "3") and "open orders" in field(third, 58)


def test_malformed_and_unsupported_messages_are_answered_by_the_session() -> None:
    venue = Venue()
    venue.clock.advance(1)
    body = to_body(NewOrderSingle("m1", "AAA", Side.BUY, 100, "2", 0, 1_000_000))
    venue.client_send_body(b"D", body.replace(b"55=AAA\x01", b""))
    (reject,) = venue.pump()
    assert fields(reject, 35, 371, 373, 372) == ("3", "55", "1", "D")

    venue.client_send_body(b"D", body.replace(b"38=100", b"38=1x0"))
    (reject,) = venue.pump()
    assert fields(reject, 35, 371, 373) == ("3", "38", "6")

    venue.client_send_body(b"AE", b"571=1\x01")
    (business,) = venue.pump()
    assert fields(business, 35, 372, 380) == ("j", "AE", "3")
    assert venue.engine.open_order_count == 0 and venue.client.logged_on


def test_long_client_order_id_is_rejected_by_the_session_not_reported() -> None:
    """Issue 13, item 9: before, a 100 KB ClOrdID was accepted and echoed in every report."""
    venue = Venue()
    venue.clock.advance(1)
    long_id = "X" * 100_000
    (reject,) = venue.order(long_id, Side.BUY, 100, 1_000_000)
    assert fields(reject, 35, 371, 373) == ("3", "11", "5")
    assert long_id.encode() not in reject.raw
    assert venue.engine.open_order_count == 0 and venue.client.logged_on
    (report,) = venue.order("short", Side.BUY, 100, 1_000_000)
    assert fields(report, 35, 11, 150) == ("8", "short", "0")


def test_disconnect_fault_holds_reports_until_the_next_logon() -> None:
    venue = Venue()
    (new,) = venue.order("c1", Side.BUY, 300, 1_000_000)
    schedule = VenueFaults(fix_disconnects=(DisconnectFault("ALICE", 5.0),)).schedule()
    assert schedule.due(4 * SECOND) == []
    (fault,) = schedule.due(5 * SECOND)
    assert (fault.kind, fault.target) == ("disconnect", "ALICE")
    (dropped,) = venue.gateway.sessions_to_drop(fault.target)
    assert dropped is venue.venue
    venue.drop_connection()
    assert venue.gateway.participants["ALICE"].session is None

    venue.background(Side.SELL, 100, 1_000_000)  # a fill while ALICE is away
    assert venue.gateway.stats.reports_held == 1
    assert venue.venue.data_to_send() == b""  # nothing leaks onto the next connection

    venue.connect()
    assert venue.client.logged_on
    (fill,) = venue.received[-1:]
    assert fields(fill, *REPORT) == ("F", "1", "300", "100", "200", "100")
    assert field(fill, 37) == field(new, 37)
    (status,) = venue.send(OrderStatusRequest("c1", "AAA", Side.BUY))
    assert fields(status, 150, 39, 151) == ("I", "1", "200")


def test_reports_validate_against_the_fix44_dictionary(shared_data) -> None:
    dictionary = shared_data / "quickfix-acceptance" / "spec" / "FIX44.xml"
    venue = Venue(fee=30, rebate=20, dictionary=str(dictionary))
    venue.background(Side.SELL, 100, 1_000_000)
    venue.order("d1", Side.BUY, 300, 1_000_000)
    venue.send(OrderCancelRequest("d1", "d2", "AAA", Side.BUY, venue.clock.wall_ns()))
    venue.send(OrderCancelRequest("d1", "d3", "AAA", Side.BUY, venue.clock.wall_ns()))
    venue.order("d4", Side.BUY, 100, 1_000_001)  # off the tick: rejected, 103=99
    venue.order("d5", Side.BUY, 100, 990_000)
    venue.send(OrderCancelReplaceRequest("d5", "d6", "AAA", Side.BUY, 200, "2", 0, 980_000))
    venue.send(OrderStatusRequest("d6", "AAA", Side.BUY))
    venue.background(Side.SELL, 50, 980_000)  # rebate: negative Commission
    types = [m.msg_type for m in venue.received]
    assert types == [b"8", b"8", b"8", b"9", b"8", b"8", b"8", b"8", b"8"]
    assert [field(m, 150) for m in venue.received[-4:]] == ["0", "5", "I", "F"]
    assert field(venue.received[-1], 12) == "-0.1"  # 0.0020 x 50
    assert venue.client.logged_on
    assert venue.venue.next_target_seq == venue.client.next_sender_seq  # no Reject sent back
    rejects = [e for e in venue.client_events if isinstance(e, RejectSent)]
    assert rejects == []
    assert any(isinstance(e, LoggedOn) for e in venue.client_events)


def test_reports_validate_against_the_builtin_dictionary_and_decode_to_typed_fields() -> None:
    """Every kind of venue report passes calarb's own dictionary (no XML file) and its venue
    tags (40, 59, 41, 527, 851, 12, 13, 103, 790) arrive as typed ExecutionReport fields."""
    dictionary = builtin_dictionary()
    venue = Venue(fee=30, rebate=20)
    venue.order("b1", Side.BUY, 300, 1_000_000)  # rests: NEW
    venue.background(Side.SELL, 100, 1_000_000)  # we added liquidity: rebate
    venue.send(OrderCancelReplaceRequest("b1", "b2", "AAA", Side.BUY, 250, "2", 0, 990_000))
    venue.send(OrderCancelRequest("b2", "b3", "AAA", Side.BUY, venue.clock.wall_ns()))
    venue.background(Side.SELL, 100, 1_000_100)
    venue.order("b4", Side.BUY, 200, 1_000_100, tif="3")  # takes 100 (fee), IOC rest cancelled
    venue.order("b5", Side.BUY, 100, 1_000_001)  # off the tick: rejected, 103=99
    venue.clock.advance(1)
    venue.client_send_body(
        b"H", to_body(OrderStatusRequest("ghost", "AAA", Side.BUY)) + b"790=Q1\x01"
    )
    venue.pump()
    reports = venue.received
    assert [m.msg_type for m in reports] == [b"8"] * 9
    typed = []
    for message in reports:
        dictionary.validate(message)  # raises MessageRejected naming the tag
        report = decode_execution_report(message)
        assert report == from_message(ExecutionReport, message)  # hot path = generic decoder
        typed.append(report)
    new, maker, replaced, cancelled, ioc_new, taker, ioc_rest, rejected, unknown = typed
    assert (new.exec_type, new.ord_type, new.time_in_force) == ("0", "2", "0")
    assert (ioc_new.exec_type, ioc_new.time_in_force) == ("0", "3")
    assert (maker.exec_type, maker.last_qty, maker.last_liquidity_ind) == ("F", 100, 1)
    assert (maker.secondary_exec_id, maker.commission, maker.comm_type) == ("1", -2_000, "3")
    assert (replaced.exec_type, replaced.orig_cl_ord_id, replaced.cl_ord_id) == ("5", "b1", "b2")
    assert (cancelled.exec_type, cancelled.orig_cl_ord_id) == ("4", "b2")
    assert (taker.last_liquidity_ind, taker.commission, taker.secondary_exec_id) == (2, 3_000, "2")
    assert (ioc_rest.exec_type, ioc_rest.time_in_force, ioc_rest.leaves_qty) == ("4", "3", 0)
    assert (rejected.ord_status, rejected.ord_rej_reason, rejected.last_liquidity_ind) == (
        "8", 99, None,
    )  # fmt: skip
    assert (unknown.exec_type, unknown.ord_rej_reason, unknown.ord_status_req_id) == ("I", 5, "Q1")
    assert all(r.ord_status_req_id is None for r in typed[:-1])

    # the trading core's view takes OrigClOrdID and liquidity from the typed fields
    assert order_event(maker, "V1").liquidity is Liquidity.ADDED
    assert order_event(taker, "V1").liquidity is Liquidity.REMOVED
    assert order_event(cancelled, "V1").orig_cl_ord_id == "b2"
    assert order_event(new, "V1").liquidity is Liquidity.UNKNOWN


def test_gateway_latency_benchmark_times_the_whole_order_path() -> None:
    result = run_gateway_benchmark(400, seed=2)
    latency = result["gateway_us"]
    assert 0 < latency["p50"] <= latency["p99"] <= latency["p999"]
    assert result["gateway_orders"] == 400
    assert result["gateway_reports"] == 200 + 2 * 200  # passive: NEW; IOC: NEW + TRADE
