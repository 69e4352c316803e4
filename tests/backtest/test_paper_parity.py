"""Parity: a paper run (the engine against the exchange simulator over real loopback FIX and
ITCH/MoldUDP64 multicast, in lock-step on the simulated clock) and a backtest over the same
generated market with the same latency models send the same orders and get the same fills."""

from __future__ import annotations

from pathlib import Path

import pytest

from calarb.backtest.config import BacktestConfig
from calarb.backtest.paper import run_paper_blocking
from calarb.backtest.synthetic import run_synthetic_backtest

pytestmark = [pytest.mark.network]

CONFIG = Path(__file__).resolve().parents[2] / "configs" / "backtest.toml"


def config(**overrides) -> BacktestConfig:
    # V1: constant latencies; V2: log-normal order latency (configs/backtest.toml), so the
    # paper run must also draw its latencies in the backtest's order.
    # 30 simulated seconds with an early first signal: enough orders to compare, quickly.
    short = {"synthetic.seconds": 30, "strategy.min_observations": 200}
    return BacktestConfig.load(CONFIG).with_overrides({**short, **overrides})


def order_sequence(result) -> list[tuple]:
    return [
        (o.cl_ord_id, o.parent_id, o.venue, o.symbol, o.side, o.quantity, o.price, o.ord_type,
         o.time_in_force, o.created_ns)
        for o in result.engine.oms.orders()
    ]  # fmt: skip


def fill_sequence(result) -> list[tuple]:
    return [
        (t, f.venue, f.cl_ord_id, f.order_id, f.exec_id, f.symbol, f.side, f.last_qty, f.last_px,
         f.liquidity, f.cum_qty, f.leaves_qty, f.ord_status)
        for t, f in result.recorder.fills
    ]  # fmt: skip


def final_states(result) -> list[tuple]:
    return [(o.cl_ord_id, o.status, o.cum_qty) for o in result.engine.oms.orders()]


@pytest.fixture(scope="module")
def backtest():
    return run_synthetic_backtest(config())


def test_paper_run_over_loopback_matches_the_backtest(backtest):
    paper = run_paper_blocking(config())
    orders = order_sequence(backtest)
    fills = fill_sequence(backtest)
    assert len(orders) >= 20 and len(fills) >= 20  # the comparison has substance
    assert {o[2] for o in orders} == {"V1", "V2"}
    assert order_sequence(paper) == orders
    assert fill_sequence(paper) == fills
    assert final_states(paper) == final_states(backtest)
    assert paper.summary["pnl_net"] == backtest.summary["pnl_net"]
    # Every feed message the engine acted on came through the multicast socket.
    for name, state in paper.venue_states.items():
        assert state["messages"] == backtest.venue_states[name]["messages"]
    engine = backtest.engine
    requests = sum(s["requests_received"] for s in paper.venue_states.values())
    assert requests == engine.orders_sent + engine.cancels_sent  # no replaces here


def test_parity_is_sensitive_to_the_latency_model(backtest):
    """The same comparison fails when the paper run's feed is 1 us slower: the order
    timestamps (and what follows from them) move."""
    slower = run_paper_blocking(config(**{"venues.default.feed_latency": 21}))
    assert order_sequence(slower) != order_sequence(backtest)
