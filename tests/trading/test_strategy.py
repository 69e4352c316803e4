"""The pairs strategy: worked examples of the rules, sizing, cooldown and legging control.

Orders go through a real OMS answered by the scripted FIX counterparty of conftest.py, so
the strategy hears fills and releases exactly as in the engine."""

from __future__ import annotations

import math

import pytest

from calarb.core.events import TopOfBook
from calarb.core.order_events import VenueOrder
from calarb.core.types import Side
from calarb.model.hedge import OlsHedge
from calarb.model.live import PairModel
from calarb.model.signal import SignalRules
from calarb.model.spread import SpreadForm
from calarb.trading.oms import OrderManager
from calarb.trading.orders import OrderIntent, OrderPurpose, TimeInForce
from calarb.trading.strategy import CancelOrder, PairsStrategy, PairStrategyConfig

RULES = SignalRules(entry=2.0, exit=0.5, stop=4.0, max_holding_ns=60_000_000_000)


class Desk:
    """Strategy + OMS + scripted venue: sends intents as one child each, fills on demand."""

    def __init__(self, venue, form=SpreadForm.LOG, **config):
        self.model = PairModel("AAA", "BBB", OlsHedge(), form=form)
        self.strategy = PairsStrategy([(PairStrategyConfig("AAA", "BBB", **config), self.model)])
        self.oms = OrderManager([self.strategy])
        self.venue = venue
        self.quote(40.00, 50.00)

    def quote(self, mid_a: float, mid_b: float, t: int = 0) -> None:
        for symbol, mid in (("AAA", mid_a), ("BBB", mid_b)):
            price = round(mid * 10_000)
            self.strategy.on_top_of_book(TopOfBook(symbol, t, price - 100, 500, price + 100, 500))

    def send(self, actions, t: int) -> list[OrderIntent]:
        intents = []
        for action in actions:
            if isinstance(action, CancelOrder):
                for order in self.oms.orders_of_parent(action.parent_id):
                    request = self.oms.request_cancel(order.cl_ord_id, t)
                    self.oms.on_execution_report(self.venue.cancel(request), t)
                continue
            child = VenueOrder(
                action.cl_ord_id + ".1", action.cl_ord_id, "V1", action.symbol, action.side,
                action.quantity, action.price, action.ord_type, action.time_in_force, action.tag,
            )  # fmt: skip
            self.oms.submit(child, t)
            self.oms.on_execution_report(self.venue.ack(child), t)
            intents.append(action)
        return intents

    def fill(self, intent: OrderIntent, quantity: int | None = None, t: int = 0) -> None:
        report = self.venue.fill(intent.cl_ord_id + ".1", quantity or intent.quantity)
        self.oms.on_execution_report(report, t)

    def expire(self, intent: OrderIntent, t: int = 0) -> None:
        self.oms.on_execution_report(self.venue.expire(intent.cl_ord_id + ".1"), t)

    def positions(self) -> tuple[int, int]:
        state = self.strategy.pairs["AAA/BBB"]
        return state.leg_a.position, state.leg_b.position

    @property
    def counters(self):
        return self.strategy.pairs["AAA/BBB"].counters


