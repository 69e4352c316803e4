"""Forward and discount factor of each expiry from put-call parity, C - P = D (F - K).

Over the strikes quoted on both sides, C - P is linear in K with slope -D and intercept D F; a
least-squares line weighted by the inverse of the combined bid/ask spread gives both.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from calarb.options.chains import Chain


@dataclass(frozen=True)
class ParityForward:
    forward: float
    discount: float
    strikes_used: int


def forward_from_parity(strike, call_mid, put_mid, spread=None) -> ParityForward | None:
    """None when fewer than two strikes or when the line gives no positive F and D."""
    strike, call_mid, put_mid = (np.asarray(v, float) for v in (strike, call_mid, put_mid))
    if np.unique(strike).size < 2:
        return None
    weight = np.ones_like(strike) if spread is None else 1.0 / np.maximum(np.asarray(spread), 1e-12)
    design = np.column_stack([np.ones_like(strike), -strike]) * weight[:, None]
    (intercept, discount), *_ = np.linalg.lstsq(design, (call_mid - put_mid) * weight, rcond=None)
    if not (discount > 0.0 and intercept > 0.0):
        return None
    return ParityForward(float(intercept / discount), float(discount), int(strike.size))


def chain_forwards(chain: Chain) -> dict[np.datetime64, ParityForward]:
    """The parity forward of every expiry of `chain` that has one."""
    forwards = {}
    for expiry in np.unique(chain.expiration):
        at = chain.expiration == expiry
        calls = {k: i for i, k in enumerate(chain.strike) if at[i] and chain.is_call[i]}
        puts = {k: i for i, k in enumerate(chain.strike) if at[i] and not chain.is_call[i]}
        common = sorted(set(calls) & set(puts))
        if not common:
            continue
        c = np.array([calls[k] for k in common])
        p = np.array([puts[k] for k in common])
        spread = (chain.ask[c] - chain.bid[c]) + (chain.ask[p] - chain.bid[p])
        estimate = forward_from_parity(common, chain.mid[c], chain.mid[p], spread)
        if estimate is not None:
            forwards[expiry] = estimate
    return forwards
