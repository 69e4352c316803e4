"""The figures of a backtest that a reader must be able to trust, with their terms stated.

* Returns: on the capital base configured as `[backtest] capital` (currency units). Without
  one, no return is given (P&L stays in money) and the report says so.
* Sharpe and Sortino: of the equity curve's per-sample changes (returns on capital when
  there is a base; the ratio is the same), annualised by sqrt(252 trading days x 6.5 hours /
  the sample period), as `annualisation` states. Below `MIN_RATIO_SPAN_S` of market time (one
  trading day) an annualised ratio says nothing: none is given, and `ratio_note` says why.
* Attribution: each fill belongs to the strategy unit named by its order's tag (a pair's
  orders are tagged `AAA/BBB:A`, a custom strategy's `Name:tag`); per unit and symbol, P&L
  is the cash of its fills plus its position at the final mark, less its fees. The units
  add up to the portfolio's P&L.
* Blotter: every fill as a trader reads it (clock time, side, shares, price in currency).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd

from calarb.core.types import PRICE_SCALE

TRADING_DAY_S = 23_400  # 6.5 hours
TRADING_DAYS_PER_YEAR = 252
MIN_RATIO_SPAN_S = TRADING_DAY_S
"""The shortest run (market time) for which an annualised Sharpe or Sortino is given."""


def performance(
    times_ns: np.ndarray, net: np.ndarray, sample_ns: int, capital: float | None
) -> dict[str, Any]:
    """Return on capital, drawdown, and the risk ratios or the reason there are none."""
    span_s = float(times_ns[-1] - times_ns[0]) / 1e9 if times_ns.size > 1 else 0.0
    drawdown = np.maximum.accumulate(net) - net if net.size else np.zeros(0)
    max_drawdown = float(drawdown.max()) if drawdown.size else 0.0
    final = float(net[-1]) if net.size else 0.0
    out: dict[str, Any] = {
        "span_s": span_s,
        "capital": capital,
        "return_pct": final / capital * 100 if capital else None,
        "max_drawdown": max_drawdown,
        "max_drawdown_pct": max_drawdown / capital * 100 if capital else None,
        "sharpe": None,
        "sortino": None,
        "annualisation": None,
    }
    if not capital:
        out["return_note"] = "no [backtest] capital configured: returns are not computed"
    sample_s = sample_ns / 1e9
    if span_s < MIN_RATIO_SPAN_S:
        out["ratio_note"] = (
            f"Sharpe and Sortino not computed: the run spans {span_s:,.0f} s of market time, "
            f"under the {MIN_RATIO_SPAN_S:,} s (one 6.5-hour trading day) an annualised ratio "
            "needs"
        )
        return out
    changes = np.diff(net) / (capital or 1.0)
    scale = math.sqrt(TRADING_DAYS_PER_YEAR * TRADING_DAY_S / sample_s)
    out["annualisation"] = (
        f"per-sample changes every {sample_s:g} s, x sqrt({TRADING_DAYS_PER_YEAR} days x "
        f"{TRADING_DAY_S:,} s / {sample_s:g} s) = x {scale:,.1f}"
    )
    if changes.size > 1 and changes.std(ddof=1) > 0:
        out["sharpe"] = float(changes.mean() / changes.std(ddof=1) * scale)
    downside = math.sqrt(float(np.mean(np.minimum(changes, 0.0) ** 2))) if changes.size else 0.0
    if downside > 0:
        out["sortino"] = float(changes.mean() / downside * scale)
    return out


def unit_of(tag: str) -> str:
    """The strategy unit of an order tag: `AAA/BBB:A` -> `AAA/BBB`; no tag -> `(untagged)`."""
    if not tag:
        return "(untagged)"
    return tag.rpartition(":")[0] or tag


def attribution(fills: pd.DataFrame, marks: dict[str, int]) -> pd.DataFrame:
    """P&L per strategy unit and symbol (currency units): shares bought and sold, final
    position, gross (cash + position x final mark), fees, net. `fills` needs the columns
    unit, symbol, side, quantity, price, fee."""
    columns = ["unit", "symbol", "fills", "bought", "sold", "position", "gross", "fees", "net"]
    if fills.empty:
        return pd.DataFrame(columns=columns)
    signed = fills["side"] * fills["quantity"]
    frame = fills.assign(
        signed=signed,
        cash=-signed * fills["price"],
        bought=fills["quantity"].where(fills["side"] > 0, 0),
        sold=fills["quantity"].where(fills["side"] < 0, 0),
    )
    rows = []
    for (unit, symbol), part in frame.groupby(["unit", "symbol"], sort=True):
        position = int(part["signed"].sum())
        gross = (int(part["cash"].sum()) + position * int(marks.get(symbol, 0))) / PRICE_SCALE
        fees = int(part["fee"].sum()) / PRICE_SCALE
        rows.append((unit, symbol, len(part), int(part["bought"].sum()),
                     int(part["sold"].sum()), position, gross, fees, gross - fees))  # fmt: skip
    return pd.DataFrame(rows, columns=columns)


def unit_totals(table: pd.DataFrame) -> dict[str, dict[str, float]]:
    """Gross, fees and net per strategy unit (summed over its symbols)."""
    if table.empty:
        return {}
    sums = table.groupby("unit", sort=True)[["gross", "fees", "net"]].sum()
    return {str(unit): {k: float(v) for k, v in row.items()} for unit, row in sums.iterrows()}


def clock_time(ns: int) -> str:
    """Nanoseconds after midnight as HH:MM:SS.ffffff (ITCH times count from midnight)."""
    seconds, fraction = divmod(int(ns), 1_000_000_000)
    hours, rest = divmod(seconds, 3600)
    return f"{hours:02d}:{rest // 60:02d}:{rest % 60:02d}.{fraction // 1000:06d}"


def blotter(fills: pd.DataFrame) -> pd.DataFrame:
    """The trade blotter: one row per fill, as a trader reads it."""
    columns = ["time", "unit", "purpose", "symbol", "side", "shares", "price", "venue",
               "liquidity", "fee", "cl_ord_id"]  # fmt: skip
    if fills.empty:
        return pd.DataFrame(columns=columns)
    return pd.DataFrame(
        {
            "time": [clock_time(t) for t in fills["time_ns"]],
            "unit": fills["unit"],
            "purpose": fills["purpose"],
            "symbol": fills["symbol"],
            "side": np.where(fills["side"] > 0, "BUY", "SELL"),
            "shares": fills["quantity"],
            "price": fills["price"] / PRICE_SCALE,
            "venue": fills["venue"],
            "liquidity": fills["liquidity"],
            "fee": fills["fee"] / PRICE_SCALE,
            "cl_ord_id": fills["cl_ord_id"],
        },
        columns=columns,
    )


def positions_table(positions: dict[str, int], marks: dict[str, int]) -> pd.DataFrame:
    """Final positions with their marks and market value (currency units), one row each."""
    rows = [
        (symbol, quantity, marks.get(symbol, 0) / PRICE_SCALE,
         quantity * marks.get(symbol, 0) / PRICE_SCALE)
        for symbol, quantity in sorted(positions.items())
    ]  # fmt: skip
    return pd.DataFrame(rows, columns=["symbol", "position", "mark", "market_value"])
