"""`calarb demo --options`: the options calibration-arbitrage loop on loopback.

The options simulator (Heston underlying, makers quoting an SSVI surface with noise, planted
mispricings) is published as ITTO 4.0 (options) and ITCH 5.0 (underlying) over MoldUDP64
multicast on 127.0.0.1; the strategy, run by the trading engine (its risk gate, router, OMS
and portfolio), recalibrates its surface from that stream, trades the deviations through the
engine's FIX gateway as FIX 4.4 option orders over TCP, and hedges its delta with the
underlying.
The same market is then backtested in-process, and the demo shows both runs side by side
(same orders, same fills: the parity check) and writes `summary.json` to the report folder.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from calarb.backtest.options_market import OptionsMarketConfig
from calarb.backtest.options_paper import run_options_paper
from calarb.backtest.options_run import OptionsRunConfig, run_options_backtest


def run_options_demo(duration_s: float, seed: int, report: Path | None) -> dict:
    config = OptionsRunConfig(
        market=OptionsMarketConfig(seed=seed, mispricings_per_minute=6.0), seconds=duration_s
    )
    paper = run_options_paper(config)
    backtest = run_options_backtest(config)
    summary = {
        "paper": paper.summary(),
        "backtest": backtest.summary(),
        "same_orders": paper.orders == backtest.orders,
        "same_fills": paper.reports == backtest.reports,
        "plants": [
            {
                "symbol": p.symbol,
                "start_s": round((p.start_ns - config.market.start_ns) / 1e9, 2),
                "vol_points": p.vol_points,
            }
            for p in paper.plants
        ],  # fmt: skip
        "orders": [
            {
                "time_s": round((t - config.market.start_ns) / 1e9, 2),
                "symbol": s,
                "side": "buy" if side > 0 else "sell",
                "quantity": q,
                "price": p / 10_000,
                "purpose": purpose,
            }
            for t, s, side, q, p, purpose in paper.orders
        ],  # fmt: skip
    }
    summary["clean"] = bool(
        summary["same_orders"] and summary["same_fills"]
        and not paper.summary()["fix_errors"] and not paper.summary()["fix_rejects"]
        and paper.risk.worst_abs_delta <= paper.risk.limits.max_delta_shares
    )  # fmt: skip
    if report is not None:
        report.mkdir(parents=True, exist_ok=True)
        (report / "summary.json").write_text(json.dumps(summary, indent=2))
    return summary


def format_options_summary(summary: dict) -> str:
    paper = summary["paper"]
    lines = [
        f"calarb options demo: {paper['source']}",
        f"  planted mispricings {paper['plants']}, traded {paper['plants_traded']}, "
        f"entries {paper['entries']}, orders {paper['orders']} "
        f"(option fills {paper['option_fills']}, hedge fills {paper['hedge_fills']})",
        f"  P&L net of fees {paper['pnl']:.2f} (fees {paper['fees']:.2f})",
        f"  worst |delta| {paper['worst_abs_delta_shares']} shares (limit "
        f"{paper['delta_limit_shares']:.0f}), surface fits {paper['surface_fits']}",
        f"  engine: {paper['engine_orders_sent']} orders through its risk gate, router and OMS, "
        f"rejects {paper['engine_rejects'] or 'none'}; options limits refused "
        f"{paper['risk_refused'] or 'none'}",
        f"  feeds: {paper['options_messages']} ITTO + {paper['equity_messages']} ITCH messages, "
        f"{paper['feed_gaps']} gaps; FIX orders {paper['fix_orders_sent']}, "
        f"reports {paper['fix_reports']}",
        f"  backtest of the same market: P&L {summary['backtest']['pnl']:.2f}, same orders "
        f"{summary['same_orders']}, same fills {summary['same_fills']}",
        "  orders:",
    ]
    for order in summary["orders"]:
        lines.append(
            f"    {order['time_s']:7.2f}s {order['purpose']:<5} {order['side']:<4} "
            f"{order['quantity']:>5} {order['symbol']:<22} @ {order['price']:.2f}"
        )
    return "\n".join(lines)


def run_command(args: argparse.Namespace) -> int:
    if args.duration <= 0:
        print("calarb demo --options: --duration must be positive", file=sys.stderr)
        return 2
    try:
        summary = run_options_demo(args.duration, args.seed, args.report)
    except (OSError, TimeoutError, ValueError) as exc:
        print(f"calarb demo --options: {exc}", file=sys.stderr)
        return 1
    print(json.dumps(summary, indent=2) if args.json else format_options_summary(summary))
    return 0 if summary["clean"] else 1
