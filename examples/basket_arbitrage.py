"""ETF-versus-components arbitrage, written only against `calarb.Strategy`.

The model is the basket's premium: the ETF's mid less the weighted sum of its components'
mids (`components`: symbol -> shares of it per ETF share), in 1/10,000 currency units. An
exponentially weighted mean and variance of the premium (half-life `halflife` observations)
give its z-score. When the premium is rich (z above `entry`) it sells `size` ETF shares and
buys the components in their weights; when cheap (z below -`entry`) the mirror image. It goes
flat again when |z| falls under `exit`. Each decision only moves target positions; the
orders are immediate-or-cancel at the far touch for whatever separates a symbol's position
from its target, sent again after each answer until every leg is at target (a leg the
market does not fill at once is simply retried at the next quote). No signal is acted on
before `min_observations` premiums, nor while any leg is still moving.

Backtest (synthetic market whose ETF tracks AAA + BBB, about 5 s):

    calarb backtest --data synthetic --config examples/basket_arbitrage.toml
"""

from __future__ import annotations

import math
from typing import Any

from calarb import Strategy, TimeInForce, TopOfBook
from calarb.core.types import Side


class BasketArbitrage(Strategy):
    def __init__(
        self,
        etf: str,
        components: dict[str, float],
        size: int = 100,
        entry: float = 2.0,
        exit: float = 0.5,
        halflife: float = 300.0,
        min_observations: int = 200,
    ) -> None:
        if not components or etf in components:
            raise ValueError("components: one or more symbols other than the ETF needed")
        if size <= 0 or not 0 <= exit < entry or halflife <= 0:
            raise ValueError("size > 0, 0 <= exit < entry and halflife > 0 needed")
        self.etf = etf
        self.weights = {str(symbol): float(weight) for symbol, weight in components.items()}
        self.symbols = [etf, *self.weights]
        self.size = size
        self.entry = entry
        self.exit = exit
        self.alpha = 1.0 - 0.5 ** (1.0 / halflife)
        self.min_observations = min_observations
        self.mean = 0.0
        self.variance = 0.0
        self.observations = 0
        self.z = math.nan
        self.direction = 0  # +1: long the ETF (premium cheap), -1: short it, 0: flat
        self.targets = dict.fromkeys(self.symbols, 0)
        self.trades = 0

    # -- the model ----------------------------------------------------------------------

    def premium(self) -> float | None:
        tops = self.context.tops
        mids = {}
        for symbol in self.symbols:
            top = tops.get(symbol)
            mid = top.mid_price() if top is not None else None
            if mid is None:
                return None
            mids[symbol] = mid
        return mids[self.etf] - sum(w * mids[s] for s, w in self.weights.items())

    def _observe(self, premium: float) -> None:
        if self.observations == 0:
            self.mean = premium
        deviation = premium - self.mean
        self.mean += self.alpha * deviation
        self.variance = (1 - self.alpha) * (self.variance + self.alpha * deviation * deviation)
        self.observations += 1
        sd = math.sqrt(self.variance)
        self.z = (premium - self.mean) / sd if sd > 0 else math.nan

    # -- engine calls -------------------------------------------------------------------

    def on_top_of_book(self, top: TopOfBook):
        premium = self.premium()
        if premium is None:
            return None
        self._observe(premium)
        if self.observations >= self.min_observations and self._settled():
            self._decide()
        return self._orders()

    def on_timer(self, now_ns: int):
        return self._orders()

    def _settled(self) -> bool:
        context = self.context
        return not context.open_orders and all(
            context.position(s) == target for s, target in self.targets.items()
        )

    def _decide(self) -> None:
        z = self.z
        if z != z:
            return
        if self.direction == 0 and abs(z) > self.entry:
            self.direction = -1 if z > 0 else 1
            self.trades += 1
        elif self.direction != 0 and abs(z) < self.exit:
            self.direction = 0
        else:
            return
        self.targets[self.etf] = self.direction * self.size
        for symbol, weight in self.weights.items():
            self.targets[symbol] = -self.direction * round(weight * self.size)

    def _orders(self) -> list:
        """An IOC at the far touch for each symbol away from its target with nothing working."""
        context = self.context
        busy = {order.symbol for order in context.open_orders.values()}
        actions = []
        for symbol, target in self.targets.items():
            gap = target - context.position(symbol)
            top = context.tops.get(symbol)
            if gap == 0 or symbol in busy or top is None:
                continue
            if gap > 0 and top.ask_shares > 0:
                actions.append(
                    context.order(
                        symbol,
                        Side.BUY,
                        gap,
                        top.ask_price,
                        time_in_force=TimeInForce.IOC,
                        tag="basket",
                    )
                )
            elif gap < 0 and top.bid_shares > 0:
                actions.append(
                    context.order(
                        symbol,
                        Side.SELL,
                        -gap,
                        top.bid_price,
                        time_in_force=TimeInForce.IOC,
                        tag="basket",
                    )
                )
        return actions

    def totals(self) -> dict[str, int]:
        return {"trades": self.trades, "observations": self.observations}

    def state(self) -> dict[str, Any]:
        return {
            "z": self.z,
            "premium_mean": self.mean,
            "direction": self.direction,
            "targets": dict(self.targets),
        }

    @classmethod
    def from_config(cls, table: dict[str, Any]) -> BasketArbitrage:
        return cls(**table)
