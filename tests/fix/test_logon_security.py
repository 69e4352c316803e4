"""Logon security over real TCP on 127.0.0.1 (issue 13, items 3 and 7): nothing changes on a
session before its Logon is authenticated, refusals say why (to the peer, and in the log with
the peer's address) and reveal no sequence number, HeartBtInt must be 1..3600 seconds."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import subprocess
import sys
import time

import pytest
from tests.fix.fix_peer import Peer, logon, raw, until

from calarb.fix.config import SessionSettings
from calarb.fix.limits import MAX_HEARTBEAT_S, MAX_LOGON_SIZE
from calarb.fix.transport import FixAcceptor, FixInitiator

pytestmark = pytest.mark.network


def acceptor_settings(**kw) -> list[SessionSettings]:
    values = dict(connection_type="acceptor", username="alice", password="s3cret")
    values.update(kw)
    return [SessionSettings("FIX.4.4", "VENUE", "CLIENT", **values)]


def run(coro):
    return asyncio.run(coro)


def client(port: int) -> FixInitiator:
    settings = SessionSettings(
        "FIX.4.4", "CLIENT", "VENUE", "initiator", port=port, username="alice",
        password="s3cret", reconnect_interval_s=0.05,
    )  # fmt: skip
    return FixInitiator(settings)


def test_reset_flag_with_a_wrong_password_changes_nothing(caplog):
    """Before: 141=Y was applied before the password check; the real client's next Logon met
    34=2 expectations and a ResendRequest. After: the session is untouched."""

    async def scenario():
        acceptor = FixAcceptor(acceptor_settings(), lambda _s: None)
        port = await acceptor.start("127.0.0.1", 0)
        real = client(port)
        real.start()
        await real.wait_logged_on()
        for _ in range(5):
            real.send(b"1", [(112, b"PING")])  # TestRequests: both sides' numbers move on
        session = acceptor.sessions[("FIX.4.4", "VENUE", "CLIENT")]
        await until(lambda: session.next_target_seq == 7 and session.next_sender_seq == 7)
        await real.stop()
        await until(lambda: not acceptor.connections)
        before = (session.next_sender_seq, session.next_target_seq)

        attacker = await Peer.connect(port)
        await attacker.send(logon(1, password=b"guess", reset=True))
        answer = await attacker.until_closed()
        after_attack = (session.next_sender_seq, session.next_target_seq)

        real = client(port)
        real.session.store.next_sender_seq = 8  # where the real client left off
        real.session.store.next_target_seq = before[0]
        real.start()
        await real.wait_logged_on()
        await asyncio.sleep(0.2)
        resend_requested = real.session.resend_range
        await real.stop()
        await acceptor.stop()
        return before, after_attack, answer, resend_requested, acceptor.stats

    with caplog.at_level(logging.WARNING, logger="calarb.fix"):
        before, after, answer, resend_range, stats = run(scenario())
    assert after == before == (8, 8)
    assert [m.msg_type for m in answer] == [b"5"]
    assert answer[0][58] == b"invalid Username or Password"
    assert resend_range is None  # the real client logged on without any gap
    assert stats.logons_refused == 1
    assert "from 127.0.0.1:" in caplog.text and "invalid Username or Password" in caplog.text


def test_wrong_password_logout_reveals_no_expected_sequence_number():
    """Before: a Logon with a low MsgSeqNum and a wrong password was answered "MsgSeqNum too
    low, expecting N but received 1"."""

    async def scenario():
        acceptor = FixAcceptor(acceptor_settings(), lambda _s: None)
        port = await acceptor.start("127.0.0.1", 0)
        session = acceptor.sessions[("FIX.4.4", "VENUE", "CLIENT")]
        session.store.set_next_target(165)
        session.store.set_next_sender(170)
        attacker = await Peer.connect(port)
        await attacker.send(logon(1, password=b"wrong"))
        answer = await attacker.until_closed()
        numbers = (session.next_sender_seq, session.next_target_seq)
        await acceptor.stop()
        return answer, numbers

    answer, numbers = run(scenario())
    assert [(m.msg_type, m[58]) for m in answer] == [(b"5", b"invalid Username or Password")]
    assert b"165" not in answer[0][58] and b"expecting" not in answer[0][58]
    assert numbers == (170, 165)  # the refusal consumed no sequence number


