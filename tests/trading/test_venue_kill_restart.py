"""Issue 13, item 1 end to end: a real `calarb run` engine trades against a real `calarb venue`
process (the demo's venues, on fixed loopback addresses, journalling their FIX sessions); the
venue process is killed with SIGKILL mid-trading and started again on the same addresses.

The engine must log on again with sequence numbers continued (no "MsgSeqNum too low" loop),
follow the new market-data session and rebuild its books, reconcile its open orders, leave
no leg naked, and say what it did: one log line per action."""

from __future__ import annotations

import json
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import tomli_w

from calarb.core.config_schema import load_toml
from calarb.demo import (
    DEFAULT_ENGINE_CONFIG,
    DEFAULT_VENUES_CONFIG,
    VenueProcess,
    engine_document,
    fresh_venues_document,
)

pytestmark = [pytest.mark.network, pytest.mark.slow]

TRADE_BEFORE_KILL_S = 5.0  # trading after the warm-up
DOWN_S = 1.5  # the venue is away this long
RUN_S = 40.0  # the engine's whole run


def free_port(kind: int) -> int:
    with socket.socket(socket.AF_INET, kind) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def venues_document(state: Path) -> dict:
    """The demo's venues on fixed addresses (a restart must find them again), journalling
    their FIX sessions under `state`."""
    document = fresh_venues_document(load_toml(DEFAULT_VENUES_CONFIG), None, state)
    for venue in document["venues"]:
        venue["fix_port"] = free_port(socket.SOCK_STREAM)
        venue["market_data"]["retransmission_port"] = free_port(socket.SOCK_DGRAM)
        venue["market_data"]["source_port"] = free_port(socket.SOCK_DGRAM)
    return document


def start_venues(config: Path, tmp: Path, name: str, lifetime_s: float) -> VenueProcess:
    venues = VenueProcess(config, tmp / name, tmp / f"{name}.log", lifetime_s=lifetime_s)
    venues.start()
    return venues


