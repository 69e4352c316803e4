"""What a backtest leaves behind: orders, fills and positions over time as tables, and the
figures computed from them.

`RunRecorder` watches a run from the outside: it wraps each venue gateway (`TapedGateway`) to
note every order's send time and the arrival mid (the consolidated mid when the order left),
sits between the venues and the engine as the execution sink to time the first answer of each
order, and samples the portfolio every `sample_ns` (the equity curve). `BacktestResult` turns
that into pandas tables and metrics:

* P&L: gross (realised + unrealised at the last marks) and net (minus fees), currency units.
* Returns on the configured capital base, Sharpe and Sortino with their annualisation
  stated (none below one trading day of market time), per-unit (pair) P&L attribution and
  the trade blotter: `calarb.backtest.metrics`.
* Maximum drawdown: the largest fall of the net equity curve from a previous peak (positive).
* Turnover: traded notional, currency units.
* Round trips: fills matched first-in first-out per symbol; hit rate = share of closed lots
  with a positive gross P&L; holding time = close time - open time of each matched lot.
* TCA: implementation shortfall per fill = side x (fill price - arrival mid) x shares (a cost
  when positive), in currency and in bps of the arrival mid, by venue and by order type.
* Latency: order send to first report (round trip, including the venue's processing).
"""

from __future__ import annotations

import json
from collections import defaultdict, deque
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from calarb.backtest.metrics import attribution, blotter, performance, positions_table, unit_of
from calarb.core.order_events import (
    CancelReject,
    CancelRequest,
    ExecutionReport,
    ReplaceRequest,
    VenueOrder,
)
from calarb.core.orders import Liquidity
from calarb.core.types import PRICE_SCALE
from calarb.trading.gateway import OrderGateway
from calarb.trading.orders import VenueFees

SECONDS_PER_YEAR = 252 * 23_400


class RunRecorder:
    """Order tape, answer times and equity samples of one run (see the module docstring)."""

    def __init__(self, sample_ns: int, fees: Mapping[str, VenueFees]) -> None:
        self.sample_ns = sample_ns
        self.fees = dict(fees)
        self.capital: float | None = None  # `[backtest] capital`: the base of returns
        self.fills: list[tuple[int, ExecutionReport]] = []
        self.engine = None
        # ClOrdID -> (time, arrival mid, order type, tag, purpose)
        self.sends: dict[str, tuple[int, float | None, str, str, str]] = {}
        self.first_answer_ns: dict[str, int] = {}
        # equity samples in runs: (first time, period, count, realized, unrealized, fees, net,
        # each symbol's position), the same values at first + k period for k < count
        self.samples: list[tuple] = []
        self.symbols: list[str] = []
        self._positions: tuple[int, ...] = ()  # each symbol's position after ...
        self._positions_at = -1  # ... this many fills

    def attach(self, engine) -> None:
        self.engine = engine
        self.symbols = list(engine.strategy.symbols)
        self._positions_at = -1

    # -- taps ------------------------------------------------------------------------------

    def on_send(self, order: VenueOrder, now_ns: int) -> None:
        top = self.engine.consolidated.get(order.symbol) if self.engine else None
        mid = top.mid_price() if top is not None else None
        kind = "market" if order.ord_type.name == "MARKET" else f"limit-{order.time_in_force.name}"
        self.sends[order.cl_ord_id] = (now_ns, mid, kind.lower(), order.tag, str(order.purpose))

    def on_execution_report(self, report: ExecutionReport, now_ns: int | None = None) -> None:
        engine = self.engine
        now = engine.clock.monotonic_ns() if now_ns is None else now_ns
        if report.cl_ord_id not in self.first_answer_ns and report.cl_ord_id in self.sends:
            self.first_answer_ns[report.cl_ord_id] = now
        if report.last_qty > 0:
            self.fills.append((now, report))
        engine.on_execution_report(report, now)

    def on_cancel_reject(self, reject: CancelReject, now_ns: int | None = None) -> None:
        self.engine.on_cancel_reject(reject, now_ns)

    def sample(self, now_ns: int) -> None:
        self.samples.append((now_ns, 0, 1, *self._values()))

    def sample_repeated(self, first_ns: int, period_ns: int, count: int) -> None:
        """`count` samples every `period_ns` from `first_ns` while nothing changes (the fast
        replay's idle timer ticks): the rows `sample` would record then, as one run."""
        self.samples.append((first_ns, period_ns, count, *self._values()))

    @property
    def equity(self) -> list[tuple]:
        """The equity samples: (time, realized, unrealized, fees, net, positions...)."""
        return [
            (first + k * period, *values)
            for first, period, count, *values in self.samples
            for k in range(count)
        ]

    def _values(self) -> tuple:
        """realized, unrealized, fees, net and each symbol's position, now. Positions change
        only with fills (the OMS tells the portfolio and the engine, which lists them): they
        are read again after one."""
        engine = self.engine
        portfolio = engine.portfolio
        fills = len(engine.fills)
        if self._positions_at != fills:
            positions = portfolio.positions
            self._positions = tuple(
                positions[s].quantity if s in positions else 0 for s in self.symbols
            )
            self._positions_at = fills
        return (portfolio.realized, portfolio.unrealized, portfolio.fees, portfolio.net_pnl,
                *self._positions)  # fmt: skip


