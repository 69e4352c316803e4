"""The metrics endpoint of a `calarb venue` process, beside its venues on the same loop."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Any

from calarb.ops.metrics import LoopLagMonitor, MetricsEndpoint, VenueCollector
from calarb.ops.settings import MetricsSettings


@contextlib.asynccontextmanager
async def venue_metrics(server: Any, settings: MetricsSettings) -> AsyncIterator[dict[str, str]]:
    """Serve `VenueCollector(server)` on settings.host:port while the venues run; gives
    {"metrics": url} (the line `calarb venue` prints)."""
    lag = LoopLagMonitor(settings.loop_lag_interval_ms / 1000)
    endpoint = MetricsEndpoint(VenueCollector(server, lag))
    port = await endpoint.start(settings.host, settings.port)
    lag.start()
    try:
        yield {"metrics": f"http://{settings.host}:{port}/metrics"}
    finally:
        lag.stop()
        await endpoint.stop()
