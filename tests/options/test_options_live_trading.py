"""`calarb run`'s engine trades options by itself: `LiveEngine` from a run file naming the
options strategy and two venues, the options exchange (ITTO 4.0 feed) and its underlying's
stock exchange (ITCH 5.0 feed), each with its own FIX session, against the options simulator
stepped in real time on loopback (`calarb.backtest.options_venue`). It warms up, calibrates
its surface from the ITTO quotes and the underlying's ITCH quotes, buys a planted cheap option
and sells a planted rich one on its own, its fills booked at 100 shares per contract, the
delta hedged with the underlying on the stock venue within its limit, and exits when the
mispricings end."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import pytest

from calarb.backtest.options_market import OptionsMarketConfig
from calarb.backtest.options_venue import OptionsLiveVenue, OptionsVenueConfig, todays_market
from calarb.core.clock import LiveClock
from calarb.trading.config import load_config
from calarb.trading.live import LiveEngine
from calarb.trading.options_strategy import purpose_of

pytestmark = pytest.mark.network

DELTA_LIMIT = 600.0
STRATEGY = """
[engine]
journal = "run/journal.jsonl"
pid_file = "run/calarb.pid"
timer_interval_ms = 10

[strategy]
class = "calarb.trading.options_strategy:OptionsCalibrationStrategy"
underlying = "SYNTH"
options = [{options}]
signal_interval_ns = 200_000_000
recalibration_ns = 1_000_000_000
min_history = 8
order_contracts = 3
fee_per_contract = 5_000
max_holding_ns = 20_000_000_000
[strategy.limits]
max_delta_shares = {delta_limit}
"""


async def until(condition, timeout_s: float, what: str, live: LiveEngine) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while not condition():
        if loop.time() > deadline:
            strategy = live.engine.strategy.user
            raise AssertionError(
                f"timed out waiting for {what}: {live.status_line()}; "
                f"{strategy.totals()} {strategy.state()}"
            )
        await asyncio.sleep(0.02)


def entries(live: LiveEngine, symbol: str) -> list:
    return [
        o for o in live.engine.oms.orders()
        if o.symbol == symbol and purpose_of(o.tag) == "entry"
    ]  # fmt: skip


async def scenario(folder: Path) -> dict:
    market = todays_market(OptionsMarketConfig(seed=3, mispricings_per_minute=0.0), LiveClock())
    venue = OptionsLiveVenue(OptionsVenueConfig(market=market, step_s=0.05))
    await venue.start()
    symbols = venue.market.symbols
    cheap, rich = "SYNTH", "SYNTH"
    for symbol in symbols:  # 30-day options, strikes 100 and 95: liquid and vega-rich
        contract = venue.market.contracts[symbols.index(symbol)]
        if (contract.expiry - market.trade_date).days != 30:
            continue
        if contract.strike == 1_000_000 and contract.is_call:
            cheap = symbol
        elif contract.strike == 950_000 and not contract.is_call:
            rich = symbol
    path = folder / "options-live.toml"
    listed = ", ".join(f'"{s}"' for s in symbols)
    path.write_text(
        STRATEGY.format(options=listed, delta_limit=DELTA_LIMIT)
        + venue.run_file_venues(str(folder / "fixstore"))
    )
    live = LiveEngine(load_config(path))
    strategy = live.engine.strategy.user
    try:
        await live.start()
        await live.wait_ready(15.0)
        assert {v.name: v.feed.protocol for v in live.config.venues} == {
            "OPTV": "itto", "EQTY": "itch",
        }  # fmt: skip
        # warm-up on the quotes alone: surfaces fitted, residual histories filled, no trade
        await until(
            lambda: strategy.fits >= 3
            and min(strategy._history[s].count for s in (cheap, rich)) >= 8,
            20.0, "the strategy's warm-up", live,
        )  # fmt: skip
        assert live.engine.orders_sent == 0
        assert strategy.fit.arbitrage["arbitrage_free"]
        # two mispricings planted at the venue: the strategy trades them by itself
        venue.market.plant(cheap, -5.0, 6.0)
        venue.market.plant(rich, +5.0, 6.0)
        await until(
            lambda: entries(live, cheap) and entries(live, rich) and strategy.hedge_fills,
            10.0, "entries on both plants and a hedge", live,
        )  # fmt: skip
        await until(
            lambda: not any(live.holdings().get(s) for s in (cheap, rich))
            and not live.engine.oms.open_count,
            20.0, "the exits after the plants end", live,
        )  # fmt: skip
    finally:
        await live.stop()
        await venue.stop()
    return {"live": live, "strategy": strategy, "cheap": cheap, "rich": rich, "venue": venue}


def test_calarb_run_trades_planted_option_mispricings_by_itself_over_loopback(tmp_path, caplog):
    caplog.set_level(logging.WARNING)
    run = asyncio.run(scenario(tmp_path))
    live, strategy, cheap, rich = run["live"], run["strategy"], run["cheap"], run["rich"]
    engine = live.engine
    orders = engine.oms.orders()
    assert all(o.tag.startswith("options:") for o in orders)  # every order the strategy's
    (buy,) = [o for o in entries(live, cheap)]
    (sell,) = [o for o in entries(live, rich)]
    assert (int(buy.side), int(sell.side)) == (1, -1)
    assert buy.venue == sell.venue == "OPTV"
    hedges = [o for o in orders if purpose_of(o.tag) == "hedge"]
    assert hedges and {o.symbol for o in hedges} == {"SYNTH"}
    assert {o.venue for o in hedges} == {"EQTY"}  # the underlying's own venue and session
    # fills booked at the contract multiplier; the engine's P&L is money
    option_fills = [f for f in engine.fills if f.symbol in (cheap, rich)]
    assert option_fills and strategy.option_fills == len(option_fills)
    for symbol in (cheap, rich):
        position = engine.portfolio.positions[symbol]
        assert position.multiplier == 100 and position.quantity == 0
    bought = sum(f.quantity * f.price for f in option_fills if f.symbol == cheap and f.side == 1)
    sold = sum(f.quantity * f.price for f in option_fills if f.symbol == cheap and f.side == -1)
    assert engine.portfolio.positions[cheap].realized == 100 * (sold - bought)
    assert engine.portfolio.positions["SYNTH"].multiplier == 1
    # delta hedged within the strategy's limit throughout
    assert 0 < strategy.risk.worst_abs_delta <= DELTA_LIMIT
    assert abs(strategy.book_delta()) <= DELTA_LIMIT
    # clean wires: no rejects, no undecodable message on either feed
    assert not engine.rejects
    for name in ("OPTV", "EQTY"):
        assert live.gateways[name].counts["bad_message"] == 0
    assert live.feeds["OPTV"].options_feed.errors == {}
    assert sum(engine.feeds["EQTY"].errors.values()) == 0
