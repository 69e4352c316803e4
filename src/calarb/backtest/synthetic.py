"""Backtests over a synthetic market generated from the configuration's `[synthetic]` table
(`calarb.venue.synthetic.SyntheticMarketConfig`, plus `seconds` and `venues`).

Every venue is a real `MatchingEngine` with seeded background traders around shared fair
values (cointegrated pairs); calarb's orders trade inside it (`SimulatedVenue`), so queue
position, partial fills and own liquidity consumption are exact, and background traders see
calarb's orders. The venues' latency models are the configuration's, drawn per message
(`ModelledVenue`). `write_synthetic_itch` records the same market without calarb as one ITCH
file per venue, for replay backtests (`calarb.backtest.replay`).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from calarb.backtest.config import BacktestConfig
from calarb.backtest.models import LatencyModel
from calarb.backtest.results import BacktestResult, RunRecorder
from calarb.backtest.simulated_venue import SimulatedVenue
from calarb.backtest.wiring import build_engine
from calarb.core.clock import SimulatedClock
from calarb.core.scheduler import EventScheduler
from calarb.venue.matching import MatchingEngine
from calarb.venue.synthetic import BackgroundTraders, FairValueProcess, SyntheticMarketConfig


class ModelledLink:
    """One direction-agnostic FIFO link whose one-way latency is drawn from a model: each
    `arrival(now)` is one draw, but never earlier than the previous message's arrival (a
    message never overtakes the one before it, as on TCP or a sequenced feed)."""

    __slots__ = ("model", "free_ns")

    def __init__(self, model: LatencyModel) -> None:
        self.model = model
        self.free_ns = 0

    def arrival(self, now_ns: int) -> int:
        at = now_ns + self.model.sample()
        if at < self.free_ns:
            at = self.free_ns
        self.free_ns = at
        return at


class ModelledVenue(SimulatedVenue):
    """A `SimulatedVenue` whose one-way latencies are drawn from latency models: each read
    of `order_latency_ns` / `market_data_latency_ns` (one per message crossing) is a draw on
    a `ModelledLink`: the order link (both directions share it, a slight over-constraint) or
    the feed. The paper run (`calarb.backtest.paper`) draws on the same links in the same
    order."""

    def __init__(self, name, engine, scheduler, order_latency: LatencyModel,
                 feed_latency: LatencyModel, **kwargs: Any) -> None:  # fmt: skip
        self.order_link = ModelledLink(order_latency)
        self.feed_link = ModelledLink(feed_latency)
        super().__init__(name, engine, scheduler, **kwargs)

    @property
    def order_latency_ns(self) -> int:  # type: ignore[override]
        now = self.scheduler.clock.monotonic_ns()
        return self.order_link.arrival(now) - now

    @order_latency_ns.setter
    def order_latency_ns(self, value: int) -> None:
        """The base class's constant is replaced by the model."""

    @property
    def market_data_latency_ns(self) -> int:  # type: ignore[override]
        now = self.scheduler.clock.monotonic_ns()
        return self.feed_link.arrival(now) - now

    @market_data_latency_ns.setter
    def market_data_latency_ns(self, value: int) -> None:
        """The base class's constant is replaced by the model."""


def market_config(config: BacktestConfig) -> tuple[SyntheticMarketConfig, float, list[str]]:
    table = config.synthetic_table()
    seconds = float(table.pop("seconds", 120))
    venues = [str(v) for v in table.pop("venues", ["V1", "V2"])]
    table.setdefault("seed", config.seed)
    return (
        SyntheticMarketConfig.from_mapping(table, f"{config.source} [synthetic]"),
        seconds,
        venues,
    )


