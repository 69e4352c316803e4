"""A restart from the journal loses nothing the strategy knew: its legs' positions, working
orders and transitions come back, later fills of old orders reach it, and the engine's fill
counters count only the new run's fills.

The first run journals a real OMS answered by the scripted FIX counterparty of conftest.py
(and, for the engine, two in-process venues with matching engines); the "crash" is simply
dropping the objects; the second run is rebuilt from the journal file."""

from __future__ import annotations

from pathlib import Path

from calarb.backtest.simulated_venue import SimulatedVenue
from calarb.core.clock import SimulatedClock
from calarb.core.events import TopOfBook
from calarb.core.order_events import VenueOrder
from calarb.core.scheduler import EventScheduler
from calarb.core.types import Side
from calarb.model.hedge import OlsHedge
from calarb.model.live import PairModel
from calarb.model.signal import SignalRules, SpreadPosition
from calarb.trading.engine import TradingEngine
from calarb.trading.journal import Journal, read_journal
from calarb.trading.live import restore_from_journal
from calarb.trading.oms import OrderManager
from calarb.trading.orders import OrderIntent, OrdType, TimeInForce
from calarb.trading.strategy import CancelOrder, PairsStrategy, PairStrategyConfig, Transition
from calarb.venue.matching import MatchingEngine
from calarb.venue.synthetic import BackgroundTraders, FairValueProcess, two_symbol_market

PAIR = "AAA/BBB"
CONFIG = {"leg_timeout_ns": 1_000, "legging_action": "hedge", "order_style": "limit"}


def new_strategy() -> PairsStrategy:
    model = PairModel("AAA", "BBB", OlsHedge())
    strategy = PairsStrategy([(PairStrategyConfig("AAA", "BBB", **CONFIG), model)])
    for symbol, price in (("AAA", 400_000), ("BBB", 500_000)):
        strategy.on_top_of_book(TopOfBook(symbol, 0, price - 100, 500, price + 100, 500))
    return strategy


class JournaledDesk:
    """Strategy + journaled OMS + scripted venue (one child per intent)."""

    def __init__(self, venue, path: Path) -> None:
        self.strategy = new_strategy()
        self.journal = Journal(path)
        self.oms = OrderManager([self.strategy], self.journal)
        self.venue = venue

    def send(self, actions, t: int) -> list[OrderIntent]:
        intents = [a for a in actions if not isinstance(a, CancelOrder)]
        for intent in intents:
            child = VenueOrder(
                intent.cl_ord_id + ".1", intent.cl_ord_id, "V1", intent.symbol, intent.side,
                intent.quantity, intent.price, intent.ord_type, intent.time_in_force, intent.tag,
            )  # fmt: skip
            self.oms.submit(child, t)
            self.oms.on_execution_report(self.venue.ack(child), t)
        return intents

    def fill(self, oms: OrderManager, intent: OrderIntent, quantity: int, t: int = 0) -> None:
        oms.on_execution_report(self.venue.fill(intent.cl_ord_id + ".1", quantity), t)


def restarted(path: Path) -> tuple[PairsStrategy, OrderManager]:
    strategy = new_strategy()
    oms = OrderManager([strategy])
    oms.replay(read_journal(path).entries)
    strategy.restore(oms.orders(), 10_000)
    return strategy, oms


def legs(strategy: PairsStrategy) -> list[tuple[int, int, str | None]]:
    state = strategy.pairs[PAIR]
    return [(leg.position, leg.target, leg.working) for leg in state.legs]


def test_a_legged_entry_resumes_and_later_fills_of_old_orders_reach_the_legs(venue, tmp_path):
    desk = JournaledDesk(venue, tmp_path / "journal.jsonl")
    a, b = desk.send(desk.strategy.on_z(PAIR, -2.5, 1.0, 0), 0)  # buy 100 AAA, sell 80 BBB
    desk.fill(desk.oms, a, 100)
    desk.fill(desk.oms, b, 30)  # crash here: B still working, 50 open
    before = legs(desk.strategy)
    assert before == [(100, 100, None), (-30, -80, b.cl_ord_id)]
    desk.journal.close()

    strategy, oms = restarted(tmp_path / "journal.jsonl")
    assert legs(strategy) == before
    state = strategy.pairs[PAIR]
    assert state.transition is Transition.ENTRY and state.signal.position is SpreadPosition.LONG
    # The rest of B fills after the restart (e.g. found by reconciliation): the leg hears it
    # and the entry settles.
    desk.fill(oms, b, 50, t=10_100)
    assert legs(strategy) == [(100, 100, None), (-80, -80, None)]
    assert strategy.on_timer(10_200) == [] and state.transition is None
    assert state.counters.legging_events == 0


def test_a_legged_entry_that_stays_legged_is_hedged_after_the_restart(venue, tmp_path):
    desk = JournaledDesk(venue, tmp_path / "journal.jsonl")
    a, b = desk.send(desk.strategy.on_z(PAIR, -2.5, 1.0, 0), 0)
    desk.fill(desk.oms, a, 100)
    desk.journal.close()

    strategy, oms = restarted(tmp_path / "journal.jsonl")
    assert legs(strategy) == [(100, 100, None), (0, -80, b.cl_ord_id)]
    assert strategy.on_timer(10_999) == []  # the leg timeout counts from the restart
    [cancel] = strategy.on_timer(11_000)
    assert cancel == CancelOrder(b.cl_ord_id, "entry timeout")
    state = strategy.pairs[PAIR]
    assert state.counters.legging_events == 1 and state.counters.hedges == 1


