"""FixOrderGateway over real loopback TCP against the venue's FIX gateway (VenueGateway on a
FixAcceptor over a MatchingEngine): orders, fills, replace, cancel, cancel reject, latency
stamps, and a disconnect with held cancels, local rejects and reconciliation on reconnect."""

from __future__ import annotations

import asyncio

import pytest

from calarb.core.clock import LiveClock
from calarb.core.order_events import CancelReject, CancelRequest, ExecutionReport, VenueOrder
from calarb.core.types import Instrument, Side
from calarb.fix.config import SessionSettings
from calarb.fix.transport import FixAcceptor, FixInitiator
from calarb.ops.latency import LatencyRecorder
from calarb.trading.fix_gateway import FixOrderGateway
from calarb.trading.oms import OrderManager
from calarb.trading.orders import Liquidity, OrdStatus, OrdType, TimeInForce, VenueFees
from calarb.trading.reconcile import DiffKind
from calarb.trading.router import Router
from calarb.venue.config import ParticipantConfig
from calarb.venue.gateway import VenueGateway, acceptor_settings
from calarb.venue.matching import MatchingEngine

pytestmark = pytest.mark.network


class OmsSink:
    """The engine's side of the gateway, reduced to the OMS (real order states)."""

    def __init__(self) -> None:
        self.oms = OrderManager()
        self.reports: list[ExecutionReport] = []
        self.cancel_rejects: list[CancelReject] = []

    def on_execution_report(self, report: ExecutionReport, now_ns: int | None = None) -> None:
        self.reports.append(report)
        self.oms.on_execution_report(report, now_ns or 0)

    def on_cancel_reject(self, reject: CancelReject, now_ns: int | None = None) -> None:
        self.cancel_rejects.append(reject)
        self.oms.on_cancel_reject(reject, now_ns or 0)


class Venue:
    def __init__(self) -> None:
        self.clock = LiveClock()
        self.engine = MatchingEngine([Instrument("AAA", tick_size=100, lot_size=1)])
        participants = [ParticipantConfig("CALARB", "calarb", "secret", heartbeat_interval_s=5)]
        self.gateway = VenueGateway(
            self.engine,
            participants,
            self.clock.monotonic_ns,
            self.clock,
            exec_id_prefix="V1-",
        )
        self.acceptor = FixAcceptor(
            acceptor_settings("V1", participants, 0),
            self.gateway.application_for,
            clock=self.clock,
            authenticate=self.gateway.authenticate,
            on_event=self.gateway.on_session_event,
        )

    def flush(self) -> None:
        for session in self.gateway.take_touched_sessions():
            connection = self.acceptor.connection_for(session)
            if connection is not None:
                connection.flush()

    def trade_against(self, side: Side, quantity: int, price: int) -> None:
        """Another participant's order, entered directly in the engine."""
        self.engine.submit(self.clock.monotonic_ns(), "MM", f"MM{price}{side}", "AAA", side,
                           quantity, price)  # fmt: skip
        self.gateway.dispatch_reports()
        self.flush()

    def drop(self) -> None:
        for session in self.gateway.sessions_to_drop("CALARB"):
            self.acceptor.connection_for(session)._close()


