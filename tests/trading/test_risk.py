from __future__ import annotations

import dataclasses

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from calarb.core.events import TopOfBook
from calarb.core.order_events import VenueOrder
from calarb.core.types import Side
from calarb.trading.oms import OrderManager
from calarb.trading.orders import OrderIntent, OrderPurpose, OrdType, TimeInForce
from calarb.trading.portfolio import Portfolio
from calarb.trading.risk import (
    RiskGate,
    RiskLimits,
    RiskReason,
    TradingState,
    deleveraging_intents,
    engage_kill_switch,
)

LIMITS = RiskLimits(
    max_order_quantity=1_000,
    max_order_notional=80_000 * 10_000,
    collar_bps=100,
    collar_min=500,
    max_position=2_000,
    position_limits={"BBB": 500},
    max_gross_exposure=300_000 * 10_000,
    max_net_exposure=150_000 * 10_000,
    max_daily_loss=5_000 * 10_000,
    max_orders_per_window=5,
    rate_window_ns=1_000_000_000,
    max_open_orders=4,
)


def book(symbol, bid, ask, size=1_000):
    return TopOfBook(symbol, 0, bid, size, ask, size)


def setup(limits=LIMITS):
    portfolio = Portfolio()
    gate = RiskGate(limits, portfolio)
    oms = OrderManager([portfolio, gate])
    for symbol, bid, ask in (("AAA", 999_900, 1_000_100), ("BBB", 499_900, 500_100)):
        top = book(symbol, bid, ask)
        gate.on_top_of_book(top)
        portfolio.on_top_of_book(top)
    return gate, oms, portfolio


def intent(cl, symbol="AAA", side=Side.BUY, qty=100, price=1_000_100, **kw):
    return OrderIntent(cl, symbol, side, qty, price, **kw)


def send(oms, order_intent, venue="V1"):
    child = VenueOrder(
        f"{order_intent.cl_ord_id}.1",
        order_intent.cl_ord_id,
        venue,
        order_intent.symbol,
        order_intent.side,
        order_intent.quantity,
        order_intent.price,
        OrdType.LIMIT,
        TimeInForce.DAY,
    )
    oms.submit(child, 0)
    return child


def test_each_reason_has_a_check_and_a_counter():
    gate, oms, portfolio = setup()
    t = 10**9
    assert gate.check(intent("ok"), t) is RiskReason.PASSED
    assert gate.check(intent("ok"), t) is RiskReason.DUPLICATE_CLORDID
    assert gate.check(intent("q0", qty=0), t) is RiskReason.INVALID_ORDER
    assert gate.check(intent("big", qty=1_001), t) is RiskReason.MAX_ORDER_QUANTITY
    # ask 100.01; 1% collar = 1.0001 -> a buy at 101.02 is beyond, 101.01 is inside
    assert gate.check(intent("fat", price=1_010_200), t) is RiskReason.PRICE_COLLAR
    assert gate.check(intent("fat2", side=Side.SELL, price=989_800), t) is RiskReason.PRICE_COLLAR
    assert gate.check(intent("nobook", symbol="ZZZ"), t) is RiskReason.NO_REFERENCE_PRICE
    assert gate.check(intent("notional", qty=900), t) is RiskReason.MAX_ORDER_NOTIONAL
    assert gate.check(intent("pos", symbol="BBB", qty=501, price=500_100), t) is (
        RiskReason.POSITION_LIMIT
    )
    gate.halt("AAA")
    assert gate.check(intent("halted"), t) is RiskReason.HALTED
    gate.resume("AAA")
    for k in range(3):
        assert gate.check(intent(f"open{k}"), t) is RiskReason.PASSED
    assert gate.open_orders == 4
    assert gate.check(intent("open4"), t) is RiskReason.MAX_OPEN_ORDERS
    counts = gate.rejection_counts()
    assert counts["PASSED"] == 4 and counts["PRICE_COLLAR"] == 2
    for reason in (
        "DUPLICATE_CLORDID",
        "INVALID_ORDER",
        "MAX_ORDER_QUANTITY",
        "HALTED",
        "NO_REFERENCE_PRICE",
        "MAX_ORDER_NOTIONAL",
        "POSITION_LIMIT",
        "MAX_OPEN_ORDERS",
    ):
        assert counts[reason] == 1, reason


