"""A single-name mean-reversion quoter, written only against `calarb.Strategy`.

It keeps a slow exponentially weighted mean of the symbol's mid (its model) and rests one
bid and one ask around it, `half_spread_ticks` away, leaning against its own inventory by
`skew_ticks` per `size` held. When the price runs above the mean its ask is near the touch
and its bid far below, so it sells rallies and buys dips. Quotes never cross the market (a
bid stays at least a tick under the ask); a quote that has drifted from where it should be
by `requote_ticks` or more is cancelled and sent again once the cancel is confirmed. No side
is quoted that would take the position beyond `max_position`. It quotes only after
`min_observations` mid changes (its warm-up).

Backtest (synthetic market, about 5 s):

    calarb backtest --data synthetic --config examples/mean_reversion_quoter.toml

Prices are integers in 1/10,000 of a currency unit, quantities whole shares.
"""

from __future__ import annotations

from typing import Any

from calarb import CancelOrder, Strategy, TopOfBook
from calarb.core.types import Side


class MeanReversionQuoter(Strategy):
    def __init__(
        self,
        symbol: str,
        size: int = 100,
        half_spread_ticks: int = 3,
        skew_ticks: float = 1.0,
        max_position: int = 500,
        halflife: float = 200.0,
        requote_ticks: int = 2,
        min_observations: int = 50,
        tick_size: int = 100,
    ) -> None:
        if size <= 0 or max_position < size or tick_size <= 0:
            raise ValueError("size > 0, max_position >= size and tick_size > 0 needed")
        if half_spread_ticks < 1 or requote_ticks < 1 or halflife <= 0:
            raise ValueError("half_spread_ticks >= 1, requote_ticks >= 1, halflife > 0 needed")
        self.symbols = [symbol]
        self.symbol = symbol
        self.size = size
        self.half_spread = half_spread_ticks * tick_size
        self.skew = skew_ticks * tick_size
        self.max_position = max_position
        self.alpha = 1.0 - 0.5 ** (1.0 / halflife)
        self.requote = requote_ticks * tick_size
        self.min_observations = min_observations
        self.tick = tick_size
        self.mean: float | None = None
        self.observations = 0
        self.cancelling: set[str] = set()
        self.quotes_sent = 0

    @classmethod
    def from_config(cls, table: dict[str, Any]) -> MeanReversionQuoter:
        return cls(**table)

    # -- the model ----------------------------------------------------------------------

    def _observe(self, top: TopOfBook) -> bool:
        mid = top.mid_price()
        if mid is None:
            return False
        if self.mean is None:
            self.mean = mid
        else:
            self.mean += self.alpha * (mid - self.mean)
        self.observations += 1
        return True

    def targets(self, top: TopOfBook) -> dict[Side, int | None]:
        """The bid and ask it wants now (None: that side not quoted)."""
        position = self.context.position(self.symbol)
        lean = self.skew * position / self.size
        tick = self.tick
        bid = int((self.mean - self.half_spread - lean) // tick * tick)
        ask = int(-(-(self.mean + self.half_spread - lean) // tick) * tick)
        bid = min(bid, top.ask_price - tick)
        ask = max(ask, top.bid_price + tick)
        return {
            Side.BUY: bid if position + self.size <= self.max_position and bid > 0 else None,
            Side.SELL: ask if position - self.size >= -self.max_position else None,
        }

    # -- engine calls -------------------------------------------------------------------

    def on_top_of_book(self, top: TopOfBook):
        if not self._observe(top) or self.observations < self.min_observations:
            return None
        return self._quote(top)

    def on_timer(self, now_ns: int):
        top = self.context.tops.get(self.symbol)
        if top is None or self.mean is None or self.observations < self.min_observations:
            return None
        return self._quote(top)

    def _quote(self, top: TopOfBook) -> list:
        if top.bid_shares <= 0 or top.ask_shares <= 0:
            return []
        context = self.context
        self.cancelling &= set(context.open_orders)
        working = {order.side: order for order in context.orders_of(self.symbol)}
        actions: list = []
        for side, price in self.targets(top).items():
            order = working.get(side)
            if order is not None:
                stale = price is None or abs(order.price - price) >= self.requote
                if stale and order.cl_ord_id not in self.cancelling:
                    self.cancelling.add(order.cl_ord_id)
                    actions.append(CancelOrder(order.cl_ord_id, "requote"))
            elif price is not None:
                self.quotes_sent += 1
                actions.append(context.order(self.symbol, side, self.size, price, tag="quote"))
        return actions

    def totals(self) -> dict[str, int]:
        return {"quotes": self.quotes_sent, "observations": self.observations}

    def state(self) -> dict[str, Any]:
        return {"mean": self.mean, "observations": self.observations}
