"""Venue configuration from TOML: one shared synthetic market, one or more venues.

```toml
speed = 1.0               # simulated seconds per real second
linger_s = 1.0            # after end of day, keep answering gap requests this long

[synthetic]               # calarb.venue.synthetic.SyntheticMarketConfig.from_mapping
seed = 7
step_ms = 100
[[synthetic.symbols]]
symbol = "AAA"
start_price = 100.0
[[synthetic.pairs]]
dependent = "BBB"
driver = "AAA"
hedge_ratio = 1.2
half_life_s = 60.0
spread_sd = 0.004

[[venues]]
name = "ALPHA"            # also the FIX SenderCompID (comp_id) and the MoldUDP64 session
fix_port = 9101
symbols = ["AAA", "BBB"]  # optional subset of the synthetic symbols
order_latency_ms = 0.0    # added one way: on each order and on each report
fee_per_share = 30        # taker fee, integer 1/10,000 per share (0.0030)
rebate_per_share = 20     # maker rebate, same units
[venues.market_data]      # calarb.venue.market_data.MarketDataConfig.from_mapping
group = "239.255.10.1"
port = 31001
retransmission_port = 31002
latency_ms = 0.0
[venues.market_data.faults]
drop = 0.02
[[venues.participants]]
comp_id = "TRADER1"
username = "trader1"
password = "secret"
max_order_qty = 100000
max_order_notional = 5000000.0   # currency units
max_open_orders = 1000
[[venues.faults.halts]]
symbol = "BBB"
at_s = 30.0               # simulated seconds after the start
resume_s = 40.0
[[venues.faults.fix_disconnects]]
participant = "TRADER1"   # or "*" for every connected participant
at_s = 20.0
```

Every error names the table and key it comes from (`venues[1].participants[0]: ...`).
"""

from __future__ import annotations

import heapq
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Literal

from msgspec import Meta

from calarb.core.config_schema import (
    ConfigError,
    FixedPort,
    MulticastGroup,
    NonEmptyStr,
    NonNegativeFloat,
    NonNegativeInt,
    Port,
    PositiveFloat,
    PositiveInt,
    Probability,
    Schema,
    check_distinct,
    load_toml,
    validate,
)
from calarb.core.tables import dataclass_from_table
from calarb.core.types import PRICE_SCALE
from calarb.venue.itch_publisher import MAX_PRICE, MAX_SHARES
from calarb.venue.market_data import MarketDataConfig
from calarb.venue.synthetic import SyntheticMarketConfig

NS_PER_S = 1_000_000_000
ALL_PARTICIPANTS = "*"


class VenueConfigError(ConfigError):
    """A configuration that cannot run; the message names the table and key."""


# -- the file's shape (calarb.core.config_schema): keys, types, signs, ranges ------------------


class SymbolSchema(Schema, kw_only=True):
    symbol: NonEmptyStr
    start_price: PositiveFloat
    daily_volatility: NonNegativeFloat = 0.02
    tick_size: PositiveInt = 100
    lot_size: PositiveInt = 1
    round_lot: PositiveInt = 100
    locate: NonNegativeInt = 0


class SyntheticPairSchema(Schema, kw_only=True):
    dependent: NonEmptyStr
    driver: NonEmptyStr
    hedge_ratio: float
    half_life_s: PositiveFloat
    spread_sd: NonNegativeFloat
    form: Literal["log", "price"] = "log"
    alpha: float | None = None


class MarketMakersSchema(Schema, kw_only=True):
    count: NonNegativeInt = 2
    levels: PositiveInt = 5
    half_spread_ticks: NonNegativeFloat = 1.0
    level_spacing_ticks: PositiveInt = 1
    size: PositiveInt = 500
    size_step: NonNegativeInt = 200
    requote_ticks: NonNegativeFloat = 0.5


class NoiseTradersSchema(Schema, kw_only=True):
    count: NonNegativeInt = 3
    orders_per_s: NonNegativeFloat = 0.5
    min_size: PositiveInt = 100
    max_size: PositiveInt = 1_000
    through_ticks: NonNegativeInt = 2
    market_order_share: Probability = 0.2


