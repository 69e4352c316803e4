"""The replay venue's fill rules and the realism models, on handcrafted L3 ITCH streams."""

from __future__ import annotations

import statistics

import pytest

from calarb.backtest.models import (
    ConstantLatency,
    EmpiricalLatency,
    FifoQueue,
    LogNormalLatency,
    ProbabilisticQueue,
    latency_from_config,
)
from calarb.backtest.venue import ReplayVenue
from calarb.core.clock import SimulatedClock
from calarb.core.order_events import VenueOrder
from calarb.core.orders import ExecType
from calarb.core.scheduler import EventScheduler
from calarb.core.types import Instrument, Side
from calarb.itch.codec import ENCODERS
from calarb.itch.messages import AddOrder, OrderCancel, OrderDelete, OrderExecuted
from calarb.trading.orders import Liquidity, OrdType, TimeInForce
from calarb.venue.itch_publisher import ItchPublisher

SYMBOL = "AAA"


class Collector:
    """The execution sink of these tests: keeps every report with its arrival time."""

    def __init__(self, scheduler: EventScheduler) -> None:
        self.scheduler = scheduler
        self.reports = []
        self.rejects = []

    def on_execution_report(self, report, now_ns=None) -> None:
        self.reports.append((self.scheduler.clock.monotonic_ns(), report))

    def on_cancel_reject(self, reject, now_ns=None) -> None:
        self.rejects.append(reject)

    def fills(self):
        return [(r.last_qty, r.last_px, r.liquidity) for _, r in self.reports if r.last_qty]


class Stream:
    """A venue fed with handcrafted ITCH messages of one symbol."""

    def __init__(self, queue_model=None, order_latency_ns: int = 50_000) -> None:
        self.clock = SimulatedClock(0)
        self.scheduler = EventScheduler(self.clock)
        self.venue = ReplayVenue(
            "R", self.scheduler, order_latency=ConstantLatency(order_latency_ns),
            feed_latency=ConstantLatency(0), queue_model=queue_model or FifoQueue(),
        )  # fmt: skip
        self.sink = Collector(self.scheduler)
        self.tops = []
        self.venue.connect(self.sink, lambda venue, top: self.tops.append(top))
        publisher = ItchPublisher([Instrument(SYMBOL)])
        self.locate = publisher.locates[SYMBOL]
        for message in publisher.start_of_day(0):
            self.venue.on_message(ENCODERS[message.message_type](message), 0)

    def at(self, t_ns: int, message) -> None:
        self.scheduler.run_until(t_ns)
        self.venue.on_message(ENCODERS[message.message_type](message), t_ns)

    def add(self, t, ref, side, shares, price):
        self.at(t, AddOrder(self.locate, 0, t, ref, side.code, shares, SYMBOL, price))

    def execute(self, t, ref, shares):
        self.at(t, OrderExecuted(self.locate, 0, t, ref, shares, t))

    def cancel(self, t, ref, shares):
        self.at(t, OrderCancel(self.locate, 0, t, ref, shares))

    def delete(self, t, ref):
        self.at(t, OrderDelete(self.locate, 0, t, ref))

    def send(self, t, side, quantity, price, tif=TimeInForce.DAY, name="C1"):
        self.scheduler.run_until(t)
        order = VenueOrder(name, "P", "R", SYMBOL, side, quantity, price, OrdType.LIMIT, tif)
        self.venue.send_new_order(order, t)


def queue_setup(model) -> Stream:
    """Bids at 10.00: ref 1 (100), ref 2 (200); we join behind them with 100; ref 3 (100)
    arrives behind us."""
    s = Stream(model)
    s.add(1_000, 1, Side.BUY, 100, 100_000)
    s.add(2_000, 2, Side.BUY, 200, 100_000)
    s.add(3_000, 9, Side.SELL, 500, 100_100)
    s.send(10_000, Side.BUY, 100, 100_000)  # arrives at 60,000
    s.add(100_000, 3, Side.BUY, 100, 100_000)
    return s


