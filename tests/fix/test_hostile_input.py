"""Hostile application messages against `calarb fix serve` as a real process over TCP on
127.0.0.1 (issue 13, item 9): a NewOrderSingle without OrderQty, absurdly long fields."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys

import pytest
from tests.fix.fix_peer import Peer, logon, raw

from calarb.fix.limits import MAX_MESSAGE_SIZE, MAX_STRING_LENGTH

pytestmark = pytest.mark.network

CONFIG = (
    "[DEFAULT]\nConnectionType=acceptor\nSocketAcceptPort=0\nSenderCompID=VENUE\n"
    "HeartBtInt=30\n[SESSION]\nBeginString=FIX.4.4\nTargetCompID=CLIENT\n"
    "Username=alice\nPassword=s3cret\n{extra}"
)


def order(seq: int, cl_ord_id: bytes = b"ORD1", *, quantity: bytes | None = b"100") -> bytes:
    body = [(11, cl_ord_id), (21, b"1"), (40, b"2"), (44, b"10.5"), (54, b"1"), (55, b"AAPL")]
    if quantity is not None:
        body.append((38, quantity))
    body.append((60, b"20240101-00:00:00"))
    return raw(b"D", seq, *body)


def serve(tmp_path, app: str, extra: str = "") -> tuple[subprocess.Popen, int]:
    config = tmp_path / "serve.cfg"
    config.write_text(CONFIG.format(extra=extra))
    server = subprocess.Popen(
        [sys.executable, "-m", "calarb.cli", "fix", "serve", "--config", str(config),
         "--app", app],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=tmp_path,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )  # fmt: skip
    banner = json.loads(server.stdout.readline())
    return server, int(banner["listening"].rpartition(":")[2])


def stop(server: subprocess.Popen) -> str:
    server.terminate()
    _, stderr = server.communicate(timeout=10)
    return stderr


async def exchange(port: int, *messages: bytes, answers: int) -> list:
    peer = await Peer.connect(port)
    await peer.send(logon(1))
    assert (await peer.next_message()).msg_type == b"A"
    for message in messages:
        await peer.send(message)
    received = [await peer.next_message() for _ in range(answers)]
    peer.writer.close()
    return received


def test_fill_app_rejects_an_order_without_quantity_and_keeps_the_session(tmp_path):
    """Before: KeyError traceback, connection dropped. After: Reject 371=38, then the next
    order is filled on the same connection."""
    server, port = serve(tmp_path, "fill")
    try:
        reject, fill = asyncio.run(
            exchange(port, order(2, quantity=None), order(3, b"ORD2"), answers=2)
        )
    finally:
        stderr = stop(server)
    assert reject.msg_type == b"3"
    assert (reject[45], reject[371], reject[373]) == (b"2", b"38", b"1")
    assert fill.msg_type == b"8" and fill[11] == b"ORD2" and fill[39] == b"2"
    assert "Traceback" not in stderr


@pytest.mark.parametrize(
    "app, length", [("fill", 100_000), ("echo", 100_000), ("fill", MAX_STRING_LENGTH + 1)]
)
def test_long_client_order_id_is_rejected_not_echoed(tmp_path, app, length):
    """Before: a 100 KB ClOrdID was accepted and echoed in every report. After: a ClOrdID
    over MAX_STRING_LENGTH gets a Reject naming tag 11 (373=5) and appears in no answer."""
    long_id = b"X" * length
    server, port = serve(tmp_path, app)
    try:
        reject, answer = asyncio.run(
            exchange(port, order(2, long_id), order(3, b"ORD2"), answers=2)
        )
    finally:
        stderr = stop(server)
    assert reject.msg_type == b"3"
    assert (reject[371], reject[373]) == (b"11", b"5")
    assert long_id not in reject[58]
    assert answer[11] == b"ORD2"
    assert "Traceback" not in stderr


def test_message_over_the_size_limit_is_dropped_and_the_session_goes_on(tmp_path):
    """A message over MAX_MESSAGE_SIZE is not framed (skipped as garbled, consuming no
    sequence number), never echoed, and the session carries on: the next order is one number
    ahead, so a ResendRequest asks for the dropped one."""
    huge = order(2, b"X" * (MAX_MESSAGE_SIZE + 1000))
    assert len(huge) > MAX_MESSAGE_SIZE
    server, port = serve(tmp_path, "fill")
    try:
        (resend,) = asyncio.run(exchange(port, huge, order(3, b"ORD2"), answers=1))
    finally:
        stderr = stop(server)
    assert resend.msg_type == b"2" and resend[7] == b"2"
    assert "Traceback" not in stderr
