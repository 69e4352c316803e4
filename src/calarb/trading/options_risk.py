"""Pre-trade limits of the options strategy: order size, contracts per option, vega and delta.

The options limits the engine's `RiskGate` does not know, as a separate check object on the
options strategy's path only (the engine's `RiskGate.check`, the pairs path, stays untouched
and as fast): the strategy checks every intent here with the book's greeks before it hands
it to the engine, whose own gate then checks it like any other order. Vega is in currency per vol point for the whole book (contracts x
multiplier x Black vega / 100); delta in underlying shares. An option order passes only if
the book after a full fill stays within both limits; a hedge (an underlying order) passes if
it does not increase the absolute delta, or if the delta after it is within the limit.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass


class OptionsRiskReason(enum.Enum):
    PASSED = "passed"
    ORDER_SIZE = "order size above the limit"
    POSITION = "contracts per option above the limit"
    VEGA = "book vega above the limit"
    DELTA = "book delta above the limit"


@dataclass(frozen=True)
class OptionsRiskLimits:
    max_order_contracts: int = 10
    max_contracts_per_option: int = 10
    max_vega_per_vol_point: float = 200.0  # currency per vol point, whole book
    max_delta_shares: float = 1_500.0
    max_hedge_order_shares: int = 5_000

    def __post_init__(self) -> None:
        for name in self.__dataclass_fields__:
            if getattr(self, name) <= 0:
                raise ValueError(
                    f"options risk limit {name} = {getattr(self, name)} must be positive"
                )


class OptionsRiskGate:
    """Checks intents against `OptionsRiskLimits`; counts what it refused, by reason."""

    def __init__(self, limits: OptionsRiskLimits) -> None:
        self.limits = limits
        self.refused: dict[OptionsRiskReason, int] = {}
        self.worst_abs_delta = 0.0

    def check_option(
        self, contracts_signed: int, position: int, vega_per_contract: float,
        delta_per_contract: float, book_vega: float, book_delta: float,
    ) -> OptionsRiskReason:  # fmt: skip
        """An option order of `contracts_signed` (+ buy) on an option held `position`."""
        limits = self.limits
        if abs(contracts_signed) > limits.max_order_contracts:
            return self._refuse(OptionsRiskReason.ORDER_SIZE)
        if abs(position + contracts_signed) > limits.max_contracts_per_option:
            return self._refuse(OptionsRiskReason.POSITION)
        if abs(book_vega + contracts_signed * vega_per_contract) > limits.max_vega_per_vol_point:
            return self._refuse(OptionsRiskReason.VEGA)
        if abs(book_delta + contracts_signed * delta_per_contract) > limits.max_delta_shares:
            return self._refuse(OptionsRiskReason.DELTA)
        return OptionsRiskReason.PASSED

    def check_hedge(self, shares_signed: int, book_delta: float) -> OptionsRiskReason:
        if abs(shares_signed) > self.limits.max_hedge_order_shares:
            return self._refuse(OptionsRiskReason.ORDER_SIZE)
        after = abs(book_delta + shares_signed)
        if after > abs(book_delta) and after > self.limits.max_delta_shares:
            return self._refuse(OptionsRiskReason.DELTA)
        return OptionsRiskReason.PASSED

    def observe_delta(self, book_delta: float) -> None:
        """Record the book's delta (after fills) for reports and checks."""
        self.worst_abs_delta = max(self.worst_abs_delta, abs(book_delta))

    def _refuse(self, reason: OptionsRiskReason) -> OptionsRiskReason:
        self.refused[reason] = self.refused.get(reason, 0) + 1
        return reason
