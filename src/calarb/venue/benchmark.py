"""`calarb bench matching`: requests per second through the matching engine alone, and the
latency of one order through the FIX gateway (`gateway_us`).

The request stream is recorded first (untimed) by driving a scratch engine with a seeded
generator, so it only ever cancels or replaces orders that are live; the same stream is then
replayed on a fresh engine under the timer. The mix: passive adds at and near the touch and
away from it, cancels, replaces (size down keeping priority, size up, price moves) and
marketable orders (crossing limits, IOC, FOK, market), over a drifting mid price.

`gateway_us` times the venue's whole order-entry path in one process, without sockets: a
framed NewOrderSingle (built beforehand by a real client FixSession) goes into the venue's
FixSession (`on_bytes`: framing, checksum, session checks), the VenueGateway parses it, checks
limits, calls the engine and formats the ExecutionReports, and the clock stops when the
session hands back the report bytes (`data_to_send`). Half the orders rest (one report),
half are marketable IOC orders that fill (two reports).
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import platform
import random
import time
from collections import Counter
from collections.abc import Callable
from typing import Any

from calarb.core.clock import LiveClock
from calarb.core.types import Instrument, Side
from calarb.venue.matching import MatchingEngine
from calarb.venue.orders import OrdType, TimeInForce

SUBMIT, CANCEL, REPLACE = 0, 1, 2
Request = tuple[int, tuple[Any, ...]]


def benchmark_instruments(symbol_count: int) -> list[Instrument]:
    return [Instrument(f"SYM{index}", locate=index + 1) for index in range(symbol_count)]


def record_order_flow(
    request_count: int, seed: int = 1, symbol_count: int = 4, target_live_per_symbol: int = 400
) -> tuple[list[Request], Counter[str]]:
    """A realistic request stream and the count of each kind of request in it."""
    rng = random.Random(seed)
    instruments = benchmark_instruments(symbol_count)
    engine = MatchingEngine(instruments)
    symbols = [instrument.symbol for instrument in instruments]
    tick = instruments[0].tick_size
    mids = {symbol: 1_000_000 + rng.randrange(-500, 500) * tick for symbol in symbols}
    participants = [f"P{index:02d}" for index in range(24)]
    live: list[int] = []  # candidate order ids (some may have traded away)
    requests: list[Request] = []
    mix: Counter[str] = Counter()
    buy, sell = Side.BUY, Side.SELL

    def pick_live() -> int | None:
        while live:
            index = rng.randrange(len(live))
            order_id = live[index]
            if engine.live_quantity(order_id):
                return order_id
            live[index] = live[-1]
            live.pop()
        return None

    for timestamp in range(1, request_count + 1):
        symbol = symbols[rng.randrange(len(symbols))]
        if rng.random() < 0.02:
            mids[symbol] += tick if rng.random() < 0.5 else -tick
        mid = mids[symbol]
        draw = rng.random()
        over_target = engine.open_order_count > target_live_per_symbol * len(symbols)
        if draw < 0.45 and not over_target:
            side = buy if rng.random() < 0.5 else sell
            where = rng.random()
            if where < 0.6:
                ticks = rng.randrange(1, 3)  # at or next to the touch
                mix["add_at_touch"] += 1
            elif where < 0.85:
                ticks = rng.randrange(3, 8)
                mix["add_near"] += 1
            else:
                ticks = rng.randrange(8, 60)
                mix["add_away"] += 1
            price = mid - ticks * tick if side is buy else mid + ticks * tick
            args = (
                timestamp, rng.choice(participants), f"C{timestamp}", symbol, side,
                100 * rng.randrange(1, 11), price,
            )  # fmt: skip
            requests.append((SUBMIT, args))
            order_id = engine.submit(*args)
            if engine.live_quantity(order_id):
                live.append(order_id)
        elif draw < 0.78:
            order_id = pick_live()
            if order_id is None:
                continue
            state = engine.order(order_id)
            assert state is not None
            args = (timestamp, state.participant, order_id, f"C{timestamp}")
            requests.append((CANCEL, args))
            engine.cancel(*args)
            mix["cancel"] += 1
        elif draw < 0.88:
            order_id = pick_live()
            if order_id is None:
                continue
            state = engine.order(order_id)
            assert state is not None
            kind = rng.random()
            quantity, price = state.quantity, state.price
            if kind < 0.4 and state.leaves > 100:
                quantity -= 100 * rng.randrange(1, state.leaves // 100)
                mix["replace_size_down"] += 1
            elif kind < 0.7:
                quantity += 100 * rng.randrange(1, 5)
                mix["replace_size_up"] += 1
            else:
                step = rng.randrange(1, 4) * tick
                price += -step if state.side is buy else step  # away from the touch
                if rng.random() < 0.5:
                    price -= 2 * (-step if state.side is buy else step)  # toward it
                mix["replace_price"] += 1
            args = (timestamp, state.participant, order_id, f"C{timestamp}", quantity, price)
            requests.append((REPLACE, args))
            new_id = engine.replace(*args)
            if new_id != order_id and engine.live_quantity(new_id):
                live.append(new_id)
        else:
            side = buy if rng.random() < 0.5 else sell
            best = engine.best_ask(symbol) if side is buy else engine.best_bid(symbol)
            reference = best if best is not None else mid
            through = rng.randrange(0, 3) * tick
            price = reference + through if side is buy else reference - through
            style = rng.random()
            order_type, time_in_force = OrdType.LIMIT, TimeInForce.DAY
            if style < 0.5:
                mix["marketable_limit"] += 1
            elif style < 0.75:
                time_in_force = TimeInForce.IOC
                mix["marketable_ioc"] += 1
            elif style < 0.9:
                order_type, price = OrdType.MARKET, 0
                mix["market"] += 1
            else:
                time_in_force = TimeInForce.FOK
                mix["marketable_fok"] += 1
            args = (
                timestamp, rng.choice(participants), f"C{timestamp}", symbol, side,
                100 * rng.randrange(1, 16), price, order_type, time_in_force,
            )  # fmt: skip
            requests.append((SUBMIT, args))
            order_id = engine.submit(*args)
            if engine.live_quantity(order_id):
                live.append(order_id)
        if len(engine.reports) > 4096:
            engine.take_reports()
            engine.take_book_events()
    return requests, mix


def replay(engine: MatchingEngine, requests: list[Request]) -> tuple[int, int]:
    """Send the requests; returns (reports, book events) produced."""
    calls: tuple[Callable[..., Any], ...] = (engine.submit, engine.cancel, engine.replace)
    report_count = event_count = 0
    for index, (kind, args) in enumerate(requests):
        calls[kind](*args)
        if not index & 1023:
            report_count += len(engine.take_reports())
            event_count += len(engine.take_book_events())
    report_count += len(engine.take_reports())
    event_count += len(engine.take_book_events())
    return report_count, event_count


def run_matching_benchmark(
    request_count: int = 300_000, seed: int = 1, symbol_count: int = 4, repeat: int = 3
) -> dict[str, Any]:
    requests, mix = record_order_flow(request_count, seed, symbol_count)
    best = best_cpu = float("inf")
    reports = events = 0
    trades = 0
    # The recorded stream is harness data: freeze it so the collector does not rescan it. The
    # engine's own objects are still collected as usual (the collector stays enabled).
    gc.collect()
    gc.freeze()
    try:
        for _ in range(repeat):
            engine = MatchingEngine(benchmark_instruments(symbol_count))
            start, start_cpu = time.perf_counter(), time.process_time()
            reports, events = replay(engine, requests)
            best = min(best, time.perf_counter() - start)
            best_cpu = min(best_cpu, time.process_time() - start_cpu)
            trades = engine.match_count
            del engine
            gc.collect()
    finally:
        gc.unfreeze()
    return {
        "benchmark": "matching",
        "matching_orders_per_s": round(len(requests) / best),
        # per second of this process's CPU time: the engine's own speed on a shared machine
        "matching_orders_per_cpu_s": round(len(requests) / best_cpu),
        "load_average_1m": round(os.getloadavg()[0], 2),
        "requests": len(requests),
        "seconds": round(best, 4),
        "repeat": repeat,
        "trades": trades,
        "reports": reports,
        "book_events": events,
        "mix": dict(sorted(mix.items())),
        "symbols": symbol_count,
        "seed": seed,
        "gc": "enabled; the pre-recorded request stream is frozen out of collection",
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
    }


def _percentile_us(sorted_ns: list[int], fraction: float) -> float:
    index = min(len(sorted_ns) - 1, int(fraction * len(sorted_ns)))
    return round(sorted_ns[index] / 1000.0, 2)


def run_gateway_benchmark(order_count: int = 20_000, seed: int = 1) -> dict[str, Any]:
    """Latency of one NewOrderSingle through the venue's FIX session and gateway, in µs."""
    from calarb.fix.config import SessionSettings
    from calarb.fix.messages import encode_new_order_single
    from calarb.fix.session import FixSession
    from calarb.fix.timefmt import TimestampFormatter
    from calarb.venue.config import ParticipantConfig
    from calarb.venue.gateway import VenueGateway, acceptor_settings

    rng = random.Random(seed)
    clock = LiveClock()
    instrument = Instrument("SYM0", locate=1)
    engine = MatchingEngine([instrument])
    participant = ParticipantConfig("BENCH", "bench", "bench")
    gateway = VenueGateway(engine, [participant], clock.monotonic_ns, clock, exec_id_prefix="B-")
    (settings,) = acceptor_settings("VENUE", [participant], port=0)
    venue = FixSession(settings, application=gateway, authenticate=gateway.authenticate)
    client = FixSession(
        SessionSettings(
            "FIX.4.4", "BENCH", "VENUE", "initiator", 30, username="bench", password="bench"
        ),
    )
    now = clock.monotonic_ns()
    client.connection_made(now, clock.wall_ns())
    venue.connection_made(now, clock.wall_ns())
    for _ in range(4):  # Logon both ways
        venue.on_bytes(client.data_to_send(), clock.monotonic_ns(), clock.wall_ns())
        client.on_bytes(venue.data_to_send(), clock.monotonic_ns(), clock.wall_ns())
    if not (venue.logged_on and client.logged_on):
        raise RuntimeError("benchmark sessions did not log on")
    gateway.participants["BENCH"].session = venue
    tick = instrument.tick_size
    mid = 1_000_000
    depth = 10 * order_count * 100  # the background maker never runs out
    engine.submit(now, "MAKER", "bid", "SYM0", Side.BUY, depth, mid - tick)
    engine.submit(now, "MAKER", "ask", "SYM0", Side.SELL, depth, mid + tick)
    engine.take_reports()
    engine.take_book_events()
    transact = TimestampFormatter()(clock.wall_ns())
    wire: list[tuple[str, bytes]] = []
    for number in range(order_count):  # client-side framing, untimed
        side = Side.BUY if rng.random() < 0.5 else Side.SELL
        away = -1 if side is Side.BUY else 1
        if number % 2:
            kind, price, tif = "marketable_ioc", mid - away * tick, b"3"
        else:
            kind, price, tif = "passive_day", mid + away * rng.randrange(5, 40) * tick, b"0"
        body = encode_new_order_single(b"C%d" % number, b"SYM0", side, 100, price, transact, tif)
        client.send_body(b"D", body, clock.monotonic_ns(), clock.wall_ns())
        wire.append((kind, client.data_to_send()))
    timings: dict[str, list[int]] = {"passive_day": [], "marketable_ioc": []}
    reports = 0
    perf = time.perf_counter_ns
    monotonic, wall = clock.monotonic_ns, clock.wall_ns
    gc.collect()
    for kind, raw in wire:
        started = perf()
        venue.on_bytes(raw, monotonic(), wall())
        out = venue.data_to_send()
        timings[kind].append(perf() - started)
        reports += out.count(b"\x0135=8\x01")
        engine.take_book_events()  # market data is not part of this path
    every = sorted(timings["passive_day"] + timings["marketable_ioc"])
    expected = len(timings["passive_day"]) + 2 * len(timings["marketable_ioc"])
    if reports != expected or engine.match_count != len(timings["marketable_ioc"]):
        raise RuntimeError(f"gateway benchmark: {reports} reports, expected {expected}")
    by_kind = {}
    for kind, values in timings.items():
        values.sort()
        by_kind[kind] = {"p50": _percentile_us(values, 0.5), "p99": _percentile_us(values, 0.99)}
    return {
        "gateway_us": {
            "p50": _percentile_us(every, 0.5),
            "p99": _percentile_us(every, 0.99),
            "p999": _percentile_us(every, 0.999),
        },
        "gateway_by_kind_us": by_kind,
        "gateway_orders": len(every),
        "gateway_reports": reports,
        "gateway_path": (
            "NewOrderSingle bytes -> FixSession.on_bytes -> VenueGateway -> MatchingEngine -> "
            "ExecutionReport bytes (data_to_send); one process, no sockets, LiveClock"
        ),
    }


def run_command(args: argparse.Namespace) -> int:
    result = run_matching_benchmark(args.orders, args.seed, args.symbols, args.repeat)
    if args.gateway_orders:
        result.update(run_gateway_benchmark(args.gateway_orders, args.seed))
    if args.json:
        print(json.dumps(result))
    else:
        print(
            f"matching engine: {result['matching_orders_per_s']:,} requests/s "
            f"({result['requests']:,} requests, {result['trades']:,} trades, best of "
            f"{result['repeat']})"
        )
        if "gateway_us" in result:
            gateway = result["gateway_us"]
            print(
                f"gateway: one order FIX bytes in -> ExecutionReport bytes out p50 "
                f"{gateway['p50']} µs, p99 {gateway['p99']} µs ({result['gateway_orders']:,} orders)"
            )
    return 0
