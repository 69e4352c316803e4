"""The benchmark commands run end to end and print the documented keys (figures not timed)."""

from __future__ import annotations

import json

from calarb.cli import main


def test_bench_model_prints_update_costs(capsys):
    assert main(["bench", "model", "--ticks", "2000", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    for key in (
        "ols_update_ns",
        "rolling_ols_update_ns",
        "ewm_ols_update_ns",
        "kalman_update_ns",
        "ewm_zscore_update_ns",
        "pair_model_tick_ns",
    ):
        assert result[key] > 0, key


def test_bench_scan_small_run_agrees_with_statsmodels(capsys):
    argv = ["bench", "scan", "--symbols", "8", "--observations", "120", "--naive-pairs", "3"]
    assert main([*argv, "--workers", "1", "--no-dask", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["pairs"] == 28 and result["naive_pairs_timed"] == 3
    assert result["max_pvalue_diff_vs_statsmodels"] < 1e-9
    assert result["ratio_vs_naive"] == result["pairs_per_s"] / result["naive_pairs_per_s"]
    assert "dask_pairs_per_s" not in result
