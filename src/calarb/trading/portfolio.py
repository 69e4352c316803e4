"""Positions and P&L in integers.

Money is in 1/10,000 currency units (the price scale). A symbol has a contract multiplier
(`multipliers`, given at construction: 100 for an option contract, 1 when missing), so
`price * quantity * multiplier` is money with no conversion; the multiplier is applied here
and in the risk gate, nowhere after. Positions use the average-cost method per symbol (all
venues pooled):

* `cost` is the signed money of the open position (sum of price * signed quantity *
  multiplier still open); it stays exact while the position grows.
* Reducing a position by `closed` units removes `cost * closed / |quantity|` from it, rounded
  half to even to an integer, and books `sign * price * multiplier * closed - removed` as
  realised P&L. Closing the whole position removes `cost` exactly, so a round trip's realised
  P&L is exact and rounding never accumulates across trips.
* Unrealised P&L is `mark * quantity * multiplier - cost`. The mark is the mid of the top of
  book, floored
  to an integer unit ((bid + ask) // 2); with one side empty, that side's price; with no book,
  the last fill price.
* Fees are `quantity * per-unit rate` of the venue (calarb.trading.orders.VenueFees), exact,
  kept apart: `net_pnl = realised + unrealised - fees`.

`Portfolio` is an OMS listener (`on_fill`, `on_release`) and takes top of book with
`on_top_of_book`. Totals are kept up to date on every change so reading them costs nothing.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from calarb.core.events import TopOfBook
from calarb.core.orders import Liquidity
from calarb.core.types import Side
from calarb.trading.orders import OrderRecord, VenueFees

_BUY = Side.BUY  # a module constant: enum attribute lookups are slow


def divide_round_half_even(numerator: int, denominator: int) -> int:
    """numerator / denominator rounded to the nearest int, ties to even (denominator > 0)."""
    quotient, remainder = divmod(numerator, denominator)
    twice = 2 * remainder
    if twice > denominator or (twice == denominator and quotient % 2):
        quotient += 1
    return quotient


class Position:
    """One symbol's position across venues. `multiplier`: units of the underlying per unit
    of quantity (1 for a share, 100 for an option contract)."""

    __slots__ = (
        "symbol",
        "multiplier",
        "quantity",
        "cost",
        "realized",
        "fees",
        "mark",
        "unrealized",
        "bought",
        "sold",
        "fills",
    )

    def __init__(self, symbol: str, multiplier: int = 1) -> None:
        if multiplier <= 0:
            raise ValueError(f"contract multiplier {multiplier} of {symbol!r} is not positive")
        self.symbol = symbol
        self.multiplier = multiplier
        self.quantity = 0
        self.cost = 0
        self.realized = 0
        self.fees = 0
        self.mark = 0
        self.unrealized = 0
        self.bought = 0
        self.sold = 0
        self.fills = 0

    @property
    def average_price(self) -> float | None:
        """Average price paid per unit (a float in price units, for reports); None when
        flat."""
        return self.cost / (self.quantity * self.multiplier) if self.quantity else None

    @property
    def net_pnl(self) -> int:
        return self.realized + self.unrealized - self.fees

    def snapshot(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in _POSITION_FIELDS}


class VenuePosition:
    """Shares and fees of one symbol at one venue (P&L is pooled per symbol)."""

    __slots__ = ("quantity", "bought", "sold", "fees")

    def __init__(self) -> None:
        self.quantity = 0
        self.bought = 0
        self.sold = 0
        self.fees = 0

    def snapshot(self) -> dict[str, int]:
        return {name: getattr(self, name) for name in _VENUE_POSITION_FIELDS}


_POSITION_FIELDS = Position.__slots__  # (compiled, an instance has no __slots__)
_VENUE_POSITION_FIELDS = VenuePosition.__slots__


class Portfolio:
    """Positions per symbol (and per symbol and venue), realised and unrealised P&L, fees."""

    def __init__(
        self,
        fees: Mapping[str, VenueFees] | None = None,
        multipliers: Mapping[str, int] | None = None,
    ) -> None:
        """`fees`: venue -> its fees; `multipliers`: symbol -> contract multiplier (1 when
        missing; `calarb.core.option_contract.contract_multipliers` of the traded symbols)."""
        self.fees_by_venue: dict[str, VenueFees] = dict(fees or {})
        self.multipliers: dict[str, int] = dict(multipliers or {})
        self.positions: dict[str, Position] = {}
        self.venue_positions: dict[tuple[str, str], VenuePosition] = {}
        self.realized = 0
        self.unrealized = 0
        self.fees = 0
        self.net_pnl = 0  # realized + unrealized - fees, kept current

    def position(self, symbol: str) -> Position:
        position = self.positions.get(symbol)
        if position is None:
            position = self.positions[symbol] = Position(
                symbol, self.multipliers.get(symbol, 1)
            )
        return position

    def quantity(self, symbol: str) -> int:
        position = self.positions.get(symbol)
        return position.quantity if position is not None else 0

    # ------------------------------------------------------------- OMS listener
    def on_fill(self, order: OrderRecord, quantity: int, price: int, liquidity: Liquidity) -> None:
        venue_fees = self.fees_by_venue.get(order.venue)
        fee = venue_fees.fee(quantity, liquidity) if venue_fees is not None else 0
        self.apply_fill(order.symbol, order.venue, order.side, quantity, price, fee)

    def on_release(self, order: OrderRecord, quantity: int) -> None:
        """Open quantity that ended without trading changes nothing here."""

    # ------------------------------------------------------------- accounting
    def apply_fill(
        self, symbol: str, venue: str, side: Side, quantity: int, price: int, fee: int
    ) -> int:
        """Book a fill; returns the realised P&L it produced (before fees)."""
        position = self.position(symbol)
        signed = quantity if side is _BUY else -quantity
        held = position.quantity
        multiplier = position.multiplier
        value = price if multiplier == 1 else price * multiplier  # money per unit
        realized = 0
        if held == 0 or (held > 0) == (signed > 0):
            position.quantity = held + signed
            position.cost += value * signed
        else:
            closed = min(quantity, abs(held))
            removed = (
                position.cost
                if closed == abs(held)
                else divide_round_half_even(position.cost * closed, abs(held))
            )
            direction = 1 if held > 0 else -1
            realized = direction * value * closed - removed
            position.cost -= removed
            position.quantity = held - direction * closed
            opened = quantity - closed
            if opened:
                position.quantity += -direction * opened
                position.cost += value * -direction * opened
        position.realized += realized
        position.fees += fee
        position.fills += 1
        if side is _BUY:
            position.bought += quantity
        else:
            position.sold += quantity
        at_venue = self.venue_positions.get((symbol, venue))
        if at_venue is None:
            at_venue = self.venue_positions[(symbol, venue)] = VenuePosition()
        at_venue.quantity += signed
        at_venue.fees += fee
        if side is _BUY:
            at_venue.bought += quantity
        else:
            at_venue.sold += quantity
        self.realized += realized
        self.fees += fee
        if position.mark == 0:
            position.mark = price
        self._revalue(position)
        return realized

    def _revalue(self, position: Position) -> None:
        value = position.mark * position.quantity
        if position.multiplier != 1:
            value *= position.multiplier
        unrealized = value - position.cost
        self.unrealized += unrealized - position.unrealized
        position.unrealized = unrealized
        self.net_pnl = self.realized + self.unrealized - self.fees

    def mark(self, symbol: str, price: int) -> None:
        """Set the mark price of a symbol (integer units)."""
        position = self.position(symbol)
        if price != position.mark:
            position.mark = price
            self._revalue(position)

    def on_top_of_book(self, top: TopOfBook) -> None:
        symbol, _, bid, bid_shares, ask, ask_shares = top
        if bid_shares > 0:
            price = (bid + ask) // 2 if ask_shares > 0 else bid
        elif ask_shares > 0:
            price = ask
        else:
            return
        position = self.positions.get(symbol)
        if position is None:
            self.mark(symbol, price)
        elif price != position.mark:  # `mark`, inlined for the common case
            position.mark = price
            self._revalue(position)

    # ------------------------------------------------------------- reports
    def state(self) -> dict[str, Any]:
        """Plain data for comparisons and summaries (marks included)."""
        return {
            "realized": self.realized,
            "unrealized": self.unrealized,
            "fees": self.fees,
            "net_pnl": self.net_pnl,
            "positions": {s: p.snapshot() for s, p in sorted(self.positions.items())},
            "venues": {
                f"{s}@{v}": p.snapshot() for (s, v), p in sorted(self.venue_positions.items())
            },
        }
