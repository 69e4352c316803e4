"""Alert rules over an engine's observations: each alert fires once, stays active, resolves.

`AlertManager.evaluate(observations, now_ns)` is sans-I/O: observations (plain data from
`calarb.ops.engine_view`) and the time come in as arguments, `AlertEvent`s come out; it
never reads a clock. A condition that must last (a feed gap older than N ms, a FIX session
down for N ms) is timed from the first evaluation that saw it. The rules and their
thresholds are `[alerts]` of the engine TOML (`AlertSettings`; 0 turns a rule off):

- tick_to_trade_p99: tick-to-trade p99 (since start) above `tick_to_trade_p99_us`
- feed_gap: a venue's feed has a gap not recovered after `feed_gap_ms`
- fix_session_down: a venue's FIX session not logged on for `fix_down_ms`
- risk_limit: a risk limit used to `risk_utilisation` or more (one alert per limit)
- daily_loss: the loss at `daily_loss_fraction` of max_daily_loss or more
- reject_rate: rejected / intents over the last `reject_window_s` at `reject_rate` or more
  (with at least `reject_min_intents` intents in the window)
- stale_model: a ready pair model not updated for `stale_model_ms`

Delivery (`AlertDispatcher`): the log, the dashboard (the manager's active alerts and
history), and a webhook when configured: a JSON POST over plain HTTP on the running loop,
bounded queue, failures counted and logged, never raised into the engine.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections import Counter, deque
from dataclasses import asdict, dataclass
from typing import Any
from urllib.parse import urlsplit

from calarb.ops.settings import AlertSettings

log = logging.getLogger("calarb.ops.alerts")
MS = 1_000_000
HISTORY = 200
WEBHOOK_QUEUE = 100
WEBHOOK_MAX_RESPONSE = 64 * 1024


@dataclass
class Alert:
    rule: str
    key: str  # rule plus its subject (venue, limit, pair): one alert per key
    message: str
    value: float
    threshold: float
    fired_ns: int
    resolved_ns: int | None = None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class AlertEvent:
    kind: str  # "firing" or "resolved"
    alert: Alert

    def as_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, **self.alert.as_dict()}


Condition = tuple[str, float, float]  # message, value, threshold


class AlertManager:
    def __init__(self, settings: AlertSettings) -> None:
        self.settings = settings
        self.active: dict[str, Alert] = {}
        self.history: deque[AlertEvent] = deque(maxlen=HISTORY)
        self._since: dict[str, int] = {}  # lasting conditions: first seen (ns)
        self._intents: deque[tuple[int, int, int]] = deque()  # (ns, intents, rejected)

    # -- rules: each gives {key: (message, value, threshold)} of the conditions true now --

    def _lasting(self, key: str, true: bool, now_ns: int, threshold_ns: float) -> float | None:
        """How long (ms) `key` has been true, once that reaches `threshold_ns`; else None."""
        if not true:
            self._since.pop(key, None)
            return None
        since = self._since.setdefault(key, now_ns)
        age = now_ns - since
        return age / MS if age >= threshold_ns else None

    def _tick_to_trade(self, obs: dict[str, Any]) -> dict[str, Condition]:
        limit = self.settings.tick_to_trade_p99_us
        ttt = obs.get("latency", {}).get("tick_to_trade")
        if not limit or not ttt or not ttt.get("count") or ttt["p99"] <= limit:
            return {}
        return {
            "tick_to_trade_p99": (
                f"tick to trade p99 {ttt['p99']:.1f} us above {limit:g} us",
                ttt["p99"],
                limit,
            )
        }

    def _feed_gaps(self, obs: dict[str, Any], now_ns: int) -> dict[str, Condition]:
        limit_ms = self.settings.feed_gap_ms
        found = {}
        for venue, feed in obs.get("feeds", {}).items():
            key = f"feed_gap:{venue}"
            age = self._lasting(
                key, bool(limit_ms) and feed["missing_ranges"] > 0, now_ns, limit_ms * MS
            )
            if age is not None:
                found[key] = (f"{venue} feed: gap unrecovered for {age:.0f} ms", age, limit_ms)
        return found

    def _fix_down(self, obs: dict[str, Any], now_ns: int) -> dict[str, Condition]:
        limit_ms = self.settings.fix_down_ms
        found = {}
        for venue, session in obs.get("sessions", {}).items():
            key = f"fix_session_down:{venue}"
            down = bool(limit_ms) and not session["logged_on"]
            age = self._lasting(key, down, now_ns, limit_ms * MS)
            if age is not None:
                found[key] = (
                    f"{venue} FIX session {session['state']} for {age:.0f} ms",
                    age,
                    limit_ms,
                )
        return found

    def _risk_limits(self, obs: dict[str, Any]) -> dict[str, Condition]:
        threshold = self.settings.risk_utilisation
        if not threshold:
            return {}
        return {
            f"risk_limit:{row['limit']}": (
                f"risk limit {row['limit']} at {row['utilisation']:.0%} "
                f"({row['used']:g} of {row['max']:g})",
                row["utilisation"],
                threshold,
            )
            for row in obs.get("limits", [])
            if row["limit"] != "daily_loss" and row["utilisation"] >= threshold
        }

    def _daily_loss(self, obs: dict[str, Any]) -> dict[str, Condition]:
        fraction = self.settings.daily_loss_fraction
        for row in obs.get("limits", []):
            if (
                row["limit"] == "daily_loss"
                and fraction
                and row["max"] > 0
                and row["used"] > 0
                and row["utilisation"] >= fraction
            ):
                return {
                    "daily_loss": (
                        f"daily loss {row['used']:.2f} at {row['utilisation']:.0%} of the "
                        f"limit {row['max']:.2f}",
                        row["utilisation"],
                        fraction,
                    )
                }
        return {}

    def _reject_rate(self, obs: dict[str, Any], now_ns: int) -> dict[str, Condition]:
        settings = self.settings
        counters = obs.get("counters")
        if not settings.reject_rate or counters is None:
            return {}
        rejected = sum(obs.get("rejects", {}).values())
        window = self._intents
        window.append((now_ns, counters["intents"], rejected))
        horizon = now_ns - int(settings.reject_window_s * 1e9)
        while len(window) > 1 and window[1][0] <= horizon:
            window.popleft()
        _, intents_then, rejected_then = window[0]
        intents = counters["intents"] - intents_then
        refused = rejected - rejected_then
        if intents < settings.reject_min_intents:
            return {}
        rate = refused / intents
        if rate < settings.reject_rate:
            return {}
        return {
            "reject_rate": (
                f"{refused} of {intents} intents refused ({rate:.0%}) in "
                f"{settings.reject_window_s:g} s",
                rate,
                settings.reject_rate,
            )
        }

    def _stale_models(self, obs: dict[str, Any], now_ns: int) -> dict[str, Condition]:
        limit_ms = self.settings.stale_model_ms
        if not limit_ms:
            return {}
        found = {}
        for name, pair in obs.get("pairs", {}).items():
            if not pair["ready"] or pair["last_update_ns"] < 0:
                continue
            age_ms = (now_ns - pair["last_update_ns"]) / MS
            if age_ms >= limit_ms:
                found[f"stale_model:{name}"] = (
                    f"pair {name}: model not updated for {age_ms:.0f} ms",
                    age_ms,
                    limit_ms,
                )
        return found

    # -- evaluation ----------------------------------------------------------------------

    def evaluate(self, observations: dict[str, Any], now_ns: int) -> list[AlertEvent]:
        """Fire what became true, resolve what stopped being true (each once)."""
        conditions: dict[str, Condition] = {}
        conditions |= self._tick_to_trade(observations)
        conditions |= self._feed_gaps(observations, now_ns)
        conditions |= self._fix_down(observations, now_ns)
        conditions |= self._risk_limits(observations)
        conditions |= self._daily_loss(observations)
        conditions |= self._reject_rate(observations, now_ns)
        conditions |= self._stale_models(observations, now_ns)
        events = []
        for key, (message, value, threshold) in conditions.items():
            alert = self.active.get(key)
            if alert is None:
                alert = Alert(key.split(":", 1)[0], key, message, value, threshold, now_ns)
                self.active[key] = alert
                events.append(AlertEvent("firing", alert))
            else:  # still firing: keep the figures current, no new event
                alert.message, alert.value = message, value
        for key in [key for key in self.active if key not in conditions]:
            alert = self.active.pop(key)
            alert.resolved_ns = now_ns
            events.append(AlertEvent("resolved", alert))
        self.history.extend(events)
        return events

    def firing_by_rule(self) -> Counter[str]:
        return Counter(alert.rule for alert in self.active.values())


class WebhookError(OSError):
    """A webhook POST that failed (names the URL and why)."""


async def post_json(url: str, payload: dict[str, Any], timeout_s: float) -> int:
    """POST `payload` as JSON to an http:// URL; the response's status code."""
    parts = urlsplit(url)
    if parts.scheme != "http" or not parts.hostname:
        raise WebhookError(f"webhook {url!r}: only http://host[:port]/path is supported")
    port = parts.port or 80
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    body = json.dumps(payload).encode()
    request = (
        f"POST {path} HTTP/1.1\r\nHost: {parts.hostname}:{port}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n"
        "Connection: close\r\nUser-Agent: calarb-alerts\r\n\r\n"
    ).encode() + body

    async def exchange() -> int:
        reader, writer = await asyncio.open_connection(parts.hostname, port)
        try:
            writer.write(request)
            await writer.drain()
            status_line = await reader.readline()
            fields = status_line.split()
            if len(fields) < 2 or not fields[0].startswith(b"HTTP/") or not fields[1].isdigit():
                raise WebhookError(f"webhook {url}: bad status line {status_line[:80]!r}")
            await reader.read(WEBHOOK_MAX_RESPONSE)  # drain a bounded answer
            return int(fields[1])
        finally:
            writer.close()

    try:
        return await asyncio.wait_for(exchange(), timeout_s)
    except TimeoutError:
        raise WebhookError(f"webhook {url}: no answer in {timeout_s:g} s") from None
    except OSError as exc:
        if isinstance(exc, WebhookError):
            raise
        raise WebhookError(f"webhook {url}: {exc}") from None


