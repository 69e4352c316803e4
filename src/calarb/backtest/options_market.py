"""A synthetic options market: a Heston underlying, a true SSVI surface, market makers quoting
every option around it with noise, and planted mispricings, all on one venue `MatchingEngine`.
(The options half of the exchange simulator sits in backtest because it prices with
`calarb.options`, which the venue room may not import.)

Everything is seeded and moves only when stepped (no clock is read). Per step of `step_ns`:

* the underlying's log price and variance take one full-truncation Euler step of Heston
  (dS/S = sqrt(v) dW1, dv = kappa (theta - v) dt + xi sqrt(v) dW2, corr(dW1, dW2) = rho), in
  model years of `time_scale` times the elapsed calendar time (so a short run can show
  volatility moving);
* the true surface is SSVI (`calarb.options.ssvi`) with fixed rho, eta, gamma and the ATM
  total variance of each expiry equal to Heston's expected integrated variance from the
  current v: theta(T) = T theta_inf + (v - theta_inf)(1 - e^{-kappa T})/kappa, increasing in
  T, so the truth is free of static arbitrage; rates and dividends are zero (forward = spot);
* each option's market maker centres its quote on the Black price at the true vol plus a
  slowly varying noise (an Ornstein-Uhlenbeck offset in vol points) and, while a planted
  mispricing is live on it, plus the plant's shift in vol points; it quotes one order per side
  with a half spread in ticks fixed at listing from the option's vega (`MarketMaker` of
  `calarb.venue.synthetic`, the equity simulator's quoter);
* the underlying's market maker quotes around the spot.

Planted mispricings arrive as a Poisson process (`mispricings_per_minute`), each on a random
option, with a random sign, for `mispricing_seconds`; `plants` records them (the answer key).
Options are listed under their OCC symbols; the venue publishes them on ITTO
(`calarb.venue.options_publisher`) and the underlying on ITCH 5.0.
"""

from __future__ import annotations

import datetime as dt
import math
import random
from dataclasses import dataclass, field
from typing import NamedTuple

import numpy as np

from calarb.core.option_contract import OptionContract
from calarb.core.types import PRICE_SCALE, Instrument
from calarb.options.black import black_greeks, black_price
from calarb.options.ssvi import ssvi_total_variance
from calarb.venue.matching import MatchingEngine
from calarb.venue.synthetic import MarketMakerConfig
from calarb.venue.synthetic import _MarketMaker as SymbolMarketMaker

SECONDS_PER_YEAR = 365.0 * 86_400.0  # ACT/365F
OPTION_MAKER = "OMM"
UNDERLYING_MAKER = "UMM"


FEE_PER_CONTRACT = 5_000
"""The simulated options venue's fee, 1/10,000 units a contract (0.50): the options runs charge
it on every option fill and `calarb options venue` writes it into its run file."""


@dataclass(frozen=True)
class HestonDynamics:
    v0: float = 0.04
    kappa: float = 2.0
    theta: float = 0.04
    xi: float = 0.6
    rho: float = -0.7


@dataclass(frozen=True)
class OptionsMarketConfig:
    underlying: str = "SYNTH"
    start_price: float = 100.0
    trade_date: dt.date = dt.date(2026, 1, 5)
    expiry_days: tuple[int, ...] = (30, 60, 120)
    strike_moneyness: tuple[float, ...] = (0.85, 0.9, 0.95, 1.0, 1.05, 1.1, 1.15)
    rights: tuple[str, ...] = ("C", "P")
    heston: HestonDynamics = field(default_factory=HestonDynamics)
    surface_rho: float = -0.6  # SSVI shape of the true surface
    surface_eta: float = 1.0
    surface_gamma: float = 0.4
    time_scale: float = 20.0  # model years per calendar year elapsed
    step_ns: int = 100_000_000
    option_tick: int = 100  # 0.01
    option_half_spread_vol_points: float = 0.6
    option_quote_size: int = 20
    noise_vol_points: float = 0.15  # stationary sd of the quote noise
    noise_half_life_s: float = 5.0
    mispricings_per_minute: float = 3.0
    mispricing_vol_points: float = 4.0
    mispricing_seconds: float = 15.0
    underlying_half_spread_ticks: float = 1.0
    underlying_size: int = 20_000
    seed: int = 1
    start_ns: int = 34_200_000_000_000  # 09:30 on the trade date, from midnight

    def __post_init__(self) -> None:
        if self.start_price <= 0 or not self.expiry_days or not self.strike_moneyness:
            raise ValueError("options market: start_price > 0, expiries and strikes needed")
        if any(days <= 0 for days in self.expiry_days):
            raise ValueError(f"options market: expiry_days {self.expiry_days} must be positive")
        if self.step_ns <= 0 or self.time_scale <= 0:
            raise ValueError("options market: step_ns and time_scale must be positive")

    def contracts(self) -> list[OptionContract]:
        out = []
        for days in self.expiry_days:
            expiry = self.trade_date + dt.timedelta(days=days)
            for moneyness in self.strike_moneyness:
                strike = round(self.start_price * moneyness * 100) * 100  # whole cents
                for right in self.rights:
                    out.append(OptionContract(self.underlying, expiry, right, strike))
        return out


