"""Value types: sides, integer prices (1/10,000 of a currency unit), instruments.

Money is integers everywhere outside models and reports: a price of 12.3456 is the int 123456.
Conversions to and from text or floats happen only at the edges, through these helpers.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from decimal import ROUND_HALF_EVEN, Decimal, InvalidOperation

PRICE_SCALE = 10_000
"""Integer price units per currency unit (ITCH's own 4-decimal scale)."""


class Side(enum.IntEnum):
    """Order side. The int value is the sign of the position change (+1 buy, -1 sell)."""

    BUY = 1
    SELL = -1

    @property
    def code(self) -> str:
        """The one-letter code ITCH uses ('B' or 'S')."""
        return "B" if self is Side.BUY else "S"

    @property
    def opposite(self) -> Side:
        return Side.SELL if self is Side.BUY else Side.BUY

    @classmethod
    def from_code(cls, code: str | bytes) -> Side:
        """Parse 'B'/'S' (ITCH) or '1'/'2' (FIX tag 54)."""
        if isinstance(code, bytes):
            code = code.decode("ascii")
        if code in ("B", "1"):
            return cls.BUY
        if code in ("S", "2"):
            return cls.SELL
        raise ValueError(f"unknown side code {code!r} (expected 'B', 'S', '1' or '2')")


def price_from_str(text: str) -> int:
    """Parse a decimal price string into integer 1/10,000 units, exactly.

    Raises ValueError naming the text if it is not a number or has more than 4 decimals.
    """
    try:
        value = Decimal(text.strip())
    except InvalidOperation:
        raise ValueError(f"not a price: {text!r}") from None
    scaled = value * PRICE_SCALE
    if scaled != scaled.to_integral_value():
        raise ValueError(f"price {text!r} has more than 4 decimal places")
    return int(scaled)


def price_from_float(value: float) -> int:
    """Round a float price to the nearest integer 1/10,000 unit (half to even)."""
    return int(Decimal(repr(value)).scaleb(4).quantize(Decimal(1), rounding=ROUND_HALF_EVEN))


def price_to_float(price: int) -> float:
    """Integer units to a float, for models and reports only."""
    return price / PRICE_SCALE


def format_price(price: int) -> str:
    """Integer units as a fixed 4-decimal string, e.g. 123456 -> '12.3456'."""
    sign = "-" if price < 0 else ""
    whole, frac = divmod(abs(price), PRICE_SCALE)
    return f"{sign}{whole}.{frac:04d}"


@dataclass(frozen=True, slots=True)
class Instrument:
    """A tradable symbol. `locate` is the ITCH stock locate code (0 when unknown)."""

    symbol: str
    locate: int = 0
    tick_size: int = 100  # 0.01 in integer price units
    lot_size: int = 1
    round_lot: int = 100

    def check_price(self, price: int) -> None:
        if price <= 0 or price % self.tick_size:
            raise ValueError(
                f"{self.symbol}: price {format_price(price)} is not a positive multiple of "
                f"tick size {format_price(self.tick_size)}"
            )

    def check_quantity(self, quantity: int) -> None:
        if quantity <= 0 or quantity % self.lot_size:
            raise ValueError(
                f"{self.symbol}: quantity {quantity} is not a positive multiple of lot {self.lot_size}"
            )
