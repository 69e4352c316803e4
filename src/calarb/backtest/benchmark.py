"""`calarb bench backtest`: events/s of a calarb backtest over one generated ITCH file (full
L3 books of every symbol, a pairs strategy over all symbols), with NautilusTrader and
hftbacktest on the same data when they are installed (the `bench` extra).

calarb's figure is the fast replay (`run_itch_backtest(fast=True)`, compiled books; its Numba
kernels are compiled in a warm-up run first and `warmup_s` says how long that took).
`slow_events_per_s` is the slow path (every message through the Python books) over the first
`--slow-messages` messages, and `speedup_same_prefix` compares both paths on that prefix
(which must send the same orders, or the benchmark fails).

The peers (`calarb.backtest.peers`, the `bench` extra) replay the same file after calarb, in
the same process: NautilusTrader's BacktestEngine (L3_MBO book, order book deltas, a trivial
strategy subscribed to every symbol) and hftbacktest (L3 FIFO queue model). Each counts its
own events (`*_events_per_s`: deltas, L3 events; calarb's `events` are ITCH messages plus
the engine's scheduled deliveries), so the ratios are not a quotient of those: `ratio_vs_*`
is the peer's replay time over calarb's for the same file, i.e. the ratio of input messages
replayed per second. `--no-peers` leaves them out.
"""

from __future__ import annotations

import argparse
import gc
import importlib.util
import json
import tempfile
import time
from pathlib import Path

import numpy as np

from calarb.backtest.config import BacktestConfig
from calarb.backtest.replay import load_itch_source, run_itch_backtest
from calarb.backtest.replay_kernel import ReplayKernel
from calarb.itch.generate import generate_itch_file

PEERS = (("nautilus", "nautilus_trader"), ("hftbacktest", "hftbacktest"))


def bench_config(symbols: int) -> BacktestConfig:
    return BacktestConfig(
        {
            "backtest": {"seed": 1, "sample_ms": 1000, "venue_names": ["BENCH"]},
            "venues": {
                "default": {
                    "order_latency": 50,
                    "feed_latency": 20,
                    "fees": {"taker": 30, "maker": -20},
                }
            },  # fmt: skip
            "strategy": {
                "auto_pairs": max(1, symbols // 2),
                "entry": 2.0,
                "exit": 0.5,
                "size": 100,
                "order_style": "ioc",
                "min_observations": 200,
            },  # fmt: skip
            "risk": {"max_position": 5000, "max_orders_per_window": 1000},
        },
        "bench",
    )


def write_prefix(path: Path, messages: int, out: Path) -> int:
    """The first `messages` messages of an ITCH file, as a file; returns how many."""
    source = load_itch_source(path)
    count = min(messages, source.messages)
    end = int(source.offsets[count - 1] + source.lengths[count - 1]) if count else 0
    out.write_bytes(source.buffer[:end].tobytes())
    return count


def _compile_kernels(itch: Path) -> None:
    """Compile every kernel of the fast replay (Numba caches them on disk afterwards)."""
    source = load_itch_source(itch)
    kernel = ReplayKernel(
        source.buffer, source.offsets,
        np.zeros(source.messages, dtype=np.uint8), source.times, 1, [0],
    )  # fmt: skip
    kernel.apply_one(0)  # the file's first message: a system event
    kernel.advance(1, None, 0)


def _timed(config: BacktestConfig, itch: Path, fast: bool):
    started = time.perf_counter()
    result = run_itch_backtest(config, [itch], fast=fast)
    return result, time.perf_counter() - started


def run_bench(
    messages: int,
    symbols: int,
    path: str | None = None,
    slow_messages: int = 300_000,
    peers: bool = True,
) -> dict:
    """The fast replay over the whole file (after a warm-up that compiles its kernels), the
    slow path and the fast one over its first `slow_messages` messages (the speed-up), then
    the peers over the whole file."""
    config = bench_config(symbols)
    with tempfile.TemporaryDirectory() as scratch:
        itch = Path(path) if path else Path(scratch) / "bench.itch"
        if not itch.exists():
            generate_itch_file(itch, messages, symbols, seed=11)
        prefix = Path(scratch) / "prefix.itch"
        prefix_messages = write_prefix(itch, slow_messages, prefix)
        warm = Path(scratch) / "warm.itch"
        write_prefix(itch, 20_000, warm)
        started = time.perf_counter()
        _compile_kernels(warm)
        _, warmup_s = _timed(config, warm, True)
        warmup_s += time.perf_counter() - started
        result, elapsed = _timed(config, itch, True)
        slow, slow_s = _timed(config, prefix, False)
        fast_prefix, fast_prefix_s = _timed(config, prefix, True)
        peer_figures = _run_peers(itch, elapsed) if peers else {}
    if slow.engine.oms.state() != fast_prefix.engine.oms.state():
        raise AssertionError("fast and slow replays of the prefix sent different orders")
    market_data = sum(v["messages"] for v in result.venue_states.values())
    figures = {
        "messages": market_data,
        "symbols": symbols,
        "events": result.events,
        "elapsed_s": round(elapsed, 3),
        "events_per_s": round(result.events / elapsed),
        "market_data_per_s": round(market_data / elapsed),
        "orders": result.summary["orders"],
        "fills": result.summary["fills"],
        "replay": result.replay["path"],
        "deferred_tops": result.replay["deferred_tops"],
        "warmup_s": round(warmup_s, 3),
        "slow_messages": prefix_messages,
        "slow_events_per_s": round(slow.events / slow_s),
        "fast_events_per_s_same_prefix": round(fast_prefix.events / fast_prefix_s),
        "speedup_same_prefix": round(slow_s / fast_prefix_s, 2),
        **peer_figures,
    }
    return figures


def _run_peers(itch: Path, calarb_elapsed_s: float) -> dict:
    """Each peer over the same file: its events/s, and its replay time over calarb's."""
    from calarb.backtest import peers

    figures: dict = {}
    for key, package in PEERS:
        if importlib.util.find_spec(package) is None:
            figures.update({f"{key}_events_per_s": None, f"ratio_vs_{key}": None,
                            f"{key}_note": f"{package} is not installed (bench extra)"})  # fmt: skip
            continue
        gc.collect()
        peer = getattr(peers, f"run_{key}")(itch)
        figures[f"{key}_events_per_s"] = round(peer["events_per_s"])
        figures[f"ratio_vs_{key}"] = round(peer["elapsed_s"] / calarb_elapsed_s, 2)
        figures[key] = {name: peer[name] for name in ("version", "events", "elapsed_s",
                                                      "conversion_s", "notes")}  # fmt: skip
    return figures


def run_command(args: argparse.Namespace) -> int:
    figures = run_bench(
        args.messages, args.symbols, args.file, args.slow_messages, peers=not args.no_peers
    )
    print(json.dumps(figures, indent=None if args.json else 2))
    return 0
