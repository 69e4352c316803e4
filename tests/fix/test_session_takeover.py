"""A half-open connection must not lock the real client out of its session (issue 13): over
real TCP on 127.0.0.1, a client logs on and then goes silent without closing; a second
connection's authenticated Logon for the same CompIDs takes the session over once the first
peer has been silent longer than its HeartBtInt, and not before, and never unauthenticated."""

from __future__ import annotations

import asyncio
import logging

import pytest
from tests.fix.fix_peer import Peer, logon, raw

from calarb.fix.config import SessionSettings
from calarb.fix.transport import FixAcceptor

pytestmark = pytest.mark.network

KEY = ("FIX.4.4", "VENUE", "CLIENT")


def make_acceptor() -> FixAcceptor:
    settings = SessionSettings(
        "FIX.4.4", "VENUE", "CLIENT", "acceptor", username="alice", password="s3cret"
    )
    return FixAcceptor([settings], lambda _s: None)


async def logged_on_silent_peer(port: int, heartbeat: bytes) -> Peer:
    """A client that logs on and from then on sends nothing and never closes."""
    peer = await Peer.connect(port)
    await peer.send(logon(1, heartbeat=heartbeat))
    answer = await peer.next_message()
    assert answer.msg_type == b"A"
    return peer


def test_an_authenticated_logon_takes_over_a_session_whose_peer_fell_silent(caplog):
    async def scenario():
        acceptor = make_acceptor()
        port = await acceptor.start("127.0.0.1", 0)
        session = acceptor.sessions[KEY]
        stale = await logged_on_silent_peer(port, heartbeat=b"2")
        stale_connection = acceptor.connections[session]
        await asyncio.sleep(2.3)  # silent longer than HeartBtInt, short of the 4.8 s cut-off
        assert acceptor.connections[session] is stale_connection

        impostor = await Peer.connect(port)  # right CompIDs, wrong password: no takeover
        await impostor.send(logon(2, password=b"guess"))
        impostor_saw = await impostor.until_closed()
        still_stale = acceptor.connections.get(session) is stale_connection

        real = await Peer.connect(port)
        await real.send(logon(2, heartbeat=b"2"))
        real_answer = await real.next_message()
        await real.send(raw(b"1", 3, (112, b"PING")))
        real_heartbeat = await real.next_message()
        stale_saw = await stale.until_closed()
        owner = acceptor.connections.get(session)
        await real.send(raw(b"5", 4))
        await real.until_closed()
        await acceptor.stop()
        return impostor_saw, still_stale, real_answer, real_heartbeat, stale_saw, owner, \
            stale_connection, acceptor.stats  # fmt: skip

    with caplog.at_level(logging.WARNING, logger="calarb.fix"):
        impostor_saw, still_stale, real_answer, heartbeat, stale_saw, owner, stale_connection, \
            stats = asyncio.run(scenario())  # fmt: skip
    assert impostor_saw == []  # refused before any session answered it
    assert still_stale
    assert "already connected: the new Logon is refused: invalid Username or Password" in (
        caplog.text
    )
    assert real_answer.msg_type == b"A"
    assert (heartbeat.msg_type, heartbeat[112]) == (b"0", b"PING")
    assert owner is not None and owner is not stale_connection
    logouts = [m for m in stale_saw if m.msg_type == b"5"]
    assert [m[58] for m in logouts] == [b"session taken over by a new connection"]
    assert stats.sessions_taken_over == 1
    replaced = [r.getMessage() for r in caplog.records if "replaced by" in r.getMessage()]
    assert len(replaced) == 1
    assert "HeartBtInt 2 s), replaced by an authenticated Logon from 127.0.0.1:" in replaced[0]


def test_a_second_logon_is_refused_while_the_current_peer_is_alive(caplog):
    async def scenario():
        acceptor = make_acceptor()
        port = await acceptor.start("127.0.0.1", 0)
        session = acceptor.sessions[KEY]
        first = await logged_on_silent_peer(port, heartbeat=b"30")
        first_connection = acceptor.connections[session]
        second = await Peer.connect(port)
        await second.send(logon(2, heartbeat=b"30"))
        second_saw = await second.until_closed()
        await first.send(raw(b"1", 2, (112, b"STILL")))
        first_answer = await first.next_message()
        owner = acceptor.connections.get(session)
        await acceptor.stop()
        return second_saw, first_answer, owner is first_connection, acceptor.stats

    with caplog.at_level(logging.WARNING, logger="calarb.fix"):
        second_saw, first_answer, unchanged, stats = asyncio.run(scenario())
    assert second_saw == []
    assert (first_answer.msg_type, first_answer[112]) == (b"0", b"STILL")
    assert unchanged and stats.sessions_taken_over == 0
    assert "is already connected: the current connection is alive (last message" in caplog.text
    assert "HeartBtInt 30 s)" in caplog.text
