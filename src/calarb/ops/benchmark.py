"""`calarb bench scrape`: does a Prometheus scrape every 100 ms move tick to trade?

The `calarb bench tick2trade` pipeline (the live engine object for object, ITCH packet bytes
to FIX NewOrderSingle bytes), run on an asyncio loop as the live engine runs: ticks are fed
in batches and the loop gets a turn between batches, where the metrics endpoint (uvicorn, the
engine's `EngineCollector`) answers. In each round a fresh pipeline runs the ticks while a
scraper child process fetches /metrics every `--scrape-ms`, frozen (SIGSTOP) and resumed
every `--window-ms`: each tick counts for the phase it ran in, so a drift of the shared
machine falls on both phases alike (two runs one after the other differ by tens of percent
on a busy 2-core machine). Reported: tick-to-trade p50 and p99 (ticks that sent an order) of
each phase, pooled over rounds, and the change of the p50 in percent.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import signal
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
    packets: list[bytes], warmup: int, scrape_ms: float, batch: int, window_s: float
) -> dict[str, Any]:
    """One pipeline, the scraper alternately running and frozen (SIGSTOP) every `window_s`:
    each tick counts for the phase it ran in, so both phases share the machine's drift."""
    pipeline = Pipeline()
    run_ticks(pipeline, packets[:warmup], timed=False)
    pipeline.recorder.reset()
    collector = EngineCollector(PipelineView(pipeline))
    endpoint = MetricsEndpoint(collector)
    port = await endpoint.start("127.0.0.1", 0)
    scraper = subprocess.Popen(
        [sys.executable, "-c", SCRAPER, f"http://127.0.0.1:{port}/metrics",
         str(scrape_ms / 1000)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    while not collector.collections:  # the scraper is running
        await asyncio.sleep(0.01)
    loop = asyncio.get_running_loop()
    phases: dict[bool, list[np.ndarray]] = {True: [], False: []}
    scrapes = {True: 0, False: 0}
    scraping = True
    switch_at = loop.time() + window_s
    counted = collector.collections
    timed = packets[warmup:]
    gc.collect()
    gc.freeze()
    try:
        for start in range(0, len(timed), batch):
            times = run_ticks(pipeline, timed[start : start + batch], timed=True)
            phases[scraping].append(times.tick_to_trade)
            await asyncio.sleep(0)  # the loop's turn: timers, sockets, the scrape
            if loop.time() >= switch_at:
                scrapes[scraping] += collector.collections - counted
                counted = collector.collections
                scraping = not scraping
                os.kill(scraper.pid, signal.SIGCONT if scraping else signal.SIGSTOP)
                switch_at = loop.time() + window_s
        scrapes[scraping] += collector.collections - counted
    finally:
        gc.unfreeze()
        scraper.kill()
        scraper.wait()
        await endpoint.stop()
    result: dict[str, Any] = {}
    for phase, name in ((False, "without"), (True, "with")):
        durations = np.concatenate(phases[phase]) if phases[phase] else np.zeros(0)
        p50, p99 = np.percentile(durations, [50, 99]).tolist() if len(durations) else (0, 0)
        result[name] = {
            "orders": int(len(durations)),
            "scrapes": scrapes[phase],
            "p50_us": round(p50 / 1e3, 3),
            "p99_us": round(p99 / 1e3, 3),
            "durations": durations,
        }
    return result


async def run_scrape_benchmark(
    ticks: int, warmup: int, seed: int, scrape_ms: float, rounds: int, batch: int, window_s: float
) -> dict[str, Any]:
    packets = market_packets(warmup + ticks, seed)
    runs = []
    pooled: dict[str, list[np.ndarray]] = {"without": [], "with": []}
    for _ in range(rounds):
        run = await timed_run(packets, warmup, scrape_ms, batch, window_s)
        for name in pooled:
            pooled[name].append(run[name].pop("durations"))
        runs.append(run)
    figures = {}
    for name, arrays in pooled.items():
        durations = np.concatenate(arrays)
        p50, p99 = np.percentile(durations, [50, 99]).tolist() if len(durations) else (0, 0)
        figures[name] = (round(p50 / 1e3, 3), round(p99 / 1e3, 3), int(len(durations)))
    without, with_scrape = figures["without"][0], figures["with"][0]
    return {
        "benchmark": "scrape",
        "mode": build_info()["mode"],
        "ticks": ticks,
        "rounds": rounds,
        "scrape_ms": scrape_ms,
        "window_s": window_s,
        "p50_us_without_scrape": without,
        "p50_us_with_scrape": with_scrape,
        "p50_change_pct": round(100 * (with_scrape - without) / without, 2) if without else None,
        "p99_us_without_scrape": figures["without"][1],
        "p99_us_with_scrape": figures["with"][1],
        "orders_without_scrape": figures["without"][2],
        "orders_with_scrape": figures["with"][2],
        "scrapes": sum(run["with"]["scrapes"] for run in runs),
        "runs": runs,
        "note": (
            "tick to trade of ticks that sent an order (packet bytes in to the first "
            "NewOrderSingle written), pooled over rounds; in each round one pipeline runs with "
            "the scraper alternately fetching /metrics every scrape_ms and frozen, window_s "
            "each; the scrape runs on the engine's loop between tick batches, as it does live"
        ),
    }


def run_command(args: argparse.Namespace) -> int:
    from calarb.fix.transport import install_uvloop

    if min(args.ticks, args.rounds, args.batch) <= 0 or min(args.scrape_ms, args.window_ms) <= 0:
        print("calarb bench scrape: --ticks, --rounds, --batch, --scrape-ms, --window-ms must be "
              "positive", file=sys.stderr)  # fmt: skip
        return 2
    install_uvloop()
    result = asyncio.run(
        run_scrape_benchmark(
            args.ticks,
            args.warmup,
            args.seed,
            args.scrape_ms,
            args.rounds,
            args.batch,
            args.window_ms / 1000,
        )  # fmt: skip
    )
    print(json.dumps(result, indent=2))
    return 0
