"""The trading engine as every backtest runs it (ITCH replay, synthetic market, paper run):
the live `TradingEngine` over gateways taped for the run's recorder, with the configured
fees and risk limits."""

from __future__ import annotations

from calarb.backtest.config import BacktestConfig
from calarb.backtest.results import RunRecorder, TapedGateway
from calarb.trading.engine import TradingEngine


def build_engine(
    config: BacktestConfig, clock, gateways, recorder: RunRecorder, strategy, router=None
) -> TradingEngine:
    fees = {name: config.fees(name) for name in gateways}
    taped = {name: TapedGateway(gateway, recorder) for name, gateway in gateways.items()}
    engine = TradingEngine(
        clock, strategy, taped, fees=fees, risk_limits=config.risk_limits(), router=router
    )
    recorder.attach(engine)
    return engine