class TapedGateway:
    """An `OrderGateway` that tells the recorder about each new order, then forwards it."""

    def __init__(self, inner: OrderGateway, recorder: RunRecorder) -> None:
        self.inner = inner
        self.recorder = recorder

    def send_new_order(self, order: VenueOrder, now_ns: int) -> None:
        self.recorder.on_send(order, now_ns)
        self.inner.send_new_order(order, now_ns)

    def send_cancel(self, request: CancelRequest, now_ns: int) -> None:
        self.inner.send_cancel(request, now_ns)

    def send_replace(self, request: ReplaceRequest, now_ns: int) -> None:
        self.inner.send_replace(request, now_ns)


# --------------------------------------------------------------------------- tables


def orders_table(engine, recorder: RunRecorder) -> pd.DataFrame:
    rows = []
    for record in engine.oms.orders():
        sent = recorder.sends.get(record.root_id, (record.created_ns, None, "", "", ""))
        answered = recorder.first_answer_ns.get(record.root_id)
        rows.append(
            {
                "cl_ord_id": record.root_id, "parent_id": record.parent_id,
                "venue": record.venue, "symbol": record.symbol, "side": int(record.side),
                "quantity": record.quantity, "price": record.price,
                "order_type": sent[2], "tag": record.tag, "status": record.status.name,
                "cum_qty": record.cum_qty, "avg_px": record.avg_px,
                "created_ns": record.created_ns, "arrival_mid": sent[1],
                "round_trip_ns": answered - sent[0] if answered is not None else None,
            }
        )  # fmt: skip
    columns = ["cl_ord_id", "parent_id", "venue", "symbol", "side", "quantity", "price",
               "order_type", "tag", "status", "cum_qty", "avg_px", "created_ns", "arrival_mid",
               "round_trip_ns"]  # fmt: skip
    return pd.DataFrame(rows, columns=columns)


def fills_table(recorder: RunRecorder) -> pd.DataFrame:
    """One row per fill as the venues reported it (time = when calarb received it), with the
    fee and the order type and arrival mid of its order."""
    rows = []
    for index, (now, report) in enumerate(recorder.fills):
        sent = recorder.sends.get(report.cl_ord_id, (None, None, "", "", ""))
        fee = recorder.fees[report.venue].fee(report.last_qty, report.liquidity)
        rows.append(
            {
                "fill": index, "time_ns": now, "venue": report.venue, "symbol": report.symbol,
                "side": int(report.side), "quantity": report.last_qty, "price": report.last_px,
                "liquidity": "maker" if report.liquidity is Liquidity.ADDED else "taker",
                "fee": fee, "cl_ord_id": report.cl_ord_id, "order_type": sent[2],
                "arrival_mid": sent[1], "tag": sent[3], "unit": unit_of(sent[3]),
                "purpose": sent[4],
            }
        )  # fmt: skip
    columns = ["fill", "time_ns", "venue", "symbol", "side", "quantity", "price", "liquidity",
               "fee", "cl_ord_id", "order_type", "arrival_mid", "tag", "unit",
               "purpose"]  # fmt: skip
    return pd.DataFrame(rows, columns=columns)


def equity_table(recorder: RunRecorder) -> pd.DataFrame:
    columns = ["time_ns", "realized", "unrealized", "fees", "net", *recorder.symbols]
    runs = np.array(recorder.samples) if recorder.samples else None
    if runs is not None and runs.dtype.kind == "i" and runs.shape[1:] == (len(columns) + 2,):
        # the usual case (integers), without per-row work
        counts = runs[:, 2]
        values = np.repeat(runs[:, 2:], counts, axis=0)
        step = np.arange(len(values)) - np.repeat(np.cumsum(counts) - counts, counts)
        values[:, 0] = np.repeat(runs[:, 0], counts) + step * np.repeat(runs[:, 1], counts)
        frame = pd.DataFrame(values, columns=columns)
    else:
        frame = pd.DataFrame(recorder.equity, columns=columns)
    for name in ("realized", "unrealized", "fees", "net"):
        frame[name] = frame[name] / PRICE_SCALE
    frame["gross"] = frame["realized"] + frame["unrealized"]
    return frame


