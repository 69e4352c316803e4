"""The queue-position models against the AMZN LOBSTER sample's own executions.

Virtual passive orders join the touch behind a fully known queue (every share at the level
belongs to an order the message file showed arriving). The truth comes from order identity,
not share arithmetic: under price-time priority our order is reached by the first execution at
our price of an order that joined *after* us (or by an execution at a worse price on our
side). One aggressor's sweep shares a timestamp and the file does not always list its
executions in queue order (at 34945.882756873 s an order behind ours is reported executed
before the last one ahead of it), so the truth and the comparison are per sweep. `FifoQueue`
(share arithmetic over the orders ahead, holding a sweep's executions behind us until the
queue ahead empties in it) must reach it in exactly that sweep, and only once the executions
at our price exceed what was still ahead; the
`ProbabilisticQueue` (L2: no order identity) must fill a fraction within a stated band of the
FIFO truth. A virtual order is censored once its price stops being the best on its side (a
level-1 file does not report events below the touch).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest

from calarb.backtest.models import FifoQueue, ProbabilisticQueue, QueueState
from calarb.data.lobster import (
    CANCEL,
    DELETE,
    EXECUTE_VISIBLE,
    SUBMIT,
    read_messages,
    read_orderbook,
)

FOLDER = "lobster-sample-2012-06-21"
STEM = "AMZN_2012-06-21_34200000_57600000"
EVERY = 1  # a virtual order behind every qualifying submit at the touch (4152, 194 reached)
# Stated band for the L2 model: its fill count over the FIFO truth's (measured 190/194 on this
# sample).
PROBABILISTIC_BAND = (0.85, 1.35)


@dataclass
class Virtual:
    side: int
    price: int
    joined: int  # message index
    ahead_ids: set[int]
    fifo: QueueState
    l2: QueueState
    executed_at_price: int = 0
    ahead_at_join: int = 0
    cancelled_ahead: int = 0
    truth_fill: int | None = None
    fifo_fill: int | None = None
    l2_fill: int | None = None
    behind_traded: int | None = None
    through_worse: bool = False  # reached by an execution at a worse price, not at ours
    censored: bool = False
    notes: list = field(default_factory=list)


def replay(shared_data):
    folder = shared_data / FOLDER
    messages = read_messages(folder / f"{STEM}_message_1.csv")
    _, rows = read_orderbook(folder / f"{STEM}_orderbook_1.csv")
    assert len(messages) == len(rows) > 50_000
    orders: dict[int, list] = {}  # id -> [direction, price, size]
    queues: dict[tuple[int, int], list[int]] = {}  # (direction, price) -> ids by time
    fifo, l2 = FifoQueue(), ProbabilisticQueue(power=2)
    virtuals: list[Virtual] = []
    live: list[Virtual] = []
    submits = 0
    for k, (message, row) in enumerate(zip(messages, rows, strict=True)):
        key = (message.direction, message.price)
        known = orders.get(message.order_id)
        level_before = sum(orders[i][2] for i in queues.get(key, ()))
        if message.type in (CANCEL, DELETE, EXECUTE_VISIBLE) and known is not None:
            shares = min(message.size, known[2])
            traded = message.type == EXECUTE_VISIBLE
            for v in live:
                if (v.side, v.price) != key or v.truth_fill is not None:
                    continue
                ahead = message.order_id in v.ahead_ids
                if traded:
                    v.executed_at_price += shares
                    if not ahead and v.behind_traded is None:
                        v.behind_traded = k  # an order behind us traded: settled at batch end
                elif ahead:
                    v.cancelled_ahead += shares
                for model, state, attr in ((fifo, v.fifo, "fifo_fill"), (l2, v.l2, "l2_fill")):
                    reached = model.on_reduction(
                        state, message.order_id, shares, traded, level_before, message.time_ns
                    )
                    if reached > 0 and getattr(v, attr) is None:
                        setattr(v, attr, k)
            known[2] -= shares
            if known[2] <= 0 or message.type == DELETE:
                queues[key].remove(message.order_id)
                del orders[message.order_id]
        if message.type == EXECUTE_VISIBLE:
            for v in live:
                worse = (v.price - message.price) * v.side > 0
                if v.side == message.direction and worse and v.truth_fill is None:
                    v.truth_fill = k
                    v.through_worse = True
                    for attr in ("fifo_fill", "l2_fill"):
                        if getattr(v, attr) is None:
                            setattr(v, attr, k)
        if message.type == SUBMIT:
            orders[message.order_id] = [message.direction, message.price, message.size]
            queues.setdefault(key, []).append(message.order_id)
            best = (row.bids if message.direction == 1 else row.asks)[:1]
            queue = queues[key]
            level = sum(orders[i][2] for i in queue)
            if best == [(message.price, level)]:  # at the touch, and the queue fully known
                submits += 1
                if submits % EVERY == 0:
                    refs = [(i, orders[i][2]) for i in queue]
                    v = Virtual(message.direction, message.price, k, set(queue),
                                fifo.join(refs), l2.join(refs), ahead_at_join=level)  # fmt: skip
                    virtuals.append(v)
                    live.append(v)
        batch_ends = k + 1 == len(messages) or messages[k + 1].time_ns != message.time_ns
        for v in live:
            if batch_ends and v.behind_traded is not None and v.truth_fill is None:
                # one aggressor's sweep shares a timestamp and may be reported out of queue
                # order: we were reached if nothing that was ahead of us is left after it
                if not any(i in orders for i in v.ahead_ids):
                    v.truth_fill = v.behind_traded
                v.behind_traded = None
        for v in live:
            best = (row.bids if v.side == 1 else row.asks)[:1]
            if v.truth_fill is None and (not best or best[0][0] != v.price):
                v.censored = True
        live = [v for v in live if v.truth_fill is None and (not v.censored or v.behind_traded)]
    times = [m.time_ns for m in messages]
    return virtuals, times


@pytest.fixture(scope="module")
def replayed(shared_data):
    return replay(shared_data)


def test_fifo_queue_position_matches_the_books_executions(replayed):
    virtuals, times = replayed
    filled = [v for v in virtuals if v.truth_fill is not None]
    assert len(virtuals) > 200 and len(filled) > 50, (len(virtuals), len(filled))
    for v in virtuals:
        if v.censored:
            continue
        # compared per aggressor sweep (one timestamp): a sweep's reports may be out of order
        at = [None if i is None else times[i] for i in (v.fifo_fill, v.truth_fill)]
        assert at[0] == at[1], (v.joined, v.fifo_fill, v.truth_fill)
    for v in filled:
        if v.fifo_fill is not None and v.executed_at_price and not v.through_worse:
            # reached only once the executions at our price exceeded what was still ahead
            assert v.executed_at_price > v.ahead_at_join - v.cancelled_ahead - 1e-9 or (
                v.truth_fill != v.fifo_fill
            )


def test_probabilistic_queue_fill_rate_is_within_band_of_fifo(replayed):
    virtuals, _ = replayed
    scored = [v for v in virtuals if v.truth_fill is not None or not v.censored]
    truth = sum(v.truth_fill is not None for v in scored)
    l2 = sum(v.l2_fill is not None for v in scored)
    ratio = l2 / truth
    low, high = PROBABILISTIC_BAND
    assert low <= ratio <= high, (l2, truth, ratio)
    # it never fills before anything was executed at or through our price
    for v in scored:
        if v.l2_fill is not None:
            assert v.l2_fill > v.joined
