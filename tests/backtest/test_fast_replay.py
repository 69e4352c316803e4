"""Fast replay (compiled books, size-only top changes deferred) against the slow path: the same
orders, fills, P&L, model observations and engine state on generated ITCH data."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from calarb.backtest.benchmark import bench_config, run_bench
from calarb.backtest.config import BacktestConfig
from calarb.backtest.replay import load_itch_source, run_itch_backtest
from calarb.book.bulk import replay_books
from calarb.core.events import TopOfBook
from calarb.core.types import Side
from calarb.itch.bulk import decode_file, frame_bytes
from calarb.itch.codec import encode_framed
from calarb.itch.errors import ItchDecodeError
from calarb.itch.generate import generate_itch_file
from calarb.itch.messages import OrderExecuted
from calarb.model.hedge import OlsHedge
from calarb.model.live import PairModel


def _config(style: str, venues: int = 1, reference="near", **venue_overrides) -> BacktestConfig:
    config = bench_config(8)
    strategy = config.table["strategy"]
    strategy.update(order_style=style, min_observations=100)
    if style == "limit":  # DAY orders at a touch; reprices once, then hedges
        strategy.update(
            price_reference=reference, leg_timeout_ms=20_000, legging_action="reprice",
            max_reprices=1,
        )  # fmt: skip
    config.table["backtest"]["venue_names"] = ["A", "B"][:venues]
    config.table["venues"]["default"].update(venue_overrides)
    return config


@pytest.fixture(scope="module")
def market(tmp_path_factory):
    folder = tmp_path_factory.mktemp("fast")
    one = folder / "one.itch"
    two = folder / "two.itch"
    generate_itch_file(one, 150_000, 8, seed=11)
    generate_itch_file(two, 60_000, 8, seed=12)
    return one, two


def _venues(result):
    return {name: gateway.inner for name, gateway in result.engine.gateways.items()}


def _assert_same_run(fast, slow) -> None:
    assert fast.replay["path"] == "fast" and slow.replay["path"] == "slow"
    engine, reference = fast.engine, slow.engine
    # orders (sides, sizes, prices, ClOrdIDs, times, states) and fills
    assert engine.oms.state() == reference.oms.state()
    pd.testing.assert_frame_equal(fast.orders, slow.orders)
    pd.testing.assert_frame_equal(fast.fills, slow.fills)
    assert [f.as_tuple() for f in engine.fills] == [f.as_tuple() for f in reference.fills]
    # P&L, positions, equity curve
    assert engine.portfolio.state() == reference.portfolio.state()
    pd.testing.assert_frame_equal(fast.equity, slow.equity)
    # every model observation, in order
    for name, history in fast.pairs.items():
        pd.testing.assert_frame_equal(history, slow.pairs[name])
    # the venues' view, the events counted, the engine's last tops (values)
    assert fast.venue_states == slow.venue_states
    assert fast.events == slow.events
    assert engine.market_data_messages == reference.market_data_messages
    assert {s: t[2:] for s, t in engine.consolidated.items()} == {
        s: t[2:] for s, t in reference.consolidated.items()
    }
    for name, state in engine.router.venues.items():
        assert state.books == reference.router.venues[name].books
    assert {k: v[2:] for k, v in engine.strategy.tops.items()} == {
        k: v[2:] for k, v in reference.strategy.tops.items()
    }


@pytest.mark.slow
@pytest.mark.parametrize("style", ["ioc", "limit"])
def test_fast_replay_gives_the_slow_paths_results(market, style):
    one, _ = market
    fast = run_itch_backtest(_config(style), [one])
    slow = run_itch_backtest(_config(style), [one], fast=False)
    _assert_same_run(fast, slow)
    venue = fast.venue_states["A"]
    assert fast.summary["orders"] > 20 and fast.summary["fills"] > 20
    assert venue["fills_taken"] > 0 and venue["shares_consumed"] > 0
    if style == "limit":
        assert venue["fills_made"] > 0  # resting orders filled by replayed executions
    # most top changes were size-only and never scheduled one by one
    assert fast.replay["deferred_tops"] > fast.summary["orders"] * 100
    # idle timer ticks ran in the kernel: their equity rows were recorded as runs
    assert max(run[2] for run in fast.recorder.samples) > 1
    assert {run[2] for run in slow.recorder.samples} == {1}
    assert len(fast.recorder.equity) == len(slow.recorder.samples) == len(fast.equity)


@pytest.mark.slow
def test_fast_replay_stops_idle_ticks_at_a_maximum_holding_deadline(market):
    """A held pair's maximum holding time makes a later timer tick act (an exit with no
    quote): the kernel must hand that tick to Python, or the exit would come late."""
    one, _ = market
    config = _config("ioc")
    config.table["strategy"]["max_holding_s"] = 2.0  # two timer periods
    fast = run_itch_backtest(config, [one])
    slow = run_itch_backtest(config, [one], fast=False)
    _assert_same_run(fast, slow)
    stops = sum(state.counters.stops for state in fast.engine.strategy.pairs.values())
    assert stops > 5
    assert max(run[2] for run in fast.recorder.samples) > 1  # idle ticks still in the kernel


@pytest.mark.slow
@pytest.mark.parametrize(
    ("shared", "feed_latency_b"),
    [(False, 20), (True, 20), (False, 200), (True, 5)],
    ids=["own-symbols", "shared-symbols", "own-symbols-slower-feed", "shared-faster-feed"],
)
def test_fast_replay_on_two_venues(market, shared, feed_latency_b):
    """Own symbols: each venue lists other symbols (the seeds name them differently) and DAY
    orders cross: the router takes what is displayed and rests the remainder at the venue
    with the best rebate, so the split reads displayed sizes (deferred ones must reach it
    first). Shared: the same feed on both venues (consolidated tops, nothing deferred). Also
    with the two feeds' latencies apart, so one venue's tops overtake the other's."""
    one, two = market
    paths = [one, one] if shared else [two, one]
    config = _config("limit", venues=2, reference="near" if shared else "far")
    config.table["venues"]["B"] = {"fees": {"taker": 30, "maker": -25},  # B rests
                                   "feed_latency": feed_latency_b}  # fmt: skip
    config.table["strategy"]["size"] = 1000  # more than the touch shows now and then
    fast = run_itch_backtest(config, paths)
    slow = run_itch_backtest(config, paths, fast=False)
    _assert_same_run(fast, slow)
    assert fast.summary["fills"] > 20
    assert (fast.replay["deferred_tops"] > 0) is not shared
    assert shared or fast.engine.router.splits > 0  # a remainder rested at the other venue