def test_a_single_leg_left_over_is_closed_and_a_held_pair_exits(venue, tmp_path):
    desk = JournaledDesk(venue, tmp_path / "journal.jsonl")
    a, b = desk.send(desk.strategy.on_z(PAIR, -2.5, 1.0, 0), 0)
    desk.fill(desk.oms, a, 100)
    desk.oms.on_execution_report(venue.expire(b.cl_ord_id + ".1"), 1)  # B never filled
    desk.journal.close()

    strategy, _ = restarted(tmp_path / "journal.jsonl")
    state = strategy.pairs[PAIR]
    assert state.transition is Transition.EXIT
    [close] = strategy.on_timer(10_000)
    assert (close.symbol, close.side, close.quantity, close.time_in_force) == (
        "AAA", Side.SELL, 100, TimeInForce.IOC,
    )  # fmt: skip

    # Both legs held: the restarted strategy is long and exits both legs on the exit signal.
    path = tmp_path / "held.jsonl"
    desk = JournaledDesk(venue, path)
    a, b = desk.send(desk.strategy.on_z(PAIR, -2.5, 1.0, 0), 0)
    desk.fill(desk.oms, a, 100)
    desk.fill(desk.oms, b, 80)
    desk.journal.close()
    strategy, _ = restarted(path)
    assert legs(strategy) == [(100, 100, None), (-80, -80, None)]
    assert strategy.pairs[PAIR].signal.position is SpreadPosition.LONG
    exits = strategy.on_z(PAIR, -0.2, 1.0, 20_000)
    assert [(i.symbol, i.side, i.quantity) for i in exits] == [
        ("AAA", Side.SELL, 100),
        ("BBB", Side.BUY, 80),
    ]


def test_orders_that_are_not_the_strategys_stay_out_of_its_legs(venue, tmp_path):
    path = tmp_path / "journal.jsonl"
    journal = Journal(path)
    oms = OrderManager([], journal)
    manual = VenueOrder(
        "M1.1", "M1", "V1", "AAA", Side.BUY, 10, 390_000, OrdType.LIMIT, TimeInForce.DAY, "manual"
    )
    oms.submit(manual, 0)
    oms.on_execution_report(venue.ack(manual), 0)
    oms.on_execution_report(venue.fill("M1.1", 10), 0)
    journal.close()
    strategy, _ = restarted(path)
    assert legs(strategy) == [(0, 0, None), (0, 0, None)]
    assert strategy.pairs[PAIR].transition is None


def simulated_run(journal: Journal | None, seconds: float):
    """A short run of the engine against two in-process venues (as in test_engine.py)."""
    market = two_symbol_market(3)
    fair_values = FairValueProcess(market)
    clock = SimulatedClock(0)
    scheduler = EventScheduler(clock)
    venues, traders = {}, {}
    for index, name in enumerate(("V1", "V2")):
        matching = MatchingEngine(market.instruments())
        traders[name] = BackgroundTraders(matching, market, 40 + index, name)
        venues[name] = SimulatedVenue(name, matching, scheduler, order_latency_ns=50_000)

    def build(journal: Journal | None) -> TradingEngine:
        model = PairModel("AAA", "BBB", OlsHedge(), zscore_halflife=1_000)
        config = PairStrategyConfig(
            "AAA", "BBB", rules=SignalRules(1.0, 0.2, 5.0), size=100, order_style="limit",
            leg_timeout_ns=300_000_000, min_observations=100,
        )  # fmt: skip
        return TradingEngine(clock, PairsStrategy([(config, model)]), venues, journal=journal)

    engine = build(journal)
    for venue in venues.values():
        venue.connect(engine, engine.on_market_data)
        venue.start_of_day(0)
    for _ in range(int(seconds * 10)):
        now = fair_values.now_ns + 100_000_000
        scheduler.run_until(now)
        fair_values.step()
        for name, venue in venues.items():
            traders[name].act(now, fair_values)
            venue.pump(now)
        scheduler.schedule(now + 1_000_000, engine.on_timer)
    scheduler.run_until(fair_values.now_ns + 50_000_000)  # stop with whatever is in flight
    return engine, build


def test_restore_from_journal_brings_back_legs_and_counts_only_new_fills(tmp_path):
    path = tmp_path / "journal.jsonl"
    journal = Journal(path)
    first, build = simulated_run(journal, seconds=40)
    journal.close()
    assert len(first.fills) > 4, "the first run should trade"
    old_legs = legs(first.strategy)

    second = build(None)
    replayed = restore_from_journal(second, read_journal(path).entries, 10**12)
    assert second.oms.state() == first.oms.state()
    assert [f.as_tuple() for f in replayed] == [f.as_tuple() for f in first.fills]
    assert second.fills == [] and second.filled_shares == 0
    assert second.summary()["fills"] == 0
    # The strategy knows what the portfolio holds, as the first run's strategy did.
    assert legs(second.strategy) == old_legs
    positions = {s: p.quantity for s, p in second.portfolio.positions.items()}
    assert [leg.position for leg in second.strategy.pairs[PAIR].legs] == [
        positions.get("AAA", 0),
        positions.get("BBB", 0),
    ]
