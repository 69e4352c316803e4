from __future__ import annotations

from calarb.core.order_events import CancelRequest, StatusRequest, VenueOrder
from calarb.core.orders import ExecType
from calarb.core.types import Side
from calarb.trading.oms import OrderManager
from calarb.trading.orders import OrdStatus, OrdType, TimeInForce
from calarb.trading.reconcile import (
    ApplyReport,
    CancelAtVenue,
    CloseLocally,
    DiffKind,
    RequestStatus,
    reconcile,
)


def order(cl, qty=100):
    return VenueOrder(cl, cl, "V1", "AAA", Side.BUY, qty, 1_000_000, OrdType.LIMIT, TimeInForce.DAY)


def test_reconcile_finds_and_repairs_every_kind(venue):
    oms = OrderManager()
    orders = {
        name: order(name)
        for name in ("same", "filled", "cancelled", "lost", "silent", "replaced", "unacked")
    }
    for o in orders.values():
        oms.submit(o, 0)
        if o.cl_ord_id != "unacked":
            oms.on_execution_report(venue.ack(o), 1)
    venue.fill("filled", 60)  # both fills missed by the OMS
    venue.fill("filled", 40)
    lost_cancel = oms.request_cancel("cancelled", 2)
    venue.cancel(lost_cancel)  # the venue cancelled; the report was lost
    replace = oms.request_replace("replaced", 50, 999_000, 2)
    venue.replace(replace)  # the Replaced report was lost
    stranger = venue.ack(order("stranger"))  # open at the venue, unknown to us
    answers = [venue.status(name) for name in ("same", "filled", "cancelled", "replaced")]
    unknown = venue.status("same")._replace(
        cl_ord_id="lost",
        order_id="",
        ord_status=OrdStatus.REJECTED,
        cum_qty=0,
        leaves_qty=0,
        text="unknown order",
    )
    never = unknown._replace(cl_ord_id="unacked", exec_id="z")
    answers += [unknown, never, venue.status("stranger")]
    assert stranger.exec_type is ExecType.NEW
    before = oms.state()
    result = reconcile(oms.open_orders(), answers)
    assert oms.state() == before  # pure
    kinds = {(d.cl_ord_id, d.kind) for d in result.differences}
    assert kinds == {
        ("filled", DiffKind.MISSED_FILLS),
        ("filled", DiffKind.CLOSED_AT_VENUE),
        ("cancelled", DiffKind.CLOSED_AT_VENUE),
        ("replaced", DiffKind.MISSED_REPLACE),
        ("lost", DiffKind.UNKNOWN_AT_VENUE),
        ("unacked", DiffKind.UNKNOWN_AT_VENUE),
        ("silent", DiffKind.NO_ANSWER),
        ("stranger", DiffKind.UNKNOWN_OPEN_ORDER),
    }
    types = sorted(type(a).__name__ for a in result.actions)
    assert types == sorted(
        ["ApplyReport"] * 3 + ["CloseLocally"] * 2 + ["RequestStatus", "CancelAtVenue"]
    )
    closes = {a.cl_ord_id: a.status for a in result.actions if isinstance(a, CloseLocally)}
    assert closes == {"lost": OrdStatus.CANCELED, "unacked": OrdStatus.REJECTED}
    outbound = oms.apply_reconciliation(result, 3)
    assert [type(m) for m in outbound] == [StatusRequest, CancelRequest] or [
        type(m) for m in outbound
    ] == [CancelRequest, StatusRequest]
    assert oms.order("filled").status is OrdStatus.FILLED and oms.order("filled").cum_qty == 100
    assert oms.order("cancelled").status is OrdStatus.CANCELED
    assert oms.order("replaced").quantity == 50 and oms.order("replaced").price == 999_000
    assert oms.order("replaced").status is OrdStatus.NEW
    assert oms.order("lost").status is OrdStatus.CANCELED
    assert oms.order("unacked").status is OrdStatus.REJECTED
    assert {o.root_id for o in oms.open_orders()} == {"same", "silent", "replaced"}
    # A second pass with fresh answers finds only the unanswered order.
    again = reconcile(oms.open_orders(), [venue.status("same"), venue.status("replaced")])
    assert [(d.cl_ord_id, d.kind) for d in again.differences] == [("silent", DiffKind.NO_ANSWER)]
    assert isinstance(again.actions[0], RequestStatus)


def test_reconcile_reports_fills_we_have_that_the_venue_lacks(venue):
    oms = OrderManager()
    o = order("x")
    oms.submit(o, 0)
    oms.on_execution_report(venue.ack(o), 1)
    oms.on_execution_report(venue.fill("x", 30), 2)
    answer = venue.status("x")._replace(cum_qty=10, leaves_qty=90)
    result = reconcile(oms.open_orders(), [answer])
    assert [d.kind for d in result.differences] == [DiffKind.FILLS_AHEAD]
    assert result.actions == []  # never un-book a fill automatically


def test_quantity_difference_is_applied(venue):
    oms = OrderManager()
    o = order("x")
    oms.submit(o, 0)
    oms.on_execution_report(venue.ack(o), 1)
    answer = venue.status("x")._replace(leaves_qty=80, order_qty=80)
    result = reconcile(oms.open_orders(), [answer])
    assert [d.kind for d in result.differences] == [DiffKind.QUANTITY_DIFFERS]
    assert isinstance(result.actions[0], ApplyReport)
    oms.apply_reconciliation(result, 2)
    assert oms.order("x").leaves_qty == 80
    assert not any(isinstance(a, CancelAtVenue) for a in result.actions)
