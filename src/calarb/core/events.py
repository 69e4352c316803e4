"""Events that cross layers: book levels, top-of-book changes, trades.

These are small immutable records; prices are integers in 1/10,000 units, sizes are ints.
"""

from __future__ import annotations

from typing import NamedTuple


class BookLevel(NamedTuple):
    price: int
    shares: int
    orders: int


class TopOfBook(NamedTuple):
    """Best bid and offer of one symbol. A missing side has price 0 and shares 0."""

    symbol: str
    timestamp_ns: int
    bid_price: int
    bid_shares: int
    ask_price: int
    ask_shares: int

    @property
    def crossed(self) -> bool:
        return self.bid_shares > 0 and self.ask_shares > 0 and self.bid_price > self.ask_price

    @property
    def locked(self) -> bool:
        return self.bid_shares > 0 and self.ask_shares > 0 and self.bid_price == self.ask_price

    def mid_price(self) -> float | None:
        """Mid in integer units as a float (models only); None if a side is empty."""
        if self.bid_shares <= 0 or self.ask_shares <= 0:
            return None
        return (self.bid_price + self.ask_price) / 2

    def microprice(self) -> float | None:
        """Size-weighted mid: leans toward the side with less size."""
        if self.bid_shares <= 0 or self.ask_shares <= 0:
            return None
        total = self.bid_shares + self.ask_shares
        return (self.bid_price * self.ask_shares + self.ask_price * self.bid_shares) / total


class TradeEvent(NamedTuple):
    """An execution seen in market data (ITCH E/C/P/Q)."""

    symbol: str
    timestamp_ns: int
    price: int
    shares: int
    match_number: int
    aggressor_buys: bool | None  # None when the feed does not say
