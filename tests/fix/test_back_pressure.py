"""A peer that sends and never reads, against `calarb fix serve` as a real process over TCP on
127.0.0.1 (issue 13, item 6): it is logged out and disconnected once its unread answers pass
the write-buffer high-water mark, the server's memory stays bounded, and a well-behaved
session on the same server keeps its round trips."""

from __future__ import annotations

import asyncio
import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from tests.fix.fix_peer import raw

from calarb.fix.codec import encode
from calarb.fix.config import SessionSettings
from calarb.fix.events import AppMessageReceived
from calarb.fix.timefmt import TimestampFormatter
from calarb.fix.transport import FixInitiator

pytestmark = pytest.mark.network

CONFIG = """[DEFAULT]
ConnectionType=acceptor
SocketAcceptPort=0
SenderCompID=VENUE
HeartBtInt=30
WriteBufferLimit={limit}
[SESSION]
BeginString=FIX.4.4
TargetCompID=CLIENT
[SESSION]
BeginString=FIX.4.4
TargetCompID=GOOD
"""
LIMIT = 1 << 20


def rss_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError("no VmRSS")


def flood(count: int) -> bytes:
    """`count` NewOrderSingles from CLIENT, numbered from 2 (after the Logon)."""
    now = TimestampFormatter()(time.time_ns())
    out = bytearray()
    for seq in range(2, count + 2):
        out += encode(
            b"FIX.4.4",
            [(35, b"D"), (34, b"%d" % seq), (49, b"CLIENT"), (52, now), (56, b"VENUE"),
             (11, b"F%d" % seq), (21, b"1"), (38, b"100"), (40, b"2"), (44, b"10"),
             (54, b"1"), (55, b"AAPL"), (60, now)],
        )  # fmt: skip
    return bytes(out)


async def scenario(port: int, pid: int) -> dict:
    good = FixInitiator(
        SessionSettings("FIX.4.4", "GOOD", "VENUE", "initiator", port=port),
        on_event=lambda _s, e: (
            echoes.put_nowait(time.monotonic()) if isinstance(e, AppMessageReceived) else None
        ),
    )
    echoes: asyncio.Queue[float] = asyncio.Queue()
    good.start()
    await good.wait_logged_on()
    rss_before = rss_kb(pid)

    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # and never read
    sock.connect(("127.0.0.1", port))
    _reader, writer = await asyncio.open_connection(sock=sock)
    writer.write(raw(b"A", 1, (98, b"0"), (108, b"30")))
    data = flood(60_000)
    started = time.monotonic()
    cut_off = None
    round_trips = []

    async def send_flood():
        """Send every order, then a Heartbeat every 0.1 s, never reading, until a write fails
        (the server cut us off) or 30 s pass."""
        nonlocal cut_off
        try:
            for offset in range(0, len(data), 1 << 16):
                writer.write(data[offset : offset + (1 << 16)])
                await writer.drain()
            async with asyncio.timeout(30):
                while True:
                    writer.write(raw(b"0", 70_000))
                    await writer.drain()
                    await asyncio.sleep(0.1)
        except (ConnectionError, OSError):
            cut_off = time.monotonic() - started
        except TimeoutError:
            pass

    flooding = asyncio.create_task(send_flood())
    n = 0
    while not flooding.done() and n < 2000:
        n += 1
        sent = time.monotonic()
        good.send(b"D", [(11, b"G%d" % n), (21, b"1"), (38, b"1"), (40, b"1"), (54, b"1"),
                         (55, b"AAPL"), (60, TimestampFormatter()(time.time_ns()))])  # fmt: skip
        round_trips.append(await asyncio.wait_for(echoes.get(), 10) - sent)
        await asyncio.sleep(0.005)
    await asyncio.wait_for(flooding, 60)
    rss_after = rss_kb(pid)
    writer.close()
    await good.stop()
    round_trips.sort()
    return {
        "cut_off_s": cut_off,
        "rss_growth_kb": rss_after - rss_before,
        "p99_s": round_trips[max(0, -(-len(round_trips) * 99 // 100) - 1)] if round_trips else None,
        "round_trips": len(round_trips),
    }


def test_peer_that_does_not_read_is_cut_off_and_others_are_served(tmp_path):
    """Before: the acceptor buffered every unread answer (372 -> 581 MB in 10 s) and a
    well-behaved client's p99 round trip went from 2.3 ms to 2.66 s."""
    config = tmp_path / "serve.cfg"
    config.write_text(CONFIG.format(limit=LIMIT))
    server = subprocess.Popen(
        [sys.executable, "-m", "calarb.cli", "fix", "serve", "--config", str(config)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=tmp_path,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )  # fmt: skip
    try:
        banner = json.loads(server.stdout.readline())
        port = int(banner["listening"].rpartition(":")[2])
        result = asyncio.run(scenario(port, server.pid))
    finally:
        server.terminate()
        _, stderr = server.communicate(timeout=10)
    print(result)
    assert result["cut_off_s"] is not None and result["cut_off_s"] < 30
    assert "FIX.4.4/VENUE/CLIENT from 127.0.0.1:" in stderr
    assert f"write buffer over {LIMIT} bytes" in stderr
    assert result["rss_growth_kb"] < 64 * 1024
    assert result["round_trips"] >= 20 and result["p99_s"] < 1.0
    assert "Traceback" not in stderr
