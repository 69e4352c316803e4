"""A synthetic market: fair values with cointegrated pairs, and background participants
(market makers, noise traders) that trade through a `MatchingEngine`.

Everything is seeded and moves only when stepped (no clock is read): `FairValueProcess.step()`
advances simulated time by one step, `BackgroundTraders.act(timestamp_ns, fair_values)` lets
the participants of one venue react. `SyntheticMarket` wires one of each for a single venue;
several venues share one `FairValueProcess` and each has its own engine and traders (with their
own seed), so their books differ a little.

Fair values. A symbol that is not the dependent leg of a pair follows a driftless geometric
random walk with the configured daily volatility. A pair makes its dependent leg A follow its
driver B:

* form "log":   log A = alpha + hedge_ratio * log B + s
* form "price": A     = alpha + hedge_ratio * B     + s

where s is an Ornstein-Uhlenbeck spread with the configured half-life and stationary standard
deviation (log units or currency units), stepped with its exact discretisation. alpha defaults
to the value that makes A start at its configured start price with s = 0.
"""

from __future__ import annotations

import math
import random
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

from calarb.core.tables import dataclass_from_table
from calarb.core.types import PRICE_SCALE, Instrument, Side
from calarb.venue.matching import MatchingEngine
from calarb.venue.orders import OrdType, TimeInForce

SECONDS_PER_TRADING_DAY = 23_400.0  # 6.5 hours: volatilities are quoted per such a day


# --- configuration ---------------------------------------------------------------------------


@dataclass(frozen=True)
class SymbolConfig:
    symbol: str
    start_price: float  # currency units
    daily_volatility: float = 0.02  # of the log price, per 6.5-hour day
    tick_size: int = 100  # integer price units (1/10,000)
    lot_size: int = 1
    round_lot: int = 100
    locate: int = 0

    def __post_init__(self) -> None:
        if self.start_price <= 0 or self.daily_volatility < 0:
            raise ValueError(f"symbol {self.symbol}: start_price > 0 and volatility >= 0 needed")

    def instrument(self) -> Instrument:
        return Instrument(self.symbol, self.locate, self.tick_size, self.lot_size, self.round_lot)


@dataclass(frozen=True)
class PairConfig:
    """A cointegrated pair: `dependent` follows `driver` (see the module docstring)."""

    dependent: str
    driver: str
    hedge_ratio: float
    half_life_s: float
    spread_sd: float  # stationary standard deviation of the spread s
    form: Literal["log", "price"] = "log"
    alpha: float | None = None

    def __post_init__(self) -> None:
        where = f"pair {self.dependent}/{self.driver}"
        if self.form not in ("log", "price"):
            raise ValueError(f"{where}: form must be 'log' or 'price', not {self.form!r}")
        if self.half_life_s <= 0 or self.spread_sd < 0:
            raise ValueError(f"{where}: half_life_s > 0 and spread_sd >= 0 needed")
        if self.dependent == self.driver:
            raise ValueError(f"{where}: a symbol cannot follow itself")

    @property
    def mean_reversion_per_s(self) -> float:
        """theta of ds = -theta s dt + sigma dW."""
        return math.log(2.0) / self.half_life_s


@dataclass(frozen=True)
class MarketMakerConfig:
    count: int = 2  # market makers per venue, each quoting every symbol
    levels: int = 5  # price levels per side
    half_spread_ticks: float = 1.0  # distance of the first level from fair value
    level_spacing_ticks: int = 1
    size: int = 500  # shares at the first level
    size_step: int = 200  # more shares per deeper level
    requote_ticks: float = 0.5  # refresh when fair value moved this far since the last quote


@dataclass(frozen=True)
class NoiseTraderConfig:
    count: int = 3  # noise traders per venue
    orders_per_s: float = 0.5  # per symbol
    min_size: int = 100
    max_size: int = 1_000
    through_ticks: int = 2  # IOC limit this far beyond the opposite best
    market_order_share: float = 0.2  # the rest are marketable IOC limits