class SyntheticSchema(Schema, kw_only=True):
    """`[synthetic]`: the simulated market (calarb.venue.synthetic.SyntheticMarketConfig)."""

    seed: int
    symbols: list[SymbolSchema]
    pairs: list[SyntheticPairSchema] = []
    step_ms: PositiveFloat | None = None
    step_ns: PositiveInt | None = None
    start_ns: NonNegativeInt = 0
    market_makers: MarketMakersSchema | None = None
    noise_traders: NoiseTradersSchema | None = None


class FeedFaultsSchema(Schema, kw_only=True):
    drop: Probability = 0.0
    reorder: Probability = 0.0
    duplicate: Probability = 0.0
    reorder_depth: PositiveInt = 3
    seed: int = 0


class MarketDataSchema(Schema, kw_only=True):
    group: MulticastGroup
    port: FixedPort
    session: Annotated[str, Meta(min_length=1, max_length=10)] | None = None
    retransmission_port: Port = 0
    source_port: Port = 0  # fixed: a restarted venue sends from the address subscribers accept
    session_per_instance: bool = True  # each start publishes under a session name of its own
    heartbeat_interval_s: PositiveFloat = 1.0
    latency_ms: NonNegativeFloat = 0.0
    history_limit: PositiveInt | None = None
    history_spill: bool = True  # retransmission history beyond history_limit in a spill file
    max_payload: PositiveInt | None = None
    midnight_ns: NonNegativeInt = 0
    mpids: dict[str, str] = {}
    faults: FeedFaultsSchema | None = None


class ParticipantSchema(Schema, kw_only=True):
    comp_id: NonEmptyStr
    username: NonEmptyStr
    password: NonEmptyStr
    max_order_qty: PositiveInt | None = None
    max_order_notional: PositiveFloat | None = None
    max_open_orders: PositiveInt | None = None
    reset_on_logon: bool = False
    heartbeat_interval_s: PositiveInt = 30


class HaltSchema(Schema, kw_only=True):
    symbol: NonEmptyStr
    at_s: NonNegativeFloat
    resume_s: PositiveFloat | None = None
    reason: str = "MWCB"


class DisconnectSchema(Schema, kw_only=True):
    participant: NonEmptyStr
    at_s: NonNegativeFloat


class VenueFaultsSchema(Schema, kw_only=True):
    halts: list[HaltSchema] = []
    fix_disconnects: list[DisconnectSchema] = []


class VenueSchema(Schema, kw_only=True):
    name: NonEmptyStr
    fix_port: Port
    market_data: MarketDataSchema
    participants: list[ParticipantSchema] = []
    symbols: list[str] | None = None
    comp_id: str = ""
    seed: int | None = None
    order_latency_ms: NonNegativeFloat = 0.0
    fee_per_share: NonNegativeInt = 0
    rebate_per_share: NonNegativeInt = 0
    fix_store_dir: str | None = None
    faults: VenueFaultsSchema | None = None


class VenuesFileSchema(Schema, kw_only=True):
    """A `calarb venue` file."""

    synthetic: SyntheticSchema
    venues: Annotated[list[VenueSchema], Meta(min_length=1)]
    speed: PositiveFloat = 1.0
    linger_s: NonNegativeFloat = 1.0
    metrics: dict[str, Any] | None = None  # checked by calarb.ops.settings (`calarb venue`)


def check_venue_addresses(document: Mapping[str, Any], source: str | Path) -> None:
    """No two venues on one FIX port, multicast group, feed port or retransmission port (a
    port of 0 is a free one chosen at start and never conflicts)."""
    venues = list(document.get("venues", ()))
    where = [f"venues[{i}] ({v.get('name')})" for i, v in enumerate(venues)]
    data = [v.get("market_data", {}) for v in venues]
    check_distinct(source, ((f"{w}.name", v["name"]) for w, v in zip(where, venues, strict=False)), "name", VenueConfigError)
    fix = ((f"{w}.fix_port", v["fix_port"]) for w, v in zip(where, venues, strict=False) if v["fix_port"])
    check_distinct(source, fix, "fix_port", VenueConfigError)
    groups = ((f"{w}.market_data.group", d["group"]) for w, d in zip(where, data, strict=False))
    check_distinct(source, groups, "multicast group", VenueConfigError)
    udp = [(f"{w}.market_data.port", d["port"]) for w, d in zip(where, data, strict=False)]
    udp += [
        (f"{w}.market_data.{key}", d[key])
        for w, d in zip(where, data, strict=False)
        for key in ("retransmission_port", "source_port")
        if d.get(key)
    ]
    check_distinct(source, udp, "UDP port", VenueConfigError)


