"""Realism models of the backtester: latency, queue position, fees.

Each model is a small object with documented assumptions, seeded where it draws at random, so a
run is reproducible.

Latency (`LatencyModel.sample() -> ns`, one draw per message crossing the link):

* `ConstantLatency`: every message takes the same time.
* `EmpiricalLatency`: draws (with replacement) from measured samples, e.g. a file of one-way
  latencies; assumes the samples are independent and the link does not change over the run.
* `LogNormalLatency`: a floor plus a log-normal tail; `LogNormalLatency.fit(samples)` fits it
  (floor = minimum, log-moments of the excess): the usual shape of network latency.

Queue position of a passive order (`QueueModel.join` at arrival, then `on_reduction` for each
replayed reduction at the order's price level, which returns how many of the executed shares
reached us). The fill itself is the venue's (`calarb.backtest.venue`): it fills at most the
shares that reached us (and fills anything a replayed execution at a worse price took).

* `FifoQueue` (L3 data): ahead of us are exactly the orders resting at our price when we
  arrived; only their executions, cancels and deletes move us up; a replace of one of them
  loses its priority, so it leaves the queue ahead. Orders that arrive later are behind us.
  Once nothing is ahead, every executed share at our price reaches us. **Sweeps**: one
  aggressor's executions share a timestamp, and feeds do not always report them in queue order
  (the AMZN LOBSTER sample reports an order behind ours executing before the one ahead, at the
  same nanosecond). Under price-time priority an order behind us can only trade once everything
  ahead of us is gone, so executions of orders behind us while some are still ahead are held
  for the sweep (`at_ns`): if the queue ahead empties within the same sweep, they reach us then
  (the aggressor met us before them); if the sweep ends with orders still ahead, the data
  itself shows the aggressor never got to us (those orders are still resting), and they are
  dropped.
* `ProbabilisticQueue` (L2 data, when order identities are unknown): executions take the front
  of the queue (ahead shrinks by the executed shares); a cancel of `c` shares comes from ahead
  of us with probability `f(ahead) / (f(ahead) + f(behind))`, `f(x) = x ** power`, and we move
  up by its expected value `c * f(ahead) / (f(ahead) + f(behind))` (deterministic). `power` 1
  is proportional to size; larger powers say cancels come mostly from the back.

Fees are `calarb.trading.orders.VenueFees` (per share, taker charge and maker rebate).
"""

from __future__ import annotations

import math
import random
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from calarb.trading.orders import VenueFees


class LatencyModel(Protocol):
    def sample(self) -> int:
        """One latency draw, in nanoseconds (>= 0)."""
        ...


class ConstantLatency:
    __slots__ = ("ns",)

    def __init__(self, ns: int) -> None:
        if ns < 0:
            raise ValueError(f"latency cannot be negative: {ns} ns")
        self.ns = int(ns)

    def sample(self) -> int:
        return self.ns

    def __repr__(self) -> str:
        return f"ConstantLatency({self.ns})"


class EmpiricalLatency:
    """Draws from measured latencies (ns), with replacement, from a seeded generator."""

    def __init__(self, samples_ns: Sequence[int] | np.ndarray, seed: int = 0) -> None:
        values = [int(v) for v in samples_ns]
        if not values:
            raise ValueError("an empirical latency model needs at least one sample")
        if min(values) < 0:
            raise ValueError("latency samples cannot be negative")
        self.samples = values
        self._rng = random.Random(seed)

    @classmethod
    def from_file(cls, path: str | Path, seed: int = 0, unit: str = "ns") -> EmpiricalLatency:
        return cls(read_latency_samples(path, unit), seed)

    def sample(self) -> int:
        return self.samples[self._rng.randrange(len(self.samples))]