class SyntheticWorld:
    """Fair values, one matching engine and its background traders per venue."""

    def __init__(self, market: SyntheticMarketConfig, venue_names: list[str]) -> None:
        self.config = market
        self.fair_values = FairValueProcess(market)
        self.engines = {name: MatchingEngine(market.instruments()) for name in venue_names}
        self.traders = {
            name: BackgroundTraders(engine, market, market.seed * 10 + i, name)
            for i, (name, engine) in enumerate(self.engines.items())
        }

    def open_day(self, venues) -> None:
        """Start of day on every venue, the background traders' first orders, published.
        `venues` maps names to objects with `start_of_day(now)` and `pump(now)`."""
        fair = self.fair_values
        for name, venue in venues.items():
            venue.start_of_day(fair.now_ns)
            self.traders[name].act(fair.now_ns, fair)
            venue.pump(fair.now_ns)

    def steps(self, seconds: float) -> int:
        return int(seconds * 1e9) // self.config.step_ns

    def advance(self, venues) -> int:
        """One market step: fair values move, every venue's traders act, changes published.
        Returns the new time."""
        fair = self.fair_values
        fair.step()
        now = fair.now_ns
        for name, venue in venues.items():
            self.traders[name].act(now, fair)
            venue.pump(now)
        return now

    def run(self, venues: dict[str, SimulatedVenue], scheduler: EventScheduler, seconds: float,
            on_step=None) -> int:  # fmt: skip
        """Open the day, then step the market for `seconds`; returns the steps taken."""
        self.open_day(venues)
        steps = self.steps(seconds)
        for _ in range(steps):
            scheduler.run_until(self.fair_values.now_ns + self.config.step_ns)
            now = self.advance(venues)
            if on_step is not None:
                on_step(now)
        return steps


def synthetic_strategy(config: BacktestConfig, market: SyntheticMarketConfig):
    """The configured strategy over the market's pairs (or the configured ones)."""
    symbols = [s.symbol for s in market.symbols]
    if "pairs" in config.strategy_table or not market.pairs:
        pairs = config.pairs(symbols)
    else:
        pairs = [(p.dependent, p.driver) for p in market.pairs]
    return config.build_strategy(pairs)


def step_timers(config: BacktestConfig, scheduler: EventScheduler, engine, recorder: RunRecorder,
                start_ns: int):  # fmt: skip
    """The per-step callback: the engine's timer 1 ns after each market step, and an equity
    sample every `sample_ms`."""
    next_sample = [start_ns]

    def on_step(now: int) -> None:
        scheduler.schedule(now + 1, engine.on_timer)
        if now >= next_sample[0]:
            scheduler.schedule(now + 1, recorder.sample, now + 1)
            next_sample[0] = now + config.sample_ns

    return on_step


def run_synthetic_backtest(config: BacktestConfig) -> BacktestResult:
    started = time.perf_counter()
    market, seconds, names = market_config(config)
    world = SyntheticWorld(market, names)
    clock = SimulatedClock(market.start_ns)
    scheduler = EventScheduler(clock)
    venues = {
        name: ModelledVenue(
            name,
            world.engines[name],
            scheduler,
            config.order_latency(name, i),
            config.feed_latency(name, i),
        )
        for i, name in enumerate(names)
    }
    recorder = RunRecorder(config.sample_ns, {name: config.fees(name) for name in names})
    engine = build_engine(config, clock, venues, recorder, synthetic_strategy(config, market))
    engine.true_hedge_ratios = {f"{p.dependent}/{p.driver}": p.hedge_ratio for p in market.pairs}
    for venue in venues.values():
        venue.connect(recorder, engine.on_market_data)
    on_step = step_timers(config, scheduler, engine, recorder, market.start_ns)
    world.run(venues, scheduler, seconds, on_step)
    scheduler.run_until(world.fair_values.now_ns + 1_000_000_000)
    recorder.sample(clock.monotonic_ns())
    events = scheduler.events_run
    return BacktestResult(
        engine, recorder, events=events, elapsed_s=time.perf_counter() - started,
        source=f"synthetic({market.seed}, {seconds:g} s, venues {names})",
        venues={
            name: {"orders_received": v.orders_received, "messages": v.messages_published}
            for name, v in venues.items()
        },
    )  # fmt: skip


def write_synthetic_itch(config: BacktestConfig, directory: str | Path) -> list[Path]:
    """Run the configured synthetic market without calarb and write each venue's market data
    as a length-prefixed ITCH 5.0 file `<venue>.itch` in `directory`."""
    market, seconds, names = market_config(config)
    world = SyntheticWorld(market, names)
    scheduler = EventScheduler(SimulatedClock(market.start_ns))
    chunks: dict[str, list[bytes]] = {name: [] for name in names}

    def record(venue: str, payload: bytes) -> None:
        chunks[venue].append(len(payload).to_bytes(2, "big") + payload)

    venues = {
        name: SimulatedVenue(name, world.engines[name], scheduler, market_data_latency_ns=0)
        for name in names
    }
    for venue in venues.values():
        venue.connect(None, record)  # type: ignore[arg-type]
    world.run(venues, scheduler, seconds)
    scheduler.run_until(world.fair_values.now_ns + 1)
    out = Path(directory)
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    for name in names:
        path = out / f"{name}.itch"
        path.write_bytes(b"".join(chunks[name]))
        paths.append(path)
    return paths
