"""Market data inputs of `calarb backtest`: every input becomes ITCH 5.0, one file per venue, so
LOBSTER and Parquet data run through the one replay path of `calarb.backtest.replay`.

A `--data` value (docs/backtest.md, "Inputs") is one of:

* ``synthetic``: a market generated from the configuration (not handled here);
* ``A.itch,B.itch``: ITCH 5.0 files, one venue each (used as they are);
* ``lobster:ITEM,ITEM,...``: ONE venue made of LOBSTER message/orderbook pairs of one day, one
  symbol each (the symbol and the day come from the file name, ``AMZN_2012-06-21_...``). An
  item is a message file (its orderbook file is the same name with ``_orderbook_`` for
  ``_message_``, in the same folder), an orderbook file (then its message file must be listed
  too), a directory (every ``*_message_*.csv`` in it) or a glob;
* ``parquet:ITEM,ITEM,...``: ONE venue made of top-of-book / L2 series in the tick store's
  format (`calarb.book.bulk.bbo_series`, written by ``calarb book bbo``): ``timestamp``,
  ``bid_price_1..N``, ``bid_shares_1..N``, ``ask_price_1..N``, ``ask_shares_1..N``, prices in
  1/10,000, an absent level 0/0. An item is ``FILE``, ``SYMBOL=FILE``, a directory (every
  ``*.parquet``) or a glob. The symbol is the ``SYMBOL=`` prefix, else a ``symbol`` column
  (several symbols in one file), else the file name up to its first ``_`` or ``.``.

LOBSTER and Parquet venues are converted by `calarb.backtest.lobster_input` and
`calarb.backtest.parquet_input` (through `calarb.backtest.itch_conversion`).
"""

from __future__ import annotations

import glob
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from calarb.backtest.config import BacktestConfig
from calarb.backtest.itch_conversion import QUEUE_BY_KIND, PreparedVenue, check_symbols
from calarb.backtest.lobster_input import LOBSTER_PREFIX, LobsterPair, lobster_to_itch
from calarb.backtest.parquet_input import PARQUET_PREFIX, ParquetInput, parquet_to_itch

SYNTHETIC_DATA = "synthetic"
_DAY = re.compile(r"_(\d{4}-\d{2}-\d{2})_")
_GLOB_CHARS = set("*?[")


@dataclass(frozen=True)
class VenueInput:
    """One venue of a backtest's input, before conversion."""

    kind: str  # "itch", "lobster" or "parquet"
    itch: Path | None = None
    lobster: tuple[LobsterPair, ...] = ()
    parquet: tuple[ParquetInput, ...] = ()


def parse_data(data: str | Sequence[str | os.PathLike[str]]) -> list[VenueInput]:
    """The venues of one or more `--data` values (see the module docstring). Missing files
    raise FileNotFoundError, inconsistent ones ValueError; both name the file."""
    specs = [data] if isinstance(data, str) else [os.fspath(item) for item in data]
    venues: list[VenueInput] = []
    for spec in specs:
        if spec.startswith(LOBSTER_PREFIX):
            venues.append(
                VenueInput("lobster", lobster=_lobster_pairs(spec[len(LOBSTER_PREFIX) :]))
            )
        elif spec.startswith(PARQUET_PREFIX):
            items = _parquet_items(spec[len(PARQUET_PREFIX) :])
            venues.append(VenueInput("parquet", parquet=items))
        elif spec == SYNTHETIC_DATA:
            raise ValueError("'synthetic' cannot be combined with other market data")
        else:
            venues.extend(VenueInput("itch", itch=_itch_path(part)) for part in _split(spec))
    if not venues:
        raise ValueError("no market data given")
    days = {p.day for venue in venues for p in venue.lobster if p.day is not None}
    if len(days) > 1:
        raise ValueError(f"LOBSTER files of different days: {sorted(days)} (one day per run)")
    return venues


def _split(spec: str) -> list[str]:
    return [part.strip() for part in spec.split(",") if part.strip()]


def _itch_path(text: str) -> Path:
    path = Path(text)
    if not path.exists():
        raise FileNotFoundError(f"no such market data file: {text}")
    if path.suffix == ".csv" and "_message_" in path.name:
        raise ValueError(f"{text} looks like a LOBSTER file: give it as lobster:{text}")
    if path.suffix == ".parquet":
        raise ValueError(f"{text} is a Parquet file: give it as parquet:{text}")
    return path