def test_rate_throttle_is_a_sliding_window():
    limits = dataclasses.replace(
        LIMITS,
        max_open_orders=100,
        max_position=100_000,
        max_gross_exposure=10**15,
        max_net_exposure=10**15,
    )
    gate, _, _ = setup(limits)
    times = [0, 100, 200, 300, 400]
    for k, t in enumerate(times):
        assert gate.check(intent(f"r{k}", qty=1), t) is RiskReason.PASSED
    assert gate.check(intent("r5", qty=1), 999_999_999) is RiskReason.RATE_THROTTLE
    # a rejected order does not use the window; at t=1e9 the order of t=0 has left it
    assert gate.check(intent("r6", qty=1), 1_000_000_000) is RiskReason.PASSED
    assert gate.check(intent("r7", qty=1), 1_000_000_050) is RiskReason.RATE_THROTTLE
    assert gate.check(intent("r8", qty=1), 1_000_000_100) is RiskReason.PASSED
    assert gate.orders_in_window(1_000_000_100) == 5


def test_exposure_limits_count_open_orders():
    limits = dataclasses.replace(
        LIMITS, max_open_orders=100, max_orders_per_window=1000, max_order_notional=10**13
    )
    gate, _, _ = setup(limits)
    # AAA marked at 100.00: 800 shares = 80,000 of exposure; limits 300,000 gross, 150,000 net
    assert gate.check(intent("a", qty=800), 0) is RiskReason.PASSED
    assert gate.check(intent("b", qty=800), 0) is RiskReason.NET_EXPOSURE  # 160,000 worst case
    sell = intent("s", side=Side.SELL, qty=800, price=999_900)
    assert gate.check(sell, 0) is RiskReason.PASSED  # worst cases +800 / -800: gross unchanged
    assert gate.gross_exposure == 800 * 1_000_000
    assert (gate.net_high, gate.net_low) == (800 * 1_000_000, -800 * 1_000_000)
    assert gate.check(intent("c", "BBB", qty=500, price=500_100), 0) is RiskReason.PASSED
    assert gate.gross_exposure == 800 * 1_000_000 + 500 * 500_000
    tight = dataclasses.replace(limits, max_gross_exposure=100_000 * 10_000)
    gate2, _, _ = setup(tight)
    assert gate2.check(intent("a", qty=800), 0) is RiskReason.PASSED
    assert gate2.check(intent("c", "BBB", qty=500, price=500_100), 0) is RiskReason.GROSS_EXPOSURE
    assert gate2.rejection_counts() == {"PASSED": 1, "GROSS_EXPOSURE": 1}


def test_fills_move_reservations_and_releases_free_them(venue):
    gate, oms, portfolio = setup()
    order_intent = intent("P1", qty=300)
    assert gate.check(order_intent, 0) is RiskReason.PASSED
    child = send(oms, order_intent)
    oms.on_execution_report(venue.ack(child), 1)
    oms.on_execution_report(venue.fill(child.cl_ord_id, 100), 2)
    assert gate.symbol_state("AAA") | {} == {
        "position": 100,
        "open_buy": 200,
        "open_sell": 0,
        "mark": 1_000_000,
        "limit": 2_000,
    }
    assert portfolio.quantity("AAA") == 100
    oms.on_execution_report(venue.cancel(oms.request_cancel(child.cl_ord_id, 3)), 4)
    assert gate.symbol_state("AAA")["open_buy"] == 0 and gate.open_orders == 0
    assert gate.gross_exposure == 100 * 1_000_000


