"""`calarb bench wire2wire`: tick to trade measured from outside, packet sent to order received.

A harness (this process) plays the exchange on loopback only:
- it publishes MoldUDP64/ITCH 5.0 packets on a fresh multicast group on 127.0.0.1 (TTL 1):
  the synthetic cointegrated pair of `calarb bench tick2trade` (`market_packets`, one ITCH
  message per packet), the packets the project's own MoldUDP64 framing builds;
- it runs the project's FIX acceptor (`calarb.fix.transport.FixAcceptor`) whose application
  stamps each NewOrderSingle on arrival (`time.monotonic_ns()`, a system-wide clock, so stamps
  of two processes compare) and fills it (`FillApplication`), as a venue would;
- it starts a real `calarb run` engine process on a config in the `calarb run` format (the
  tick2trade benchmark's pair and thresholds, one venue: this acceptor and this feed).

The trigger packets are known in advance: the same packets go through the in-process
tick2trade pipeline first (same engine, same strategy and limits), and the packets after which
it sent an order are the triggers. The run sends the directory messages, waits for the engine
to trade, then the market: ordinary packets at a steady pace (`--pace` per ms), and before each
trigger a quiet gap (`--gap-ms`, the engine idle), the trigger, and a wait for its order (up
to `--wait-ms`). An order is matched to a trigger when it arrives after the trigger's send and
before the next packet's; `p50_us` / `p99_us` are those arrivals minus the sends.

The floor, measured in the same run right after the engine stopped (one after the other, not
side by side, on a 2-core machine): a plain Python process (no calarb import) joins the same
group, logs on to the same acceptor port as a second session and, for each trigger packet
(looked up by its MoldUDP64 sequence number), writes a prepared NewOrderSingle to its TCP
socket. The harness replays the same packets at the same pace. Both are stamped by the same
acceptor application, so the acceptor's own decode is in both figures.

Bounded: `--triggers` triggers at most, every wait has a timeout, the engine runs with
`--duration` as a safety net and is stopped with SIGTERM; the child processes are waited for.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import tomli_w

from calarb import build_info
from calarb.fix.apps import FillApplication
from calarb.fix.config import SessionSettings
from calarb.fix.transport import FixAcceptor, install_uvloop
from calarb.itch.transport import (
    LOOPBACK,
    fresh_multicast_address,
    multicast_publisher_socket,
)
from calarb.trading.benchmark import SESSION, VENUE, Pipeline, market_packets

ENGINE_COMP_ID = "CALARB"
FLOOR_COMP_ID = "FLOOR"
_NEW_ORDER_SINGLE = b"D"
_DIRECTORY_PACKETS = 20  # start of day: system event and stock directory, before the market


def run_command(args: argparse.Namespace) -> int:
    result = run_wire2wire(args.triggers, args.pace, args.gap_ms, args.wait_ms, args.seed)
    print(json.dumps(result, indent=2))
    return 0 if result["orders_matched"] else 1


# -- the market and its triggers ----------------------------------------------------------------


def market_with_triggers(triggers: int, seed: int) -> tuple[list[bytes], list[int]]:
    """The packets up to the `triggers`-th packet after which the in-process tick2trade
    pipeline sent an order, and those packets' indices."""
    pipeline = Pipeline()
    found: list[int] = []
    packets: list[bytes] = []
    count = 2_000 + 200 * triggers
    while len(found) < triggers:
        packets = market_packets(count, seed)
        pipeline, found = Pipeline(), []
        sent = 0
        for index, packet in enumerate(packets):
            now = time.monotonic_ns()
            for message in pipeline.receiver.on_packet(packet, now):
                pipeline.engine.on_market_data(VENUE, message, now)
            if pipeline.engine.orders_sent > sent:
                sent = pipeline.engine.orders_sent
                found.append(index)
                if len(found) == triggers:
                    break
            if pipeline.outbox:
                pipeline.answer()
        if len(found) < triggers:
            if count > 500_000:
                break
            count *= 2
    return packets[: found[-1] + 1] if found else packets, found


