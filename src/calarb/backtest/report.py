"""The HTML report of a backtest: summary tables and plots (PNG, embedded as base64), written
next to the Parquet tables.

Plots: equity curve (gross and net), drawdown, per pair the spread and z-score with calarb's
fills marked, TCA (implementation shortfall in bps by venue and by order type), and the
distribution of order round trips.
"""

from __future__ import annotations

import html
import json
from pathlib import Path

import numpy as np

from calarb.backtest.results import BacktestResult
from calarb.ops.charts import plt, png, seconds, write_html_report


def plot_equity(result: BacktestResult) -> bytes:
    equity = result.equity
    figure, axis = plt.subplots(figsize=(9, 3.2))
    t = seconds(equity["time_ns"])
    axis.plot(t, equity["gross"], label="gross", lw=1)
    axis.plot(t, equity["net"], label="net of fees", lw=1)
    axis.set_xlabel("time (s)")
    axis.set_ylabel("P&L")
    axis.set_title("Equity curve")
    axis.legend()
    return png(figure)


def plot_drawdown(result: BacktestResult) -> bytes:
    net = result.equity["net"].to_numpy(dtype=np.float64)
    drawdown = np.maximum.accumulate(net) - net if net.size else net
    figure, axis = plt.subplots(figsize=(9, 2.6))
    axis.fill_between(seconds(result.equity["time_ns"]), -drawdown, 0, color="tab:red", alpha=0.5)
    axis.set_xlabel("time (s)")
    axis.set_ylabel("drawdown")
    axis.set_title(f"Drawdown (max {drawdown.max() if drawdown.size else 0:.2f})")
    return png(figure)


def plot_pair(result: BacktestResult, name: str) -> bytes:
    history = result.pairs[name]
    leg_a, leg_b = name.split("/")
    figure, (top, bottom) = plt.subplots(2, 1, figsize=(9, 5), sharex=True)
    if len(history):
        t = seconds(history["time_ns"])
        top.plot(t, history["spread"], lw=0.8, label="spread")
        top.plot(t, history["spread_mean"], lw=0.8, label="mean")
        bottom.plot(t, history["z"], lw=0.8, color="tab:purple")
        fills = result.fills[result.fills["symbol"] == leg_a]
        for side, marker, color in ((1, "^", "tab:green"), (-1, "v", "tab:red")):
            chosen = fills[fills["side"] == side]
            if len(chosen):
                times = seconds(chosen["time_ns"])
                z_at = np.interp(times, t, history["z"].to_numpy(dtype=np.float64))
                bottom.scatter(times, z_at, marker=marker, color=color, s=18,
                               label=f"{'buy' if side > 0 else 'sell'} {leg_a}")  # fmt: skip
        bottom.legend(loc="upper right", fontsize=7)
    top.set_title(f"{name}: spread and z-score with fills ({leg_b} hedges {leg_a})")
    top.legend(fontsize=7)
    bottom.set_xlabel("time (s)")
    bottom.set_ylabel("z")
    return png(figure)


def plot_tca(result: BacktestResult) -> bytes:
    tca = result.summary["tca"]
    figure, axes = plt.subplots(1, 2, figsize=(9, 3))
    for axis, key, title in ((axes[0], "by_venue", "by venue"),
                             (axes[1], "by_order_type", "by order type")):  # fmt: skip
        groups = tca[key]
        names = list(groups)
        axis.bar(names, [groups[n]["shortfall_bps"] for n in names], color="tab:orange")
        axis.set_title(f"Shortfall vs arrival mid (bps), {title}")
        axis.axhline(0, color="black", lw=0.5)
    return png(figure)


def plot_latency(result: BacktestResult) -> bytes:
    values = result.orders["round_trip_ns"].dropna().to_numpy(dtype=np.float64) / 1_000
    figure, axis = plt.subplots(figsize=(9, 2.8))
    if values.size:
        axis.hist(values, bins=40, color="tab:blue")
    axis.set_xlabel("order send to first report (us)")
    axis.set_title("Order round-trip latency")
    return png(figure)


def figures(result: BacktestResult) -> dict[str, bytes]:
    out = {
        "equity": plot_equity(result),
        "drawdown": plot_drawdown(result),
        "tca": plot_tca(result),
        "latency": plot_latency(result),
    }
    for name in result.pairs:
        out[f"pair_{name.replace('/', '_')}"] = plot_pair(result, name)
    return out


def write_report(result: BacktestResult, directory: str | Path) -> Path:
    """Parquet tables, summary.json, the PNGs and report.html (PNGs embedded) in `directory`."""
    out = Path(directory)
    result.write(out)
    rows = [
        (key, f"{value:,.4f}" if isinstance(value, float) else f"{value:,}")
        for key, value in result.json_summary().items()
    ]
    details = json.dumps(result.stable_summary(), indent=2, sort_keys=True, default=str)
    return write_html_report(
        out, "calarb backtest", rows, figures(result), details,
        intro=f"<p>{html.escape(result.source)}</p>\n", align="right",
    )  # fmt: skip
