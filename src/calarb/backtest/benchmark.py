"""`calarb bench backtest`: events/s of a calarb backtest over one generated ITCH file (full
L3 books of every symbol, a pairs strategy over all symbols), with NautilusTrader and
hftbacktest on the same data when they are installed (the `bench` extra).

Peers are reported as null with the reason when they are not importable: neither is in the
bench extra yet, because installing their wheels (nautilus_trader 1.221.0, hftbacktest 2.4.4)
into the shared environment downgrades numpy 2.4 -> 2.2 (both) and pandas 3.1 -> 2.3
(nautilus_trader).
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import tempfile
import time
from pathlib import Path

from calarb.backtest.config import BacktestConfig
from calarb.backtest.replay import run_itch_backtest
from calarb.itch.generate import generate_itch_file

PEER_REASON = (
    "not installed: its PyPI wheel installs, but pulls numpy 2.2 (and pandas < 3 for "
    "nautilus_trader) over the project's numpy 2.4 / pandas 3.1, so it is not in the bench extra"
)


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


def run_bench(messages: int, symbols: int, path: str | None = None) -> dict:
    with tempfile.TemporaryDirectory() as scratch:
        itch = Path(path) if path else Path(scratch) / "bench.itch"
        if not itch.exists():
            generate_itch_file(itch, messages, symbols, seed=11)
        started = time.perf_counter()
        result = run_itch_backtest(bench_config(symbols), [itch])
        elapsed = time.perf_counter() - started
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
    }
    for peer, key in (("nautilus_trader", "nautilus"), ("hftbacktest", "hftbacktest")):
        figures[f"{key}_events_per_s"] = None
        figures[f"ratio_vs_{key}"] = None
        if importlib.util.find_spec(peer) is None:
            figures[f"{key}_note"] = f"{peer} {PEER_REASON}"
        else:
            figures[f"{key}_note"] = f"{peer} is importable but its runner is not written yet"
    return figures


def _handler(args: argparse.Namespace) -> int:
    figures = run_bench(args.messages, args.symbols, args.file)
    print(json.dumps(figures, indent=None if args.json else 2))
    return 0


def register_bench(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("backtest", help="backtest events/s over a generated ITCH file")
    parser.add_argument("--messages", type=int, default=5_000_000)
    parser.add_argument("--symbols", type=int, default=8)
    parser.add_argument("--file", help="use (or create) this ITCH file instead of a temporary one")
    parser.add_argument("--json", action="store_true", help="one-line JSON")
    parser.set_defaults(handler=_handler)
