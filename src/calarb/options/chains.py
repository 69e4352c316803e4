"""Option chains in the column layout of yfinance's `option_chain` output (CSV or Parquet).

Columns used: contractSymbol, strike, bid, ask, option_type (call/put or c/p), expiration (a
date); optional lastTradeDate (for staleness), underlyingPrice (for put-call parity against the
underlying) and quote_date (the as-of date). Other yfinance columns (lastPrice, volume,
openInterest, impliedVolatility, ...) are carried along unread. Rows that cannot be used are
counted by reason, never dropped silently; a value that cannot be parsed at all (a strike of
"abc", an unknown option type) is an input error naming the file, row and column.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd

REQUIRED_COLUMNS = ("contractSymbol", "strike", "bid", "ask", "option_type", "expiration")
UNUSABLE_REASONS = ("expired", "bad_strike", "no_bid", "no_ask", "crossed", "stale")
_TYPES = {"call": True, "c": True, "put": False, "p": False}


class ChainError(ValueError):
    """Bad input: the message is one line naming the file (and row and column)."""


@dataclass
class Chain:
    """The usable quotes of a chain file (one entry per row kept) and the count of the others."""

    source: Path
    as_of: date
    symbol: np.ndarray  # contractSymbol, object array
    is_call: np.ndarray
    strike: np.ndarray
    bid: np.ndarray
    ask: np.ndarray
    expiration: np.ndarray  # datetime64[D]
    time: np.ndarray  # years to expiry, ACT/365F
    spot: float | None
    unusable: dict[str, int] = field(default_factory=dict)

    @property
    def mid(self) -> np.ndarray:
        return 0.5 * (self.bid + self.ask)

    def __len__(self) -> int:
        return self.strike.size


def _load(path: Path) -> pd.DataFrame:
    if not path.is_file():
        raise ChainError(f"{path}: file not found")
    name = path.name.lower()
    try:
        if name.endswith(".parquet"):
            return pd.read_parquet(path)
        if name.endswith((".csv", ".csv.gz")):
            return pd.read_csv(path)
    except Exception as exc:  # a corrupt file: say which, in one line
        raise ChainError(f"{path}: cannot read: {exc}") from None
    raise ChainError(f"{path}: not a chain file (.csv, .csv.gz or .parquet)")


def _row(frame: pd.DataFrame, position: int, path: Path) -> int:
    """The 1-based row of the file (CSV: counting the header line as row 1)."""
    return position + (2 if not path.name.lower().endswith(".parquet") else 1)


def _numbers(frame: pd.DataFrame, column: str, path: Path) -> np.ndarray:
    raw = frame[column]
    values = pd.to_numeric(raw, errors="coerce")
    bad = (values.isna() & raw.notna() & (raw.astype(str).str.strip() != "")).to_numpy()
    if bad.any():
        position = int(bad.nonzero()[0][0])
        raise ChainError(
            f"{path}: row {_row(frame, position, path)}, column {column!r}: "
            f"{raw.iloc[position]!r} is not a number"
        )
    return values.to_numpy(dtype=float)


def _dates(frame: pd.DataFrame, column: str, path: Path, required: bool) -> np.ndarray:
    raw = frame[column]
    values = pd.to_datetime(raw, errors="coerce", utc=True)
    bad = (values.isna() & (raw.notna() if not required else True)).to_numpy()
    if bad.any():
        position = int(bad.nonzero()[0][0])
        raise ChainError(
            f"{path}: row {_row(frame, position, path)}, column {column!r}: "
            f"{raw.iloc[position]!r} is not a date"
        )
    return values.dt.tz_localize(None).to_numpy().astype("datetime64[D]")


def read_chain(
    path: Path,
    as_of: date | None = None,
    max_age_days: float | None = None,
    spot: float | None = None,
) -> Chain:
    """Read and validate a chain. The as-of date is `as_of`, else the file's quote_date column,
    else the day of its latest lastTradeDate (never the wall clock). Quotes whose last trade is
    more than `max_age_days` before the as-of date are stale."""
    path = Path(path)
    frame = _load(path)
    missing = [c for c in REQUIRED_COLUMNS if c not in frame.columns]
    if missing:
        raise ChainError(
            f"{path}: missing column {missing[0]!r} (needs {', '.join(REQUIRED_COLUMNS)})"
        )
    frame = frame.reset_index(drop=True)
    strike = _numbers(frame, "strike", path)
    bid = _numbers(frame, "bid", path)
    ask = _numbers(frame, "ask", path)
    types = frame["option_type"].astype(str).str.strip().str.lower()
    unknown = ~types.isin(list(_TYPES)).to_numpy()
    if unknown.any():
        position = int(unknown.nonzero()[0][0])
        raise ChainError(
            f"{path}: row {_row(frame, position, path)}, column 'option_type': "
            f"{frame['option_type'].iloc[position]!r} is not call/put"
        )
    is_call = types.map(_TYPES).to_numpy(dtype=bool)
    expiration = _dates(frame, "expiration", path, required=True)
    last_trade = _dates(frame, "lastTradeDate", path, False) if "lastTradeDate" in frame else None
    if as_of is None and "quote_date" in frame:
        as_of = pd.Timestamp(_dates(frame, "quote_date", path, required=True).max()).date()
    if as_of is None and last_trade is not None and not np.isnat(last_trade).all():
        as_of = pd.Timestamp(np.nanmax(last_trade)).date()
    if as_of is None:
        raise ChainError(f"{path}: no quote_date or lastTradeDate column: give the as-of date")
    if spot is None and "underlyingPrice" in frame:
        prices = _numbers(frame, "underlyingPrice", path)
        spot = float(prices[np.isfinite(prices)][0]) if np.isfinite(prices).any() else None

    days = (expiration - np.datetime64(as_of, "D")).astype(float)
    reasons = np.full(strike.size, "", dtype=object)

    def mark(reason: str, condition: np.ndarray) -> None:
        reasons[(reasons == "") & condition] = reason

    mark("expired", days <= 0)
    mark("bad_strike", ~(strike > 0))
    mark("no_bid", ~(bid > 0))
    mark("no_ask", ~(ask > 0))
    mark("crossed", bid > ask)
    if max_age_days is not None and last_trade is not None:
        age = (np.datetime64(as_of, "D") - last_trade).astype(float)
        mark("stale", np.isnan(age) | (age > max_age_days))
    keep = reasons == ""
    unusable = {r: int(np.sum(reasons == r)) for r in UNUSABLE_REASONS if np.any(reasons == r)}
    return Chain(
        source=path,
        as_of=as_of,
        symbol=frame["contractSymbol"].astype(str).to_numpy(dtype=object)[keep],
        is_call=is_call[keep],
        strike=strike[keep],
        bid=bid[keep],
        ask=ask[keep],
        expiration=expiration[keep],
        time=days[keep] / 365.0,
        spot=spot,
        unusable=unusable,
    )
