from __future__ import annotations

import pytest

from calarb.core.order_events import CancelReject, VenueOrder
from calarb.core.orders import ExecType
from calarb.core.types import Side
from calarb.trading.oms import OrderManager
from calarb.trading.orders import Liquidity, OrdStatus, OrdType, TimeInForce


class Recorder:
    def __init__(self) -> None:
        self.fills: list[tuple[str, int, int]] = []
        self.released: list[tuple[str, int]] = []

    def on_fill(self, order, quantity, price, liquidity):
        self.fills.append((order.root_id, quantity, price))

    def on_release(self, order, quantity):
        self.released.append((order.root_id, quantity))


def child(cl="P1.1", qty=100, price=1_000_000, side=Side.BUY, symbol="AAA", parent="P1"):
    return VenueOrder(cl, parent, "V1", symbol, side, qty, price, OrdType.LIMIT, TimeInForce.DAY)


def test_lifecycle_new_partial_filled(venue):
    rec = Recorder()
    oms = OrderManager([rec])
    order = child()
    record = oms.submit(order, 1)
    assert record.status is OrdStatus.PENDING_NEW and oms.open_count == 1
    oms.on_execution_report(venue.ack(order), 2)
    assert record.status is OrdStatus.NEW and record.order_id == "O1"
    oms.on_execution_report(venue.fill("P1.1", 30, 999_900), 3)
    assert record.status is OrdStatus.PARTIALLY_FILLED
    assert (record.cum_qty, record.leaves_qty) == (30, 70)
    oms.on_execution_report(venue.fill("P1.1", 70, 1_000_000), 4)
    assert record.status is OrdStatus.FILLED and not record.is_open
    assert record.cum_notional == 30 * 999_900 + 70 * 1_000_000
    assert rec.fills == [("P1.1", 30, 999_900), ("P1.1", 70, 1_000_000)]
    assert rec.released == []
    assert oms.open_orders() == [] and not oms.anomalies


def test_cancel_chain_and_release(venue):
    rec = Recorder()
    oms = OrderManager([rec])
    order = child()
    oms.submit(order, 1)
    oms.on_execution_report(venue.ack(order), 2)
    oms.on_execution_report(venue.fill("P1.1", 40), 3)
    request = oms.request_cancel("P1.1", 4)
    assert request.orig_cl_ord_id == "P1.1" and request.cl_ord_id == "P1.1/1"
    assert request.order_id == "O1"
    assert oms.request_cancel("P1.1", 5) is None  # already pending
    record = oms.order("P1.1/1")
    assert record is oms.order("P1.1") and record.status is OrdStatus.PENDING_CANCEL
    oms.on_execution_report(venue.pending_cancel(request), 6)
    assert record.status is OrdStatus.PENDING_CANCEL
    oms.on_execution_report(venue.cancel(request), 7)
    assert record.status is OrdStatus.CANCELED and record.leaves_qty == 0
    assert rec.released == [("P1.1", 60)]
    assert record.chain == ["P1.1", "P1.1/1"] and not oms.anomalies


def test_fill_racing_cancel_is_booked(venue):
    rec = Recorder()
    oms = OrderManager([rec])
    order = child()
    oms.submit(order, 1)
    oms.on_execution_report(venue.ack(order), 2)
    request = oms.request_cancel("P1.1", 3)
    fill = venue.fill("P1.1", 100)  # the venue filled before it saw the cancel
    oms.on_execution_report(fill, 4)
    record = oms.order("P1.1")
    assert record.status is OrdStatus.FILLED and record.cum_qty == 100
    assert rec.fills == [("P1.1", 100, 1_000_000)]
    reject = CancelReject("V1", request.cl_ord_id, "P1.1", "O1", OrdStatus.FILLED, False, "late")
    oms.on_cancel_reject(reject, 5)
    assert record.status is OrdStatus.FILLED and record.pending_id is None
    assert oms.late_cancel_rejects == 1 and not oms.anomalies  # an ordinary race


