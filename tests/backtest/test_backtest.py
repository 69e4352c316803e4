"""End to end: `run_backtest` over generated ITCH files and a synthetic market, results checked
against an independent recomputation from the fills, determinism, report, Dask sweep, CLI."""

from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path

import pandas as pd
import pytest

from calarb.backtest.config import BacktestConfig
from calarb.backtest.replay import run_backtest
from calarb.backtest.report import write_report
from calarb.backtest.sweep import parse_grid, run_sweep
from calarb.backtest.synthetic import write_synthetic_itch
from calarb.cli import main
from calarb.core.types import PRICE_SCALE
from calarb.itch.generate import generate_itch_file

CONFIG = Path(__file__).resolve().parents[2] / "configs" / "backtest.toml"
JSON_KEYS = {"orders", "fills", "pnl_net", "sharpe", "max_drawdown", "turnover", "events",
             "events_per_s"}  # fmt: skip


def config(seconds: float = 60, **overrides) -> BacktestConfig:
    base = BacktestConfig.load(CONFIG)
    return base.with_overrides({"synthetic.seconds": seconds, **overrides})


@pytest.fixture(scope="module")
def synthetic_result():
    return run_backtest(config(), "synthetic")


@pytest.fixture(scope="module")
def recorded_files(tmp_path_factory):
    """The configured two-venue cointegrated market, recorded without calarb as ITCH files."""
    return write_synthetic_itch(config(), tmp_path_factory.mktemp("itch"))


@pytest.fixture(scope="module")
def itch_result(recorded_files):
    return run_backtest(config(), [str(p) for p in recorded_files])


def independent_check(result) -> None:
    """Positions, fees, turnover and net P&L from the fills table alone: cash flows plus the
    positions at the portfolio's final marks."""
    fills = result.fills
    engine = result.engine
    position = defaultdict(int)
    cash = fees = turnover = 0
    for fill in fills.itertuples():
        position[fill.symbol] += fill.side * fill.quantity
        cash -= fill.side * fill.quantity * fill.price
        turnover += fill.quantity * fill.price
        rates = result.recorder.fees[fill.venue]
        fees += fill.quantity * (rates.maker if fill.liquidity == "maker" else rates.taker)
    portfolio = engine.portfolio
    marks = {s: p.mark for s, p in portfolio.positions.items()}
    value = sum(q * marks[s] for s, q in position.items())
    assert result.summary["positions"] == {s: position[s] for s in result.summary["positions"]}
    assert portfolio.fees == fees == int(fills["fee"].sum())
    assert result.summary["pnl_net"] == pytest.approx((cash + value - fees) / PRICE_SCALE)
    assert result.summary["turnover"] == pytest.approx(turnover / PRICE_SCALE)
    # the engine's own fill list agrees with the venues' reports
    assert [(f.symbol, int(f.side), f.quantity, f.price) for f in engine.fills] == list(
        fills[["symbol", "side", "quantity", "price"]].itertuples(index=False, name=None)
    )
    # the orders table: each order's filled quantity is the sum of its fills
    by_order = fills.groupby("cl_ord_id")["quantity"].sum()
    orders = result.orders.set_index("cl_ord_id")
    assert (orders.loc[by_order.index, "cum_qty"] == by_order).all()
    # the equity curve ends at the net P&L
    assert result.equity["net"].iloc[-1] == pytest.approx(result.summary["pnl_net"])
    assert result.summary["max_drawdown"] >= 0


def test_synthetic_backtest_trades_and_adds_up(synthetic_result):
    summary = synthetic_result.summary
    assert summary["orders"] > 20 and summary["fills"] > 20
    assert summary["events"] > 10_000
    assert set(synthetic_result.json_summary()) >= JSON_KEYS
    assert not synthetic_result.engine.oms.anomalies.get("cum_qty_regressed")
    independent_check(synthetic_result)
    tca = summary["tca"]
    assert set(tca["by_venue"]) <= {"V1", "V2"} and tca["by_venue"]
    assert summary["order_round_trip_us"]["p50"] >= 2 * 50  # two one-way crossings at least