def _expand(item: str, directory_pattern: str) -> list[Path]:
    """A file, every `directory_pattern` file of a directory, or the files of a glob."""
    if _GLOB_CHARS & set(item):
        found = sorted(glob.glob(item))
        if not found:
            raise FileNotFoundError(f"{item} matches no file")
        return [Path(p) for p in found]
    path = Path(item)
    if path.is_dir():
        found = sorted(path.glob(directory_pattern))
        if not found:
            raise FileNotFoundError(f"directory {item} has no {directory_pattern} file")
        return found
    if not path.exists():
        raise FileNotFoundError(f"no such market data file: {item}")
    return [path]


def _lobster_pairs(spec: str) -> tuple[LobsterPair, ...]:
    messages: list[Path] = []
    orderbooks: set[Path] = set()
    for item in _split(spec):
        for path in _expand(item, "*_message_*.csv"):
            if "_message_" in path.name:
                messages.append(path)
            elif "_orderbook_" in path.name:
                orderbooks.add(path)
            else:
                raise ValueError(
                    f"{path}: not a LOBSTER file name (SYMBOL_DAY_..._message_N.csv or "
                    "..._orderbook_N.csv)"
                )
    if not messages:
        raise ValueError(f"lobster:{spec}: no message file")
    pairs = []
    for message in dict.fromkeys(messages):  # listed twice (a glob and a file): once
        orderbook = message.with_name(message.name.replace("_message_", "_orderbook_", 1))
        if not orderbook.exists():
            raise FileNotFoundError(f"message file {message} has no orderbook file {orderbook}")
        orderbooks.discard(orderbook)
        day = _DAY.search(message.name)
        pairs.append(
            LobsterPair(message.name.split("_")[0], day.group(1) if day else None, message,
                        orderbook)
        )  # fmt: skip
    if orderbooks:
        raise ValueError(
            f"orderbook file(s) without their message file: {sorted(map(str, orderbooks))}"
        )
    check_symbols([p.symbol for p in pairs], [p.message for p in pairs])
    days = {p.day for p in pairs if p.day is not None}
    if len(days) > 1:
        raise ValueError(f"lobster:{spec}: files of different days {sorted(days)}")
    return tuple(pairs)


def _parquet_items(spec: str) -> tuple[ParquetInput, ...]:
    items = []
    for item in _split(spec):
        symbol, _, rest = item.partition("=")
        if rest and not _GLOB_CHARS & set(symbol) and "/" not in symbol:
            items.extend(ParquetInput(path, symbol) for path in _expand(rest, "*.parquet"))
        else:
            items.extend(ParquetInput(path, None) for path in _expand(item, "*.parquet"))
    return tuple(dict.fromkeys(items))


def prepare_inputs(
    data: str | Sequence[str | os.PathLike[str]], work_dir: str | os.PathLike[str]
) -> list[PreparedVenue]:
    """Every venue of `data` as an ITCH file: ITCH inputs as they are, LOBSTER and Parquet
    venues converted into `work_dir` (`venue<N>.itch`)."""
    prepared = []
    for number, venue in enumerate(parse_data(data), 1):
        out = Path(work_dir) / f"venue{number}.itch"
        if venue.kind == "itch":
            assert venue.itch is not None
            prepared.append(
                PreparedVenue(venue.itch, "itch", QUEUE_BY_KIND["itch"], str(venue.itch))
            )
        elif venue.kind == "lobster":
            prepared.append(lobster_to_itch(venue.lobster, out))
        else:
            prepared.append(parquet_to_itch(venue.parquet, out))
    return prepared


def with_data_queues(config: BacktestConfig, venues: Sequence[PreparedVenue]) -> BacktestConfig:
    """The configuration with each venue's queue model resolved: the configured one, or when
    it sets none (or `queue = "auto"`) the one the venue's data supports."""
    overrides = {}
    for name, venue in zip(config.venue_names(len(venues)), venues, strict=True):
        value = config.venue_table(name).get("queue", "auto")
        if value == "auto" or (isinstance(value, dict) and value.get("kind") == "auto"):
            overrides[f"venues.{name}.queue"] = venue.queue
    return config.with_overrides(overrides) if overrides else config
