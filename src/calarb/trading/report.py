"""The report of a live run: what the engine looked like over time, and an HTML page of it.

`LiveSampler` reads a running `TradingEngine` a few times a second (P&L, each pair's
z-score and hedge ratio, its entry/exit/stop counters) without touching the hot path; a
counter that grew since the last sample is an entry, exit or stop mark at that time.
`write_live_report` draws P&L over time, z-score with entry/exit marks (and the hedge ratio
against the true one), and the tick-to-trade latency distribution with percentiles by stage,
into `report.html` (PNGs embedded, also written beside it).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from hdrh.histogram import HdrHistogram

from calarb.core.types import PRICE_SCALE
from calarb.ops.charts import plt, png, seconds, write_html_report
from calarb.trading.engine import TradingEngine

_MARKS = {"entries": "entry", "exits": "exit", "stops": "stop"}  # counter -> mark


@dataclass
class PairSamples:
    """One pair's samples: times (ns since the start), z, hedge ratio, and marks."""

    time_ns: list[int] = field(default_factory=list)
    z: list[float] = field(default_factory=list)
    beta: list[float] = field(default_factory=list)
    marks: list[tuple[int, str, float]] = field(default_factory=list)  # time, kind, z


class LiveSampler:
    """Samples a live engine's P&L and pair state (call `sample(now_ns)` periodically)."""

    def __init__(self, engine: TradingEngine, start_ns: int) -> None:
        self.engine = engine
        self.start_ns = start_ns
        self.time_ns: list[int] = []
        self.pnl: dict[str, list[float]] = {"realized": [], "unrealized": [], "fees": [], "net": []}
        self.pairs = {name: PairSamples() for name in engine.strategy.pairs}
        self._counts = {name: dict.fromkeys(_MARKS, 0) for name in engine.strategy.pairs}

    def sample(self, now_ns: int) -> None:
        elapsed = now_ns - self.start_ns
        portfolio = self.engine.portfolio
        self.time_ns.append(elapsed)
        pnl = self.pnl
        pnl["realized"].append(portfolio.realized / PRICE_SCALE)
        pnl["unrealized"].append(portfolio.unrealized / PRICE_SCALE)
        pnl["fees"].append(portfolio.fees / PRICE_SCALE)
        pnl["net"].append(portfolio.net_pnl / PRICE_SCALE)
        for name, state in self.engine.strategy.pairs.items():
            samples = self.pairs[name]
            model = state.model
            z = float(model.z) if model.ready else float("nan")
            samples.time_ns.append(elapsed)
            samples.z.append(z)
            samples.beta.append(float(model.beta) if model.ready else float("nan"))
            counts = self._counts[name]
            for counter, kind in _MARKS.items():
                value = getattr(state.counters, counter)
                if value > counts[counter]:
                    samples.marks.append((elapsed, kind, z))
                    counts[counter] = value

    def latest_z(self) -> dict[str, float]:
        return {name: s.z[-1] for name, s in self.pairs.items() if s.z}

    def as_dict(self) -> dict[str, Any]:
        """The samples as plain data (for the report folder)."""
        return {
            "time_s": [t / 1e9 for t in self.time_ns],
            "pnl": self.pnl,
            "pairs": {
                name: {
                    "time_s": [t / 1e9 for t in s.time_ns],
                    "z": [None if z != z else z for z in s.z],
                    "hedge_ratio": [None if b != b else b for b in s.beta],
                    "marks": [{"time_s": t / 1e9, "kind": k, "z": z} for t, k, z in s.marks],
                }
                for name, s in self.pairs.items()
            },
        }


# --- plots -----------------------------------------------------------------------------------


def plot_pnl(sampler: LiveSampler) -> bytes:
    figure, axis = plt.subplots(figsize=(9, 3.2))
    t = seconds(sampler.time_ns)
    for key, label in (("net", "net"), ("realized", "realised"), ("unrealized", "unrealised")):
        axis.plot(t, sampler.pnl[key], lw=1, label=label)
    axis.plot(t, np.negative(sampler.pnl["fees"]), lw=0.8, ls="--", label="fees (paid)")
    axis.axhline(0, color="black", lw=0.5)
    axis.set_xlabel("time since the strategy started (s)")
    axis.set_ylabel("P&L (currency)")
    axis.set_title("P&L over time")
    axis.legend(fontsize=7)
    return png(figure)


_MARK_STYLE = {"entry": ("^", "tab:green"), "exit": ("o", "tab:blue"), "stop": ("x", "tab:red")}


