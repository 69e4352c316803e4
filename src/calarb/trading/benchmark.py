"""`calarb bench tick2trade`: ITCH packet bytes to FIX NewOrderSingle bytes, in one process.

The pipeline is the live one, object for object: MoldUDP64 packet -> `MoldReceiver` ->
`TradingEngine.on_market_data` (`ItchBookFeed` decode and book, consolidated top, router,
risk gate, portfolio, `PairModel`, `PairsStrategy`, risk check, route, OMS) ->
`FixOrderGateway` -> the real `FixSession` framing the NewOrderSingle (sequence number,
SendingTime, BodyLength, CheckSum, message store). Nothing goes on a socket: the session is
logged on over bytes with an acceptor `FixSession` in the same process, and the gateway's
flush hands the bytes to that acceptor only after the tick's clock stops (a FillApplication
there fills each order, and its ExecutionReport comes back through the gateway, untimed), so
the loop keeps trading as it would live.

The market is the synthetic cointegrated pair on a real `MatchingEngine`, published as ITCH
5.0 by `ItchPublisher` with one message per MoldUDP64 packet (one packet = one tick). A tick
is timed from before the packet is decoded to after its last message went through the
engine (the order's bytes framed, when it sent one). The headline figures (`p50_us`, and
`ratio_p50_vs_floor`) are tick to trade as the engine defines it: only ticks that sent an
order, from before the packet is decoded to the first NewOrderSingle written; every tick is
reported apart (`all_ticks_us`). The floor, in the same run: one ITCH Add Order unpacked with
one `struct` call plus one complete NewOrderSingle (header, body, BodyLength, CheckSum)
formatted as plain bytes.

`stages_us` splits tick to trade (each stage from the previous stamp of the tick): `decoded`
(packet to the venue's top of book), `book_updated` (consolidated top; router, risk gate,
portfolio and strategy see it), `model_updated` (the pair model's observation), `signal`
(the strategy's decision: rules, sizes, targets), `risk_passed` (the first leg's order
priced from the top of book, then the pre-trade checks: the strategy prices each leg when
the engine takes it), `routed` (venue choice and child order), `fix_encoded` (OMS record,
NewOrderSingle body, the session's framing and message store), `written` (the flush).
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import struct
import subprocess
import sys
import time
from typing import Any

import numpy as np

from calarb import build_info
from calarb.core.clock import LiveClock
from calarb.fix.apps import FillApplication
from calarb.fix.config import SessionSettings
from calarb.fix.session import FixSession
from calarb.itch.codec import ENCODERS
from calarb.itch.moldudp64 import MoldReceiver, encode_packet, session_bytes
from calarb.model.hedge import OlsHedge
from calarb.model.live import PairModel
from calarb.model.signal import SignalRules
from calarb.ops.latency import LatencyRecorder
from calarb.trading.engine import TradingEngine
from calarb.trading.fix_gateway import FixOrderGateway
from calarb.trading.risk import RiskLimits
from calarb.trading.strategy import PairsStrategy, PairStrategyConfig
from calarb.venue.itch_publisher import ItchPublisher
from calarb.venue.matching import MatchingEngine
from calarb.venue.synthetic import BackgroundTraders, FairValueProcess, two_symbol_market

VENUE = "BENCH"
SESSION = session_bytes("BENCH")


def run_command(args: argparse.Namespace) -> int:
    result = run_benchmark(args.ticks, args.warmup, args.seed)
    if not args.no_pure:
        result |= compare_with_pure(result, args.ticks, args.warmup, args.seed)
    print(json.dumps(result, indent=2))
    return 0


def compare_with_pure(result: dict[str, Any], ticks: int, warmup: int, seed: int) -> dict[str, Any]:
    """The same ticks through the interpreted engine: a child process with CALARB_PURE=1
    (every calarb module from its `.py`), run right after this one, in the same sitting."""
    command = [
        sys.executable, "-m", "calarb.cli", "bench", "tick2trade", "--json", "--no-pure",
        "--ticks", str(ticks), "--warmup", str(warmup), "--seed", str(seed),
    ]  # fmt: skip
    env = os.environ | {"CALARB_PURE": "1"}
    done = subprocess.run(command, env=env, capture_output=True, text=True, check=True)
    pure = json.loads(done.stdout)
    if pure["orders"] != result["orders"] or pure["fix_bytes_out"] != result["fix_bytes_out"]:
        raise RuntimeError(
            f"pure and compiled engines disagree on the same ticks: orders {pure['orders']} vs "
            f"{result['orders']}, FIX bytes {pure['fix_bytes_out']} vs {result['fix_bytes_out']}"
        )
    return {
        "pure_p50_us": pure["p50_us"],
        "pure_p99_us": pure["p99_us"],
        "pure_all_ticks_us": pure["all_ticks_us"],
        "pure_floor_p50_us": pure["floor_p50_us"],
        "speedup_vs_pure": round(pure["p50_us"] / result["p50_us"], 2)
        if result["p50_us"]
        else None,
        "speedup_all_ticks_vs_pure": (
            round(pure["all_ticks_us"]["p50"] / result["all_ticks_us"]["p50"], 2)
            if result["all_ticks_us"]["p50"]
            else None
        ),
    }


# -- input -------------------------------------------------------------------------------------


def market_packets(count: int, seed: int) -> list[bytes]:
    """`count` MoldUDP64 packets of one ITCH message each: start of day, then the book
    changes of a synthetic cointegrated pair (AAA ~ BBB)."""
    config = two_symbol_market(seed, noise_orders_per_s=1.0)
    engine = MatchingEngine(config.instruments())
    traders = BackgroundTraders(engine, config, seed, "")
    fair_values = FairValueProcess(config)
    publisher = ItchPublisher(engine.instruments)
    messages = [ENCODERS[m.message_type](m) for m in publisher.start_of_day(0)]
    while len(messages) < count:
        fair_values.step()
        traders.act(fair_values.now_ns, fair_values)
        engine.take_reports()
        messages += publisher.encode(engine.take_book_events())
    return [encode_packet(SESSION, n, [m]) for n, m in enumerate(messages[:count], 1)]


# -- the pipeline ------------------------------------------------------------------------------


class Pipeline:
    """The engine, its FIX gateway on a logged-on session, and the in-process venue session
    that answers (outside the timed ticks)."""

    def __init__(self) -> None:
        clock = LiveClock()
        self.recorder = LatencyRecorder(clock)
        initiator = FixSession(SessionSettings("FIX.4.4", "CALARB", VENUE))
        self.venue_app = FillApplication()
        venue = FixSession(
            SessionSettings("FIX.4.4", VENUE, "CALARB", connection_type="acceptor"),
            application=self.venue_app,
        )
        now, wall = clock.monotonic_ns(), clock.wall_ns()
        initiator.connection_made(now, wall)
        venue.connection_made(now, wall)
        venue.on_bytes(initiator.data_to_send(), now, wall)
        initiator.on_bytes(venue.data_to_send(), now, wall)
        if not initiator.logged_on:
            raise RuntimeError("benchmark FIX sessions did not log on")
        self.initiator = initiator
        self.venue = venue
        self.outbox: list[bytes] = []
        self.bytes_out = 0
        self.gateway = FixOrderGateway(VENUE, initiator, self._hold, clock, recorder=self.recorder)
        self.gateway.connected = True
        model = PairModel("AAA", "BBB", OlsHedge(), zscore_halflife=500)
        strategy = PairsStrategy(
            [
                (
                    PairStrategyConfig(
                        "AAA", "BBB", rules=SignalRules(1.0, 0.2, 6.0), size=100,
                        leg_timeout_ns=10**12, min_observations=300,
                    ),
                    model,
                )
            ]
        )  # fmt: skip
        limits = RiskLimits(
            max_order_quantity=100_000,
            max_position=1_000_000,
            max_gross_exposure=10**15,
            max_net_exposure=10**15,
            max_daily_loss=10**15,
            max_orders_per_window=10**9,
            max_open_orders=10**6,
        )
        self.engine = TradingEngine(
            clock, strategy, {VENUE: self.gateway}, risk_limits=limits, recorder=self.recorder
        )
        self.gateway.attach(self.engine, self.engine.oms, self.engine.router)
        self.receiver = MoldReceiver(SESSION)

    def _hold(self) -> None:
        """The gateway's flush: take the framed bytes (a socket write would go here)."""
        data = self.initiator.data_to_send()
        if data:
            self.outbox.append(data)

    def answer(self) -> None:
        """The venue reads what was sent and its answers come back (untimed)."""
        now, wall = time.monotonic_ns(), time.time_ns()
        while self.outbox:
            data = b"".join(self.outbox)
            self.outbox.clear()
            self.bytes_out += len(data)
            self.venue.on_bytes(data, now, wall)
            self.initiator.on_bytes(self.venue.data_to_send(), now, wall)
            self._hold()


