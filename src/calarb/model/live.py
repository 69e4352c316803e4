"""The live pair model: consumes top-of-book updates and calarb's own fills, recalibrates.

Prices arrive as integers in 1/10,000 units and become floats in currency units inside the
model (so parameters fitted on daily research data apply unchanged). The model never reads a
clock: every update carries its own time in nanoseconds.

Each observation (a quote update of either leg once both legs have a price, or a fill when
`fills_as_observations`) does, in order:

1. measure the spread, its z-score and the calibration errors against the parameters held
   *before* the observation (what the model believed: no look-ahead);
2. let the hedge estimator learn from the observation (recalibration);
3. append a `ParameterSnapshot` to the history (the last `history_limit`; 0 keeps none and
   builds none: a live engine, which nothing asks for the history, saves the memory, about
   410 bytes a snapshot, 41 MB a pair at the default, and an allocation per observation).

Fills also move the per-leg position and its average open price; the realised spread is the
spread of the two average open prices under the current parameters (None until both legs are
open). Updates that cannot be used (empty side, crossed book, time going backwards, unknown
symbol) are ignored and counted in `ignored_updates`, never raised into the engine.
"""

from __future__ import annotations

import math
import math as _libm  # compiled: C's libm (live.pxd), called only where Python's agrees
from collections import deque
from typing import NamedTuple

import pandas as pd

from calarb.core.events import TopOfBook
from calarb.core.types import PRICE_SCALE, Side
from calarb.model.hedge import HedgeEstimator
from calarb.model.spread import (
    SpreadForm,
    SpreadStats,
    spread_value,
    theoretical_a,
    theoretical_b,
)
from calarb.model.validation import ModelInputError

PRICE_SOURCES = ("mid", "microprice")
_LOG = SpreadForm.LOG
_PRICE_SCALE = float(PRICE_SCALE)  # a C double when compiled (live.pxd)
_new_snapshot = tuple.__new__  # builds a ParameterSnapshot without its Python-level __new__
HISTORY_LIMIT = 100_000
"""Default number of `ParameterSnapshot`s a model keeps (the backtest reports draw them)."""
FILL_LIMIT = 100_000
"""Default number of own fills (`LegFill`) a model keeps."""


class ParameterSnapshot(NamedTuple):
    time_ns: int
    source: str  # "quote" or "fill"
    price_a: float
    price_b: float
    alpha: float
    beta: float
    spread: float
    spread_mean: float
    spread_std: float
    z: float


class LegFill(NamedTuple):
    time_ns: int
    symbol: str
    side: Side
    price: int
    shares: int
    calibration_error: float  # fill price minus the leg's theoretical price, currency units


class _LegPosition:
    __slots__ = ("shares", "average_price")

    def __init__(self) -> None:
        self.shares = 0
        self.average_price = 0.0

    def apply(self, signed_shares: int, price: float) -> None:
        new_shares = self.shares + signed_shares
        if self.shares == 0 or (self.shares > 0) != (new_shares > 0) or new_shares == 0:
            # opening, or flipping through zero: the remainder opens at this price
            self.average_price = price if new_shares != 0 else 0.0
        elif abs(new_shares) > abs(self.shares):  # adding to the position
            self.average_price = (
                self.average_price * abs(self.shares) + price * abs(signed_shares)
            ) / abs(new_shares)
        self.shares = new_shares


