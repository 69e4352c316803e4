"""The strategies of `examples/`, written only against `calarb.Strategy`, backtested as their
docstrings say: they trade, stay inside their own limits, keep their books in step with the
engine's portfolio, and replay identically (twice; fast and slow ITCH paths)."""

from __future__ import annotations

from itertools import accumulate
from pathlib import Path

import pytest

from calarb.backtest.commands import _text_summary
from calarb.backtest.config import BacktestConfig
from calarb.backtest.replay import run_backtest, run_itch_backtest
from calarb.backtest.synthetic import write_synthetic_itch
from calarb.core.types import Side
from calarb.trading.strategy_api import StrategyHost

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def _config(name: str, seconds: int = 120) -> BacktestConfig:
    return BacktestConfig.load(EXAMPLES / name).with_overrides({"synthetic.seconds": seconds})


def _fills(result) -> list[tuple]:
    return [fill.as_tuple() for fill in result.engine.fills]


def _path_of_position(result, symbol: str) -> list[int]:
    signed = [f.quantity if f.side is Side.BUY else -f.quantity
              for f in result.engine.fills if f.symbol == symbol]  # fmt: skip
    return list(accumulate(signed))


def _assert_books_agree(result) -> None:
    host = result.engine.strategy
    assert isinstance(host, StrategyHost)
    portfolio = result.engine.portfolio
    for symbol in host.user.symbols:
        assert host.context.position(symbol) == portfolio.quantity(symbol)


def test_mean_reversion_quoter_backtest_quotes_within_its_limits_and_repeats():
    config = _config("mean_reversion_quoter.toml")
    result = run_backtest(config, "synthetic")
    quoter = result.engine.strategy.user
    summary = result.json_summary()
    assert summary["orders"] > 20 and summary["fills"] > 5
    assert result.engine.cancels_sent > 0  # it requotes
    positions = _path_of_position(result, "AAA")
    assert max(abs(p) for p in positions) <= quoter.max_position
    _assert_books_agree(result)
    assert all(order.symbol == "AAA" for order in result.engine.oms.orders())
    again = run_backtest(config, "synthetic")
    assert _fills(again) == _fills(result)


def test_basket_arbitrage_backtest_trades_the_basket_in_its_weights():
    result = run_backtest(_config("basket_arbitrage.toml", 180), "synthetic")
    basket = result.engine.strategy.user
    assert basket.trades >= 2
    assert {f.symbol for f in result.engine.fills} == {"ETF", "AAA", "BBB"}
    _assert_books_agree(result)
    # every decision moved all three targets together, in the configured weights
    targets = basket.targets
    assert targets["AAA"] == targets["BBB"] == -targets["ETF"]
    assert abs(targets["ETF"]) in (0, basket.size)
    etf = _path_of_position(result, "ETF")
    assert max(abs(p) for p in etf) <= basket.size


def test_quoter_itch_replay_fast_and_slow_paths_agree(tmp_path):
    config = _config("mean_reversion_quoter.toml", 90)
    files = write_synthetic_itch(config, tmp_path)
    fast = run_itch_backtest(config, files)
    slow = run_itch_backtest(config, files, fast=False)
    assert fast.replay["path"] == "fast" and slow.replay["path"] == "slow"
    assert fast.json_summary()["replay_path"] == "fast"
    assert "fast replay (compiled books)" in _text_summary(fast)
    assert "slow replay (Python books): fast=False" in _text_summary(slow)
    assert len(fast.engine.fills) > 0
    assert _fills(fast) == _fills(slow)
    _assert_books_agree(fast)


@pytest.mark.parametrize("name", ["mean_reversion_quoter.py", "basket_arbitrage.py"])
def test_each_example_documents_its_backtest_command(name):
    text = (EXAMPLES / name).read_text()
    config = name.replace(".py", ".toml")
    assert f"calarb backtest --data synthetic --config examples/{config}" in text
    assert (EXAMPLES / config).is_file()


@pytest.mark.network
def test_quoter_paper_run_over_loopback_matches_its_backtest():
    """The lock-step paper run (real FIX and multicast on 127.0.0.1) of a strategy written on
    the API sends the same orders and gets the same fills as its backtest."""
    from calarb.backtest.paper import run_paper_blocking

    config = _config("mean_reversion_quoter.toml", 60)
    backtest = run_backtest(config, "synthetic")
    paper = run_paper_blocking(config)

    def orders(result):
        return [(o.cl_ord_id, o.symbol, o.side, o.quantity, o.price, o.created_ns)
                for o in result.engine.oms.orders()]  # fmt: skip

    assert len(orders(backtest)) >= 10 and len(backtest.engine.fills) >= 3
    assert orders(paper) == orders(backtest)
    assert _fills(paper) == _fills(backtest)