def test_a_killed_and_restarted_venue_is_recovered_by_a_running_engine(tmp_path):
    document = venues_document(tmp_path / "venue-state")
    assert all(v["fix_store_dir"] for v in document["venues"])
    venues_path = tmp_path / "venues.toml"
    venues_path.write_text(tomli_w.dumps(document))
    # The engine starts first (it takes a few seconds to import and build), so it follows the
    # first instance from its first packet: a late join is another test's matter.
    engine_doc = engine_document(load_toml(DEFAULT_ENGINE_CONFIG), document, _Addresses(document))
    for venue in engine_doc["venues"]:
        del venue["feed"]["session"]  # learnt from the first packet
    engine_doc.setdefault("engine", {})["journal"] = str(tmp_path / "journal.jsonl")
    engine_path = tmp_path / "engine.toml"
    engine_path.write_text(tomli_w.dumps(engine_doc))
    engine_log = tmp_path / "engine.log"
    engine = subprocess.Popen(
        [sys.executable, "-m", "calarb.cli", "run", "--config", str(engine_path),
         "--duration", str(RUN_S), "--json", "--status-interval", "0.2",
         "--log-level", "INFO"],
        stdout=subprocess.PIPE, stderr=engine_log.open("w"), text=True,
    )  # fmt: skip
    first = second = None
    try:
        _wait_for(engine, engine_log, "strategy waiting", timeout_s=60.0)
        first = start_venues(venues_path, tmp_path, "first", RUN_S + 30)
        _wait_for(engine, engine_log, "strategy running", timeout_s=60.0)
        time.sleep(TRADE_BEFORE_KILL_S)
        # kill it while a pair is legged (one leg filled, the other working): the lost venue
        # leaves that leg naked, which the legging control must close once it is back
        _wait_for(engine, engine_log, "left legged", timeout_s=30.0, after=engine_log.stat().st_size)
        # and with orders open (the status line every 0.2 s), to be reconciled at the new Logon
        _wait_for(engine, engine_log, OPEN_ORDERS, timeout_s=30.0, after=engine_log.stat().st_size)
        traded_before = _journal_fills(tmp_path / "journal.jsonl")
        first.process.send_signal(signal.SIGKILL)
        first.process.wait()
        time.sleep(DOWN_S)
        second = start_venues(venues_path, tmp_path, "second", RUN_S + 30)
        out, _ = engine.communicate(timeout=RUN_S + 40)
    finally:
        if engine is not None and engine.poll() is None:
            engine.kill()
            engine.wait()
        if first is not None:
            first.stop(timeout_s=5)
        if second is not None:
            second.stop(timeout_s=5)
    log = engine_log.read_text()
    assert engine.returncode == 0, log[-3000:]
    summary = json.loads(out[out.index("{"):])
    (tmp_path / "summary.json").write_text(json.dumps(summary, indent=1))
    assert traded_before > 0, "the engine should have traded before the venue was killed"

    # FIX: both sessions of the killed process logged on again, sequence numbers continued
    assert "MsgSeqNum too low" not in log, log[-3000:]
    lines = summary["incidents"]["lines"]
    for venue in ("ALPHA", "BETA"):
        assert any(line.startswith(f"{venue}: FIX session lost") for line in lines), lines
        back = [line for line in lines if line.startswith(f"{venue}: FIX logged on again")]
        assert len(back) == 1 and "sequence numbers continued" in back[0], lines
        assert back[0] in log
        # market data: the new instance's session followed, its books rebuilt from it
        assert re.search(rf"{venue}: market data restarted \(session \w+ replaces \w+\)", log)
        assert summary["feeds"][venue]["session_changes"] == 1
        assert summary["feeds"][venue]["recovery"]["state"] == "live"
    # open orders: reconciled at the new Logon when there were any, and none lost
    assert summary["oms_anomalies"] == {}, summary["oms_anomalies"]
    for line in lines:
        if "reconciling" in line:
            venue = line.split(":")[0]
            assert summary["venues"][venue]["reconciliations"] >= 1, lines
            assert any(x.startswith(f"{venue}: open orders reconciled") for x in lines), lines
    # every legging event was followed by an action of the legging control, each told
    lost = next(i for i, line in enumerate(lines) if "FIX session lost" in line)
    legged = next(line for line in reversed(lines[:lost]) if "left legged" in line)
    pair = legged.split(":")[0]  # "pair DDD/CCC"
    back = max(i for i, line in enumerate(lines) if "FIX logged on again" in line)
    later = [line for line in lines[back:] if line.startswith(pair + ":")]
    assert any("hedging" in line or "unwinding" in line for line in lines[lost:]), lines
    assert later, f"nothing done for {pair} after the restart: {lines}"
    trades_after = _journal_fills(tmp_path / "journal.jsonl") - traded_before
    assert trades_after > 0, "the engine should trade again after the restart"


class _Addresses:
    """What `engine_document` reads of a started venue process, from the fixed addresses."""

    def __init__(self, document: dict) -> None:
        self.true_parameters: list = []
        self.addresses = [
            {
                "venue": v["name"],
                "comp_id": v["name"],
                "fix": f"127.0.0.1:{v['fix_port']}",
                "market_data": f"{v['market_data']['group']}:{v['market_data']['port']}",
                "retransmission": f"127.0.0.1:{v['market_data']['retransmission_port']}",
                "session": "",
                "source": f"127.0.0.1:{v['market_data']['source_port']}",
            }
            for v in document["venues"]
        ]


OPEN_ORDERS = re.compile(r" open [1-9]")


def _wait_for(
    engine: subprocess.Popen, log: Path, text: str | re.Pattern, timeout_s: float, after: int = 0
) -> None:
    pattern = text if isinstance(text, re.Pattern) else re.compile(re.escape(text))
    deadline = time.monotonic() + timeout_s
    while not pattern.search(log.read_text()[after:]):
        assert engine.poll() is None, log.read_text()[-3000:]
        assert time.monotonic() < deadline, f"no {text!r} in {timeout_s} s: {log.read_text()[-3000:]}"
        time.sleep(0.2)


def _journal_fills(path: Path) -> int:
    if not path.exists():
        return 0
    lines = path.read_text().splitlines()
    return sum(1 for line in lines if line.startswith('{"k":"report"') and '","F","' in line)