def engine_config(group: str, port: int, fix_port: int, retransmission_port: int) -> dict:
    """The `calarb run` file: the tick2trade benchmark's pair, thresholds and limits."""
    return {
        "engine": {"timer_interval_ms": 10, "reconcile_timeout_ms": 500},
        "risk": {
            "max_order_quantity": 100_000, "max_position": 1_000_000,
            "max_gross_exposure": 10**15, "max_net_exposure": 10**15,
            "max_daily_loss": 10**15, "max_orders_per_window": 10**9,
            "max_open_orders": 10**6,
        },
        "pairs": [
            {
                "leg_a": "AAA", "leg_b": "BBB", "hedge": "ols", "zscore_halflife": 500,
                "entry": 1.0, "exit": 0.2, "stop": 6.0, "size": 100,
                "leg_timeout_ms": 10**6, "min_observations": 300,
            }
        ],
        "venues": [
            {
                "name": VENUE,
                "fix": {
                    "BeginString": "FIX.4.4", "SenderCompID": ENGINE_COMP_ID,
                    "TargetCompID": VENUE, "SocketConnectHost": LOOPBACK,
                    "SocketConnectPort": fix_port, "HeartBtInt": 30,
                },
                "feed": {
                    "group": group, "port": port, "retransmission_host": LOOPBACK,
                    "retransmission_port": retransmission_port, "session": SESSION.decode().strip(),
                },
            }
        ],
    }  # fmt: skip


# -- the acceptor -------------------------------------------------------------------------------


class StampingApplication(FillApplication):
    """Stamps each NewOrderSingle on arrival (monotonic ns), then fills it."""

    def __init__(self, arrivals: list[int]) -> None:
        super().__init__()
        self.arrivals = arrivals

    def on_message(self, session, message) -> None:
        if message.msg_type == _NEW_ORDER_SINGLE:
            self.arrivals.append(time.monotonic_ns())
        super().on_message(session, message)


# -- the floor -----------------------------------------------------------------------------------

FLOOR_SCRIPT = r"""
import socket, struct, sys, time
group, port, fix_port, first_trigger_seq, count, sending_time = sys.argv[1:7]
port, fix_port, count = int(port), int(fix_port), int(count)
triggers = [int(s) for s in sys.argv[7:]]
def frame(body):
    head = b"8=FIX.4.4\x019=%d\x01" % len(body)
    return b"%s%s10=%03d\x01" % (head, body, (sum(head) + sum(body)) & 0xFF)
stamp = sending_time.encode()
logon = frame(b"35=A\x0134=1\x0149=FLOOR\x0152=%s\x0156=BENCH\x0198=0\x01108=30\x01" % stamp)
orders = {}
for n, sequence in enumerate(triggers, 2):
    orders[struct.pack(">Q", sequence)] = frame(
        b"35=D\x0134=%d\x0149=FLOOR\x0152=%s\x0156=BENCH\x0111=F%d\x0121=1\x0138=100\x01"
        b"40=2\x0144=40.0100\x0154=1\x0155=AAA\x0159=0\x0160=%s\x01" % (n, stamp, n, stamp))
feed = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
feed.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
feed.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
feed.bind((group, port))
feed.setsockopt(socket.IPPROTO_IP, socket.IP_ADD_MEMBERSHIP,
                socket.inet_aton(group) + socket.inet_aton("127.0.0.1"))
fix = socket.create_connection(("127.0.0.1", fix_port))
fix.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
fix.sendall(logon)
fix.recv(4096)
print("ready", flush=True)
feed.settimeout(30.0)
recv, send, get = feed.recv, fix.send, orders.get
sent = 0
try:
    while sent < count:
        data = recv(2048)
        order = get(data[10:18])
        if order is not None:
            send(order)
            sent += 1
except socket.timeout:
    pass
time.sleep(0.2)
"""


# -- the run --------------------------------------------------------------------------------------


def _percentiles_us(values: list[int]) -> tuple[float, float]:
    if not values:
        return 0.0, 0.0
    p50, p99 = np.percentile(np.array(values, dtype=np.int64), [50, 99]).tolist()
    return round(p50 / 1e3, 2), round(p99 / 1e3, 2)


