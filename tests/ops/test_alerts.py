"""Alert rules (time passed in, each alert fires once and resolves) and the webhook, posted to
a real HTTP receiver on 127.0.0.1 (and to ones that misbehave)."""

from __future__ import annotations

import asyncio
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from calarb.ops.alerts import AlertDispatcher, AlertManager, WebhookError, post_json
from calarb.ops.settings import AlertSettings

MS = 1_000_000


def observations(**changes):
    base = {
        "counters": {"intents": 0},
        "rejects": {},
        "latency": {"tick_to_trade": {"p50": 20.0, "p99": 50.0, "p999": 80.0, "count": 10}},
        "feeds": {"ALPHA": {"missing_ranges": 0}},
        "sessions": {"ALPHA": {"logged_on": True, "state": "LOGGED_ON"}},
        "limits": [
            {"limit": "gross_exposure", "used": 10.0, "max": 100.0, "utilisation": 0.1},
            {"limit": "daily_loss", "used": 0.0, "max": 1000.0, "utilisation": 0.0},
        ],
        "pairs": {"B/A": {"ready": True, "last_update_ns": 0}},
    }
    base.update(changes)
    return base


def test_each_rule_fires_once_and_resolves():
    manager = AlertManager(
        AlertSettings(tick_to_trade_p99_us=100, feed_gap_ms=500, fix_down_ms=1000,
                      risk_utilisation=0.8, daily_loss_fraction=0.5, stale_model_ms=2500)
    )  # fmt: skip
    assert manager.evaluate(observations(), 1 * MS) == []
    gap = observations(feeds={"ALPHA": {"missing_ranges": 1}})
    assert manager.evaluate(gap, 100 * MS) == []  # first seen at 100 ms
    assert manager.evaluate(gap, 599 * MS) == []  # 499 ms old
    [event] = manager.evaluate(gap, 600 * MS)
    assert (event.kind, event.alert.key) == ("firing", "feed_gap:ALPHA")
    assert event.alert.fired_ns == 600 * MS
    assert manager.evaluate(gap, 700 * MS) == []  # fires once
    [event] = manager.evaluate(observations(), 800 * MS)
    assert (event.kind, event.alert.key, event.alert.resolved_ns) == (
        "resolved", "feed_gap:ALPHA", 800 * MS,
    )  # fmt: skip
    assert manager.active == {}

    bad = observations(
        latency={"tick_to_trade": {"p50": 20.0, "p99": 250.0, "p999": 300.0, "count": 9}},
        sessions={"ALPHA": {"logged_on": False, "state": "DISCONNECTED"}},
        limits=[
            {"limit": "gross_exposure", "used": 90.0, "max": 100.0, "utilisation": 0.9},
            {"limit": "daily_loss", "used": 600.0, "max": 1000.0, "utilisation": 0.6},
        ],
    )
    fired = {e.alert.key for e in manager.evaluate(bad, 1_000 * MS)}
    assert fired == {"tick_to_trade_p99", "risk_limit:gross_exposure", "daily_loss"}
    fired = {e.alert.key for e in manager.evaluate(bad, 2_000 * MS)}
    assert fired == {"fix_session_down:ALPHA"}  # down since 1,000 ms: 1,000 ms later
    assert manager.evaluate(bad, 2_499 * MS) == []
    fired = {e.alert.key for e in manager.evaluate(bad, 2_500 * MS)}
    assert fired == {"stale_model:B/A"}  # last update at 0, 2,500 ms ago
    assert manager.firing_by_rule()["stale_model"] == 1
    resolved = manager.evaluate(observations(pairs={}), 3_000 * MS)
    assert {e.kind for e in resolved} == {"resolved"} and len(resolved) == 5


def test_reject_rate_over_a_window():
    manager = AlertManager(
        AlertSettings(reject_rate=0.5, reject_window_s=1.0, reject_min_intents=10,
                      stale_model_ms=0)
    )  # fmt: skip

    def at(ns, intents, rejected):
        return manager.evaluate(
            observations(counters={"intents": intents}, rejects={"RATE_THROTTLE": rejected}), ns
        )

    assert at(0, 0, 0) == []
    assert at(500 * MS, 8, 8) == []  # under the minimum of intents
    [event] = at(900 * MS, 20, 12)
    assert event.alert.key == "reject_rate" and event.alert.value == pytest.approx(0.6)
    # At 2 s the window starts at the last reading of 1 s ago or before (0.9 s): 10 intents,
    # 2 refused: resolved; stays quiet.
    [event] = at(2_000 * MS, 30, 14)
    assert event.kind == "resolved"
    assert at(3_000 * MS, 50, 16) == []


