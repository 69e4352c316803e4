"""Latency recorder: monotonic nanosecond stamps per stage of a tick, histograms per stage.

A tick is one market-data message through the engine. `begin_tick` opens it (the packet
received stamp), each stage stores the recorder clock's reading into a pre-allocated list
(`stamp` is one list store; `stamp_once` keeps the first reading when a tick sends several
orders; the engine and the FIX gateway do the same store inline, `stamps[stage] = now()`
with the recorder's `stamps` and `now`, to save a call per stage), and `end_tick` turns the
stamps into durations: each stage's duration is the time from the previous stage stamped in
the same tick, and tick-to-trade is packet received to order written, counted only for
ticks that wrote an order. The stage durations of those ticks are also kept apart
(`order_stage_summary_us`): they are the parts of tick to trade.

Durations go into pre-allocated integer buffers; they are folded into HdrHistograms (3
significant digits, 1 ns to 60 s) by `flush`, which the owner calls between ticks (the live
engine from its timer, the benchmark outside its timed ticks), when a report is asked for,
or, as a fallback, when a buffer fills, so the hot path does not touch the histogram
(folding a full buffer costs far more than a tick). Percentiles are reported in
microseconds.

The clock is passed in. With a simulated logic clock the engine still measures its own
processing time by giving the recorder a `LiveClock` (a simulated clock does not move
within a tick, so every stage would read 0).
"""

from __future__ import annotations

import enum
from array import array

import numpy as np
from hdrh.histogram import HdrHistogram

from calarb.core.clock import Clock
from calarb.ops.histograms import fold

LOWEST_NS = 1
HIGHEST_NS = 60_000_000_000
SIGNIFICANT_DIGITS = 3
PERCENTILES = (("p50", 50.0), ("p99", 99.0), ("p999", 99.9))


class Stage(enum.IntEnum):
    """Stages of tick to trade, in path order (the int is the stamp's slot)."""

    PACKET_RECEIVED = 0
    DECODED = 1
    BOOK_UPDATED = 2
    MODEL_UPDATED = 3
    SIGNAL = 4
    RISK_PASSED = 5
    ROUTED = 6
    FIX_ENCODED = 7
    WRITTEN = 8


STAGE_NAMES = tuple(stage.name.lower() for stage in Stage)
_STAGE_COUNT = len(Stage)
_WRITTEN = Stage.WRITTEN


class _Series:
    """A buffer of durations (ns) in front of an HdrHistogram."""

    __slots__ = ("buffer", "capacity", "length", "histogram")

    def __init__(self, capacity: int) -> None:
        self.buffer = array("q", bytes(8 * capacity))
        self.capacity = capacity
        self.length = 0
        self.histogram = HdrHistogram(LOWEST_NS, HIGHEST_NS, SIGNIFICANT_DIGITS)

    def add(self, value: int) -> None:
        length = self.length
        self.buffer[length] = value
        self.length = length + 1
        if length + 1 == self.capacity:
            self.flush()

    def flush(self) -> None:
        if not self.length:
            return
        values = np.frombuffer(self.buffer, dtype=np.int64, count=self.length)
        fold(self.histogram, np.clip(values, LOWEST_NS, HIGHEST_NS))
        self.length = 0

    def summary_us(self) -> dict[str, float | int]:
        self.flush()
        histogram = self.histogram
        result: dict[str, float | int] = {
            name: histogram.get_value_at_percentile(p) / 1_000 for name, p in PERCENTILES
        }
        result["count"] = histogram.get_total_count()
        return result


def _record_stages(series_list: list[_Series], stamps: list[int]) -> None:
    """Each stamped stage's duration since the previous stamped stage of the tick."""
    previous = stamps[0]
    for stage in range(1, _STAGE_COUNT):
        now = stamps[stage]
        if now:
            series = series_list[stage]
            length = series.length
            series.buffer[length] = now - previous
            series.length = length + 1
            if length + 1 == series.capacity:
                series.flush()
            previous = now


