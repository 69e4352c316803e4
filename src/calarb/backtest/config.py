"""Backtest configuration (TOML, see configs/backtest.toml): venues and their realism models,
the strategy and its pairs, risk limits, and the synthetic market when there is no data file.

Everything is a plain table until `build_*` turns it into calarb objects, so a sweep can
override any key (`entry`, `window`, `venues.V1.order_latency`, ...) before building.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import fields
from pathlib import Path
from typing import Any, Literal

from calarb.backtest.models import (
    LatencyModel,
    QueueModel,
    fees_from_config,
    latency_from_config,
    queue_from_config,
)
from calarb.core.config_schema import (
    ConfigError,
    NonNegativeFloat,
    PositiveFloat,
    PositiveInt,
    Schema,
    did_you_mean,
    load_toml,
    validate,
)
from calarb.model.hedge import EwmOlsHedge, KalmanHedge, OlsHedge, RollingOlsHedge
from calarb.model.live import PairModel
from calarb.model.signal import SignalRules
from calarb.model.spread import SpreadForm
from calarb.trading.config import RiskSchema, SignalSchema
from calarb.trading.orders import VenueFees
from calarb.trading.risk import RiskLimits
from calarb.trading.strategy import PairsStrategy, PairStrategyConfig
from calarb.venue.config import SyntheticSchema


class LatencySchema(Schema, kw_only=True):
    kind: Literal["constant", "empirical", "lognormal", "fitted"] = "constant"
    us: NonNegativeFloat | None = None
    ns: NonNegativeFloat | None = None
    floor_us: NonNegativeFloat | None = None
    median_us: PositiveFloat | None = None
    sigma: NonNegativeFloat | None = None
    file: str | None = None
    unit: Literal["ns", "us", "ms"] | None = None


class QueueSchema(Schema, kw_only=True):
    kind: Literal["fifo", "probabilistic", "auto"] = "fifo"
    power: PositiveFloat | None = None


class FeesSchema(Schema, kw_only=True):
    taker: int = 0
    maker: int = 0


class VenueModelSchema(Schema, kw_only=True):
    """`[venues.NAME]` (and `[venues.default]`): one venue's realism models."""

    order_latency: NonNegativeFloat | LatencySchema | None = None
    feed_latency: NonNegativeFloat | LatencySchema | None = None
    fees: FeesSchema | None = None
    queue: Literal["fifo", "probabilistic", "auto"] | QueueSchema | None = None


class BacktestRunSchema(Schema, kw_only=True):
    seed: int = 1
    sample_ms: PositiveFloat = 1000
    capital: PositiveFloat | None = None  # the capital base of returns (currency units)
    venue_names: list[str] = []


class BacktestStrategySchema(SignalSchema, kw_only=True):
    pairs: list[tuple[str, str]] | None = None
    auto_pairs: PositiveInt | None = None
    window: PositiveInt | None = None
    halflife: PositiveFloat | None = None
    price_source: Literal["mid", "microprice"] | None = None


class BacktestSyntheticSchema(SyntheticSchema, kw_only=True):
    seed: int | None = None  # default: [backtest] seed
    seconds: PositiveFloat = 120
    venues: list[str] | None = None


class BacktestFileSchema(Schema, kw_only=True):
    """A `calarb backtest` / `calarb sweep` file."""

    backtest: BacktestRunSchema = BacktestRunSchema()
    venues: dict[str, VenueModelSchema] = {}
    strategy: BacktestStrategySchema = BacktestStrategySchema()
    risk: RiskSchema = RiskSchema()
    synthetic: BacktestSyntheticSchema | None = None


STRATEGY_KEYS = set(BacktestStrategySchema.__struct_fields__)
SHORT_KEYS = {key: ("strategy", key) for key in STRATEGY_KEYS}
"""Grid names that need no section (`entry=1.5,2` means strategy.entry)."""


