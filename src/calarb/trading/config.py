"""`calarb run` configuration: one TOML file with pairs, thresholds, limits and venues.

Every key is described in docs/run.md; configs/engine.toml is the example.

```toml
[engine]
journal = "run/journal.jsonl"     # OMS journal; a restart replays it (relative: to this file)
kill_file = "run/KILL"            # touching this file engages the kill switch
pid_file = "run/calarb.pid"       # `calarb kill --config FILE` signals this pid
timer_interval_ms = 20            # legging timeouts, post-trade checks, kill-file poll
flatten_on_kill = false
stop_on_kill = true               # the run ends once the kill switch's work is done
reconcile_timeout_ms = 2000       # wait for OrderStatusRequest answers after a reconnect

[risk]                            # calarb.trading.risk.RiskLimits fields (integers)
max_position = 1000

[[pairs]]
leg_a = "AAA"
leg_b = "BBB"
hedge = "ols"                     # ols | rolling | ewm | kalman
hedge_window = 500                # rolling window / ewm half-life (observations)
form = "log"                      # log | price
zscore_halflife = 3000
entry = 1.5                       # z thresholds (calarb.model.signal.SignalRules)
exit = 0.3
stop = 4.0
max_holding_s = 120
size = 200                        # and the other PairStrategyConfig fields; times in ms:
cooldown_ms = 2000                # cooldown_ms, leg_timeout_ms
leg_timeout_ms = 500

[[venues]]
name = "V1"
fees = { taker = 30, maker = -20 }   # per share, 1/10,000 currency units
[venues.fix]                         # QuickFIX-named session settings (calarb.fix.config)
BeginString = "FIX.4.4"
SenderCompID = "CALARB"
TargetCompID = "V1"
SocketConnectHost = "127.0.0.1"
SocketConnectPort = 9001
HeartBtInt = 5
[venues.feed]                        # MoldUDP64 multicast on 127.0.0.1
group = "239.255.10.1"
port = 31001
retransmission_host = "127.0.0.1"
retransmission_port = 31002
session = "V1"                       # optional: else learnt from the first packet (a
                                     # restarted venue's new session is followed)
sources = ["127.0.0.1"]              # optional: senders accepted, "address[:port]"
protocol = "itch"                    # optional: "itch" (ITCH 5.0) or "itto" (ITTO 4.0 options)
```

Instead of `[[pairs]]`, a `[strategy]` table runs a strategy written on `calarb.Strategy`
(docs/strategies.md): `class = "module:Class"` or `"file.py:Class"` (relative to this file),
the other keys going to the class's `from_config`.

Errors name the table and key (`pairs[0].size: ...`).
"""

from __future__ import annotations

import dataclasses
import ipaddress
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import msgspec

from calarb.core import config_schema
from calarb.core.config_schema import (
    FixedPort,
    IPv4Address,
    MulticastGroup,
    NonEmptyStr,
    NonNegativeFloat,
    NonNegativeInt,
    PositiveFloat,
    PositiveInt,
    Schema,
    check_distinct,
    load_toml,
    validate,
)
from calarb.core.tables import check_keys
from calarb.fix.config import SessionSettings, settings_from_mapping, with_overrides
from calarb.itch.transport import DEFAULT_SOURCES, parse_source
from calarb.model.hedge import EwmOlsHedge, KalmanHedge, OlsHedge, RollingOlsHedge
from calarb.model.live import PairModel
from calarb.model.signal import SignalRules
from calarb.model.spread import SpreadForm
from calarb.ops.settings import TABLES as OPERATIONS_TABLES
from calarb.ops.settings import (
    AlertSettings,
    DashboardSettings,
    MetricsSettings,
    OperationsSettings,
    parse_operations,
)
from calarb.trading.orders import VenueFees
from calarb.trading.risk import RiskLimits
from calarb.trading.strategy import PairStrategyConfig
from calarb.trading.strategy_types import LeggingAction, OrderStyle, PriceReference, Sizing

_MS = 1_000_000


ConfigError = config_schema.ConfigError
"""A configuration problem, naming the file and the key (the one error of every config)."""


# -- the file's shape (calarb.core.config_schema): keys, types, signs, ranges ------------------


