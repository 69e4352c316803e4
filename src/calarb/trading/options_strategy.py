"""Calibration arbitrage on options: a surface recalibrated from the quote stream, options
traded when the market deviates from it, the book delta-hedged with the underlying.

A `calarb.Strategy`, run by the engine (`TradingEngine` through a `StrategyHost`): quotes
come in as `on_top_of_book` (options by OCC symbol), own fills as `on_fill` (the OMS's
records); `on_timer(now_ns)` returns IOC limit `OrderIntent`s, which pass the engine's risk
gate, router and OMS like any strategy's. Every `signal_interval_ns` (the surface itself
refitted every `recalibration_ns`):

1. implied vols of every two-sided option quote whose vega makes its vol observable (a vol
   point worth at least `min_vega_cents` cents), from the mid, forward = underlying mid;
2. an SSVI surface (`calarb.options.ssvi.fit_ssvi`) fitted to them, warm-started from the
   previous fit, then refitted without the quotes the first fit could not explain (more than
   `outlier_vol_points` away): a planted mispricing must not bend the surface toward itself;
3. per option, the residual (market vol - surface vol, in vol points) and its z-score against
   that option's own exponentially weighted residual history (updated after the test; own
   fills enter the history too, at the implied vol of their price);
4. entry: no position, the executable price beats the surface value by `entry_vol_points`
   times the option's vega plus the fee, and |z| >= `entry_z`: buy at the ask (cheap) or sell
   at the bid (rich); exit: a position whose residual is back within `exit_vol_points`, or
   held longer than `max_holding_ns`, is closed at the opposite side;
5. the book's delta (options at the surface's Black delta, plus the underlying position) is
   brought back to zero with an underlying order when it leaves `hedge_band_shares`.

Time: intervals (signals, refits, holding) are the engine clock's; times to expiry count from
its wall time (`StrategyContext.wall_ns`, ACT/365F to the expiry date's midnight UTC), so a
live engine's monotonic clock and a run's simulated one (whose wall time is the simulated
day's) give the same kind of figure.

Before an intent leaves the strategy it passes `OptionsRiskGate` (order size, contracts per
option, book vega and delta): the options limits, an additional check on this strategy's
path only, so the engine's `RiskGate.check` (the pairs path) is unchanged. Positions and
working orders are the host's (`context`). Prices are integers in 1/10,000; the contract
multiplier is 100.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, fields
from typing import Any

import numpy as np

from calarb.core.clock import DAY_NS, utc_midnight_ns
from calarb.core.events import TopOfBook
from calarb.core.option_contract import CONTRACT_MULTIPLIER, OptionContract, parse_occ_symbol
from calarb.core.orders import OrderPurpose, TimeInForce
from calarb.core.types import PRICE_SCALE, Side
from calarb.options.black import black_greeks, black_price
from calarb.options.implied import implied_vol
from calarb.options.ssvi import fit_ssvi, ssvi_total_variance
from calarb.options.surface import SurfaceFit
from calarb.trading.options_risk import OptionsRiskGate, OptionsRiskLimits, OptionsRiskReason
from calarb.trading.orders import Liquidity, OrderIntent, OrderRecord
from calarb.trading.strategy_api import IDLE_FOREVER, Strategy

SECONDS_PER_YEAR = 365.0 * 86_400.0


@dataclass(frozen=True)
class OptionsStrategyConfig:
    underlying: str
    trade_date: dt.date | None = None
    """The day whose midnight (UTC) times to expiry count from; the time itself is the
    engine clock's wall time (`StrategyContext.wall_ns`), so only the float rounding depends
    on it. None: the day of the wall time at the first signal."""
    entry_vol_points: float = 2.0
    entry_z: float = 3.0
    exit_vol_points: float = 0.75
    outlier_vol_points: float = 1.5
    min_vega_cents: float = 4.0
    signal_interval_ns: int = 500_000_000  # residuals and trades
    recalibration_ns: int = 2_000_000_000  # a new surface fit
    history_half_life: float = 30.0  # observations
    min_history: int = 10
    order_contracts: int = 5
    max_holding_ns: int = 30_000_000_000
    hedge_band_shares: int = 100
    fee_per_contract: int = 0  # 1/10,000 currency units, counted in the entry edge

    def __post_init__(self) -> None:
        if self.entry_vol_points <= self.exit_vol_points or self.entry_z <= 0:
            raise ValueError("options strategy: entry above exit and a positive entry_z needed")
        if self.order_contracts <= 0 or self.recalibration_ns <= 0 or self.signal_interval_ns <= 0:
            raise ValueError("options strategy: order size and intervals must be positive")


_PURPOSES = {"entry": OrderPurpose.ENTRY, "exit": OrderPurpose.EXIT, "hedge": OrderPurpose.ENTRY}


def purpose_of(tag: str) -> str:
    """'entry', 'exit' or 'hedge' from an order's tag ('options:entry')."""
    return tag.rpartition(":")[2]


