"""Pair scanner: prefilter candidate pairs, Engle-Granger test them in vectorised blocks, correct
for multiple testing (Benjamini-Hochberg) and rank by p-value then half-life.

Each unordered pair is tested in both orderings; the row reports the ordering with the lower
p-value (`a` is the dependent leg: a = intercept + hedge_ratio * b), so `pvalue` equals
statsmodels' `coint(a, b)` on the same (log) prices. q-values are Benjamini-Hochberg adjusted
over every pair tested. Blocks run in this process, a local process pool, or on Dask.
"""

from __future__ import annotations

import math
import sys
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.stats import false_discovery_control
from threadpoolctl import threadpool_limits
from tqdm import tqdm

from calarb.model.cointegration import default_maxlag, engle_granger_arrays, method_name
from calarb.model.validation import ModelInputError

PREFILTERS = ("corr", "distance", "none")
BLOCK_BUDGET = 4_000_000
"""Floats per vectorised block (the ADF lag design): bounds memory at ~32 MB per worker."""


@dataclass(frozen=True)
class ScanConfig:
    log: bool = True
    prefilter: str = "corr"  # "corr": |return correlation| >= min_correlation
    min_correlation: float = 0.5
    top_distance: int | None = None  # "distance": keep the N closest pairs (default 20%)
    fdr: float = 0.05

    def __post_init__(self) -> None:
        if self.prefilter not in PREFILTERS:
            raise ModelInputError(f"prefilter must be one of {PREFILTERS}, got {self.prefilter!r}")
        if not 0.0 < self.fdr < 1.0:
            raise ModelInputError(f"false discovery rate must be in (0, 1), got {self.fdr}")


