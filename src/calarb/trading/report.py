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
import pandas as pd
from hdrh.histogram import HdrHistogram

from calarb.core.types import PRICE_SCALE
from calarb.ops.charts import go, new_figure, seconds, table_html, write_html_report
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
            warm = model.ready and model.observations >= state.min_observations
            z = float(model.z) if warm else float("nan")  # the warm-up is not drawn
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


def plot_pnl(sampler: LiveSampler) -> go.Figure:
    figure = new_figure("P&L over time", "time since the strategy started (s)", "P&L (currency)")
    t = seconds(sampler.time_ns)
    for key, label in (("net", "net"), ("realized", "realised"), ("unrealized", "unrealised")):
        figure.add_scatter(x=t, y=sampler.pnl[key], name=label, mode="lines")
    figure.add_scatter(x=t, y=np.negative(sampler.pnl["fees"]), name="fees (paid)",
                       mode="lines", line={"dash": "dash"})  # fmt: skip
    return figure


_MARK_STYLE = {"entry": ("triangle-up", "green"), "exit": ("circle", "blue"),
               "stop": ("x", "red")}  # fmt: skip


def plot_pair(
    name: str, samples: PairSamples, rules: dict[str, float], true_ratio: float | None
) -> go.Figure:
    """z-score (after the warm-up: none is sampled before the strategy may act) with the
    thresholds and the entry/exit/stop marks; the hedge ratio against the true one."""
    from plotly.subplots import make_subplots

    figure = make_subplots(rows=2, cols=1, shared_xaxes=True, row_heights=[0.7, 0.3],
                           vertical_spacing=0.08)  # fmt: skip
    figure.update_layout(
        title=f"{name}: z-score with entries and exits (warm-up not shown)", height=480,
        template="plotly_white", legend={"orientation": "h", "y": -0.15},
    )  # fmt: skip
    t = seconds(samples.time_ns)
    figure.add_scatter(x=t, y=samples.z, name="z-score", mode="lines", row=1, col=1,
                       line={"color": "purple", "width": 1})  # fmt: skip
    for label, style in (("entry", "dash"), ("exit", "dot")):
        for sign in (1, -1):
            figure.add_hline(y=sign * rules[label], line={"dash": style, "width": 1,
                             "color": "grey"}, row=1, col=1)  # fmt: skip
    for kind, (marker, color) in _MARK_STYLE.items():
        chosen = [(time, z) for time, k, z in samples.marks if k == kind]
        if chosen:
            times, zs = zip(*chosen, strict=True)
            figure.add_scatter(x=seconds(times), y=zs, mode="markers", name=kind, row=1, col=1,
                               marker={"symbol": marker, "color": color, "size": 9})  # fmt: skip
    figure.add_scatter(x=t, y=samples.beta, name="hedge ratio (estimated)", mode="lines",
                       row=2, col=1)  # fmt: skip
    if true_ratio is not None:
        figure.add_hline(y=true_ratio, line={"dash": "dash", "width": 1}, row=2, col=1,
                         annotation_text="true")  # fmt: skip
    figure.update_yaxes(title_text="z", row=1, col=1)
    figure.update_yaxes(title_text="hedge ratio", row=2, col=1)
    figure.update_xaxes(title_text="time since the strategy started (s)", row=2, col=1)
    return figure


def plot_latency(
    tick_to_trade: HdrHistogram, order_stages_us: dict[str, dict[str, float | int]]
) -> go.Figure:
    from plotly.subplots import make_subplots

    figure = make_subplots(rows=1, cols=2, subplot_titles=(
        "Tick-to-trade distribution (us)", "By stage (ticks that sent an order)"))  # fmt: skip
    figure.update_layout(height=340, template="plotly_white")
    values, counts = [], []
    for item in tick_to_trade.get_recorded_iterator():
        values.append(item.value_iterated_to / 1_000)
        counts.append(item.count_added_in_this_iter_step)
    figure.add_bar(x=values, y=counts, name="orders", row=1, col=1)
    figure.update_xaxes(type="log", title_text="packet received to order written (us)",
                        row=1, col=1)  # fmt: skip
    names = list(order_stages_us)
    for key in ("p50", "p99"):
        figure.add_bar(x=names, y=[order_stages_us[n][key] for n in names], name=key,
                       row=1, col=2)  # fmt: skip
    figure.update_yaxes(type="log", title_text="us", row=1, col=2)
    return figure


def write_live_report(
    summary: dict[str, Any],
    sampler: LiveSampler,
    tick_to_trade: HdrHistogram,
    directory: str | Path,
    title: str = "calarb demo",
) -> Path:
    """`summary.json`, `samples.json` and `report.html` (plotly.js beside it) in
    `directory`."""
    out = Path(directory)
    out.mkdir(parents=True, exist_ok=True)
    (out / "summary.json").write_text(json.dumps(summary, indent=2, default=str))
    (out / "samples.json").write_text(json.dumps(sampler.as_dict()))
    figures = {"pnl": plot_pnl(sampler)}
    rules = summary.get("pair_rules", {})
    for name, samples in sampler.pairs.items():
        truth = summary["hedge_ratios"].get(name, {}).get("true")
        figures[f"pair_{name.replace('/', '_')}"] = plot_pair(name, samples, rules[name], truth)
    figures["latency"] = plot_latency(tick_to_trade, summary.get("tick_to_trade_stages_us", {}))
    pnl = summary["pnl"]
    ttt = summary["tick_to_trade_us"]
    rows = [
        ("orders sent", summary["orders_sent"]),
        ("fills", summary["fills"]),
        ("rejects", summary["rejects"] or "none"),
        ("cancels", summary["cancels"]),
        ("legging events", summary["legging_events"]),
        (
            "P&L realised / unrealised / fees",
            f"{pnl['realized']:.2f} / {pnl['unrealized']:.2f} / {pnl['fees']:.2f}",
        ),  # fmt: skip
        ("tick to trade p50 / p99 / p99.9 (us)", f"{ttt['p50']} / {ttt['p99']} / {ttt['p999']}"),
    ]
    marks = summary.get("marks", {})
    positions = pd.DataFrame(
        [(s, q, marks.get(s), q * marks[s] if marks.get(s) is not None else None)
         for s, q in sorted(summary["positions"].items())],
        columns=["symbol", "position", "mark", "market_value"],
    )  # fmt: skip
    details = json.dumps(summary, indent=2, default=str)
    return write_html_report(out, title, rows, figures, details,
                             tables={"Positions at the end": table_html(positions)})  # fmt: skip
