"""`calarb bench fix`: calarb's FIX engine against QuickFIX and simplefix, in one run.

1. Encode NewOrderSingle (typed values -> framed bytes with header, BodyLength, CheckSum) and
   decode ExecutionReport (bytes -> the report's 16 fields as Python values), alternating
   libraries over several rounds; the best round of each is reported (msgs/s). Also timed,
   calarb only: encode ExecutionReport (`report_encode_msgs_per_s`, the venue's encoder,
   `fix.messages.encode_execution_report`, plus the session's framing).
2. Order round trip over loopback TCP: an initiator sends NewOrderSingle, an acceptor in
   another process answers with an ExecutionReport. `--orders` sequential round trips give
   p50/p99/p99.9 (microseconds); the same number sent back to back gives orders/s. The two
   engines alternate (two halves each) so that both see the same machine load. calarb's
   pair uses its durable FileStore without fsync (QuickFIX's FileStore flushes but never
   syncs: like with like), then again with fsync on every write; QuickFIX's pair (both sides
   QuickFIX, FileStore) runs in its own processes.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from calarb.core.clock import LiveClock
from calarb.core.types import Side
from calarb.fix.codec import decode
from calarb.fix.config import SessionSettings
from calarb.fix.messages import (
    ExecutionReport,
    decode_execution_report,
    encode_execution_report,
    encode_new_order_single,
)
from calarb.fix.session import AppMessageReceived, FixSession

REPORT_TAGS = (6, 11, 14, 17, 31, 32, 37, 38, 39, 44, 54, 55, 60, 150, 151)


# --- codec -----------------------------------------------------------------------------------


_SAMPLE_REPORT = ExecutionReport(
    "O123456", "E987654", "F", "2", "AAPL", Side.BUY, 0, 100, 1502500, "C1000001", 100,
    1502500, 100, 1502500,
)  # fmt: skip


def _sample_report_bytes() -> bytes:
    session = FixSession(SessionSettings("FIX.4.4", "VENUE", "CLIENT"))
    body = encode_execution_report(_SAMPLE_REPORT, b"20240101-12:00:00.000")
    session.send_body(b"8", body, time.monotonic_ns(), time.time_ns())
    return session.data_to_send()


def calarb_report_encode(count: int) -> float:
    """ExecutionReports encoded and framed per second (the venue's side of the codec)."""
    session = FixSession(SessionSettings("FIX.4.4", "VENUE", "CLIENT", persist_messages=False))
    clock = LiveClock()
    transact = b"20240101-12:00:00.000"
    send_body, take = session.send_body, session.data_to_send
    report = _SAMPLE_REPORT
    start = time.perf_counter()
    for _ in range(count):
        send_body(
            b"8", encode_execution_report(report, transact), clock.monotonic_ns(), clock.wall_ns()
        )
        take()
    return count / (time.perf_counter() - start)


def calarb_codec(count: int, raw_report: bytes) -> tuple[float, float]:
    session = FixSession(SessionSettings("FIX.4.4", "CLIENT", "VENUE", persist_messages=False))
    clock = LiveClock()
    transact = b"20240101-12:00:00.000"
    send_body, take = session.send_body, session.data_to_send
    start = time.perf_counter()
    for n in range(count):
        send_body(
            b"D",
            encode_new_order_single(b"C%d" % n, b"AAPL", Side.BUY, 100, 1502500, transact),
            clock.monotonic_ns(),
            clock.wall_ns(),
        )
        take()
    encode_rate = count / (time.perf_counter() - start)
    start = time.perf_counter()
    for _ in range(count):
        decode_execution_report(decode(raw_report))
    return encode_rate, count / (time.perf_counter() - start)


def quickfix_codec(count: int, raw_report: bytes) -> tuple[float, float]:
    import quickfix as fix

    start = time.perf_counter()
    for n in range(count):
        message = fix.Message()
        header = message.getHeader()
        header.setField(fix.BeginString("FIX.4.4"))
        header.setField(fix.MsgType("D"))
        header.setField(fix.SenderCompID("CLIENT"))
        header.setField(fix.TargetCompID("VENUE"))
        header.setField(fix.MsgSeqNum(n + 1))
        header.setField(fix.SendingTime())
        message.setField(fix.ClOrdID(f"C{n}"))
        message.setField(fix.HandlInst("1"))
        message.setField(fix.OrderQty(100))
        message.setField(fix.OrdType("2"))
        message.setField(fix.Price(150.25))
        message.setField(fix.Side("1"))
        message.setField(fix.Symbol("AAPL"))
        message.setField(fix.TimeInForce("0"))
        message.setField(fix.TransactTime())
        message.toString()
    encode_rate = count / (time.perf_counter() - start)
    text = raw_report.decode()
    start = time.perf_counter()
    for _ in range(count):
        message = fix.Message()
        message.setString(text, True)
        [message.getField(tag) for tag in REPORT_TAGS]
    return encode_rate, count / (time.perf_counter() - start)


def simplefix_codec(count: int, raw_report: bytes) -> tuple[float, float]:
    import simplefix

    start = time.perf_counter()
    for n in range(count):
        message = simplefix.FixMessage()
        message.append_pair(8, "FIX.4.4", header=True)
        message.append_pair(35, "D", header=True)
        message.append_pair(34, n + 1, header=True)
        message.append_pair(49, "CLIENT", header=True)
        message.append_utc_timestamp(52, precision=3, header=True)
        message.append_pair(56, "VENUE", header=True)
        message.append_pair(11, f"C{n}")
        message.append_pair(21, "1")
        message.append_pair(38, 100)
        message.append_pair(40, "2")
        message.append_pair(44, "150.25")
        message.append_pair(54, "1")
        message.append_pair(55, "AAPL")
        message.append_pair(59, "0")
        message.append_utc_timestamp(60, precision=3)
        message.encode()
    encode_rate = count / (time.perf_counter() - start)
    parser = simplefix.FixParser()
    start = time.perf_counter()
    for _ in range(count):
        parser.append_buffer(raw_report)
        message = parser.get_message()
        [message.get(tag) for tag in REPORT_TAGS]
    return encode_rate, count / (time.perf_counter() - start)


# --- round trip ------------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _percentiles(samples_ns: list[int]) -> dict[str, float]:
    ordered = sorted(samples_ns)

    def pick(q: float) -> float:
        return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))] / 1000, 1)

    return {
        "p50": pick(0.5),
        "p99": pick(0.99),
        "p999": pick(0.999),
        "mean": round(statistics.fmean(ordered) / 1000, 1),
    }