class LogNormalLatency:
    """`floor_ns + exp(N(mu, sigma))` ns: a fixed wire time plus a right-skewed queueing tail."""

    def __init__(self, floor_ns: int, mu: float, sigma: float, seed: int = 0) -> None:
        if floor_ns < 0 or sigma < 0:
            raise ValueError("floor_ns and sigma must be >= 0")
        self.floor_ns = int(floor_ns)
        self.mu = float(mu)
        self.sigma = float(sigma)
        self._rng = random.Random(seed)

    @classmethod
    def fit(cls, samples_ns: Sequence[int] | np.ndarray, seed: int = 0) -> LogNormalLatency:
        """Floor = smallest sample; mu, sigma = mean and std of log(excess) over the floor
        (excesses of 0 are taken as 1 ns)."""
        values = np.asarray(samples_ns, dtype=np.float64)
        if values.size < 2:
            raise ValueError("fitting a latency model needs at least two samples")
        floor = float(values.min())
        logs = np.log(np.maximum(values - floor, 1.0))
        return cls(int(floor), float(logs.mean()), float(logs.std(ddof=1)), seed)

    @property
    def median_ns(self) -> float:
        return self.floor_ns + math.exp(self.mu)

    def sample(self) -> int:
        return self.floor_ns + int(math.exp(self._rng.gauss(self.mu, self.sigma)))


_UNITS = {"ns": 1, "us": 1_000, "ms": 1_000_000}


def read_latency_samples(path: str | Path, unit: str = "ns") -> list[int]:
    """One latency per line (blank lines and `#` comments skipped), in `unit` (ns, us, ms).
    A bad line raises ValueError naming the file and line."""
    scale = _UNITS[unit]
    samples = []
    for number, line in enumerate(Path(path).read_text().splitlines(), 1):
        text = line.split("#", 1)[0].strip()
        if not text:
            continue
        try:
            value = float(text)
        except ValueError:
            raise ValueError(f"{path}, line {number}: not a latency: {text!r}") from None
        samples.append(int(round(value * scale)))
    if not samples:
        raise ValueError(f"{path}: no latency samples")
    return samples


def latency_from_config(table: Mapping[str, Any] | int | float, seed: int = 0) -> LatencyModel:
    """A latency model from a config value: a number (microseconds, constant) or a table
    `{kind = "constant", us = 50}`, `{kind = "empirical", file = "lat.txt", unit = "us"}`,
    `{kind = "lognormal", floor_us = 30, median_us = 60, sigma = 0.5}`,
    `{kind = "fitted", file = "lat.txt", unit = "us"}` (a log-normal fitted to the file)."""
    if isinstance(table, int | float):
        return ConstantLatency(int(round(table * 1_000)))
    kind = table.get("kind", "constant")

    def ns(name: str, default: float | None = None) -> int:
        for unit, scale in (("ns", 1), ("us", 1_000), ("ms", 1_000_000)):
            if f"{name}_{unit}" in table:
                return int(round(float(table[f"{name}_{unit}"]) * scale))
            if name == "value" and unit in table:
                return int(round(float(table[unit]) * scale))
        if default is None:
            raise ValueError(f"latency {dict(table)}: missing {name}_us (or _ns, _ms)")
        return int(default)

    if kind == "constant":
        return ConstantLatency(ns("value"))
    if kind == "empirical":
        return EmpiricalLatency.from_file(table["file"], seed, table.get("unit", "ns"))
    if kind == "fitted":
        return LogNormalLatency.fit(
            read_latency_samples(table["file"], table.get("unit", "ns")), seed
        )
    if kind == "lognormal":
        floor = ns("floor", 0)
        median = ns("median")
        if median <= floor:
            raise ValueError(f"latency {dict(table)}: median must exceed the floor")
        return LogNormalLatency(
            floor, math.log(median - floor), float(table.get("sigma", 0.5)), seed
        )
    raise ValueError(f"unknown latency kind {kind!r} (constant, empirical, fitted, lognormal)")


# --------------------------------------------------------------------------- queue position


class QueueState:
    """Where one passive order stands in its price level."""

    __slots__ = ("ahead", "ahead_refs", "sweep_ns", "swept_behind")

    def __init__(self, ahead: float, ahead_refs: dict[int, int] | None) -> None:
        self.ahead = ahead
        self.ahead_refs = ahead_refs  # FIFO only: ref -> its shares still ahead of us
        self.sweep_ns: int | None = None  # FIFO only: timestamp of the current sweep
        self.swept_behind = 0  # FIFO only: shares executed behind us in it while some were ahead