class AlertDispatcher:
    """Sends alert events to the log and, when configured, the webhook (in order, from its
    own task; a full queue drops the oldest and counts it)."""

    def __init__(self, settings: AlertSettings, source: str = "calarb") -> None:
        self.settings = settings
        self.source = source
        self.sent = 0
        self.failures = 0
        self.dropped = 0
        self.last_error = ""
        self._queue: deque[AlertEvent] = deque()
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        if self.settings.webhook_url:
            self._task = asyncio.get_running_loop().create_task(self._run())

    def dispatch(self, events: list[AlertEvent]) -> None:
        for event in events:
            alert = event.alert
            if event.kind == "firing":
                log.warning("alert firing: %s: %s", alert.key, alert.message)
            else:
                log.warning("alert resolved: %s", alert.key)
            if self._task is not None:
                if len(self._queue) >= WEBHOOK_QUEUE:
                    self._queue.popleft()
                    self.dropped += 1
                self._queue.append(event)
        if self._queue:
            self._wake.set()

    async def _run(self) -> None:
        settings = self.settings
        while True:
            await self._wake.wait()
            self._wake.clear()
            while self._queue:
                event = self._queue.popleft()
                payload = {"source": self.source, **event.as_dict()}
                try:
                    status = await post_json(
                        settings.webhook_url, payload, settings.webhook_timeout_s
                    )
                    if 200 <= status < 300:
                        self.sent += 1
                        continue
                    self.last_error = f"webhook {settings.webhook_url}: HTTP {status}"
                except WebhookError as exc:
                    self.last_error = str(exc)
                self.failures += 1
                log.warning("alert webhook failed: %s", self.last_error)

    async def stop(self, flush_timeout_s: float = 2.0) -> None:
        if self._task is None:
            return
        loop = asyncio.get_running_loop()
        deadline = loop.time() + flush_timeout_s
        while self._queue and loop.time() < deadline:
            await asyncio.sleep(0.01)
        self._task.cancel()
        self._task = None