class RiskSchema(Schema, kw_only=True):
    """`[risk]`: calarb.trading.risk.RiskLimits (integers; money in 1/10,000)."""

    max_order_quantity: PositiveInt | None = None
    max_order_notional: PositiveInt | None = None
    collar_bps: NonNegativeInt | None = None
    collar_min: NonNegativeInt | None = None
    max_position: PositiveInt | None = None
    position_limits: dict[str, NonNegativeInt] = {}
    max_gross_exposure: PositiveInt | None = None
    max_net_exposure: PositiveInt | None = None
    max_daily_loss: PositiveInt | None = None
    max_orders_per_window: PositiveInt | None = None
    rate_window_ns: PositiveInt | None = None
    max_open_orders: PositiveInt | None = None
    require_reference_price: bool = True
    kill_on_daily_loss: bool = True


class SignalSchema(Schema, kw_only=True):
    """The keys a pairs strategy shares between `calarb run` and `calarb backtest`."""

    entry: NonNegativeFloat | None = None
    exit: NonNegativeFloat | None = None
    stop: NonNegativeFloat | None = None
    max_holding_s: PositiveFloat | None = None
    size: PositiveInt | None = None
    sizing: Sizing | None = None
    order_style: OrderStyle | None = None
    price_reference: PriceReference | None = None
    limit_offset_ticks: int | None = None
    hedge_offset_ticks: NonNegativeInt | None = None
    cooldown_ms: NonNegativeFloat | None = None
    leg_timeout_ms: PositiveFloat | None = None
    legging_action: LeggingAction | None = None
    max_reprices: NonNegativeInt | None = None
    min_observations: NonNegativeInt | None = None
    hedge: Literal["ols", "rolling", "ewm", "kalman"] | None = None
    hedge_window: PositiveFloat | None = None
    form: Literal["log", "price"] | None = None


class PairSchema(SignalSchema, kw_only=True):
    leg_a: NonEmptyStr
    leg_b: NonEmptyStr
    zscore_halflife: PositiveFloat | None = None
    true_ratio: float | None = None
    tick_size: PositiveInt | None = None
    lot_size: PositiveInt | None = None


class EngineSchema(Schema, kw_only=True):
    journal: str | None = None
    kill_file: str | None = None
    pid_file: str | None = None
    timer_interval_ms: PositiveFloat = 20
    reconcile_timeout_ms: PositiveFloat = 2000
    flatten_on_kill: bool = False
    stop_on_kill: bool = True
    id_prefix: NonEmptyStr = "S"


class FeedSchema(Schema, kw_only=True):
    group: MulticastGroup
    port: FixedPort
    retransmission_host: IPv4Address = "127.0.0.1"
    retransmission_port: FixedPort
    session: str | None = None
    interface: IPv4Address = "127.0.0.1"
    sources: list[str] | None = None  # accepted senders, "address" or "address:port"
    protocol: Literal["itch", "itto"] = "itch"  # ITCH 5.0 equities, ITTO 4.0 options


class FeesSchema(Schema, kw_only=True):
    taker: int = 0
    maker: int = 0


class RunVenueSchema(Schema, kw_only=True):
    name: NonEmptyStr
    fix: dict[str, Any]  # QuickFIX-named keys: checked by calarb.fix.config
    feed: FeedSchema
    fees: FeesSchema = FeesSchema()


class RunFileSchema(Schema, kw_only=True):
    """A `calarb run` file; the demo's engine file is the same without [[venues]]."""

    engine: EngineSchema = EngineSchema()
    risk: RiskSchema = RiskSchema()
    pairs: list[PairSchema] = []
    venues: list[RunVenueSchema] = []
    strategy: dict[str, Any] | None = None  # a `calarb.Strategy`: its class checks the rest
    metrics: MetricsSettings = MetricsSettings()
    dashboard: DashboardSettings = DashboardSettings()
    alerts: AlertSettings = AlertSettings()


