"""ITCH to Parquet: one file per message type, readable and queryable with DuckDB, with the
same rows as the bulk decoder."""

from __future__ import annotations

import duckdb
import numpy as np
import pyarrow.parquet as pq
import pytest

from calarb.data.itch_parquet import convert_itch_to_parquet, parquet_file_name
from calarb.itch.bulk import decode_file
from calarb.itch.files import ItchFileWarning
from calarb.itch.generate import generate_itch_file


def test_generated_day_round_trip_through_duckdb(tmp_path):
    itch = tmp_path / "day.itch"
    summary = generate_itch_file(itch, 8000, 5, seed=4)
    written = convert_itch_to_parquet(itch, tmp_path / "pq")
    assert written == summary["by_type"]
    assert sorted(p.name for p in (tmp_path / "pq").iterdir()) == sorted(
        parquet_file_name(code) for code in written
    )
    assert parquet_file_name("A") == "A_AddOrder.parquet"
    con = duckdb.connect()
    for code, rows in written.items():
        path = tmp_path / "pq" / parquet_file_name(code)
        assert con.sql(f"select count(*) from '{path}'").fetchall()[0][0] == rows

    adds = decode_file(itch)["A"]
    path = tmp_path / "pq" / "A_AddOrder.parquet"
    by_symbol = dict(con.sql(f"select stock, count(*) from '{path}' group by stock").fetchall())
    stocks, counts = np.unique(adds["stock"], return_counts=True)
    assert by_symbol == {s.decode().rstrip(): int(n) for s, n in zip(stocks, counts, strict=True)}
    bid_value = con.sql(
        f"select sum(price * shares) from '{path}' where buy_sell_indicator = 'B'"
    ).fetchall()[0][0]
    bids = adds[adds["buy_sell_indicator"] == b"B"]
    assert bid_value == int(np.sum(bids["price"].astype(np.int64) * bids["shares"]))

    schema = pq.read_schema(path)
    assert str(schema.field("price").type) == "int64"
    assert str(schema.field("stock").type) == "string"
    first = pq.read_table(path).slice(0, 1).to_pylist()[0]
    assert first["message_index"] == int(adds["index"][0])
    assert first["order_reference_number"] == int(adds["order_reference_number"][0])


def test_ritch_gz_file_with_zero_prefixes(shared_data, tmp_path):
    source = shared_data / "ritch-itch50-example" / "ex20101224.TEST_ITCH_50.gz"
    with pytest.warns(ItchFileWarning):
        written = convert_itch_to_parquet(source, tmp_path)
    assert sum(written.values()) == 12_012
    con = duckdb.connect()
    stocks = con.sql(
        f"select distinct stock from '{tmp_path / 'R_StockDirectory.parquet'}' order by 1"
    ).fetchall()
    assert stocks == [("ALC",), ("BOB",), ("CHAR",)]
    everything = f"read_parquet('{tmp_path}/*.parquet', union_by_name = true)"
    assert con.sql(f"select count(*) from {everything}").fetchall()[0][0] == 12_012
    latest = con.sql(f"select max(message_index) from {everything}").fetchall()[0][0]
    assert latest == 12_011


def test_one_letter_codes_keep_their_space(shared_data, tmp_path):
    source = (
        shared_data / "nasdaq-itch50-real-prefixes" / "12302019.NASDAQ_ITCH50.first1000msgs.itch"
    )
    written = convert_itch_to_parquet(source, tmp_path)
    assert written == {"H": 3, "R": 993, "S": 1, "Y": 3}
    rows = pq.read_table(tmp_path / "R_StockDirectory.parquet").slice(0, 1).to_pylist()[0]
    assert rows["stock"] == "A"
    assert rows["financial_status_indicator"] == " "
    assert rows["round_lot_size"] == 100
