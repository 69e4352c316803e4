"""Input checks shared by the model: every bad series gets a clear error naming what and where.

The model never lets a NaN slip through silently: missing values, misaligned dates, constant or
too-short series and non-positive prices (for log spreads) are rejected here with a
`ModelInputError` that names the series and the first offending row.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

MIN_OBSERVATIONS = 30
"""Shortest series the cointegration tests accept (the ADF lag search needs room)."""


class ModelInputError(ValueError):
    """A series handed to the model is unusable; the message says which and where."""


def _label_of(index: pd.Index | None, position: int) -> str:
    if index is None:
        return f"row {position}"
    return f"row {position} ({index[position]})"


def check_series(
    values: np.ndarray | pd.Series,
    name: str,
    *,
    min_length: int = MIN_OBSERVATIONS,
    positive: bool = False,
) -> np.ndarray:
    """Return `values` as a float64 array after checking it is usable.

    Raises ModelInputError for a non-numeric, missing (NaN/inf), too-short or constant series,
    and, when `positive` (log prices), for a value <= 0.
    """
    index = values.index if isinstance(values, pd.Series) else None
    try:
        array = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise ModelInputError(f"{name}: not numeric ({exc})") from None
    if array.ndim != 1:
        raise ModelInputError(f"{name}: expected one series, got shape {array.shape}")
    if array.size < min_length:
        raise ModelInputError(f"{name}: {array.size} observations, need at least {min_length}")
    bad = ~np.isfinite(array)
    if bad.any():
        first = int(np.argmax(bad))
        raise ModelInputError(
            f"{name}: {int(bad.sum())} missing or infinite values, first at "
            f"{_label_of(index, first)}; drop or fill them first"
        )
    if positive:
        non_positive = array <= 0
        if non_positive.any():
            first = int(np.argmax(non_positive))
            raise ModelInputError(
                f"{name}: non-positive price {array[first]!r} at {_label_of(index, first)}; "
                "log spreads need prices > 0 (use the price form instead)"
            )
    if np.ptp(array) == 0:
        raise ModelInputError(f"{name}: constant series (every value is {array[0]!r})")
    return array


def align_pair(
    a: np.ndarray | pd.Series,
    b: np.ndarray | pd.Series,
    names: tuple[str, str] = ("a", "b"),
) -> tuple[np.ndarray | pd.Series, np.ndarray | pd.Series]:
    """Check two series line up observation for observation.

    Two pandas Series must have identical indexes (dates): misaligned dates raise, naming the
    first date present in one and not the other, rather than being silently inner-joined.
    Arrays must have the same length.
    """
    if isinstance(a, pd.Series) and isinstance(b, pd.Series):
        if not a.index.equals(b.index):
            only_a = a.index.difference(b.index)
            only_b = b.index.difference(a.index)
            if len(only_a) or len(only_b):
                where = (
                    f"{only_a[0]} is in {names[0]} only"
                    if len(only_a)
                    else f"{only_b[0]} is in {names[1]} only"
                )
                raise ModelInputError(
                    f"{names[0]} and {names[1]} have misaligned dates "
                    f"({len(only_a)} + {len(only_b)} unmatched; {where}); "
                    "align them first (e.g. a.align(b, join='inner'))"
                )
            raise ModelInputError(
                f"{names[0]} and {names[1]} hold the same dates in a different order; sort them"
            )
        return a, b
    if len(a) != len(b):
        raise ModelInputError(
            f"{names[0]} has {len(a)} observations and {names[1]} has {len(b)}; they must align"
        )
    return a, b


def prepare_pair(
    a: np.ndarray | pd.Series,
    b: np.ndarray | pd.Series,
    *,
    log: bool,
    names: tuple[str, str] = ("a", "b"),
    min_length: int = MIN_OBSERVATIONS,
) -> tuple[np.ndarray, np.ndarray]:
    """Align, check and (when `log`) take logs of a pair of price series."""
    a, b = align_pair(a, b, names)
    a_values = check_series(a, names[0], min_length=min_length, positive=log)
    b_values = check_series(b, names[1], min_length=min_length, positive=log)
    if log:
        return np.log(a_values), np.log(b_values)
    return a_values, b_values
