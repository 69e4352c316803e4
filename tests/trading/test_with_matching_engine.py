"""The trading core against the real exchange simulator's matching engine (two venues).

The adapter below does what a FIX gateway does at the edge: it gives the matching engine's
order outcomes (the core ExecutionReport / CancelReject) the venue's name and ExecIDs."""

from __future__ import annotations

from calarb.core.events import TopOfBook
from calarb.core.order_events import CancelReject, ExecutionReport
from calarb.core.types import Instrument, Side
from calarb.trading.oms import OrderManager
from calarb.trading.orders import Liquidity, OrderIntent, OrdStatus, VenueFees
from calarb.trading.portfolio import Portfolio
from calarb.trading.risk import RiskGate, RiskLimits, RiskReason, engage_kill_switch
from calarb.trading.router import Router
from calarb.venue import MatchingEngine
from calarb.venue.orders import OrdType, TimeInForce

ME = "calarb"


def to_core(venue: str, event) -> ExecutionReport | CancelReject | None:
    if event.participant != ME:
        return None
    if isinstance(event, CancelReject):
        return event._replace(venue=venue)
    return event._replace(
        venue=venue,
        exec_id=f"{venue}-{len(seen)}",
        liquidity=Liquidity.REMOVED if event.last_qty else Liquidity.UNKNOWN,
    )


seen: list[object] = []


def pump(engines, oms, now):
    for name, engine in engines.items():
        for event in engine.take_reports():
            seen.append(event)
            report = to_core(name, event)
            if isinstance(report, ExecutionReport):
                oms.on_execution_report(report, now)
            elif report is not None:
                oms.on_cancel_reject(report, now)


def test_closed_loop_against_two_matching_engines():
    aaa = Instrument("AAA")
    engines = {"X": MatchingEngine([aaa]), "Y": MatchingEngine([aaa])}
    # Liquidity from another participant: X offers 300 @ 100.00, Y 200 @ 99.99.
    engines["X"].submit(1, "mm", "mx", "AAA", Side.SELL, 300, 1_000_000)
    engines["Y"].submit(1, "mm", "my", "AAA", Side.SELL, 200, 999_900)
    engines["X"].submit(1, "mm", "bx", "AAA", Side.BUY, 300, 999_000)
    for engine in engines.values():
        engine.take_reports()
    fees = {"X": VenueFees(30, -20), "Y": VenueFees(25, -15)}
    portfolio = Portfolio(fees)
    gate = RiskGate(RiskLimits(collar_bps=50, max_position=1_000), portfolio)
    oms = OrderManager([portfolio, gate])
    router = Router(fees.items())
    for name, engine in engines.items():
        top = TopOfBook(
            "AAA",
            1,
            engine.best_bid("AAA") or 0,
            300 if name == "X" else 0,
            engine.best_ask("AAA"),
            300 if name == "X" else 200,
        )
        router.on_top_of_book(name, top)
    nbbo = TopOfBook("AAA", 1, 999_000, 300, 999_900, 200)
    gate.on_top_of_book(nbbo)
    portfolio.on_top_of_book(nbbo)

    intent_ = OrderIntent("P1", "AAA", Side.BUY, 600, 1_000_000)
    assert gate.check(intent_, 10) is RiskReason.PASSED
    decision = router.route(intent_)
    assert [(o.venue, o.quantity) for o in decision.orders] == [("Y", 200), ("X", 400)]
    for child in decision.orders:
        oms.submit(child, 11)
        engines[child.venue].submit(
            12,
            ME,
            child.cl_ord_id,
            child.symbol,
            child.side,
            child.quantity,
            child.price,
            OrdType.LIMIT,
            TimeInForce.DAY,
        )
    pump(engines, oms, 13)
    y, x = (oms.order(o.cl_ord_id) for o in decision.orders)
    assert y.status is OrdStatus.FILLED and y.cum_qty == 200
    assert x.status is OrdStatus.PARTIALLY_FILLED and (x.cum_qty, x.leaves_qty) == (300, 100)
    assert portfolio.quantity("AAA") == 500
    assert portfolio.fees == 200 * 25 + 300 * 30
    assert portfolio.positions["AAA"].cost == 200 * 999_900 + 300 * 1_000_000
    assert gate.symbol_state("AAA")["open_buy"] == 100 and gate.open_orders == 1

    # Kill switch: the resting 100 at X is cancelled by the venue, the position flattened.
    result = engage_kill_switch(gate, oms, 20, reason="test", flatten=True)
    [cancel] = result.cancels
    engines["X"].cancel(21, ME, int(cancel.order_id), cancel.cl_ord_id)
    pump(engines, oms, 22)
    assert x.status is OrdStatus.CANCELED and oms.open_count == 0
    assert gate.open_orders == 0 and gate.symbol_state("AAA")["open_buy"] == 0
    [flat] = result.flatten
    assert (flat.side, flat.quantity, flat.price) == (Side.SELL, 500, 999_000)
    assert gate.check(flat, 23) is RiskReason.PASSED
    router.on_top_of_book("Y", TopOfBook("AAA", 2, 0, 0, 0, 0))
    decision = router.route(flat)
    assert [(o.venue, o.quantity) for o in decision.orders] == [("X", 500)]  # IOC: no resting
    for child in decision.orders:
        oms.submit(child, 24)
        engines[child.venue].submit(
            25,
            ME,
            child.cl_ord_id,
            child.symbol,
            child.side,
            child.quantity,
            child.price,
            OrdType.LIMIT,
            TimeInForce.IOC,
        )
    pump(engines, oms, 26)
    # 300 bid at X: 300 sold, the IOC remainder cancelled by the venue
    assert portfolio.quantity("AAA") == 200
    assert oms.open_count == 0 and gate.open_orders == 0
    assert portfolio.realized == 300 * 999_000 - 300 * ((200 * 999_900 + 300 * 1_000_000) // 500)
    assert not oms.anomalies
