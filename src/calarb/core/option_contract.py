"""An option contract as a value: underlying, expiry, call/put, integer strike; OCC symbols.

The OCC (Options Clearing Corporation) symbol is 21 characters: the root left-justified in 6,
the expiry as YYMMDD, 'C' or 'P', and the strike in thousandths of a currency unit in 8
digits, e.g. 'SYNTH 261218C00100000' is the 18 Dec 2026 100.00 call. Strikes are integers in
calarb's 1/10,000 price scale like every price (the OCC field's thousandths are exact for
them only when the strike has at most 3 decimals, which `occ_symbol` checks).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass

ROOT_WIDTH = 6
OCC_SYMBOL_LENGTH = 21
CONTRACT_MULTIPLIER = 100
"""Units of the underlying per contract (US equity options)."""


@dataclass(frozen=True, slots=True)
class OptionContract:
    """One listed option. `strike` in 1/10,000 units; `right` 'C' (call) or 'P' (put)."""

    underlying: str
    expiry: dt.date
    right: str
    strike: int

    def __post_init__(self) -> None:
        if self.right not in ("C", "P"):
            raise ValueError(f"option right {self.right!r} is neither 'C' nor 'P'")
        if self.strike <= 0:
            raise ValueError(f"option strike {self.strike} is not positive")
        if not 0 < len(self.underlying) <= ROOT_WIDTH:
            raise ValueError(f"option root {self.underlying!r} is not 1 to {ROOT_WIDTH} characters")

    @property
    def is_call(self) -> bool:
        return self.right == "C"

    @property
    def symbol(self) -> str:
        """The OCC symbol."""
        return occ_symbol(self)


def occ_symbol(contract: OptionContract) -> str:
    if contract.strike % 10:
        raise ValueError(f"strike {contract.strike} has more than 3 decimals: no OCC symbol")
    return (
        f"{contract.underlying:<{ROOT_WIDTH}}{contract.expiry:%y%m%d}{contract.right}"
        f"{contract.strike // 10:08d}"
    )


def parse_occ_symbol(symbol: str) -> OptionContract:
    """The contract an OCC symbol names; ValueError naming the symbol and the bad part."""
    if len(symbol) != OCC_SYMBOL_LENGTH:
        raise ValueError(f"OCC symbol {symbol!r} has {len(symbol)} characters, not 21")
    root = symbol[:ROOT_WIDTH].rstrip(" ")
    try:
        expiry = dt.datetime.strptime(symbol[6:12], "%y%m%d").date()
    except ValueError:
        raise ValueError(f"OCC symbol {symbol!r}: expiry {symbol[6:12]!r} is not YYMMDD") from None
    digits = symbol[13:]
    if not digits.isdigit():
        raise ValueError(f"OCC symbol {symbol!r}: strike {digits!r} is not 8 digits")
    return OptionContract(root, expiry, symbol[12], int(digits) * 10)


def option_contract_of(symbol: str) -> OptionContract | None:
    """The contract `symbol` names when it is an OCC option symbol, else None (an equity:
    ITCH stock symbols have at most 8 characters, an OCC symbol 21)."""
    if len(symbol) != OCC_SYMBOL_LENGTH:
        return None
    try:
        return parse_occ_symbol(symbol)
    except ValueError:
        return None


def contract_multiplier(symbol: str) -> int:
    """Units of the underlying that one unit of `symbol` stands for: CONTRACT_MULTIPLIER for
    an OCC option symbol, 1 for anything else. The one source of the multiplier the engine's
    portfolio and risk gate value positions with (price x quantity x multiplier is money)."""
    return CONTRACT_MULTIPLIER if option_contract_of(symbol) is not None else 1


def contract_multipliers(symbols: Iterable[str]) -> dict[str, int]:
    """Symbol -> multiplier for the symbols whose multiplier is not 1 (missing means 1)."""
    return {s: m for s in symbols if (m := contract_multiplier(s)) != 1}
