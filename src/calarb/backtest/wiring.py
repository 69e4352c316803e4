"""The trading engine as every backtest runs it (ITCH replay, synthetic market, paper run):
the live `TradingEngine` over gateways taped for the run's recorder, with the configured
fees and risk limits."""

from __future__ import annotations

from calarb.backtest.config import BacktestConfig
from calarb.backtest.results import RunRecorder, TapedGateway
from calarb.trading.engine import TradingEngine
from calarb.trading.strategy_api import StrategyHost, engine_strategy


def build_engine(
    config: BacktestConfig, clock, gateways, recorder: RunRecorder, strategy, router=None
) -> TradingEngine:
    fees = {name: config.fees(name) for name in gateways}
    taped = {name: TapedGateway(gateway, recorder) for name, gateway in gateways.items()}
    strategy = engine_strategy(strategy)
    engine = TradingEngine(
        clock, strategy, taped, fees=fees, risk_limits=config.risk_limits(), router=router
    )
    if isinstance(strategy, StrategyHost):
        strategy.attach(engine, _venue_depth(gateways, engine))
    recorder.capital = config.capital
    recorder.attach(engine)
    return engine


def _venue_depth(gateways, engine):
    """L2 for a `Strategy` in a backtest: the replayed venues' books (as the venue holds
    them now, no feed latency), else the engine's own (paper runs feed it ITCH)."""
    books_of = [g._book_for for g in gateways.values() if hasattr(g, "_book_for")]
    if not books_of:
        return None

    def depth(symbol: str, levels: int):
        for book_for in books_of:
            book = book_for(symbol)
            if book is not None and len(book):
                return book.snapshot(levels, engine.clock.monotonic_ns())
        return None

    return depth
