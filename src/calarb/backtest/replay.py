"""Replay: recorded market data merged onto one simulated clock, driving the trading engine.

Each ITCH file is one venue. Files are framed in bulk (`calarb.itch.bulk.frame_bytes`), each
message's timestamp read with NumPy, and the files merged by timestamp into one stream (a file's
own order is kept even if its timestamps step back: they are merged on their running maximum).
The loop hands each message to its venue's `ReplayVenue` at its timestamp, after running
everything on the `EventScheduler` due by then (orders arriving at venues, reports and
top-of-book changes reaching the engine, the periodic timer). The engine is the live one:
`calarb.trading.engine.TradingEngine` with the same strategy, risk gate, router, OMS and
portfolio classes.

`run_backtest(config, data)` picks the input: a list of ITCH files, or "synthetic" for a
market generated from the configuration's `[synthetic]` section (`calarb.backtest.synthetic`).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from calarb.backtest.config import BacktestConfig
from calarb.backtest.results import BacktestResult, RunRecorder, TapedGateway
from calarb.backtest.venue import ReplayVenue
from calarb.core.clock import SimulatedClock
from calarb.itch.bulk import frame_bytes
from calarb.itch.codec import decode
from calarb.itch.spec import MESSAGE_LENGTHS
from calarb.trading.engine import TradingEngine
from calarb.trading.gateway import EventScheduler

_LENGTH_BY_TYPE = np.zeros(256, dtype=np.int64)
for _code, _length in MESSAGE_LENGTHS.items():
    _LENGTH_BY_TYPE[ord(_code)] = _length


@dataclass
class ItchSource:
    """One venue's ITCH file, framed: message offsets, lengths and timestamps."""

    path: str
    data: bytes
    offsets: np.ndarray  # int64, offset of each message's type byte
    lengths: np.ndarray  # int64
    timestamps: np.ndarray  # int64 ns after midnight
    locates: np.ndarray  # int64 stock locate of each message
    symbols: dict[int, str]  # locate -> symbol (stock directory)

    @property
    def messages(self) -> int:
        return int(self.offsets.size)


def load_itch_source(path: str | Path) -> ItchSource:
    """Frame a whole ITCH file (plain or .gz); a bad frame raises `ItchDecodeError` naming its
    byte offset."""
    frames = frame_bytes(path)
    buf = frames.buffer
    offsets = frames.offsets
    stamp = np.zeros(offsets.size, dtype=np.int64)
    for position in range(5, 11):  # 6-byte big-endian timestamp after type, locate, tracking
        stamp = (stamp << 8) | buf[offsets + position].astype(np.int64)
    locates = (buf[offsets + 1].astype(np.int64) << 8) | buf[offsets + 2]
    data = buf.tobytes()
    symbols = {}
    for number in frames.message_numbers("R"):
        start = int(offsets[number])
        message = decode(data[start : start + MESSAGE_LENGTHS["R"]])
        symbols[message.stock_locate] = message.stock
    return ItchSource(
        str(path), data, offsets, _LENGTH_BY_TYPE[frames.types], stamp, locates, symbols
    )


def most_active_symbols(sources: Sequence[ItchSource]) -> list[str]:
    """Symbols of all sources, most messages first (ties: alphabetical)."""
    counts: dict[str, int] = {}
    for source in sources:
        per_locate = np.bincount(source.locates, minlength=65536)
        for locate, symbol in source.symbols.items():
            counts[symbol] = counts.get(symbol, 0) + int(per_locate[locate])
    return sorted(counts, key=lambda s: (-counts[s], s))