def check_run_document(document: Mapping[str, Any], source: str | Path) -> None:
    """The file's shape, then conflicts: two venues on one name, FIX port or feed."""
    validate(document, RunFileSchema, source)
    venues = list(document.get("venues", ()))
    where = [f"venues[{i}] ({v['name']})" for i, v in enumerate(venues)]
    check_distinct(source, ((f"{w}.name", v["name"]) for w, v in zip(where, venues, strict=False)), "name")
    groups = ((f"{w}.feed.group", v["feed"]["group"]) for w, v in zip(where, venues, strict=False))
    check_distinct(source, groups, "multicast group")
    udp = [(f"{w}.feed.port", v["feed"]["port"]) for w, v in zip(where, venues, strict=False)]
    udp += [(f"{w}.feed.retransmission_port", v["feed"]["retransmission_port"])
            for w, v in zip(where, venues, strict=False)]  # fmt: skip
    check_distinct(source, udp, "UDP port")


@dataclass(frozen=True)
class FeedSettings:
    group: str
    port: int
    retransmission_host: str = "127.0.0.1"
    retransmission_port: int = 0
    session: str | None = None
    interface: str = "127.0.0.1"
    sources: tuple[str, ...] = DEFAULT_SOURCES
    """Senders accepted ("address" or "address:port"); others are dropped by the kernel."""
    protocol: str = "itch"
    """The messages the feed carries: "itch" (Nasdaq TotalView-ITCH 5.0) or "itto" (Nasdaq
    ITCH to Trade Options 4.0): the engine's decoder for the venue (trading.venue_feed)."""

    def __post_init__(self) -> None:
        object.__setattr__(self, "sources", tuple(self.sources))
        if self.protocol not in ("itch", "itto"):
            raise ValueError(f"protocol {self.protocol!r} is neither 'itch' nor 'itto'")
        for source in self.sources:
            parse_source(source)
        if not self.sources:
            raise ValueError("sources must name at least one sender")
        try:
            multicast = ipaddress.IPv4Address(self.group).is_multicast
        except ValueError:
            multicast = False
        if not multicast:
            raise ValueError(f"group {self.group!r} is not an IPv4 multicast address")
        if not 0 < self.port < 65536 or not 0 < self.retransmission_port < 65536:
            raise ValueError("port and retransmission_port must be UDP ports (1..65535)")

    @property
    def retransmission_address(self) -> tuple[str, int]:
        return (self.retransmission_host, self.retransmission_port)


@dataclass(frozen=True)
class VenueSettings:
    name: str
    fix: SessionSettings
    feed: FeedSettings
    fees: VenueFees = VenueFees()


@dataclass(frozen=True)
class PairSettings:
    strategy: PairStrategyConfig
    hedge: str = "ols"
    hedge_window: int = 500
    form: SpreadForm = SpreadForm.LOG
    zscore_halflife: float = 3000.0
    true_ratio: float | None = None

    def build_model(self) -> PairModel:
        """A fresh PairModel for this pair, keeping no parameter history: nothing in a live
        run reads it (the dashboard and the demo's report sample the model themselves), and
        at the model's default (100,000 snapshots a pair, ~41 MB) it was the engine's climb
        over the first three minutes of a demo (two pairs, ~550 observations/s each; 332 ->
        433 MB in a 300 s demo, 276 -> 285 MB without it)."""
        hedges = {
            "ols": OlsHedge,
            "rolling": lambda: RollingOlsHedge(self.hedge_window),
            "ewm": lambda: EwmOlsHedge(self.hedge_window),
            "kalman": KalmanHedge,
        }
        return PairModel(
            self.strategy.leg_a,
            self.strategy.leg_b,
            hedges[self.hedge](),
            form=self.form,
            zscore_halflife=self.zscore_halflife,
            history_limit=0,
        )


@dataclass(frozen=True)
class StrategySettings:
    """`[strategy] class = "module:Class"` (or "file.py:Class", relative to the config) and
    the class's own parameters: a strategy written on `calarb.Strategy`."""

    spec: str
    params: dict[str, Any]
    base: Path

    def build(self):
        from calarb.trading.strategy_api import load_strategy

        try:
            return load_strategy(self.spec, self.params, self.base)
        except ValueError as exc:
            raise ConfigError(str(exc)) from None