def queue_scenario(model) -> Stream:
    """After `queue_setup`: ref 2 cancels; ref 3 trades 60 in a sweep of its own (300 us),
    while ref 1 is ahead of us; ref 1 trades 100 in a later sweep (400 us); ref 3 trades its
    last 40 (500 us). Under price-time priority the 300 us sweep cannot have reached us: ref 1,
    ahead of us, is still resting after it (it trades at 400 us), so that aggressor never got
    past ref 1 to us (the report is out of priority, and the data itself refutes that the queue
    ahead was consumed). Ref 1's 100 are absorbed by ref 1; the last 40 all reach us."""
    s = queue_setup(model)
    s.cancel(200_000, 2, 200)
    s.execute(300_000, 3, 60)
    s.execute(400_000, 1, 100)
    s.execute(500_000, 3, 40)
    s.scheduler.run_until(1_000_000)
    return s


def test_fifo_queue_position_from_l3():
    s = queue_scenario(FifoQueue())
    assert s.sink.fills() == [(40, 100_000, Liquidity.ADDED)]
    own = s.venue.by_cl_ord_id["C1"]
    assert own.leaves == 60 and own.queue.ahead == 0 and own.queue.ahead_refs == {}
    # what the engine saw: our 100 shares are in the bid once we rest
    assert any(top.bid_shares == 400 for top in s.tops)


def test_fifo_sweep_reported_out_of_queue_order_fills_us():
    """One sweep (one ITCH timestamp) reports ref 3 (behind us) trading 60 before ref 1 (the
    last order ahead) trading 100: under price-time priority the aggressor took ref 1, then us,
    then ref 3, so the 60 went past the queue ahead and are ours, filled when ref 1's report
    empties the queue ahead. A later sweep's 40 at our price reach us too."""
    s = queue_setup(FifoQueue())
    s.cancel(200_000, 2, 200)
    s.execute(300_000, 3, 60)
    assert s.sink.fills() == []  # ref 1 is still ahead: held for the sweep
    s.execute(300_000, 1, 100)
    s.scheduler.run_until(400_000)
    assert s.sink.fills() == [(60, 100_000, Liquidity.ADDED)]
    assert s.sink.reports[-1][0] == 300_000 + 50_000  # filled in that sweep
    s.execute(500_000, 3, 40)
    s.scheduler.run_until(1_000_000)
    assert s.sink.fills() == [(60, 100_000, Liquidity.ADDED), (40, 100_000, Liquidity.ADDED)]
    assert "C1" not in [own.order.cl_ord_id for own in s.venue.resting.get(SYMBOL, [])]


def test_fifo_sweep_behind_us_counts_once_the_queue_ahead_is_gone_in_it():
    """Ref 3 (behind us) trades 60 and, at the same timestamp, the orders ahead are reported
    gone (ref 2 cancelled, ref 1 deleted): they had left before the aggressor came, so it met
    us first. An execution behind us in a sweep that leaves orders ahead of us resting is
    dropped, not carried into the next sweep."""
    s = queue_setup(FifoQueue())
    s.execute(200_000, 3, 10)  # its sweep ends with refs 1 and 2 still ahead: not ours
    s.execute(300_000, 3, 60)
    s.cancel(300_000, 2, 200)
    assert s.sink.fills() == []
    s.delete(300_000, 1)
    s.scheduler.run_until(1_000_000)
    assert s.sink.fills() == [(60, 100_000, Liquidity.ADDED)]
    own = s.venue.by_cl_ord_id["C1"]
    assert own.leaves == 40 and own.queue.ahead == 0 and own.queue.swept_behind == 0


def test_probabilistic_queue_moves_on_cancels_by_expected_share():
    model = ProbabilisticQueue(power=1.0)
    s = queue_scenario(model)
    # Cancel of 200 with 300 ahead, 100 behind: ahead drops by 200 * 300 / 400 = 150 -> 150.
    # The trade of 60 (L2 cannot tell it was behind us) takes the front: 90 ahead, the trade
    # of 100 clears them and its last 10 reach us; the final 40 all reach us.
    assert s.sink.fills() == [(10, 100_000, Liquidity.ADDED), (40, 100_000, Liquidity.ADDED)]


