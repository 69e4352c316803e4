"""The engine closes the loop against two in-process simulated venues.

Each venue is a real MatchingEngine with seeded background traders around a cointegrated
pair (AAA follows BBB with log hedge ratio 0.8); its book changes go out as ITCH 5.0 bytes
(ItchPublisher) into the engine's ItchBookFeed, orders and reports cross a one-way latency
on the SimulatedClock's event queue."""

from __future__ import annotations

import dataclasses
from collections import defaultdict

import pytest

from calarb.backtest.simulated_venue import SimulatedVenue
from calarb.core.clock import LiveClock, SimulatedClock
from calarb.core.events import TopOfBook
from calarb.core.order_events import VenueOrder
from calarb.core.orders import OrdType, TimeInForce
from calarb.core.scheduler import EventScheduler
from calarb.core.types import Side
from calarb.model.hedge import OlsHedge
from calarb.model.live import PairModel
from calarb.model.signal import SignalRules
from calarb.ops.latency import LatencyRecorder
from calarb.trading.engine import TradingEngine, consolidated_top
from calarb.trading.orders import Liquidity, OrderPurpose, OrdStatus, VenueFees
from calarb.trading.risk import RiskLimits, TradingState
from calarb.trading.strategy import PairsStrategy, PairStrategyConfig
from calarb.venue.matching import MatchingEngine
from calarb.venue.synthetic import BackgroundTraders, FairValueProcess, two_symbol_market

TRUE_RATIO = 0.8
FEES = {"V1": VenueFees(taker=30, maker=-20), "V2": VenueFees(taker=25, maker=-15)}
LIMITS = RiskLimits(max_position=1_000, max_order_quantity=500)
STEP_NS = 100_000_000


