"""`calarb bench scrape`: does a Prometheus scrape every 100 ms move tick to trade?

The `calarb bench tick2trade` pipeline (the live engine object for object, ITCH packet bytes
to FIX NewOrderSingle bytes), run on an asyncio loop as the live engine runs: ticks are fed
in batches and the loop gets a turn between batches, where the metrics endpoint (uvicorn, the
engine's `EngineCollector`) answers. Each round runs the same ticks twice on a fresh
pipeline, once with a scraper child process fetching /metrics every `--scrape-ms` and once
without (the endpoint is up in both); the order alternates between rounds (ABBA) so a drift
of the shared machine falls on both. Reported: tick-to-trade p50 and p99 (ticks that sent an
order) of each run, the medians over rounds and the change of the p50 in percent.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import statistics
import subprocess
import sys
from typing import Any

import numpy as np

from calarb import build_info
from calarb.core.clock import LiveClock
from calarb.ops.metrics import EngineCollector, MetricsEndpoint
from calarb.trading.benchmark import VENUE, Pipeline, market_packets, run_ticks

SCRAPER = """
import sys, time, urllib.request
url, interval = sys.argv[1], float(sys.argv[2])
while True:
    started = time.monotonic()
    with urllib.request.urlopen(url, timeout=10) as response:
        response.read()
    time.sleep(max(0.0, interval - (time.monotonic() - started)))
"""


class PipelineView:
    """The parts of a `LiveEngine` the collector reads, from the benchmark's pipeline (its
    real engine, recorder and FIX gateway; no feed sockets, so no feeds)."""

    def __init__(self, pipeline: Pipeline) -> None:
        self.engine = pipeline.engine
        self.recorder = pipeline.recorder
        self.clock = LiveClock()
        self.gateways = {VENUE: pipeline.gateway}
        self.initiators: dict[str, Any] = {}
        self.feeds: dict[str, Any] = {}
        self.started_ns = 0


async def timed_run(
    packets: list[bytes], warmup: int, scrape_ms: float, batch: int
) -> dict[str, Any]:
    pipeline = Pipeline()
    run_ticks(pipeline, packets[:warmup], timed=False)
    pipeline.recorder.reset()
    collector = EngineCollector(PipelineView(pipeline))
    endpoint = MetricsEndpoint(collector)
    port = await endpoint.start("127.0.0.1", 0)
    scraper = None
    if scrape_ms:
        scraper = subprocess.Popen(
            [sys.executable, "-c", SCRAPER, f"http://127.0.0.1:{port}/metrics",
             str(scrape_ms / 1000)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        while not collector.collections:  # the scraper is running
            await asyncio.sleep(0.01)
    scrapes_before = collector.collections
    loop = asyncio.get_running_loop()
    started = loop.time()
    gc.collect()
    gc.freeze()
    tick_to_trade = []
    timed = packets[warmup:]
    try:
        for start in range(0, len(timed), batch):
            times = run_ticks(pipeline, timed[start : start + batch], timed=True)
            tick_to_trade.append(times.tick_to_trade)
            await asyncio.sleep(0)  # the loop's turn: timers, sockets, the scrape
    finally:
        gc.unfreeze()
        seconds = loop.time() - started
        if scraper is not None:
            scraper.kill()
            scraper.wait()
        await endpoint.stop()
    durations = np.concatenate(tick_to_trade)
    p50, p99 = np.percentile(durations, [50, 99]).tolist() if len(durations) else (0.0, 0.0)
    return {
        "scrape_ms": scrape_ms,
        "scrapes": collector.collections - scrapes_before,
        "seconds": round(seconds, 2),
        "orders": int(len(durations)),
        "p50_us": round(p50 / 1e3, 3),
        "p99_us": round(p99 / 1e3, 3),
    }


async def run_scrape_benchmark(
    ticks: int, warmup: int, seed: int, scrape_ms: float, rounds: int, batch: int
) -> dict[str, Any]:
    packets = market_packets(warmup + ticks, seed)
    runs: dict[str, list[dict[str, Any]]] = {"without": [], "with": []}
    for index in range(rounds):
        order = ("without", "with") if index % 2 == 0 else ("with", "without")
        for kind in order:
            result = await timed_run(packets, warmup, scrape_ms if kind == "with" else 0, batch)
            runs[kind].append(result)
    without = statistics.median(r["p50_us"] for r in runs["without"])
    with_scrape = statistics.median(r["p50_us"] for r in runs["with"])
    return {
        "benchmark": "scrape",
        "mode": build_info()["mode"],
        "ticks": ticks,
        "rounds": rounds,
        "scrape_ms": scrape_ms,
        "p50_us_without_scrape": without,
        "p50_us_with_scrape": with_scrape,
        "p50_change_pct": round(100 * (with_scrape - without) / without, 2) if without else None,
        "p99_us_without_scrape": statistics.median(r["p99_us"] for r in runs["without"]),
        "p99_us_with_scrape": statistics.median(r["p99_us"] for r in runs["with"]),
        "scrapes": sum(r["scrapes"] for r in runs["with"]),
        "runs": runs,
        "note": (
            "tick to trade of ticks that sent an order (packet bytes in to the first "
            "NewOrderSingle written), medians over rounds; the scrape runs on the engine's "
            "loop between tick batches, as it does live"
        ),
    }


def register_bench(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "scrape", help="tick to trade with and without a /metrics scrape every 100 ms"
    )
    parser.add_argument("--ticks", type=int, default=100_000, help="timed ticks per run")
    parser.add_argument("--warmup", type=int, default=5_000, help="untimed ticks first")
    parser.add_argument("--seed", type=int, default=3)
    parser.add_argument("--scrape-ms", type=float, default=100.0, help="scrape interval")
    parser.add_argument("--rounds", type=int, default=3, help="runs with and without each")
    parser.add_argument("--batch", type=int, default=100, help="ticks between loop turns")
    parser.set_defaults(handler=_command)


def _command(args: argparse.Namespace) -> int:
    from calarb.fix.transport import install_uvloop

    if min(args.ticks, args.rounds, args.batch) <= 0 or args.scrape_ms <= 0:
        print("calarb bench scrape: --ticks, --rounds, --batch, --scrape-ms must be positive",
              file=sys.stderr)  # fmt: skip
        return 2
    install_uvloop()
    result = asyncio.run(
        run_scrape_benchmark(
            args.ticks, args.warmup, args.seed, args.scrape_ms, args.rounds, args.batch
        )
    )
    print(json.dumps(result, indent=2))
    return 0