@dataclass(frozen=True)
class ParticipantLimits:
    """Pre-trade limits the gateway applies to one participant's orders and replaces.

    `max_order_notional` is in integer price units times shares (1/10,000 of a currency unit);
    a market order is valued at the opposite best price. The ITCH caps (`MAX_SHARES`,
    `MAX_PRICE`) always apply on top, so nothing that reaches the book is unpublishable.
    """

    max_order_qty: int = MAX_SHARES
    max_order_notional: int | None = None
    max_open_orders: int | None = None
    max_price: int = MAX_PRICE


@dataclass(frozen=True)
class ParticipantConfig:
    """A FIX participant: its SenderCompID, Logon credentials and limits."""

    comp_id: str
    username: str
    password: str
    limits: ParticipantLimits = field(default_factory=ParticipantLimits)
    reset_on_logon: bool = False
    heartbeat_interval_s: int = 30

    def __post_init__(self) -> None:
        if not self.comp_id or not self.comp_id.isascii() or "\x01" in self.comp_id:
            raise ValueError(f"comp_id {self.comp_id!r} is not a printable ASCII CompID")
        if not self.username or not self.password:
            raise ValueError(f"participant {self.comp_id}: username and password are required")

    @classmethod
    def from_mapping(cls, table: Mapping[str, Any], where: str) -> ParticipantConfig:
        table = dict(table)
        limits: dict[str, Any] = {}
        if "max_order_qty" in table:
            limits["max_order_qty"] = _positive_int(
                table.pop("max_order_qty"), where, "max_order_qty"
            )
            if limits["max_order_qty"] > MAX_SHARES:
                raise VenueConfigError(
                    f"{where}: max_order_qty {limits['max_order_qty']} is above ITCH's "
                    f"{MAX_SHARES} shares"
                )
        if "max_order_notional" in table:
            value = table.pop("max_order_notional")
            if not isinstance(value, int | float) or value <= 0:
                raise VenueConfigError(f"{where}: max_order_notional must be a positive number")
            limits["max_order_notional"] = round(value * PRICE_SCALE)
        if "max_open_orders" in table:
            limits["max_open_orders"] = _positive_int(
                table.pop("max_open_orders"), where, "max_open_orders"
            )
        if limits:
            table["limits"] = ParticipantLimits(**limits)
        return dataclass_from_table(cls, table, where, VenueConfigError)


def _positive_int(value: Any, where: str, key: str) -> int:
    if type(value) is not int or value <= 0:
        raise VenueConfigError(f"{where}: {key} must be a positive integer, not {value!r}")
    return value


@dataclass(frozen=True)
class HaltFault:
    symbol: str
    at_s: float
    resume_s: float | None = None
    reason: str = "MWCB"

    def __post_init__(self) -> None:
        if self.at_s < 0 or (self.resume_s is not None and self.resume_s <= self.at_s):
            raise ValueError(f"halt of {self.symbol}: need 0 <= at_s < resume_s")


@dataclass(frozen=True)
class DisconnectFault:
    participant: str  # a comp_id, or "*" for every connected participant
    at_s: float

    def __post_init__(self) -> None:
        if self.at_s < 0:
            raise ValueError(f"disconnect of {self.participant}: at_s must not be negative")


@dataclass(frozen=True)
class Fault:
    """One scheduled action: `kind` is "halt", "resume" or "disconnect"; `target` a symbol or
    a participant."""

    at_ns: int
    kind: str
    target: str
    reason: str = ""


class FaultSchedule:
    """The venue's scheduled faults in time order; `due(now_ns)` hands out those whose time
    has come (each once). Times are simulated nanoseconds from the venue's start."""

    def __init__(self, faults: Sequence[Fault] = ()) -> None:
        self._heap = [(fault.at_ns, index, fault) for index, fault in enumerate(faults)]
        heapq.heapify(self._heap)

    def __len__(self) -> int:
        return len(self._heap)

    def next_at_ns(self) -> int | None:
        return self._heap[0][0] if self._heap else None

    def due(self, elapsed_ns: int) -> list[Fault]:
        due = []
        while self._heap and self._heap[0][0] <= elapsed_ns:
            due.append(heapq.heappop(self._heap)[2])
        return due


