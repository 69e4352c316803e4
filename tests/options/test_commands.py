"""`calarb options iv|fit|arbitrage|bench`: the contracts of issue 16 and one-line errors."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from calarb.cli import main


def run(capsys, *argv) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_iv_writes_one_row_per_usable_quote(tmp_path, capsys, make_chain_frame):
    frame = make_chain_frame()
    frame.loc[0, "bid"] = 0.0
    chain = tmp_path / "chain.csv"
    frame.to_csv(chain, index=False)
    out = tmp_path / "iv.parquet"
    code, stdout, _ = run(capsys, "options", "iv", str(chain), "--out", str(out), "--json")
    assert code == 0
    summary = json.loads(stdout)
    assert summary["rows"] == len(frame) - 1 and summary["unusable"] == {"no_bid": 1}
    table = pd.read_parquet(out)
    for column in (
        "contractSymbol",
        "iv_bid",
        "iv_ask",
        "iv_mid",
        "forward",
        "discount_factor",
        "time_to_expiry",
    ):
        assert column in table.columns
    merged = table.merge(frame[["contractSymbol", "impliedVolatility"]], on="contractSymbol")
    np.testing.assert_allclose(merged["iv_mid"], merged["impliedVolatility"], rtol=0, atol=1e-8)
    assert (table["iv_bid"].fillna(0) <= table["iv_mid"]).all()
    assert (table["iv_mid"] <= table["iv_ask"]).all()
    np.testing.assert_allclose(table["forward"], 100.0, rtol=1e-9)
    assert table["time_to_expiry"].min() == pytest.approx(30 / 365)


def test_arbitrage_json_contract(tmp_path, capsys, make_chain_frame):
    frame = make_chain_frame()
    chain = tmp_path / "chain.csv"
    frame.to_csv(chain, index=False)
    code, stdout, _ = run(capsys, "options", "arbitrage", str(chain), "--json")
    assert code == 0 and json.loads(stdout) == []
    calls = frame[
        (frame["option_type"] == "call") & (frame["expiration"] == frame["expiration"].min())
    ]
    low, high = calls.index[3], calls.index[4]
    frame.loc[high, "bid"] = frame.loc[low, "ask"] + 0.5
    frame.loc[high, "ask"] = frame.loc[high, "bid"] + 0.05
    frame.to_csv(chain, index=False)
    code, stdout, _ = run(capsys, "options", "arbitrage", str(chain), "--fee", "0.65", "--json")
    violations = json.loads(stdout)
    assert code == 0 and violations
    for v in violations:
        assert set(v) == {"kind", "expirations", "strikes", "option_type", "edge", "legs"}
        assert v["kind"] in ("vertical", "butterfly", "calendar", "parity", "box")
        for leg in v["legs"]:
            assert set(leg) == {"contractSymbol", "side", "quantity"}
    vertical = [
        v
        for v in violations
        if v["kind"] == "vertical"
        and v["strikes"] == [frame.loc[low, "strike"], frame.loc[high, "strike"]]
    ]
    assert vertical[0]["edge"] == pytest.approx(100 * 0.5 - 2 * 0.65)
    assert {leg["side"] for leg in vertical[0]["legs"]} == {"buy", "sell"}


def test_fit_on_the_dax_grid_and_on_a_chain(tmp_path, capsys, shared_data, make_chain_frame):
    html = tmp_path / "ssvi.html"
    code, stdout, _ = run(
        capsys,
        "options",
        "fit",
        str(shared_data / "options-dax-2002"),
        "--model",
        "ssvi",
        "--json",
        "--html",
        str(html),
    )
    result = json.loads(stdout)
    assert code == 0 and result["arbitrage_free"] and result["quotes"] == 104
    assert result["sse_vol_points"] == pytest.approx(result["rmse_vol_points"] ** 2 * 104)
    assert "<svg" in html.read_text()
    chain = tmp_path / "chain.csv"
    make_chain_frame().to_csv(chain, index=False)
    code, stdout, _ = run(capsys, "options", "fit", str(chain), "--model", "ssvi", "--json")
    result = json.loads(stdout)
    assert code == 0 and result["arbitrage_free"] and result["rmse_vol_points"] < 1.0


def test_bench_json_reports_speed_against_quantlib(capsys):
    code, stdout, _ = run(
        capsys, "options", "bench", "--quotes", "100000", "--quantlib-quotes", "10000", "--json"
    )
    result = json.loads(stdout)
    assert code == 0
    # A benchmark, not a timed test: the speed figures (target 10x QuantLib, SSVI fit < 1 s)
    # are quoted from `calarb options bench --json` in docs/options.md; here the report's
    # shape and its accuracy check.
    assert result["iv_per_s"] > 0 and result["quantlib_iv_per_s"] > 0
    assert result["ratio"] == pytest.approx(result["iv_per_s"] / result["quantlib_iv_per_s"])
    assert result["max_rel_diff_vs_quantlib"] < 1e-8
    assert result["ssvi_fit_seconds"] > 0 and result["ssvi_fit_quotes"] == 10_000


@pytest.mark.parametrize("command", ["iv", "arbitrage", "fit"])
def test_bad_input_is_one_line_and_nonzero(tmp_path, capsys, make_chain_frame, command):
    missing = tmp_path / "absent.csv"
    extra = {"iv": ["--out", str(tmp_path / "x.parquet")], "fit": ["--model", "svi"]}.get(
        command, []
    )
    code, _, err = run(capsys, "options", command, str(missing), *extra)
    assert code == 2 and err.strip().count("\n") == 0 and "absent.csv" in err
    bad = tmp_path / "bad.csv"
    frame = make_chain_frame().astype({"bid": object})
    frame.loc[7, "bid"] = "n/a?"
    frame.to_csv(bad, index=False)
    code, _, err = run(capsys, "options", command, str(bad), *extra)
    assert code == 2 and "row 9, column 'bid'" in err and "Traceback" not in err