class _History:
    """Exponentially weighted mean and variance of one option's residuals."""

    __slots__ = ("count", "mean", "variance")

    def __init__(self) -> None:
        self.count = 0
        self.mean = 0.0
        self.variance = 0.0

    def z(self, value: float) -> float:
        return (value - self.mean) / math.sqrt(self.variance) if self.variance > 1e-12 else 0.0

    def add(self, value: float, alpha: float) -> None:
        self.count += 1
        if self.count == 1:
            self.mean = value
            return
        delta = value - self.mean
        self.mean += alpha * delta
        self.variance = (1.0 - alpha) * (self.variance + alpha * delta * delta)


class OptionsCalibrationStrategy(Strategy):
    """The strategy of the module docstring. `contracts`: the options it watches and trades
    (from the feed's listings); `symbols` are those and the underlying."""

    name = "options"
    feed_protocols = ("itto", "itch")
    """A run file needs a venue publishing ITTO (the options) and one publishing ITCH 5.0
    (the underlying, quoted and traded on its own venue): checked when the file loads."""

    def __init__(
        self, config: OptionsStrategyConfig, risk: OptionsRiskGate,
        contracts: Iterable[OptionContract] = (),
    ) -> None:  # fmt: skip
        self.config = config
        self.risk = risk
        self.contracts: dict[str, OptionContract] = {}
        self.symbols = [config.underlying]
        self.tops: dict[str, TopOfBook] = {}
        self.underlying_top: TopOfBook | None = None
        self.entered_ns: dict[str, int] = {}
        self.option_fills = 0
        self.hedge_fills = 0
        self.fit: SurfaceFit | None = None
        self.fits = 0
        self.residuals: dict[str, float] = {}
        self._history: dict[str, _History] = {}
        self._alpha = 1.0 - 0.5 ** (1.0 / config.history_half_life)
        self._next_calibration_ns = 0
        self._next_fit_ns = 0
        self._now_values: dict[str, tuple[float, float, bool]] = {}
        self._greeks: dict[str, tuple[float, float, float]] = {}  # symbol -> (vol, delta, vega)
        self._trade_date = config.trade_date
        self._midnight_ns = None if self._trade_date is None else utc_midnight_ns(self._trade_date)
        self.signals = 0
        for contract in contracts:
            self.on_option_listed(contract)

    @classmethod
    def from_config(cls, table: Mapping[str, Any]) -> OptionsCalibrationStrategy:
        """From a run file's `[strategy]` table: `underlying`, `trade_date` (optional: a TOML
        date or "YYYY-MM-DD"), `options` (the OCC symbols to trade: a live engine's symbols are fixed
        before its feeds open), any `OptionsStrategyConfig` key, and a `limits` table of
        `OptionsRiskLimits` keys. ValueError names the key."""
        table = dict(table)
        options = table.pop("options", None)
        if not isinstance(options, list) or not options:
            raise ValueError("options: a non-empty list of OCC option symbols is needed")
        contracts = []
        for k, symbol in enumerate(options):
            try:
                contracts.append(parse_occ_symbol(str(symbol)))
            except ValueError as exc:
                raise ValueError(f"options[{k}]: {exc}") from None
        limits = table.pop("limits", {})
        trade_date = table.get("trade_date")
        if isinstance(trade_date, str):
            try:
                table["trade_date"] = dt.date.fromisoformat(trade_date)
            except ValueError:
                raise ValueError(f"trade_date: {trade_date!r} is not YYYY-MM-DD") from None
        unknown = set(table) - {f.name for f in fields(OptionsStrategyConfig)}
        unknown |= {f"limits.{k}" for k in set(limits) - set(OptionsRiskLimits.__dataclass_fields__)}
        if unknown:
            raise ValueError(f"unknown key(s) {sorted(unknown)}")
        risk = OptionsRiskGate(OptionsRiskLimits(**limits))
        return cls(OptionsStrategyConfig(**table), risk, contracts)

    # --- inputs ----------------------------------------------------------------------------
    def on_option_listed(self, contract: OptionContract) -> None:
        """An option to watch (before the engine is built: its symbols are fixed then)."""
        if contract.symbol not in self.contracts:
            self.symbols.append(contract.symbol)
        self.contracts[contract.symbol] = contract
        self._history[contract.symbol] = _History()

    def on_top_of_book(self, top: TopOfBook) -> None:
        if top.symbol == self.config.underlying:
            self.underlying_top = top
        elif top.symbol in self.contracts:
            self.tops[top.symbol] = top

    def on_fill(self, order: OrderRecord, quantity: int, price: int, liquidity: Liquidity) -> None:
        """An own fill (the host has already counted it in `context.positions`)."""
        symbol = order.symbol
        if symbol == self.config.underlying:
            self.hedge_fills += 1
            return
        self.option_fills += 1
        if self.context.position(symbol) == 0:
            self.entered_ns.pop(symbol, None)
        else:
            self.entered_ns.setdefault(symbol, order.updated_ns)
        self._learn_from_fill(symbol, price, order.updated_ns)

    # --- the decision ------------------------------------------------------------------------
    def on_timer(self, now_ns: int) -> list[OrderIntent]:
        if now_ns < self._next_calibration_ns or self.underlying_top is None:
            return []
        self._next_calibration_ns = now_ns + self.config.signal_interval_ns
        self.risk.observe_delta(self.book_delta())  # the book as the last fills left it
        spot = self._mid(self.underlying_top)
        if spot is None or not self._calibrate(now_ns, spot):
            return []
        orders = self._trades(now_ns)
        hedge = self._hedge(extra=orders)
        if hedge is not None:
            orders.append(hedge)
        return orders

    def timer_idle_until(self) -> int:
        return self._next_calibration_ns if self.underlying_top is not None else IDLE_FOREVER

    def totals(self) -> dict[str, int]:
        return {
            "signals": self.signals, "surface_fits": self.fits,
            "option_fills": self.option_fills, "hedge_fills": self.hedge_fills,
            "worst_abs_delta_shares": round(self.risk.worst_abs_delta),  # at the signals
        }  # fmt: skip

    def state(self) -> dict[str, object]:
        return {"book_delta_shares": round(self.book_delta(), 1),
                "book_vega": round(self.book_vega(), 2)}  # fmt: skip

    @property
    def positions(self) -> dict[str, int]:
        """Contracts per option and shares of the underlying (the host's, from own fills)."""
        return self.context.positions

    def book_delta(self) -> float:
        """Shares of underlying equivalent: options at their last surface delta."""
        delta = float(self.positions.get(self.config.underlying, 0))
        for symbol, contracts in self.positions.items():
            greeks = self._greeks.get(symbol)
            if greeks is not None and contracts:
                delta += contracts * CONTRACT_MULTIPLIER * greeks[1]
        return delta

    def book_vega(self) -> float:
        vega = 0.0
        for symbol, contracts in self.positions.items():
            greeks = self._greeks.get(symbol)
            if greeks is not None and contracts:
                vega += contracts * greeks[2]
        return vega

    # --- internals ---------------------------------------------------------------------------
    @staticmethod
    def _mid(top: TopOfBook) -> float | None:
        if top.bid_shares <= 0 or top.ask_shares <= 0:
            return None
        return (top.bid_price + top.ask_price) / 2 / PRICE_SCALE

    def _calibrate(self, now_ns: int, spot: float) -> bool:
        """Implied vols of the quotes; a new surface when one is due; residuals against it."""
        config = self.config
        symbols, strikes, times, calls, mids = [], [], [], [], []
        for symbol, top in self.tops.items():
            mid = self._mid(top)
            if mid is None:
                continue
            contract = self.contracts[symbol]
            t = self._years_to_expiry(contract, now_ns)
            if t <= 0:
                continue
            symbols.append(symbol)
            strikes.append(contract.strike / PRICE_SCALE)
            times.append(t)
            calls.append(contract.is_call)
            mids.append(mid)
        if len(symbols) < 6:
            return False
        strike, time, call, mid = (np.array(v) for v in (strikes, times, calls, mids))
        vol = implied_vol(mid, spot, strike, time, 1.0, call)
        rough = np.where(np.isfinite(vol), vol, 0.2)
        vega = black_greeks(spot, strike, time, rough, 1.0, call)["vega"]
        usable = np.isfinite(vol) & (vega >= config.min_vega_cents)  # vega/100 = per vol point
        k = np.log(strike / spot)
        if self.fit is None or now_ns >= self._next_fit_ns:
            if np.count_nonzero(usable) < 6 or np.unique(time[usable]).size < 2:
                return False
            self._refit(k, time, vol, usable)
            self._next_fit_ns = now_ns + config.recalibration_ns
        model_vol = self._surface_vol(self.fit, k, time)
        greeks = black_greeks(spot, strike, time, model_vol, 1.0, call)
        value = black_price(spot, strike, time, model_vol, 1.0, call)
        self._now_values = {}
        self.residuals = {}
        for i, symbol in enumerate(symbols):
            self._greeks[symbol] = (
                float(model_vol[i]),
                float(greeks["delta"][i]),
                float(greeks["vega"][i]) * CONTRACT_MULTIPLIER / 100.0,  # per vol point
            )
            self._now_values[symbol] = (
                float(value[i]),
                float(greeks["vega"][i]) / 100.0,
                bool(usable[i]),
            )
            if usable[i]:
                self.residuals[symbol] = 100.0 * (float(vol[i]) - float(model_vol[i]))
        return True

    def _refit(self, k: np.ndarray, time: np.ndarray, vol: np.ndarray, usable: np.ndarray) -> None:
        """SSVI on the usable quotes (warm-started), then again without the quotes it could
        not explain, so that a mispriced quote does not bend the surface toward itself."""
        config = self.config
        fit = fit_ssvi(k[usable], time[usable], vol[usable], self._warm_start(time[usable]))
        inliers = np.abs(fit.residuals_vol_points) <= config.outlier_vol_points
        if not inliers.all() and np.count_nonzero(inliers) >= 6:
            keep = np.flatnonzero(usable)[inliers]
            if np.unique(time[keep]).size == np.unique(time[usable]).size:
                fit = fit_ssvi(k[keep], time[keep], vol[keep], fit)
        self.fit = fit
        self.fits += 1

    def _years_to_expiry(self, contract: OptionContract, now_ns: int) -> float:
        """ACT/365F from the wall time of the engine time `now_ns` to the expiry date's
        midnight (UTC), counted from the trade date's midnight."""
        since_midnight_ns = self.context.wall_ns(now_ns) - self._day_start_ns(now_ns)
        days = (contract.expiry - self._trade_date).days
        return (days * 86_400.0 - since_midnight_ns / 1e9) / SECONDS_PER_YEAR

    def _day_start_ns(self, now_ns: int) -> int:
        if self._midnight_ns is None:  # no trade_date: the day of the first signal
            wall = self.context.wall_ns(now_ns)
            self._midnight_ns = wall - wall % DAY_NS
            self._trade_date = dt.date(1970, 1, 1) + dt.timedelta(days=wall // DAY_NS)
        return self._midnight_ns

    def _warm_start(self, times: np.ndarray) -> SurfaceFit | None:
        fit = self.fit
        if fit is None or len(fit.parameters["expiries"]) != np.unique(times).size:
            return None
        return fit

    @staticmethod
    def _surface_vol(fit: SurfaceFit, k: np.ndarray, time: np.ndarray) -> np.ndarray:
        p = fit.parameters
        expiries = np.array(p["expiries"])
        theta_at = np.array(p["theta"])
        # ATM total variance at each quote's time: linear in T between fitted expiries
        theta = np.interp(time, expiries, theta_at)
        w = ssvi_total_variance(k, theta, p["rho"], p["eta"], p["gamma"])[0]
        return np.sqrt(np.maximum(w, 1e-12) / time)

    def _order(self, symbol: str, side: Side, quantity: int, price: int, purpose: str
               ) -> OrderIntent:  # fmt: skip
        """An IOC limit intent (a fresh ClOrdID from the host), tagged with its purpose."""
        return self.context.order(
            symbol, side, quantity, price, time_in_force=TimeInForce.IOC,
            purpose=_PURPOSES[purpose], tag=purpose,
        )  # fmt: skip

    def _trades(self, now_ns: int) -> list[OrderIntent]:
        config = self.config
        context = self.context
        orders: list[OrderIntent] = []
        book_vega = self.book_vega()
        book_delta = self.book_delta()
        fee = config.fee_per_contract / PRICE_SCALE / CONTRACT_MULTIPLIER  # per share
        for symbol, residual in self.residuals.items():
            if context.orders_of(symbol):
                continue  # an order in flight
            history = self._history[symbol]
            z = history.z(residual)
            ready = history.count >= config.min_history
            history.add(residual, self._alpha)
            top = self.tops[symbol]
            position = self.positions.get(symbol, 0)
            value, vega_point, usable = self._now_values.get(symbol, (0.0, 0.0, False))
            if position:
                held = now_ns - self.entered_ns.get(symbol, now_ns)
                if abs(residual) <= config.exit_vol_points or held >= config.max_holding_ns:
                    side = Side.SELL if position > 0 else Side.BUY
                    price = top.bid_price if side is Side.SELL else top.ask_price
                    size = top.bid_shares if side is Side.SELL else top.ask_shares
                    if size > 0:
                        orders.append(self._order(symbol, side, abs(position), price, "exit"))
                continue
            if not (ready and usable) or abs(z) < config.entry_z:
                continue
            edge = config.entry_vol_points * vega_point + fee
            if residual < 0 and top.ask_shares > 0 and value - top.ask_price / PRICE_SCALE >= edge:
                side, price = Side.BUY, top.ask_price
            elif (
                residual > 0 and top.bid_shares > 0 and top.bid_price / PRICE_SCALE - value >= edge
            ):
                side, price = Side.SELL, top.bid_price
            else:
                continue
            self.signals += 1
            greeks = self._greeks[symbol]
            quantity = min(
                config.order_contracts, top.ask_shares if side is Side.BUY else top.bid_shares
            )
            signed = quantity * side
            reason = self.risk.check_option(
                signed, position, greeks[2], greeks[1] * CONTRACT_MULTIPLIER, book_vega, book_delta
            )
            if reason is not OptionsRiskReason.PASSED:
                continue
            book_vega += signed * greeks[2]
            book_delta += signed * greeks[1] * CONTRACT_MULTIPLIER
            orders.append(self._order(symbol, side, quantity, price, "entry"))
        return orders

    def _hedge(self, extra: list[OrderIntent]) -> OrderIntent | None:
        """The underlying order that brings the book's delta (after `extra` fill) to zero."""
        config = self.config
        if self.context.orders_of(config.underlying) or self.underlying_top is None:
            return None
        delta = self.book_delta()
        for order in extra:
            greeks = self._greeks[order.symbol]
            delta += order.quantity * order.side * greeks[1] * CONTRACT_MULTIPLIER
        if abs(delta) <= config.hedge_band_shares:
            return None
        shares = -round(delta)
        if self.risk.check_hedge(shares, delta) is not OptionsRiskReason.PASSED:
            return None
        top = self.underlying_top
        side = Side.BUY if shares > 0 else Side.SELL
        price = top.ask_price if side is Side.BUY else top.bid_price
        if price <= 0:
            return None
        return self._order(config.underlying, side, abs(shares), price, "hedge")

    def _learn_from_fill(self, symbol: str, price: int, time_ns: int) -> None:
        """An own fill is a traded price: its residual against the surface joins the option's
        history (so a price we could trade at counts as evidence of the market's level)."""
        greeks = self._greeks.get(symbol)
        if greeks is None or self.underlying_top is None:
            return
        spot = self._mid(self.underlying_top)
        contract = self.contracts[symbol]
        t = self._years_to_expiry(contract, time_ns)
        if spot is None or t <= 0:
            return
        vol = implied_vol(
            price / PRICE_SCALE, spot, contract.strike / PRICE_SCALE, t, 1.0, contract.is_call
        )
        if np.isfinite(vol):
            self._history[symbol].add(100.0 * (float(vol) - greeks[0]), self._alpha)