def test_cancel_reject_restores_live_status(venue):
    oms = OrderManager()
    order = child()
    oms.submit(order, 1)
    oms.on_execution_report(venue.ack(order), 2)
    oms.on_execution_report(venue.fill("P1.1", 10), 3)
    request = oms.request_cancel("P1.1", 4)
    fill = venue.fill("P1.1", 5)  # a fill while the cancel is pending keeps the overlay
    record = oms.on_execution_report(fill, 5)
    assert record.status is OrdStatus.PENDING_CANCEL and record.cum_qty == 15
    reject = CancelReject("V1", request.cl_ord_id, "P1.1", "O1", OrdStatus.PARTIALLY_FILLED, False)
    oms.on_cancel_reject(reject, 6)
    assert record.status is OrdStatus.PARTIALLY_FILLED and record.is_open
    assert oms.request_cancel("P1.1", 7).cl_ord_id == "P1.1/2"


def test_replace_chain_reduces_open_quantity(venue):
    rec = Recorder()
    oms = OrderManager([rec])
    order = child(qty=100)
    oms.submit(order, 1)
    oms.on_execution_report(venue.ack(order), 2)
    oms.on_execution_report(venue.fill("P1.1", 20), 3)
    assert oms.request_replace("P1.1", 20, 990_000, 4) is None  # not above CumQty
    request = oms.request_replace("P1.1", 60, 990_000, 4)
    assert (request.orig_cl_ord_id, request.cl_ord_id) == ("P1.1", "P1.1/1")
    record = oms.order("P1.1")
    assert record.status is OrdStatus.PENDING_REPLACE
    assert oms.request_replace("P1.1", 50, 990_000, 5) is None  # one request at a time
    oms.on_execution_report(venue.replace(request), 5)
    assert record.cl_ord_id == "P1.1/1" and record.status is OrdStatus.PARTIALLY_FILLED
    assert (record.quantity, record.price, record.leaves_qty) == (60, 990_000, 40)
    assert rec.released == [("P1.1", 40)]
    oms.on_execution_report(venue.fill("P1.1/1", 40, 990_000), 6)
    assert record.status is OrdStatus.FILLED and not oms.anomalies


def test_reject_and_expire(venue):
    rec = Recorder()
    oms = OrderManager([rec])
    first, second = child("A.1", parent="A"), child("B.1", parent="B", side=Side.SELL)
    oms.submit(first, 1)
    oms.submit(second, 1)
    oms.on_execution_report(venue.reject(first, "unknown symbol"), 2)
    assert oms.order("A.1").status is OrdStatus.REJECTED
    assert oms.order("A.1").text == "unknown symbol"
    oms.on_execution_report(venue.ack(second), 3)
    oms.on_execution_report(venue.expire("B.1"), 4)
    assert oms.order("B.1").status is OrdStatus.EXPIRED
    assert sorted(rec.released) == [("A.1", 100), ("B.1", 100)]
    assert oms.open_count == 0 and not oms.anomalies


def test_anomalies_are_counted_never_raised(venue):
    rec = Recorder()
    oms = OrderManager([rec])
    order = child()
    oms.submit(order, 1)
    ack = venue.ack(order)
    oms.on_execution_report(ack, 2)
    assert oms.on_execution_report(ack, 3) is None  # same ExecID again
    fill = venue.fill("P1.1", 100)
    oms.on_execution_report(fill, 4)
    stale = ack._replace(exec_id="late-ack")  # NEW after FILLED: terminal never reopens
    oms.on_execution_report(stale, 5)
    assert oms.order("P1.1").status is OrdStatus.FILLED
    unknown = ack._replace(exec_id="x", cl_ord_id="nope", order_id="O999")
    assert oms.on_execution_report(unknown, 6) is None
    regress = fill._replace(exec_id="y", cum_qty=50)
    oms.on_execution_report(regress, 7)
    assert oms.anomalies == {
        "duplicate_exec_id": 1,
        "unexpected_transition": 1,
        "unknown_order": 1,
        "cum_qty_regressed": 2,  # the stale ack (CumQty 0) and the regressed fill
    }
    assert oms.unexpected_transitions == 1 and len(oms.recent_anomalies) == 5
    assert rec.fills == [("P1.1", 100, 1_000_000)]


