import numpy as np
import pytest

from calarb.options.chains import ChainError, read_chain
from calarb.options.parity import chain_forwards


def test_reads_yfinance_layout_and_counts_unusable_rows_by_reason(tmp_path, make_chain_frame):
    frame = make_chain_frame()
    frame.loc[0, "bid"] = 0.0  # no bid
    frame.loc[1, "bid"] = float("nan")  # no bid either
    frame.loc[2, "ask"] = float("nan")  # no ask
    frame.loc[3, ["bid", "ask"]] = [2.0, 1.5]  # crossed
    frame.loc[4, "lastTradeDate"] = "2023-11-01 15:59:00+00:00"  # stale
    frame.loc[5, "expiration"] = "2023-12-29"  # expired
    path = tmp_path / "chain.parquet"
    frame.to_parquet(path)
    chain = read_chain(path, max_age_days=5)
    assert chain.unusable == {"expired": 1, "no_bid": 2, "no_ask": 1, "crossed": 1, "stale": 1}
    assert len(chain) == len(frame) - 6
    assert chain.as_of.isoformat() == "2024-01-02"  # the latest lastTradeDate, not the clock
    assert chain.spot == 100.0
    assert read_chain(path).unusable.get("stale") is None  # staleness only when asked


def test_parity_gives_forward_and_discount(tmp_path, make_chain_frame):
    path = tmp_path / "chain.csv"
    make_chain_frame(rate=0.05).to_csv(path, index=False)
    forwards = chain_forwards(read_chain(path))
    assert len(forwards) == 3
    as_of = np.datetime64("2024-01-02", "D")
    for expiry, estimate in forwards.items():
        t = (expiry - as_of).astype(float) / 365.0
        assert abs(estimate.forward - 100.0 * np.exp(0.05 * t)) < 1e-6
        assert abs(estimate.discount - np.exp(-0.05 * t)) < 1e-9


@pytest.mark.parametrize(
    ("column", "value", "message"),
    [
        ("strike", "abc", "row 5, column 'strike': 'abc' is not a number"),
        ("option_type", "straddle", "row 5, column 'option_type'"),
        ("expiration", "someday", "row 5, column 'expiration'"),
    ],
)
def test_a_bad_value_names_file_row_and_column(tmp_path, make_chain_frame, column, value, message):
    frame = make_chain_frame().astype({column: object})
    frame.loc[3, column] = value
    path = tmp_path / "chain.csv"
    frame.to_csv(path, index=False)
    with pytest.raises(ChainError, match=message) as error:
        read_chain(path)
    assert str(path) in str(error.value) and "\n" not in str(error.value)


def test_missing_column_and_missing_file(tmp_path, make_chain_frame):
    path = tmp_path / "chain.csv"
    make_chain_frame().drop(columns=["ask"]).to_csv(path, index=False)
    with pytest.raises(ChainError, match="missing column 'ask'"):
        read_chain(path)
    with pytest.raises(ChainError, match="file not found"):
        read_chain(tmp_path / "absent.csv")