def simulate(
    seed: int,
    seconds: float,
    kill_at_s: float | None = None,
    idle_log=None,
    trading_state: TradingState = TradingState.ACTIVE,
    on_step=None,
):
    config = two_symbol_market(
        seed, hedge_ratio=TRUE_RATIO, half_life_s=10.0, spread_sd=0.0015, step_ns=STEP_NS
    )
    fair_values = FairValueProcess(config)
    clock = SimulatedClock(0)
    scheduler = EventScheduler(clock)
    recorder = LatencyRecorder(LiveClock())
    venues, traders = {}, {}
    for index, name in enumerate(FEES):
        engine = MatchingEngine(config.instruments())
        traders[name] = BackgroundTraders(engine, config, seed * 10 + index, name)
        venues[name] = SimulatedVenue(
            name, engine, scheduler, order_latency_ns=40_000 + 20_000 * index, recorder=recorder
        )
    model = PairModel("AAA", "BBB", OlsHedge(), zscore_halflife=3_000)
    strategy = PairsStrategy(
        [
            (
                PairStrategyConfig(
                    "AAA", "BBB", rules=SignalRules(1.5, 0.3, 4.0, 120_000_000_000), size=200,
                    limit_offset_ticks=1, cooldown_ns=2_000_000_000, leg_timeout_ns=500_000_000,
                    min_observations=200,
                ),
                model,
            )
        ]
    )  # fmt: skip
    trading = TradingEngine(
        clock, strategy, venues, fees=FEES, risk_limits=LIMITS, recorder=recorder,
        true_hedge_ratios={"AAA/BBB": TRUE_RATIO}, trading_state=trading_state,
    )  # fmt: skip
    for name, venue in venues.items():
        venue.connect(trading, trading.on_market_data)
        venue.start_of_day(0)
        traders[name].act(0, fair_values)
        venue.pump(0)

    def timer() -> None:
        if idle_log is None:
            trading.on_timer()
            return
        idle = trading.clock.monotonic_ns() < trading.timer_idle_until()
        before = (trading.orders_sent, trading.cancels_sent, trading.risk.state)
        trading.on_timer()
        idle_log.append((idle, before != (trading.orders_sent, trading.cancels_sent,
                                          trading.risk.state)))  # fmt: skip

    worst_position = 0
    for _ in range(int(seconds * 1e9) // STEP_NS):
        now = fair_values.now_ns + STEP_NS
        scheduler.run_until(now)
        fair_values.step()
        for name, venue in venues.items():
            traders[name].act(now, fair_values)
            venue.pump(now)
        scheduler.schedule(now + 1_000_000, timer)
        if (
            kill_at_s is not None
            and now >= kill_at_s * 1e9
            and trading.risk.state is not TradingState.HALTED
            and any(p.quantity for p in trading.portfolio.positions.values())
        ):  # kill while a position is open, to see it flattened
            trading.kill("test", flatten=True)
        if on_step is not None:
            on_step(trading, now)
        worst_position = max(
            [worst_position] + [abs(p.quantity) for p in trading.portfolio.positions.values()]
        )
    scheduler.run_until(fair_values.now_ns + 1_000_000_000)
    return trading, venues, worst_position


@pytest.fixture(scope="module")
def run():
    return simulate(seed=8, seconds=150)


def test_loop_closes_orders_fills_and_model(run):
    trading, venues, worst_position = run
    summary = trading.summary()
    assert summary["orders_sent"] > 50 and summary["fills"] > 30
    assert summary["orders_sent"] == sum(v.orders_received for v in venues.values())
    assert summary["legging_events"] > 0 and summary["strategy"]["entries"] > 5
    assert not summary["oms_anomalies"]
    estimated = summary["hedge_ratios"]["AAA/BBB"]["estimated"]
    assert summary["hedge_ratios"]["AAA/BBB"]["true"] == TRUE_RATIO
    assert abs(estimated - TRUE_RATIO) < 0.08
    # every fill went back into the model
    model = trading.strategy.pairs["AAA/BBB"].model
    assert len(model.fills) == summary["fills"]
    # no risk limit exceeded, none breached now
    assert worst_position <= LIMITS.max_position and trading.risk.breaches() == []
    assert all(record.quantity <= LIMITS.max_order_quantity for record in trading.oms.orders())
    assert trading.oms.open_count == 0 or all(
        record.status is not OrdStatus.PENDING_NEW for record in trading.oms.open_orders()
    )
    for key in ("tick_to_trade_us", "stages_us", "pnl", "positions", "rejects"):
        assert key in summary
    assert summary["tick_to_trade_us"]["count"] > 0
    assert summary["tick_to_trade_us"]["p50"] <= summary["tick_to_trade_us"]["p99"]
    assert {"decoded", "book_updated", "model_updated", "signal", "risk_passed", "routed",
            "fix_encoded", "written"} <= set(summary["stages_us"])  # fmt: skip


def test_positions_and_pnl_match_an_independent_recomputation(run):
    trading, _, _ = run
    quantity = defaultdict(int)
    cost = defaultdict(float)  # average cost method, floats: an independent implementation
    realized = 0.0
    fees = 0
    for fill in trading.fills:
        signed = fill.quantity if fill.side is Side.BUY else -fill.quantity
        held = quantity[fill.symbol]
        if held and (held > 0) != (signed > 0):
            closed = min(abs(signed), abs(held))
            average = cost[fill.symbol] / held
            realized += (fill.price - average) * closed * (1 if held > 0 else -1)
            cost[fill.symbol] -= average * closed * (1 if held > 0 else -1)
            quantity[fill.symbol] = held + (closed if held < 0 else -closed)
            rest = abs(signed) - closed
            if rest:
                quantity[fill.symbol] += rest if signed > 0 else -rest
                cost[fill.symbol] += fill.price * (rest if signed > 0 else -rest)
        else:
            quantity[fill.symbol] = held + signed
            cost[fill.symbol] += fill.price * signed
        rates = FEES[fill.venue]
        fees += fill.quantity * (rates.maker if fill.liquidity is Liquidity.ADDED else rates.taker)
    portfolio = trading.portfolio
    for symbol, position in portfolio.positions.items():
        assert position.quantity == quantity[symbol]
        # the OMS's own order records agree too
        records = [r for r in trading.oms.orders() if r.symbol == symbol]
        assert position.quantity == sum(int(r.side) * r.cum_qty for r in records)
    assert portfolio.realized == pytest.approx(realized, abs=len(trading.fills))
    assert portfolio.fees == fees
    unrealized = sum(
        portfolio.positions[s].mark * q - cost[s]
        for s, q in quantity.items()
        if s in portfolio.positions
    )
    assert portfolio.unrealized == pytest.approx(unrealized, abs=len(trading.fills))
    summary = trading.summary()
    assert summary["pnl"]["fees"] == fees / 10_000
    assert summary["positions"] == {s: quantity[s] for s in summary["positions"]}


def test_same_seed_gives_the_same_orders(run):
    def orders(engine):
        return [
            (r.created_ns, r.cl_ord_id, r.venue, r.symbol, r.side, r.quantity, r.price, r.cum_qty)
            for r in engine.oms.orders()
        ]

    again, _, _ = simulate(seed=8, seconds=150)
    assert orders(again) == orders(run[0]) and len(orders(again)) > 50
    assert [f.as_tuple() for f in again.fills] == [f.as_tuple() for f in run[0].fills]


def test_kill_switch_cancels_flattens_and_halts():
    trading, _, _ = simulate(seed=9, seconds=60, kill_at_s=20)
    summary = trading.summary()
    assert summary["kill_switch"] == {"engaged": True, "reason": "test"}
    assert trading.risk.state is TradingState.HALTED and trading.risk.state_reason == "test"
    assert trading.oms.open_count == 0
    flatten = [r for r in trading.oms.orders() if r.parent_id.startswith("KILL")]
    assert flatten and all(r.time_in_force.name == "IOC" for r in flatten)
    assert all(r.purpose is OrderPurpose.FLATTEN for r in flatten)
    killed_at = min(r.created_ns for r in flatten)
    assert all(
        r.parent_id.startswith("KILL") for r in trading.oms.orders() if r.created_ns > killed_at
    )
    assert "KILL_SWITCH" not in summary["rejects"]  # the strategy halted: it tried nothing
    flat_or_reduced = [abs(q) for q in summary["positions"].values()]
    assert sum(flat_or_reduced) < sum(r.quantity for r in flatten)


def test_strategy_is_not_asked_while_warming_up():
    trading, _, _ = simulate(seed=8, seconds=20, trading_state=TradingState.WARMING_UP)
    assert trading.ticks_to_model > 0 and trading.strategy.totals()["signals"] == 0
    assert trading.orders_sent == 0 and trading.summary()["kill_switch"]["engaged"] is False


def test_a_post_trade_breach_reduces_with_deleveraging_orders():
    """A breach moves the trading state to REDUCING: deleveraging orders (told apart by
    their purpose) and nothing from the strategy from then on."""
    seen = {}

    def tighten(trading, now):
        positions = [p.quantity for p in trading.portfolio.positions.values()]
        if "at" not in seen and now >= 20e9 and any(positions):
            seen["at"] = now
            trading.risk.limits = dataclasses.replace(LIMITS, max_gross_exposure=1)

    trading, _, _ = simulate(seed=8, seconds=40, on_step=tighten)
    risk = trading.risk
    assert risk.state is TradingState.REDUCING
    assert risk.state_reason == "post-trade limit breach: GROSS_EXPOSURE"
    later = [r for r in trading.oms.orders() if r.created_ns > seen["at"]]
    assert later and all(r.purpose is OrderPurpose.DELEVERAGE for r in later)
    assert all(r.parent_id.startswith("DELEV") for r in later)  # the ids keep their text
    assert trading.deleveraging_orders == len({r.parent_id for r in later})
    strategy_orders = [r for r in trading.oms.orders() if r.created_ns <= seen["at"]]
    assert strategy_orders and {r.purpose for r in strategy_orders} <= {
        OrderPurpose.ENTRY,
        OrderPurpose.EXIT,
        OrderPurpose.UNWIND,
    }
    assert trading.summary()["kill_switch"] == {"engaged": False, "reason": ""}


def test_reducing_cancels_the_strategys_working_orders_and_keeps_manual_ones():
    """Once REDUCING, nothing asks the strategy: its working orders (resting limit orders
    with nothing left to time them out) are cancelled at the venue; a manual order stays."""
    trading, venues, _ = simulate(seed=8, seconds=5)
    now = trading.clock.monotonic_ns()
    top = trading.consolidated["AAA"]
    resting = {
        purpose: VenueOrder(f"T{purpose.name}.1", f"T{purpose.name}", "V1", "AAA", Side.BUY,
                            10, top.bid_price // 2 // 100 * 100, OrdType.LIMIT,
                            TimeInForce.DAY, purpose=purpose)  # fmt: skip
        for purpose in (OrderPurpose.ENTRY, OrderPurpose.EXIT, OrderPurpose.MANUAL)
    }
    for order in resting.values():
        trading.oms.submit(order, now)
        venues["V1"].send_new_order(order, now)
    scheduler = venues["V1"].scheduler  # both venues', with their report latency
    scheduler.run_until(now + 1_000_000_000)
    assert {o.cl_ord_id for o in trading.oms.open_orders()} >= {"TENTRY.1", "TEXIT.1"}
    cancels = trading.cancels_sent
    assert trading.start_reducing("test")
    assert not trading.start_reducing("again")  # already REDUCING: nothing changes
    assert trading.risk.state is TradingState.REDUCING and trading.risk.state_reason == "test"
    scheduler.run_until(now + 2_000_000_000)
    assert [o.cl_ord_id for o in trading.oms.open_orders()] == ["TMANUAL.1"]
    assert trading.oms.order("TENTRY.1").status is OrdStatus.CANCELED
    assert trading.oms.order("TEXIT.1").status is OrdStatus.CANCELED
    assert trading.cancels_sent == cancels + 2


def test_timer_is_idle_exactly_when_a_tick_would_do_nothing():
    """The fast replay runs the ticks `timer_is_idle` calls idle in its kernel: an idle tick
    must never act; the run also has ticks that act (a legging timeout)."""
    log: list[tuple[bool, bool]] = []
    simulate(seed=9, seconds=40, idle_log=log)
    assert not any(acted for idle, acted in log if idle)
    assert any(acted for idle, acted in log if not idle)
    assert sum(idle for idle, _ in log) > len(log) // 2


def test_consolidated_top_of_book():
    tops = {
        "V1": TopOfBook("AAA", 1, 100, 5, 110, 7),
        "V2": TopOfBook("AAA", 1, 100, 3, 109, 2),
        "V3": TopOfBook("AAA", 1, 0, 0, 109, 4),
    }
    assert consolidated_top("AAA", 9, tops) == TopOfBook("AAA", 9, 100, 8, 109, 6)