def _start_calarb_venue(folder: Path, port: int, fsync: bool) -> subprocess.Popen:
    config = folder / f"venue-{port}.toml"
    config.write_text(
        '[default]\nConnectionType = "acceptor"\nSenderCompID = "VENUE"\n'
        f'SocketAcceptPort = {port}\nFileStorePath = "{folder / f"venue-store-{port}"}"\n'
        f"FileStoreSync = {'true' if fsync else 'false'}\nResetOnLogon = true\n"
        '[[session]]\nBeginString = "FIX.4.4"\nTargetCompID = "CLIENT"\n'
    )
    process = subprocess.Popen(
        [sys.executable, "-m", "calarb.cli", "fix", "serve", "--config", str(config), "--app", "fill"],
        stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    process.stdout.readline()  # the "listening" banner
    return process


async def _calarb_round_trips(port: int, folder: Path, orders: int, fsync: bool) -> dict:
    from calarb.fix.store import FileStore
    from calarb.fix.transport import FixInitiator

    loop = asyncio.get_running_loop()
    waiter: list[asyncio.Future] = []
    received = [0]

    target = [0]

    def on_event(_session, event) -> None:
        if isinstance(event, AppMessageReceived):
            received[0] += 1
            if waiter and not waiter[0].done() and received[0] >= target[0]:
                waiter[0].set_result(None)

    settings = SessionSettings(
        "FIX.4.4", "CLIENT", "VENUE", port=port, reset_on_logon=True, fsync=fsync
    )
    store = FileStore(folder / f"client-{port}.journal", fsync=fsync)
    client = FixInitiator(settings, store=store, on_event=on_event)
    client.start()
    await client.wait_logged_on()
    clock = time.perf_counter_ns
    transact = b"20240101-12:00:00.000"
    samples = []
    for n in range(orders):
        future = loop.create_future()
        waiter[:] = [future]
        target[0] = received[0] + 1
        start = clock()
        client.send_body(
            b"D", encode_new_order_single(b"C%d" % n, b"AAPL", Side.BUY, 100, 1502500, transact)
        )
        await future
        samples.append(clock() - start)
    received[0] = 0
    target[0] = orders
    all_done = loop.create_future()
    waiter[:] = [all_done]
    start = clock()
    session = client.session
    for n in range(orders):
        session.send_body(
            b"D",
            encode_new_order_single(b"P%d" % n, b"AAPL", Side.BUY, 100, 1502500, transact),
            client.clock.monotonic_ns(),
            client.clock.wall_ns(),
        )
        if n % 64 == 63:
            client.flush()
            await asyncio.sleep(0)
    client.flush()
    try:
        await asyncio.wait_for(all_done, 120)
    except TimeoutError:
        raise RuntimeError(f"only {received[0]} of {orders} pipelined reports arrived") from None
    elapsed = clock() - start
    await client.stop()
    return {"rtt_ns": samples, "orders": orders, "elapsed_ns": elapsed}


def calarb_round_trips(folder: Path, orders: int, fsync: bool) -> dict:
    from calarb.fix.transport import install_uvloop

    port = _free_port()
    venue = _start_calarb_venue(folder, port, fsync)
    try:
        install_uvloop()
        return asyncio.run(_calarb_round_trips(port, folder, orders, fsync))
    finally:
        venue.terminate()
        venue.wait(10)


def quickfix_round_trips(folder: Path, orders: int) -> dict:
    port = _free_port()
    peer = [sys.executable, "-m", "calarb.fix.quickfix_peer", "--port", str(port), "--reset"]
    acceptor = subprocess.Popen(
        [*peer, "--role", "acceptor", "--sender", "VENUE", "--target", "CLIENT", "--quiet",
         "--store", str(folder / "qa")],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        acceptor.stdout.readline()
        initiator = subprocess.run(
            [*peer, "--role", "initiator", "--sender", "CLIENT", "--target", "VENUE",
             "--store", str(folder / "qi"), "--bench-orders", str(orders)],
            capture_output=True, text=True, timeout=600, stdin=subprocess.DEVNULL,
        )  # fmt: skip
        result = next(
            json.loads(line) for line in initiator.stdout.splitlines() if '"bench"' in line
        )
    finally:
        acceptor.stdin.write("stop\n")
        acceptor.stdin.flush()
        try:
            acceptor.wait(15)
        except subprocess.TimeoutExpired:
            acceptor.kill()
    return {"rtt_ns": result["rtt_ns"], "orders": orders, "elapsed_ns": result["pipelined_ns"]}


def _merge(halves: list[dict]) -> dict:
    """Round-trip samples and pipelined runs of several alternating halves, summarised."""
    samples = [sample for half in halves for sample in half["rtt_ns"]]
    orders = sum(half["orders"] for half in halves)
    elapsed = sum(half["elapsed_ns"] for half in halves)
    return {"rtt_us": _percentiles(samples), "orders_per_s": round(orders / (elapsed / 1e9))}


def run_benchmark(orders: int, codec_messages: int, rounds: int, fsync_orders: int) -> dict:
    raw_report = _sample_report_bytes()
    libraries = {"calarb": calarb_codec, "quickfix": quickfix_codec, "simplefix": simplefix_codec}
    best: dict[str, list[float]] = {name: [0.0, 0.0] for name in libraries}
    best_report_encode = 0.0
    for _ in range(rounds):
        for name, run in libraries.items():
            encode_rate, decode_rate = run(codec_messages, raw_report)
            best[name][0] = max(best[name][0], encode_rate)
            best[name][1] = max(best[name][1], decode_rate)
        best_report_encode = max(best_report_encode, calarb_report_encode(codec_messages))
    with tempfile.TemporaryDirectory(prefix="calarb-bench-fix-") as tmp:
        folder = Path(tmp)
        calarb_halves, quickfix_halves = [], []
        for _ in range(2):  # alternate engines so both see the same machine load
            calarb_halves.append(calarb_round_trips(folder, orders // 2, fsync=False))
            quickfix_halves.append(quickfix_round_trips(folder, orders // 2))
        calarb, quickfix = _merge(calarb_halves), _merge(quickfix_halves)
        calarb_fsync = _merge([calarb_round_trips(folder, fsync_orders, fsync=True)])
    result = {
        "encode_msgs_per_s": round(best["calarb"][0]),
        "decode_msgs_per_s": round(best["calarb"][1]),
        "report_encode_msgs_per_s": round(best_report_encode),
        "quickfix_encode_msgs_per_s": round(best["quickfix"][0]),
        "quickfix_decode_msgs_per_s": round(best["quickfix"][1]),
        "simplefix_encode_msgs_per_s": round(best["simplefix"][0]),
        "simplefix_decode_msgs_per_s": round(best["simplefix"][1]),
        "rtt_us": calarb["rtt_us"],
        "quickfix_rtt_us": quickfix["rtt_us"],
        "orders_per_s": calarb["orders_per_s"],
        "quickfix_orders_per_s": quickfix["orders_per_s"],
        "rtt_fsync_us": calarb_fsync["rtt_us"],
        "orders_per_s_fsync": calarb_fsync["orders_per_s"],
        "orders": orders,
        "fsync_orders": fsync_orders,
        "cpu_count": os.cpu_count(),
        "load_average_1m": round(os.getloadavg()[0], 2),
    }
    result["ratios"] = {
        "encode_vs_quickfix": round(
            result["encode_msgs_per_s"] / result["quickfix_encode_msgs_per_s"], 2
        ),
        "decode_vs_quickfix": round(
            result["decode_msgs_per_s"] / result["quickfix_decode_msgs_per_s"], 2
        ),
        "rtt_p50_vs_quickfix": round(result["rtt_us"]["p50"] / result["quickfix_rtt_us"]["p50"], 2),
        "throughput_vs_quickfix": round(
            result["orders_per_s"] / result["quickfix_orders_per_s"], 2
        ),
    }
    return result


def run_command(args: argparse.Namespace) -> int:
    result = run_benchmark(args.orders, args.codec_messages, args.rounds, args.fsync_orders)
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        for key, value in result.items():
            print(f"{key}: {value}")
    return 0
