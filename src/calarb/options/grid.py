"""Implied-volatility grid folders (strike x maturity tables with a market.toml), such as
../shared/data/options-dax-2002: market.toml names the files and conventions."""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from calarb.options.chains import ChainError

MATURITY_ROUNDINGS = ("days", "weeks")


@dataclass(frozen=True)
class VolGrid:
    """One implied vol per (strike, maturity), with the forward and discount of its maturity."""

    strike: np.ndarray
    days: np.ndarray  # calendar days from settlement to expiry (after rounding)
    time: np.ndarray  # years, ACT/365F
    vol: np.ndarray
    forward: np.ndarray
    discount: np.ndarray
    spot: float


def _read_csv(path: Path, columns: tuple[str, ...]) -> pd.DataFrame:
    if not path.is_file():
        raise ChainError(f"{path}: file not found")
    frame = pd.read_csv(path)
    for column in columns:
        if column not in frame.columns:
            raise ChainError(f"{path}: missing column {column!r}")
    for column in columns:
        values = pd.to_numeric(frame[column], errors="coerce")
        bad = values.isna().to_numpy().nonzero()[0]
        if bad.size:
            row = int(bad[0]) + 2  # 1-based, after the header line
            raise ChainError(f"{path}: row {row}, column {column!r}: not a number")
        frame[column] = values
    return frame


def read_vol_grid(folder: Path, maturity_rounding: str = "days") -> VolGrid:
    """The grid of `folder`. `maturity_rounding="weeks"` rounds each maturity to whole weeks,
    (days + 3) // 7, as QuantLib's DAX calibration test builds its options (PROVENANCE.md)."""
    folder = Path(folder)
    market_file = folder / "market.toml"
    if not market_file.is_file():
        raise ChainError(f"{market_file}: file not found (an implied-vol grid folder needs one)")
    try:
        market = tomllib.loads(market_file.read_text())
        spot = float(market["spot"])
        dividend_yield = float(market.get("dividend_yield", 0.0))
        vols_name = market["implied_vols"]
        rates_name = market["zero_rates"]
    except (tomllib.TOMLDecodeError, KeyError, ValueError, TypeError) as exc:
        raise ChainError(f"{market_file}: {exc!r}") from None
    if market.get("day_count", "ACT/365F") != "ACT/365F":
        raise ChainError(f"{market_file}: day_count {market['day_count']!r} is not ACT/365F")
    vols = _read_csv(folder / vols_name, ("strike", "days_to_expiry", "implied_vol"))
    rates = _read_csv(folder / rates_name, ("days",))
    rate_column = [c for c in rates.columns if c != "days"]
    if not rate_column:
        raise ChainError(f"{folder / rates_name}: no zero-rate column beside 'days'")
    rates = _read_csv(folder / rates_name, ("days", rate_column[0]))
    days = vols["days_to_expiry"].to_numpy(dtype=float)
    if maturity_rounding == "weeks":
        days = 7.0 * ((days + 3.0) // 7.0)
    elif maturity_rounding != "days":
        raise ValueError(f"maturity_rounding must be one of {MATURITY_ROUNDINGS}")
    time = days / 365.0
    rate = np.interp(days, rates["days"].to_numpy(float), rates[rate_column[0]].to_numpy(float))
    return VolGrid(
        strike=vols["strike"].to_numpy(float),
        days=days,
        time=time,
        vol=vols["implied_vol"].to_numpy(float),
        forward=spot * np.exp((rate - dividend_yield) * time),
        discount=np.exp(-rate * time),
        spot=spot,
    )
