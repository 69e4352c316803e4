"""calarb against QuickFIX (C++ engine via its Python bindings) as a live peer, over TCP.

The QuickFIX side runs in its own process (`calarb.fix.quickfix_peer`): its acceptor's stop()
can crash the interpreter and the quickfix-ssl wheel aborts on a raising callback.
"""

from __future__ import annotations

import asyncio
import json
import queue
import socket
import subprocess
import sys
import threading
import time

import pytest

# QuickFIX (quickfix-ssl) is in the test extra: a missing install fails here, it does not skip.
import quickfix  # noqa: F401

from calarb.core.types import Side
from calarb.fix.apps import FillApplication
from calarb.fix.config import SessionSettings
from calarb.fix.events import AppMessageReceived
from calarb.fix.messages import encode_new_order_single
from calarb.fix.transport import FixAcceptor, FixInitiator

pytestmark = [pytest.mark.network, pytest.mark.slow]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Peer:
    """The QuickFIX process: JSON events in a queue, commands on stdin."""

    def __init__(self, *args: str) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "calarb.fix.quickfix_peer", *args],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, bufsize=1,
        )  # fmt: skip
        self.events: queue.Queue = queue.Queue()
        self.seen: list[dict] = []
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        for line in self.process.stdout:
            self.events.put(json.loads(line))

    def command(self, text: str) -> None:
        self.process.stdin.write(text + "\n")
        self.process.stdin.flush()

    async def wait_for(self, predicate, timeout: float = 15.0) -> dict:
        loop = asyncio.get_running_loop()
        end = loop.time() + timeout
        for event in self.seen:
            if predicate(event):
                return event
        while loop.time() < end:
            try:
                event = self.events.get_nowait()
            except queue.Empty:
                await asyncio.sleep(0.01)
                continue
            self.seen.append(event)
            assert event.get("event") != "error", event
            if predicate(event):
                return event
        raise AssertionError(f"QuickFIX peer never reported the event; saw {self.seen}")

    def close(self) -> None:
        if self.process.poll() is None:
            self.command("stop")
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def order(n: str) -> bytes:
    return encode_new_order_single(
        n.encode(), b"AAPL", Side.BUY, 100, 1502500, b"20240101-00:00:00"
    )


async def until(predicate, timeout=15.0):
    loop = asyncio.get_running_loop()
    end = loop.time() + timeout
    while not predicate():
        assert loop.time() < end, "condition not reached in time"
        await asyncio.sleep(0.01)


def test_calarb_initiator_with_quickfix_acceptor(tmp_path):
    port = free_port()
    peer = Peer("--role", "acceptor", "--port", str(port), "--sender", "QFX", "--target", "CALARB",
                "--store", str(tmp_path / "qf"))  # fmt: skip

    async def scenario():
        await peer.wait_for(lambda e: e["event"] == "started")
        reports = []
        settings = SessionSettings(
            "FIX.4.4", "CALARB", "QFX", "initiator", port=port, reconnect_interval_s=0.2,
            file_store_path=str(tmp_path / "calarb"),
        )  # fmt: skip
        client = FixInitiator(
            settings,
            on_event=lambda _s, e: reports.append(e.message)
            if isinstance(e, AppMessageReceived) else None,
        )  # fmt: skip
        client.start()
        await client.wait_logged_on()
        await peer.wait_for(lambda e: e["event"] == "logon")
        client.send_body(b"D", order("C1"))
        await until(lambda: len(reports) == 1)
        assert reports[0][11] == b"C1" and reports[0][39] == b"2"

        # forced gap: C2's bytes never leave; C3 arrives first, QuickFIX asks for a resend
        client.session.send_body(b"D", order("C2"), time.monotonic_ns(), time.time_ns())
        client.session.data_to_send()
        client.send_body(b"D", order("C3"))
        await peer.wait_for(
            lambda e: e["event"] == "app" and e["cl_ord_id"] == "C2" and e["poss_dup"]
        )
        await until(lambda: sorted(m[11] for m in reports) == [b"C1", b"C2", b"C3"])

        # disconnect without Logout, reconnect, continue in sequence
        client.drop_connection()
        await until(lambda: not client.session.connected)
        await client.wait_logged_on()
        client.send_body(b"D", order("C4"))
        await until(lambda: len(reports) == 4)
        assert client.connections >= 2

        # logout handshake
        await client.stop()
        await peer.wait_for(lambda e: e["event"] == "logout")

    try:
        asyncio.run(asyncio.wait_for(scenario(), 60))
    finally:
        peer.close()


def test_quickfix_initiator_with_calarb_acceptor(tmp_path):
    port = free_port()

    async def scenario():
        settings = SessionSettings(
            "FIX.4.2", "CALARB", "QFX", "acceptor", port=port, file_store_path=str(tmp_path / "calarb"),
        )  # fmt: skip
        app = FillApplication()
        orders = []
        acceptor = FixAcceptor(
            [settings],
            lambda _s: app,
            on_event=lambda _s, e: orders.append(e.message)
            if isinstance(e, AppMessageReceived) else None,
        )  # fmt: skip
        await acceptor.start("127.0.0.1", port)
        session = acceptor.sessions[("FIX.4.2", "CALARB", "QFX")]
        peer = Peer("--role", "initiator", "--port", str(port), "--sender", "QFX", "--target",
                    "CALARB", "--begin", "FIX.4.2", "--store", str(tmp_path / "qf"))  # fmt: skip
        try:
            await peer.wait_for(lambda e: e["event"] == "logon")
            peer.command("order Q1")
            await peer.wait_for(lambda e: e["event"] == "app" and e["cl_ord_id"] == "Q1")

            # gap towards QuickFIX: drop the bytes of the next report calarb sends
            original_send_body = session.send_body

            def lose_once(msg_type, body, *times):
                session.send_body = original_send_body
                seq = original_send_body(msg_type, body, *times)
                session.data_to_send()
                return seq

            session.send_body = lose_once
            peer.command("order Q2")
            await until(lambda: len(orders) == 2)
            peer.command("order Q3")
            await peer.wait_for(
                lambda e: e["event"] == "app" and e["cl_ord_id"] == "Q2" and e["poss_dup"]
            )
            await peer.wait_for(lambda e: e["event"] == "app" and e["cl_ord_id"] == "Q3")

            # gap from QuickFIX: it skips 3 numbers, calarb asks, QuickFIX gap-fills
            peer.command("skip 3")
            await peer.wait_for(lambda e: e["event"] == "skipped")
            peer.command("order Q4")
            await peer.wait_for(lambda e: e["event"] == "app" and e["cl_ord_id"] == "Q4")
            assert [m[11] for m in orders] == [b"Q1", b"Q2", b"Q3", b"Q4"]
            assert session.next_target_seq > 6

            # calarb drops the connection; QuickFIX reconnects by itself
            acceptor.connection_for(session)._close()
            await peer.wait_for(lambda e: e["event"] == "logout")
            await until(lambda: session.logged_on, timeout=20)
            peer.command("order Q5")
            await peer.wait_for(lambda e: e["event"] == "app" and e["cl_ord_id"] == "Q5")

            # QuickFIX logs out on stop; calarb answers and closes
            peer.close()
            assert peer.process.returncode == 0
            await until(lambda: not session.connected)
        finally:
            peer.close()
            await acceptor.stop()

    asyncio.run(asyncio.wait_for(scenario(), 90))
