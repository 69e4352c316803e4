"""The synthetic market: configuration, determinism, market quality, and recovery of the
configured pair parameters (hedge ratio by OLS, half-life by AR(1) on the spread)."""

from __future__ import annotations

import math
import tomllib

import numpy as np
import pytest

from calarb.core.types import PRICE_SCALE, Side
from calarb.venue.matching import MatchingEngine
from calarb.venue.orders import Execution
from calarb.venue.synthetic import (
    BackgroundTraders,
    FairValueProcess,
    MarketMakerConfig,
    PairConfig,
    SymbolConfig,
    SyntheticMarket,
    SyntheticMarketConfig,
)

TOML = """
[synthetic]
seed = 11
step_ms = 1000

[[synthetic.symbols]]
symbol = "AAA"
start_price = 100.0
daily_volatility = 0.02

[[synthetic.symbols]]
symbol = "BBB"
start_price = 50.0
lot_size = 100

[[synthetic.pairs]]
dependent = "BBB"
driver = "AAA"
hedge_ratio = 1.5
half_life_s = 120.0
spread_sd = 0.004
form = "log"

[synthetic.market_makers]
count = 2
levels = 4

[synthetic.noise_traders]
orders_per_s = 0.8
"""


def pair_config(seed: int, form: str = "log", spread_sd: float = 0.004) -> SyntheticMarketConfig:
    return SyntheticMarketConfig(
        seed=seed,
        symbols=(SymbolConfig("AAA", 100.0, 0.02), SymbolConfig("BBB", 50.0)),
        pairs=(PairConfig("BBB", "AAA", 1.5, 120.0, spread_sd, form),),
    )


def estimate_pair(dependent: np.ndarray, driver: np.ndarray, step_s: float) -> tuple[float, float]:
    """OLS hedge ratio of dependent on driver, and the AR(1) half-life of the residual spread."""
    design = np.column_stack([np.ones_like(driver), driver])
    alpha, beta = np.linalg.lstsq(design, dependent, rcond=None)[0]
    spread = dependent - alpha - beta * driver
    lagged = np.column_stack([np.ones(len(spread) - 1), spread[:-1]])
    phi = np.linalg.lstsq(lagged, spread[1:], rcond=None)[0][1]
    return float(beta), -math.log(2.0) / math.log(phi) * step_s


def test_config_from_toml_and_describe() -> None:
    config = SyntheticMarketConfig.from_mapping(tomllib.loads(TOML)["synthetic"])
    assert config.step_ns == 1_000_000_000
    assert config.market_makers == MarketMakerConfig(count=2, levels=4)
    assert config.noise_traders.orders_per_s == 0.8
    assert config.instruments()[1].lot_size == 100
    (truth,) = config.true_parameters()
    assert truth["hedge_ratio"] == 1.5 and truth["half_life_s"] == 120.0
    assert truth["alpha"] == pytest.approx(math.log(50.0) - 1.5 * math.log(100.0))
    text = config.describe()
    assert "hedge_ratio=1.5" in text and "half_life_s=120" in text and "A=BBB B=AAA" in text


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda t: t["symbols"][0].update(colour="red"), r"synthetic.symbols\[0\].*colour"),
        (lambda t: t["pairs"][0].update(driver="ZZZ"), "ZZZ is not a symbol"),
        (lambda t: t["pairs"][0].update(form="cubic"), "form must be"),
        (lambda t: t["market_makers"].update(depth=3), "synthetic.market_makers.*depth"),
        (lambda t: t.update(speed=2), "unknown key"),
    ],
)
def test_config_errors_name_the_key(mutate, message) -> None:
    table = tomllib.loads(TOML)["synthetic"]
    mutate(table)
    with pytest.raises(ValueError, match=message):
        SyntheticMarketConfig.from_mapping(table)


def test_fair_value_process_recovers_parameters_over_many_days() -> None:
    """The process alone, 5 days of 1 s steps: tight tolerances (hedge 2%, half-life 10%)."""
    for form, spread_sd in (("log", 0.004), ("price", 0.2)):
        config = pair_config(seed=3, form=form, spread_sd=spread_sd)
        process = FairValueProcess(config)
        steps = 5 * 23_400
        driver = np.empty(steps)
        dependent = np.empty(steps)
        for index in range(steps):
            process.step()
            driver[index] = process.price("AAA")
            dependent[index] = process.price("BBB")
        if form == "log":
            driver, dependent = np.log(driver), np.log(dependent)
        beta, half_life = estimate_pair(dependent, driver, 1.0)
        assert beta == pytest.approx(1.5, rel=0.02), form
        assert half_life == pytest.approx(120.0, rel=0.10), form
        assert process.now_ns == steps * 1_000_000_000


