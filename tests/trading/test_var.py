from __future__ import annotations

import csv
import gzip

import numpy as np
import pytest
from scipy.stats import norm

from calarb.trading.var import portfolio_var, simple_returns, value_at_risk


def load_closes(path):
    with gzip.open(path, "rt", encoding="utf-8-sig") as handle:
        return {row["Date"]: float(row["Adj Close"]) for row in csv.DictReader(handle)}


@pytest.fixture(scope="module")
def index_returns(request):
    shared = request.getfixturevalue("shared_data")
    spx = load_closes(shared / "arch-datasets" / "sp500.csv.gz")
    ndx = load_closes(shared / "arch-datasets" / "nasdaq.csv.gz")
    dates = [d for d in spx if d in ndx]
    prices = np.array([[spx[d], ndx[d]] for d in dates])
    return simple_returns(prices)


def test_var_on_real_index_returns(index_returns):
    returns = index_returns
    assert returns.shape[0] > 5_000
    positions = {"SPX": 1_000, "NDX": -500}
    marks = {"SPX": 12_000_000, "NDX": 20_000_000}  # 1,200.00 and 2,000.00
    report = portfolio_var(["SPX", "NDX"], returns, positions, marks, confidence=0.99)
    exposure = np.array([1_000 * 12_000_000, -500 * 20_000_000], dtype=float)
    pnl = np.sort(returns @ exposure)
    # independent historical quantile (linear interpolation between order statistics)
    position = 0.01 * (len(pnl) - 1)
    low = int(np.floor(position))
    expected = pnl[low] + (position - low) * (pnl[low + 1] - pnl[low])
    assert report.historical_var == round(-expected)
    tail = pnl[pnl <= expected]
    assert report.expected_shortfall == round(-tail.mean())
    sigma = np.sqrt(exposure @ np.cov(returns.T) @ exposure)
    parametric = norm.ppf(0.99) * sigma - returns.mean(axis=0) @ exposure
    assert report.parametric_var == round(parametric)
    assert report.expected_shortfall >= report.historical_var > 0
    # a long-short index pair is far less risky than the long leg alone
    alone = portfolio_var(["SPX", "NDX"], returns, {"SPX": 1_000}, marks)
    assert 0.01 < alone.historical_var / (1_000 * 12_000_000) < 0.06
    assert report.exposure == 22_000_000_000 and report.observations == len(returns)
    ten_day = portfolio_var(["SPX", "NDX"], returns, positions, marks, horizon_periods=10)
    assert ten_day.historical_var == round(-expected * np.sqrt(10))


def test_var_errors_name_the_problem():
    returns = np.zeros((10, 2))
    with pytest.raises(ValueError, match="no mark price"):
        portfolio_var(["A", "B"], returns, {"A": 5}, {})
    with pytest.raises(ValueError, match=r"held symbols \['C'\]"):
        portfolio_var(["A", "B"], returns, {"C": 5}, {"C": 1})
    bad = returns.copy()
    bad[4, 1] = np.nan
    with pytest.raises(ValueError, match="row 4"):
        value_at_risk(bad, np.ones(2))
    with pytest.raises(ValueError, match="row 1, column 0"):
        simple_returns(np.array([[1.0, 2.0], [0.0, 2.0]]))
