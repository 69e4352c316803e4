"""Operations settings: the `[metrics]`, `[dashboard]` and `[alerts]` tables of a TOML file.

Checked by the one validation layer (calarb.core.config_schema: unknown keys, types, ranges)
before anything starts; an error names the file, the table and the key. Everything binds to 127.0.0.1 unless a host is given.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any

from msgspec import Meta

from calarb.core.config_schema import ConfigError, Schema, validate

Port = Annotated[int, Meta(ge=0, le=65535)]
NonNegative = Annotated[float, Meta(ge=0)]
Fraction = Annotated[float, Meta(ge=0, le=1)]

TABLES = ("metrics", "dashboard", "alerts")
"""The top-level tables this module owns in an engine's (and, for metrics, a venue's) TOML."""


class MetricsSettings(Schema):
    """`[metrics]`: Prometheus text on http://host:port/metrics (port 0: off)."""

    host: str = "127.0.0.1"
    port: Port = 0
    loop_lag_interval_ms: Annotated[float, Meta(gt=0)] = 100.0


class DashboardSettings(Schema):
    """`[dashboard]`: the live page (`calarb run --dashboard` turns it on; the demo always)."""

    enabled: bool = False
    host: str = "127.0.0.1"
    port: Port = 0  # 0: a free port, printed at start
    token: str = ""  # "": a fresh random token, printed at start
    push_interval_ms: Annotated[float, Meta(ge=50, le=1000)] = 500.0
    history_points: Annotated[int, Meta(ge=10, le=100_000)] = 1200
    recent_fills: Annotated[int, Meta(ge=1, le=10_000)] = 20


class AlertSettings(Schema):
    """`[alerts]`: thresholds of the alert rules (0 turns a rule off) and the webhook."""

    evaluate_interval_ms: Annotated[float, Meta(gt=0)] = 250.0
    tick_to_trade_p99_us: NonNegative = 0.0
    feed_gap_ms: NonNegative = 500.0  # a gap not recovered after this long
    fix_down_ms: NonNegative = 2000.0  # a FIX session not logged on for this long
    risk_utilisation: Fraction = 0.9  # any limit used to this fraction
    daily_loss_fraction: Fraction = 0.8  # loss at this fraction of max_daily_loss
    reject_rate: Fraction = 0.5  # rejected intents / intents over the window
    reject_window_s: Annotated[float, Meta(gt=0)] = 10.0
    reject_min_intents: Annotated[int, Meta(ge=1)] = 20
    stale_model_ms: NonNegative = 5000.0  # a ready model without an update for this long
    webhook_url: str = ""  # http://host:port/path: a JSON POST per firing and resolution
    webhook_timeout_s: Annotated[float, Meta(gt=0)] = 2.0

    def __post_init__(self) -> None:
        if self.webhook_url and not self.webhook_url.startswith("http://"):
            raise ValueError(f"webhook_url {self.webhook_url!r} must start with http://")


class OperationsSettings(Schema):
    metrics: MetricsSettings = MetricsSettings()
    dashboard: DashboardSettings = DashboardSettings()
    alerts: AlertSettings = AlertSettings()


class OperationsSettingsError(ConfigError):
    """A `[metrics]`, `[dashboard]` or `[alerts]` table that does not check."""


def _convert(name: str, table: Any, kind: type, source: str) -> Any:
    if not isinstance(table, Mapping):
        raise OperationsSettingsError(
            f"{source}: {name}: expected a table, got {type(table).__name__}"
        )
    return validate(dict(table), kind, source, where=name, error=OperationsSettingsError)


def parse_operations(document: Mapping[str, Any], source: str = "<config>") -> OperationsSettings:
    """The operations settings of a whole TOML document (missing tables: defaults)."""
    return OperationsSettings(
        metrics=_convert("metrics", document.get("metrics", {}), MetricsSettings, source),
        dashboard=_convert("dashboard", document.get("dashboard", {}), DashboardSettings, source),
        alerts=_convert("alerts", document.get("alerts", {}), AlertSettings, source),
    )


def parse_metrics(document: Mapping[str, Any], source: str = "<config>") -> MetricsSettings:
    """Only `[metrics]` (a venues file has no dashboard or alerts)."""
    return _convert("metrics", document.get("metrics", {}), MetricsSettings, source)