def test_refused_logon_does_not_trigger_reset_on_disconnect():
    """ResetOnDisconnect=Y: before, any connection that was dropped reset the session, even
    one whose Logon was refused."""

    async def scenario():
        acceptor = FixAcceptor(acceptor_settings(reset_on_disconnect=True), lambda _s: None)
        port = await acceptor.start("127.0.0.1", 0)
        session = acceptor.sessions[("FIX.4.4", "VENUE", "CLIENT")]
        session.store.set_next_target(40)
        session.store.set_next_sender(50)
        attacker = await Peer.connect(port)
        await attacker.send(logon(40, password=b"wrong"))
        await attacker.until_closed()
        await until(lambda: not acceptor.connections)
        numbers = (session.next_sender_seq, session.next_target_seq)
        await acceptor.stop()
        return numbers

    assert run(scenario()) == (50, 40)


def test_good_password_is_needed_and_enough():
    async def scenario():
        acceptor = FixAcceptor(acceptor_settings(), lambda _s: None)
        port = await acceptor.start("127.0.0.1", 0)
        no_credentials = await Peer.connect(port)
        await no_credentials.send(raw(b"A", 1, (98, b"0"), (108, b"30")))
        refused = await no_credentials.until_closed()
        good = await Peer.connect(port)
        await good.send(logon(1))
        accepted = await good.next_message()
        good.writer.close()
        await acceptor.stop()
        return refused, accepted

    refused, accepted = run(scenario())
    assert [m.msg_type for m in refused] == [b"5"]
    assert accepted.msg_type == b"A" and accepted[108] == b"30"


@pytest.mark.parametrize("heartbeat", [b"-10", b"0", b"%d" % (MAX_HEARTBEAT_S + 1), b"x"])
def test_absurd_heartbeat_interval_is_refused_with_a_logout(heartbeat):
    """Before: 108=-10 was accepted and echoed, 108=0 answered 108=30 but never checked."""

    async def scenario():
        acceptor = FixAcceptor(acceptor_settings(), lambda _s: None)
        port = await acceptor.start("127.0.0.1", 0)
        peer = await Peer.connect(port)
        await peer.send(logon(1, heartbeat=heartbeat))
        answer = await peer.until_closed()
        session = acceptor.sessions[("FIX.4.4", "VENUE", "CLIENT")]
        numbers = (session.next_sender_seq, session.next_target_seq)
        await acceptor.stop()
        return answer, numbers

    answer, numbers = run(scenario())
    assert [m.msg_type for m in answer] == [b"5"]
    assert b"HeartBtInt (108) must be 1 to 3600" in answer[0][58]
    assert numbers == (1, 1)


def test_silent_peer_is_disconnected_after_its_heartbeat_interval():
    """Liveness is always enforced: a peer that logs on with HeartBtInt=1 and then says
    nothing is sent a TestRequest and disconnected within 2.4 s."""

    async def scenario():
        acceptor = FixAcceptor(acceptor_settings(), lambda _s: None)
        port = await acceptor.start("127.0.0.1", 0)
        peer = await Peer.connect(port)
        started = time.monotonic()
        await peer.send(logon(1, heartbeat=b"1"))
        received = await peer.until_closed(timeout=10)
        elapsed = time.monotonic() - started
        await acceptor.stop()
        return received, elapsed

    received, elapsed = run(scenario())
    assert received[0].msg_type == b"A"
    assert b"1" in [m.msg_type for m in received]  # a TestRequest went out
    assert 2.0 <= elapsed < 5.0


def test_refusals_before_logon_are_logged_with_the_peer_address(caplog):
    """Before: garbage, an oversized first message, unknown CompIDs or a first message that
    is not a Logon ended in a silent close."""

    async def scenario():
        acceptor = FixAcceptor(acceptor_settings(), lambda _s: None)
        port = await acceptor.start("127.0.0.1", 0)
        closed = []
        for first in (
            b"GET / HTTP/1.1\r\n\r\n" + b"x" * 64,
            raw(b"A", 1, (98, b"0"), (108, b"30"), (553, b"u" * MAX_LOGON_SIZE)),
            raw(b"A", 1, (98, b"0"), (108, b"30"), sender=b"STRANGER"),
            raw(b"0", 1),
        ):
            peer = await Peer.connect(port)
            await peer.send(first)
            closed.append(await peer.until_closed())
        await acceptor.stop()
        return closed, acceptor.stats

    with caplog.at_level(logging.WARNING, logger="calarb.fix"):
        closed, stats = run(scenario())
    assert closed == [[], [], [], []]
    assert stats.connections_refused == 4
    lines = [r.getMessage() for r in caplog.records if "refused before Logon" in r.getMessage()]
    assert len(lines) == 4 and all("from 127.0.0.1:" in line for line in lines)
    assert f"exceeds the limit of {MAX_LOGON_SIZE} bytes" in lines[1]
    assert "no session for FIX.4.4/STRANGER/VENUE" in lines[2]
    assert "not a Logon" in lines[3]