class LatencyRecorder:
    """Per-stage and tick-to-trade latency histograms fed by stamps on the recorder's clock."""

    def __init__(self, clock: Clock, buffer_size: int = 16384) -> None:
        if buffer_size <= 0:
            raise ValueError(f"buffer_size must be positive, got {buffer_size}")
        self.clock = clock
        self._now = clock.monotonic_ns
        self.now = self._now
        """The recorder clock's reading (ns), for callers that stamp inline."""
        self._stamps = [0] * _STAGE_COUNT
        self.stamps = self._stamps
        """The open tick's stamps by `Stage` (0: not stamped); the same list for the
        recorder's life, so a caller may keep it and store `now()` into it."""
        self._zeros = [0] * _STAGE_COUNT
        self._stages = [_Series(buffer_size) for _ in Stage]
        self._order_stages = [_Series(buffer_size) for _ in Stage]  # ticks that wrote an order
        self._tick_to_trade = _Series(buffer_size)
        self.ticks = 0
        self.ticks_with_order = 0
        self.last_tick_to_trade_ns = 0
        """Packet received to order written of the last closed tick (0: it wrote no order)."""

    # -- hot path ------------------------------------------------------------------------

    def begin_tick(self, received_ns: int | None = None) -> None:
        """Open a tick; `received_ns` is the packet's arrival on this recorder's clock (the
        transport's stamp), else now."""
        stamps = self._stamps
        stamps[:] = self._zeros
        stamps[0] = self._now() if received_ns is None else received_ns

    def stamp(self, stage: int) -> None:
        self._stamps[stage] = self._now()

    def stamp_once(self, stage: int) -> None:
        """Stamp unless this stage was already stamped in the current tick."""
        stamps = self._stamps
        if not stamps[stage]:
            stamps[stage] = self._now()

    def end_tick(self) -> None:
        """Close the tick: record each stamped stage's duration and, when an order was
        written, the tick-to-trade time."""
        stamps = self._stamps
        received = stamps[0]
        if not received:
            return  # no open tick
        _record_stages(self._stages, stamps)
        self.ticks += 1
        written = stamps[_WRITTEN]
        if written:
            self.ticks_with_order += 1
            self.last_tick_to_trade_ns = written - received
            _record_stages(self._order_stages, stamps)
            self._tick_to_trade.add(written - received)
        else:
            self.last_tick_to_trade_ns = 0
        stamps[0] = 0

    # -- between ticks -------------------------------------------------------------------

    def flush(self) -> None:
        """Fold the buffered durations into the histograms (off the hot path)."""
        for series in self._stages:
            series.flush()
        for series in self._order_stages:
            series.flush()
        self._tick_to_trade.flush()

    # -- reports -------------------------------------------------------------------------

    def stage_summary_us(self) -> dict[str, dict[str, float | int]]:
        """Stage name -> p50/p99/p999 (us) and count, for stages that were stamped."""
        return self._summaries(self._stages)

    def order_stage_summary_us(self) -> dict[str, dict[str, float | int]]:
        """The same, over the ticks that wrote an order only (the stages of tick to trade)."""
        return self._summaries(self._order_stages)

    @staticmethod
    def _summaries(series_list: list[_Series]) -> dict[str, dict[str, float | int]]:
        result = {}
        for stage in Stage:
            if stage is Stage.PACKET_RECEIVED:
                continue
            summary = series_list[stage].summary_us()
            if summary["count"]:
                result[STAGE_NAMES[stage]] = summary
        return result

    def tick_to_trade_us(self) -> dict[str, float | int]:
        """p50/p99/p999 (us) and count of packet received -> order written."""
        return self._tick_to_trade.summary_us()

    def histogram(self, stage: Stage | None = None) -> HdrHistogram:
        """The HdrHistogram (ns) of a stage, or of tick to trade when `stage` is None."""
        series = self._tick_to_trade if stage is None else self._stages[stage]
        series.flush()
        return series.histogram

    def order_histogram(self, stage: Stage) -> HdrHistogram:
        """The HdrHistogram (ns) of a stage over the ticks that wrote an order (read-only
        use: the metrics endpoint and the dashboard read it)."""
        series = self._order_stages[stage]
        series.flush()
        return series.histogram

    def reset(self) -> None:
        for series in (*self._stages, *self._order_stages, self._tick_to_trade):
            series.length = 0
            series.histogram.reset()
        self._stamps[:] = self._zeros
        self.ticks = self.ticks_with_order = self.last_tick_to_trade_ns = 0
