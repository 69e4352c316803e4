"""Issue 13 (ops report): a `calarb venue` process frozen (SIGSTOP) for a few seconds and
resumed. Its market then lags real time; it used to catch up in one turn of its event loop,
leaving FIX Logons unanswered until the engines timed out, reconnected and met "already
connected" refusals (4 reconnects, then LOGON_SENT for over 40 s). Now it catches up in
bursts with FIX served between them: a real initiator logs on again at once."""

from __future__ import annotations

import asyncio
import signal
import socket
import time
from pathlib import Path

import pytest
import tomli_w
from tests.venue.test_gateway_restart import free_port, start_venue

from calarb.core.config_schema import load_toml
from calarb.demo import DEFAULT_VENUES_CONFIG, fresh_venues_document
from calarb.fix.config import SessionSettings
from calarb.fix.events import Disconnected, LoggedOn
from calarb.fix.transport import FixInitiator

pytestmark = [pytest.mark.network, pytest.mark.slow]

FREEZE_S = 12.0



def venues_file(path: Path) -> None:
    """The demo's venues (2 venues, 5 symbols, 20 simulated seconds per real second): after
    a 12 s freeze their market is 240 simulated seconds behind, 2,400 steps to catch up."""
    document = fresh_venues_document(load_toml(DEFAULT_VENUES_CONFIG), None)
    for venue in document["venues"]:
        venue["fix_port"] = free_port(socket.SOCK_STREAM)
        venue["participants"][0].update(comp_id="ENGINE", username="engine", password="pw")
    path.write_text(tomli_w.dumps(document))


async def scenario(config: Path, log: Path) -> tuple[float, int, list[str]]:
    venue, address = await start_venue(config, log)
    host, port = address["fix"].split(":")
    disconnects: list[str] = []
    logons: list[float] = []

    def on_event(_session, event) -> None:
        if isinstance(event, Disconnected):
            disconnects.append(event.reason)
        elif isinstance(event, LoggedOn):
            logons.append(time.monotonic())

    settings = SessionSettings(
        "FIX.4.4", "ENGINE", address["comp_id"], "initiator", 1, host, int(port),
        username="engine", password="pw", reconnect_interval_s=0.5, logon_timeout_s=2.0,
    )  # fmt: skip
    engine = FixInitiator(settings, on_event=on_event)
    try:
        engine.start()
        await engine.wait_logged_on(15)
        venue.send_signal(signal.SIGSTOP)
        await asyncio.sleep(FREEZE_S)  # the initiator's heartbeat times out meanwhile
        venue.send_signal(signal.SIGCONT)
        resumed = time.monotonic()
        assert disconnects, "the initiator should have noticed the frozen venue"
        before = engine.connections
        give_up = resumed + 8.0
        while not (logons[-1] > resumed and engine.session.logged_on):
            if time.monotonic() > give_up:
                break
            await asyncio.sleep(0.02)
        back_s = logons[-1] - resumed if logons[-1] > resumed else float("inf")
        reconnects = engine.connections - before
        await engine.stop()
    finally:
        if venue.returncode is None:
            venue.send_signal(signal.SIGCONT)
            venue.send_signal(signal.SIGTERM)
            await asyncio.wait_for(venue.wait(), 20)
    return back_s, reconnects, disconnects


def test_a_venue_resumed_after_sigstop_answers_the_next_logon_at_once(tmp_path):
    config = tmp_path / "venues.toml"
    venues_file(config)
    log = tmp_path / "venue.log"
    back_s, reconnects, disconnects = asyncio.run(scenario(config, log))
    assert back_s < 3.0, (back_s, reconnects, disconnects, log.read_text()[-2000:])
    assert reconnects <= 2, (reconnects, disconnects)
    assert "behind (process paused or overloaded)" in log.read_text()
