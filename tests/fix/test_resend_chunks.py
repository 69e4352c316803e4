"""A ResendRequest over a huge range, over real TCP on 127.0.0.1 (issue 13): the acceptor
serves it in bounded chunks read from its store (most of it from the journal, past the
in-memory window), yields to the loop between chunks (the peer's TestRequest is answered
before the resend ends) and waits for the peer to drain, so a write-buffer high-water mark
far below the range's size does not cut the peer off; every number arrives, in order."""

from __future__ import annotations

import asyncio
import time

import pytest
from tests.fix.fix_peer import Peer, logon, raw

from calarb.fix.config import SessionSettings
from calarb.fix.session import RESEND_CHUNK
from calarb.fix.store import FileStore
from calarb.fix.transport import FixAcceptor

pytestmark = pytest.mark.network

STORED = 10_000  # application messages journaled before the peer logs on (~2 MB)
LIMIT = 256 * 1024  # the peer's write-buffer high-water mark: far below the resend


def test_a_huge_resend_is_served_in_chunks_without_cutting_the_peer_off(tmp_path):
    async def scenario():
        settings = SessionSettings(
            "FIX.4.4", "VENUE", "CLIENT", "acceptor", username="alice", password="s3cret",
            file_store_path=str(tmp_path), store_window=1_000, write_buffer_limit=LIMIT,
        )  # fmt: skip
        acceptor = FixAcceptor([settings], lambda _s: None)
        port = await acceptor.start("127.0.0.1", 0)
        session = acceptor.sessions[("FIX.4.4", "VENUE", "CLIENT")]
        assert isinstance(session.store, FileStore)
        wall = time.time_ns()
        for n in range(STORED):  # reports the client never saw (it was away)
            session.send(b"8", [(17, b"E%d" % n), (58, b"x" * 100)], 0, wall)
        peer = await Peer.connect(port)
        await peer.send(logon(1))
        answer = await peer.next_message()
        assert answer.msg_type == b"A" and int(answer[34]) == STORED + 1
        await peer.send(raw(b"2", 2, (7, b"1"), (16, b"0")) + raw(b"1", 3, (112, b"MID")))
        received = []
        resent = 0
        while resent < STORED or not any(m.msg_type == b"0" for m in received):
            received.append(await peer.next_message())
            resent += received[-1].msg_type == b"8"
            if len(received) == 2_000:
                await asyncio.sleep(0.5)  # a slow reader for a while: waited for, not cut
        connected = session in acceptor.connections
        await peer.send(raw(b"5", 4))
        await peer.until_closed()
        await acceptor.stop()
        return received, connected, acceptor.stats

    received, connected, stats = asyncio.run(scenario())
    resent = [m for m in received if m.msg_type == b"8"]
    assert [int(m[34]) for m in resent] == list(range(1, STORED + 1))
    assert all(m[43] == b"Y" and 122 in m for m in resent)
    assert [m[17] for m in resent[:2]] == [b"E0", b"E1"]  # from the journal, not the window
    heartbeat = next(i for i, m in enumerate(received) if m.msg_type == b"0")
    assert received[heartbeat][112] == b"MID"
    assert heartbeat < STORED - RESEND_CHUNK  # answered between chunks, not after the lot
    assert connected and stats.slow_consumers_disconnected == 0