def test_compiled_books_end_as_the_python_books(market):
    """Each symbol's book rebuilt from the compiled state equals the slow path's Python book
    (same orders in the same time priority, same levels)."""
    _, two = market
    fast = run_itch_backtest(_config("ioc"), [two])
    slow = run_itch_backtest(_config("ioc"), [two], fast=False)
    fast_venue, slow_venue = _venues(fast)["A"], _venues(slow)["A"]
    symbols = sorted(slow_venue.feed.books)
    assert len(symbols) == 8
    for symbol in symbols:
        fast_venue._unwatch(fast_venue.locate_by_symbol[symbol])  # rebuild from the kernel
        book = fast_venue._book_for(symbol)
        expected = slow_venue.feed.books[symbol]
        assert len(book) > 50
        assert book.orders() == expected.orders()
        assert book.levels(Side.BUY) == expected.levels(Side.BUY)
        assert book.levels(Side.SELL) == expected.levels(Side.SELL)


def test_random_feed_latency_takes_the_slow_path(market):
    _, two = market
    random_feed = {"kind": "lognormal", "floor_us": 10, "median_us": 20, "sigma": 0.5}
    result = run_itch_backtest(_config("ioc", feed_latency=random_feed), [two])
    assert result.replay == {
        "path": "slow", "reason": "a feed latency is not constant", "deferred_tops": 0,
    }  # fmt: skip


def test_data_the_compiled_books_would_apply_differently_falls_back(market, tmp_path):
    """An over-execution: the Python book refuses it (counted error), the compiled book would
    remove the order; the fast path gives up and the slow path's results come out."""
    _, two = market
    books = replay_books(two)
    symbol, locate = sorted(books.symbols.items())[0]
    order = books.live_orders_of(symbol)[0]
    bad = tmp_path / "bad.itch"
    over = OrderExecuted(locate, 0, 20 * 3600 * 10**9, int(order["reference"]),
                         int(order["shares"]) + 1, 1)  # fmt: skip
    bad.write_bytes(two.read_bytes() + encode_framed(over))
    fast = run_itch_backtest(_config("ioc"), [bad])
    slow = run_itch_backtest(_config("ioc"), [bad], fast=False)
    assert fast.replay["path"] == "slow"
    assert "would apply message" in fast.replay["reason"]
    assert fast.engine.oms.state() == slow.engine.oms.state()
    pd.testing.assert_frame_equal(fast.fills, slow.fills)