def run_market(market: SyntheticMarket, steps: int):
    """Step the market; returns mid prices per step and the executions seen."""
    symbols = [s.symbol for s in market.config.symbols]
    mids = {symbol: np.empty(steps) for symbol in symbols}
    executions = []
    for index in range(steps):
        market.step()
        for symbol in symbols:
            top = market.engine.top_of_book(symbol)
            assert not top.crossed
            mids[symbol][index] = (top.bid_price + top.ask_price) / 2 / PRICE_SCALE
        executions.extend(e for e in market.engine.take_book_events() if isinstance(e, Execution))
        market.engine.take_reports()
    return mids, executions


@pytest.mark.slow
def test_model_recovers_hedge_ratio_and_half_life_from_a_simulated_day() -> None:
    """One 6.5-hour day at 1 s steps through the matching engine, estimated from mid prices.

    Tolerances: hedge ratio within 6%, half-life within 30%. Over seeds 1-7 the errors were at
    most 4% and 13% (the half-life's sampling error over ~195 half-lives is about 12%)."""
    market = SyntheticMarket(pair_config(seed=7))
    mids, executions = run_market(market, 23_400)
    beta, half_life = estimate_pair(np.log(mids["BBB"]), np.log(mids["AAA"]), 1.0)
    print(market.describe())
    print(f"estimated: hedge_ratio={beta:.4f} half_life_s={half_life:.1f}")
    assert beta == pytest.approx(1.5, rel=0.06)
    assert half_life == pytest.approx(120.0, rel=0.30)
    assert len(executions) > 10_000  # noise traders trade all day


def test_market_quality_and_determinism() -> None:
    config = pair_config(seed=5)
    first = SyntheticMarket(config)
    second = SyntheticMarket(config)
    _, executions = run_market(first, 300)
    for _ in range(300):
        second.step()
    engine = first.engine
    for symbol in ("AAA", "BBB"):
        fair = first.fair_values.price(symbol)
        top = engine.top_of_book(symbol)
        tick = engine.instruments[symbol].tick_size
        assert abs((top.bid_price + top.ask_price) / 2 - fair * PRICE_SCALE) <= 3 * tick
        assert len(engine.depth(symbol, Side.BUY)) >= config.market_makers.levels
        assert len(engine.depth(symbol, Side.SELL)) >= config.market_makers.levels
        # same seed, same books
        for side in Side:
            assert engine.resting_orders(symbol, side) == second.engine.resting_orders(symbol, side)
    participants = {e.aggressor_participant for e in executions}
    assert participants <= {"NT1", "NT2", "NT3", "MM1", "MM2"}
    assert {"NT1", "NT2", "NT3"} <= participants
    assert all(e.resting_participant.startswith("MM") for e in executions)
    other = SyntheticMarket(pair_config(seed=6))
    other.run(300)
    assert other.engine.resting_orders("AAA", Side.BUY) != engine.resting_orders("AAA", Side.BUY)


def test_two_venues_share_fair_values_but_not_books() -> None:
    config = pair_config(seed=9)
    fair_values = FairValueProcess(config)
    venues = [MatchingEngine(config.instruments()) for _ in range(2)]
    traders = [
        BackgroundTraders(engine, config, seed=100 + index, participant_prefix=f"V{index}")
        for index, engine in enumerate(venues)
    ]
    for _ in range(200):
        now = fair_values.step()
        for trader in traders:
            trader.act(now, fair_values)
    tops = [engine.top_of_book("BBB") for engine in venues]
    mids = [(top.bid_price + top.ask_price) / 2 for top in tops]
    assert abs(mids[0] - mids[1]) <= 4 * venues[0].instruments["BBB"].tick_size
    assert venues[0].resting_orders("BBB", Side.SELL) != venues[1].resting_orders("BBB", Side.SELL)
    assert traders[0].participants[0] == "V0MM1"


def test_advance_to_steps_by_simulated_time() -> None:
    market = SyntheticMarket(pair_config(seed=1))
    assert market.advance_to(2_500_000_000) == 2_000_000_000
    assert market.advance_to(2_900_000_000) == 2_000_000_000
    assert market.advance_to(3_000_000_000) == 3_000_000_000