def test_release_of_unrouted_quantity():
    gate, _, _ = setup()
    order_intent = intent("P1", qty=300)
    gate.check(order_intent, 0)
    gate.release(order_intent, 300)
    assert gate.open_orders == 0 and gate.gross_exposure == 0


def test_kill_switch_cancels_everything_and_flattens(venue):
    gate, oms, portfolio = setup()
    for k, side in enumerate((Side.BUY, Side.SELL)):
        order_intent = intent(
            f"P{k}", side=side, qty=200, price=1_000_100 if side is Side.BUY else 999_900
        )
        assert gate.check(order_intent, 0) is RiskReason.PASSED
        child = send(oms, order_intent)
        oms.on_execution_report(venue.ack(child), 1)
    oms.on_execution_report(venue.fill("P0.1", 150), 2)
    result = engage_kill_switch(gate, oms, 5, reason="operator", flatten=True)
    assert sorted(c.orig_cl_ord_id for c in result.cancels) == ["P0.1", "P1.1"]
    assert gate.state is TradingState.HALTED and gate.state_reason == "operator"
    [flat] = result.flatten
    assert (flat.symbol, flat.side, flat.quantity, flat.price) == ("AAA", Side.SELL, 150, 999_900)
    assert flat.reduce_only and flat.time_in_force is TimeInForce.IOC
    assert flat.purpose is OrderPurpose.FLATTEN
    assert gate.check(intent("new"), 6) is RiskReason.KILL_SWITCH
    assert gate.check(flat, 6) is RiskReason.PASSED  # reduce-only passes the kill switch
    too_much = flat._replace(cl_ord_id="x", quantity=500)
    assert gate.check(too_much, 6) is RiskReason.REDUCE_ONLY_INCREASES
    gate.reset_kill()
    assert gate.check(intent("after"), 7) is RiskReason.PASSED


def test_daily_loss_blocks_new_risk_and_kills(venue):
    gate, oms, portfolio = setup()
    order_intent = intent("P1", qty=1_000, price=1_000_100)
    limits = dataclasses.replace(LIMITS, max_order_notional=10**13)
    gate.limits = limits
    assert gate.check(order_intent, 0) is RiskReason.PASSED
    child = send(oms, order_intent)
    oms.on_execution_report(venue.ack(child), 1)
    oms.on_execution_report(venue.fill(child.cl_ord_id, 1_000, 1_000_000), 2)
    crash = book("AAA", 939_900, 940_100)  # -6.00 a share: -6,000 > 5,000 limit
    gate.on_top_of_book(crash)
    portfolio.on_top_of_book(crash)
    assert portfolio.net_pnl == -6_000 * 10_000
    assert [b.reason for b in gate.breaches()] == [RiskReason.DAILY_LOSS]
    assert gate.check(intent("more", price=940_100), 3) is RiskReason.DAILY_LOSS
    assert gate.state is TradingState.HALTED and gate.state_reason == "daily loss limit"
    [flat] = deleveraging_intents(gate, 4)
    assert (flat.side, flat.quantity, flat.price) == (Side.SELL, 1_000, 939_900)
    assert gate.check(flat, 4) is RiskReason.PASSED


def test_deleveraging_after_mark_move(venue):
    limits = dataclasses.replace(LIMITS, max_order_notional=10**13, max_open_orders=10)
    gate, oms, portfolio = setup(limits)
    order_intent = intent("P1", qty=1_000)
    assert gate.check(order_intent, 0) is RiskReason.PASSED
    child = send(oms, order_intent)
    oms.on_execution_report(venue.ack(child), 1)
    oms.on_execution_report(venue.fill(child.cl_ord_id, 1_000, 1_000_000), 2)
    rally = book("AAA", 1_999_900, 2_000_100)  # net exposure now 200,000 > 150,000
    gate.on_top_of_book(rally)
    portfolio.on_top_of_book(rally)
    assert [b.reason for b in gate.breaches()] == [RiskReason.NET_EXPOSURE]
    [cut] = deleveraging_intents(gate, 3, target=0.9)
    # down to 135,000 of net at 200.00 = 675 shares: sell 325
    assert (cut.side, cut.quantity, cut.reduce_only) == (Side.SELL, 325, True)
    assert cut.purpose is OrderPurpose.DELEVERAGE
    assert gate.check(cut, 3) is RiskReason.PASSED