class Harness:
    def __init__(self, packets: list[bytes], triggers: list[int], pace: int, gap_ms: float,
                 wait_ms: float) -> None:  # fmt: skip
        self.packets = packets
        self.triggers = set(triggers)
        self.pace = max(1, pace)
        self.gap_s = gap_ms / 1e3
        self.wait_s = wait_ms / 1e3
        self.group, self.port = fresh_multicast_address()
        self.engine_arrivals: list[int] = []
        self.floor_arrivals: list[int] = []
        self.sock = multicast_publisher_socket(LOOPBACK)
        self.sock.setblocking(True)

    async def replay(self, arrivals: list[int], start: int) -> list[tuple[int, int]]:
        """Send packets[start:], paced; returns (send ns, next packet's send ns) per trigger."""
        sendto, destination = self.sock.sendto, (self.group, self.port)
        windows: list[tuple[int, int]] = []
        since_pause = 0
        for index in range(start, len(self.packets)):
            packet = self.packets[index]
            if index in self.triggers:
                await asyncio.sleep(self.gap_s)
                seen = len(arrivals)
                sent_ns = time.monotonic_ns()
                sendto(packet, destination)
                deadline = sent_ns + int(self.wait_s * 1e9)
                while len(arrivals) == seen and time.monotonic_ns() < deadline:
                    await asyncio.sleep(0.0002)
                await asyncio.sleep(0.002)  # the fills come back before the market moves on
                windows.append((sent_ns, time.monotonic_ns()))
                since_pause = 0
                continue
            sendto(packet, destination)
            since_pause += 1
            if since_pause >= self.pace:
                since_pause = 0
                await asyncio.sleep(0.001)
        return windows

    @staticmethod
    def match(windows: list[tuple[int, int]], arrivals: list[int]) -> list[int]:
        """Per trigger, the first arrival inside its window, minus its send (ns)."""
        latencies = []
        ordered = sorted(arrivals)
        position = 0
        for sent, closed in windows:
            while position < len(ordered) and ordered[position] < sent:
                position += 1
            if position < len(ordered) and ordered[position] <= closed:
                latencies.append(ordered[position] - sent)
        return latencies