async def wait_for(condition, timeout: float = 5.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not condition():
        if loop.time() > deadline:
            raise AssertionError("condition not reached in time")
        await asyncio.sleep(0.005)


async def connect(venue: Venue):
    port = await venue.acceptor.start(port=0)
    clock = LiveClock()
    settings = SessionSettings(
        "FIX.4.4", "CALARB", "V1", port=port, heartbeat_interval_s=5, username="calarb",
        password="secret", reconnect_interval_s=0.2, reconnect_max_interval_s=0.4,
    )  # fmt: skip
    gateways: list[FixOrderGateway] = []
    initiator = FixInitiator(
        settings, clock=clock, on_event=lambda s, e: gateways[0].on_session_event(e)
    )
    recorder = LatencyRecorder(clock)
    gateway = FixOrderGateway("V1", initiator.session, initiator.flush, clock, recorder=recorder)
    gateways.append(gateway)
    sink = OmsSink()
    router = Router([("V1", VenueFees())])
    gateway.attach(sink, sink.oms, router)
    initiator.start()
    await initiator.wait_logged_on(5.0)
    await wait_for(lambda: gateway.connected)
    return initiator, gateway, sink, router, recorder


def order(cl_ord_id: str, side: Side, quantity: int, price: int) -> VenueOrder:
    return VenueOrder(cl_ord_id, cl_ord_id.split(".")[0], "V1", "AAA", side, quantity, price,
                      OrdType.LIMIT, TimeInForce.DAY)  # fmt: skip


async def _orders_fills_replace_cancel_and_reject():
    venue = Venue()
    initiator, gateway, sink, router, recorder = await connect(venue)
    try:
        assert router.venues["V1"].connected
        buy = order("P1.1", Side.BUY, 300, 400_000)
        recorder.begin_tick()
        sink.oms.submit(buy, 0)
        gateway.send_new_order(buy, 0)
        recorder.end_tick()
        assert recorder.ticks_with_order == 1
        assert set(recorder.stage_summary_us()) == {"fix_encoded", "written"}
        record = sink.oms.order("P1.1")
        await wait_for(lambda: record.status is OrdStatus.NEW)
        assert record.order_id and int(record.order_id) > 0
        assert len(gateway.round_trips_ns) == 1 and gateway.round_trips_ns[0] > 0

        venue.trade_against(Side.SELL, 100, 400_000)  # our resting buy is hit: we added
        await wait_for(lambda: record.cum_qty == 100)
        fill = sink.reports[-1]
        assert (fill.last_qty, fill.last_px, fill.liquidity) == (100, 400_000, Liquidity.ADDED)
        assert record.status is OrdStatus.PARTIALLY_FILLED and record.leaves_qty == 200

        replace = sink.oms.request_replace("P1.1", 250, 399_900, 0)
        gateway.send_replace(replace, 0)
        await wait_for(lambda: record.cl_ord_id == replace.cl_ord_id)
        assert (record.quantity, record.price, record.leaves_qty) == (250, 399_900, 150)
        assert venue.engine.best_bid("AAA") == 399_900

        cancel = sink.oms.request_cancel("P1.1", 0)
        gateway.send_cancel(cancel, 0)
        await wait_for(lambda: record.status is OrdStatus.CANCELED)
        assert record.cum_qty == 100 and venue.engine.best_bid("AAA") is None

        stale = CancelRequest("V1", "P1.1/9", cancel.cl_ord_id, record.order_id, "AAA",
                              Side.BUY, 250)  # fmt: skip
        gateway.send_cancel(stale, 0)
        await wait_for(lambda: sink.cancel_rejects)
        assert sink.cancel_rejects[0].cl_ord_id == "P1.1/9"
        assert gateway.counts["bad_message"] == 0
    finally:
        await initiator.stop(1.0)
        await venue.acceptor.stop()


async def _disconnect_then_reconcile():
    venue = Venue()
    initiator, gateway, sink, router, _ = await connect(venue)
    try:
        resting = order("P1.1", Side.BUY, 300, 400_000)
        sink.oms.submit(resting, 0)
        gateway.send_new_order(resting, 0)
        record = sink.oms.order("P1.1")
        await wait_for(lambda: record.status is OrdStatus.NEW)
        # An order journaled but never sent (a crash in between): the venue will not know it.
        never_sent = sink.oms.submit(order("P2.1", Side.BUY, 100, 390_000), 0)

        venue.drop()
        await wait_for(lambda: not gateway.connected)
        assert not router.venues["V1"].connected  # the router now routes around V1
        venue.trade_against(Side.SELL, 120, 400_000)  # a fill while we are away: held
        late = order("P3.1", Side.BUY, 100, 400_000)
        sink.oms.submit(late, 0)
        gateway.send_new_order(late, 0)  # refused at once, never sent late
        assert sink.oms.order("P3.1").status is OrdStatus.REJECTED
        cancel = sink.oms.request_cancel("P1.1", 0)
        gateway.send_cancel(cancel, 0)  # held until the next Logon
        assert gateway.counts["cancel_held"] == 1

        await wait_for(lambda: gateway.connected and gateway.reconciliations == 1)
        await wait_for(lambda: record.status is OrdStatus.CANCELED)
        assert record.cum_qty == 120  # the fill made while disconnected is not lost
        assert router.venues["V1"].connected
        assert never_sent.status is OrdStatus.REJECTED  # closed: unknown at the venue
        kinds = {d.kind for d in gateway.differences}
        assert DiffKind.UNKNOWN_AT_VENUE in kinds
        assert sink.oms.open_count == 0
        assert gateway.counts["rejected_locally"] == 1
    finally:
        await initiator.stop(1.0)
        await venue.acceptor.stop()


def test_orders_fills_replace_cancel_and_reject_over_fix():
    asyncio.run(_orders_fills_replace_cancel_and_reject())


def test_disconnect_routes_around_then_reconciles_on_reconnect():
    asyncio.run(_disconnect_then_reconcile())
