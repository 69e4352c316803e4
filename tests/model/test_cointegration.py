"""Engle-Granger, Johansen, half-life and Hurst against statsmodels on real prices."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
from statsmodels.tsa.adfvalues import mackinnonp
from statsmodels.tsa.stattools import coint
from statsmodels.tsa.vector_ar.vecm import coint_johansen

from calarb.model.cointegration import (
    engle_granger,
    engle_granger_arrays,
    half_life,
    hurst_exponent,
    johansen,
    mackinnon_pvalues,
)
from calarb.model.validation import ModelInputError


def _assert_matches_coint(table: pd.DataFrame, y: pd.Series, x: pd.Series, log: bool = True):
    """Both orderings of `table` equal statsmodels' coint (p-values to 1e-9)."""
    for row, (dependent, independent) in enumerate([(y, x), (x, y)]):
        expected = coint(
            np.log(dependent) if log else dependent, np.log(independent) if log else independent
        )
        assert table.loc[row, "pvalue"] == pytest.approx(expected[1], abs=1e-9, rel=0)
        assert table.loc[row, "adf_stat"] == pytest.approx(expected[0], abs=1e-9)
        crit = table.loc[row, ["crit_1pct", "crit_5pct", "crit_10pct"]].to_numpy(float)
        np.testing.assert_allclose(crit, expected[2])


def test_engle_granger_equals_statsmodels_on_full_sp500_history(sp500_prices):
    """33 years of daily KO and PEP: statsmodels' slowest case, so one ordering only."""
    table = engle_granger(sp500_prices["KO"], sp500_prices["PEP"])
    stat, pvalue, _ = coint(np.log(sp500_prices["KO"]), np.log(sp500_prices["PEP"]))
    assert table.loc[0, "pvalue"] == pytest.approx(pvalue, abs=1e-9, rel=0)
    assert table.loc[0, "adf_stat"] == pytest.approx(stat, abs=1e-9)
    assert list(table["dependent"]) == ["KO", "PEP"]
    assert (table["method"] == "engle-granger:log-prices").all()
    assert table.loc[0, "pvalue"] == pytest.approx(0.263, abs=1e-3)  # PROVENANCE.md
    mrk_pfe = engle_granger(sp500_prices["MRK"], sp500_prices["PFE"])
    assert mrk_pfe.loc[0, "pvalue"] == pytest.approx(0.075, abs=1e-3)  # PROVENANCE.md


@pytest.mark.parametrize(("a", "b"), [("XOM", "CVX"), ("MRK", "PFE"), ("JNJ", "PFE")])
def test_engle_granger_equals_statsmodels_on_2015_2019(sp500_prices, a, b):
    window = sp500_prices.loc["2015":"2019"]
    table = engle_granger(window[a], window[b])
    _assert_matches_coint(table, window[a], window[b])


def test_provenance_figures_for_xom_cvx_2015_2019(sp500_prices):
    """PROVENANCE.md: 2015-2019 XOM/CVX t=-3.473 p=0.035, KO/PEP t=-3.028 p=0.104."""
    window = sp500_prices.loc["2015":"2019"]
    table = engle_granger(window["XOM"], window["CVX"])
    assert table.loc[0, "adf_stat"] == pytest.approx(-3.473, abs=1e-3)
    assert table.loc[0, "pvalue"] == pytest.approx(0.035, abs=1e-3)
    assert table.loc[0, "adf_stat"] < table.loc[0, "crit_5pct"]  # rejects at 5%
    ko_pep = engle_granger(window["KO"], window["PEP"])
    assert ko_pep.loc[0, "adf_stat"] == pytest.approx(-3.028, abs=1e-3)
    assert ko_pep.loc[0, "pvalue"] == pytest.approx(0.104, abs=1e-3)


def test_brent_wti_is_cointegrated_and_matches_statsmodels(crude_prices):
    table = engle_granger(crude_prices["Brent"], crude_prices["WTI"])
    _assert_matches_coint(table, crude_prices["Brent"], crude_prices["WTI"])
    assert table.loc[0, "adf_stat"] == pytest.approx(-5.519, abs=1e-3)
    assert (table["pvalue"] < 0.001).all()
    assert (table["adf_stat"] < table["crit_1pct"]).all()
    assert 0.0 < table.loc[0, "half_life"] < 12.0  # months: the spread reverts quickly


def test_price_form_on_bond_yields_and_log_form_on_indices(shared_data):
    default = pd.read_csv(shared_data / "arch-datasets" / "default.csv.gz", index_col=0)
    table = engle_granger(default["BAA"], default["AAA"], log=False)
    _assert_matches_coint(table, default["BAA"], default["AAA"], log=False)
    assert table.loc[0, "pvalue"] == pytest.approx(0.053, abs=1e-3)
    assert table.loc[0, "method"] == "engle-granger:prices"
    sp500 = pd.read_csv(shared_data / "arch-datasets" / "sp500.csv.gz", index_col=0)
    nasdaq = pd.read_csv(shared_data / "arch-datasets" / "nasdaq.csv.gz", index_col=0)
    table = engle_granger(sp500["Adj Close"], nasdaq["Adj Close"], names=("SPX", "NDQ"))
    forward = coint(np.log(sp500["Adj Close"]), np.log(nasdaq["Adj Close"]))
    assert table.loc[0, "pvalue"] == pytest.approx(forward[1], abs=1e-9, rel=0)
    assert table.loc[0, "pvalue"] > 0.2  # not cointegrated, as the provenance notes say