@dataclass(frozen=True)
class SyntheticMarketConfig:
    seed: int
    symbols: tuple[SymbolConfig, ...]
    pairs: tuple[PairConfig, ...] = ()
    step_ns: int = 1_000_000_000
    start_ns: int = 0
    market_makers: MarketMakerConfig = field(default_factory=MarketMakerConfig)
    noise_traders: NoiseTraderConfig = field(default_factory=NoiseTraderConfig)

    def __post_init__(self) -> None:
        if self.step_ns <= 0:
            raise ValueError(f"step_ns must be positive, not {self.step_ns}")
        names = [s.symbol for s in self.symbols]
        if len(set(names)) != len(names):
            raise ValueError(f"symbols listed twice in {names}")
        dependents = set()
        for pair in self.pairs:
            for leg in (pair.dependent, pair.driver):
                if leg not in names:
                    raise ValueError(f"pair {pair.dependent}/{pair.driver}: {leg} is not a symbol")
            if pair.dependent in dependents:
                raise ValueError(f"{pair.dependent} is the dependent leg of two pairs")
            dependents.add(pair.dependent)
        for pair in self.pairs:
            if pair.driver in dependents:
                raise ValueError(
                    f"pair {pair.dependent}/{pair.driver}: the driver is itself a dependent leg"
                )

    @classmethod
    def from_mapping(
        cls, table: Mapping[str, Any], where: str = "synthetic"
    ) -> SyntheticMarketConfig:
        """Parse a TOML table such as `[synthetic]` with `[[synthetic.symbols]]`,
        `[[synthetic.pairs]]`, `[synthetic.market_makers]`, `[synthetic.noise_traders]`;
        `step_ms` may stand for `step_ns`."""
        table = dict(table)
        if "step_ms" in table:
            table["step_ns"] = int(round(float(table.pop("step_ms")) * 1_000_000))
        table["symbols"] = tuple(
            dataclass_from_table(SymbolConfig, item, f"{where}.symbols[{index}]")
            for index, item in enumerate(table.get("symbols", ()))
        )
        table["pairs"] = tuple(
            dataclass_from_table(PairConfig, item, f"{where}.pairs[{index}]")
            for index, item in enumerate(table.get("pairs", ()))
        )
        if "market_makers" in table:
            table["market_makers"] = dataclass_from_table(
                MarketMakerConfig, table["market_makers"], f"{where}.market_makers"
            )
        if "noise_traders" in table:
            table["noise_traders"] = dataclass_from_table(
                NoiseTraderConfig, table["noise_traders"], f"{where}.noise_traders"
            )
        return dataclass_from_table(cls, table, where)

    def instruments(self) -> list[Instrument]:
        return [symbol.instrument() for symbol in self.symbols]

    def true_parameters(self) -> list[dict[str, Any]]:
        """The pairs' configured parameters, with alpha resolved: what a model should recover."""
        starts = {s.symbol: s.start_price for s in self.symbols}
        return [
            {
                "dependent": pair.dependent,
                "driver": pair.driver,
                "form": pair.form,
                "hedge_ratio": pair.hedge_ratio,
                "half_life_s": pair.half_life_s,
                "spread_sd": pair.spread_sd,
                "alpha": _resolved_alpha(pair, starts),
            }
            for pair in self.pairs
        ]

    def describe(self) -> str:
        lines = [f"synthetic market: seed {self.seed}, step {self.step_ns / 1e9:g} s"]
        drivers = {pair.dependent: pair.driver for pair in self.pairs}
        for symbol in self.symbols:
            moves = (
                f"follows {drivers[symbol.symbol]} (pair below)"
                if symbol.symbol in drivers
                else f"random walk, daily volatility {symbol.daily_volatility:.2%}"
            )
            lines.append(
                f"  {symbol.symbol}: start {symbol.start_price:g}, {moves}, "
                f"tick {symbol.tick_size}/{PRICE_SCALE}"
            )
        for truth in self.true_parameters():
            relation = (
                "log A = alpha + beta*log B + s"
                if truth["form"] == "log"
                else ("A = alpha + beta*B + s")
            )
            lines.append(
                f"  pair A={truth['dependent']} B={truth['driver']} ({relation}): "
                f"hedge_ratio={truth['hedge_ratio']:.6g} half_life_s={truth['half_life_s']:.6g} "
                f"spread_sd={truth['spread_sd']:.6g} alpha={truth['alpha']:.6g}"
            )
        return "\n".join(lines)