def test_entry_sizes_legs_by_hedge_ratio_and_prices_from_the_touch(venue):
    desk = Desk(venue, size=100, limit_offset_ticks=1)
    assert desk.strategy.on_z("AAA/BBB", -1.9, 0.8, 1) == []  # inside the band: hold
    intents = desk.send(desk.strategy.on_z("AAA/BBB", -2.1, 0.8, 2), 2)
    # long the spread: buy 100 AAA; log form: sell 0.8 * 100 * 40 / 50 = 64 BBB.
    # far touch (ask 40.01 / bid 49.99) one tick more aggressive, IOC by default.
    assert [(i.symbol, i.side, i.quantity, i.price, i.time_in_force) for i in intents] == [
        ("AAA", Side.BUY, 100, 400_200, TimeInForce.IOC),
        ("BBB", Side.SELL, 64, 499_800, TimeInForce.IOC),
    ]
    assert intents[0].tag == "AAA/BBB:A" and intents[0].cl_ord_id != intents[1].cl_ord_id
    desk.fill(intents[0], t=3)
    desk.fill(intents[1], t=3)
    assert desk.positions() == (100, -64)
    # own fills reached the model (recalibration loop)
    assert desk.model.position("AAA") == 100 and desk.model.position("BBB") == -64
    # still stretched: hold; z back above -exit: exit both legs
    assert desk.strategy.on_z("AAA/BBB", -1.0, 0.8, 4) == []
    exits = desk.send(desk.strategy.on_z("AAA/BBB", -0.4, 0.8, 5), 5)
    assert [(i.symbol, i.side, i.quantity) for i in exits] == [
        ("AAA", Side.SELL, 100),
        ("BBB", Side.BUY, 64),
    ]
    assert desk.counters.entries == 1 and desk.counters.exits == 1


def test_price_form_notional_sizing_negative_beta_and_limit_orders(venue):
    desk = Desk(
        venue, form=SpreadForm.PRICE, sizing="notional", size=1_000_000 * 10_000 // 100,
        order_style="limit", price_reference="near", lot_size=10,
    )  # fmt: skip
    # 10,000 currency units / 40.00 = 250 AAA; price form: |beta| * 250 = 375 BBB; beta < 0
    # so a short spread sells AAA and sells BBB too. Near touch: sell at the ask, DAY.
    intents = desk.send(desk.strategy.on_z("AAA/BBB", 2.5, -1.5, 1), 1)
    assert [(i.symbol, i.side, i.quantity, i.price, i.time_in_force) for i in intents] == [
        ("AAA", Side.SELL, 250, 400_100, TimeInForce.DAY),
        ("BBB", Side.SELL, 380, 500_100, TimeInForce.DAY),  # 375 rounded to lots of 10
    ]


def test_stop_then_cooldown_then_no_reentry_until_back_inside_entry(venue):
    desk = Desk(venue, rules=RULES, cooldown_ns=1_000)
    entry = desk.send(desk.strategy.on_z("AAA/BBB", 2.2, 1.0, 10), 10)
    for intent in entry:
        desk.fill(intent)
    stop = desk.send(desk.strategy.on_z("AAA/BBB", 4.5, 1.0, 20), 20)
    assert [(i.symbol, i.side) for i in stop] == [("AAA", Side.BUY), ("BBB", Side.SELL)]
    assert [i.purpose for i in entry + stop] == [OrderPurpose.ENTRY] * 2 + [OrderPurpose.EXIT] * 2
    for intent in stop:
        desk.fill(intent)
    assert desk.positions() == (0, 0) and desk.counters.stops == 1
    assert desk.strategy.on_z("AAA/BBB", -2.5, 1.0, 500) == []  # cooling down
    assert desk.strategy.on_z("AAA/BBB", 2.5, 1.0, 1_100) == []  # stopped: still stretched
    assert desk.strategy.on_z("AAA/BBB", 1.0, 1.0, 1_200) == []  # back inside: re-armed
    assert len(desk.strategy.on_z("AAA/BBB", 2.1, 1.0, 1_300)) == 2


def test_maximum_holding_time_stops_the_position(venue):
    desk = Desk(venue, rules=RULES)
    for intent in desk.send(desk.strategy.on_z("AAA/BBB", -2.5, 1.0, 0), 0):
        desk.fill(intent)
    assert desk.strategy.on_z("AAA/BBB", -2.5, 1.0, 59_999_999_999) == []
    out = desk.send(desk.strategy.on_z("AAA/BBB", -2.5, 1.0, 60_000_000_000), 1)
    assert len(out) == 2 and desk.counters.stops == 1


