"""The venue's matching engine: one continuous limit order book per symbol.

Price-time priority; limit and market orders with DAY, IOC and FOK time in force; cancel and
cancel/replace (a price change or a size increase loses time priority and takes a new order
id, a size decrease keeps both); self-match prevention per participant; tick and lot checks.

The engine is sans-I/O and clock-free: every call takes the time it happens at, and its results
are appended to two lists the caller drains (`take_reports`, `take_book_events`): order
outcomes for the owners (FIX ExecutionReport / OrderCancelReject, one each) and book changes
for market data (one ITCH message each). See `calarb.core.order_events` for the outcomes and
`calarb.venue.orders` for the book changes.

Book layout, chosen for CPython speed: each side keeps a dict from a signed price key to a
price level and a sorted list of those keys with the best last (bids key = price, asks key =
-price), so the best level is `keys[-1]` and removing it is `keys.pop()`. A level is a FIFO
deque; a cancelled order is only marked dead (`leaves == 0`) and dropped when it reaches the
front, so cancels are O(1) apart from removing an emptied level.
"""

from __future__ import annotations

from bisect import bisect_left, insort
from collections import deque
from collections.abc import Iterable

from calarb.core.events import BookLevel, TopOfBook
from calarb.core.order_events import CancelReject, ExecutionReport, OrderEvent
from calarb.core.orders import CancelRejectResponseTo, ExecType, Liquidity
from calarb.core.types import Instrument, Side, format_price
from calarb.venue.orders import (
    BookEvent,
    CancelReason,
    Execution,
    Order,
    OrderAdded,
    OrderCancelled,
    OrderDeleted,
    OrderReplaced,
    OrderState,
    OrdStatus,
    OrdType,
    RejectReason,
    SelfMatchPolicy,
    TimeInForce,
    TradingStatus,
)

_BUY = Side.BUY
_SELL = Side.SELL
_MARKET = OrdType.MARKET
_LIMIT = OrdType.LIMIT
_DAY = TimeInForce.DAY
_IOC = TimeInForce.IOC
_FOK = TimeInForce.FOK
_NEW = ExecType.NEW
_TRADE = ExecType.TRADE
_CANCELED = ExecType.CANCELED
_REPLACED = ExecType.REPLACED
_REJECTED = ExecType.REJECTED
_ST_NEW = OrdStatus.NEW
_ST_PARTIAL = OrdStatus.PARTIALLY_FILLED
_ST_FILLED = OrdStatus.FILLED
_ST_CANCELED = OrdStatus.CANCELED
_ST_REJECTED = OrdStatus.REJECTED
_ADDED = Liquidity.ADDED
_REMOVED = Liquidity.REMOVED
_NO_FILL = Liquidity.UNKNOWN
_CANCEL_RESTING = SelfMatchPolicy.CANCEL_RESTING
_CANCEL_INCOMING = SelfMatchPolicy.CANCEL_INCOMING
_CANCEL_TEXT = {reason: reason.value for reason in CancelReason}  # Enum.value is slow to read
_NO_LIMIT = -(1 << 62)  # limit key of a market order: every level qualifies
_new_record = tuple.__new__  # builds a NamedTuple without its Python-level __new__ (hot path)


class _Level:
    __slots__ = ("price", "queue", "live")

    def __init__(self, price: int) -> None:
        self.price = price
        self.queue: deque[Order] = deque()
        self.live = 0  # orders in the queue with leaves > 0


class _BookSide:
    __slots__ = ("side", "sign", "levels", "keys")

    def __init__(self, side: Side) -> None:
        self.side = side
        self.sign = 1 if side is Side.BUY else -1
        self.levels: dict[int, _Level] = {}
        self.keys: list[int] = []  # sign * price, ascending: the best level is last

    def levels_best_first(self) -> Iterable[_Level]:
        levels = self.levels
        return (levels[key] for key in reversed(self.keys))


class _Book:
    __slots__ = ("instrument", "symbol", "halted", "bids", "asks")

    def __init__(self, instrument: Instrument) -> None:
        self.instrument = instrument
        self.symbol = instrument.symbol
        self.halted = False
        self.bids = _BookSide(Side.BUY)
        self.asks = _BookSide(Side.SELL)