@dataclass(frozen=True)
class VenueFaults:
    halts: tuple[HaltFault, ...] = ()
    fix_disconnects: tuple[DisconnectFault, ...] = ()

    @classmethod
    def from_mapping(cls, table: Mapping[str, Any], where: str) -> VenueFaults:
        table = dict(table)
        halts = tuple(
            dataclass_from_table(HaltFault, item, f"{where}.halts[{index}]", VenueConfigError)
            for index, item in enumerate(table.pop("halts", ()))
        )
        disconnects = tuple(
            dataclass_from_table(
                DisconnectFault, item, f"{where}.fix_disconnects[{index}]", VenueConfigError
            )
            for index, item in enumerate(table.pop("fix_disconnects", ()))
        )
        if table:
            raise VenueConfigError(
                f"{where}: unknown key(s) {sorted(table)}; expected halts, fix_disconnects"
            )
        return cls(halts, disconnects)

    def schedule(self) -> FaultSchedule:
        faults = []
        for halt in self.halts:
            faults.append(Fault(round(halt.at_s * NS_PER_S), "halt", halt.symbol, halt.reason))
            if halt.resume_s is not None:
                faults.append(Fault(round(halt.resume_s * NS_PER_S), "resume", halt.symbol))
        for disconnect in self.fix_disconnects:
            faults.append(
                Fault(round(disconnect.at_s * NS_PER_S), "disconnect", disconnect.participant)
            )
        return FaultSchedule(faults)


@dataclass(frozen=True)
class VenueConfig:
    name: str
    fix_port: int
    market_data: MarketDataConfig
    participants: tuple[ParticipantConfig, ...] = ()
    symbols: tuple[str, ...] | None = None  # None: every synthetic symbol
    comp_id: str = ""  # FIX SenderCompID; defaults to `name`
    seed: int | None = None  # background traders' seed; None: derived from the market seed
    order_latency_ms: float = 0.0
    fee_per_share: int = 0
    rebate_per_share: int = 0
    fix_store_dir: str | None = None  # None: in-memory FIX stores
    faults: VenueFaults = field(default_factory=VenueFaults)

    def __post_init__(self) -> None:
        if not self.name or not self.name.isascii():
            raise ValueError(f"venue name {self.name!r} must be non-empty ASCII")
        if not self.comp_id:
            object.__setattr__(self, "comp_id", self.name)
        if not 0 <= self.fix_port <= 65535:
            raise ValueError(f"fix_port {self.fix_port} is not a TCP port")
        if self.order_latency_ms < 0:
            raise ValueError(f"order_latency_ms {self.order_latency_ms} must not be negative")
        if self.fee_per_share < 0 or self.rebate_per_share < 0:
            raise ValueError("fee_per_share and rebate_per_share must not be negative")
        ids = [p.comp_id for p in self.participants]
        if len(set(ids)) != len(ids):
            raise ValueError(f"participants listed twice in {ids}")
        for disconnect in self.faults.fix_disconnects:
            if disconnect.participant != ALL_PARTICIPANTS and disconnect.participant not in ids:
                raise ValueError(
                    f"fix_disconnects: {disconnect.participant!r} is not a participant {ids}"
                )

    @classmethod
    def from_mapping(cls, table: Mapping[str, Any], where: str) -> VenueConfig:
        table = dict(table)
        if "market_data" not in table:
            raise VenueConfigError(f"{where}: [market_data] (group, port) is required")
        market_data = dict(table.pop("market_data"))
        market_data.setdefault("session", str(table.get("name", ""))[:10])
        try:
            table["market_data"] = MarketDataConfig.from_mapping(
                market_data, f"{where}.market_data"
            )
        except ValueError as exc:
            text = str(exc)
            if not text.startswith(where):
                text = f"{where}.market_data: {text}"
            raise VenueConfigError(text) from None
        table["participants"] = tuple(
            ParticipantConfig.from_mapping(item, f"{where}.participants[{index}]")
            for index, item in enumerate(table.get("participants", ()))
        )
        if "symbols" in table:
            table["symbols"] = tuple(table["symbols"])
        if "faults" in table:
            table["faults"] = VenueFaults.from_mapping(table["faults"], f"{where}.faults")
        return dataclass_from_table(cls, table, where, VenueConfigError)

    def symbol_list(self, synthetic: SyntheticMarketConfig) -> list[str]:
        """The symbols this venue lists, in the synthetic market's order."""
        every = [symbol.symbol for symbol in synthetic.symbols]
        return every if self.symbols is None else [s for s in every if s in self.symbols]

    def participant(self, comp_id: str) -> ParticipantConfig | None:
        for participant in self.participants:
            if participant.comp_id == comp_id:
                return participant
        return None