def test_model_ignores_a_quote_whose_price_did_not_change():
    model = PairModel("A", "B", OlsHedge(), zscore_window=5)
    assert not model.on_top_of_book(TopOfBook("B", 1, 10_000, 100, 10_200, 100))
    assert model.on_top_of_book(TopOfBook("A", 2, 20_000, 100, 20_200, 100))
    before = (model.observations, model.ignored_updates, model.last_time_ns, len(model.history))
    # sizes change, the mid does not: not an observation, nothing changes
    assert not model.on_top_of_book(TopOfBook("A", 3, 20_000, 700, 20_200, 50))
    assert not model.on_top_of_book(TopOfBook("B", 4, 10_000, 1, 10_200, 900))
    assert (model.observations, model.ignored_updates, model.last_time_ns,
            len(model.history)) == before  # fmt: skip
    # a fill at another price does not reset the comparison: the quote's mid is unchanged
    model.on_fill("A", 1, 20_150, 10, 5)
    observed = model.observations
    assert not model.on_top_of_book(TopOfBook("A", 6, 20_000, 5, 20_200, 5))
    assert model.observations == observed
    # the mid moves: an observation again
    assert model.on_top_of_book(TopOfBook("A", 7, 20_100, 5, 20_200, 5))
    assert model.price_a == pytest.approx(2.015)
    # with the microprice, a size change moves the price: an observation
    micro = PairModel("A", "B", OlsHedge(), price_source="microprice")
    micro.on_top_of_book(TopOfBook("B", 1, 10_000, 100, 10_200, 100))
    assert micro.on_top_of_book(TopOfBook("A", 2, 20_000, 100, 20_200, 100))
    assert micro.on_top_of_book(TopOfBook("A", 3, 20_000, 300, 20_200, 100))
    assert not micro.on_top_of_book(TopOfBook("A", 4, 20_000, 600, 20_200, 200))
    assert math.isclose(micro.price_a, (20_000 * 100 + 20_200 * 300) / 400 / 10_000)


def test_bench_reports_the_fast_path_and_the_slow_prefix(tmp_path):
    itch = tmp_path / "bench.itch"
    generate_itch_file(itch, 40_000, 4, seed=11)
    figures = run_bench(40_000, 4, str(itch), slow_messages=15_000)
    assert figures["replay"] == "fast" and figures["messages"] == 40_000
    assert figures["slow_messages"] == 15_000
    assert figures["events"] > figures["messages"] and figures["deferred_tops"] > 0
    for key in ("events_per_s", "slow_events_per_s", "fast_events_per_s_same_prefix"):
        assert figures[key] > 0
    assert figures["speedup_same_prefix"] > 0
    for peer in ("nautilus", "hftbacktest"):  # the bench extra installs both
        assert figures[f"{peer}_events_per_s"] > 0 and figures[f"ratio_vs_{peer}"] > 0
        assert figures[peer]["events"] >= figures["messages"] // 2  # every book change replayed


def test_loading_frames_the_file_in_one_walk(market, tmp_path):
    """Offsets and types as `frame_bytes` gives them, times the running maximum of the
    timestamps, messages per locate; the same from a gzip file; a cut file names the byte
    offset of its bad frame."""
    _, two = market
    source = load_itch_source(two)
    frames = frame_bytes(two)
    np.testing.assert_array_equal(source.offsets, frames.offsets)
    np.testing.assert_array_equal(source.types, frames.types)
    stamps = np.empty(frames.messages, dtype=np.int64)
    locates = np.empty(frames.messages, dtype=np.int64)
    for records in decode_file(two).arrays.values():
        stamps[records["index"]] = records["timestamp"]
        locates[records["index"]] = records["stock_locate"]
    np.testing.assert_array_equal(source.times, np.maximum.accumulate(stamps))
    np.testing.assert_array_equal(source.locate_counts, np.bincount(locates, minlength=65536))
    assert sorted(source.symbols.values()) == sorted(replay_books(two).symbols)
    packed = tmp_path / "two.itch.gz"
    generate_itch_file(packed, 60_000, 8, seed=12)
    unpacked = load_itch_source(packed)
    assert unpacked.buffer.tobytes() == source.data
    np.testing.assert_array_equal(unpacked.times, source.times)
    cut = tmp_path / "cut.itch"
    cut.write_bytes(source.data[: int(source.offsets[100]) + 5])
    with pytest.raises(ItchDecodeError) as error:
        load_itch_source(cut)
    assert error.value.offset == int(source.offsets[100]) - 2  # its length prefix
