"""Operations of a running engine on its own loop: metrics endpoint, alerts, dashboard, control.

`OpsService(live, settings)`; `await start()` after `LiveEngine.start()`, `await stop()`
before `LiveEngine.stop()` finishes. Two periodic tasks read the engine (never on the tick
path): the alert evaluation (`[alerts].evaluate_interval_ms`) and, with the dashboard, the
snapshot pushed to pages (`[dashboard].push_interval_ms`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any, TextIO

from calarb.ops.alerts import AlertDispatcher, AlertManager
from calarb.ops.control import EngineControl
from calarb.ops.dashboard import DashboardHistory, SnapshotFeed, StaticAssets, build_app
from calarb.ops.engine_view import (
    latency_quantiles,
    read_engine,
    read_feeds,
    read_fills,
    read_open_orders,
    read_pairs,
    read_sessions,
)
from calarb.ops.metrics import EngineCollector, LoopLagMonitor, MetricsEndpoint
from calarb.ops.settings import OperationsSettings
from calarb.ops.web import LoopWebServer, start_server

log = logging.getLogger("calarb.ops")


class OpsService:
    def __init__(self, live: Any, settings: OperationsSettings) -> None:
        self.live = live
        self.settings = settings
        self.control = EngineControl(live, settings.dashboard.token)
        self.alerts = AlertManager(settings.alerts)
        self.dispatcher = AlertDispatcher(settings.alerts)
        self.lag = LoopLagMonitor(settings.metrics.loop_lag_interval_ms / 1000)
        self.pair_names = list(live.engine.strategy.pairs)
        self.history = DashboardHistory(self.pair_names, settings.dashboard.history_points)
        self.feed = SnapshotFeed()
        self.metrics: MetricsEndpoint | None = None
        self.dashboard: LoopWebServer | None = None
        self.metrics_port = 0
        self._tasks: list[asyncio.Task[None]] = []
        self._fills_seen = 0
        self._start_ns = 0

    @property
    def dashboard_url(self) -> str | None:
        return self.dashboard.url + "/" if self.dashboard is not None else None

    async def start(self) -> None:
        settings = self.settings
        self._start_ns = self.live.started_ns or self.live.clock.monotonic_ns()
        loop = asyncio.get_running_loop()
        self.lag.start()
        if settings.metrics.port:
            collector = EngineCollector(
                self.live, lag=self.lag, alerts=self.alerts, halted_pairs=self.control.halted
            )
            self.metrics = MetricsEndpoint(collector)
            self.metrics_port = await self.metrics.start(
                settings.metrics.host, settings.metrics.port
            )
        self.dispatcher.start()
        self._tasks.append(loop.create_task(self._evaluate_alerts()))
        if settings.dashboard.enabled:
            await self.refresh()
            assets = await asyncio.to_thread(StaticAssets)
            self.dashboard = await start_server(
                build_app(self, assets),
                settings.dashboard.host,
                settings.dashboard.port,
                "dashboard",
            )
            self._tasks.append(loop.create_task(self._push()))

    def announce(self, stream: TextIO) -> None:
        """Print where the metrics and the dashboard are, and the control token."""
        if self.metrics is not None:
            host = self.settings.metrics.host
            print(f"metrics: http://{host}:{self.metrics_port}/metrics", file=stream)
        if self.dashboard_url is not None:
            print(f"dashboard: {self.dashboard_url}", file=stream)
            print(f"dashboard control token: {self.control.token}", file=stream)
        stream.flush()

    # -- reading -------------------------------------------------------------------------

    def observations(self, now_ns: int) -> dict[str, Any]:
        live = self.live
        observations = read_engine(live, now_ns)
        observations["pairs"] = read_pairs(live, self.control.halted())
        observations["feeds"] = read_feeds(live)
        observations["sessions"] = read_sessions(live)
        observations["latency"] = latency_quantiles(live.recorder)
        return observations

    def _seconds(self, ns: int) -> float:
        return (ns - self._start_ns) / 1e9

    async def refresh(self) -> None:
        """Read the engine now, add a history point and push the snapshot to the pages."""
        now = self.live.clock.monotonic_ns()
        snapshot = self.observations(now)
        fills = self.live.engine.fills
        if len(fills) < self._fills_seen:
            self._fills_seen = 0
        new_fills = (
            read_fills(self.live, len(fills) - self._fills_seen)
            if len(fills) > self._fills_seen
            else []
        )
        self._fills_seen = len(fills)
        for fill in new_fills:
            fill["time_s"] = self._seconds(fill["time_ns"])
        points = self.history.add(self._seconds(now), snapshot, new_fills)
        recent = read_fills(self.live, self.settings.dashboard.recent_fills)
        for fill in recent:
            fill["time_s"] = self._seconds(fill["time_ns"])
        snapshot.update(
            time_s=self._seconds(now),
            points=points,
            open_orders=read_open_orders(self.live),
            fills=recent,
            alerts={
                "active": [a.as_dict() | {"fired_s": self._seconds(a.fired_ns)}
                           for a in self.alerts.active.values()],
                "recent": [e.as_dict() for e in list(self.alerts.history)[-20:]],
                "webhook": {"sent": self.dispatcher.sent, "failures": self.dispatcher.failures},
            },
            halted_pairs=sorted(self.control.halted_pairs),
            event_loop_lag_s=self.lag.last_s,
        )  # fmt: skip
        await self.feed.publish(snapshot)

    async def _push(self) -> None:
        interval = self.settings.dashboard.push_interval_ms / 1000
        while True:
            await asyncio.sleep(interval)
            try:
                await self.refresh()
            except Exception:  # a bad read must not end the dashboard
                log.exception("dashboard snapshot failed")

    async def _evaluate_alerts(self) -> None:
        interval = self.settings.alerts.evaluate_interval_ms / 1000
        while True:
            await asyncio.sleep(interval)
            try:
                now = self.live.clock.monotonic_ns()
                self.dispatcher.dispatch(self.alerts.evaluate(self.observations(now), now))
            except Exception:
                log.exception("alert evaluation failed")

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks.clear()
        self.lag.stop()
        await self.dispatcher.stop()
        if self.dashboard is not None:
            await self.dashboard.stop()
            self.dashboard = None
        if self.metrics is not None:
            await self.metrics.stop()
            self.metrics = None