def test_taking_consumes_replayed_liquidity():
    s = Stream()
    s.add(1_000, 1, Side.SELL, 100, 100_100)
    s.add(1_000, 2, Side.SELL, 300, 100_200)
    s.add(1_000, 3, Side.BUY, 100, 100_000)
    s.send(10_000, Side.BUY, 250, 100_200, TimeInForce.IOC)
    s.send(20_000, Side.BUY, 250, 100_200, TimeInForce.IOC, name="C2")
    s.scheduler.run_until(1_000_000)
    fills = s.sink.fills()
    # first order: 100 at 10.01 and 150 at 10.02; the second finds only the 150 left
    assert fills == [(100, 100_100, Liquidity.REMOVED), (150, 100_200, Liquidity.REMOVED),
                     (150, 100_200, Liquidity.REMOVED)]  # fmt: skip
    statuses = [r.exec_type for _, r in s.sink.reports if r.cl_ord_id == "C2"]
    assert statuses[-1] is ExecType.CANCELED  # the IOC remainder
    assert s.tops[-1].ask_shares == 0 or s.tops[-1].ask_price > 100_200
    assert s.venue.consumed == {1: 100, 2: 300}
    # the replay goes on: a consumed order trades in the replay, its consumption goes with it
    s.execute(2_000_000, 2, 300)
    assert s.venue.consumed == {1: 100}
    assert s.venue.consumed_at == {(SYMBOL, -1, 100_100): 100}


def test_more_order_latency_misses_the_price():
    """The ask at 10.01 is taken in the replay 100 us after we send: with 50 us one way we
    get it, with 150 us we arrive after it left and our IOC at 10.01 gets nothing."""

    def run(latency_ns: int):
        s = Stream(order_latency_ns=latency_ns)
        s.add(1_000, 1, Side.SELL, 100, 100_100)
        s.add(1_000, 2, Side.SELL, 100, 100_200)
        s.send(100_000, Side.BUY, 100, 100_100, TimeInForce.IOC)
        s.execute(200_000, 1, 100)
        s.scheduler.run_until(2_000_000)
        answered = [t for t, r in s.sink.reports]
        return s.sink.fills(), answered

    fast, fast_times = run(50_000)
    slow, slow_times = run(150_000)
    assert fast == [(100, 100_100, Liquidity.REMOVED)] and slow == []
    assert fast_times[0] == 100_000 + 2 * 50_000 and slow_times[0] == 100_000 + 2 * 150_000


def test_latency_models():
    assert ConstantLatency(7).sample() == 7
    draws = [EmpiricalLatency([10, 20, 30], seed=3).sample() for _ in range(5)]
    assert set(draws) <= {10, 20, 30}
    model = EmpiricalLatency(list(range(100)), seed=5)
    again = EmpiricalLatency(list(range(100)), seed=5)
    assert [model.sample() for _ in range(50)] == [again.sample() for _ in range(50)]
    truth = LogNormalLatency(30_000, 10.0, 0.4, seed=1)
    samples = [truth.sample() for _ in range(20_000)]
    fitted = LogNormalLatency.fit(samples)
    assert fitted.floor_ns == min(samples) >= 30_000  # the floor estimate: the fastest seen
    assert statistics.median(samples) == pytest.approx(fitted.median_ns, rel=0.05)
    assert latency_from_config(50).sample() == 50_000
    assert latency_from_config({"kind": "constant", "us": 12}).sample() == 12_000
    with pytest.raises(ValueError, match="unknown latency kind"):
        latency_from_config({"kind": "gamma"})


def test_empirical_latency_from_file(tmp_path):
    path = tmp_path / "latency.txt"
    path.write_text("# one-way us\n40\n55.5\n\n60\n")
    model = latency_from_config({"kind": "empirical", "file": str(path), "unit": "us"}, seed=2)
    assert {model.sample() for _ in range(200)} == {40_000, 55_500, 60_000}
    path.write_text("40\nfast\n")
    with pytest.raises(ValueError, match="line 2"):
        latency_from_config({"kind": "empirical", "file": str(path)})