def test_refusal_lines_are_rate_limited_with_a_count(caplog):
    """A flood of bad connections cannot flood the log: at most `log_burst` lines per
    window, then one line counting the rest."""

    async def scenario():
        acceptor = FixAcceptor(acceptor_settings(), lambda _s: None)
        acceptor.stats.log_burst, acceptor.stats.log_window_s = 5, 3.0
        port = await acceptor.start("127.0.0.1", 0)
        for _ in range(12):
            peer = await Peer.connect(port)
            await peer.send(raw(b"0", 1))  # not a Logon
            await peer.until_closed()
        await asyncio.sleep(3.1)
        peer = await Peer.connect(port)
        await peer.send(raw(b"0", 1))
        await peer.until_closed()
        await acceptor.stop()
        return acceptor.stats

    with caplog.at_level(logging.WARNING, logger="calarb.fix"):
        stats = run(scenario())
    lines = [r.getMessage() for r in caplog.records]
    refused = [line for line in lines if "refused before Logon" in line]
    assert stats.connections_refused == 13 and stats.lines_suppressed == 7
    assert len(refused) == 6  # 5 in the first window, 1 in the next
    assert "7 more FIX refusals not logged in the last 3 s" in lines


def test_fix_serve_honours_password(tmp_path):
    """Before: `calarb fix serve` ignored Password and logged anyone on."""
    config = tmp_path / "serve.cfg"
    config.write_text(
        "[DEFAULT]\nConnectionType=acceptor\nSocketAcceptPort=0\nSenderCompID=VENUE\n"
        "HeartBtInt=30\n[SESSION]\nBeginString=FIX.4.4\nTargetCompID=CLIENT\n"
        "Username=alice\nPassword=s3cret\n"
    )
    server = subprocess.Popen(
        [sys.executable, "-m", "calarb.cli", "fix", "serve", "--config", str(config)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=tmp_path,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )  # fmt: skip

    async def scenario(port: int):
        wrong = await Peer.connect(port)
        await wrong.send(logon(1, password=b"nope"))
        refused = await wrong.until_closed()
        right = await Peer.connect(port)
        await right.send(logon(1))
        accepted = await right.next_message()
        right.writer.close()
        return refused, accepted

    try:
        banner = json.loads(server.stdout.readline())
        port = int(banner["listening"].rpartition(":")[2])
        refused, accepted = run(scenario(port))
    finally:
        server.terminate()
        _, stderr = server.communicate(timeout=10)
    assert [(m.msg_type, m[58]) for m in refused] == [(b"5", b"invalid Username or Password")]
    assert accepted.msg_type == b"A"
    assert "Logon for FIX.4.4/VENUE/CLIENT from 127.0.0.1:" in stderr
    assert "invalid Username or Password" in stderr
    assert "Traceback" not in stderr


@pytest.mark.parametrize("heartbeat", ["0", "-10"])
def test_own_heartbeat_interval_out_of_range_is_a_settings_error(tmp_path, heartbeat):
    """Our own HeartBtInt must be positive too: `fix serve` refuses the settings in one
    line."""
    config = tmp_path / "serve.cfg"
    config.write_text(
        "[DEFAULT]\nConnectionType=acceptor\nSocketAcceptPort=0\nSenderCompID=VENUE\n"
        f"HeartBtInt={heartbeat}\n[SESSION]\nBeginString=FIX.4.4\nTargetCompID=CLIENT\n"
    )
    done = subprocess.run(
        [sys.executable, "-m", "calarb.cli", "fix", "serve", "--config", str(config)],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        f"calarb fix serve: {config}: SESSION[0].HeartBtInt: expected int >= 1, got '{heartbeat}'"
    ]