def test_itch_replay_over_recorded_venues(itch_result, recorded_files):
    summary = itch_result.summary
    assert summary["orders"] > 10 and summary["fills"] > 10
    assert {f.venue for f in itch_result.engine.fills} == {"V1", "V2"}
    states = summary["venues"]
    assert states["V1"]["messages"] > 1_000 and states["V2"]["messages"] > 1_000
    assert states["V1"]["shares_consumed"] + states["V2"]["shares_consumed"] > 0
    independent_check(itch_result)


def test_itch_replay_of_a_generated_multi_symbol_file(tmp_path):
    path = tmp_path / "day.itch"
    generate_itch_file(path, 60_000, 6, seed=4)
    cfg = config(**{"strategy.auto_pairs": 2, "strategy.order_style": "ioc",
                    "strategy.min_observations": 100, "backtest.venue_names": ["X"]})  # fmt: skip
    result = run_backtest(cfg, [str(path)])
    assert len(result.engine.strategy.pairs) == 2
    assert result.summary["orders"] > 0 and result.summary["fills"] > 0
    assert result.summary["events"] >= 60_000
    independent_check(result)


def test_a_backtest_run_twice_is_identical(itch_result, recorded_files, synthetic_result):
    again = run_backtest(config(), [str(p) for p in recorded_files])
    pd.testing.assert_frame_equal(again.orders, itch_result.orders)
    pd.testing.assert_frame_equal(again.fills, itch_result.fills)
    pd.testing.assert_frame_equal(again.equity, itch_result.equity)
    assert again.stable_summary() == itch_result.stable_summary()
    twice = run_backtest(config(), "synthetic")
    pd.testing.assert_frame_equal(twice.fills, synthetic_result.fills)
    assert twice.stable_summary() == synthetic_result.stable_summary()


def test_order_latency_moves_fills_in_the_expected_direction(recorded_files):
    """Slower order entry: the round trip grows by the added latency, and IOC orders at the
    far touch arrive after the quote they aimed at has more often moved: a lower fill ratio."""

    def run(us: int):
        cfg = config(**{"venues.default.order_latency": us, "venues.V2.order_latency": us,
                        "strategy.order_style": "ioc"})  # fmt: skip
        result = run_backtest(cfg, [str(p) for p in recorded_files])
        orders = result.orders
        return result.summary, orders["cum_qty"].sum() / orders["quantity"].sum()

    (fast, fast_ratio), (slow, slow_ratio) = run(20), run(400_000)
    assert slow["order_round_trip_us"]["p50"] >= fast["order_round_trip_us"]["p50"] + 2 * 399_000
    assert slow_ratio < fast_ratio


def test_report_has_tables_and_interactive_plots(synthetic_result, tmp_path):
    path = write_report(synthetic_result, tmp_path)
    text = path.read_text()
    for name in ("equity", "drawdown", "attribution", "tca", "latency", "pair_AAA_BBB"):
        assert f'id="figure-{name}"' in text
    assert "<script src='plotly.min.js'></script>" in text and (tmp_path / "plotly.min.js").is_file()
    assert "https://" not in text  # offline: nothing fetched
    fills = pd.read_parquet(tmp_path / "fills.parquet")
    assert len(fills) == synthetic_result.summary["fills"]
    assert len(pd.read_parquet(tmp_path / "orders.parquet")) == synthetic_result.summary["orders"]
    positions = pd.read_parquet(tmp_path / "positions.parquet")
    assert {"net", "gross", "AAA", "BBB"} <= set(positions.columns)
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["fills"] == synthetic_result.summary["fills"]
    blotter = pd.read_csv(tmp_path / "blotter.csv")
    assert len(blotter) == len(fills) and set(blotter["side"]) <= {"BUY", "SELL"}
    assert blotter["time"].str.match(r"^\d\d:\d\d:\d\d\.\d{6}$").all()
    assert "Trade blotter" in text and "P&amp;L attribution" in text
    assert "Sharpe and Sortino not computed" in text  # a 60 s run: no annualised ratio