class TickTimes:
    """Per-tick figures of a timed run (ns): every tick's duration; for the ticks that sent
    an order, tick to trade (packet bytes in -> first NewOrderSingle written) and the whole
    tick (every order of the tick framed)."""

    def __init__(self, count: int) -> None:
        self.all_ticks = np.zeros(count, dtype=np.int64)
        self.tick_to_trade = np.zeros(count, dtype=np.int64)
        self.order_ticks = np.zeros(count, dtype=np.int64)
        self.orders = 0

    def trim(self) -> None:
        self.tick_to_trade = self.tick_to_trade[: self.orders]
        self.order_ticks = self.order_ticks[: self.orders]


def run_ticks(pipeline: Pipeline, packets: list[bytes], timed: bool) -> TickTimes:
    """Feed packets; returns the ticks' figures (all zero if not timed)."""
    now = time.monotonic_ns
    on_packet = pipeline.receiver.on_packet
    on_market_data = pipeline.engine.on_market_data
    recorder = pipeline.recorder
    times = TickTimes(len(packets) if timed else 0)
    all_ticks, tick_to_trade, order_ticks = times.all_ticks, times.tick_to_trade, times.order_ticks
    orders = 0
    outbox = pipeline.outbox
    for index, packet in enumerate(packets):
        start = now()
        sent = 0
        for message in on_packet(packet, start):
            on_market_data(VENUE, message, start)
            if not sent:  # the first message of the tick that wrote an order
                sent = recorder.last_tick_to_trade_ns
        end = now()
        if timed:
            all_ticks[index] = end - start
            if sent:
                tick_to_trade[orders] = sent
                order_ticks[orders] = end - start
                orders += 1
        if outbox:
            pipeline.answer()
        if not index & 8191:
            recorder.flush()  # between ticks, as the live engine's timer does
    times.orders = orders
    times.trim()
    return times