def test_trading_state_moves_by_its_table_and_keeps_the_reason():
    gate = RiskGate(LIMITS, state=TradingState.WARMING_UP)
    for symbol, bid, ask in (("AAA", 999_900, 1_000_100),):
        gate.on_top_of_book(book(symbol, bid, ask))
    assert not gate.reset_kill() and gate.state is TradingState.WARMING_UP
    assert gate.start_trading("ready") and gate.state is TradingState.ACTIVE
    assert gate.state_reason == "ready" and not gate.start_trading("again")
    assert gate.start_reducing("breach") and gate.state is TradingState.REDUCING
    assert not gate.start_trading("no") and gate.state_reason == "breach"
    # the gate refuses by state only when HALTED (the engine stops asking the strategy)
    assert gate.check(intent("while reducing"), 0) is RiskReason.PASSED
    assert gate.kill("first") and not gate.kill("second")
    assert gate.state is TradingState.HALTED and gate.state_reason == "first"
    assert gate.check(intent("while halted"), 0) is RiskReason.KILL_SWITCH
    assert not gate.start_reducing("stopping") and gate.state is TradingState.HALTED
    assert gate.reset_kill() and gate.state is TradingState.ACTIVE and gate.state_reason == ""
    assert gate.state_changes == 4


def test_rebuild_after_restart(venue):
    gate, oms, portfolio = setup()
    order_intent = intent("P1", qty=300)
    gate.check(order_intent, 0)
    child = send(oms, order_intent)
    oms.on_execution_report(venue.ack(child), 1)
    oms.on_execution_report(venue.fill(child.cl_ord_id, 100), 2)
    fresh = RiskGate(LIMITS, portfolio)
    fresh.on_top_of_book(book("AAA", 999_900, 1_000_100))
    fresh.rebuild(oms.open_orders(), {"AAA": portfolio.quantity("AAA")}, oms.parent_ids())
    assert fresh.symbol_state("AAA") == gate.symbol_state("AAA")
    assert fresh.gross_exposure == gate.gross_exposure and fresh.open_orders == 1
    assert fresh.check(order_intent, 3) is RiskReason.DUPLICATE_CLORDID


def test_check_replace_allows_reprice_and_reduce_only(venue):
    gate, oms, _ = setup()
    order_intent = intent("P1", qty=300)
    gate.check(order_intent, 0)
    child = send(oms, order_intent)
    record = oms.order(child.cl_ord_id)
    assert gate.check_replace(record, 200, 1_000_000) is RiskReason.PASSED
    assert gate.check_replace(record, 400, 1_000_000) is RiskReason.INVALID_ORDER
    assert gate.check_replace(record, 300, 1_100_000) is RiskReason.PRICE_COLLAR


# ----------------------------------------------------------------------------- property test
PROPERTY_LIMITS = RiskLimits(
    max_order_quantity=400,
    max_order_notional=10**12,
    collar_bps=200,
    collar_min=0,
    max_position=600,
    position_limits={"BBB": 300},
    max_gross_exposure=55_000 * 10_000,
    max_net_exposure=45_000 * 10_000,
    max_daily_loss=10**12,
    max_orders_per_window=4,
    rate_window_ns=1_000_000,
    max_open_orders=3,
)
MARKS = {"AAA": 1_000_000, "BBB": 500_000, "CCC": 2_000_000}

