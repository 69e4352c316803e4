"""`calarb.Strategy`: the contract, the engine host, loading a strategy named by a config,
and what reaches a strategy (fills, refusals, L2 depth) in a real synthetic backtest."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import calarb
from calarb.backtest.config import BacktestConfig
from calarb.backtest.replay import run_backtest
from calarb.core.events import TopOfBook
from calarb.trading.config import ConfigError, parse_config
from calarb.trading.strategy import PairsStrategy
from calarb.trading.strategy_api import (
    Strategy,
    StrategyHost,
    engine_strategy,
    load_strategy,
)

PROBE = textwrap.dedent(
    '''
    from calarb import Strategy


    class Probe(Strategy):
        """Buys `first` AAA at the ask once, then asks for `too_many` (over the risk limit);
        records what comes back, and the L2 depth it sees."""

        def __init__(self, first=100, too_many=10_000):
            self.symbols = ["AAA", "BBB"]
            self.first, self.too_many = first, too_many
            self.sent = 0
            self.fills, self.refused, self.depths = [], [], []

        def on_top_of_book(self, top):
            depth = self.context.depth(top.symbol, 3)
            if depth is not None:
                self.depths.append(depth)
            if top.symbol != "AAA" or top.ask_shares <= 0 or self.sent >= 2:
                return None
            self.sent += 1
            quantity = self.first if self.sent == 1 else self.too_many
            return [self.context.buy("AAA", quantity, top.ask_price)]

        def on_fill(self, order, quantity, price, liquidity):
            self.fills.append((order.symbol, quantity, price))

        def on_intent_refused(self, intent, quantity=None):
            self.refused.append((intent.cl_ord_id, quantity))
    '''
)


def _probe_config(tmp_path: Path, **strategy) -> BacktestConfig:
    (tmp_path / "probe.py").write_text(PROBE)
    table = {
        "backtest": {"seed": 3, "venue_names": ["V1"]},
        "strategy": {"class": str(tmp_path / "probe.py") + ":Probe", **strategy},
        "risk": {"max_position": 1_000, "max_order_quantity": 500},
        "synthetic": {
            "seconds": 20, "venues": ["V1"], "step_ms": 100,
            "symbols": [{"symbol": "AAA", "start_price": 40.0},
                        {"symbol": "BBB", "start_price": 50.0}],
        },
    }  # fmt: skip
    return BacktestConfig(table, str(tmp_path / "probe.toml"))


def test_pairs_strategy_is_a_strategy_and_the_engine_takes_it_as_it_is():
    pairs = PairsStrategy()
    assert isinstance(pairs, Strategy)
    assert engine_strategy(pairs) is pairs
    assert calarb.Strategy is Strategy  # the public name
    with pytest.raises(TypeError, match="is not a calarb Strategy"):
        engine_strategy(object())


def test_a_strategy_trades_through_risk_and_hears_fills_refusals_and_depth(tmp_path):
    result = run_backtest(_probe_config(tmp_path), "synthetic")
    engine = result.engine
    host = engine.strategy
    assert isinstance(host, StrategyHost)
    probe = host.user
    assert probe.sent == 2
    # the first order filled (IOC-free DAY limit at the ask), the second broke the limit
    assert sum(q for _, q, _ in probe.fills) == 100
    assert engine.rejects["MAX_ORDER_QUANTITY"] == 1
    assert probe.refused == [("U2", 10_000)]
    assert host.context.position("AAA") == engine.portfolio.quantity("AAA") == 100
    assert host.context.open_orders == {}
    assert host.totals() == {"orders": 2, "cancels": 0, "fills": len(probe.fills), "refused": 1}
    # L2 on request: bids best (highest) first, asks lowest first
    assert probe.depths
    book = probe.depths[-1]
    bids = [level.price for level in book.bids]
    asks = [level.price for level in book.asks]
    assert bids == sorted(bids, reverse=True) and asks == sorted(asks)
    assert bids[0] < asks[0]


def test_actions_while_not_trading_are_refused_back_to_the_strategy(tmp_path):
    (tmp_path / "probe.py").write_text(PROBE)
    probe = load_strategy("probe.py:Probe", {}, tmp_path)
    host = StrategyHost(probe)  # no engine attached: not trading
    host.on_top_of_book(TopOfBook("AAA", 1, 400_000, 100, 400_100, 100))
    assert probe.refused == [("U1", 100)]
    assert host.context.open_orders == {}


@pytest.mark.parametrize(
    ("spec", "params", "message"),
    [
        ("no_colon", {}, "is not 'module:Class'"),
        ("missing.py:Probe", {}, "no file"),
        ("calarb.nosuchmodule:Probe", {}, "cannot import"),
        ("calarb.core.types:Side", {}, "is not a calarb Strategy class"),
        ("probe.py:Probe", {"frist": 1}, "frist"),
    ],
)
def test_load_strategy_names_what_is_wrong(tmp_path, spec, params, message):
    (tmp_path / "probe.py").write_text(PROBE)
    with pytest.raises(ValueError, match=message) as caught:
        load_strategy(spec, params, tmp_path, where="cfg.toml: [strategy]")
    assert str(caught.value).startswith("cfg.toml: [strategy]")


VENUE = {
    "name": "ALPHA",
    "fix": {"BeginString": "FIX.4.4", "SenderCompID": "C", "TargetCompID": "ALPHA",
            "SocketConnectHost": "127.0.0.1", "SocketConnectPort": 9101},
    "feed": {"group": "239.255.10.1", "port": 31001, "retransmission_port": 31002},
}  # fmt: skip


def test_run_config_names_a_strategy_class(tmp_path):
    (tmp_path / "probe.py").write_text(PROBE)
    document = {"strategy": {"class": "probe.py:Probe", "first": 50}, "venues": [VENUE]}
    config = parse_config(document, tmp_path)
    strategy = config.strategy.build()
    assert strategy.first == 50 and strategy.symbols == ["AAA", "BBB"]
    pairs = {"leg_a": "AAA", "leg_b": "BBB"}
    with pytest.raises(ConfigError, match="exclude each other"):
        parse_config({**document, "pairs": [pairs]}, tmp_path)
    with pytest.raises(ConfigError, match="missing 'class'"):
        parse_config({"strategy": {"first": 1}, "venues": [VENUE]}, tmp_path)
    with pytest.raises(ConfigError, match="frist"):
        parse_config({"strategy": {"class": "probe.py:Probe", "frist": 1}, "venues": [VENUE]},
                     tmp_path)  # fmt: skip


def test_backtest_command_with_a_bad_strategy_class_is_one_line_and_exit_2(tmp_path):
    config = tmp_path / "bad.toml"
    config.write_text(
        '[strategy]\nclass = "nowhere.py:Nothing"\n[synthetic]\nseconds = 5\n'
        '[[synthetic.symbols]]\nsymbol = "AAA"\nstart_price = 40.0\ndaily_volatility = 0.3\n'
    )
    done = subprocess.run(
        [sys.executable, "-m", "calarb.cli", "backtest", "--data", "synthetic",
         "--config", str(config)],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 2
    assert done.stderr.strip().count("\n") == 0
    assert "[strategy].class" in done.stderr and "no file" in done.stderr
    assert "Traceback" not in done.stderr


def test_depth_in_an_itch_replay_is_the_replayed_venue_book(tmp_path):
    from calarb.backtest.replay import run_itch_backtest
    from calarb.backtest.synthetic import write_synthetic_itch

    config = _probe_config(tmp_path)
    files = write_synthetic_itch(config, tmp_path / "itch")
    for fast in (True, False):
        result = run_itch_backtest(config, files, fast=fast)
        probe = result.engine.strategy.user
        assert result.replay["path"] == ("fast" if fast else "slow")
        assert len(probe.depths) > 10
        for book in probe.depths[-10:]:
            bids = [level.price for level in book.bids]
            asks = [level.price for level in book.asks]
            assert 0 < len(bids) <= 3 and 0 < len(asks) <= 3
            assert bids == sorted(bids, reverse=True) and asks == sorted(asks)
            assert bids[0] < asks[0]