def test_attribution_adds_up_to_the_portfolio_and_returns_use_the_capital(synthetic_result):
    summary = synthetic_result.summary
    units = summary["attribution"]
    assert set(units) == {"AAA/BBB"}  # the pair's legs are tagged AAA/BBB:A and :B
    assert sum(u["gross"] for u in units.values()) == pytest.approx(summary["pnl_gross"])
    assert sum(u["net"] for u in units.values()) == pytest.approx(summary["pnl_net"])
    table = synthetic_result.attribution
    assert set(table["symbol"]) == {"AAA", "BBB"}
    assert table["position"].tolist() == [summary["positions"].get(s, 0) for s in table["symbol"]]
    capital = synthetic_result.recorder.capital
    assert capital == 1_000_000
    assert summary["return_pct"] == pytest.approx(summary["pnl_net"] / capital * 100)
    assert summary["sharpe"] is None and summary["sortino"] is None
    assert "run spans 61 s of market time" in summary["ratio_note"]  # 60 s and the last sample


def test_ratios_only_over_a_trading_day_with_their_annualisation_stated():
    import numpy as np

    from calarb.backtest.metrics import MIN_RATIO_SPAN_S, performance

    rng = np.random.default_rng(1)
    sample_ns = 60_000_000_000
    count = MIN_RATIO_SPAN_S // 60 + 1
    times = np.arange(count, dtype=np.int64) * sample_ns
    net = np.cumsum(rng.normal(0.5, 10.0, count))
    day = performance(times, net, sample_ns, 100_000.0)
    changes = np.diff(net)
    scale = np.sqrt(252 * 23_400 / 60)
    assert day["sharpe"] == pytest.approx(changes.mean() / changes.std(ddof=1) * scale)
    assert "x sqrt(252 days x 23,400 s / 60 s)" in day["annualisation"]
    short = performance(times[:-1], net[:-1], sample_ns, None)
    assert short["sharpe"] is None and short["annualisation"] is None
    assert "under the 23,400 s" in short["ratio_note"] and "capital" in short["return_note"]


def test_dask_sweep_returns_the_full_grid():
    from dask.distributed import Client, LocalCluster

    grid = parse_grid("entry=1.5,2;window=100,300")
    assert grid[1] == {"entry": 1.5, "window": 300} and len(grid) == 4
    cfg = config(seconds=15, **{"strategy.min_observations": 50})
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=False,
                      dashboard_address=None) as cluster, Client(cluster) as client:  # fmt: skip
        table = run_sweep(cfg, grid, client=client, progress=False)
    assert table[["entry", "window"]].to_dict("records") == grid
    assert (table["events"] > 0).all()
    # each point is a real run: the same point alone gives the same figures
    alone = run_backtest(cfg.with_overrides(grid[2]), "synthetic").json_summary()
    assert table.iloc[2]["pnl_net"] == pytest.approx(alone["pnl_net"])
    assert table.iloc[2]["fills"] == alone["fills"]


def test_cli_backtest_json(tmp_path, capsys, recorded_files):
    data = ",".join(str(p) for p in recorded_files)
    code = main(["backtest", "--data", data, "--config", str(CONFIG), "--report",
                 str(tmp_path / "r"), "--json"])  # fmt: skip
    assert code == 0
    printed = json.loads(capsys.readouterr().out)
    assert set(printed) >= JSON_KEYS and printed["events"] > 0
    assert (tmp_path / "r" / "report.html").exists()
    assert main(["backtest", "--data", str(tmp_path / "missing.itch"), "--config",
                 str(CONFIG)]) == 2  # fmt: skip