def merge_order(sources: Sequence[ItchSource]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(venue index, message index, time) of every message of every source, in time order;
    ties go to the lower venue index, then file order."""
    keys = [np.maximum.accumulate(s.timestamps) if s.messages else s.timestamps for s in sources]
    times = np.concatenate(keys) if keys else np.zeros(0, np.int64)
    venue = np.concatenate([np.full(s.messages, i, np.int64) for i, s in enumerate(sources)])
    index = np.concatenate([np.arange(s.messages, dtype=np.int64) for s in sources])
    order = np.lexsort((index, venue, times))
    return venue[order], index[order], times[order]


def build_engine(config: BacktestConfig, clock, gateways, recorder: RunRecorder, strategy):
    fees = {name: config.fees(name) for name in gateways}
    taped = {name: TapedGateway(gateway, recorder) for name, gateway in gateways.items()}
    engine = TradingEngine(clock, strategy, taped, fees=fees, risk_limits=config.risk_limits())
    recorder.attach(engine)
    return engine


def run_itch_backtest(config: BacktestConfig, paths: Sequence[str | Path]) -> BacktestResult:
    """Replay ITCH files (one venue each) through the engine; see the module docstring."""
    started = time.perf_counter()
    sources = [load_itch_source(path) for path in paths]
    names = config.venue_names(len(sources))
    strategy = config.build_strategy(config.pairs(most_active_symbols(sources)))
    venue_of, index_of, time_of = merge_order(sources)
    start_ns = int(time_of[0]) if time_of.size else 0
    clock = SimulatedClock(start_ns)
    scheduler = EventScheduler(clock)
    symbols = set(strategy.symbols)
    venues = {
        name: ReplayVenue(
            name, scheduler, order_latency=config.order_latency(name, i),
            feed_latency=config.feed_latency(name, i), queue_model=config.queue(name),
            symbols=symbols,
        )
        for i, name in enumerate(names)
    }  # fmt: skip
    recorder = RunRecorder(config.sample_ns, {name: config.fees(name) for name in names})
    engine = build_engine(config, clock, venues, recorder, strategy)
    for venue in venues.values():
        venue.connect(recorder, engine.on_market_data)
    end_ns = int(time_of[-1]) if time_of.size else 0
    _start_timer(scheduler, engine, recorder, start_ns, end_ns, config.sample_ns)

    feeds = [venues[name].on_message for name in names]
    datas = [source.data for source in sources]
    offsets = [source.offsets.tolist() for source in sources]
    lengths = [source.lengths.tolist() for source in sources]
    next_time = scheduler.next_time
    run_until = scheduler.run_until
    for venue, index, at in zip(
        venue_of.tolist(), index_of.tolist(), time_of.tolist(), strict=True
    ):
        due = next_time()
        if due is not None and due <= at:
            run_until(at)
        start = offsets[venue][index]
        feeds[venue](datas[venue][start : start + lengths[venue][index]], at)
    scheduler.run_until(end_ns + config.sample_ns)
    recorder.sample(clock.monotonic_ns())
    events = int(time_of.size) + scheduler.events_run
    return BacktestResult(
        engine, recorder, events=events, elapsed_s=time.perf_counter() - started,
        source=", ".join(str(p) for p in paths),
        venues={name: venue.state() for name, venue in venues.items()},
    )  # fmt: skip


def _start_timer(scheduler, engine, recorder, start_ns: int, end_ns: int, period_ns: int):
    """Every `period_ns` until `end_ns`: the engine's timer (legging timeouts, post-trade
    limits), then an equity sample."""

    def tick() -> None:
        now = scheduler.clock.monotonic_ns()
        engine.on_timer(now)
        recorder.sample(now)
        if now + period_ns <= end_ns:
            scheduler.schedule(now + period_ns, tick)

    scheduler.schedule(start_ns, tick)


def run_backtest(config: BacktestConfig, data: str | Sequence[str | Path]) -> BacktestResult:
    """`data`: "synthetic", or ITCH file paths (a list, or one string with commas)."""
    if isinstance(data, str):
        if data == "synthetic":
            from calarb.backtest.synthetic import run_synthetic_backtest

            return run_synthetic_backtest(config)
        data = [part for part in data.split(",") if part]
    missing = [str(p) for p in data if not Path(p).exists()]
    if missing:
        raise FileNotFoundError(f"no such market data file(s): {missing}")
    return run_itch_backtest(config, list(data))
