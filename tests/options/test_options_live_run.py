"""`calarb run`'s engine (`LiveEngine`) on an options venue: the run file names the options
strategy, the options venue's ITTO feed and the underlying's venue (ITCH 5.0); the venues are
the options simulator in this process (`OptionsLiveVenue`: a real FIX acceptor on 127.0.0.1,
both feeds on MoldUDP64 multicast). The engine warms up on both feeds and FIX sessions, its
books equal the venue's (the options' and the underlying's), and an option order sent
through its risk gate, router, OMS and FIX gateway is filled by the venue and booked at 100
shares per contract."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from calarb.backtest.options_market import OptionsMarketConfig
from calarb.backtest.options_venue import OptionsLiveVenue, OptionsVenueConfig
from calarb.core.types import Side
from calarb.trading.config import load_config
from calarb.trading.live import LiveEngine
from calarb.trading.orders import OrderIntent, OrdType, TimeInForce

pytestmark = pytest.mark.network

STRATEGY = """
[engine]
journal = "run/journal.jsonl"
kill_file = "run/KILL"
pid_file = "run/calarb.pid"
timer_interval_ms = 10

[strategy]
class = "calarb.trading.options_strategy:OptionsCalibrationStrategy"
underlying = "{underlying}"
trade_date = "{trade_date}"
options = [{options}]
"""


def run_file(venue: OptionsLiveVenue, folder: Path, options: list[str]) -> Path:
    """The options strategy on the options venue (ITTO) and the underlying's (ITCH 5.0)."""
    market = venue.market
    path = folder / "options-run.toml"
    path.write_text(
        STRATEGY.format(
            underlying=market.underlying.symbol, trade_date=market.config.trade_date.isoformat(),
            options=", ".join(f'"{symbol}"' for symbol in options),
        )  # fmt: skip
        + venue.run_file_venues(str(folder / "fixstore"))
    )
    return path


async def until(condition, timeout: float, what: str) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not condition():
        if loop.time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.01)


async def scenario(folder: Path) -> None:
    venue = OptionsLiveVenue(OptionsVenueConfig(OptionsMarketConfig(seed=4), step_s=0.005))
    await venue.start()
    traded = venue.market.symbols[::4]
    config = load_config(run_file(venue, folder, traded))
    live = LiveEngine(config)
    try:
        await live.start()
        await live.wait_ready(15.0)
        engine = live.engine
        await until(lambda: all(s in engine.consolidated for s in traded), 15.0, "option tops")
        assert type(live.feeds["OPTV"].options_feed).__name__ == "OptionsBookFeed"
        venue.paused = True
        for name, md in (("OPTV", venue.options_md), ("EQTY", venue.equity_md)):
            receiver, published = live.feeds[name].receiver, md.next_sequence
            await until(lambda r=receiver, p=published: r.next_sequence >= p, 15.0, name)
        for symbol in [*traded, venue.market.underlying.symbol]:
            at_venue = venue.market.engine.top_of_book(symbol)
            top = engine.consolidated[symbol]
            assert (top.bid_price, top.bid_shares, top.ask_price, top.ask_shares) == (
                at_venue.bid_price, at_venue.bid_shares, at_venue.ask_price,
                at_venue.ask_shares,
            ), symbol  # fmt: skip
        # one contract bought at the ask through risk gate, router, OMS and FIX
        symbol = next(s for s in traded if engine.consolidated[s].ask_shares > 0)
        ask = engine.consolidated[symbol].ask_price
        intent = OrderIntent("OPT1", symbol, Side.BUY, 1, ask, OrdType.LIMIT, TimeInForce.IOC)
        assert engine._send_intent(intent, live.clock.monotonic_ns())
        await until(lambda: engine.oms.open_count == 0 and engine.fills, 10.0, "the fill")
        (fill,) = engine.fills
        assert (fill.symbol, fill.quantity, fill.price) == (symbol, 1, ask)
        position = engine.portfolio.positions[symbol]
        assert (position.quantity, position.multiplier, position.cost) == (1, 100, 100 * ask)
        mid = position.mark
        assert engine.portfolio.unrealized == 100 * (mid - ask)
        assert engine.risk.gross_exposure == 100 * mid
        assert live.gateways["OPTV"].counts["bad_message"] == 0
        assert fill.venue == "OPTV"
    finally:
        await live.stop()
        await venue.stop()


def test_calarb_run_engine_on_an_options_venue_over_loopback(tmp_path):
    asyncio.run(scenario(tmp_path))