class PairModel:
    """Model of leg A ~ alpha + beta leg B, fed by quotes and fills.

    `estimator` is any online hedge estimator (calarb.model.hedge); the spread's z-score uses
    a rolling window of `zscore_window` observations if given, else an EWMA with
    `zscore_halflife`. `price_source` picks the mid or the microprice of each top of book.
    """

    def __init__(
        self,
        leg_a: str,
        leg_b: str,
        estimator: HedgeEstimator,
        *,
        form: SpreadForm = SpreadForm.LOG,
        zscore_window: int | None = None,
        zscore_halflife: float | None = 100.0,
        price_source: str = "mid",
        fills_as_observations: bool = True,
        history_limit: int = HISTORY_LIMIT,
        fill_limit: int = FILL_LIMIT,
    ) -> None:
        if leg_a == leg_b:
            raise ModelInputError(f"a pair needs two different legs, got {leg_a!r} twice")
        if price_source not in PRICE_SOURCES:
            raise ModelInputError(
                f"price_source must be one of {PRICE_SOURCES}, got {price_source!r}"
            )
        if history_limit < 0 or fill_limit < 0:
            raise ModelInputError(
                f"history_limit {history_limit} and fill_limit {fill_limit} must be >= 0"
            )
        if zscore_window is not None:
            zscore_halflife = None
        self.leg_a = leg_a
        self.leg_b = leg_b
        self.estimator = estimator
        self.form = form
        self.price_source = price_source
        self.fills_as_observations = fills_as_observations
        self.stats = SpreadStats(window=zscore_window, halflife=zscore_halflife)
        self.price_a = math.nan
        self.price_b = math.nan
        self.spread = math.nan
        self.z = 0.0
        self.last_time_ns = -1
        self.observations = 0
        self.ignored_updates = 0
        self.last_ignored_reason = ""
        self.history: deque[ParameterSnapshot] = deque(maxlen=history_limit)
        self._keeps_history = history_limit > 0
        self.fills: deque[LegFill] = deque(maxlen=fill_limit)
        self._positions = {leg_a: _LegPosition(), leg_b: _LegPosition()}
        self._quote_a = math.nan  # model price of each leg's last quote (see on_top_of_book)
        self._quote_b = math.nan

    # -- inputs ---------------------------------------------------------------------------

    def on_top_of_book(self, top: TopOfBook) -> bool:
        """Feed one top-of-book update; True when it became an observation (both legs priced).

        A quote whose model price (mid, or microprice) equals the model price of the leg's
        previous quote is not a new observation: it returns False and changes nothing (a size
        change at unchanged prices says nothing new about the mid). Fills do not count as
        quotes here. Unusable quotes (empty side, crossed) are ignored before this test."""
        symbol, time_ns, bid, bid_shares, ask, ask_shares = top
        if symbol != self.leg_a and symbol != self.leg_b:
            return self._ignore(f"symbol {symbol!r} is not a leg of this pair")
        if bid_shares <= 0 or ask_shares <= 0:
            # an empty side (TopOfBook.mid_price and .microprice say None)
            return self._ignore(f"{symbol} has an empty side at t={time_ns}")
        if bid > ask:
            return self._ignore(f"{symbol} book crossed at t={time_ns}")
        # the mid is TopOfBook.mid_price, inlined
        price = (bid + ask) / 2 if self.price_source == "mid" else top.microprice()
        if symbol == self.leg_a:
            if price == self._quote_a:
                return False
            self._quote_a = price
        else:
            if price == self._quote_b:
                return False
            self._quote_b = price
        return self._observe(symbol, price / _PRICE_SCALE, time_ns, "quote")

    def on_fill(self, symbol: str, side: Side, price: int, shares: int, time_ns: int) -> bool:
        """Record one of calarb's own fills (price in 1/10,000 units, shares > 0).

        Updates the leg position and realised spread; with `fills_as_observations` the fill
        price is also an observation of that leg. Returns True when it became an observation.
        Unlike market data, a bad fill is a caller bug and raises ModelInputError.
        """
        if symbol not in self._positions:
            raise ModelInputError(f"fill for {symbol!r}, which is not a leg of {self.pair}")
        if shares <= 0 or price <= 0:
            raise ModelInputError(
                f"fill for {symbol}: price {price} and shares {shares} must be > 0"
            )
        fill_price = price / _PRICE_SCALE
        error = self.calibration_error(symbol, fill_price) if self.ready else math.nan
        self._positions[symbol].apply(int(side) * shares, fill_price)
        self.fills.append(LegFill(time_ns, symbol, Side(side), price, shares, error))
        if self.fills_as_observations:
            return self._observe(symbol, fill_price, time_ns, "fill")
        return False

    # -- state ----------------------------------------------------------------------------

    @property
    def pair(self) -> str:
        return f"{self.leg_a}/{self.leg_b}"

    def is_ready(self) -> bool:
        """True once the estimator has parameters and both legs have a price (`ready`; a
        method, so that compiled callers reach it without a property lookup)."""
        # x == x: not NaN (a C compare when compiled, where math.isnan is a Python call)
        return self.estimator.ready and self.price_a == self.price_a and self.price_b == self.price_b

    @property
    def ready(self) -> bool:
        return self.is_ready()

    @property
    def alpha(self) -> float:
        return self.estimator.alpha

    @property
    def beta(self) -> float:
        return self.estimator.beta

    def parameters(self) -> dict[str, float | int | str]:
        """Current parameters and state, for reports and dashboards."""
        return {
            "pair": self.pair,
            "estimator": self.estimator.name,
            "form": self.form.value,
            "alpha": self.alpha,
            "beta": self.beta,
            "spread": self.spread,
            "spread_mean": self.stats.mean,
            "spread_std": self.stats.std,
            "z": self.z,
            "observations": self.observations,
            "ignored_updates": self.ignored_updates,
        }

    def history_frame(self) -> pd.DataFrame:
        """The parameter history as a table (one row per observation)."""
        return pd.DataFrame(list(self.history), columns=ParameterSnapshot._fields)

    def theoretical_price(self, symbol: str) -> float:
        """The leg's fair price from the other leg's current price (currency units)."""
        self._require_ready()
        if symbol == self.leg_a:
            return theoretical_a(self.price_b, self.alpha, self.beta, self.form)
        if symbol == self.leg_b:
            return theoretical_b(self.price_a, self.alpha, self.beta, self.form)
        raise ModelInputError(f"{symbol!r} is not a leg of {self.pair}")

    def calibration_error(self, symbol: str, market_price: float | None = None) -> float:
        """Market minus theoretical price of a leg (currency units; market defaults to last)."""
        if market_price is None:
            market_price = self.price_a if symbol == self.leg_a else self.price_b
        return market_price - self.theoretical_price(symbol)

    def position(self, symbol: str) -> int:
        return self._positions[symbol].shares

    def average_open_price(self, symbol: str) -> float:
        return self._positions[symbol].average_price

    @property
    def realised_spread(self) -> float | None:
        """Spread of the two legs' average open prices, None until both legs are open."""
        leg_a, leg_b = self._positions[self.leg_a], self._positions[self.leg_b]
        if leg_a.shares == 0 or leg_b.shares == 0 or not self.estimator.ready:
            return None
        return spread_value(
            leg_a.average_price, leg_b.average_price, self.alpha, self.beta, self.form
        )

    # -- internals ------------------------------------------------------------------------

    def _require_ready(self) -> None:
        if not self.ready:
            raise ModelInputError(f"{self.pair}: model not calibrated yet")

    def _ignore(self, reason: str) -> bool:
        self.ignored_updates += 1
        self.last_ignored_reason = reason
        return False

    def _observe(self, symbol: str, price: float, time_ns: int, source: str) -> bool:
        if time_ns < self.last_time_ns:
            return self._ignore(
                f"{symbol} update at t={time_ns} is older than t={self.last_time_ns}"
            )
        log_form = self.form is _LOG
        if price <= 0.0 and log_form:
            return self._ignore(f"{symbol} non-positive price {price} in a log model")
        self.last_time_ns = time_ns
        if symbol == self.leg_a:
            self.price_a = price_a = price
            price_b = self.price_b
        else:
            self.price_b = price_b = price
            price_a = self.price_a
        if price_a != price_a or price_b != price_b:  # NaN: a leg has no price yet
            return False
        if log_form:
            x, y = _libm.log(price_b), _libm.log(price_a)  # both > 0 here
        else:
            x, y = price_b, price_a
        estimator = self.estimator
        stats = self.stats
        if estimator.ready:
            self.spread = y - estimator.alpha - estimator.beta * x
            self.z = stats.update(self.spread)
        estimator.update(x, y)
        self.observations += 1
        if not self._keeps_history:
            return True
        self.history.append(
            _new_snapshot(
                ParameterSnapshot,
                (
                    time_ns,
                    source,
                    price_a,
                    price_b,
                    estimator.alpha,
                    estimator.beta,
                    self.spread,
                    stats.mean,
                    stats.std,
                    self.z,
                ),
            )
        )
        return True
