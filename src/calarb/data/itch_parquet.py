"""ITCH files to Parquet: one file per message type, queryable with DuckDB.

`convert_itch_to_parquet` decodes the whole file with the bulk decoder
(`calarb.itch.bulk`) and writes `<letter>_<MessageName>.parquet` for every type present,
e.g. `A_AddOrder.parquet`. Columns: `message_index` (position of the message in the file,
so types can be merged back into file order) and the specification's fields after the type
byte; alpha fields as strings without their space padding (one-letter codes as they are,
like `calarb.itch.codec`), integers (prices included, in
their own scale: Price(4) in 1/10,000) as int64 (uint64 for an 8-byte column holding a
value above the int64 range), timestamps as int64 nanoseconds since
midnight.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from calarb.itch.bulk import decode_file
from calarb.itch.spec import MESSAGE_SPECS

__all__ = ["convert_itch_to_parquet", "parquet_file_name"]


def parquet_file_name(type_code: str) -> str:
    """The Parquet file name of one message type, e.g. `A_AddOrder.parquet`."""
    return f"{type_code}_{MESSAGE_SPECS[type_code].name}.parquet"


def _column(values: np.ndarray, kind: str) -> pa.Array:
    if kind == "alpha":
        text = pa.array(values, type=pa.binary(values.dtype.itemsize)).cast(pa.string())
        # One-letter codes keep a space (it is a value); longer fields lose their padding.
        return text if values.dtype.itemsize == 1 else pc.utf8_rtrim(text, characters=" ")
    if values.dtype.itemsize == 8 and values.size and int(values.max()) > np.iinfo(np.int64).max:
        return pa.array(values, type=pa.uint64())  # does not fit int64: keep it exact
    return pa.array(values.astype(np.int64), type=pa.int64())


def _table(records: np.ndarray, type_code: str) -> pa.Table:
    columns = {"message_index": pa.array(records["index"], type=pa.int64())}
    for field in MESSAGE_SPECS[type_code].fields[1:]:
        columns[field.name] = _column(records[field.name], field.kind)
    return pa.table(columns)


def convert_itch_to_parquet(
    path: str | os.PathLike[str], out_dir: str | os.PathLike[str], *, lenient: bool = False
) -> dict[str, int]:
    """Write one Parquet file per message type present in the ITCH file (plain or .gz) into
    `out_dir` (created if needed). Returns message type letter -> rows written."""
    bulk = decode_file(path, lenient=lenient)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    written = {}
    for type_code, count in sorted(bulk.counts.items()):
        pq.write_table(_table(bulk[type_code], type_code), out / parquet_file_name(type_code))
        written[type_code] = count
    return written