def test_maximum_holding_time_stops_on_the_timer_when_no_quote_comes(venue):
    desk = Desk(venue, rules=RULES)
    for i in range(200):  # a model with a z-score: quotes that move both legs
        for symbol, mid in (("AAA", 40.0 + 0.01 * (i % 7)), ("BBB", 50.0 + 0.01 * (i % 5))):
            price = round(mid * 10_000)
            desk.model.on_top_of_book(TopOfBook(symbol, i, price - 100, 500, price + 100, 500))
    assert desk.model.ready and desk.strategy.timer_idle_until() > 10**18  # flat: never
    for intent in desk.send(desk.strategy.on_z("AAA/BBB", -2.5, 1.0, 0), 0):
        desk.fill(intent)
    assert desk.strategy.timer_idle_until() == 0  # entry under way until a timer settles it
    assert desk.strategy.on_timer(1) == []  # (the engine calls it after every report)
    assert desk.strategy.timer_idle_until() == 60_000_000_000
    assert desk.strategy.on_timer(59_999_999_999) == []
    out = desk.send(desk.strategy.on_timer(60_000_000_000), 1)  # no quote since the entry
    assert len(out) == 2 and desk.counters.stops == 1
    assert {(i.symbol, i.side) for i in out} == {("AAA", Side.SELL), ("BBB", Side.BUY)}


def _legged_entry(desk):
    a, b = desk.send(desk.strategy.on_z("AAA/BBB", -2.5, 1.0, 0), 0)
    desk.fill(a)  # leg A fills, leg B's IOC finds nothing
    desk.expire(b)
    return a, b


def test_legging_hedge_completes_the_missing_leg_aggressively(venue):
    desk = Desk(venue, leg_timeout_ns=1_000, legging_action="hedge", hedge_offset_ticks=3)
    a, b = _legged_entry(desk)
    assert desk.strategy.on_timer(999) == []  # not yet
    [hedge] = desk.send(desk.strategy.on_timer(1_000), 1_000)
    # 1.0 * 100 * 40/50 = 80 BBB, sold at bid 49.99 minus 3 ticks, IOC
    assert (hedge.symbol, hedge.side, hedge.quantity, hedge.price) == (
        "BBB",
        Side.SELL,
        80,
        499_600,
    )
    assert hedge.time_in_force is TimeInForce.IOC
    assert hedge.purpose is OrderPurpose.ENTRY  # completes the entry
    desk.fill(hedge)
    assert desk.positions() == (100, -80)
    assert desk.counters.legging_events == 1 and desk.counters.hedges == 1
    assert desk.strategy.on_timer(5_000) == []  # settled


def test_legging_unwind_closes_the_filled_leg(venue):
    desk = Desk(venue, leg_timeout_ns=1_000, legging_action="unwind")
    _legged_entry(desk)
    [unwind] = desk.send(desk.strategy.on_timer(1_500), 1_500)
    assert (unwind.symbol, unwind.side, unwind.quantity) == ("AAA", Side.SELL, 100)
    assert unwind.purpose is OrderPurpose.UNWIND
    desk.fill(unwind)
    assert desk.positions() == (0, 0) and desk.counters.unwinds == 1
    # the signal is flat again: a fresh entry is possible
    assert len(desk.strategy.on_z("AAA/BBB", -2.5, 1.0, 3_000)) == 2


