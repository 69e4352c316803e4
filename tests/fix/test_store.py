"""Message stores, including a real SIGKILL of a process that is sending orders."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

from calarb.core.clock import SimulatedClock
from calarb.fix.codec import decode
from calarb.fix.config import SessionSettings
from calarb.fix.events import AppMessageReceived
from calarb.fix.session import FixSession
from calarb.fix.store import FileStore, MemoryStore


def test_file_store_survives_reopen(tmp_path):
    store = FileStore(tmp_path / "s.journal")
    store.save_message(1, b"one")
    store.save_message(2, b"two")
    store.set_next_target(7)
    store.close()
    again = FileStore(tmp_path / "s.journal")
    assert (again.next_sender_seq, again.next_target_seq) == (3, 7)
    assert again.get_messages(1, 5) == {1: b"one", 2: b"two"}
    again.reset()
    again.close()
    third = FileStore(tmp_path / "s.journal")
    assert (third.next_sender_seq, third.next_target_seq, third.get_messages(1, 9)) == (1, 1, {})


def test_torn_tail_is_dropped(tmp_path):
    path = tmp_path / "s.journal"
    store = FileStore(path, fsync=True)
    store.save_message(1, b"whole")
    store.close()
    with open(path, "ab") as handle:
        handle.write(b"M\x02\x00\x00")  # a record cut short by a crash
    again = FileStore(path)
    assert again.next_sender_seq == 2 and again.get_messages(1, 3) == {1: b"whole"}
    again.save_message(2, b"next")
    again.close()
    assert FileStore(path).get_messages(1, 3) == {1: b"whole", 2: b"next"}


def test_memory_store_range():
    store = MemoryStore()
    for seq in range(1, 6):
        store.save_message(seq, b"%d" % seq)
    assert sorted(store.get_messages(2, 4)) == [2, 3, 4]


CHILD = textwrap.dedent(
    """
    import sys
    from calarb.core.clock import SimulatedClock
    from calarb.core.types import Side
    from calarb.fix.config import SessionSettings
    from calarb.fix.messages import encode_new_order_single
    from calarb.fix.session import FixSession
    from calarb.fix.store import FileStore

    store = FileStore(sys.argv[1])
    clock = SimulatedClock()
    session = FixSession(SessionSettings("FIX.4.4", "CLIENT", "VENUE"), store)
    session.connection_made(0, clock.wall_ns())
    session.data_to_send()
    while True:
        seq = session.next_sender_seq
        body = encode_new_order_single(b"ORD%d" % seq, b"AAPL", Side.BUY, 100, 1500000, b"20240101-00:00:00")
        session.send_body(b"D", body, 0, clock.wall_ns())
        session.data_to_send()
        print(seq, flush=True)
    """
)


def test_sigkill_then_resume_and_resend(tmp_path):
    journal = tmp_path / "client.journal"
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD, str(journal)], stdout=subprocess.PIPE, text=True
    )
    last_reported = 0
    try:
        for line in child.stdout:
            last_reported = int(line)
            if last_reported >= 300:
                break
    finally:
        os.kill(child.pid, signal.SIGKILL)
        child.wait()
    assert child.returncode == -signal.SIGKILL
    store = FileStore(journal)
    # every order reported was journaled before it was reported; at most a few more after
    assert store.next_sender_seq >= last_reported + 1
    stored = store.get_messages(1, store.next_sender_seq)
    assert sorted(stored) == list(range(2, store.next_sender_seq))
    for seq, raw in stored.items():
        assert decode(raw)[11] == b"ORD%d" % seq
    # restart: a peer that had seen only up to 250 asks for the rest on logon
    clock = SimulatedClock()
    resumed = FixSession(SessionSettings("FIX.4.4", "CLIENT", "VENUE"), store)
    peer_store = MemoryStore()
    peer_store.set_next_target(251)
    peer = FixSession(SessionSettings("FIX.4.4", "VENUE", "CLIENT", "acceptor"), peer_store)
    resumed.connection_made(0, clock.wall_ns())
    peer.connection_made(0, clock.wall_ns())
    delivered = []
    for _ in range(10):
        delivered += [
            e.message
            for e in peer.on_bytes(resumed.data_to_send(), 0, clock.wall_ns())
            if isinstance(e, AppMessageReceived)
        ]
        resumed.on_bytes(peer.data_to_send(), 0, clock.wall_ns())
    expected = [b"ORD%d" % seq for seq in range(251, store.next_sender_seq - 1)]
    assert [m[11] for m in delivered] == expected
    assert all(m.get(43) == b"Y" for m in delivered)
    assert peer.next_target_seq == resumed.next_sender_seq
    store.close()


def test_journal_zero_tail_after_a_kill_is_ignored(tmp_path):
    """The journal file grows ahead in zeros; a process killed before close() leaves them."""
    path = tmp_path / "s.journal"
    store = FileStore(path)
    store.save_message(1, b"one")
    store.set_next_target(4)
    store.flush()  # in the page cache, as after a SIGKILL: no close(), file still padded
    killed = path.read_bytes()
    store.close()
    assert len(killed) > 64 and killed.endswith(b"\x00" * 32)
    path.write_bytes(killed)
    again = FileStore(path)
    assert (again.next_sender_seq, again.next_target_seq) == (2, 4)
    assert again.get_messages(1, 2) == {1: b"one"}
    again.close()
    assert path.stat().st_size == 2 * 13 + 3  # cut to its whole records on close


def test_journal_grows_past_its_mapping(tmp_path):
    path = tmp_path / "s.journal"
    store = FileStore(path)
    big = b"z" * 300_000
    for seq in range(1, 9):  # 2.4 MB: more than the first mapping
        store.save_message(seq, big)
        store.flush()
    store.close()
    again = FileStore(path)
    assert again.next_sender_seq == 9 and again.get_messages(8, 8) == {8: big}
    again.close()


def _rss_kb() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError("no VmRSS")


def test_memory_store_keeps_a_bounded_window():
    """Before: the in-memory store kept every message sent."""
    store = MemoryStore(window=100)
    for seq in range(1, 1001):
        store.save_message(seq, b"m%d" % seq)
    assert len(store._messages) == 100
    assert store.next_sender_seq == 1001
    assert sorted(store.get_messages(1, 1000)) == list(range(901, 1001))


def test_resend_below_the_memory_window_is_gap_filled():
    """A ResendRequest for numbers the MemoryStore forgot: SequenceReset-GapFill over them,
    the stored ones resent with PossDupFlag=Y, the peer ends in step."""
    clock = SimulatedClock()
    sender = FixSession(SessionSettings("FIX.4.4", "CLIENT", "VENUE"), MemoryStore(window=5))
    peer_store = MemoryStore()
    peer = FixSession(SessionSettings("FIX.4.4", "VENUE", "CLIENT", "acceptor"), peer_store)
    sender.connection_made(0, clock.wall_ns())
    peer.connection_made(0, clock.wall_ns())
    peer.on_bytes(sender.data_to_send(), 0, clock.wall_ns())
    sender.on_bytes(peer.data_to_send(), 0, clock.wall_ns())
    for n in range(20):  # orders 2..21, the peer sees none of them (lost in flight)
        sender.send(b"D", [(11, b"ORD%d" % n)], 0, clock.wall_ns())
    sender.data_to_send()
    sender.send(b"D", [(11, b"LAST")], 0, clock.wall_ns())  # 22: the peer notices the gap
    delivered = []
    data = sender.data_to_send()
    for _ in range(5):
        events = peer.on_bytes(data, 0, clock.wall_ns())
        delivered += [e.message for e in events if isinstance(e, AppMessageReceived)]
        sender.on_bytes(peer.data_to_send(), 0, clock.wall_ns())
        data = sender.data_to_send()
    # 2..17 were forgotten (window 5 keeps 18..22): gap-filled; 18..21 resent, then 22
    assert [m[11] for m in delivered] == [b"ORD16", b"ORD17", b"ORD18", b"ORD19", b"LAST"]
    assert peer.next_target_seq == sender.next_sender_seq == 23


def test_file_store_reads_messages_older_than_its_window_from_the_journal(tmp_path):
    store = FileStore(tmp_path / "s.journal", window=10)
    for seq in range(1, 101):
        store.save_message(seq, b"m%d" % seq)
    assert len(store._messages) == 10
    assert store.get_messages(5, 7) == {5: b"m5", 6: b"m6", 7: b"m7"}
    store.close()
    again = FileStore(tmp_path / "s.journal", window=10)
    assert len(again._messages) == 10
    assert again.get_messages(1, 100) == {seq: b"m%d" % seq for seq in range(1, 101)}
    again.reset()
    again.save_message(1, b"after reset")
    assert again.get_messages(1, 5) == {1: b"after reset"}  # nothing from before the reset
    again.close()


def test_file_store_memory_stays_flat_while_the_journal_grows(tmp_path):
    """200 MB journaled through the mapping: the process's resident memory grows by far
    less (the window's messages and released pages), the journal holds everything."""
    store = FileStore(tmp_path / "s.journal", window=1000)
    body = b"x" * 2000
    store.save_message(1, body)
    store.flush()
    before = _rss_kb()
    for seq in range(2, 100_001):
        store.save_message(seq, body)
        if seq % 50 == 0:
            store.flush()
    store.flush()
    growth_kb = _rss_kb() - before
    store.close()
    assert (tmp_path / "s.journal").stat().st_size > 200_000_000
    assert growth_kb < 40_000, growth_kb