async def _run(triggers: int, pace: int, gap_ms: float, wait_ms: float, seed: int,
               folder: Path) -> dict[str, Any]:  # fmt: skip
    packets, trigger_indices = market_with_triggers(triggers, seed)
    harness = Harness(packets, trigger_indices, pace, gap_ms, wait_ms)
    settings = [
        SessionSettings("FIX.4.4", VENUE, ENGINE_COMP_ID, connection_type="acceptor"),
        SessionSettings("FIX.4.4", VENUE, FLOOR_COMP_ID, connection_type="acceptor"),
    ]
    applications = {
        ENGINE_COMP_ID: StampingApplication(harness.engine_arrivals),
        FLOOR_COMP_ID: StampingApplication(harness.floor_arrivals),
    }
    acceptor = FixAcceptor(settings, lambda entry: applications[entry.target_comp_id])
    fix_port = await acceptor.start(LOOPBACK, 0)
    retransmission = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)  # requests: unanswered
    retransmission.bind((LOOPBACK, 0))
    config_path = folder / "wire2wire_engine.toml"
    config = engine_config(harness.group, harness.port, fix_port, retransmission.getsockname()[1])
    config_path.write_bytes(tomli_w.dumps(config).encode())
    planned_s = 30.0 + len(packets) / (harness.pace * 1e3) + triggers * (gap_ms + 10) / 1e3
    engine_log = (folder / "engine.log").open("w")
    engine = subprocess.Popen(
        [sys.executable, "-m", "calarb.cli", "run", "--config", str(config_path),
         "--duration", f"{planned_s:.0f}", "--json"],
        stdout=subprocess.PIPE, stderr=engine_log, text=True, start_new_session=True,
    )  # fmt: skip
    floor = None
    try:
        engine_session = acceptor.sessions[("FIX.4.4", VENUE, ENGINE_COMP_ID)]
        deadline = time.monotonic() + 30.0
        while not engine_session.logged_on:
            if time.monotonic() > deadline or engine.poll() is not None:
                raise RuntimeError(f"the engine did not log on (see {folder / 'engine.log'})")
            await asyncio.sleep(0.01)
        for packet in packets[:_DIRECTORY_PACKETS]:
            harness.sock.sendto(packet, (harness.group, harness.port))
        await asyncio.sleep(0.3)  # the warm-up: feed caught up, session on: trading
        windows = await harness.replay(harness.engine_arrivals, _DIRECTORY_PACKETS)
        await asyncio.sleep(0.05)
        engine.send_signal(signal.SIGTERM)
        out, _ = await asyncio.get_running_loop().run_in_executor(
            None, lambda: engine.communicate(timeout=30)
        )
        engine_summary = json.loads(out) if out.strip() else {}
        latencies = harness.match(windows, harness.engine_arrivals)

        # the floor: same group, same packets, same pace, a plain Python process
        harness.group, harness.port = fresh_multicast_address()
        sequences = [str(index + 1) for index in trigger_indices]  # packet n has sequence n+1
        sending_time = time.strftime("%Y%m%d-%H:%M:%S.000", time.gmtime())
        floor = subprocess.Popen(
            [sys.executable, "-c", FLOOR_SCRIPT, harness.group, str(harness.port),
             str(fix_port), sequences[0], str(len(sequences)), sending_time, *sequences],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
        ready = await asyncio.get_running_loop().run_in_executor(None, floor.stdout.readline)
        if ready.strip() != "ready":
            raise RuntimeError(f"the floor process did not start: {floor.stderr.read()}")
        await asyncio.sleep(0.1)
        floor_windows = await harness.replay(harness.floor_arrivals, 0)
        floor_latencies = harness.match(floor_windows, harness.floor_arrivals)
        await asyncio.get_running_loop().run_in_executor(None, floor.wait, 10)
    finally:
        for child in (engine, floor):
            if child is not None and child.poll() is None:
                child.kill()
                child.wait(5)
        engine_log.close()
        harness.sock.close()
        retransmission.close()
        await acceptor.stop()
    p50, p99 = _percentiles_us(latencies)
    floor_p50, floor_p99 = _percentiles_us(floor_latencies)
    return {
        "benchmark": "wire2wire",
        "mode": build_info()["mode"],
        "triggers": len(windows),
        "orders_matched": len(latencies),
        "orders_received": len(harness.engine_arrivals),
        "packets": len(packets),
        "p50_us": p50,
        "p99_us": p99,
        "floor_p50_us": floor_p50,
        "floor_p99_us": floor_p99,
        "floor_matched": len(floor_latencies),
        "ratio_p50_vs_floor": round(p50 / floor_p50, 2) if floor_p50 else None,
        "engine_tick_to_trade_us": engine_summary.get("tick_to_trade_us"),
        "engine_orders_sent": engine_summary.get("orders_sent"),
        "engine_stages_us": engine_summary.get("stages_us"),
        "engine_feed": next(iter(engine_summary.get("feeds", {}).values()), None),
        "note": (
            "trigger packet sendto() -> NewOrderSingle decoded by the harness's FIX acceptor, "
            "monotonic clock; engine: a `calarb run` process; floor: a plain Python process "
            "(recv the multicast packet, send a prepared NewOrderSingle on its FIX session to "
            "the same acceptor), run right after the engine on the same packets and pace"
        ),
    }


def run_wire2wire(triggers: int = 100, pace: int = 4, gap_ms: float = 5.0,
                  wait_ms: float = 50.0, seed: int = 3) -> dict[str, Any]:  # fmt: skip
    """One run in a fresh event loop (uvloop when installed); files in a temporary folder."""
    install_uvloop()
    with tempfile.TemporaryDirectory(prefix="calarb-wire2wire-") as folder:
        return asyncio.run(_run(triggers, pace, gap_ms, wait_ms, seed, Path(folder)))