# --------------------------------------------------------------------------- metrics


def round_trips(fills: pd.DataFrame) -> pd.DataFrame:
    """Closed lots, first in first out per symbol: open/close time, shares, gross P&L."""
    lots: dict[str, deque] = defaultdict(deque)  # symbol -> [time, signed shares, price]
    closed = []
    for fill in fills.itertuples(index=False):
        signed = fill.quantity * fill.side
        queue = lots[fill.symbol]
        while signed and queue and (queue[0][1] > 0) != (signed > 0):
            opened = queue[0]
            shares = min(abs(signed), abs(opened[1]))
            direction = 1 if opened[1] > 0 else -1
            pnl = direction * (fill.price - opened[2]) * shares / PRICE_SCALE
            closed.append((fill.symbol, opened[0], fill.time_ns, shares, pnl))
            opened[1] -= direction * shares
            signed += direction * shares
            if opened[1] == 0:
                queue.popleft()
        if signed:
            queue.append([fill.time_ns, signed, fill.price])
    return pd.DataFrame(closed, columns=["symbol", "open_ns", "close_ns", "shares", "pnl"])


def tca(fills: pd.DataFrame) -> dict[str, Any]:
    """Implementation shortfall against the arrival mid, in total and by venue/order type."""
    known = fills.dropna(subset=["arrival_mid"])
    if known.empty:
        return {"shortfall": 0.0, "shortfall_bps": 0.0, "by_venue": {}, "by_order_type": {}}
    cost = known["side"] * (known["price"] - known["arrival_mid"]) * known["quantity"]
    notional = known["arrival_mid"] * known["quantity"]
    frame = known.assign(cost=cost, notional=notional)

    def group(column: str) -> dict[str, dict[str, float]]:
        out = {}
        for key, part in frame.groupby(column, sort=True):
            out[str(key)] = {
                "fills": int(len(part)),
                "shares": int(part["quantity"].sum()),
                "shortfall": float(part["cost"].sum() / PRICE_SCALE),
                "shortfall_bps": float(part["cost"].sum() / part["notional"].sum() * 1e4),
                "fees": float(part["fee"].sum() / PRICE_SCALE),
            }
        return out

    return {
        "shortfall": float(cost.sum() / PRICE_SCALE),
        "shortfall_bps": float(cost.sum() / notional.sum() * 1e4),
        "by_venue": group("venue"),
        "by_order_type": group("order_type"),
    }


def _percentiles_us(values: np.ndarray) -> dict[str, float]:
    if values.size == 0:
        return {"count": 0}
    p50, p90, p99 = np.percentile(values, [50, 90, 99]) / 1_000
    return {"count": int(values.size), "p50": float(p50), "p90": float(p90),
            "p99": float(p99), "max": float(values.max() / 1_000)}  # fmt: skip