def two_symbol_market(
    seed: int,
    *,
    hedge_ratio: float = 0.8,
    half_life_s: float = 5.0,
    spread_sd: float = 0.002,
    noise_orders_per_s: float = 0.5,
    step_ns: int = 100_000_000,
) -> SyntheticMarketConfig:
    """The small market the engine's tests and benchmark trade: AAA (40, 30% daily
    volatility) following BBB (50, 50%) with the given hedge ratio, two market makers quoting
    three levels, two noise traders, a step every 100 ms."""
    return SyntheticMarketConfig(
        seed=seed,
        symbols=(
            SymbolConfig("AAA", 40.0, daily_volatility=0.3),
            SymbolConfig("BBB", 50.0, daily_volatility=0.5),
        ),
        pairs=(PairConfig("AAA", "BBB", hedge_ratio, half_life_s, spread_sd),),
        step_ns=step_ns,
        market_makers=MarketMakerConfig(count=2, levels=3),
        noise_traders=NoiseTraderConfig(count=2, orders_per_s=noise_orders_per_s),
    )


def _resolved_alpha(pair: PairConfig, starts: Mapping[str, float]) -> float:
    if pair.alpha is not None:
        return pair.alpha
    dependent, driver = starts[pair.dependent], starts[pair.driver]
    if pair.form == "log":
        return math.log(dependent) - pair.hedge_ratio * math.log(driver)
    return dependent - pair.hedge_ratio * driver


# --- fair values -----------------------------------------------------------------------------


class FairValueProcess:
    """Fair values of every configured symbol, advanced one step at a time."""

    _BLOCK = 4096  # steps of normal draws fetched at once

    def __init__(self, config: SyntheticMarketConfig) -> None:
        self.config = config
        self.step_s = config.step_ns / 1e9
        self.now_ns = config.start_ns
        self._rng = np.random.default_rng(config.seed)
        dependents = {pair.dependent for pair in config.pairs}
        self._walkers = [s for s in config.symbols if s.symbol not in dependents]
        self._log_prices = {s.symbol: math.log(s.start_price) for s in self._walkers}
        self._walk_sd = [
            s.daily_volatility * math.sqrt(self.step_s / SECONDS_PER_TRADING_DAY)
            for s in self._walkers
        ]
        starts = {s.symbol: s.start_price for s in config.symbols}
        self._alphas = [_resolved_alpha(pair, starts) for pair in config.pairs]
        self._decay = [math.exp(-pair.mean_reversion_per_s * self.step_s) for pair in config.pairs]
        self._spread_shock_sd = [
            pair.spread_sd * math.sqrt(1.0 - decay * decay)
            for pair, decay in zip(config.pairs, self._decay, strict=True)
        ]
        self.spreads = [0.0] * len(config.pairs)
        self.prices: dict[str, float] = {}
        self._block: list[list[float]] = []
        self._block_index = 0
        self._derive_prices()

    def price(self, symbol: str) -> float:
        """Fair value in currency units."""
        return self.prices[symbol]

    def step(self) -> int:
        """Advance one step; returns the new time."""
        if self._block_index >= len(self._block):
            width = len(self._walkers) + len(self.config.pairs)
            self._block = self._rng.standard_normal((self._BLOCK, width)).tolist()
            self._block_index = 0
        shocks = self._block[self._block_index]
        self._block_index += 1
        for index, walker in enumerate(self._walkers):
            self._log_prices[walker.symbol] += self._walk_sd[index] * shocks[index]
        offset = len(self._walkers)
        for index in range(len(self.spreads)):
            self.spreads[index] = (
                self.spreads[index] * self._decay[index]
                + self._spread_shock_sd[index] * shocks[offset + index]
            )
        self._derive_prices()
        self.now_ns += self.config.step_ns
        return self.now_ns

    def _derive_prices(self) -> None:
        prices = self.prices
        for symbol, log_price in self._log_prices.items():
            prices[symbol] = math.exp(log_price)
        for index, pair in enumerate(self.config.pairs):
            driver = prices[pair.driver]
            alpha, beta, spread = self._alphas[index], pair.hedge_ratio, self.spreads[index]
            if pair.form == "log":
                prices[pair.dependent] = math.exp(alpha + beta * math.log(driver) + spread)
            else:
                prices[pair.dependent] = alpha + beta * driver + spread