@dataclass(frozen=True)
class VenuesConfig:
    """The whole file: the shared synthetic market and the venues that trade it."""

    synthetic: SyntheticMarketConfig
    venues: tuple[VenueConfig, ...]
    speed: float = 1.0
    linger_s: float = 1.0

    def __post_init__(self) -> None:
        if not self.venues:
            raise VenueConfigError("no [[venues]] configured")
        if self.speed <= 0:
            raise VenueConfigError(f"speed {self.speed} must be positive")
        if self.linger_s < 0:
            raise VenueConfigError(f"linger_s {self.linger_s} must not be negative")
        listed = {symbol.symbol for symbol in self.synthetic.symbols}
        seen: dict[str, int] = {}
        for index, venue in enumerate(self.venues):
            where = f"venues[{index}] ({venue.name})"
            keys = [("name", venue.name), ("market_data.session", venue.market_data.session)]
            if venue.fix_port:
                keys.append(("fix_port", str(venue.fix_port)))
            for key, value in keys:
                other = seen.setdefault(f"{key}={value}", index)
                if other != index:
                    raise VenueConfigError(
                        f"{where}: {key} {value!r} is also used by venues[{other}] "
                        f"({self.venues[other].name})"
                    )
            unknown = sorted(set(venue.symbols or ()) - listed)
            if unknown:
                raise VenueConfigError(f"{where}: symbols {unknown} are not in [synthetic]")
            symbols = set(venue.symbol_list(self.synthetic))
            for halt in venue.faults.halts:
                if halt.symbol not in symbols:
                    raise VenueConfigError(
                        f"{where}: halt of {halt.symbol!r}, which this venue does not list"
                    )

    @classmethod
    def from_mapping(
        cls, document: Mapping[str, Any], source: str | Path = "venues config"
    ) -> VenuesConfig:
        """Check `document` (the file's shape, then address conflicts) and build it."""
        validate(document, VenuesFileSchema, source, error=VenueConfigError)
        check_venue_addresses(document, source)
        try:
            return cls._build(document)
        except VenueConfigError as exc:
            raise VenueConfigError(f"{source}: {exc}") from None

    @classmethod
    def _build(cls, document: Mapping[str, Any]) -> VenuesConfig:
        document = dict(document)
        document.pop("metrics", None)  # [metrics]: checked by calarb.ops.settings (the command)
        if "synthetic" not in document:
            raise VenueConfigError("[synthetic] (the shared market) is required")
        try:
            synthetic = SyntheticMarketConfig.from_mapping(document.pop("synthetic"))
        except ValueError as exc:
            raise VenueConfigError(str(exc)) from None
        venues = tuple(
            VenueConfig.from_mapping(item, f"venues[{index}]")
            for index, item in enumerate(document.pop("venues", ()))
        )
        return dataclass_from_table(
            cls,
            {**document, "synthetic": synthetic, "venues": venues},
            "top level",
            VenueConfigError,
        )

    @classmethod
    def load(cls, path: str | Path) -> VenuesConfig:
        """The file at `path`; a relative `fix_store_dir` is relative to the file (as the
        engine file's paths are), so a restart finds the same journals from any directory."""
        document = load_toml(path)
        base = Path(path).parent
        for venue in document.get("venues", ()):
            store = venue.get("fix_store_dir") if isinstance(venue, dict) else None
            if isinstance(store, str) and store and not Path(store).is_absolute():
                venue["fix_store_dir"] = str(base / store)
        return cls.from_mapping(document, path)
