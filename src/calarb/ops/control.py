"""Operator controls of a running engine: the kill switch and per-pair halt/resume, behind a
token.

The controls use what the engine already has: `LiveEngine.kill` (the risk gate's HALTED
state: open orders cancelled, new intents refused) and the risk gate's per-symbol halt
(`RiskGate.halt/resume`: the symbol's intents are refused with HALTED). A pair is halted by
halting its two legs; a leg is resumed only when no other halted pair trades it.

The token is compared in constant time; a request without the right one changes nothing
(the web layer answers 401).
"""

from __future__ import annotations

import hmac
import logging
import secrets
from typing import Any

log = logging.getLogger("calarb.ops.control")


def new_token() -> str:
    return secrets.token_urlsafe(18)


class ControlError(ValueError):
    """A control request naming something that does not exist (unknown pair)."""


class EngineControl:
    def __init__(self, live: Any, token: str = "") -> None:
        self.live = live
        self.token = token or new_token()
        self.halted_pairs: set[str] = set()
        self.actions: list[tuple[str, str]] = []  # (action, subject), for the record

    def authorised(self, presented: str | None) -> bool:
        if not presented:
            return False
        return hmac.compare_digest(presented.encode(), self.token.encode())

    def halted(self) -> frozenset[str]:
        return frozenset(self.halted_pairs)

    def _legs(self, pair: str) -> tuple[str, str]:
        state = self.live.engine.strategy.pairs.get(pair)
        if state is None:
            raise ControlError(f"unknown pair {pair!r}")
        return state.leg_a.symbol, state.leg_b.symbol

    def kill(self, reason: str) -> str:
        """Engage the kill switch; the trading state after it."""
        log.warning("control: kill switch (%s)", reason)
        self.actions.append(("kill", reason))
        self.live.kill(reason)
        return self.live.engine.risk.state.name

    def halt_pair(self, pair: str) -> None:
        legs = self._legs(pair)
        self.halted_pairs.add(pair)
        for symbol in legs:
            self.live.engine.risk.halt(symbol)
        self.actions.append(("halt", pair))
        log.warning("control: pair %s halted (%s)", pair, ", ".join(legs))

    def resume_pair(self, pair: str) -> None:
        legs = self._legs(pair)
        self.halted_pairs.discard(pair)
        still_halted = {symbol for other in self.halted_pairs for symbol in self._legs(other)}
        for symbol in legs:
            if symbol not in still_halted:
                self.live.engine.risk.resume(symbol)
        self.actions.append(("resume", pair))
        log.warning("control: pair %s resumed", pair)