def test_missed_fill_is_booked_at_implied_price(venue):
    rec = Recorder()
    oms = OrderManager([rec])
    order = child()
    oms.submit(order, 1)
    oms.on_execution_report(venue.ack(order), 2)
    venue.fill("P1.1", 30, 1_000_000)  # this report is lost
    second = venue.fill("P1.1", 10, 1_000_400)
    oms.on_execution_report(second, 3)
    assert oms.order("P1.1").cum_qty == 40
    assert rec.fills == [("P1.1", 40, 1_000_100)]  # avg of 30@100.00 and 10@100.04
    assert oms.anomalies["fill_gap"] == 1


def test_queries_and_cancel_all(venue, make_counterparty):
    other = make_counterparty("V2")
    oms = OrderManager()
    orders = [
        child("P1.1", symbol="AAA"),
        child("P1.2", symbol="AAA")._replace(venue="V2"),
        child("P2.1", symbol="BBB", parent="P2"),
    ]
    for order in orders:
        oms.submit(order, 1)
        oms.on_execution_report((other if order.venue == "V2" else venue).ack(order), 2)
    assert {o.root_id for o in oms.open_orders(symbol="AAA")} == {"P1.1", "P1.2"}
    assert [o.root_id for o in oms.open_orders(venue="V2")] == ["P1.2"]
    assert [o.root_id for o in oms.orders_of_parent("P1")] == ["P1.1", "P1.2"]
    assert oms.order_by_venue_id("V2", oms.order("P1.2").order_id).root_id == "P1.2"
    requests = oms.cancel_all(3, symbol="AAA")
    assert sorted(r.orig_cl_ord_id for r in requests) == ["P1.1", "P1.2"]
    assert oms.cancel_all(4, symbol="AAA") == []
    assert [r.cl_ord_id for r in oms.status_requests()] == ["P1.1", "P1.2", "P2.1"]
    assert venue.fill("P2.1", 1).exec_type is ExecType.TRADE


def test_maker_liquidity_flag_reaches_listener(venue):
    seen = []

    class Listener:
        def on_fill(self, order, quantity, price, liquidity):
            seen.append(liquidity)

        def on_release(self, order, quantity):
            pass

    oms = OrderManager()
    oms.add_listener(Listener())
    order = child()
    oms.submit(order, 1)
    oms.on_execution_report(venue.ack(order), 2)
    oms.on_execution_report(venue.fill("P1.1", 100, liquidity=Liquidity.ADDED), 3)
    assert seen == [Liquidity.ADDED]


def test_exec_report_from_fix_message():
    from calarb.fix.messages import ExecutionReport, order_event

    message = ExecutionReport(
        order_id="O7",
        exec_id="E9",
        exec_type="F",
        ord_status="1",
        symbol="AAA",
        side=Side.SELL,
        leaves_qty=60,
        cum_qty=40,
        avg_px=1_000_100,
        cl_ord_id="P1.1",
        order_qty=100,
        price=1_000_000,
        last_qty=40,
        last_px=1_000_100,
        transact_time_ns=5,
        text=None,
    )
    report = order_event(message, "V1")
    assert report.exec_type is ExecType.TRADE and report.ord_status is OrdStatus.PARTIALLY_FILLED
    assert (report.venue, report.cum_qty, report.leaves_qty, report.last_px) == (
        "V1",
        40,
        60,
        1_000_100,
    )
    with pytest.raises(ValueError, match=r"ExecType \(150\) 'Z'"):
        order_event(message._replace(exec_type="Z"), "V1")
    # FIX 4.2: ExecType 1/2 are its fill codes; a bust or correction (ExecTransType 1/2) is refused
    fix42 = message._replace(exec_type="1", exec_trans_type="0")
    assert order_event(fix42, "V1").exec_type is ExecType.TRADE
    assert order_event(fix42._replace(exec_type="2"), "V1").exec_type is ExecType.TRADE
    with pytest.raises(ValueError, match=r"ExecTransType \(20\) '2'"):
        order_event(fix42._replace(exec_trans_type="2"), "V1")