class BacktestResult:
    """Tables and summary of one run. Money in currency units in tables' derived columns;
    prices stay integers (1/10,000) in the order and fill tables."""

    def __init__(self, engine, recorder: RunRecorder, *, events: int, elapsed_s: float,
                 source: str, venues: dict[str, Any]) -> None:  # fmt: skip
        self.engine = engine
        self.recorder = recorder
        self.events = events
        self.elapsed_s = elapsed_s
        self.source = source
        self.venue_states = venues
        self.orders = orders_table(engine, recorder)
        self.fills = fills_table(recorder)
        self.equity = equity_table(recorder)
        self.trips = round_trips(self.fills)
        self.compile_s = 0.0
        # which replay ran: an ITCH replay sets "fast" or "slow"; the synthetic market and
        # the paper run are event-driven simulations
        self.replay: dict[str, Any] = {"path": source.partition("(")[0] or "events",
                                       "reason": "", "deferred_tops": 0}
        marks = {s: p.mark for s, p in engine.portfolio.positions.items()}
        self.attribution = attribution(self.fills, marks)
        self.blotter = blotter(self.fills)
        self.positions = positions_table(
            {s: p.quantity for s, p in engine.portfolio.positions.items()}, marks
        )
        self.pairs = {
            name: state.model.history_frame() for name, state in engine.strategy.pairs.items()
        }
        # the first rows of each pair's history that are its warm-up (before the strategy
        # may act: `min_observations`; the history may have dropped its oldest rows)
        self.warmup_rows = {
            name: max(0, state.min_observations - (state.model.observations
                                                   - len(state.model.history)))
            for name, state in engine.strategy.pairs.items()
        }  # fmt: skip
        self.pair_rules = {
            name: {"entry": state.config.rules.entry, "exit": state.config.rules.exit,
                   "stop": state.config.rules.stop}
            for name, state in engine.strategy.pairs.items()
        }  # fmt: skip
        self.summary = self._summary()

    def _summary(self) -> dict[str, Any]:
        engine = self.engine
        portfolio = engine.portfolio
        net = self.equity["net"].to_numpy(dtype=np.float64)
        times = self.equity["time_ns"].to_numpy(dtype=np.int64)
        ratios = performance(times, net, self.recorder.sample_ns, self.recorder.capital)
        fills = self.fills
        trips = self.trips
        round_trip = self.orders["round_trip_ns"].dropna().to_numpy(dtype=np.float64)
        holding = (trips["close_ns"] - trips["open_ns"]).to_numpy(dtype=np.float64)
        turnover = float((fills["quantity"] * fills["price"]).sum() / PRICE_SCALE)
        return {
            "source": self.source,
            "orders": int(len(self.orders)),
            "fills": int(len(fills)),
            "filled_shares": int(fills["quantity"].sum()) if len(fills) else 0,
            "pnl_gross": (portfolio.realized + portfolio.unrealized) / PRICE_SCALE,
            "pnl_net": portfolio.net_pnl / PRICE_SCALE,
            "fees": portfolio.fees / PRICE_SCALE,
            **ratios,
            "attribution": {
                str(unit): {k: float(v) for k, v in row.items()}
                for unit, row in self.attribution.groupby("unit")[["gross", "fees", "net"]]
                .sum()
                .iterrows()
            },
            "turnover": turnover,
            "hit_rate": float((trips["pnl"] > 0).mean()) if len(trips) else 0.0,
            "round_trips": int(len(trips)),
            "holding_time_s": {
                "mean": float(holding.mean() / 1e9) if holding.size else 0.0,
                "median": float(np.median(holding) / 1e9) if holding.size else 0.0,
            },
            "positions": {s: p.quantity for s, p in sorted(portfolio.positions.items())},
            "tca": tca(fills),
            "order_round_trip_us": _percentiles_us(round_trip),
            "rejects": dict(sorted(engine.rejects.items())),
            "legging_events": engine.strategy.totals().get("legging_events", 0),
            "venues": self.venue_states,
            "events": int(self.events),
            "events_per_s": float(self.events / self.elapsed_s) if self.elapsed_s > 0 else 0.0,
            "elapsed_s": self.elapsed_s,
            "compile_s": 0.0,
        }

    def set_compile_time(self, seconds: float) -> None:
        """Time the run spent compiling Numba kernels: reported, and left out of the rate."""
        self.compile_s = seconds
        running = max(self.elapsed_s - seconds, 1e-9)
        self.summary["compile_s"] = seconds
        self.summary["events_per_s"] = float(self.events / running)

    def write(self, directory: str | Path) -> dict[str, Path]:
        """orders.parquet, fills.parquet, positions.parquet (the equity samples with the
        position of every symbol), pairs_<name>.parquet, summary.json."""
        out = Path(directory)
        out.mkdir(parents=True, exist_ok=True)
        paths = {
            "orders": out / "orders.parquet",
            "fills": out / "fills.parquet",
            "positions": out / "positions.parquet",
            "summary": out / "summary.json",
        }
        self.orders.to_parquet(paths["orders"], index=False)
        self.fills.to_parquet(paths["fills"], index=False)
        self.equity.to_parquet(paths["positions"], index=False)
        paths["blotter"] = out / "blotter.csv"
        self.blotter.to_csv(paths["blotter"], index=False)
        paths["attribution"] = out / "attribution.csv"
        self.attribution.to_csv(paths["attribution"], index=False)
        for name, frame in self.pairs.items():
            path = out / f"pairs_{name.replace('/', '_')}.parquet"
            frame.to_parquet(path, index=False)
            paths[f"pair {name}"] = path
        paths["summary"].write_text(json.dumps(self.stable_summary(), indent=2, sort_keys=True))
        return paths

    def stable_summary(self) -> dict[str, Any]:
        """The summary without the wall-clock figures (identical across identical runs)."""
        wall = ("events_per_s", "elapsed_s", "compile_s")
        return {k: v for k, v in self.summary.items() if k not in wall}

    def json_summary(self) -> dict[str, Any]:
        """The `--json` contract: orders, fills, pnl_net, sharpe, max_drawdown, turnover,
        events, events_per_s (plus a few extras)."""
        s = self.summary
        keys = ("orders", "fills", "pnl_net", "sharpe", "max_drawdown", "turnover", "events",
                "events_per_s", "pnl_gross", "fees", "sortino", "hit_rate", "round_trips",
                "capital", "return_pct", "span_s", "annualisation", "compile_s")  # fmt: skip
        out = {key: s[key] for key in keys}
        for note in ("ratio_note", "return_note"):
            if note in s:
                out[note] = s[note]
        out["replay_path"] = self.replay["path"]
        return out
