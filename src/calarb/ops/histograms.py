"""Reading and filling an HdrHistogram in bulk with NumPy: Prometheus buckets, percentiles,
and folding a buffer of values in (`fold`).

The `hdrh` package answers `get_value_at_percentile` and its recorded-value iterator with a
Python loop over the counts array (27,648 slots for 1 ns..60 s at 3 digits): hundreds of
milliseconds for the stages of tick to trade, on the engine's loop, at every scrape. Here the
counts array is viewed as NumPy, summed once, and searched. The value of each slot depends
only on the histogram's layout, so it is computed once per layout.
"""

from __future__ import annotations

from typing import Any

import numpy as np

PERCENTILES = (("p50", 50.0), ("p99", 99.0), ("p999", 99.9))


_SLOT_VALUES: dict[tuple[int, ...], np.ndarray] = {}


def _slot_values(histogram: Any) -> np.ndarray:
    """The lowest value of every counts slot (the same for every histogram of a layout)."""
    layout = (
        histogram.counts_len,
        histogram.sub_bucket_half_count_magnitude,
        histogram.unit_magnitude,
        histogram.sub_bucket_count,
    )
    values = _SLOT_VALUES.get(layout)
    if values is None:
        values = np.array(
            [histogram.get_value_from_index(i) for i in range(histogram.counts_len)],
            dtype=np.int64,
        )
        _SLOT_VALUES[layout] = values
    return values


def fold(histogram: Any, values: np.ndarray) -> None:
    """Record each of `values` (int64, within the histogram's trackable range) once, as
    `record_value(v)` would, by arrays: the slot of each value is `hdrh`'s bucket arithmetic
    (bit length from the float exponent, exact below 2**53), the counts array is added to
    through its NumPy view. `record_value` is a Python call of about 2 us a value: folding
    the latency recorder's buffers that way held the live engine's loop for milliseconds
    at every timer tick while datagrams waited in the socket."""
    if not values.size:
        return
    h = histogram
    bits = np.frexp((values | h.sub_bucket_mask).astype(np.float64))[1].astype(np.int64)
    bucket = bits - h.unit_magnitude - (h.sub_bucket_half_count_magnitude + 1)
    sub_bucket = values >> (bucket + h.unit_magnitude)
    index = ((bucket + 1) << h.sub_bucket_half_count_magnitude) + sub_bucket
    index -= h.sub_bucket_half_count
    counts = np.ctypeslib.as_array(h.counts)[: h.counts_len]
    added = np.bincount(index, minlength=h.counts_len)
    np.add(counts, added.astype(counts.dtype), out=counts)
    h.total_count += int(values.size)
    h.min_value = min(h.min_value, int(values.min()))
    h.max_value = max(h.max_value, int(values.max()))


def counts_and_values(histogram: Any) -> tuple[np.ndarray, np.ndarray]:
    counts = np.ctypeslib.as_array(histogram.counts)[: histogram.counts_len]
    return counts.astype(np.int64), _slot_values(histogram)


def buckets(histogram: Any, bounds: tuple[float, ...], scale: float) -> tuple[list, float]:
    """Cumulative counts at each bound (`bounds` in units of `scale` ns, e.g. seconds with
    scale 1e9), "+Inf", and the sum of the values in the same units."""
    counts, values = counts_and_values(histogram)
    cumulative = np.cumsum(counts)
    total = int(cumulative[-1]) if len(cumulative) else 0
    limits = np.array([round(bound * scale) for bound in bounds], dtype=np.int64)
    indexes = np.searchsorted(values, limits, side="right") - 1  # last slot <= each bound
    result = [
        (repr(bound), int(cumulative[index]) if index >= 0 else 0)
        for bound, index in zip(bounds, indexes.tolist(), strict=True)
    ]
    result.append(("+Inf", total))
    return result, float(np.dot(counts, values)) / scale


def percentiles_us(histogram: Any) -> dict[str, float | int]:
    """p50/p99/p999 in microseconds, the count and the sum (us), the percentiles as `hdrh`'s `get_value_at_percentile`
    gives them (the highest value equivalent to the slot reached)."""
    counts, values = counts_and_values(histogram)
    cumulative = np.cumsum(counts)
    total = int(cumulative[-1]) if len(cumulative) else 0
    result: dict[str, float | int] = {}
    for name, percentile in PERCENTILES:
        if not total:
            result[name] = 0.0
            continue
        target = max(1, int(percentile * total / 100 + 0.5))
        index = int(np.searchsorted(cumulative, target, side="left"))
        value = histogram.get_highest_equivalent_value(int(values[index]))
        result[name] = value / 1_000
    result["count"] = total
    result["sum_us"] = float(np.dot(counts, values)) / 1_000
    return result