PRICE_OFFSETS = st.one_of(st.integers(-20, 20), st.integers(-300, 300))  # in ticks
ORDER_SIZES = st.sampled_from([1, 10, 40, 100, 150, 250, 320])
operation = st.one_of(
    st.tuples(
        st.just("order"),
        st.sampled_from(sorted(MARKS)),
        st.sampled_from([1, -1]),
        ORDER_SIZES,
        PRICE_OFFSETS,
    ),
    st.tuples(
        st.just("order"),
        st.sampled_from(sorted(MARKS)),
        st.sampled_from([1, -1]),
        ORDER_SIZES,
        PRICE_OFFSETS,
    ),
    st.tuples(st.just("fill"), st.integers(0, 50), st.integers(1, 450)),
    st.tuples(st.just("cancel"), st.integers(0, 50)),
    st.tuples(st.just("wait"), st.integers(0, 400_000)),
)


@settings(
    max_examples=500,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(st.lists(operation, min_size=1, max_size=80))
def test_no_limit_is_ever_exceeded(make_counterparty, operations):
    venue = make_counterparty("V1")
    portfolio = Portfolio()
    gate = RiskGate(PROPERTY_LIMITS, portfolio)
    oms = OrderManager([portfolio, gate])
    for symbol, mark in MARKS.items():
        gate.on_top_of_book(TopOfBook(symbol, 0, mark - 100, 500, mark + 100, 500))
    now = 0
    accepted_times: list[int] = []
    count = 0
    for op in operations:
        if op[0] == "order":
            _, symbol, sign, qty, offset = op
            side = Side(sign)
            count += 1
            order_intent = OrderIntent(f"I{count}", symbol, side, qty, MARKS[symbol] + offset * 100)
            if gate.check(order_intent, now) is RiskReason.PASSED:
                accepted_times.append(now)
                child = send(oms, order_intent)
                oms.on_execution_report(venue.ack(child), now)
        elif op[0] == "fill":
            open_orders = oms.open_orders()
            if open_orders:
                record = open_orders[op[1] % len(open_orders)]
                shares = min(op[2], record.leaves_qty)
                oms.on_execution_report(venue.fill(record.cl_ord_id, shares), now)
        elif op[0] == "cancel":
            open_orders = oms.open_orders()
            if open_orders:
                request = oms.request_cancel(open_orders[op[1] % len(open_orders)].cl_ord_id, now)
                if request is not None:
                    oms.on_execution_report(venue.cancel(request), now)
        else:
            now += op[1]
        # Invariants, recomputed from scratch from the OMS and the portfolio.
        gross = net_high = net_low = 0
        for symbol, mark in MARKS.items():
            position = portfolio.quantity(symbol)
            buys = sum(o.leaves_qty for o in oms.open_orders(symbol) if o.side is Side.BUY)
            sells = sum(o.leaves_qty for o in oms.open_orders(symbol) if o.side is Side.SELL)
            high, low = position + buys, position - sells
            limit = PROPERTY_LIMITS.position_limits.get(symbol, PROPERTY_LIMITS.max_position)
            assert -limit <= low and high <= limit
            gross += max(abs(high), abs(low)) * mark
            net_high += high * mark
            net_low += low * mark
        assert gross <= PROPERTY_LIMITS.max_gross_exposure
        assert -PROPERTY_LIMITS.max_net_exposure <= net_low
        assert net_high <= PROPERTY_LIMITS.max_net_exposure
        assert gross == gate.gross_exposure
        parents = {o.parent_id for o in oms.open_orders()}
        assert len(parents) == gate.open_orders <= PROPERTY_LIMITS.max_open_orders
        window = PROPERTY_LIMITS.rate_window_ns
        for start in accepted_times:
            in_window = sum(1 for t in accepted_times if start <= t < start + window)
            assert in_window <= PROPERTY_LIMITS.max_orders_per_window


@pytest.mark.parametrize("symbol", ["AAA"])
def test_symbol_state_unknown_symbol_is_flat(symbol):
    gate, _, _ = setup()
    assert gate.symbol_state("NEW")["position"] == 0
