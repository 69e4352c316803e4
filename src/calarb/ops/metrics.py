"""Prometheus metrics of an engine and of a venue process, read when scraped.

Custom collectors (`prometheus_client` `Collector`s) turn the counters the engine and the
venues already keep into metric families at scrape time: nothing on the tick-to-trade path
increments, allocates or locks for metrics. The scrape runs on the process's own asyncio loop
(uvicorn in `calarb.ops.web`), so it never races the engine's thread. Names follow the
Prometheus conventions: `calarb_` prefix, `_total` counters, base units (`_seconds`,
`_shares`; money in currency units). docs/operations.md lists every metric.

Latency: the recorder's HdrHistograms (ns) become Prometheus histograms in seconds, with
fixed bucket bounds, plus the p50/p99/p99.9 of tick to trade and its stages as gauges.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

from prometheus_client import CollectorRegistry, make_asgi_app
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector

from calarb.ops.engine_view import (
    OrderTally,
    latency_quantiles,
    read_engine,
    read_feeds,
    read_pairs,
    read_sessions,
)
from calarb.ops.histograms import buckets
from calarb.ops.web import LoopWebServer, start_server

LATENCY_BUCKETS_S = (
    1e-6, 2.5e-6, 5e-6, 1e-5, 2.5e-5, 5e-5, 1e-4, 2.5e-4, 5e-4, 1e-3, 1e-2, 0.1, 1.0,
)  # fmt: skip
TRADING_STATES = ("WARMING_UP", "ACTIVE", "REDUCING", "HALTED")
FIX_STATES = (
    "UNCONNECTED", "DISCONNECTED", "AWAITING_LOGON", "LOGON_SENT", "LOGGED_ON",
    "LOGOUT_SENT", "CLOSED",
)  # fmt: skip
QUANTILES = (("0.5", "p50"), ("0.99", "p99"), ("0.999", "p999"))


def histogram_buckets(histogram: Any) -> tuple[list[tuple[str, float]], float]:
    """An HdrHistogram (ns) as cumulative Prometheus buckets (seconds) and the sum (s)."""
    return buckets(histogram, LATENCY_BUCKETS_S, 1e9)


def _counter(name: str, doc: str, labels: list[str], rows) -> CounterMetricFamily:
    family = CounterMetricFamily(name, doc, labels=labels)
    for label_values, value in rows:
        family.add_metric(list(label_values), value)
    return family


def _gauge(name: str, doc: str, labels: list[str], rows) -> GaugeMetricFamily:
    family = GaugeMetricFamily(name, doc, labels=labels)
    for label_values, value in rows:
        family.add_metric(list(label_values), value)
    return family


class LoopLagMonitor:
    """Event-loop lag: how late a sleep of `interval_s` wakes up (its own task; the figure is
    what a timer or a packet waiting behind a busy loop would suffer)."""

    def __init__(self, interval_s: float = 0.1) -> None:
        self.interval_s = interval_s
        self.last_s = 0.0
        self.max_s = 0.0
        self.samples = 0
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run())

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            planned = loop.time() + self.interval_s
            await asyncio.sleep(self.interval_s)
            self.last_s = max(0.0, loop.time() - planned)
            self.max_s = max(self.max_s, self.last_s)
            self.samples += 1

    def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            self._task = None

    def families(self) -> Iterator[Metric]:
        yield _gauge(
            "calarb_event_loop_lag_seconds",
            "How late the last periodic wake-up of the event loop was",
            [],
            [((), self.last_s)],
        )
        yield _gauge(
            "calarb_event_loop_lag_max_seconds",
            "The largest event-loop lag seen since start",
            [],
            [((), self.max_s)],
        )


class EngineCollector(Collector):
    """The engine's metrics (`live`: a `LiveEngine`; `alerts`: an `AlertManager` or None;
    `halted_pairs`: a callable giving the pairs halted from the dashboard)."""

    def __init__(
        self,
        live: Any,
        *,
        lag: LoopLagMonitor | None = None,
        alerts: Any = None,
        halted_pairs: Any = None,
    ) -> None:
        self.live = live
        self.lag = lag
        self.alerts = alerts
        self.halted_pairs = halted_pairs or frozenset
        self.tally = OrderTally(live)
        self.collections = 0  # scrapes answered

    def describe(self) -> list[Metric]:
        return []  # registering must not scrape

    def collect(self) -> Iterator[Metric]:
        self.collections += 1
        live = self.live
        now = live.clock.monotonic_ns()
        view = read_engine(live, now)
        counters = view["counters"]
        yield _counter(
            "calarb_orders",
            "Orders sent to venues (child orders, this run)",
            ["venue", "side"],
            self.tally.orders().items(),
        )
        fills, shares = self.tally.fills()
        yield _counter("calarb_fills", "Fills received", ["venue", "side"], fills.items())
        yield _counter("calarb_filled_shares", "Shares filled", ["venue", "side"], shares.items())
        yield _counter(
            "calarb_rejects",
            "Intents or orders refused, by reason (risk gate reasons, NO_VENUE, VENUE_REJECTED)",
            ["reason"],
            (((reason,), count) for reason, count in view["rejects"].items()),
        )
        for key, name, doc in (
            ("intents", "calarb_intents", "Order intents the strategy produced"),
            ("cancels_sent", "calarb_cancels_sent", "Cancel requests sent"),
            ("cancels_confirmed", "calarb_cancels_confirmed", "Cancels the venues confirmed"),
            ("cancel_rejects", "calarb_cancel_rejects", "Cancel requests the venues refused"),
            ("legging_events", "calarb_legging_events", "Pair trades left legged"),
            ("deleveraging_orders", "calarb_deleveraging_orders", "Orders sent to deleverage"),
            ("market_data_messages", "calarb_market_data_messages", "ITCH messages processed"),
        ):
            yield _counter(name, doc, [], [((), counters[key])])
        pnl = view["pnl"]
        yield _gauge(
            "calarb_pnl",
            "P&L in currency units by component (realized, unrealized, fees, net)",
            ["component"],
            (((component,), value) for component, value in pnl.items()),
        )
        yield _gauge(
            "calarb_position_shares",
            "Position by symbol (shares, signed)",
            ["symbol"],
            (((symbol,), quantity) for symbol, quantity in view["positions"].items()),
        )
        yield _gauge(
            "calarb_exposure",
            "Position value at the risk gate's mark by symbol (currency units, signed)",
            ["symbol"],
            (((symbol,), value) for symbol, value in view["exposure"].items()),
        )
        limits = view["limits"]
        yield _gauge(
            "calarb_risk_limit_utilisation_ratio",
            "Share of each risk limit in use (1 = at the limit)",
            ["limit"],
            (((row["limit"],), row["utilisation"]) for row in limits),
        )
        yield _gauge(
            "calarb_risk_limit",
            "Each risk limit's value (currency units, shares, orders)",
            ["limit"],
            (((row["limit"],), row["max"]) for row in limits),
        )
        state = view["trading_state"]
        yield _gauge(
            "calarb_trading_state",
            "The risk gate's trading state (1 for the current one)",
            ["state"],
            (((name,), 1.0 if name == state else 0.0) for name in TRADING_STATES),
        )
        yield _gauge(
            "calarb_open_orders", "Orders open at the venues", [], [((), view["open_order_count"])]
        )
        yield from self._pairs()
        yield from self._latency()
        yield from self._feeds()
        yield from self._sessions()
        if self.lag is not None:
            yield from self.lag.families()
        if self.alerts is not None:
            yield _gauge(
                "calarb_alerts_firing",
                "Alerts currently firing, by rule",
                ["rule"],
                (((rule,), count) for rule, count in self.alerts.firing_by_rule().items()),
            )

    def _pairs(self) -> Iterator[Metric]:
        pairs = read_pairs(self.live, self.halted_pairs())
        yield _gauge(
            "calarb_pair_zscore",
            "Spread z-score by pair (absent until the model is ready)",
            ["pair"],
            (((n,), p["z"]) for n, p in pairs.items() if p["z"] is not None),
        )
        yield _gauge(
            "calarb_pair_hedge_ratio",
            "Estimated hedge ratio by pair",
            ["pair"],
            (((n,), p["hedge_ratio"]) for n, p in pairs.items() if p["hedge_ratio"] is not None),
        )
        yield _counter(
            "calarb_pair_model_observations",
            "Observations the pair model has taken",
            ["pair"],
            (((n,), p["observations"]) for n, p in pairs.items()),
        )
        yield _gauge(
            "calarb_pair_halted",
            "1 when the pair is halted from the dashboard",
            ["pair"],
            (((n,), 1.0 if p["halted"] else 0.0) for n, p in pairs.items()),
        )

    def _latency(self) -> Iterator[Metric]:
        recorder = self.live.recorder
        if recorder is None:
            return
        ttt = HistogramMetricFamily(
            "calarb_tick_to_trade_seconds",
            "Packet received to order written, ticks that sent an order",
        )
        buckets, total = histogram_buckets(recorder.histogram(None))
        ttt.add_metric([], buckets, total)
        yield ttt
        stages = Metric(
            "calarb_tick_to_trade_stage_seconds",
            "Tick to trade and each of its stages, ticks that sent an order (p50, p99, p99.9)",
            "summary",
        )
        for stage, summary in latency_quantiles(recorder).items():
            if not summary["count"]:
                continue
            name = "calarb_tick_to_trade_stage_seconds"
            for quantile, key in QUANTILES:
                stages.add_sample(name, {"stage": stage, "quantile": quantile}, summary[key] / 1e6)
            stages.add_sample(name + "_count", {"stage": stage}, summary["count"])
            stages.add_sample(name + "_sum", {"stage": stage}, summary["sum_us"] / 1e6)
        yield stages

    def _feeds(self) -> Iterator[Metric]:
        feeds = read_feeds(self.live)
        for key, name, doc in (
            ("packets_received", "calarb_feed_packets", "MoldUDP64 packets received"),
            ("messages_delivered", "calarb_feed_messages", "Messages delivered in sequence"),
            ("gaps_detected", "calarb_feed_gaps", "Sequence gaps detected"),
            ("gaps_recovered", "calarb_feed_gaps_recovered", "Gaps filled by retransmission"),
            ("requests_sent", "calarb_feed_retransmission_requests", "Re-requests sent"),
            ("messages_requested", "calarb_feed_messages_requested", "Messages re-requested"),
            ("duplicates_dropped", "calarb_feed_duplicates", "Duplicate messages dropped"),
            ("packets_bad", "calarb_feed_packets_bad", "Malformed packets dropped"),
            ("packets_wrong_session", "calarb_feed_packets_wrong_session", "Other sessions'"),
            ("heartbeats_received", "calarb_feed_heartbeats", "MoldUDP64 heartbeats received"),
            ("callback_errors", "calarb_feed_callback_errors", "Messages the engine failed on"),
        ):
            yield _counter(name, doc, ["venue"], (((v,), f[key]) for v, f in feeds.items()))
        yield _gauge(
            "calarb_feed_messages_lost",
            "Messages known to be missing now (sequence gaps not yet recovered)",
            ["venue"],
            (
                ((v,), max(0, f["highest_known_sequence"] - f["next_sequence"]))
                for v, f in feeds.items()
            ),
        )
        yield _gauge(
            "calarb_feed_caught_up",
            "1 when the feed has data and nothing known is missing",
            ["venue"],
            (((v,), 1.0 if f["caught_up"] else 0.0) for v, f in feeds.items()),
        )
        yield _gauge(
            "calarb_feed_next_sequence",
            "Next MoldUDP64 sequence number expected",
            ["venue"],
            (((v,), f["next_sequence"]) for v, f in feeds.items()),
        )

    def _sessions(self) -> Iterator[Metric]:
        sessions = read_sessions(self.live)
        yield _gauge(
            "calarb_fix_session_state",
            "FIX session state by venue (1 for the current one)",
            ["venue", "state"],
            (
                ((v, state), 1.0 if s["state"] == state else 0.0)
                for v, s in sessions.items()
                for state in FIX_STATES
            ),
        )
        yield _gauge(
            "calarb_fix_session_up",
            "1 when the FIX session is logged on",
            ["venue"],
            (((v,), 1.0 if s["logged_on"] else 0.0) for v, s in sessions.items()),
        )
        for key, name, doc in (
            ("next_sender_seq", "calarb_fix_next_sender_seq", "Next outgoing MsgSeqNum"),
            ("next_target_seq", "calarb_fix_next_target_seq", "Next expected incoming MsgSeqNum"),
            ("test_requests", "calarb_fix_heartbeats_missed", "TestRequests sent after silence"),
        ):
            yield _gauge(name, doc, ["venue"], (((v,), s[key]) for v, s in sessions.items()))
        yield _counter(
            "calarb_fix_reconnects",
            "FIX reconnections after the first connection",
            ["venue"],
            (((v,), s["reconnects"]) for v, s in sessions.items()),
        )


class VenueCollector(Collector):
    """A `calarb venue` process's metrics (`server`: a `VenueServer`)."""

    def __init__(self, server: Any, lag: LoopLagMonitor | None = None) -> None:
        self.server = server
        self.lag = lag

    def describe(self) -> list[Metric]:
        return []

    def collect(self) -> Iterator[Metric]:
        venues = list(self.server.venues)
        stats = {v.name: v.gateway.stats for v in venues}
        for key, name, doc in (
            ("requests", "calarb_venue_order_requests", "FIX order requests handled"),
            ("rejects", "calarb_venue_rejects", "Order requests rejected"),
            ("cancel_rejects", "calarb_venue_cancel_rejects", "Cancel requests rejected"),
            ("reports_sent", "calarb_venue_execution_reports", "Execution reports sent"),
        ):
            yield _counter(
                name, doc, ["venue"], (((n,), getattr(s, key)) for n, s in stats.items())
            )
        yield _counter(
            "calarb_venue_trades",
            "Executions at the venue (background traders included)",
            ["venue"],
            (((v.name,), v.trade_count) for v in venues),
        )
        market = {v.name: v.market_data for v in venues if v.market_data is not None}
        for key, name, doc in (
            ("messages_published", "calarb_venue_feed_messages", "ITCH messages published"),
            ("heartbeats_sent", "calarb_venue_feed_heartbeats", "MoldUDP64 heartbeats sent"),
            ("events_refused", "calarb_venue_feed_events_refused", "Events ITCH cannot carry"),
        ):
            yield _counter(
                name, doc, ["venue"], (((n,), getattr(m.stats, key)) for n, m in market.items())
            )
        retransmission = {
            n: m.endpoint.server.stats
            for n, m in market.items()
            if getattr(getattr(m, "endpoint", None), "server", None) is not None
        }
        for key, name, doc in (
            ("requests_received", "calarb_venue_retransmission_requests", "Gap requests"),
            ("messages_resent", "calarb_venue_retransmitted_messages", "Messages resent"),
            ("requests_bad", "calarb_venue_retransmission_requests_bad", "Malformed requests"),
            (
                "requests_unavailable",
                "calarb_venue_retransmission_requests_unavailable",
                "Requests (partly) for messages no longer or not yet in the history",
            ),
        ):
            yield _counter(
                name, doc, ["venue"], (((n,), getattr(s, key)) for n, s in retransmission.items())
            )
        sessions = [
            (v.name, session)
            for v in venues
            if v.acceptor is not None
            for session in v.acceptor.sessions.values()
        ]
        yield _gauge(
            "calarb_venue_fix_session_up",
            "1 when the participant's FIX session is logged on",
            ["venue", "participant"],
            (((n, s.settings.target_comp_id), 1.0 if s.logged_on else 0.0) for n, s in sessions),
        )
        yield _gauge(
            "calarb_venue_fix_next_target_seq",
            "Next expected incoming MsgSeqNum by participant",
            ["venue", "participant"],
            (((n, s.settings.target_comp_id), s.next_target_seq) for n, s in sessions),
        )
        if self.lag is not None:
            yield from self.lag.families()


class MetricsEndpoint:
    """/metrics of one collector on host:port, served on the running loop."""

    def __init__(self, collector: Collector) -> None:
        self.registry = CollectorRegistry(auto_describe=False)
        self.registry.register(collector)
        self.server: LoopWebServer | None = None

    async def start(self, host: str, port: int) -> int:
        self.server = await start_server(make_asgi_app(self.registry), host, port, "metrics")
        return self.server.port

    async def stop(self) -> None:
        if self.server is not None:
            await self.server.stop()
            self.server = None
