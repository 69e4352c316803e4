"""The venue's FIX sessions survive `kill -9` (issue 13, items 1 and 6, the FIX side): a real
`calarb venue` process journals its FIX store under its state directory (`fix_store_dir`);
killed and started again on the same port, it resumes every participant's session where it
was, so the engine's FIX initiator logs on again with no MsgSeqNum error and trades on."""

from __future__ import annotations

import asyncio
import json
import signal
import socket
import sys
from pathlib import Path

import pytest

from calarb.core.types import Side
from calarb.fix.config import SessionSettings
from calarb.fix.events import AppMessageReceived, Disconnected, LoggedOn
from calarb.fix.messages import encode_new_order_single
from calarb.fix.timefmt import TimestampFormatter
from calarb.fix.transport import FixInitiator
from calarb.itch.transport import fresh_multicast_address

pytestmark = [pytest.mark.network]

CONFIG = """
speed = 1.0
linger_s = 0.2

[synthetic]
seed = 5
step_ms = 100
start_ns = 34_200_000_000_000

[[synthetic.symbols]]
symbol = "AAA"
start_price = 100.0

[[venues]]
name = "ALPHA"
fix_port = {fix_port}
fix_store_dir = "{state}"

[venues.market_data]
group = "{group}"
port = {port}
retransmission_port = {retransmission_port}

[[venues.participants]]
comp_id = "ENGINE"
username = "engine"
password = "pw"
heartbeat_interval_s = 5
"""


def free_port(kind: int) -> int:
    with socket.socket(socket.AF_INET, kind) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


async def start_venue(config: Path, log: Path) -> tuple[asyncio.subprocess.Process, dict]:
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "calarb.cli", "venue", "--config", str(config),
        stdout=asyncio.subprocess.PIPE, stderr=log.open("ab"),
    )  # fmt: skip
    address = None
    while True:
        line = await asyncio.wait_for(process.stdout.readline(), 30.0)
        if not line:
            raise AssertionError(f"venue exited early: {log.read_text()[-2000:]}")
        if line.startswith(b"{"):
            record = json.loads(line)
            address = record if "venue" in record else address
            if record.get("ready"):
                return process, address


async def scenario(config: Path, log: Path) -> dict:
    venue, address = await start_venue(config, log)
    host, port = address["fix"].split(":")
    reports: list = []
    disconnects: list[str] = []
    logons: list[LoggedOn] = []

    def on_event(_session, event) -> None:
        if isinstance(event, AppMessageReceived):
            reports.append(event.message)
        elif isinstance(event, Disconnected):
            disconnects.append(event.reason)
        elif isinstance(event, LoggedOn):
            logons.append(event)

    settings = SessionSettings(
        "FIX.4.4", "ENGINE", "ALPHA", "initiator", 5, host, int(port),
        username="engine", password="pw", reconnect_interval_s=0.1,
        reconnect_max_interval_s=0.5,
    )  # fmt: skip
    engine = FixInitiator(settings, on_event=on_event)
    now = TimestampFormatter()

    def send_order(n: int) -> None:
        body = encode_new_order_single(
            b"ORD%d" % n, b"AAA", Side.BUY, 100, 500_000, now(engine.clock.wall_ns())
        )  # a resting bid far below the market: one NEW report each
        engine.send_body(b"D", body)

    async def reports_for(count: int) -> None:
        async with asyncio.timeout(15):
            while len(reports) < count:
                await asyncio.sleep(0.01)

    try:
        engine.start()
        await engine.wait_logged_on(15)
        for n in range(1, 4):
            send_order(n)
            await reports_for(n)
        before = (engine.session.next_sender_seq, engine.session.next_target_seq)

        venue.send_signal(signal.SIGKILL)
        await venue.wait()
        async with asyncio.timeout(10):
            while engine.session.logged_on:
                await asyncio.sleep(0.01)

        send_order(4)  # while the venue is down: journaled, sent on the venue's request
        venue, _ = await start_venue(config, log)
        await engine.wait_logged_on(15)
        await reports_for(4)
        send_order(5)
        await reports_for(5)
        after = (engine.session.next_sender_seq, engine.session.next_target_seq)
        await engine.stop()
    finally:
        if venue.returncode is None:
            venue.send_signal(signal.SIGTERM)
            await asyncio.wait_for(venue.wait(), 20)
    return {
        "before": before, "after": after, "reports": reports, "disconnects": disconnects,
        "logons": logons,
    }  # fmt: skip


def test_venue_killed_and_restarted_resumes_the_fix_session(tmp_path):
    """Before (issue 13, item 1): after `kill -9` and a restart the venue started over at
    MsgSeqNum 1 and the engine looped on "MsgSeqNum too low, expecting 165 but received 1"."""
    group, md_port = fresh_multicast_address()
    config = tmp_path / "venues.toml"
    config.write_text(
        CONFIG.format(
            fix_port=free_port(socket.SOCK_STREAM),
            state=tmp_path / "state",
            group=group,
            port=md_port,
            retransmission_port=free_port(socket.SOCK_DGRAM),
        )  # fmt: skip
    )
    log = tmp_path / "venue.log"
    result = asyncio.run(scenario(config, log))
    reports = result["reports"]
    assert [m[11] for m in reports] == [b"ORD%d" % n for n in range(1, 6)]
    assert all(m[150] == b"0" for m in reports)  # NEW: each order reached the new venue
    numbers = [int(m[34]) for m in reports]
    assert numbers == sorted(numbers) and numbers[3] > numbers[2]  # the venue went on counting
    assert not any("too low" in reason for reason in result["disconnects"]), result
    assert len(result["logons"]) == 2
    # the second Logon resumed both numbers: the venue expected our next one
    before_sender, before_target = result["before"]
    assert result["logons"][1].next_target_seq == before_target + 1  # its Logon answer
    assert result["after"][0] == before_sender + 1 + 2  # two orders and our Logon
    assert reports[3].get(43) is None  # ORD4 reached the venue by its ResendRequest: a new
    # order for it, answered once
    assert list((tmp_path / "state").glob("*.journal"))
    assert "Traceback" not in log.read_text()
