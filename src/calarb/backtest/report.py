"""The HTML report of a backtest: interactive plotly figures and tables in one offline page
(`calarb.ops.charts`), written next to the Parquet and CSV tables.

Figures: equity curve (gross and net), drawdown, P&L per strategy unit (pair), per pair the
spread and its z-score with the entry/exit/stop thresholds and calarb's fills (the model's
warm-up, before the strategy may act on it, is left out: its z-scores are not yet
meaningful), TCA (implementation shortfall in bps by venue and by order type), and the
distribution of order round trips. Tables: the summary (with the terms of its ratios),
final positions, P&L attribution, the trade blotter.
"""

from __future__ import annotations

import html
import json
from pathlib import Path

import numpy as np

from calarb.backtest.results import BacktestResult
from calarb.ops.charts import go, new_figure, seconds, table_html, write_html_report

BLOTTER_ROWS = 500  # shown in the page; blotter.csv has them all
PAIR_POINTS = 4000  # observations drawn per pair at most (pairs_<name>.parquet has all)


def plot_equity(result: BacktestResult) -> go.Figure:
    equity = result.equity
    figure = new_figure("Equity curve", "time (s)", "P&L (currency)")
    t = seconds(equity["time_ns"] - equity["time_ns"].iloc[0]) if len(equity) else []
    figure.add_scatter(x=t, y=equity["gross"], name="gross", mode="lines")
    figure.add_scatter(x=t, y=equity["net"], name="net of fees", mode="lines")
    return figure


def plot_drawdown(result: BacktestResult) -> go.Figure:
    equity = result.equity
    net = equity["net"].to_numpy(dtype=np.float64)
    drawdown = np.maximum.accumulate(net) - net if net.size else net
    worst = drawdown.max() if drawdown.size else 0.0
    figure = new_figure(f"Drawdown (max {worst:,.2f})", "time (s)", "drawdown", height=260)
    t = seconds(equity["time_ns"] - equity["time_ns"].iloc[0]) if len(equity) else []
    figure.add_scatter(x=t, y=-drawdown, fill="tozeroy", mode="lines", name="drawdown",
                       line={"color": "firebrick"})  # fmt: skip
    return figure


def plot_attribution(result: BacktestResult) -> go.Figure:
    totals = result.summary["attribution"]
    units = list(totals)
    figure = new_figure("P&L by strategy unit", "", "currency", height=300)
    for key in ("gross", "fees", "net"):
        values = [totals[u][key] for u in units]
        figure.add_bar(x=units, y=values, name=key, text=[f"{v:,.2f}" for v in values])
    return figure


