"""Reading price panels: wide/long, CSV/Parquet, and the missing-value policies."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from calarb.model.panel import clean_panel, read_panel
from calarb.model.validation import ModelInputError


def test_wide_gzip_csv_from_skfolio(shared_data):
    panel = read_panel(shared_data / "skfolio-datasets" / "sp500_dataset.csv.gz", positive=True)
    assert panel.prices.shape == (8313, 20)
    assert panel.prices.index.is_monotonic_increasing
    assert panel.prices.loc["1990-01-02", "KO"] == 2.235
    assert panel.notes == []


def test_bom_header_and_window(shared_data):
    panel = read_panel(shared_data / "arch-datasets" / "crude.csv.gz", start="2000", end="2009")
    assert list(panel.prices.columns) == ["Brent", "WTI"]  # no BOM in the first name
    assert panel.prices.index[0].year == 2000 and panel.prices.index[-1].year == 2009
    assert len(panel.prices) == 120


def test_long_parquet_equals_wide_csv(tmp_path: Path, sp500_prices):
    wide = sp500_prices.iloc[:300, :4]
    long = (
        wide.rename_axis("date").reset_index().melt("date", var_name="ticker", value_name="close")
    )
    long.sample(frac=1.0, random_state=1).to_parquet(tmp_path / "long.parquet")
    panel = read_panel(tmp_path / "long.parquet")
    pd.testing.assert_frame_equal(panel.prices, wide, check_names=False, check_freq=False)


def test_fred_missing_markers_follow_the_policy(shared_data, tmp_path: Path):
    wti = shared_data / "arch-datasets" / "wti.csv.gz"
    with pytest.raises(
        ModelInputError, match="290 missing prices, first DCOILWTICO on 1986-02-17;"
    ):
        read_panel(wti)
    raw = pd.read_csv(wti)
    price = pd.to_numeric(raw["DCOILWTICO"], errors="coerce")
    two = pd.DataFrame({"DATE": raw["Date"], "WTI": price, "WTI_LAG": price.shift(1) + 1.0})
    path = tmp_path / "two.csv"
    two.to_csv(path, index=False)
    complete = int((two["WTI"].notna() & two["WTI_LAG"].notna()).sum())
    dropped = read_panel(path, missing="drop-rows")
    assert len(dropped.prices) == complete
    assert not dropped.prices.isna().any().any()
    assert dropped.notes == [f"dropped {len(two) - complete} dates with missing prices"]
    filled = read_panel(path, missing="ffill")
    assert len(filled.prices) == len(two) - 1  # the first date has no lagged value
    assert filled.prices.loc["1986-02-17", "WTI"] == filled.prices.loc["1986-02-14", "WTI"]
    with pytest.raises(ModelInputError, match="fewer than two usable symbols"):
        read_panel(path, missing="drop-symbols")  # both columns have holes


def test_misaligned_long_dates_are_reported(tmp_path: Path):
    rows = [(f"2024-01-0{d}", "AAA", 10.0 + d) for d in range(1, 10)]
    rows += [(f"2024-01-0{d}", "BBB", 20.0 + d) for d in range(2, 10)]
    frame = pd.DataFrame(rows, columns=["date", "symbol", "price"])
    path = tmp_path / "long.csv"
    frame.to_csv(path, index=False)
    with pytest.raises(ModelInputError, match="1 missing prices, first BBB on 2024-01-01"):
        read_panel(path)
    frame = pd.concat([frame, frame.iloc[[0]]])
    frame.to_csv(path, index=False)
    with pytest.raises(ModelInputError, match="duplicate .* 2024-01-01 AAA"):
        read_panel(path)


def test_clean_panel_checks():
    index = pd.bdate_range("2024-01-01", periods=30)
    rng = np.random.default_rng(0)
    frame = pd.DataFrame(
        {"A": 10 + rng.random(30), "B": 20 + rng.random(30), "FLAT": np.full(30, 5.0)}, index=index
    )
    panel = clean_panel(frame)
    assert list(panel.prices.columns) == ["A", "B"]
    assert panel.notes == ["dropped constant symbols: FLAT"]
    frame.loc[index[3], "A"] = -1.0
    with pytest.raises(ModelInputError, match="non-positive price for A on 2024-01-04"):
        clean_panel(frame, positive=True)
    with pytest.raises(ModelInputError, match="fewer than two usable symbols"):
        clean_panel(frame[["A", "FLAT"]])
    with pytest.raises(ModelInputError, match="10 usable dates, need at least 30"):
        clean_panel(frame.iloc[:10])
    with pytest.raises(ModelInputError, match="missing policy"):
        clean_panel(frame, missing="interpolate")


def test_unknown_format_and_missing_file(tmp_path: Path):
    with pytest.raises(ModelInputError, match="no such file"):
        read_panel(tmp_path / "absent.csv")
    (tmp_path / "prices.xlsx").write_bytes(b"PK")
    with pytest.raises(ModelInputError, match="unknown format"):
        read_panel(tmp_path / "prices.xlsx")
