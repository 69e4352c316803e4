"""`LiveEngine.stop` ends with nothing open and sends nothing once it has begun, and waits for
a slow venue's answers; the summary marks what is held (`calarb run` prints mark and market
value).

The demo's stop (dashboard on, as `calarb demo` runs it) begun at a moment when the strategy
has no order open: before the fix the strategy stayed ACTIVE through the dashboard's shutdown
and the FIX logout, so a tick in that window opened an order nobody cancelled (seen as `calarb
demo` ending "not clean" on a loaded machine, where that window is longest). And on such a
machine the pure venue process answered in 3 to 5 s (its loop behind the 20x market): the stop
gave up on its cancels after 2 s and logged out, the venue's answers were held for a session
no longer there."""

from __future__ import annotations

import asyncio

import pytest
from tests.trading.test_live import InProcessVenue, until, write_config

from calarb.core.clock import LiveClock
from calarb.core.order_events import VenueOrder
from calarb.core.types import PRICE_SCALE, Side
from calarb.trading.commands import format_summary
from calarb.trading.config import load_config
from calarb.trading.live import LiveEngine
from calarb.trading.orders import OrdStatus, OrdType, TimeInForce
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
        # a position the strategy does not own, so that one is held at the end whatever it did
        top = engine.consolidated["AAA"]
        buy = VenueOrder("MANUAL1.1", "MANUAL1", "V1", "AAA", Side.BUY, 7,
                         top.ask_price + 5_000, OrdType.LIMIT, TimeInForce.IOC)  # fmt: skip
        engine.oms.submit(buy, LiveClock().monotonic_ns())
        engine.gateways["V1"].send_new_order(buy, 0)
        await until(lambda: not engine.oms.order("MANUAL1.1").is_open, 15.0, "the manual buy")
        await until(lambda: engine.oms.open_count == 0, 15.0, "a moment with nothing open")
        sent = engine.orders_sent
        await live.stop()
        assert engine.risk.state is not TradingState.ACTIVE
        assert engine.orders_sent == sent, "an order was sent after the stop began"
        assert engine.oms.open_count == 0

        summary = live.summary()
        held = {symbol: shares for symbol, shares in summary["positions"].items() if shares}
        assert held  # the manual 7 AAA at least (unless the strategy sold exactly 7)
        text = format_summary(summary)
        for symbol, shares in held.items():
            position = engine.portfolio.positions[symbol]
            mark = summary["marks"][symbol]
            assert mark == position.mark / PRICE_SCALE and mark > 0
            row = next(line.split() for line in text.splitlines() if line.split()[:1] == [symbol])
            assert row[1:] == [f"{shares:,}", f"{mark:,.2f}", f"{shares * mark:,.2f}"], row
        assert "market value" in text
    finally:
        if live._timer_task is not None:
            await live.stop()
        await venue.stop()


def test_a_stop_begun_with_nothing_open_sends_nothing_and_leaves_nothing_open(tmp_path):
    asyncio.run(asyncio.wait_for(stop_between_orders(tmp_path), 60))


class SlowVenue(InProcessVenue):
    """A venue that handles each order message `delay_s` late, as a saturated venue does."""

    delay_s = 2.5

    def on_message(self, session, message) -> None:
        loop = asyncio.get_running_loop()
        loop.call_later(self.delay_s, InProcessVenue.on_message, self, session, message)


async def stop_at_a_slow_venue(folder):
    venue = SlowVenue("V1", 11, FeedFaults())
    await venue.start()
    path = write_config(folder, [venue])  # the strategy stays warming up: this order only
    path.write_text(path.read_text().replace("min_observations = 150", "min_observations = 10000000"))
    live = LiveEngine(load_config(path))
    try:
        await live.start()
        await live.wait_ready(10.0)
        engine = live.engine
        top = engine.consolidated["AAA"]
        rest = VenueOrder("MANUAL1.1", "MANUAL1", "V1", "AAA", Side.BUY, 10,
                          (top.bid_price // 2) // 100 * 100, OrdType.LIMIT, TimeInForce.DAY)  # fmt: skip
        engine.oms.submit(rest, LiveClock().monotonic_ns())
        engine.gateways["V1"].send_new_order(rest, 0)
        await until(lambda: engine.oms.order("MANUAL1.1").status is OrdStatus.NEW, 15.0, "ack")
        await live.stop()  # timeout_s 2.0: shorter than this venue takes to answer
        assert engine.oms.order("MANUAL1.1").status is OrdStatus.CANCELED
        assert engine.oms.open_count == 0
        assert venue.gateway.stats.reports_held == 0
    finally:
        if live._timer_task is not None:
            await live.stop()
        await venue.stop()


def test_a_stop_waits_for_a_slow_venue_to_answer_its_cancels(tmp_path):
    asyncio.run(asyncio.wait_for(stop_at_a_slow_venue(tmp_path), 60))
