"""The latency recorder: stamps on a clock become per-stage and tick-to-trade histograms."""

from __future__ import annotations

import pytest

from calarb.core.clock import SimulatedClock
from calarb.ops.latency import LatencyRecorder, Stage


def _tick(recorder: LatencyRecorder, clock: SimulatedClock, steps, order: bool) -> None:
    recorder.begin_tick()
    for stage, delta in steps:
        clock.advance(delta)
        recorder.stamp(stage)
    if order:
        clock.advance(500)
        recorder.stamp_once(Stage.RISK_PASSED)
        clock.advance(700)
        recorder.stamp_once(Stage.WRITTEN)
        clock.advance(10_000)
        recorder.stamp_once(Stage.WRITTEN)  # a second order of the same tick: ignored
    recorder.end_tick()


def test_stage_durations_and_tick_to_trade_from_the_stamps():
    clock = SimulatedClock(1_000)
    recorder = LatencyRecorder(clock, buffer_size=8)  # forces several flushes
    for i in range(100):
        steps = [(Stage.DECODED, 1_000 + i), (Stage.BOOK_UPDATED, 2_000), (Stage.SIGNAL, 3_000)]
        _tick(recorder, clock, steps, order=i % 10 == 0)
    stages = recorder.stage_summary_us()
    assert set(stages) == {"decoded", "book_updated", "signal", "risk_passed", "written"}
    assert stages["decoded"]["count"] == 100
    # decoded took 1000..1099 ns: the median is ~1.05 us (HdrHistogram resolution 0.1%)
    assert stages["decoded"]["p50"] == pytest.approx(1.049, abs=0.003)
    assert stages["decoded"]["p999"] == pytest.approx(1.099, abs=0.003)
    assert stages["book_updated"]["p50"] == pytest.approx(2.0, abs=0.003)
    assert stages["risk_passed"] == {"p50": 0.5, "p99": 0.5, "p999": 0.5, "count": 10}
    tick_to_trade = recorder.tick_to_trade_us()
    assert tick_to_trade["count"] == 10  # only ticks that wrote an order
    # i in 0,10,..,90: 1000+i + 2000 + 3000 + 500 + 700 ns
    assert tick_to_trade["p50"] == pytest.approx((7_200 + 40) / 1_000, abs=0.01)
    assert tick_to_trade["p999"] == pytest.approx((7_200 + 90) / 1_000, abs=0.01)
    assert recorder.ticks == 100 and recorder.ticks_with_order == 10


def test_received_stamp_from_the_transport_and_reset():
    clock = SimulatedClock(50_000)
    recorder = LatencyRecorder(clock)
    recorder.begin_tick(received_ns=20_000)  # the packet arrived 30 us before processing
    recorder.stamp(Stage.DECODED)
    recorder.stamp(Stage.WRITTEN)
    recorder.end_tick()
    assert recorder.stage_summary_us()["decoded"]["p50"] == pytest.approx(30.0, rel=1e-3)
    assert recorder.tick_to_trade_us()["count"] == 1
    recorder.end_tick()  # no open tick: nothing recorded twice
    assert recorder.tick_to_trade_us()["count"] == 1
    recorder.reset()
    assert recorder.tick_to_trade_us()["count"] == 0 and recorder.stage_summary_us() == {}
    with pytest.raises(ValueError, match="buffer_size"):
        LatencyRecorder(clock, buffer_size=0)


def test_ticks_with_an_order_keep_their_own_stages_and_last_tick_to_trade():
    clock = SimulatedClock(1_000)
    recorder = LatencyRecorder(clock, buffer_size=4)
    quiet = [(Stage.DECODED, 1_000), (Stage.BOOK_UPDATED, 1_000)]
    trading = [(Stage.DECODED, 3_000), (Stage.BOOK_UPDATED, 2_000), (Stage.SIGNAL, 4_000)]
    for i in range(30):
        _tick(recorder, clock, trading if i % 3 == 0 else quiet, order=i % 3 == 0)
        # trading ticks: 3000 + 2000 + 4000 + 500 + 700 ns from received to written
        assert recorder.last_tick_to_trade_ns == (10_200 if i % 3 == 0 else 0)
    orders = recorder.order_stage_summary_us()
    assert {name: value["count"] for name, value in orders.items()} == {
        "decoded": 10, "book_updated": 10, "signal": 10, "risk_passed": 10, "written": 10,
    }  # fmt: skip
    assert orders["decoded"]["p50"] == pytest.approx(3.0, abs=0.003)
    assert orders["written"]["p999"] == pytest.approx(0.7, abs=0.003)
    every = recorder.stage_summary_us()
    assert every["decoded"]["count"] == 30
    assert every["decoded"]["p50"] == pytest.approx(1.0, abs=0.003)  # 20 of 30 took 1 us
    recorder.reset()
    assert recorder.order_stage_summary_us() == {} and recorder.last_tick_to_trade_ns == 0


def test_folding_by_arrays_fills_the_histogram_as_recording_each_value_does():
    import numpy as np
    from hdrh.histogram import HdrHistogram

    from calarb.ops.histograms import fold
    from calarb.ops.latency import HIGHEST_NS, LOWEST_NS, SIGNIFICANT_DIGITS

    rng = np.random.default_rng(7)
    edges = [1, 2, 2047, 2048, 2049, 4095, 4096, 2**30 - 1, 2**30, 2**30 + 1, HIGHEST_NS]
    values = np.concatenate([
        rng.integers(LOWEST_NS, HIGHEST_NS, 5_000),
        np.exp(rng.uniform(0, np.log(HIGHEST_NS), 5_000)).astype(np.int64),
        np.array(edges, dtype=np.int64),
    ]).clip(LOWEST_NS, HIGHEST_NS)  # fmt: skip
    one_by_one = HdrHistogram(LOWEST_NS, HIGHEST_NS, SIGNIFICANT_DIGITS)
    for value in values.tolist():
        one_by_one.record_value(value)
    folded = HdrHistogram(LOWEST_NS, HIGHEST_NS, SIGNIFICANT_DIGITS)
    fold(folded, values[:6_000])
    fold(folded, values[6_000:])  # folds add up
    fold(folded, values[:0])  # nothing to fold changes nothing
    view = np.ctypeslib.as_array
    assert (view(folded.counts) == view(one_by_one.counts)).all()
    assert folded.total_count == one_by_one.total_count == values.size
    assert (folded.min_value, folded.max_value) == (one_by_one.min_value, one_by_one.max_value)
    for percentile in (50.0, 99.0, 99.9):
        assert folded.get_value_at_percentile(percentile) == one_by_one.get_value_at_percentile(
            percentile
        )