# -- the floor ---------------------------------------------------------------------------------

_ADD_ORDER = struct.Struct(">cHH6sQcI8sI")  # ITCH 5.0 Add Order (A), 36 bytes
_NOS = (
    b"35=D\x0134=%d\x0149=CALARB\x0152=%s\x0156=BENCH\x0111=%s\x0121=1\x0138=%d\x0140=2\x01"
    b"44=%s\x0154=%s\x0155=%s\x0159=3\x0160=%s\x01"
)


def floor_sample(add_order: bytes, sequence: int, timestamp: bytes) -> bytes:
    """One Add Order decoded with struct and one NewOrderSingle encoded as plain bytes."""
    _, _, _, _, reference, side, shares, stock, price = _ADD_ORDER.unpack(add_order)
    body = _NOS % (
        sequence, timestamp, b"F%d" % reference, shares, b"%d.%04d" % divmod(price, 10_000),
        b"1" if side == b"B" else b"2", stock.rstrip(), timestamp,
    )  # fmt: skip
    head = b"8=FIX.4.4\x019=%d\x01" % len(body)
    return b"%s%s10=%03d\x01" % (head, body, (sum(head) + sum(body)) & 0xFF)


def run_floor(count: int) -> np.ndarray:
    add_order = _ADD_ORDER.pack(
        b"A", 1, 0, (34_200_000_000_000).to_bytes(6, "big"), 12345, b"B", 100, b"AAA     ",
        400_100,
    )  # fmt: skip
    timestamp = b"20240102-14:30:00.123"
    now = time.monotonic_ns
    durations = np.zeros(count, dtype=np.int64)
    for index in range(count):
        start = now()
        floor_sample(add_order, index, timestamp)
        durations[index] = now() - start
    return durations


# -- the run -----------------------------------------------------------------------------------


def _percentiles_us(durations: np.ndarray) -> dict[str, float]:
    if not len(durations):
        return {"p50": 0.0, "p99": 0.0, "p999": 0.0}
    p50, p99, p999 = np.percentile(durations, [50, 99, 99.9]).tolist()
    return {"p50": round(p50 / 1e3, 3), "p99": round(p99 / 1e3, 3), "p999": round(p999 / 1e3, 3)}


def run_benchmark(ticks: int = 50_000, warmup: int = 5_000, seed: int = 3) -> dict[str, Any]:
    packets = market_packets(warmup + ticks, seed)
    pipeline = Pipeline()
    run_ticks(pipeline, packets[:warmup], timed=False)
    pipeline.recorder.reset()
    orders_before = pipeline.engine.orders_sent
    gc.collect()
    gc.freeze()
    floor = run_floor(min(ticks, 50_000))
    times = run_ticks(pipeline, packets[warmup:], timed=True)
    gc.unfreeze()
    engine = pipeline.engine
    recorder = pipeline.recorder
    tick = _percentiles_us(times.tick_to_trade)
    floor_us = _percentiles_us(floor)
    return {
        "benchmark": "tick2trade",
        "mode": build_info()["mode"],
        "ticks": ticks,
        "orders": engine.orders_sent - orders_before,
        "ticks_with_order": times.orders,
        "fills": len(engine.fills),
        "p50_us": tick["p50"],
        "p99_us": tick["p99"],
        "p999_us": tick["p999"],
        "floor_p50_us": floor_us["p50"],
        "floor_p99_us": floor_us["p99"],
        "ratio_p50_vs_floor": round(tick["p50"] / floor_us["p50"], 2) if floor_us["p50"] else None,
        "tick_to_trade_us": recorder.tick_to_trade_us(),
        "order_tick_us": _percentiles_us(times.order_ticks),
        "all_ticks_us": _percentiles_us(times.all_ticks),
        "stages_us": recorder.order_stage_summary_us(),
        "stages": {name: s["p50"] for name, s in recorder.order_stage_summary_us().items()},
        "stages_all_ticks_us": recorder.stage_summary_us(),
        "fix_bytes_out": pipeline.bytes_out,
        "rejects": dict(engine.rejects),
        "note": (
            "p50/p99/p999 and ratio: ticks that sent an order, packet bytes in to the first "
            "NewOrderSingle written (tick_to_trade_us: the same from the engine's HdrHistogram); "
            "stages_us: the stages of those ticks; order_tick_us: those ticks until every "
            "order of the tick was framed; all_ticks_us and stages_all_ticks_us: every tick, "
            "with or without an order; floor: struct-decode one ITCH Add Order + format one "
            "NewOrderSingle as plain bytes"
        ),
    }
