"""Parameter sweeps on Dask: one backtest per grid point, in parallel.

`parse_grid("entry=1.5,2,2.5;window=100,300")` gives the points (the cartesian product, in the
order written); `run_sweep` submits one task per point to a Dask client (a LocalCluster unless
a scheduler address is given), shows progress as tasks finish, and returns a table with one row
per point (the parameters and the run's summary figures) in grid order. `write_sweep` writes it
as CSV and Parquet with a heatmap per metric over the first two parameters.
"""

from __future__ import annotations

import itertools
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from calarb.backtest.config import BacktestConfig

METRICS = ("pnl_net", "sharpe", "max_drawdown", "turnover", "orders", "fills", "events")
HEATMAP_METRICS = ("pnl_net", "max_drawdown", "sharpe")
SWEEP_NOTES = {
    "sharpe": "empty cells: Sharpe is not computed for runs under one trading day of market "
    "time (calarb.backtest.metrics)",
}


def _value(text: str) -> Any:
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text


def parse_grid(text: str) -> list[dict[str, Any]]:
    """'a=1,2;b=x,y' -> [{'a': 1, 'b': 'x'}, {'a': 1, 'b': 'y'}, ...]."""
    axes = []
    for part in filter(None, (p.strip() for p in text.split(";"))):
        name, sep, values = part.partition("=")
        if not sep or not name.strip() or not values.strip():
            raise ValueError(f"grid part {part!r}: expected name=v1,v2,...")
        axes.append((name.strip(), [_value(v.strip()) for v in values.split(",") if v.strip()]))
    if not axes:
        raise ValueError(f"empty grid {text!r}")
    names = [name for name, _ in axes]
    return [
        dict(zip(names, combo, strict=True)) for combo in itertools.product(*(v for _, v in axes))
    ]


def run_point(table: dict[str, Any], source: str, data: str | list[str],
              point: dict[str, Any]) -> dict[str, Any]:  # fmt: skip
    """One grid point (runs in a Dask worker)."""
    from calarb.backtest.replay import run_backtest

    config = BacktestConfig(table, source).with_overrides(point)
    summary = run_backtest(config, data).json_summary()
    return {**point, **{key: summary[key] for key in METRICS}}


def run_sweep(
    config: BacktestConfig,
    grid: Sequence[dict[str, Any]],
    data: str | list[str] = "synthetic",
    *,
    client=None,
    scheduler: str | None = None,
    workers: int = 2,
    processes: bool = True,
    progress: bool = True,
) -> pd.DataFrame:
    from dask.distributed import Client, LocalCluster, as_completed

    own_client = None
    if client is None:
        if scheduler:
            own_client = client = Client(scheduler)
        else:
            cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=processes,
                                   dashboard_address=None)  # fmt: skip
            own_client = client = Client(cluster)
    try:
        futures = [
            client.submit(run_point, config.table, config.source, data, point, pure=False)
            for point in grid
        ]
        position = {future.key: index for index, future in enumerate(futures)}
        rows: list[dict[str, Any] | None] = [None] * len(futures)
        for done, future in enumerate(as_completed(futures), 1):
            rows[position[future.key]] = future.result()
            if progress:
                print(f"\rsweep: {done}/{len(futures)} points", end="", file=sys.stderr)
        if progress:
            print(file=sys.stderr)
        return pd.DataFrame(rows)
    finally:
        if own_client is not None:
            cluster = own_client.cluster
            own_client.close()
            if cluster is not None:
                cluster.close()


def write_sweep(table: pd.DataFrame, parameters: list[str], directory: str | Path) -> list[Path]:
    """sweep.csv, sweep.parquet and, over the first two parameters, one interactive heatmap
    page per metric (each cell shows its value; plotly.js beside the pages)."""
    from calarb.ops.charts import heatmap_page

    out = Path(directory)
    out.mkdir(parents=True, exist_ok=True)
    paths = [out / "sweep.csv", out / "sweep.parquet"]
    table.to_csv(paths[0], index=False)
    table.to_parquet(paths[1], index=False)
    if len(parameters) >= 2:
        rows, columns = parameters[0], parameters[1]
        for metric in HEATMAP_METRICS:
            values = pd.to_numeric(table[metric], errors="coerce")
            grid = table.assign(**{metric: values}).pivot_table(
                index=rows, columns=columns, values=metric, aggfunc="mean", dropna=False
            )
            note = SWEEP_NOTES.get(metric, "")
            paths.append(heatmap_page(out, f"heatmap_{metric}", metric, grid, rows, columns, note))
    return paths