@dataclass(frozen=True)
class RunConfig:
    pairs: tuple[PairSettings, ...]
    venues: tuple[VenueSettings, ...]
    limits: RiskLimits = RiskLimits()
    journal: Path | None = None
    kill_file: Path | None = None
    pid_file: Path | None = None
    timer_interval_ns: int = 20 * _MS
    reconcile_timeout_ns: int = 2_000 * _MS
    flatten_on_kill: bool = False
    stop_on_kill: bool = True  # false: stays up HALTED (inspected on the dashboard) until stopped
    id_prefix: str = "S"
    source: Path | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    strategy: StrategySettings | None = None  # a `calarb.Strategy` instead of the pairs
    operations: OperationsSettings = OperationsSettings()  # [metrics], [dashboard], [alerts]

    def with_dashboard(self) -> RunConfig:
        """The same config with the dashboard on (`calarb run --dashboard`, the demo)."""
        dashboard = msgspec.structs.replace(self.operations.dashboard, enabled=True)
        operations = msgspec.structs.replace(self.operations, dashboard=dashboard)
        return dataclasses.replace(self, operations=operations)

    def with_venue_ports(self, ports: Mapping[str, int]) -> RunConfig:
        """The same config with other FIX ports (tests that bind port 0)."""
        venues = tuple(
            dataclasses.replace(v, fix=with_overrides(v.fix, port=ports[v.name]))
            if v.name in ports
            else v
            for v in self.venues
        )
        return dataclasses.replace(self, venues=venues)


_ENGINE_KEYS = {
    "journal",
    "kill_file",
    "pid_file",
    "timer_interval_ms",
    "reconcile_timeout_ms",
    "flatten_on_kill",
    "stop_on_kill",
    "id_prefix",
}
_PAIR_MODEL_KEYS = {"hedge", "hedge_window", "form", "zscore_halflife", "true_ratio"}
_RULE_KEYS = {"entry", "exit", "stop", "max_holding_s"}
_MS_KEYS = {"cooldown_ms": "cooldown_ns", "leg_timeout_ms": "leg_timeout_ns"}


def _path(value: Any, base: Path) -> Path | None:
    if value in (None, ""):
        return None
    path = Path(str(value))
    return path if path.is_absolute() else base / path


def _pair(where: str, table: Mapping[str, Any]) -> PairSettings:
    strategy_keys = {f.name for f in dataclasses.fields(PairStrategyConfig)} - {"rules"}
    strategy_keys -= set(_MS_KEYS.values())
    known = strategy_keys | _PAIR_MODEL_KEYS | _RULE_KEYS | set(_MS_KEYS)
    check_keys(where, table, known, ConfigError)
    rules_args: dict[str, Any] = {k: table[k] for k in ("entry", "exit", "stop") if k in table}
    if "max_holding_s" in table:
        rules_args["max_holding_ns"] = int(float(table["max_holding_s"]) * 1e9)
    kwargs: dict[str, Any] = {k: v for k, v in table.items() if k in strategy_keys}
    for key, name in _MS_KEYS.items():
        if key in table:
            kwargs[name] = int(float(table[key]) * _MS)
    model = {k: table[k] for k in _PAIR_MODEL_KEYS if k in table}
    if "form" in model:
        model["form"] = SpreadForm(model["form"])
    if model.get("hedge", "ols") not in ("ols", "rolling", "ewm", "kalman"):
        raise ConfigError(f"{where}.hedge: {model['hedge']!r} is not ols, rolling, ewm or kalman")
    try:
        strategy = PairStrategyConfig(rules=SignalRules(**rules_args), **kwargs)
        return PairSettings(strategy, **model)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"{where}: {exc}") from None


def _venue(where: str, table: Mapping[str, Any], base: Path, source: Path | None) -> VenueSettings:
    check_keys(where, table, {"name", "fix", "feed", "fees"}, ConfigError)
    for key in ("name", "fix", "feed"):
        if key not in table:
            raise ConfigError(f"{where}: missing {key!r}")
    name = str(table["name"])
    try:
        fix = settings_from_mapping(dict(table["fix"]), base, None, source or "", f"{where}.fix")
    except ConfigError:
        raise
    except ValueError as exc:
        raise ConfigError(f"{where}.fix: {exc}") from None
    if not fix.is_initiator:
        raise ConfigError(
            f"{where}.fix: ConnectionType must be initiator, got {fix.connection_type}"
        )
    try:
        feed = FeedSettings(**table["feed"])
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"{where}.feed: {exc}") from None
    fees_table = dict(table.get("fees", {}))
    check_keys(f"{where}.fees", fees_table, {"taker", "maker"}, ConfigError)
    fees = VenueFees(int(fees_table.get("taker", 0)), int(fees_table.get("maker", 0)))
    return VenueSettings(name, fix, feed, fees)