def pairs_per_block(n_obs: int) -> int:
    """Pairs per vectorised block (two orderings each) so the ADF work arrays stay within
    BLOCK_BUDGET floats."""
    maxlag = default_maxlag(n_obs)
    return max(1, BLOCK_BUDGET // (2 * n_obs * (maxlag + 2)))


def return_correlations(values: np.ndarray) -> np.ndarray:
    """Correlation matrix of one-period changes of the (log) prices."""
    changes = np.diff(values, axis=0)
    return np.corrcoef(changes, rowvar=False)


def candidate_pairs(values: np.ndarray, config: ScanConfig) -> tuple[np.ndarray, np.ndarray]:
    """Index pairs (i < j) worth testing under the prefilter (all pairs when "none")."""
    n_symbols = values.shape[1]
    first, second = np.triu_indices(n_symbols, k=1)
    if config.prefilter == "none":
        return first, second
    if config.prefilter == "corr":
        correlation = return_correlations(values)[first, second]
        keep = np.abs(correlation) >= config.min_correlation
        return first[keep], second[keep]
    normalised = values - values[0] if config.log else values / values[0]
    gram = normalised.T @ normalised
    norms = np.diag(gram)
    distance = norms[first] + norms[second] - 2.0 * gram[first, second]
    top = config.top_distance or max(1, math.ceil(0.2 * first.size))
    order = np.argsort(distance, kind="stable")[:top]
    order.sort()
    return first[order], second[order]


def score_pairs(values: np.ndarray, first: np.ndarray, second: np.ndarray) -> dict[str, np.ndarray]:
    """Engle-Granger both ways for the pairs (first[k], second[k]); keep the lower p-value."""
    results = []
    step = pairs_per_block(values.shape[0])
    for start in range(0, first.size, step):
        i = first[start : start + step]
        j = second[start : start + step]
        y = np.concatenate([values[:, i].T, values[:, j].T])
        x = np.concatenate([values[:, j].T, values[:, i].T])
        both = engle_granger_arrays(y, x)
        half = i.size
        forward = both.pvalue[:half] <= both.pvalue[half:]
        pick = np.where(forward, np.arange(half), np.arange(half) + half)
        results.append(
            {
                "a": np.where(forward, i, j),
                "b": np.where(forward, j, i),
                "pvalue": both.pvalue[pick],
                "pvalue_reverse": both.pvalue[np.where(forward, pick + half, pick - half)],
                "adf_stat": both.adf_stat[pick],
                "hedge_ratio": both.hedge_ratio[pick],
                "intercept": both.intercept[pick],
                "half_life": both.half_life[pick],
                "lags": both.lags[pick],
            }
        )
    if not results:
        return {}
    return {key: np.concatenate([part[key] for part in results]) for key in results[0]}


def _chunks(
    first: np.ndarray, second: np.ndarray, pieces: int
) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    bounds = np.linspace(0, first.size, pieces + 1).astype(int)
    for lo, hi in zip(bounds[:-1], bounds[1:], strict=True):
        if hi > lo:
            yield first[lo:hi], second[lo:hi]


_WORKER_VALUES: np.ndarray | None = None


def _init_worker(values: np.ndarray) -> None:
    global _WORKER_VALUES
    _WORKER_VALUES = values
    threadpool_limits(1)  # one BLAS thread per worker process: the workers are the parallelism


def _score_pairs_in_worker(first: np.ndarray, second: np.ndarray) -> dict[str, np.ndarray]:
    assert _WORKER_VALUES is not None, "process pool worker was not initialised"
    return score_pairs(_WORKER_VALUES, first, second)


def _run_blocks(
    values: np.ndarray,
    first: np.ndarray,
    second: np.ndarray,
    *,
    workers: int,
    dask: bool,
    scheduler: str | None,
    dask_processes: bool,
    progress: bool,
) -> list[dict[str, np.ndarray]]:
    per_block = pairs_per_block(values.shape[0])
    if workers > 1 or dask or scheduler:
        # a few tasks per worker, each several blocks long: scheduling overhead stays small
        pieces = max(4 * max(workers, 1), math.ceil(first.size / (8 * per_block)))
    else:
        pieces = math.ceil(first.size / per_block)  # one block at a time: a smooth progress bar
    chunks = list(_chunks(first, second, pieces))
    bar = tqdm(total=first.size, desc="pairs", unit="pair", file=sys.stderr, disable=not progress)
    outputs: list[dict[str, np.ndarray]] = []

    def collect(result: dict[str, np.ndarray]) -> None:
        outputs.append(result)
        bar.update(len(result.get("a", ())))

    try:
        if dask or scheduler:
            _run_on_dask(values, chunks, workers, scheduler, dask_processes, collect)
        elif workers > 1:
            with ProcessPoolExecutor(workers, initializer=_init_worker, initargs=(values,)) as pool:
                for result in pool.map(_score_pairs_in_worker, *zip(*chunks, strict=True)):
                    collect(result)
        else:
            for i, j in chunks:
                collect(score_pairs(values, i, j))
    finally:
        bar.close()
    return outputs


def _run_on_dask(
    values: np.ndarray,
    chunks: list[tuple[np.ndarray, np.ndarray]],
    workers: int,
    scheduler: str | None,
    processes: bool,
    collect: Callable[[dict[str, np.ndarray]], None],
) -> None:
    from dask.distributed import Client, LocalCluster, as_completed

    if scheduler:
        client = Client(scheduler)
        cluster = None
    else:
        cluster = LocalCluster(
            n_workers=max(workers, 1),
            threads_per_worker=1,
            processes=processes,
            dashboard_address=None,
        )
        client = Client(cluster)
    try:
        shared = client.scatter(values, broadcast=True)
        futures = [client.submit(score_pairs, shared, i, j, pure=False) for i, j in chunks]
        for future in as_completed(futures):
            collect(future.result())
    finally:
        client.close()
        if cluster is not None:
            cluster.close()


def scan_pairs(
    prices: pd.DataFrame,
    config: ScanConfig = ScanConfig(),
    *,
    workers: int = 1,
    dask: bool = False,
    scheduler: str | None = None,
    dask_processes: bool = True,
    progress: bool = False,
) -> pd.DataFrame:
    """Scan every candidate pair of a clean price panel; returns the ranked table.

    Runs in this process (workers=1), a local process pool (workers > 1), a new Dask
    LocalCluster (`dask`, with `workers` workers, processes unless `dask_processes` is False)
    or an existing Dask cluster (`scheduler` address). The result does not depend on which.

    Columns: a, b, pvalue, qvalue, significant, pvalue_reverse, adf_stat, hedge_ratio,
    intercept, half_life (observations; inf when not mean-reverting), lags, correlation,
    n_obs, method.
    """
    values = prices.to_numpy(dtype=np.float64)
    if not np.isfinite(values).all():
        raise ModelInputError("price panel has missing values; clean it first (see read_panel)")
    if config.log:
        if (values <= 0).any():
            raise ModelInputError("log scan needs prices > 0; scan prices instead")
        values = np.log(values)
    values = np.ascontiguousarray(values)
    first, second = candidate_pairs(values, config)
    columns = [
        "a", "b", "pvalue", "qvalue", "significant", "pvalue_reverse", "adf_stat",
        "hedge_ratio", "intercept", "half_life", "lags", "correlation", "n_obs", "method",
    ]  # fmt: skip
    if first.size == 0:
        return pd.DataFrame(columns=columns)
    outputs = _run_blocks(
        values,
        first,
        second,
        workers=workers,
        dask=dask,
        scheduler=scheduler,
        dask_processes=dask_processes,
        progress=progress,
    )
    merged = {key: np.concatenate([o[key] for o in outputs if o]) for key in outputs[0]}
    symbols = np.asarray(prices.columns, dtype=object)
    table = pd.DataFrame(merged)
    correlation = return_correlations(values)
    table["correlation"] = correlation[table["a"].to_numpy(), table["b"].to_numpy()]
    table["a"] = symbols[table["a"].to_numpy()]
    table["b"] = symbols[table["b"].to_numpy()]
    table["qvalue"] = false_discovery_control(table["pvalue"].to_numpy(), method="bh")
    table["significant"] = table["qvalue"] <= config.fdr
    table["n_obs"] = values.shape[0]
    table["method"] = method_name(config.log)
    table = table.sort_values(["pvalue", "half_life", "a", "b"], kind="stable")
    return table.reset_index(drop=True)[columns]


def to_contract_records(table: pd.DataFrame) -> list[dict[str, object]]:
    """The JSON contract: a list of {a, b, pvalue, hedge_ratio, half_life, method, ...}.

    An infinite half-life (no mean reversion) becomes null, since JSON has no infinity.
    """
    records = []
    for row in table.itertuples(index=False):
        records.append(
            {
                "a": str(row.a),
                "b": str(row.b),
                "pvalue": float(row.pvalue),
                "qvalue": float(row.qvalue),
                "hedge_ratio": float(row.hedge_ratio),
                "intercept": float(row.intercept),
                "half_life": float(row.half_life) if math.isfinite(row.half_life) else None,
                "method": str(row.method),
            }
        )
    return records