def test_rules_turned_off_by_zero():
    manager = AlertManager(
        AlertSettings(feed_gap_ms=0, fix_down_ms=0, risk_utilisation=0, daily_loss_fraction=0,
                      reject_rate=0, stale_model_ms=0, tick_to_trade_p99_us=0)
    )  # fmt: skip
    bad = observations(
        feeds={"ALPHA": {"missing_ranges": 3}},
        sessions={"ALPHA": {"logged_on": False, "state": "DISCONNECTED"}},
    )
    assert manager.evaluate(bad, 0) == [] and manager.evaluate(bad, 10**12) == []


class Receiver:
    """A real HTTP server on 127.0.0.1 collecting POSTed JSON."""

    def __init__(self, status: int = 200) -> None:
        received = self.received = []

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 (the stdlib's name)
                length = int(self.headers["Content-Length"])
                received.append((self.path, self.headers["Content-Type"],
                                 json.loads(self.rfile.read(length))))  # fmt: skip
                self.send_response(status)
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hooks/calarb?x=1"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.mark.network
def test_webhook_gets_firing_and_resolved_in_order():
    receiver = Receiver()
    settings = AlertSettings(webhook_url=receiver.url, feed_gap_ms=0.001, stale_model_ms=0)

    async def scenario():
        manager = AlertManager(settings)
        dispatcher = AlertDispatcher(settings, source="test-engine")
        dispatcher.start()
        gap = observations(feeds={"ALPHA": {"missing_ranges": 1}})
        dispatcher.dispatch(manager.evaluate(gap, 0))
        dispatcher.dispatch(manager.evaluate(gap, 1 * MS))
        dispatcher.dispatch(manager.evaluate(observations(), 2 * MS))
        for _ in range(500):
            if dispatcher.sent == 2:
                break
            await asyncio.sleep(0.01)
        await dispatcher.stop()
        return dispatcher

    try:
        dispatcher = asyncio.run(scenario())
    finally:
        receiver.close()
    assert (dispatcher.sent, dispatcher.failures) == (2, 0)
    kinds = [(path, kind, body["kind"], body["key"], body["source"])
             for path, kind, body in receiver.received]  # fmt: skip
    assert kinds == [
        ("/hooks/calarb?x=1", "application/json", "firing", "feed_gap:ALPHA", "test-engine"),
        ("/hooks/calarb?x=1", "application/json", "resolved", "feed_gap:ALPHA", "test-engine"),
    ]


@pytest.mark.network
def test_webhook_failures_are_counted_never_raised():
    receiver = Receiver(status=500)

    async def garbage_server(reader, writer):
        await reader.read(100)
        writer.write(b"\x00\xffnot http\r\n\r\n")
        await writer.drain()
        writer.close()

    async def scenario():
        server = await asyncio.start_server(garbage_server, "127.0.0.1", 0)
        garbage = f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}/"
        with pytest.raises(WebhookError, match="bad status line"):
            await post_json(garbage, {"a": 1}, 2.0)
        closed = socket_port()
        with pytest.raises(WebhookError, match=f"127.0.0.1:{closed}"):
            await post_json(f"http://127.0.0.1:{closed}/", {"a": 1}, 2.0)
        with pytest.raises(WebhookError, match="only http"):
            await post_json("ftp://127.0.0.1/", {}, 1.0)
        server.close()
        settings = AlertSettings(webhook_url=receiver.url, feed_gap_ms=0.001)
        dispatcher = AlertDispatcher(settings)
        dispatcher.start()
        manager = AlertManager(settings)
        gap = observations(feeds={"ALPHA": {"missing_ranges": 1}})
        manager.evaluate(gap, 0)
        dispatcher.dispatch(manager.evaluate(gap, 1 * MS))
        for _ in range(500):
            if dispatcher.failures:
                break
            await asyncio.sleep(0.01)
        await dispatcher.stop()
        return dispatcher

    try:
        dispatcher = asyncio.run(scenario())
    finally:
        receiver.close()
    assert dispatcher.failures == 1 and dispatcher.sent == 0
    assert "HTTP 500" in dispatcher.last_error


def socket_port() -> int:
    """A port nothing listens on (bound then closed)."""
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]