def plot_pair(result: BacktestResult, name: str) -> go.Figure:
    """Spread and z-score after the warm-up, thresholds, and the fills of leg A."""
    history = result.pairs[name]
    warm = result.warmup_rows.get(name, 0)
    history = history.iloc[warm:]
    if len(history) > PAIR_POINTS:  # every k-th observation: the page stays light
        history = history.iloc[:: -(-len(history) // PAIR_POINTS)]
    leg_a, leg_b = name.split("/")
    from plotly.subplots import make_subplots

    figure = make_subplots(rows=2, cols=1, shared_xaxes=True, vertical_spacing=0.08,
                           subplot_titles=("spread and its mean", "z-score"))  # fmt: skip
    figure.update_layout(
        title=f"{name} ({leg_b} hedges {leg_a}); the warm-up's {warm:,} observations not shown",
        height=520, template="plotly_white", legend={"orientation": "h", "y": -0.15},
    )  # fmt: skip
    if len(history):
        start = result.equity["time_ns"].iloc[0] if len(result.equity) else 0
        t = seconds(history["time_ns"] - start)
        figure.add_scatter(x=t, y=history["spread"], name="spread", mode="lines", row=1, col=1)
        figure.add_scatter(x=t, y=history["spread_mean"], name="mean", mode="lines", row=1,
                           col=1)  # fmt: skip
        figure.add_scatter(x=t, y=history["z"], name="z", mode="lines", row=2, col=1,
                           line={"color": "purple", "width": 1})  # fmt: skip
        for label, level in result.pair_rules.get(name, {}).items():
            for sign in (1, -1):
                figure.add_hline(y=sign * level, line={"dash": "dot", "width": 1},
                                 annotation_text=label if sign > 0 else None, row=2, col=1)  # fmt: skip
        fills = result.fills[result.fills["symbol"] == leg_a]
        z = history["z"].to_numpy(dtype=np.float64)
        for side, marker, color in ((1, "triangle-up", "green"), (-1, "triangle-down", "red")):
            chosen = fills[
                (fills["side"] == side) & (fills["time_ns"] >= history["time_ns"].iloc[0])
            ]
            if len(chosen):
                times = seconds(chosen["time_ns"] - start)
                figure.add_scatter(
                    x=times, y=np.interp(times, t, z), mode="markers", row=2, col=1,
                    name=f"{'buy' if side > 0 else 'sell'} {leg_a}",
                    marker={"symbol": marker, "color": color, "size": 8},
                )  # fmt: skip
    figure.update_xaxes(title_text="time (s)", row=2, col=1)
    return figure


def plot_tca(result: BacktestResult) -> go.Figure:
    tca = result.summary["tca"]
    figure = new_figure("Shortfall vs arrival mid (bps)", "", "bps", height=300)
    for key, label in (("by_venue", "by venue"), ("by_order_type", "by order type")):
        groups = tca[key]
        values = [groups[n]["shortfall_bps"] for n in groups]
        figure.add_bar(x=[f"{n}" for n in groups], y=values, name=label,
                       text=[f"{v:.2f}" for v in values])  # fmt: skip
    return figure


def plot_latency(result: BacktestResult) -> go.Figure:
    values = result.orders["round_trip_ns"].dropna().to_numpy(dtype=np.float64) / 1_000
    figure = new_figure("Order round-trip latency", "order send to first report (us)",
                        "orders", height=280)  # fmt: skip
    figure.add_histogram(x=values, nbinsx=40, name="round trip")
    return figure


def figures(result: BacktestResult) -> dict[str, go.Figure]:
    out = {
        "equity": plot_equity(result),
        "drawdown": plot_drawdown(result),
        "attribution": plot_attribution(result),
        "tca": plot_tca(result),
        "latency": plot_latency(result),
    }
    for name in result.pairs:
        out[f"pair_{name.replace('/', '_')}"] = plot_pair(result, name)
    return out


def summary_rows(result: BacktestResult) -> list[tuple[str, str]]:
    """The summary table: each figure with its terms; a ratio not computed says why."""
    s = result.json_summary()
    rows = []
    for key, value in s.items():
        if value is None:
            continue
        rows.append((key, f"{value:,.4f}" if isinstance(value, float) else f"{value:,}"
                     if isinstance(value, int) else str(value)))  # fmt: skip
    return rows


def write_report(result: BacktestResult, directory: str | Path) -> Path:
    """Parquet and CSV tables, summary.json and report.html (plotly.js beside it) in
    `directory`."""
    out = Path(directory)
    result.write(out)
    details = json.dumps(result.stable_summary(), indent=2, sort_keys=True, default=str)
    tables = {
        "Positions at the end (marked at the last mid)": table_html(result.positions),
        "P&L attribution (strategy unit and symbol, currency units)": table_html(
            result.attribution
        ),
        "Trade blotter (blotter.csv has every fill)": table_html(
            result.blotter, BLOTTER_ROWS, floats="{:,.4f}"
        ),
    }
    return write_html_report(
        out, "calarb backtest", summary_rows(result), figures(result), details,
        intro=f"<p>{html.escape(result.source)}</p>\n", align="right", tables=tables,
    )  # fmt: skip