def test_many_pairs_at_once_match_coint_one_by_one():
    rng = np.random.default_rng(3)
    n = 300
    common = np.cumsum(rng.normal(size=n))
    y = np.vstack(
        [common + rng.normal(size=n) * s for s in (0.2, 1.0, 3.0)] + [np.cumsum(rng.normal(size=n))]
    )
    x = np.vstack([common * 0.7 + rng.normal(size=n)] * 4)
    batch = engle_granger_arrays(y, x)
    for k in range(4):
        stat, pvalue, _ = coint(y[k], x[k])
        assert batch.adf_stat[k] == pytest.approx(stat, abs=1e-9)
        assert batch.pvalue[k] == pytest.approx(pvalue, abs=1e-9, rel=0)
    assert batch.pvalue[0] < 0.01 < 0.1 < batch.pvalue[3]


def test_collinear_series_follow_statsmodels_convention():
    x = np.linspace(1.0, 2.0, 100) + np.sin(np.arange(100))
    y = 2.0 * x + 1.0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        expected = coint(y, x)
    batch = engle_granger_arrays(y, x)
    assert expected[0] == -np.inf and batch.adf_stat[0] == -np.inf
    assert batch.pvalue[0] == expected[1] == 0.0
    assert batch.hedge_ratio[0] == pytest.approx(2.0)
    assert batch.intercept[0] == pytest.approx(1.0)


def test_vectorised_mackinnon_pvalues_equal_statsmodels():
    stats = np.concatenate([np.linspace(-30, 5, 701), [-np.inf, 40.0]])
    expected = [mackinnonp(s, regression="c", N=2) for s in stats]
    np.testing.assert_allclose(mackinnon_pvalues(stats, "c", 2), expected, rtol=0, atol=1e-15)


def test_johansen_table_equals_statsmodels_and_finds_brent_wti_rank(crude_prices):
    table = johansen(crude_prices[["Brent", "WTI"]])
    expected = coint_johansen(np.log(crude_prices[["Brent", "WTI"]].to_numpy()), 0, 1)
    np.testing.assert_allclose(table["trace_stat"], expected.lr1)
    np.testing.assert_allclose(table["max_eig_stat"], expected.lr2)
    np.testing.assert_allclose(
        table[["trace_crit_90", "trace_crit_95", "trace_crit_99"]], expected.cvt
    )
    assert table.loc[0, "trace_reject_95"]  # rank 0 rejected: at least one cointegrating vector
    assert not table.loc[1, "trace_reject_95"]  # rank <= 1 not rejected: exactly one
    with pytest.raises(ModelInputError, match="at least two"):
        johansen(crude_prices[["Brent"]])


def test_half_life_recovers_a_known_ar1():
    rng = np.random.default_rng(11)
    phi = 0.9
    spread = np.zeros(20_000)
    for t in range(1, spread.size):
        spread[t] = phi * spread[t - 1] + rng.normal()
    assert half_life(spread) == pytest.approx(np.log(2) / -np.log(phi), rel=0.05)
    assert half_life(np.cumsum(np.abs(rng.normal(size=500)))) == np.inf  # trending: phi >= 1
    assert half_life(np.tile([1.0, -1.0], 50)) == 0.0  # flips every step: phi <= 0


def test_hurst_separates_random_walk_from_mean_reversion():
    rng = np.random.default_rng(5)
    walk = np.cumsum(rng.normal(size=5000))
    reverting = np.zeros(5000)
    for t in range(1, 5000):
        reverting[t] = 0.5 * reverting[t - 1] + rng.normal()
    assert hurst_exponent(walk) == pytest.approx(0.5, abs=0.08)
    assert hurst_exponent(reverting) < 0.2


@pytest.mark.parametrize(
    ("a", "b", "message"),
    [
        ([1.0] * 50, list(range(1, 51)), "constant"),
        ([1.0, 2.0, np.nan] + list(range(3, 50)), list(range(1, 51)), "missing"),
        (list(range(1, 11)), list(range(2, 12)), "at least 30"),
        ([0.0] + list(range(1, 50)), list(range(1, 51)), "non-positive"),
        (list(range(1, 51)), list(range(1, 50)), "50 observations and b has 49"),
    ],
)
def test_bad_input_raises_a_clear_error(a, b, message):
    with pytest.raises(ModelInputError, match=message):
        engle_granger(np.asarray(a, float), np.asarray(b, float))


def test_misaligned_dates_are_refused_with_the_date(sp500_prices):
    a = sp500_prices["KO"].iloc[:500]
    b = sp500_prices["PEP"].iloc[1:501]
    with pytest.raises(ModelInputError, match="misaligned dates.*1990-01-02"):
        engle_granger(a, b)
    missing = sp500_prices["KO"].iloc[:500].copy()
    missing.iloc[7] = np.nan
    with pytest.raises(ModelInputError, match=r"KO: 1 missing.*row 7 \(1990-01-11"):
        engle_granger(missing, sp500_prices["PEP"].iloc[:500])
    with pytest.raises(ModelInputError, match="constant"):
        hurst_exponent(np.ones(100))
