"""Load a price panel (dates x symbols) from CSV or Parquet, wide or long, and clean it.

Wide: a date column then one column per symbol. Long: one row per (date, symbol, price); it
is recognised by a symbol column (`symbol` or `ticker`, or given) and pivoted. Text that is not
a number (e.g. FRED's "." holiday marker) counts as missing.

Missing values are handled by an explicit policy, never left as silent NaN:
  error         raise, naming the symbol and the first missing date (default)
  drop-rows     keep only dates where every symbol has a price
  drop-symbols  drop symbols with any missing price
  ffill         carry the last price forward, then drop leading dates before every symbol starts
Constant symbols are dropped (they cannot be tested) and reported in `notes`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from calarb.model.validation import MIN_OBSERVATIONS, ModelInputError

MISSING_POLICIES = ("error", "drop-rows", "drop-symbols", "ffill")
_SYMBOL_COLUMNS = ("symbol", "ticker")
_PRICE_COLUMNS = ("price", "close", "adj_close", "adj close", "value")
_DATE_COLUMNS = ("date", "datetime", "time", "timestamp")


@dataclass
class PricePanel:
    prices: pd.DataFrame  # index: sorted dates, columns: symbols, all finite floats
    notes: list[str] = field(default_factory=list)


def _when(label: object) -> str:
    """A date label for messages: 2024-01-02 rather than 2024-01-02 00:00:00."""
    if isinstance(label, pd.Timestamp) and label == label.normalize():
        return label.date().isoformat()
    return str(label)


def _read(path: Path) -> pd.DataFrame:
    if not path.exists():
        raise ModelInputError(f"{path}: no such file")
    suffixes = [s.lower() for s in path.suffixes]
    if ".parquet" in suffixes or ".pq" in suffixes:
        return pd.read_parquet(path)
    if ".csv" in suffixes or ".txt" in suffixes:
        return pd.read_csv(path, encoding="utf-8-sig", skipinitialspace=True)
    raise ModelInputError(f"{path}: unknown format (expected .csv, .csv.gz or .parquet)")


def _find_column(frame: pd.DataFrame, given: str | None, candidates: tuple[str, ...]) -> str | None:
    if given is not None:
        if given not in frame.columns:
            raise ModelInputError(f"column {given!r} not found (columns: {list(frame.columns)})")
        return given
    lowered = {str(column).strip().lower(): column for column in frame.columns}
    for candidate in candidates:
        if candidate in lowered:
            return lowered[candidate]
    return None


def _parse_dates(values: pd.Series | pd.Index, source: str) -> pd.DatetimeIndex:
    try:
        return pd.DatetimeIndex(pd.to_datetime(values, format="mixed"))
    except (ValueError, TypeError) as exc:
        raise ModelInputError(f"{source}: dates could not be parsed ({exc})") from None


def read_panel(
    path: str | Path,
    *,
    date_column: str | None = None,
    symbol_column: str | None = None,
    price_column: str | None = None,
    missing: str = "error",
    positive: bool = False,
    start: str | None = None,
    end: str | None = None,
) -> PricePanel:
    """Read and clean a price panel; `positive` requires prices > 0 (log models).

    `start`/`end` (inclusive dates) select a window before the missing-value policy applies.
    """
    path = Path(path)
    raw = _read(path)
    symbol_col = _find_column(raw, symbol_column, _SYMBOL_COLUMNS)
    date_col = _find_column(raw, date_column, _DATE_COLUMNS)
    if date_col is None:
        date_col = raw.columns[0]
    if symbol_col is not None:
        price_col = _find_column(raw, price_column, _PRICE_COLUMNS)
        if price_col is None:
            raise ModelInputError(
                f"{path}: long format (symbol column {symbol_col!r}) needs a price column; "
                "pass --price-column"
            )
        long = raw[[date_col, symbol_col, price_col]].copy()
        long[date_col] = _parse_dates(long[date_col], str(path))
        duplicated = long.duplicated([date_col, symbol_col])
        if duplicated.any():
            row = long[duplicated].iloc[0]
            raise ModelInputError(
                f"{path}: {int(duplicated.sum())} duplicate (date, symbol) rows, first "
                f"{row[date_col].date()} {row[symbol_col]}"
            )
        long[price_col] = pd.to_numeric(long[price_col], errors="coerce")
        frame = long.pivot(index=date_col, columns=symbol_col, values=price_col)
    else:
        frame = raw.set_index(date_col)
        frame.index = _parse_dates(frame.index, str(path))
        frame = frame.apply(pd.to_numeric, errors="coerce")
    frame.columns = [str(column) for column in frame.columns]
    frame = frame.sort_index()
    if frame.index.has_duplicates:
        raise ModelInputError(
            f"{path}: date {_when(frame.index[frame.index.duplicated()][0])} appears more than once"
        )
    frame = frame.loc[start:end]
    return clean_panel(frame, missing=missing, positive=positive, source=str(path))


def clean_panel(
    frame: pd.DataFrame, *, missing: str = "error", positive: bool = False, source: str = "panel"
) -> PricePanel:
    """Apply the missing-value policy and the usability checks to a dates x symbols frame."""
    if missing not in MISSING_POLICIES:
        raise ModelInputError(f"missing policy must be one of {MISSING_POLICIES}, got {missing!r}")
    frame = frame.astype(np.float64).replace([np.inf, -np.inf], np.nan)
    notes: list[str] = []
    holes = frame.isna()
    if holes.to_numpy().any():
        count = int(holes.to_numpy().sum())
        if missing == "error":
            symbol = holes.any().idxmax()
            first = holes[symbol].idxmax()
            raise ModelInputError(
                f"{source}: {count} missing prices, first {symbol} on {_when(first)}; choose a policy "
                f"with --missing ({', '.join(MISSING_POLICIES[1:])})"
            )
        if missing == "drop-rows":
            before = len(frame)
            frame = frame.dropna()
            notes.append(f"dropped {before - len(frame)} dates with missing prices")
        elif missing == "drop-symbols":
            dropped = [str(c) for c in frame.columns[holes.any()]]
            frame = frame.drop(columns=dropped)
            notes.append(f"dropped symbols with missing prices: {', '.join(dropped)}")
        else:
            before = len(frame)
            frame = frame.ffill().dropna()
            notes.append(
                f"forward-filled {count} missing prices, dropped {before - len(frame)} leading dates"
            )
    if positive:
        bad = frame <= 0
        if bad.to_numpy().any():
            symbol = bad.any().idxmax()
            raise ModelInputError(
                f"{source}: non-positive price for {symbol} on {_when(bad[symbol].idxmax())}; log "
                "prices need prices > 0 (scan prices with --prices-form)"
            )
    constant = [str(c) for c in frame.columns if frame[c].nunique() <= 1]
    if constant:
        frame = frame.drop(columns=constant)
        notes.append(f"dropped constant symbols: {', '.join(constant)}")
    if frame.shape[1] < 2:
        raise ModelInputError(f"{source}: fewer than two usable symbols")
    if len(frame) < MIN_OBSERVATIONS:
        raise ModelInputError(
            f"{source}: {len(frame)} usable dates, need at least {MIN_OBSERVATIONS}"
        )
    return PricePanel(frame, notes)