def _live_status(order: Order) -> OrdStatus:
    return _ST_PARTIAL if order.cum_qty else _ST_NEW


class MatchingEngine:
    """Continuous limit order books for a set of instruments, one venue.

    Venue order ids (`order_id`, usable as ITCH order reference numbers) and match numbers
    start at 1 and increase across all symbols. Participants are identified by a string (the
    FIX SenderCompID, say); `client_order_id` (FIX ClOrdID) is carried through untouched.
    """

    def __init__(
        self,
        instruments: Iterable[Instrument] = (),
        *,
        self_match_policy: SelfMatchPolicy = SelfMatchPolicy.CANCEL_RESTING,
    ) -> None:
        self._books: dict[str, _Book] = {}
        self._orders: dict[int, Order] = {}
        self._next_order_id = 1
        self._next_match_number = 1
        self._default_self_match_policy = self_match_policy
        self._self_match_policies: dict[str, SelfMatchPolicy] = {}
        self.reports: list[OrderEvent] = []
        self.book_events: list[BookEvent] = []
        for instrument in instruments:
            self.add_instrument(instrument)

    # --- set-up ------------------------------------------------------------------------------

    def add_instrument(self, instrument: Instrument) -> None:
        if instrument.symbol in self._books:
            raise ValueError(f"instrument {instrument.symbol!r} is already listed")
        if instrument.tick_size <= 0 or instrument.lot_size <= 0:
            raise ValueError(f"instrument {instrument.symbol!r}: tick and lot must be positive")
        self._books[instrument.symbol] = _Book(instrument)

    @property
    def instruments(self) -> dict[str, Instrument]:
        return {symbol: book.instrument for symbol, book in self._books.items()}

    def set_self_match_policy(self, participant: str, policy: SelfMatchPolicy) -> None:
        """Override the engine's default self-match policy for one participant."""
        self._self_match_policies[participant] = policy

    def self_match_policy(self, participant: str) -> SelfMatchPolicy:
        return self._self_match_policies.get(participant, self._default_self_match_policy)

    # --- draining ----------------------------------------------------------------------------

    def take_reports(self) -> list[OrderEvent]:
        """Order outcomes since the last call, oldest first."""
        reports, self.reports = self.reports, []
        return reports

    def take_book_events(self) -> list[BookEvent]:
        """Book changes since the last call, oldest first."""
        events, self.book_events = self.book_events, []
        return events

    # --- trading status ----------------------------------------------------------------------

    def halt(self, timestamp_ns: int, symbol: str, reason: str = "") -> None:
        """Stop trading `symbol`: new orders and replaces are rejected, cancels still work."""
        self._set_halted(timestamp_ns, symbol, True, reason)

    def resume(self, timestamp_ns: int, symbol: str, reason: str = "") -> None:
        self._set_halted(timestamp_ns, symbol, False, reason)

    def is_halted(self, symbol: str) -> bool:
        return self._book(symbol).halted

    def _set_halted(self, timestamp_ns: int, symbol: str, halted: bool, reason: str) -> None:
        book = self._book(symbol)
        if book.halted != halted:
            book.halted = halted
            self.book_events.append(TradingStatus(timestamp_ns, symbol, halted, reason))

    def _book(self, symbol: str) -> _Book:
        book = self._books.get(symbol)
        if book is None:
            raise KeyError(f"symbol {symbol!r} is not listed on this engine")
        return book

    # --- requests ----------------------------------------------------------------------------

    def submit(
        self,
        timestamp_ns: int,
        participant: str,
        client_order_id: str,
        symbol: str,
        side: Side,
        quantity: int,
        price: int = 0,
        order_type: OrdType = _LIMIT,
        time_in_force: TimeInForce = _DAY,
        displayed: bool = True,
    ) -> int:
        """Enter a new order. Returns its venue order id, or 0 if it was rejected.

        A market order's `price` is ignored (reported as 0); a market order never rests, its
        unfilled remainder is cancelled whatever its time in force. `displayed=False` makes a
        non-displayed (hidden) order: same price-time priority, but its book changes are not
        published and its executions are reported as non-displayed (ITCH P).
        Reports: NEW, then one TRADE per fill, then CANCELED if a remainder cannot rest.
        """
        book = self._books.get(symbol)
        if book is None:
            return self._reject_new(
                timestamp_ns, participant, client_order_id, symbol, side, order_type,
                time_in_force, price, quantity, RejectReason.UNKNOWN_SYMBOL,
                f"symbol {symbol!r} is not traded on this venue",
            )  # fmt: skip
        instrument = book.instrument
        reason = None
        if book.halted:
            reason, text = RejectReason.HALTED, f"{symbol} is halted"
        elif (
            (side is not _BUY and side is not _SELL)
            or (order_type is not _LIMIT and order_type is not _MARKET)
            or (
                time_in_force is not _DAY
                and time_in_force is not _IOC
                and time_in_force is not _FOK
            )
        ):
            reason = RejectReason.BAD_ORDER
            text = (
                f"unsupported side {side!r}, order type {order_type!r} or time in force "
                f"{time_in_force!r} (use Side, OrdType and TimeInForce members)"
            )
        elif type(quantity) is not int or quantity <= 0 or quantity % instrument.lot_size:
            reason = RejectReason.BAD_QUANTITY
            text = f"{symbol}: quantity {quantity} is not a positive multiple of lot {instrument.lot_size}"
        elif order_type is _MARKET:
            price = 0
        elif type(price) is not int or price <= 0 or price % instrument.tick_size:
            reason = RejectReason.BAD_PRICE
            text = (
                f"{symbol}: price {price} is not a positive multiple of tick "
                f"{format_price(instrument.tick_size)} (prices are integers in 1/10,000)"
            )
        if reason is not None:
            return self._reject_new(
                timestamp_ns, participant, client_order_id, symbol, side, order_type,
                time_in_force, price, quantity, reason, text,
            )  # fmt: skip
        order_id = self._next_order_id
        self._next_order_id = order_id + 1
        order = Order(
            order_id, participant, client_order_id, symbol, side, order_type, time_in_force,
            price, quantity, quantity, 0, 0, displayed,
        )  # fmt: skip
        self.reports.append(
            _new_record(
                ExecutionReport,
                (
                    "", client_order_id, order.order_id_text, "", _NEW, _ST_NEW, symbol, side,
                    quantity, price, 0, quantity, 0, 0, 0, None, _NO_FILL, timestamp_ns, "",
                    participant, order_type, time_in_force, 0, 0, None,
                ),
            )
        )  # fmt: skip
        if order_type is _LIMIT and time_in_force is _DAY:
            opposite = book.asks if side is _BUY else book.bids
            keys = opposite.keys
            if not keys or keys[-1] < opposite.sign * price:  # does not cross: rest at once
                self._rest(book, order)
                if displayed:
                    self.book_events.append(
                        _new_record(
                            OrderAdded,
                            (timestamp_ns, symbol, order_id, side, quantity, price, participant),
                        )
                    )
                return order_id
        self._execute(book, order, timestamp_ns)
        return order_id

    def cancel(
        self, timestamp_ns: int, participant: str, order_id: int, client_order_id: str = ""
    ) -> bool:
        """Cancel a live order of `participant`. Allowed while halted. Returns False (and
        reports a CancelReject) if the order is not live or belongs to someone else."""
        order = self._orders.get(order_id)
        if order is None or order.participant != participant:
            self._reject_cancel(
                timestamp_ns, participant, client_order_id, order_id,
                CancelRejectResponseTo.CANCEL, RejectReason.UNKNOWN_ORDER,
                f"order {order_id} is not live for participant {participant!r}",
            )  # fmt: skip
            return False
        self._remove_resting(self._books[order.symbol], order)
        orig_client_order_id = ""
        if client_order_id:
            orig_client_order_id = order.client_order_id
            order.client_order_id = client_order_id
        self._announce_cancel(order, timestamp_ns, CancelReason.REQUESTED, orig_client_order_id)
        return True

    def replace(
        self,
        timestamp_ns: int,
        participant: str,
        order_id: int,
        client_order_id: str,
        quantity: int,
        price: int,
    ) -> int:
        """Cancel/replace a live limit order: new total quantity (FIX OrderQty, including what
        is already filled) and new price. Returns the order's venue id afterwards (unchanged
        when priority is kept, a new one when lost), or 0 if the request was rejected.

        Same price and quantity not above the current one: the order keeps its id and place
        (ITCH X for the reduction). Otherwise it takes a new id at the back of the queue (ITCH
        U), or, if the new price is marketable, it is deleted from the book (ITCH D), matched
        as an incoming order and its remainder rests as a new order (ITCH A).
        """
        order = self._orders.get(order_id)
        response_to = CancelRejectResponseTo.REPLACE
        if order is None or order.participant != participant:
            self._reject_cancel(
                timestamp_ns, participant, client_order_id, order_id, response_to,
                RejectReason.UNKNOWN_ORDER,
                f"order {order_id} is not live for participant {participant!r}",
            )  # fmt: skip
            return 0
        book = self._books[order.symbol]
        instrument = book.instrument
        symbol = book.symbol
        reason = None
        if book.halted:
            reason, text = RejectReason.HALTED, f"{symbol} is halted"
        elif type(quantity) is not int or quantity <= 0 or quantity % instrument.lot_size:
            reason = RejectReason.BAD_QUANTITY
            text = f"{symbol}: quantity {quantity} is not a positive multiple of lot {instrument.lot_size}"
        elif type(price) is not int or price <= 0 or price % instrument.tick_size:
            reason = RejectReason.BAD_PRICE
            text = (
                f"{symbol}: price {price} is not a positive multiple of tick "
                f"{format_price(instrument.tick_size)}"
            )
        elif quantity <= order.cum_qty:
            reason = RejectReason.TOO_LATE
            text = f"order {order_id}: quantity {quantity} is not above the {order.cum_qty} filled"
        if reason is not None:
            self._reject_cancel(
                timestamp_ns, participant, client_order_id, order_id, response_to, reason, text,
                order_status=_live_status(order),
            )  # fmt: skip
            return 0

        new_leaves = quantity - order.cum_qty
        orig_client_order_id = order.client_order_id
        if price == order.price and new_leaves <= order.leaves:
            reduced = order.leaves - new_leaves
            order.leaves = new_leaves
            order.quantity = quantity
            order.client_order_id = client_order_id
            if reduced and order.displayed:
                self.book_events.append(OrderCancelled(timestamp_ns, symbol, order_id, reduced))
            self._report_replaced(order, timestamp_ns, orig_client_order_id)
            return order_id

        self._remove_resting(book, order)
        new_id = self._next_order_id
        self._next_order_id = new_id + 1
        moved = Order(
            new_id, participant, client_order_id, symbol, order.side, _LIMIT, _DAY, price,
            quantity, new_leaves, order.cum_qty, order.cum_notional, order.displayed,
        )  # fmt: skip
        opposite = book.asks if moved.side is _BUY else book.bids
        if opposite.keys and opposite.keys[-1] >= opposite.sign * price:
            if moved.displayed:
                self.book_events.append(OrderDeleted(timestamp_ns, symbol, order_id))
            self._report_replaced(moved, timestamp_ns, orig_client_order_id)
            self._execute(book, moved, timestamp_ns)
        else:
            self._rest(book, moved)
            if moved.displayed:
                self.book_events.append(
                    OrderReplaced(timestamp_ns, symbol, order_id, new_id, new_leaves, price)
                )
            self._report_replaced(moved, timestamp_ns, orig_client_order_id)
        return new_id

    # --- queries -----------------------------------------------------------------------------

    def order(self, order_id: int) -> OrderState | None:
        """A snapshot of a live (resting) order, None if it is not on a book."""
        order = self._orders.get(order_id)
        return None if order is None else order.state()

    def live_quantity(self, order_id: int) -> int:
        """Shares still open on a resting order; 0 if it is filled, cancelled or unknown."""
        order = self._orders.get(order_id)
        return 0 if order is None else order.leaves

    @property
    def open_order_count(self) -> int:
        return len(self._orders)

    @property
    def match_count(self) -> int:
        """Matches (trades) so far; the last match number handed out."""
        return self._next_match_number - 1

    def best_bid(self, symbol: str) -> int | None:
        """Best bid price including non-displayed orders; None if no bid."""
        keys = self._book(symbol).bids.keys
        return keys[-1] if keys else None

    def best_ask(self, symbol: str) -> int | None:
        keys = self._book(symbol).asks.keys
        return -keys[-1] if keys else None

    def depth(
        self, symbol: str, side: Side, max_levels: int | None = None, displayed_only: bool = True
    ) -> list[BookLevel]:
        """Aggregated price levels of one side, best first."""
        book = self._book(symbol)
        book_side = book.bids if side == _BUY else book.asks
        result: list[BookLevel] = []
        for level in book_side.levels_best_first():
            if max_levels is not None and len(result) >= max_levels:
                break
            shares = orders = 0
            for order in level.queue:
                if order.leaves and (order.displayed or not displayed_only):
                    shares += order.leaves
                    orders += 1
            if orders:
                result.append(BookLevel(level.price, shares, orders))
        return result

    def top_of_book(self, symbol: str, timestamp_ns: int = 0) -> TopOfBook:
        """Best displayed bid and offer (a missing side has price 0 and shares 0)."""
        bids = self.depth(symbol, _BUY, 1)
        asks = self.depth(symbol, Side.SELL, 1)
        bid = bids[0] if bids else BookLevel(0, 0, 0)
        ask = asks[0] if asks else BookLevel(0, 0, 0)
        return TopOfBook(symbol, timestamp_ns, bid.price, bid.shares, ask.price, ask.shares)

    def resting_orders(self, symbol: str, side: Side) -> list[OrderState]:
        """Live orders of one side in priority order (best price first, then time)."""
        book = self._book(symbol)
        book_side = book.bids if side == _BUY else book.asks
        return [
            order.state()
            for level in book_side.levels_best_first()
            for order in level.queue
            if order.leaves
        ]

    # --- internals ---------------------------------------------------------------------------

    def _execute(self, book: _Book, order: Order, timestamp_ns: int) -> None:
        """Match an accepted order, then rest its remainder or cancel it."""
        opposite = book.asks if order.side is _BUY else book.bids
        limit_key = _NO_LIMIT if order.order_type is _MARKET else opposite.sign * order.price
        keys = opposite.keys
        stopped = False
        if keys and keys[-1] >= limit_key:
            if order.time_in_force is _FOK and not self._fillable(opposite, order, limit_key):
                self._cancel_incoming(order, timestamp_ns, CancelReason.FILL_OR_KILL)
                return
            stopped = self._match(book, opposite, order, limit_key, timestamp_ns)
        if not order.leaves:
            return
        if stopped:
            reason = CancelReason.SELF_MATCH
        elif order.order_type is _MARKET:
            reason = CancelReason.NO_LIQUIDITY
        elif order.time_in_force is _DAY:
            self._rest(book, order)
            if order.displayed:
                self.book_events.append(
                    _new_record(
                        OrderAdded,
                        (
                            timestamp_ns, book.symbol, order.order_id, order.side, order.leaves,
                            order.price, order.participant,
                        ),
                    )
                )  # fmt: skip
            return
        elif order.time_in_force is _IOC:
            reason = CancelReason.IMMEDIATE_OR_CANCEL
        else:
            reason = CancelReason.FILL_OR_KILL
        self._cancel_incoming(order, timestamp_ns, reason)

    def _fillable(self, opposite: _BookSide, order: Order, limit_key: int) -> bool:
        """Whether `order` would fill in full now, given its self-match policy (FOK check)."""
        needed = order.leaves
        participant = order.participant
        skip_own = self.self_match_policy(participant) is _CANCEL_RESTING
        levels = opposite.levels
        for key in reversed(opposite.keys):
            if key < limit_key:
                return False
            for resting in levels[key].queue:
                if not resting.leaves:
                    continue
                if resting.participant == participant:
                    if skip_own:
                        continue
                    return False
                needed -= resting.leaves
                if needed <= 0:
                    return True
        return False

    def _match(
        self, book: _Book, opposite: _BookSide, incoming: Order, limit_key: int, timestamp_ns: int
    ) -> bool:
        """Fill `incoming` against `opposite` in price-time order. Returns True if self-match
        prevention stopped it."""
        keys = opposite.keys
        levels = opposite.levels
        orders = self._orders
        append_report = self.reports.append
        append_event = self.book_events.append
        symbol = book.symbol
        participant = incoming.participant
        aggressor_side = incoming.side
        aggressor_id = incoming.order_id
        aggressor_text_id = incoming.order_id_text
        remaining = incoming.leaves
        match_number = self._next_match_number
        stopped = False
        while keys:
            key = keys[-1]
            if key < limit_key:
                break
            level = levels[key]
            queue = level.queue
            price = level.price
            while queue:
                resting = queue[0]
                available = resting.leaves
                if not available:
                    queue.popleft()
                    continue
                if resting.participant == participant:
                    policy = self.self_match_policy(participant)
                    if policy is not _CANCEL_INCOMING:
                        queue.popleft()
                        level.live -= 1
                        del orders[resting.order_id]
                        resting.leaves = 0
                        self._announce_cancel(resting, timestamp_ns, CancelReason.SELF_MATCH, "")
                    if policy is not _CANCEL_RESTING:
                        stopped = True
                        break
                    continue
                fill = available if available < remaining else remaining
                left = available - fill
                resting.leaves = left
                resting.cum_qty = cum_qty = resting.cum_qty + fill
                resting.cum_notional = cum_notional = resting.cum_notional + fill * price
                remaining -= fill
                incoming.cum_qty = in_cum_qty = incoming.cum_qty + fill
                incoming.cum_notional = in_cum_notional = incoming.cum_notional + fill * price
                append_report(
                    _new_record(
                        ExecutionReport,
                        (
                            "", resting.client_order_id, resting.order_id_text, "", _TRADE,
                            _ST_PARTIAL if left else _ST_FILLED, symbol, resting.side,
                            resting.quantity, price, cum_qty, left,
                            (cum_notional + cum_qty // 2) // cum_qty, fill, price, None, _ADDED,
                            timestamp_ns, "", resting.participant, resting.order_type,
                            resting.time_in_force, cum_notional, match_number, None,
                        ),
                    )
                )  # fmt: skip
                append_report(
                    _new_record(
                        ExecutionReport,
                        (
                            "", incoming.client_order_id, aggressor_text_id, "", _TRADE,
                            _ST_PARTIAL if remaining else _ST_FILLED, symbol, aggressor_side,
                            incoming.quantity, incoming.price, in_cum_qty, remaining,
                            (in_cum_notional + in_cum_qty // 2) // in_cum_qty, fill, price,
                            None, _REMOVED, timestamp_ns, "", participant, incoming.order_type,
                            incoming.time_in_force, in_cum_notional, match_number, None,
                        ),
                    )
                )  # fmt: skip
                append_event(
                    _new_record(
                        Execution,
                        (
                            timestamp_ns, symbol, match_number, price, fill, aggressor_side,
                            resting.order_id, aggressor_id, resting.participant, participant,
                            resting.displayed,
                        ),
                    )
                )  # fmt: skip
                match_number += 1
                if not left:
                    queue.popleft()
                    level.live -= 1
                    del orders[resting.order_id]
                if not remaining:
                    break
            if not level.live and levels.get(key) is level:
                keys.pop()
                del levels[key]
            if stopped or not remaining:
                break
        self._next_match_number = match_number
        incoming.leaves = remaining
        return stopped

    def _rest(self, book: _Book, order: Order) -> None:
        book_side = book.bids if order.side is _BUY else book.asks
        key = book_side.sign * order.price
        level = book_side.levels.get(key)
        if level is None:
            level = book_side.levels[key] = _Level(order.price)
            keys = book_side.keys
            if not keys or key > keys[-1]:
                keys.append(key)
            else:
                insort(keys, key)
        level.queue.append(order)
        level.live += 1
        self._orders[order.order_id] = order

    def _remove_resting(self, book: _Book, order: Order) -> None:
        """Take a live order off its level (marked dead; dropped from the deque lazily)."""
        book_side = book.bids if order.side is _BUY else book.asks
        key = book_side.sign * order.price
        level = book_side.levels[key]
        order.leaves = 0
        level.live -= 1
        del self._orders[order.order_id]
        if not level.live:
            del book_side.levels[key]
            keys = book_side.keys
            if keys[-1] == key:
                keys.pop()
            else:
                del keys[bisect_left(keys, key)]
        elif len(level.queue) > 2 * level.live + 16:
            level.queue = deque(o for o in level.queue if o.leaves)

    def _announce_cancel(
        self, order: Order, timestamp_ns: int, reason: CancelReason, orig_client_order_id: str
    ) -> None:
        """Book event and report for a resting order that has just been taken off its book."""
        if order.displayed:
            self.book_events.append(
                _new_record(OrderDeleted, (timestamp_ns, order.symbol, order.order_id))
            )
        self._report_cancelled(order, timestamp_ns, reason, orig_client_order_id)

    def _cancel_incoming(self, order: Order, timestamp_ns: int, reason: CancelReason) -> None:
        order.leaves = 0
        self._report_cancelled(order, timestamp_ns, reason, "")

    def _report_cancelled(
        self, order: Order, timestamp_ns: int, reason: CancelReason, orig_client_order_id: str
    ) -> None:
        cum_qty = order.cum_qty
        cum_notional = order.cum_notional
        self.reports.append(
            _new_record(
                ExecutionReport,
                (
                    "", order.client_order_id, order.order_id_text, "", _CANCELED,
                    _ST_CANCELED, order.symbol, order.side, order.quantity, order.price,
                    cum_qty, 0, (cum_notional + cum_qty // 2) // cum_qty if cum_qty else 0, 0, 0,
                    orig_client_order_id or None, _NO_FILL, timestamp_ns, _CANCEL_TEXT[reason],
                    order.participant, order.order_type, order.time_in_force,
                    cum_notional, 0, reason,
                ),
            )
        )  # fmt: skip

    def _report_replaced(self, order: Order, timestamp_ns: int, orig_client_order_id: str) -> None:
        cum_qty = order.cum_qty
        cum_notional = order.cum_notional
        self.reports.append(
            _new_record(
                ExecutionReport,
                (
                    "", order.client_order_id, order.order_id_text, "", _REPLACED,
                    _live_status(order), order.symbol, order.side, order.quantity, order.price,
                    cum_qty, order.leaves, (cum_notional + cum_qty // 2) // cum_qty if cum_qty else 0,
                    0, 0, orig_client_order_id or None, _NO_FILL, timestamp_ns, "",
                    order.participant, order.order_type, order.time_in_force,
                    cum_notional, 0, None,
                ),
            )
        )  # fmt: skip

    def _reject_new(
        self,
        timestamp_ns: int,
        participant: str,
        client_order_id: str,
        symbol: str,
        side: Side,
        order_type: OrdType,
        time_in_force: TimeInForce,
        price: int,
        quantity: int,
        reason: RejectReason,
        text: str,
    ) -> int:
        self.reports.append(
            ExecutionReport(
                "", client_order_id, "", "", _REJECTED, _ST_REJECTED, symbol, side, quantity,
                price, 0, 0, 0, 0, 0, None, _NO_FILL, timestamp_ns, text, participant,
                order_type, time_in_force, 0, 0, reason,
            )
        )  # fmt: skip
        return 0

    def _reject_cancel(
        self,
        timestamp_ns: int,
        participant: str,
        client_order_id: str,
        order_id: int,
        response_to: CancelRejectResponseTo,
        reason: RejectReason,
        text: str,
        order_status: OrdStatus = _ST_REJECTED,
    ) -> None:
        orig_client_order_id = ""
        order = self._orders.get(order_id)
        if order is not None and order.participant == participant:
            orig_client_order_id = order.client_order_id
        self.reports.append(
            CancelReject(
                "",
                client_order_id,
                orig_client_order_id,
                str(order_id) if order_id else "",
                order_status,
                response_to is CancelRejectResponseTo.REPLACE,
                text,
                participant,
                timestamp_ns,
                reason,
            )
        )
