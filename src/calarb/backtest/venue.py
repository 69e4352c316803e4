"""The replay venue: a recorded ITCH order book plus calarb's own orders, behind latencies.

`ReplayVenue` is an `OrderGateway` (the engine cannot tell it from a live venue) that keeps the
venue's full L3 books from replayed ITCH messages (`ItchBookFeed`, every symbol) and lets
calarb's orders interact with them. Assumptions, each one a choice a user can check:

* **Taking liquidity.** An order that arrives marketable walks the opposite side best price
  first and, within a level, in the replayed queue's order; it fills at the resting orders'
  prices (taker). The shares it took are **consumed**: they stay out of the book calarb sees and
  cannot be taken again, while the replay goes on as recorded (the other participants do not
  react to us). A later replayed reduction of a consumed order first shrinks its remaining
  visible part; a delete or replace drops the consumption with the order.
* **Resting.** The remainder of a DAY limit order rests at its price with a queue position from
  the `QueueModel` (FIFO from L3 by default). It is filled (maker) by a replayed execution on
  its side at its price for the shares that went past the queue ahead of it (one aggressor's
  sweep, its executions at one ITCH timestamp, counts as a unit: a report of an order behind
  ours before the last one ahead reaches us when the queue ahead empties in the same sweep),
  or at a price it improves on (the aggressor would have met us first), for at most the
  replayed executed shares; and by a replayed add on the other side that crosses it (up to
  the add's shares, which are then consumed). IOC remainders are cancelled.
* **What calarb sees.** Top-of-book changes of the replayed book, with consumed shares removed
  and calarb's own resting orders added (a venue's feed shows them), reach the engine after the
  feed latency. Orders reach the venue after the order latency, reports come back after it;
  each crossing draws its own latency from the venue's models.

Under the fast replay (`attach_kernel`) the compiled books take every message of a locate
the venue does not watch, and a symbol's Python book is rebuilt from them when an order of
ours arrives; the rules above do not change.
"""

from __future__ import annotations

import itertools
import struct
from collections.abc import Callable
from typing import Any

from calarb.backtest.models import ConstantLatency, FifoQueue, LatencyModel, QueueModel, QueueState
from calarb.book.feed import ItchBookFeed
from calarb.book.order_book import OrderBook
from calarb.core.events import TopOfBook
from calarb.core.order_events import (
    CancelReject,
    CancelRequest,
    ExecutionReport,
    ReplaceRequest,
    VenueOrder,
)
from calarb.core.orders import ExecType, Liquidity, OrdStatus, OrdType, TimeInForce
from calarb.core.scheduler import EventScheduler
from calarb.core.types import Side
from calarb.itch.codec import decode
from calarb.trading.gateway import ExecutionSink

TopSink = Callable[[str, TopOfBook], object]

_REF = struct.Struct(">Q")
_U32 = struct.Struct(">I")
_A, _F, _E, _C, _X, _D, _U, _R = (ord(c) for c in "AFECXDUR")
_BUY = Side.BUY
_SELL = Side.SELL


class OwnOrder:
    """One of calarb's orders resting at the replay venue."""

    __slots__ = ("order", "order_id", "leaves", "cum_qty", "cum_notional", "queue", "arrived_ns")

    def __init__(self, order: VenueOrder, order_id: int, arrived_ns: int) -> None:
        self.order = order
        self.order_id = order_id
        self.leaves = order.quantity
        self.cum_qty = 0
        self.cum_notional = 0
        self.queue: QueueState | None = None
        self.arrived_ns = arrived_ns


def _improves(side: Side, ours: int, theirs: int) -> bool:
    """Our price is at least as good for the aggressor as `theirs` on the same side."""
    return ours >= theirs if side is _BUY else ours <= theirs