class PlantedMispricing(NamedTuple):
    symbol: str
    start_ns: int
    end_ns: int
    vol_points: float  # added to the quoted vol: > 0 rich, < 0 cheap


class HestonPath:
    """Spot and variance, one Euler step (full truncation) at a time, seeded."""

    def __init__(self, spot: float, dynamics: HestonDynamics, rng: np.random.Generator) -> None:
        self.spot = spot
        self.variance = dynamics.v0
        self.dynamics = dynamics
        self._rng = rng

    def step(self, dt_years: float) -> None:
        d = self.dynamics
        z1, z2 = self._rng.standard_normal(2)
        z2 = d.rho * z1 + math.sqrt(1.0 - d.rho * d.rho) * z2
        v = max(self.variance, 0.0)
        root = math.sqrt(v * dt_years)
        self.spot *= math.exp(-0.5 * v * dt_years + root * z1)
        self.variance += d.kappa * (d.theta - v) * dt_years + d.xi * root * z2


class OptionsMarket:
    """The simulator: listings on `engine`, the paths, the makers, the plants."""

    def __init__(self, config: OptionsMarketConfig, engine: MatchingEngine | None = None) -> None:
        self.config = config
        self.contracts = config.contracts()
        self.symbols = [c.symbol for c in self.contracts]
        self.underlying = Instrument(config.underlying, tick_size=100, lot_size=1, round_lot=100)
        self.engine = engine if engine is not None else MatchingEngine()
        self.engine.add_instrument(self.underlying)
        for symbol in self.symbols:
            self.engine.add_instrument(
                Instrument(symbol, tick_size=config.option_tick, round_lot=1)
            )
        self.now_ns = config.start_ns
        self._rng = random.Random(config.seed)
        self.path = HestonPath(
            config.start_price, config.heston, np.random.default_rng(config.seed)
        )
        # expiries at midnight of their date; times count from the trade date's midnight
        self._expiry_s = np.array(
            [(c.expiry - config.trade_date).days * 86_400.0 for c in self.contracts]
        )
        self._strikes = np.array([c.strike / PRICE_SCALE for c in self.contracts])
        self._is_call = np.array([c.is_call for c in self.contracts])
        self._noise = np.zeros(len(self.contracts))
        step_s = config.step_ns / 1e9
        self._noise_decay = math.exp(-math.log(2.0) * step_s / config.noise_half_life_s)
        self._noise_rng = np.random.default_rng(config.seed + 1)
        self.plants: list[PlantedMispricing] = []
        self._live_plants: dict[int, PlantedMispricing] = {}
        self._next_plant_ns = self._draw_plant_time(self.now_ns)
        vols = self.true_vols()
        vega = black_greeks(
            config.start_price, self._strikes, self.times(), vols, 1.0, self._is_call
        )["vega"]
        rng = self._rng
        self.makers = []
        for index, symbol in enumerate(self.symbols):
            half = max(
                1.0,
                vega[index]
                * config.option_half_spread_vol_points
                / 100.0
                * PRICE_SCALE
                / config.option_tick,
            )
            mm = MarketMakerConfig(1, 1, half, 1, config.option_quote_size, 0, 1.0)
            self.makers.append(
                SymbolMarketMaker(
                    self.engine, OPTION_MAKER, self.engine.instruments[symbol], mm, rng
                )
            )
        underlying_mm = MarketMakerConfig(
            1, 1, config.underlying_half_spread_ticks, 1, config.underlying_size, 0, 0.5
        )
        self.underlying_maker = SymbolMarketMaker(
            self.engine, UNDERLYING_MAKER, self.underlying, underlying_mm, rng
        )
        self._quote()

    # --- the truth -------------------------------------------------------------------------
    def times(self, now_ns: int | None = None) -> np.ndarray:
        """Years to expiry (ACT/365F, calendar time) of every listed option."""
        now = self.now_ns if now_ns is None else now_ns
        return (self._expiry_s - now / 1e9) / SECONDS_PER_YEAR

    def true_vols(self) -> np.ndarray:
        c = self.config
        h = c.heston
        t = self.times()
        model_t = t * c.time_scale
        v = max(self.path.variance, 1e-6)
        theta = (
            model_t * h.theta + (v - h.theta) * (1.0 - np.exp(-h.kappa * model_t)) / h.kappa
        ) / c.time_scale
        k = np.log(self._strikes / self.path.spot)
        w = ssvi_total_variance(k, theta, c.surface_rho, c.surface_eta, c.surface_gamma)[0]
        return np.sqrt(w / t)

    def fair_values(self, vols: np.ndarray | None = None) -> np.ndarray:
        """Black prices (currency units) at the true vols (or the given ones)."""
        vols = self.true_vols() if vols is None else vols
        return black_price(self.path.spot, self._strikes, self.times(), vols, 1.0, self._is_call)

    # --- stepping --------------------------------------------------------------------------
    def step(self) -> int:
        c = self.config
        self.now_ns += c.step_ns
        self.path.step(c.step_ns / 1e9 / SECONDS_PER_YEAR * c.time_scale)
        sd = c.noise_vol_points * math.sqrt(1.0 - self._noise_decay**2)
        self._noise = self._noise * self._noise_decay + sd * self._noise_rng.standard_normal(
            self._noise.size
        )
        for index, plant in list(self._live_plants.items()):
            if plant.end_ns <= self.now_ns:
                del self._live_plants[index]
        while self._next_plant_ns <= self.now_ns:
            self._plant(self._next_plant_ns)
            self._next_plant_ns = self._draw_plant_time(self._next_plant_ns)
        self._quote()
        return self.now_ns

    def run(self, steps: int) -> int:
        for _ in range(steps):
            self.step()
        return self.now_ns

    def quoted_vols(self) -> np.ndarray:
        """The vols the makers centre their quotes on: truth + noise + live plants."""
        shift = self._noise.copy()
        for index, plant in self._live_plants.items():
            shift[index] += plant.vol_points
        return self.true_vols() + shift / 100.0

    def _quote(self) -> None:
        now = self.now_ns
        self.underlying_maker.act(now, self.path.spot)
        for maker, value in zip(self.makers, self.fair_values(self.quoted_vols()), strict=True):
            maker.act(now, max(float(value), 0.01))

    def _draw_plant_time(self, after_ns: int) -> int:
        rate = self.config.mispricings_per_minute / 60e9
        if rate <= 0:
            return 2**62
        return after_ns + max(1, int(self._rng.expovariate(rate)))

    def _plant(self, at_ns: int) -> None:
        c = self.config
        free = [i for i in range(len(self.symbols)) if i not in self._live_plants]
        if not free:
            return
        index = self._rng.choice(free)
        sign = 1.0 if self._rng.random() < 0.5 else -1.0
        self.plant(self.symbols[index], sign * c.mispricing_vol_points, c.mispricing_seconds, at_ns)

    def plant(
        self, symbol: str, vol_points: float, seconds: float, at_ns: int | None = None
    ) -> PlantedMispricing:
        """Shift the maker's quote of `symbol` by `vol_points` from `at_ns` (now) for
        `seconds` (the random plants use this too); the quote moves at the next step."""
        start = self.now_ns if at_ns is None else at_ns
        plant = PlantedMispricing(symbol, start, start + int(seconds * 1e9), vol_points)
        self._live_plants[self.symbols.index(symbol)] = plant
        self.plants.append(plant)
        return plant