def _check_feed_protocols(spec: str, strategy: Any, venues: tuple[VenueSettings, ...]) -> None:
    """A strategy's `feed_protocols` (e.g. the options strategy's: "itto" for its options,
    "itch" for their underlying) each need a venue whose feed carries it."""
    carried = {venue.feed.protocol for venue in venues}
    for protocol in getattr(strategy, "feed_protocols", ()):
        if protocol not in carried:
            raise ConfigError(
                f"strategy: {spec} needs a venue whose feed is {protocol!r} "
                f"([venues.feed] protocol = \"{protocol}\"); the venues carry {sorted(carried)}"
            )


def parse_config(document: Mapping[str, Any], base: Path, source: Path | None = None) -> RunConfig:
    """Build a RunConfig from a parsed TOML document (`base`: where relative paths start)."""
    check_keys(
        "top level",
        document,
        {"engine", "risk", "pairs", "venues", "strategy", *OPERATIONS_TABLES},
        ConfigError,
    )
    operations = parse_operations(document, str(source or "<config>"))
    engine = dict(document.get("engine", {}))
    check_keys("engine", engine, _ENGINE_KEYS, ConfigError)
    risk = dict(document.get("risk", {}))
    check_keys("risk", risk, {f.name for f in dataclasses.fields(RiskLimits)}, ConfigError)
    try:
        limits = RiskLimits(**risk)
    except TypeError as exc:
        raise ConfigError(f"risk: {exc}") from None
    pairs = tuple(_pair(f"pairs[{i}]", t) for i, t in enumerate(document.get("pairs", [])))
    venues = tuple(
        _venue(f"venues[{i}]", t, base, source) for i, t in enumerate(document.get("venues", []))
    )
    strategy = None
    if "strategy" in document:
        table = dict(document["strategy"])
        if "class" not in table:
            raise ConfigError("strategy: missing 'class' (\"module:Class\" or \"file.py:Class\")")
        spec = str(table.pop("class"))
        strategy = StrategySettings(spec, table, base)
        built = strategy.build()  # its class and parameters are checked before anything starts
        if venues:  # (none: the error below)
            _check_feed_protocols(spec, built, venues)
        if pairs:
            raise ConfigError("[strategy] and [[pairs]] exclude each other: one strategy a run")
    elif not pairs:
        raise ConfigError("at least one [[pairs]] table (or a [strategy] table) is needed")
    if not venues:
        raise ConfigError("at least one [[venues]] table is needed")
    names = [v.name for v in venues]
    if len(set(names)) != len(names):
        raise ConfigError(f"venues: names must be unique, got {names}")
    return RunConfig(
        pairs=pairs,
        venues=venues,
        limits=limits,
        journal=_path(engine.get("journal"), base),
        kill_file=_path(engine.get("kill_file"), base),
        pid_file=_path(engine.get("pid_file"), base),
        timer_interval_ns=int(float(engine.get("timer_interval_ms", 20)) * _MS),
        reconcile_timeout_ns=int(float(engine.get("reconcile_timeout_ms", 2000)) * _MS),
        flatten_on_kill=bool(engine.get("flatten_on_kill", False)),
        stop_on_kill=bool(engine.get("stop_on_kill", True)),
        id_prefix=str(engine.get("id_prefix", "S")),
        source=source,
        strategy=strategy,
        operations=operations,
    )


def load_config(path: str | Path) -> RunConfig:
    """Read and check a `calarb run` TOML file."""
    path = Path(path)
    document = load_toml(path)
    check_run_document(document, path)
    try:
        return parse_config(document, path.resolve().parent, path)
    except ConfigError as exc:
        if str(exc).startswith(f"{path}: "):
            raise
        raise ConfigError(f"{path}: {exc}") from None
