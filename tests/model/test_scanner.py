"""The pair scanner on real prices, in one process, a process pool and on Dask; the CLI."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from statsmodels.stats.multitest import multipletests
from statsmodels.tsa.stattools import coint

from calarb.cli import main
from calarb.model.scanner import ScanConfig, candidate_pairs, scan_pairs, to_contract_records
from calarb.model.validation import ModelInputError

CLASSIC_PAIRS = [("KO", "PEP"), ("XOM", "CVX"), ("MRK", "PFE"), ("JNJ", "PFE")]


def _row(table: pd.DataFrame, a: str, b: str) -> pd.Series:
    match = table[((table.a == a) & (table.b == b)) | ((table.a == b) & (table.b == a))]
    assert len(match) == 1, f"{a}/{b} not in the scan"
    return match.iloc[0]


@pytest.fixture(scope="module")
def window_2015_2019(sp500_prices) -> pd.DataFrame:
    return sp500_prices.loc["2015":"2019"]


@pytest.fixture(scope="module")
def full_scan_2015_2019(window_2015_2019) -> pd.DataFrame:
    return scan_pairs(window_2015_2019, ScanConfig(prefilter="none"))


def test_correlation_prefilter_keeps_the_classic_pairs(sp500_prices):
    values = np.log(sp500_prices.to_numpy())
    first, second = candidate_pairs(values, ScanConfig(min_correlation=0.5))
    kept = {
        frozenset((sp500_prices.columns[i], sp500_prices.columns[j]))
        for i, j in zip(first, second, strict=True)
    }
    assert {frozenset(pair) for pair in CLASSIC_PAIRS} <= kept
    correlation = np.log(sp500_prices).diff().corr().to_numpy()[np.triu_indices(20, k=1)]
    assert len(kept) == int((np.abs(correlation) >= 0.5).sum()) < 190
    first, second = candidate_pairs(values, ScanConfig(prefilter="distance", top_distance=15))
    paths = np.log(sp500_prices) - np.log(sp500_prices.iloc[0])  # log growth since day one
    ssd = {
        frozenset((a, b)): float(((paths[a] - paths[b]) ** 2).sum())
        for k, a in enumerate(sp500_prices.columns)
        for b in sp500_prices.columns[k + 1 :]
    }
    closest = sorted(ssd, key=ssd.get)[:15]
    kept = {
        frozenset((sp500_prices.columns[i], sp500_prices.columns[j]))
        for i, j in zip(first, second, strict=True)
    }
    assert kept == set(closest)


def test_scan_pvalues_equal_statsmodels_and_find_xom_cvx(full_scan_2015_2019, window_2015_2019):
    table = full_scan_2015_2019
    assert len(table) == 190
    assert table["pvalue"].is_monotonic_increasing
    logs = np.log(window_2015_2019)
    for _, row in table.iloc[[0, 189]].iterrows():
        assert row.pvalue == pytest.approx(coint(logs[row.a], logs[row.b])[1], abs=1e-9, rel=0)
        assert row.pvalue_reverse == pytest.approx(
            coint(logs[row.b], logs[row.a])[1], abs=1e-9, rel=0
        )
        assert row.pvalue <= row.pvalue_reverse
    xom_cvx = _row(table, "XOM", "CVX")
    assert (xom_cvx.a, xom_cvx.b) == ("XOM", "CVX")
    assert xom_cvx.pvalue == pytest.approx(0.035, abs=1e-3)  # PROVENANCE.md
    assert xom_cvx.hedge_ratio == pytest.approx(0.1713, abs=1e-4)
    assert 10 < xom_cvx.half_life < 100  # trading days
    expected_q = multipletests(table["pvalue"], method="fdr_bh")[1]
    np.testing.assert_allclose(table["qvalue"], expected_q, rtol=1e-12)
    assert not table["significant"].any()  # nothing survives BH over 190 pairs at 5%


def test_full_history_classic_pairs_are_not_cointegrated(sp500_prices):
    table = scan_pairs(sp500_prices[["KO", "PEP", "XOM", "CVX"]], ScanConfig(prefilter="none"))
    assert _row(table, "KO", "PEP").pvalue == pytest.approx(0.2625, abs=1e-3)  # PROVENANCE.md
    assert _row(table, "XOM", "CVX").pvalue == pytest.approx(0.509, abs=1e-3)


def test_brent_wti_comes_out_cointegrated(crude_prices):
    table = scan_pairs(crude_prices, ScanConfig(prefilter="none"))
    assert len(table) == 1
    row = table.iloc[0]
    assert row.pvalue < 1e-4 and row.qvalue < 1e-4 and row.significant
    assert row.method == "engle-granger:log-prices"
    prices = scan_pairs(crude_prices, ScanConfig(prefilter="none", log=False))
    assert prices.iloc[0].method == "engle-granger:prices"


def test_process_pool_gives_the_same_table(window_2015_2019, full_scan_2015_2019):
    pooled = scan_pairs(window_2015_2019, ScanConfig(prefilter="none"), workers=2)
    pd.testing.assert_frame_equal(pooled, full_scan_2015_2019)


def test_dask_local_cluster_and_scheduler_give_the_same_table(window_2015_2019):
    from dask.distributed import LocalCluster

    subset = window_2015_2019[["KO", "PEP", "XOM", "CVX", "MRK", "PFE", "JNJ"]]
    config = ScanConfig(prefilter="none")
    local = scan_pairs(subset, config)
    on_new_cluster = scan_pairs(subset, config, dask=True, workers=2, dask_processes=False)
    pd.testing.assert_frame_equal(on_new_cluster, local)
    with LocalCluster(
        n_workers=2, threads_per_worker=1, processes=False, dashboard_address=None
    ) as cluster:
        on_scheduler = scan_pairs(subset, config, scheduler=cluster.scheduler_address)
    pd.testing.assert_frame_equal(on_scheduler, local)


def test_contract_records_turn_infinite_half_life_into_null():
    table = pd.DataFrame(
        {
            "a": ["X"], "b": ["Y"], "pvalue": [0.5], "qvalue": [0.5], "hedge_ratio": [1.0],
            "intercept": [0.0], "half_life": [np.inf], "method": ["engle-granger:prices"],
        }
    )  # fmt: skip
    record = to_contract_records(table)[0]
    assert record["half_life"] is None
    json.dumps(record, allow_nan=False)


def test_scan_refuses_unclean_panels(window_2015_2019):
    holes = window_2015_2019[["KO", "PEP"]].copy()
    holes.iloc[3, 0] = np.nan
    with pytest.raises(ModelInputError, match="missing values"):
        scan_pairs(holes)
    negative = window_2015_2019[["KO", "PEP"]].copy()
    negative.iloc[3, 0] = -1.0
    with pytest.raises(ModelInputError, match="prices > 0"):
        scan_pairs(negative)
    with pytest.raises(ModelInputError, match="prefilter"):
        ScanConfig(prefilter="cluster")


def test_cli_scan_writes_csv_and_prints_the_json_contract(shared_data, tmp_path: Path, capsys):
    prices = shared_data / "skfolio-datasets" / "sp500_dataset.csv.gz"
    out = tmp_path / "pairs.csv"
    argv = ["scan", str(prices), "--start", "2015-01-01", "--end", "2019-12-31"]
    assert main([*argv, "--out", str(out), "--json", "--quiet"]) == 0
    records = json.loads(capsys.readouterr().out)
    window = np.log(pd.read_csv(prices, index_col=0).loc["2015-01-01":"2019-12-31"])
    correlation = window.diff().corr().to_numpy()[np.triu_indices(20, k=1)]
    assert len(records) == int((np.abs(correlation) >= 0.5).sum())  # correlation prefilter
    for record in records:
        assert {"a", "b", "pvalue", "hedge_ratio", "half_life", "method"} <= record.keys()
    assert records[0]["pvalue"] <= records[-1]["pvalue"]
    xom_cvx = next(r for r in records if {r["a"], r["b"]} == {"XOM", "CVX"})
    assert xom_cvx["pvalue"] == pytest.approx(0.035, abs=1e-3)
    written = pd.read_csv(out)
    assert list(written["a"]) == [r["a"] for r in records]
    assert main([*argv, "--all", "--quiet", "--limit", "3"]) == 0
    shown = capsys.readouterr().out.splitlines()
    assert len(shown) == 4 and shown[0].split()[:3] == ["a", "b", "pvalue"]


def test_cli_reports_bad_input_without_a_traceback(tmp_path: Path, capsys):
    path = tmp_path / "holes.csv"
    pd.DataFrame(
        {
            "date": pd.bdate_range("2024-01-01", periods=30),
            "A": [1.0] * 29 + [np.nan],
            "B": range(1, 31),
        }
    ).to_csv(path, index=False)
    assert main(["scan", str(path), "--quiet"]) == 2
    assert "missing prices, first A on 2024-02-09" in capsys.readouterr().err


def test_cli_scan_on_a_dask_scheduler(shared_data, capsys):
    from dask.distributed import LocalCluster

    prices = shared_data / "arch-datasets" / "crude.csv.gz"
    with LocalCluster(
        n_workers=2, threads_per_worker=1, processes=False, dashboard_address=None
    ) as cluster:
        code = main(
            ["scan", str(prices), "--json", "--quiet", "--scheduler", cluster.scheduler_address]
        )
    assert code == 0
    (record,) = json.loads(capsys.readouterr().out)
    assert {record["a"], record["b"]} == {"Brent", "WTI"} and record["pvalue"] < 1e-4
