"""Generated option chains in yfinance's column layout, for the options tests."""

from __future__ import annotations

from datetime import date, timedelta

import numpy as np
import pandas as pd
import pytest

from calarb.options.black import black_price

AS_OF = date(2024, 1, 2)


def chain_frame(
    spot: float = 100.0,
    days: tuple[int, ...] = (30, 60, 120),
    strikes: tuple[float, ...] = tuple(range(80, 125, 5)),
    level: float = 0.2,
    skew: float = -0.1,
    smile: float = 0.2,
    half_spread: float = 0.02,
    rate: float = 0.0,
) -> pd.DataFrame:
    """An arbitrage-free chain: Black-Scholes mids on a mild smile, bid/ask around them."""
    rows = []
    for d in days:
        t = d / 365.0
        forward = spot * np.exp(rate * t)
        expiry = AS_OF + timedelta(days=d)
        for k in strikes:
            x = np.log(k / forward)
            vol = level + skew * x + smile * x * x
            for is_call in (True, False):
                mid = float(black_price(forward, k, t, vol, np.exp(-rate * t), is_call))
                h = min(max(0.01, half_spread * mid), 0.5 * mid)  # a positive bid
                kind = "C" if is_call else "P"
                rows.append(
                    {
                        "contractSymbol": f"XYZ{expiry:%y%m%d}{kind}{int(k * 1000):08d}",
                        "lastTradeDate": f"{AS_OF.isoformat()} 15:59:00+00:00",
                        "strike": float(k),
                        "lastPrice": mid,
                        "bid": mid - h,
                        "ask": mid + h,
                        "change": 0.0,
                        "percentChange": 0.0,
                        "volume": 10,
                        "openInterest": 100,
                        "impliedVolatility": vol,
                        "inTheMoney": (forward > k) == is_call,
                        "contractSize": "REGULAR",
                        "currency": "USD",
                        "option_type": "call" if is_call else "put",
                        "expiration": expiry.isoformat(),
                        "underlyingPrice": spot,
                    }
                )
    return pd.DataFrame(rows)


@pytest.fixture
def chain_csv(tmp_path):
    path = tmp_path / "chain.csv"
    chain_frame().to_csv(path, index=False)
    return path


@pytest.fixture
def make_chain_frame():
    """chain_frame itself, for tests that vary its arguments."""
    return chain_frame
