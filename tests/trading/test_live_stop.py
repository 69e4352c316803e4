"""`LiveEngine.stop` ends with nothing open and sends nothing once it has begun.

The demo's stop (dashboard on, as `calarb demo` runs it) begun at a moment when the strategy
has no order open: before the fix the strategy stayed ACTIVE through the dashboard's shutdown
and the FIX logout, so a tick in that window opened an order nobody cancelled (seen as `calarb
demo` ending "not clean" on a loaded machine, where that window is longest)."""

from __future__ import annotations

import asyncio

import pytest
from tests.trading.test_live import InProcessVenue, until, write_config

from calarb.trading.config import load_config
from calarb.trading.live import LiveEngine
from calarb.trading.risk import TradingState
from calarb.venue.market_data import FeedFaults

pytestmark = [pytest.mark.network, pytest.mark.slow]


async def stop_between_orders(folder):
    venue = InProcessVenue("V1", 11, FeedFaults())
    await venue.start()
    path = write_config(folder, [venue])
    # an eager strategy: it enters on small deviations and soon after its last trade
    text = path.read_text().replace("entry = 1.0", "entry = 0.3").replace("exit = 0.2", "exit = 0.1")
    path.write_text(text.replace("min_observations = 150", "min_observations = 50"))
    live = LiveEngine(load_config(path).with_dashboard())
    try:
        await live.start()
        await live.wait_ready(10.0)
        engine = live.engine
        await until(lambda: engine.orders_sent >= 4, 30.0, "the strategy to trade")
        await until(lambda: engine.oms.open_count == 0, 15.0, "a moment with nothing open")
        sent = engine.orders_sent
        await live.stop()
        assert engine.risk.state is not TradingState.ACTIVE
        assert engine.orders_sent == sent, "an order was sent after the stop began"
        assert engine.oms.open_count == 0
    finally:
        if live._timer_task is not None:
            await live.stop()
        await venue.stop()


def test_a_stop_begun_with_nothing_open_sends_nothing_and_leaves_nothing_open(tmp_path):
    asyncio.run(asyncio.wait_for(stop_between_orders(tmp_path), 60))