def test_legging_reprice_cancels_a_resting_leg_then_escalates_to_hedge(venue):
    desk = Desk(
        venue, order_style="limit", price_reference="near", leg_timeout_ns=1_000,
        legging_action="reprice", max_reprices=1,
    )  # fmt: skip
    a, b = desk.send(desk.strategy.on_z("AAA/BBB", -2.5, 1.0, 0), 0)
    assert b.time_in_force is TimeInForce.DAY and b.price == 500_100  # sells at the ask
    desk.fill(a)
    desk.quote(40.00, 49.90)  # BBB moved down while our offer rested
    assert desk.send(desk.strategy.on_timer(1_000), 1_000) == []  # cancel the resting leg
    first = desk.send(desk.strategy.on_timer(1_001), 1_001)  # cancelled: re-send it
    assert [(x.symbol, x.side, x.quantity, x.price) for x in first] == [
        ("BBB", Side.SELL, 80, 499_100)
    ]
    assert desk.oms.order(b.cl_ord_id + ".1").status.name == "CANCELED"
    assert desk.send(desk.strategy.on_timer(2_000), 2_000) == []  # cancel the repriced one
    second = desk.send(desk.strategy.on_timer(2_001), 2_001)  # reprices used up: hedge
    assert [(x.side, x.price, x.time_in_force) for x in second] == [
        (Side.SELL, 498_700, TimeInForce.IOC)
    ]
    assert desk.counters.reprices == 1 and desk.counters.hedges == 1
    assert desk.counters.legging_events == 1


def test_entry_with_no_fill_at_all_is_abandoned(venue):
    desk = Desk(venue, order_style="limit", leg_timeout_ns=1_000)
    desk.send(desk.strategy.on_z("AAA/BBB", -2.5, 1.0, 0), 0)
    out = desk.send(desk.strategy.on_timer(1_000), 1_000)  # both cancelled, nothing sent
    assert out == [] and desk.counters.entries_abandoned == 1
    assert desk.counters.legging_events == 0 and desk.strategy.pairs["AAA/BBB"].settled
    assert len(desk.strategy.on_z("AAA/BBB", -2.5, 1.0, 2_000)) == 2


def test_refused_intents_halt_and_bad_config(venue):
    desk = Desk(venue)
    a, b = desk.strategy.on_z("AAA/BBB", -2.5, 1.0, 0)
    desk.strategy.on_intent_refused(a)  # e.g. the risk gate said no
    desk.strategy.on_intent_refused(b)
    assert desk.strategy.on_timer(1_000_000_000) == []  # the leg timeout abandons the entry
    assert desk.strategy.pairs["AAA/BBB"].settled and desk.counters.entries_abandoned == 1
    assert desk.strategy.on_timer(10**12) == []
    with pytest.raises(ValueError, match="legging_action 'pray'"):
        PairStrategyConfig("AAA", "BBB", legging_action="pray")
    with pytest.raises(ValueError, match="does not match"):
        PairsStrategy([(PairStrategyConfig("AAA", "CCC"), desk.model)])


def test_model_update_prices_each_leg_when_taken_and_matches_on_z(venue, make_counterparty):
    """The engine's path (`on_model_update`, lazy) and `on_z` with the model's values give
    the same actions at every quote; the second leg is priced only once the first is taken."""
    lazy, eager = Desk(venue), Desk(make_counterparty("V1"))
    pairs_sent = 0
    for t in range(1, 400):
        noise = 0.02 * math.sin(t * 0.7) + (0.15 if t % 97 == 0 else 0.0)
        mids = (40.0 + 0.01 * t + noise, 50.0 + 0.0125 * t)
        for desk in (lazy, eager):
            desk.quote(*mids, t)
            for symbol, mid in zip(("AAA", "BBB"), mids, strict=True):
                price = round(mid * 10_000)
                desk.model.on_top_of_book(TopOfBook(symbol, t, price - 100, 500, price + 100, 500))
        leg_b = lazy.strategy.pairs["AAA/BBB"].leg_b
        expected = (
            eager.strategy.on_z("AAA/BBB", eager.model.z, eager.model.beta, t)
            if eager.model.ready
            else []
        )
        taken = []
        for action in lazy.strategy.on_model_update("AAA/BBB", t):
            if not taken and len(expected) == 2:  # both legs to send: B is not priced yet
                assert leg_b.working is None and leg_b.armed
            taken.append(action)
        assert taken == expected
        pairs_sent += len(taken) == 2
        for desk, sent in ((lazy, taken), (eager, expected)):
            for intent in desk.send(sent, t):
                desk.fill(intent, t=t)
    assert pairs_sent >= 2  # the walk crossed the bands: real orders were compared