class ReplayVenue:
    """An in-process venue over replayed ITCH data (see the module docstring)."""

    def __init__(
        self,
        name: str,
        scheduler: EventScheduler,
        *,
        order_latency: LatencyModel | None = None,
        feed_latency: LatencyModel | None = None,
        queue_model: QueueModel | None = None,
        symbols: set[str] | frozenset[str] | None = None,
    ) -> None:
        self.name = name
        self.scheduler = scheduler
        self.order_latency = order_latency or ConstantLatency(50_000)
        self.feed_latency = feed_latency or ConstantLatency(20_000)
        self.queue_model = queue_model or FifoQueue()
        self.subscribed = frozenset(symbols) if symbols is not None else None
        self.feed = ItchBookFeed(symbols=None)  # full L3 books of every symbol
        self.execution_sink: ExecutionSink | None = None
        self.top_sink: TopSink | None = None
        self.symbol_by_locate: dict[int, str] = {}
        self.locate_by_symbol: dict[str, int] = {}
        self.resting: dict[str, list[OwnOrder]] = {}  # symbol -> resting own orders, by time
        self.by_cl_ord_id: dict[str, OwnOrder] = {}
        self.consumed: dict[int, int] = {}  # replayed ref -> shares we took
        self.consumed_at: dict[tuple[str, int, int], int] = {}  # (symbol, side, price) -> shares
        self._consumed_refs: dict[str, set[int]] = {}
        self._watched: set[int] = set()  # locates with own orders or consumption
        self._kernel: Any = None  # the compiled books (fast replay), see attach_kernel
        self._kernel_venue = 0
        self._watched_flags: Any = None  # kernel's watched flags of this venue's locates
        self._published: Any = None  # kernel's last published top of this venue's locates
        self._feed_free: Any = None  # kernel's feed link of this venue (last arrival time)
        self._directory: dict[str, bytes] = {}  # symbol -> its stock directory message
        self._known: Any = None  # kernel's "stock directory seen" flags of this venue
        self._last_top: dict[str, tuple[int, int, int, int]] = {}
        self._order_ids = itertools.count(1)
        self._exec_ids = itertools.count(1)
        self._link_free = [0, 0, 0]  # last arrival time: to venue, from venue, feed
        self.messages = 0
        self.orders_received = 0
        self.fills_taken = 0
        self.fills_made = 0
        self.shares_consumed = 0

    def _arrival(self, link: int, model: LatencyModel, now_ns: int) -> int:
        """When a message sent now arrives: a latency draw, but never before the previous
        message on the same link (links are FIFO, as TCP and the feed's sequence are)."""
        at = now_ns + model.sample()
        free = self._link_free
        if at < free[link]:
            at = free[link]
        free[link] = at
        return at

    def connect(self, execution_sink: ExecutionSink, top_sink: TopSink) -> None:
        self.execution_sink = execution_sink
        self.top_sink = top_sink

    def attach_kernel(self, kernel, venue: int, directory: dict[int, bytes]) -> None:
        """Fast replay (`calarb.backtest.replay_kernel`): the kernel keeps this venue's books
        and applies every message of an unwatched locate; the Python book of a symbol is
        rebuilt from the kernel's orders when an order of ours arrives for it, and takes the
        messages of its locate while it is watched. `directory`: locate -> its stock
        directory (R) message."""
        from calarb.backtest.replay_kernel import LOCATES

        self._kernel = kernel
        self._kernel_venue = venue
        span = slice(venue * LOCATES, (venue + 1) * LOCATES)
        self._watched_flags = kernel.watched[span]
        self._published = kernel.last_pub[span]
        self._feed_free = kernel.feed_free[venue : venue + 1]
        self._known = kernel.known[span]
        for locate, payload in directory.items():
            symbol = decode(payload).stock
            self.symbol_by_locate[locate] = symbol
            self.locate_by_symbol[symbol] = locate
            self._directory[symbol] = payload

    def _watch(self, locate: int) -> None:
        self._watched.add(locate)
        if self._watched_flags is not None:
            self._watched_flags[locate] = 1

    def _unwatch(self, locate: int) -> None:
        self._watched.discard(locate)
        if self._watched_flags is not None:
            self._watched_flags[locate] = 0

    def _book_for(self, symbol: str) -> OrderBook | None:
        """The symbol's book as of now. Fast replay: a watched locate's Python book is live;
        otherwise it is rebuilt from the kernel's live orders (None before the symbol's stock
        directory message)."""
        if self._kernel is None:
            return self.feed.books.get(symbol)
        locate = self.locate_by_symbol.get(symbol)
        if locate is None or not self._known[locate]:
            return None
        if locate in self._watched:
            return self.feed.books[symbol]
        self.feed.books.pop(symbol, None)
        self.feed.on_message_bytes(self._directory[symbol])  # a new, empty book
        book = self.feed.books[symbol]
        for ref, side, price, shares in self._kernel.live_orders(self._kernel_venue, locate):
            book.add(ref, _BUY if side > 0 else _SELL, price, shares)
        return book

    # -- market data -----------------------------------------------------------------------

    def on_message(self, payload: bytes, timestamp_ns: int) -> None:
        """One replayed ITCH message (no length prefix) at `timestamp_ns` (the clock's now)."""
        self.messages += 1
        locate = (payload[1] << 8) | payload[2]
        if locate in self._watched:
            self._watched_message(payload, locate, timestamp_ns)
            return
        top = self.feed.on_message_bytes(payload)
        if top is not None:
            self._publish(top, timestamp_ns)
        elif payload[0] == _R:
            symbol = decode(payload).stock
            self.symbol_by_locate[locate] = symbol
            self.locate_by_symbol[symbol] = locate

    def _publish(self, top: TopOfBook, now_ns: int) -> None:
        symbol = top.symbol
        subscribed = self.subscribed
        if subscribed is not None and symbol not in subscribed:
            return
        if self._published is not None:  # the kernel's books publish too: one record
            self._published[self.locate_by_symbol[symbol]] = (*top[2:], 1)
        else:
            self._last_top[symbol] = top[2:]
        if self.top_sink is not None:
            self.scheduler.schedule(self._feed_arrival(now_ns), self.top_sink, self.name, top)

    def _feed_arrival(self, now_ns: int) -> int:
        """`_arrival` on the feed link, which the kernel's books share under fast replay."""
        free = self._feed_free
        if free is None:
            return self._arrival(2, self.feed_latency, now_ns)
        at = now_ns + self.feed_latency.sample()
        if at < free[0]:
            at = int(free[0])
        free[0] = at
        return at

    def _last_published(self, symbol: str) -> tuple[int, int, int, int] | None:
        if self._published is None:
            return self._last_top.get(symbol)
        *top, published = self._published[self.locate_by_symbol[symbol]].tolist()
        return tuple(top) if published else None

    def _watched_message(self, payload: bytes, locate: int, now_ns: int) -> None:
        symbol = self.symbol_by_locate[locate]
        book = self.feed.books[symbol]
        kind = payload[0]
        if not self.resting.get(symbol):
            self._consumed_only_message(payload, symbol, book, kind, now_ns)
            return
        reduced: tuple[int, int, int, int, bool] | None = None  # ref, side, price, shares, traded
        if kind in (_E, _C, _X, _D, _U):
            ref = _REF.unpack_from(payload, 11)[0]
            before = book.order(ref)
            if before is not None:
                if kind in (_E, _C):
                    shares, traded = _U32.unpack_from(payload, 19)[0], True
                elif kind == _X:
                    shares, traded = _U32.unpack_from(payload, 19)[0], False
                else:
                    shares, traded = before.shares, False
                side = int(before.side)
                level = book.level(before.side, before.price)
                level_before = (level.shares if level else 0) - self.consumed_at.get(
                    (symbol, side, before.price), 0
                )
                reduced = (ref, side, before.price, min(shares, before.shares), traded)
                at_ns = int.from_bytes(payload[5:11], "big")  # the exchange's, names the sweep
                reach = self._queue_reduction(symbol, reduced, level_before, at_ns)
        self.feed.on_message_bytes(payload)
        if reduced is not None:
            ref, side, price, shares, traded = reduced
            self._shrink_consumption(symbol, book, ref, side, price, kind in (_D, _U))
            if traded or reach:
                self._passive_fills(symbol, Side(side), price, shares, traded, reach, now_ns)
        if kind in (_A, _F, _U):
            new_ref = _REF.unpack_from(payload, 19 if kind == _U else 11)[0]
            added = book.order(new_ref)
            if added is not None:
                self._crossing_add(symbol, added.ref, added.side, added.price, added.shares, now_ns)
        self._refresh_top(symbol, book, now_ns)

    def _consumed_only_message(
        self, payload: bytes, symbol: str, book: OrderBook, kind: int, now_ns: int
    ) -> None:
        """`_watched_message` where none of our orders rests (we only consumed shares): no
        queue to move, nothing to fill; consumption shrinks with the replayed orders."""
        before = None
        if kind in (_E, _C, _X, _D, _U):
            ref = _REF.unpack_from(payload, 11)[0]
            if ref in self.consumed:
                before = book.order(ref)
        self.feed.on_message_bytes(payload)
        if before is not None:
            gone = kind in (_D, _U)
            self._shrink_consumption(symbol, book, ref, int(before.side), before.price, gone)
        self._refresh_top(symbol, book, now_ns)

    # -- queue and fills -------------------------------------------------------------------

    def _queue_reduction(self, symbol: str, reduced: tuple, level_before: int, at_ns: int):
        """Move our orders at the reduced level up their queues; returns, per order, how many
        executed shares of the sweep went past the queue ahead of it (what can fill it)."""
        ref, side, price, shares, traded = reduced
        reach: dict[OwnOrder, int] = {}
        for own in self.resting.get(symbol, ()):
            order = own.order
            state = own.queue
            if int(order.side) == side and order.price == price and state is not None:
                reached = self.queue_model.on_reduction(
                    state, ref, shares, traded, level_before, at_ns
                )
                if reached > 0:
                    reach[own] = reached
        return reach

    def _passive_fills(
        self, symbol, side: Side, price: int, shares: int, traded: bool, reach, now_ns: int
    ):
        """A replayed reduction of `shares` on resting `side` at `price`: ours first where the
        aggressor would have met us first (a better price, for an execution; or the same price,
        for the sweep's executed shares that went past the queue ahead, which can exceed this
        message's own when earlier reports of the sweep were of orders behind us)."""
        available = max(shares if traded else 0, *reach.values(), 0)
        for own in self._fill_candidates(symbol, side, price):
            if available <= 0:
                break
            if own.order.price == price:
                allowed = min(available, reach.get(own, 0))
            elif traded:
                allowed = available
            else:
                continue
            quantity = min(allowed, own.leaves)
            if quantity <= 0:
                continue
            available -= quantity
            self._fill(own, quantity, own.order.price, Liquidity.ADDED, now_ns)
            self.fills_made += 1

    def _fill_candidates(self, symbol: str, side: Side, price: int) -> list[OwnOrder]:
        candidates = [
            own
            for own in self.resting.get(symbol, ())
            if own.order.side is side and _improves(side, own.order.price, price)
        ]
        # price priority (best for the aggressor first), then time
        candidates.sort(key=lambda own: -own.order.price * int(side))
        return candidates

    def _crossing_add(self, symbol, ref: int, side: Side, price: int, shares: int, now_ns: int):
        """A replayed order arrives through one of ours resting on the other side: it trades
        with us first (we are the resting, maker side)."""
        ours = side.opposite
        available = shares
        for own in self._fill_candidates(symbol, ours, price):
            if available <= 0:
                break
            quantity = min(available, own.leaves)
            available -= quantity
            self._fill(own, quantity, own.order.price, Liquidity.ADDED, now_ns)
            self._consume(symbol, ref, int(side), price, quantity)
            self.fills_made += 1

    def _consume(self, symbol: str, ref: int, side: int, price: int, shares: int) -> None:
        self.consumed[ref] = self.consumed.get(ref, 0) + shares
        key = (symbol, side, price)
        self.consumed_at[key] = self.consumed_at.get(key, 0) + shares
        self._consumed_refs.setdefault(symbol, set()).add(ref)
        self.shares_consumed += shares
        self._watch(self.locate_by_symbol[symbol])

    def _shrink_consumption(self, symbol, book: OrderBook, ref, side, price, gone: bool) -> None:
        taken = self.consumed.get(ref)
        if taken is None:
            return
        after = book.order(ref)
        keep = 0 if gone or after is None else min(taken, after.shares)
        if keep == taken:
            return
        key = (symbol, side, price)
        self.consumed_at[key] -= taken - keep
        if not self.consumed_at[key]:
            del self.consumed_at[key]
        if keep:
            self.consumed[ref] = keep
        else:
            del self.consumed[ref]
            self._consumed_refs[symbol].discard(ref)

    # -- what calarb sees ------------------------------------------------------------------

    def _best(self, book: OrderBook, symbol: str, side: Side) -> tuple[int, int]:
        """The best price calarb sees on one side and its shares: the replayed book's best
        level with shares left after our consumption, merged with our resting orders."""
        consumed_at = self.consumed_at
        best = (0, 0)
        level = book.best_bid if side is _BUY else book.best_ask
        if level is not None:
            sign = int(side)
            visible = level.shares - consumed_at.get((symbol, sign, level.price), 0)
            if visible > 0:
                best = (level.price, visible)
            else:  # consumed: the next level with shares left (of 8, one is not consumed)
                for level in book.levels(side, 8 if len(consumed_at) < 8 else None)[1:]:
                    visible = level.shares - consumed_at.get((symbol, sign, level.price), 0)
                    if visible > 0:
                        best = (level.price, visible)
                        break
        resting = self.resting.get(symbol)
        if not resting:
            return best
        shares_at = {best[0]: best[1]} if best[1] else {}
        for own in resting:
            if own.order.side is side:
                price = own.order.price
                shares_at[price] = shares_at.get(price, 0) + own.leaves
        if not shares_at:
            return 0, 0
        price = max(shares_at) if side is _BUY else min(shares_at)
        return price, shares_at[price]

    def _refresh_top(self, symbol: str, book: OrderBook, now_ns: int) -> None:
        bid = self._best(book, symbol, _BUY)
        ask = self._best(book, symbol, _SELL)
        top = (*bid, *ask)
        if self._last_published(symbol) != top:
            self._publish(TopOfBook(symbol, now_ns, *top), now_ns)
        if not self.resting.get(symbol) and not self._consumed_refs.get(symbol):
            self._unwatch(self.locate_by_symbol[symbol])

    # -- OrderGateway (calarb -> venue) ----------------------------------------------------

    def send_new_order(self, order: VenueOrder, now_ns: int) -> None:
        self.scheduler.schedule(
            self._arrival(0, self.order_latency, now_ns), self._arrive_new, order
        )

    def send_cancel(self, request: CancelRequest, now_ns: int) -> None:
        self.scheduler.schedule(
            self._arrival(0, self.order_latency, now_ns), self._arrive_cancel, request
        )

    def send_replace(self, request: ReplaceRequest, now_ns: int) -> None:
        self.scheduler.schedule(
            self._arrival(0, self.order_latency, now_ns), self._arrive_replace, request
        )

    # -- at the venue ----------------------------------------------------------------------

    def _now(self) -> int:
        return self.scheduler.clock.monotonic_ns()

    def _arrive_new(self, order: VenueOrder) -> None:
        now = self._now()
        self.orders_received += 1
        book = self._book_for(order.symbol)
        own = OwnOrder(order, next(self._order_ids), now)
        if book is None or order.quantity <= 0:
            self._report(own, ExecType.REJECTED, OrdStatus.REJECTED, now, text="unknown symbol")
            return
        self.by_cl_ord_id[order.cl_ord_id] = own
        self._report(own, ExecType.NEW, OrdStatus.NEW, now)
        self._take(own, book, now)
        if (
            own.leaves
            and order.ord_type is OrdType.LIMIT
            and order.time_in_force is TimeInForce.DAY
        ):
            level = book.queue(order.side, order.price)
            consumed = self.consumed
            own.queue = self.queue_model.join(
                [(ref, book.order(ref).shares - consumed.get(ref, 0)) for ref in level]
            )
            self.resting.setdefault(order.symbol, []).append(own)
            self._watch(self.locate_by_symbol[order.symbol])
        elif own.leaves:
            self._close(own, ExecType.CANCELED, OrdStatus.CANCELED, now)
        self._refresh_top(order.symbol, book, now)

    def _take(self, own: OwnOrder, book: OrderBook, now_ns: int) -> None:
        order = own.order
        side = order.side
        other = side.opposite
        symbol = order.symbol
        market = order.ord_type is OrdType.MARKET
        consumed = self.consumed
        for level in book.levels(other):
            if own.leaves == 0:
                break
            if not market and not _improves(side, order.price, level.price):
                break
            for ref in book.queue(other, level.price):
                available = book.order(ref).shares - consumed.get(ref, 0)
                if available <= 0:
                    continue
                quantity = min(available, own.leaves)
                self._consume(symbol, ref, int(other), level.price, quantity)
                self._fill(own, quantity, level.price, Liquidity.REMOVED, now_ns)
                self.fills_taken += 1
                if own.leaves == 0:
                    break

    def _arrive_cancel(self, request: CancelRequest) -> None:
        now = self._now()
        own = self.by_cl_ord_id.get(request.orig_cl_ord_id)
        if own is None or own.leaves == 0 or own.queue is None:
            self._reject_cancel(request.cl_ord_id, request.orig_cl_ord_id, own, False, now)
            return
        self._unrest(own)
        self._close(own, ExecType.CANCELED, OrdStatus.CANCELED, now, request.cl_ord_id)
        self._refresh_top(own.order.symbol, self.feed.books[own.order.symbol], now)

    def _arrive_replace(self, request: ReplaceRequest) -> None:
        """Cancel/replace: a smaller quantity at the same price keeps the queue position;
        anything else loses it (cancel, then a new order with the new ClOrdID)."""
        now = self._now()
        own = self.by_cl_ord_id.get(request.orig_cl_ord_id)
        if own is None or own.leaves == 0 or own.queue is None or request.quantity <= own.cum_qty:
            self._reject_cancel(request.cl_ord_id, request.orig_cl_ord_id, own, True, now)
            return
        order = own.order
        keeps_place = request.price == order.price and request.quantity <= order.quantity
        own.order = order._replace(
            cl_ord_id=request.cl_ord_id, quantity=request.quantity, price=request.price
        )
        own.leaves = request.quantity - own.cum_qty
        self.by_cl_ord_id[request.cl_ord_id] = own
        book = self.feed.books[order.symbol]
        self._unrest(own)
        self._report(own, ExecType.REPLACED, OrdStatus.NEW, now, orig=request.orig_cl_ord_id)
        if not keeps_place:
            self._take(own, book, now)
            if own.leaves:
                level = book.queue(own.order.side, own.order.price)
                own.queue = self.queue_model.join(
                    [(r, book.order(r).shares - self.consumed.get(r, 0)) for r in level]
                )
        if own.leaves:
            self.resting.setdefault(order.symbol, []).append(own)
            self.resting[order.symbol].sort(key=lambda o: o.arrived_ns if keeps_place else 0)
            if not keeps_place:
                own.arrived_ns = now
        self._refresh_top(order.symbol, book, now)

    def _unrest(self, own: OwnOrder) -> None:
        resting = self.resting.get(own.order.symbol, [])
        if own in resting:
            resting.remove(own)

    def _reject_cancel(self, cl_ord_id, orig, own: OwnOrder | None, replace: bool, now: int):
        status = OrdStatus.FILLED if own is not None and own.leaves == 0 else OrdStatus.REJECTED
        reject = CancelReject(
            self.name, cl_ord_id, orig, str(own.order_id if own else ""), status, replace,
            "too late to cancel" if own is not None else "unknown order",
        )  # fmt: skip
        if self.execution_sink is not None:
            self.scheduler.schedule(
                self._arrival(1, self.order_latency, now),
                self.execution_sink.on_cancel_reject,
                reject,
            )

    # -- reports ---------------------------------------------------------------------------

    def _fill(self, own: OwnOrder, quantity: int, price: int, liquidity, now_ns: int) -> None:
        own.leaves -= quantity
        own.cum_qty += quantity
        own.cum_notional += quantity * price
        status = OrdStatus.FILLED if own.leaves == 0 else OrdStatus.PARTIALLY_FILLED
        self._report(own, ExecType.TRADE, status, now_ns, last=(quantity, price, liquidity))
        if own.leaves == 0 and own.queue is not None:
            self._unrest(own)

    def _close(self, own, exec_type, status, now_ns: int, cl_ord_id: str | None = None) -> None:
        own.leaves = 0
        orig = own.order.cl_ord_id if cl_ord_id else None
        self._report(own, exec_type, status, now_ns, orig=orig, cl_ord_id=cl_ord_id)

    def _report(
        self,
        own: OwnOrder,
        exec_type: ExecType,
        status: OrdStatus,
        now_ns: int,
        *,
        last: tuple[int, int, Liquidity] | None = None,
        orig: str | None = None,
        cl_ord_id: str | None = None,
        text: str = "",
    ) -> None:
        order = own.order
        last_qty, last_px, liquidity = last or (0, 0, Liquidity.UNKNOWN)
        cum = own.cum_qty
        report = ExecutionReport(
            self.name, cl_ord_id or order.cl_ord_id, str(own.order_id),
            f"{self.name}-{next(self._exec_ids)}", exec_type, status, order.symbol, order.side,
            order.quantity, order.price, cum, own.leaves,
            (own.cum_notional + cum // 2) // cum if cum else 0,
            last_qty, last_px, orig, liquidity, now_ns, text,
        )  # fmt: skip
        if self.execution_sink is not None:
            self.scheduler.schedule(
                self._arrival(1, self.order_latency, now_ns),
                self.execution_sink.on_execution_report,
                report,
            )

    def state(self) -> dict[str, Any]:
        return {
            "messages": self.messages,
            "orders_received": self.orders_received,
            "fills_taken": self.fills_taken,
            "fills_made": self.fills_made,
            "shares_consumed": self.shares_consumed,
            "resting": sum(len(v) for v in self.resting.values()),
        }