def plot_pair(
    name: str, samples: PairSamples, rules: dict[str, float], true_ratio: float | None
) -> bytes:
    figure, (top, bottom) = plt.subplots(
        2, 1, figsize=(9, 4.6), sharex=True, gridspec_kw={"height_ratios": [3, 1]}
    )
    t = seconds(samples.time_ns)
    top.plot(t, samples.z, lw=0.8, color="tab:purple", label="z-score")
    for level, style in ((rules["entry"], "--"), (rules["exit"], ":")):
        for sign in (1, -1):
            top.axhline(sign * level, color="grey", lw=0.6, ls=style)
    for kind, (marker, color) in _MARK_STYLE.items():
        chosen = [(time, z) for time, k, z in samples.marks if k == kind]
        if chosen:
            times, zs = zip(*chosen, strict=True)
            top.scatter(seconds(times), zs, marker=marker, color=color, s=24, label=kind)
    top.set_ylabel("z")
    top.set_title(f"{name}: z-score with entries and exits (thresholds dashed/dotted)")
    top.legend(fontsize=7, loc="upper right")
    bottom.plot(t, samples.beta, lw=0.8, label="estimated")
    if true_ratio is not None:
        bottom.axhline(true_ratio, color="black", lw=0.6, ls="--", label="true")
    bottom.set_ylabel("hedge ratio")
    bottom.set_xlabel("time since the strategy started (s)")
    bottom.legend(fontsize=7, loc="lower right")
    return png(figure)


def plot_latency(
    tick_to_trade: HdrHistogram, order_stages_us: dict[str, dict[str, float | int]]
) -> bytes:
    figure, (left, right) = plt.subplots(1, 2, figsize=(10, 3.2))
    values, counts = [], []
    for item in tick_to_trade.get_recorded_iterator():
        values.append(item.value_iterated_to / 1_000)
        counts.append(item.count_added_in_this_iter_step)
    if values:
        edges = np.geomspace(max(min(values), 0.1) * 0.9, max(values) * 1.1, 40)
        left.hist(values, bins=edges, weights=counts, color="tab:blue")
        left.set_xscale("log")
    left.set_xlabel("packet received to order written (us, log scale)")
    left.set_ylabel("orders")
    left.set_title("Tick-to-trade distribution")
    names = list(order_stages_us)
    x = np.arange(len(names))
    for offset, key in ((-0.2, "p50"), (0.2, "p99")):
        right.bar(x + offset, [order_stages_us[n][key] for n in names], width=0.4, label=key)
    right.set_xticks(x, names, rotation=30, ha="right", fontsize=7)
    right.set_ylabel("us")
    right.set_yscale("log")
    right.set_title("By stage (ticks that sent an order)")
    right.legend(fontsize=7)
    return png(figure)


def write_live_report(
    summary: dict[str, Any],
    sampler: LiveSampler,
    tick_to_trade: HdrHistogram,
    directory: str | Path,
    title: str = "calarb demo",
) -> Path:
    """`summary.json`, `samples.json`, the PNGs and `report.html` in `directory`."""
    out = Path(directory)
    out.mkdir(parents=True, exist_ok=True)
    (out / "summary.json").write_text(json.dumps(summary, indent=2, default=str))
    (out / "samples.json").write_text(json.dumps(sampler.as_dict()))
    images = {"pnl": plot_pnl(sampler)}
    rules = summary.get("pair_rules", {})
    for name, samples in sampler.pairs.items():
        truth = summary["hedge_ratios"].get(name, {}).get("true")
        images[f"pair_{name.replace('/', '_')}"] = plot_pair(name, samples, rules[name], truth)
    images["latency"] = plot_latency(tick_to_trade, summary.get("tick_to_trade_stages_us", {}))
    pnl = summary["pnl"]
    ttt = summary["tick_to_trade_us"]
    rows = [
        ("orders sent", summary["orders_sent"]),
        ("fills", summary["fills"]),
        ("rejects", summary["rejects"] or "none"),
        ("cancels", summary["cancels"]),
        ("legging events", summary["legging_events"]),
        ("positions", summary["positions"]),
        (
            "P&L realised / unrealised / fees",
            f"{pnl['realized']:.2f} / {pnl['unrealized']:.2f} / {pnl['fees']:.2f}",
        ),  # fmt: skip
        ("tick to trade p50 / p99 / p99.9 (us)", f"{ttt['p50']} / {ttt['p99']} / {ttt['p999']}"),
    ]
    details = json.dumps(summary, indent=2, default=str)
    return write_html_report(out, title, rows, images, details)