# --- background participants ------------------------------------------------------------------


class _MarketMaker:
    """Quotes `levels` levels a side around fair value for one symbol, refreshing by replace."""

    def __init__(
        self, engine: MatchingEngine, participant: str, instrument: Instrument,
        config: MarketMakerConfig, rng: random.Random,
    ) -> None:  # fmt: skip
        self.engine = engine
        self.participant = participant
        self.symbol = instrument.symbol
        self.tick = instrument.tick_size
        self.config = config
        self.rng = rng
        self.last_fair_ticks: float | None = None
        self.quotes: dict[Side, list[int]] = {
            Side.BUY: [0] * config.levels,
            Side.SELL: [0] * config.levels,
        }
        self.sequence = 0
        lot = instrument.lot_size
        self.sizes = [
            max(lot, (config.size + level * config.size_step) // lot * lot)
            for level in range(config.levels)
        ]
        self.size_jitter = max(lot, config.size_step // 2 // lot * lot)  # makers differ a little

    def act(self, timestamp_ns: int, fair_price: float) -> None:
        fair_ticks = fair_price * PRICE_SCALE / self.tick
        engine = self.engine
        moved = self.last_fair_ticks is None or (
            abs(fair_ticks - self.last_fair_ticks) >= self.config.requote_ticks
        )
        if not moved and all(
            engine.live_quantity(order_id) for side in self.quotes.values() for order_id in side
        ):
            return
        rising = self.last_fair_ticks is not None and fair_ticks > self.last_fair_ticks
        self.last_fair_ticks = fair_ticks
        # move the side that goes away from the other first, so we do not meet our own quotes
        order = (Side.SELL, Side.BUY) if rising else (Side.BUY, Side.SELL)
        config = self.config
        for side in order:
            quotes = self.quotes[side]
            for level in range(config.levels):
                distance = config.half_spread_ticks + level * config.level_spacing_ticks
                if side is Side.BUY:
                    price_ticks = math.floor(fair_ticks - distance)
                else:
                    price_ticks = math.ceil(fair_ticks + distance)
                price = max(1, price_ticks) * self.tick
                size = self.sizes[level] + self.rng.randrange(3) * self.size_jitter
                quotes[level] = self._place(timestamp_ns, side, quotes[level], price, size)

    def _place(self, timestamp_ns: int, side: Side, order_id: int, price: int, size: int) -> int:
        engine = self.engine
        self.sequence += 1
        client_order_id = f"{self.participant}-{self.symbol}-{self.sequence}"
        state = engine.order(order_id) if order_id else None
        if state is None:
            return engine.submit(
                timestamp_ns, self.participant, client_order_id, self.symbol, side, size, price
            )
        if state.price == price and state.leaves * 2 > size:
            self.sequence -= 1
            return order_id  # still there, near full size: keep its place in the queue
        new_id = engine.replace(
            timestamp_ns, self.participant, order_id, client_order_id, state.cum_qty + size, price
        )
        return new_id or order_id


class _NoiseTraders:
    """Marketable orders at random times on every symbol, from a few participants."""

    def __init__(
        self, engine: MatchingEngine, participants: list[str], instruments: list[Instrument],
        config: NoiseTraderConfig, step_s: float, rng: random.Random,
    ) -> None:  # fmt: skip
        self.engine = engine
        self.participants = participants
        self.instruments = instruments
        self.config = config
        self.rate_per_step = config.orders_per_s * step_s
        self.rng = rng
        self.sequence = 0

    def act(self, timestamp_ns: int) -> None:
        if not self.participants:
            return
        rng = self.rng
        config = self.config
        for instrument in self.instruments:
            for _ in range(_poisson(rng, self.rate_per_step)):
                side = Side.BUY if rng.random() < 0.5 else Side.SELL
                lot = instrument.lot_size
                size = max(lot, rng.randint(config.min_size, config.max_size) // lot * lot)
                participant = rng.choice(self.participants)
                self.sequence += 1
                client_order_id = f"{participant}-{self.sequence}"
                symbol = instrument.symbol
                if rng.random() < config.market_order_share:
                    self.engine.submit(
                        timestamp_ns, participant, client_order_id, symbol, side, size, 0,
                        OrdType.MARKET, TimeInForce.IOC,
                    )  # fmt: skip
                    continue
                best = (
                    self.engine.best_ask(symbol)
                    if side is Side.BUY
                    else self.engine.best_bid(symbol)
                )
                if best is None:
                    continue  # nothing to take
                through = config.through_ticks * instrument.tick_size
                price = (
                    best + through
                    if side is Side.BUY
                    else max(instrument.tick_size, best - through)
                )
                self.engine.submit(
                    timestamp_ns, participant, client_order_id, symbol, side, size, price,
                    OrdType.LIMIT, TimeInForce.IOC,
                )  # fmt: skip


def _poisson(rng: random.Random, mean: float) -> int:
    """Knuth's method; fine for the small means of per-step arrivals."""
    if mean <= 0:
        return 0
    limit = math.exp(-mean)
    count = 0
    product = rng.random()
    while product > limit:
        count += 1
        product *= rng.random()
    return count


class BackgroundTraders:
    """The market makers and noise traders of one venue.

    Participants are named `{prefix}MM{n}` and `{prefix}NT{n}`. `seed` defaults to the
    config's; give each venue its own so their books differ.
    """

    def __init__(
        self,
        engine: MatchingEngine,
        config: SyntheticMarketConfig,
        seed: int | None = None,
        participant_prefix: str = "",
    ) -> None:
        self.engine = engine
        self.config = config
        rng = random.Random(config.seed if seed is None else seed)
        listed = engine.instruments
        instruments = []
        for symbol in config.symbols:
            instrument = listed.get(symbol.symbol)
            if instrument is None:
                engine.add_instrument(symbol.instrument())
                instrument = engine.instruments[symbol.symbol]
            instruments.append(instrument)
        self.market_makers = [
            _MarketMaker(
                engine, f"{participant_prefix}MM{number}", instrument, config.market_makers,
                random.Random(rng.random()),
            )
            for number in range(1, config.market_makers.count + 1)
            for instrument in instruments
        ]  # fmt: skip
        self.noise_traders = _NoiseTraders(
            engine,
            [f"{participant_prefix}NT{n}" for n in range(1, config.noise_traders.count + 1)],
            instruments,
            config.noise_traders,
            config.step_ns / 1e9,
            random.Random(rng.random()),
        )

    @property
    def participants(self) -> list[str]:
        makers = sorted({maker.participant for maker in self.market_makers})
        return makers + self.noise_traders.participants

    def act(self, timestamp_ns: int, fair_values: FairValueProcess) -> None:
        """Requote, then send this step's noise orders."""
        prices = fair_values.prices
        for maker in self.market_makers:
            maker.act(timestamp_ns, prices[maker.symbol])
        self.noise_traders.act(timestamp_ns)


class SyntheticMarket:
    """One venue's synthetic market: a fair-value process and its background traders."""

    def __init__(self, config: SyntheticMarketConfig, engine: MatchingEngine | None = None) -> None:
        self.config = config
        self.engine = engine if engine is not None else MatchingEngine(config.instruments())
        self.fair_values = FairValueProcess(config)
        self.traders = BackgroundTraders(self.engine, config)
        self.traders.act(self.fair_values.now_ns, self.fair_values)  # opening quotes

    @property
    def now_ns(self) -> int:
        return self.fair_values.now_ns

    def step(self) -> int:
        """Advance one step: new fair values, then the participants act. Returns the time."""
        now = self.fair_values.step()
        self.traders.act(now, self.fair_values)
        return now

    def run(self, steps: int) -> int:
        for _ in range(steps):
            self.step()
        return self.now_ns

    def advance_to(self, timestamp_ns: int) -> int:
        """Step until the next step would pass `timestamp_ns` (for a live runner's clock)."""
        while self.now_ns + self.config.step_ns <= timestamp_ns:
            self.step()
        return self.now_ns

    def describe(self) -> str:
        return self.config.describe()
