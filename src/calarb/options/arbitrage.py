"""Static-arbitrage scanner over a chain of bid/ask quotes.

A violation is reported only when it can be executed: buying at the ask, selling at the bid,
paying `fee` per contract traded, its `edge` (cash locked in per unit of the structure, prices
times `multiplier`, net of fees) is positive. Kinds:

- vertical: same expiry and type, K1 < K2. Calls: C(K1) >= C(K2) and C(K1) - C(K2) <= D (K2 - K1);
  puts: P(K1) <= P(K2) and P(K2) - P(K1) <= D (K2 - K1).
- butterfly: same expiry and type, K1 < K2 < K3: price convex in strike; the best wings per body.
- calendar: same type and strike, T1 < T2: the longer option is worth at least the shorter one
  (American options; European ones without dividends and, for puts, at a zero rate - so puts are
  checked only when `rate` is 0).
- box: same expiry, K1 < K2, calls and puts at both: long or short box against D (K2 - K1).
- parity: same expiry and strike, a call and a put against the underlying at `spot` (conversion
  and reversal, no dividends before expiry); only when the chain or the caller gives a spot.

D = exp(-rate T) with the caller's rate (default 0: no discounting, exact for a zero rate).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from calarb.options.chains import Chain

KINDS = ("vertical", "butterfly", "calendar", "parity", "box")
UNDERLYING = "UNDERLYING"


@dataclass(frozen=True)
class ScanConfig:
    fee: float = 0.0  # per contract
    multiplier: float = 100.0  # quote units per contract
    rate: float = 0.0  # continuously compounded, for D = exp(-rate T)
    tolerance: float = 1e-9  # an edge must exceed this to count


def _leg(symbol: str, side: str, quantity: int) -> dict:
    return {"contractSymbol": symbol, "side": side, "quantity": int(quantity)}


def _expiry(e) -> str:
    return str(np.datetime64(e, "D"))


class _Scan:
    def __init__(self, chain: Chain, config: ScanConfig):
        self.chain = chain
        self.config = config
        self.found: list[dict] = []

    def report(self, kind, expirations, strikes, option_type, edge_price, contracts, legs):
        edge = self.config.multiplier * edge_price - self.config.fee * contracts
        if edge > self.config.tolerance:
            self.found.append(
                {
                    "kind": kind,
                    "expirations": [_expiry(e) for e in expirations],
                    "strikes": [float(k) for k in strikes],
                    "option_type": option_type,
                    "edge": float(edge),
                    "legs": legs,
                }
            )

    def side(self, expiry, is_call: bool) -> np.ndarray:
        """Indices of the quotes of one expiry and type, by increasing strike."""
        c = self.chain
        at = np.nonzero((c.expiration == expiry) & (c.is_call == is_call))[0]
        return at[np.argsort(c.strike[at], kind="stable")]

    def discount(self, time: float) -> float:
        return math.exp(-self.config.rate * time)

    def verticals(self, expiry, is_call: bool) -> None:
        c = self.chain
        idx = self.side(expiry, is_call)
        name = "call" if is_call else "put"
        for a in range(idx.size):
            for b in range(a + 1, idx.size):
                i, j = idx[a], idx[b]
                width = self.discount(c.time[i]) * (c.strike[j] - c.strike[i])
                low, high = (i, j) if is_call else (j, i)  # low: the option worth more
                strikes = (c.strike[i], c.strike[j])
                # the cheaper option bid above the dearer one's ask: buy dear, sell cheap
                self.report(
                    "vertical",
                    [expiry],
                    strikes,
                    name,
                    c.bid[high] - c.ask[low],
                    2,
                    [_leg(c.symbol[low], "buy", 1), _leg(c.symbol[high], "sell", 1)],
                )
                # the spread dearer than its maximum payoff: sell it
                self.report(
                    "vertical",
                    [expiry],
                    strikes,
                    name,
                    c.bid[low] - c.ask[high] - width,
                    2,
                    [_leg(c.symbol[low], "sell", 1), _leg(c.symbol[high], "buy", 1)],
                )

    def butterflies(self, expiry, is_call: bool) -> None:
        c = self.chain
        idx = self.side(expiry, is_call)
        ticks = np.rint(c.strike[idx] * 1000).astype(np.int64)
        for b in range(1, idx.size - 1):
            left, right = np.arange(b), np.arange(b + 1, idx.size)
            shape = (left.size, right.size)
            # weights of the left and right wings: K3 - K2 and K2 - K1 (body: K3 - K1)
            qi = np.broadcast_to((ticks[right] - ticks[b]).astype(float)[None, :], shape)
            ql = np.broadcast_to((ticks[b] - ticks[left]).astype(float)[:, None], shape)
            qj = qi + ql
            edge = (
                qj * c.bid[idx[b]]
                - qi * c.ask[idx[left]][:, None]
                - ql * c.ask[idx[right]][None, :]
            )
            edge /= qj  # per unit of the body, to rank wings fairly
            a, r = np.unravel_index(np.argmax(edge), edge.shape)
            if edge[a, r] <= 0.0:
                continue
            i, j, m = idx[left[a]], idx[b], idx[right[r]]
            g = math.gcd(int(qi[a, r]), int(ql[a, r]))
            q_left, q_right = int(qi[a, r]) // g, int(ql[a, r]) // g
            q_body = q_left + q_right
            self.report(
                "butterfly",
                [expiry],
                (c.strike[i], c.strike[j], c.strike[m]),
                "call" if is_call else "put",
                q_body * c.bid[j] - q_left * c.ask[i] - q_right * c.ask[m],
                2 * q_body,
                [
                    _leg(c.symbol[i], "buy", q_left),
                    _leg(c.symbol[j], "sell", q_body),
                    _leg(c.symbol[m], "buy", q_right),
                ],
            )

    def calendars(self, expiries) -> None:
        c = self.chain
        for is_call in (True, False) if self.config.rate == 0.0 else (True,):
            for strike in np.unique(c.strike):
                at = np.nonzero((c.strike == strike) & (c.is_call == is_call))[0]
                at = at[np.argsort(c.expiration[at], kind="stable")]
                for a in range(at.size):
                    for b in range(a + 1, at.size):
                        near, far = at[a], at[b]
                        if c.expiration[near] == c.expiration[far]:
                            continue
                        self.report(
                            "calendar",
                            [c.expiration[near], c.expiration[far]],
                            [strike],
                            "call" if is_call else "put",
                            c.bid[near] - c.ask[far],
                            2,
                            [_leg(c.symbol[near], "sell", 1), _leg(c.symbol[far], "buy", 1)],
                        )

    def pairs(self, expiry) -> list[tuple[float, int, int]]:
        """(strike, call index, put index) for the strikes quoted on both sides."""
        c = self.chain
        calls = {c.strike[i]: i for i in self.side(expiry, True)}
        puts = {c.strike[i]: i for i in self.side(expiry, False)}
        return [(k, calls[k], puts[k]) for k in sorted(set(calls) & set(puts))]

    def boxes(self, expiry) -> None:
        c = self.chain
        both = self.pairs(expiry)
        for a in range(len(both)):
            for b in range(a + 1, len(both)):
                (k1, c1, p1), (k2, c2, p2) = both[a], both[b]
                payoff = self.discount(c.time[c1]) * (k2 - k1)
                long_cost = c.ask[c1] - c.bid[c2] - c.bid[p1] + c.ask[p2]
                self.report(
                    "box",
                    [expiry],
                    (k1, k2),
                    "both",
                    payoff - long_cost,
                    4,
                    [
                        _leg(c.symbol[c1], "buy", 1),
                        _leg(c.symbol[c2], "sell", 1),
                        _leg(c.symbol[p1], "sell", 1),
                        _leg(c.symbol[p2], "buy", 1),
                    ],
                )
                short_credit = c.bid[c1] - c.ask[c2] - c.ask[p1] + c.bid[p2]
                self.report(
                    "box",
                    [expiry],
                    (k1, k2),
                    "both",
                    short_credit - payoff,
                    4,
                    [
                        _leg(c.symbol[c1], "sell", 1),
                        _leg(c.symbol[c2], "buy", 1),
                        _leg(c.symbol[p1], "buy", 1),
                        _leg(c.symbol[p2], "sell", 1),
                    ],
                )

    def parities(self, expiry) -> None:
        c = self.chain
        spot = c.spot
        shares = int(round(self.config.multiplier))
        for k, ci, pi in self.pairs(expiry):
            pv_strike = self.discount(c.time[ci]) * k
            self.report(
                "parity",
                [expiry],
                [k],
                "both",
                pv_strike - (spot + c.ask[pi] - c.bid[ci]),
                2,
                [
                    _leg(UNDERLYING, "buy", shares),
                    _leg(c.symbol[pi], "buy", 1),
                    _leg(c.symbol[ci], "sell", 1),
                ],
            )
            self.report(
                "parity",
                [expiry],
                [k],
                "both",
                spot + c.bid[pi] - c.ask[ci] - pv_strike,
                2,
                [
                    _leg(UNDERLYING, "sell", shares),
                    _leg(c.symbol[pi], "sell", 1),
                    _leg(c.symbol[ci], "buy", 1),
                ],
            )


def scan_chain(chain: Chain, config: ScanConfig = ScanConfig()) -> list[dict]:
    """Every executable static-arbitrage violation of `chain`, best edge first."""
    scan = _Scan(chain, config)
    expiries = np.unique(chain.expiration)
    for expiry in expiries:
        for is_call in (True, False):
            scan.verticals(expiry, is_call)
            scan.butterflies(expiry, is_call)
        scan.boxes(expiry)
        if chain.spot is not None:
            scan.parities(expiry)
    scan.calendars(expiries)
    return sorted(scan.found, key=lambda v: -v["edge"])
