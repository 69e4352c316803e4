"""Real price data for the model tests (skfolio S&P 500 stocks, arch crude oil)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest


@pytest.fixture(scope="session")
def sp500_prices(shared_data: Path) -> pd.DataFrame:
    """20 S&P 500 stocks, daily adjusted closes 1990-2022 (skfolio)."""
    path = shared_data / "skfolio-datasets" / "sp500_dataset.csv.gz"
    return pd.read_csv(path, index_col=0, parse_dates=True)


@pytest.fixture(scope="session")
def crude_prices(shared_data: Path) -> pd.DataFrame:
    """Monthly Brent and WTI spot, 1987-2020 (arch); the header has a UTF-8 BOM."""
    path = shared_data / "arch-datasets" / "crude.csv.gz"
    return pd.read_csv(path, index_col=0, parse_dates=True, encoding="utf-8-sig")


@pytest.fixture(autouse=True)
def one_blas_thread():
    """statsmodels' many small OLS fits crawl when BLAS threads spin on a busy shared machine."""
    from threadpoolctl import threadpool_limits

    with threadpool_limits(1):
        yield