class BacktestConfig:
    """A parsed configuration file (a nested dict) with accessors."""

    def __init__(self, table: Mapping[str, Any], source: str = "<config>") -> None:
        self.table = copy.deepcopy(dict(table))
        self.source = source
        if self.custom_strategy is None:
            validate(self.table, BacktestFileSchema, source)
        else:  # a custom strategy's [strategy] keys are its own class's parameters
            rest = {key: value for key, value in self.table.items() if key != "strategy"}
            validate(rest, BacktestFileSchema, source)

    @classmethod
    def load(cls, path: str | Path) -> BacktestConfig:
        return cls(load_toml(path), str(path))

    # -- sections --------------------------------------------------------------------------

    @property
    def run(self) -> dict[str, Any]:
        return self.table.get("backtest", {})

    @property
    def seed(self) -> int:
        return int(self.run.get("seed", 1))

    @property
    def sample_ns(self) -> int:
        """Equity-curve sampling (and engine timer) period."""
        return int(float(self.run.get("sample_ms", 1000)) * 1_000_000)

    @property
    def capital(self) -> float | None:
        """`[backtest] capital`: the capital base of returns (currency units), or None."""
        value = self.run.get("capital")
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
            raise ValueError(f"{self.source}: [backtest] capital must be a positive amount")
        return float(value)

    @property
    def strategy_table(self) -> dict[str, Any]:
        return self.table.get("strategy", {})

    def venue_table(self, venue: str) -> dict[str, Any]:
        venues = self.table.get("venues", {})
        merged = dict(venues.get("default", {}))
        merged.update(venues.get(venue, {}))
        return merged

    def venue_names(self, count: int) -> list[str]:
        names = list(self.run.get("venue_names", []))
        return [names[i] if i < len(names) else f"V{i + 1}" for i in range(count)]

    def order_latency(self, venue: str, salt: int) -> LatencyModel:
        return latency_from_config(
            self.venue_table(venue).get("order_latency", 50), self.seed * 1000 + salt
        )

    def feed_latency(self, venue: str, salt: int) -> LatencyModel:
        return latency_from_config(
            self.venue_table(venue).get("feed_latency", 20), self.seed * 1000 + 500 + salt
        )

    def fees(self, venue: str) -> VenueFees:
        return fees_from_config(self.venue_table(venue).get("fees"))

    def queue(self, venue: str) -> QueueModel:
        return queue_from_config(self.venue_table(venue).get("queue"))

    def risk_limits(self) -> RiskLimits:
        table = dict(self.table.get("risk", {}))
        names = {f.name for f in fields(RiskLimits)}
        unknown = set(table) - names
        if unknown:
            raise ValueError(f"{self.source}: unknown [risk] key(s) {sorted(unknown)}")
        return RiskLimits(**table)

    # -- overrides -------------------------------------------------------------------------

    def with_overrides(self, overrides: Mapping[str, Any]) -> BacktestConfig:
        """A copy with dotted keys set (`strategy.entry`, or a short strategy key `entry`;
        with a custom strategy, any undotted key is one of its parameters)."""
        table = copy.deepcopy(self.table)
        for key, value in overrides.items():
            if "." not in key and key not in SHORT_KEYS and self.custom_strategy is None:
                raise ConfigError(
                    f"{self.source}: {key}: unknown key{did_you_mean(key, SHORT_KEYS)}; "
                    "a grid or override key is a [strategy] key or SECTION.KEY"
                )
            path = SHORT_KEYS.get(key, tuple(key.split(".")))
            if len(path) == 1 and self.custom_strategy is not None:
                path = ("strategy", key)  # a custom strategy's own parameter
            node = table
            for part in path[:-1]:
                node = node.setdefault(part, {})
            node[path[-1]] = value
        return BacktestConfig(table, self.source)

    # -- strategy --------------------------------------------------------------------------

    @property
    def custom_strategy(self) -> str | None:
        """`[strategy] class = "module:Class"` (or "file.py:Class"): a strategy written on
        `calarb.Strategy`, built from the rest of the table; None: the pairs strategy."""
        spec = self.strategy_table.get("class")
        return None if spec is None else str(spec)

    def pairs(self, available: list[str]) -> list[tuple[str, str]]:
        """Configured pairs, or with `auto_pairs = N` the first 2N of `available` (most active
        first) paired in order (none for a custom strategy: it names its own symbols)."""
        table = self.strategy_table
        if self.custom_strategy is not None:
            return []
        if "pairs" in table:
            pairs = [(str(a), str(b)) for a, b in table["pairs"]]
            missing = sorted({s for pair in pairs for s in pair} - set(available))
            if missing and available:
                raise ValueError(f"{self.source}: pair symbol(s) {missing} not in the data")
            return pairs
        count = int(table.get("auto_pairs", 1))
        chosen = available[: 2 * count]
        if len(chosen) < 2:
            raise ValueError(f"{self.source}: the data has fewer than two symbols to pair")
        return [(chosen[i], chosen[i + 1]) for i in range(0, len(chosen) - 1, 2)]

    def build_strategy(self, pairs: list[tuple[str, str]]) -> PairsStrategy:
        """The pairs strategy over `pairs`, or the custom strategy in its engine host."""
        table = self.strategy_table
        spec = self.custom_strategy
        if spec is not None:
            from calarb.trading.strategy_api import engine_strategy, load_strategy

            params = {key: value for key, value in table.items() if key != "class"}
            base = Path(self.source).parent if Path(self.source).is_file() else Path.cwd()
            where = f"{self.source}: [strategy]"
            return engine_strategy(load_strategy(spec, params, base, where))
        max_holding = table.get("max_holding_s")
        rules = SignalRules(
            float(table.get("entry", 2.0)),
            float(table.get("exit", 0.5)),
            float(table.get("stop", 4.0)),
            int(max_holding * 1e9) if max_holding else None,
        )
        strategy = PairsStrategy()
        for leg_a, leg_b in pairs:
            config = PairStrategyConfig(
                leg_a, leg_b, rules=rules,
                sizing=table.get("sizing", "shares"),
                size=int(table.get("size", 100)),
                order_style=table.get("order_style", "ioc"),
                price_reference=table.get("price_reference", "far"),
                limit_offset_ticks=int(table.get("limit_offset_ticks", 0)),
                hedge_offset_ticks=int(table.get("hedge_offset_ticks", 2)),
                cooldown_ns=int(float(table.get("cooldown_ms", 1000)) * 1e6),
                leg_timeout_ns=int(float(table.get("leg_timeout_ms", 500)) * 1e6),
                legging_action=table.get("legging_action", "hedge"),
                max_reprices=int(table.get("max_reprices", 2)),
                min_observations=int(table.get("min_observations", 100)),
            )  # fmt: skip
            window = table.get("window")
            model = PairModel(
                leg_a, leg_b, self._hedge(),
                form=SpreadForm(table.get("form", "log")),
                zscore_window=int(window) if window else None,
                zscore_halflife=float(table.get("halflife", 300.0)) if not window else None,
                price_source=table.get("price_source", "mid"),
            )  # fmt: skip
            strategy.add_pair(config, model)
        return strategy

    def _hedge(self):
        table = self.strategy_table
        kind = table.get("hedge", "ols")
        if kind == "ols":
            return OlsHedge()
        if kind == "rolling":
            return RollingOlsHedge(int(table.get("hedge_window", 500)))
        if kind == "ewm":
            return EwmOlsHedge(float(table.get("hedge_window", 500)))
        if kind == "kalman":
            return KalmanHedge()
        raise ValueError(f"{self.source}: unknown hedge {kind!r} (ols, rolling, ewm, kalman)")

    def synthetic_table(self) -> dict[str, Any]:
        table = self.table.get("synthetic")
        if not table:
            raise ValueError(f"{self.source}: a synthetic backtest needs a [synthetic] section")
        return dict(table)