class QueueModel(Protocol):
    name: str

    def join(self, level_refs: list[tuple[int, int]]) -> QueueState:
        """Our order arrives behind `level_refs` ((ref, visible shares) in priority order)."""
        ...

    def on_reduction(
        self,
        state: QueueState,
        ref: int,
        shares: int,
        traded: bool,
        level_shares_before: int,
        at_ns: int,
    ) -> int:
        """A replayed order `ref` at our level lost `shares` (executed if `traded`, else
        cancelled or deleted) at exchange time `at_ns` (one aggressor's sweep shares it); the
        level held `level_shares_before` visible shares before. Returns how many executed
        shares went past the queue ahead of us (what may fill us; 0 while some are ahead)."""
        ...


class FifoQueue:
    name = "fifo"

    def join(self, level_refs: list[tuple[int, int]]) -> QueueState:
        ahead = {ref: shares for ref, shares in level_refs if shares > 0}
        return QueueState(sum(ahead.values()), ahead)

    def on_reduction(
        self,
        state: QueueState,
        ref: int,
        shares: int,
        traded: bool,
        level_shares_before: int,
        at_ns: int,
    ) -> int:
        if state.sweep_ns != at_ns:  # a new sweep: what an earlier one held back is void
            state.sweep_ns = at_ns
            state.swept_behind = 0
        refs = state.ahead_refs
        left = refs.get(ref) if refs is not None else None
        if left is None:  # behind us
            if not traded:
                return 0
            if state.ahead > 0:  # reported before the orders ahead: held for the sweep
                state.swept_behind += shares
                return 0
            return shares
        taken = min(left, shares)
        state.ahead -= taken
        if taken == left:
            del refs[ref]
        else:
            refs[ref] = left - taken
        if state.ahead > 0:
            return 0
        reached = state.swept_behind + (shares - taken if traded else 0)
        state.swept_behind = 0
        return reached


class ProbabilisticQueue:
    def __init__(self, power: float = 2.0) -> None:
        if power <= 0:
            raise ValueError("the queue model's power must be positive")
        self.power = power
        self.name = f"probabilistic(power={power:g})"

    def join(self, level_refs: list[tuple[int, int]]) -> QueueState:
        return QueueState(float(sum(shares for _, shares in level_refs)), None)

    def on_reduction(
        self,
        state: QueueState,
        ref: int,
        shares: int,
        traded: bool,
        level_shares_before: int,
        at_ns: int,
    ) -> int:
        ahead = state.ahead
        if traded:
            state.ahead = max(0.0, ahead - shares)
            return int(shares - ahead) if shares > ahead else 0
        if ahead <= 0:
            return 0
        behind = max(0.0, level_shares_before - ahead)
        front = ahead**self.power
        weight = front / (front + behind**self.power)
        state.ahead = max(0.0, ahead - shares * weight)
        return 0


def queue_from_config(value: str | Mapping[str, Any] | None) -> QueueModel:
    """`"fifo"` (default), `"probabilistic"` or `{kind = "probabilistic", power = 2}`."""
    if value is None:
        return FifoQueue()
    if isinstance(value, str):
        value = {"kind": value}
    kind = value.get("kind", "fifo")
    if kind == "fifo":
        return FifoQueue()
    if kind == "probabilistic":
        return ProbabilisticQueue(float(value.get("power", 2.0)))
    raise ValueError(f"unknown queue model {kind!r} (fifo, probabilistic)")


def fees_from_config(table: Mapping[str, Any] | None) -> VenueFees:
    """`{taker = 30, maker = -20}` in 1/10,000 currency units per share."""
    table = table or {}
    unknown = set(table) - {"taker", "maker"}
    if unknown:
        raise ValueError(f"fees: unknown key(s) {sorted(unknown)} (taker, maker)")
    return VenueFees(int(table.get("taker", 0)), int(table.get("maker", 0)))
