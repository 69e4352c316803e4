"""The venue's matching engine: one continuous limit order book per symbol.

Price-time priority; limit and market orders with DAY, IOC and FOK time in force; cancel and
cancel/replace (a price change or a size increase loses time priority and takes a new order
id, a size decrease keeps both); self-match prevention per participant; tick and lot checks.

The engine is sans-I/O and clock-free: every call takes the time it happens at, and its results
are appended to two lists the caller drains (`take_reports`, `take_book_events`): order
outcomes for the owners (FIX ExecutionReport / OrderCancelReject, one each) and book changes
for market data (one ITCH message each). See `calarb.core.order_events` for the outcomes and
`calarb.venue.orders` for the book changes; `calarb.venue.records` builds both, and
`calarb.venue.price_levels` keeps the queues (its docstring describes the layout).

Compiled (matching.pxd), the engine is an extension type calling the levels and the record
builders directly; `CALARB_PURE=1` runs the same source interpreted.
"""

from __future__ import annotations

from collections.abc import Iterable

from calarb.core.events import BookLevel, TopOfBook
from calarb.core.order_events import OrderEvent
from calarb.core.orders import CancelRejectResponseTo, Liquidity
from calarb.core.types import Instrument, Side, format_price
from calarb.venue.orders import (
    BookEvent,
    CancelReason,
    Order,
    OrderCancelled,
    OrderReplaced,
    OrderState,
    OrdStatus,
    OrdType,
    RejectReason,
    SelfMatchPolicy,
    TimeInForce,
    TradingStatus,
    new_order,
)
from calarb.venue.price_levels import Book, BookSide, Level
from calarb.venue.records import (
    added_event,
    cancel_reject,
    cancelled_report,
    deleted_event,
    execution_event,
    fill_report,
    live_status,
    new_report,
    rejected_report,
    replaced_report,
)

_BUY = Side.BUY
_SELL = Side.SELL
_MARKET = OrdType.MARKET
_LIMIT = OrdType.LIMIT
_DAY = TimeInForce.DAY
_IOC = TimeInForce.IOC
_FOK = TimeInForce.FOK
_ST_REJECTED = OrdStatus.REJECTED
_ADDED = Liquidity.ADDED
_REMOVED = Liquidity.REMOVED
_CANCEL_RESTING = SelfMatchPolicy.CANCEL_RESTING
_CANCEL_INCOMING = SelfMatchPolicy.CANCEL_INCOMING
# Enum members read on the hot path: a module constant, not an attribute of the Enum class
# (whose metaclass makes each such read slow).
_REQUESTED = CancelReason.REQUESTED
_SELF_MATCH = CancelReason.SELF_MATCH
_NO_LIQUIDITY = CancelReason.NO_LIQUIDITY
_IMMEDIATE_OR_CANCEL = CancelReason.IMMEDIATE_OR_CANCEL
_FILL_OR_KILL = CancelReason.FILL_OR_KILL
_RESPONSE_TO_REPLACE = CancelRejectResponseTo.REPLACE
_NO_LIMIT = -(1 << 62)  # limit key of a market order: every level qualifies


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
        self._books: dict[str, Book] = {}
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
        self._books[instrument.symbol] = Book(instrument)

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
        reports = self.reports
        self.reports = []
        return reports

    def take_book_events(self) -> list[BookEvent]:
        """Book changes since the last call, oldest first."""
        events = self.book_events
        self.book_events = []
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

    def _book(self, symbol: str) -> Book:
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
            problem = RejectReason.UNKNOWN_SYMBOL, f"symbol {symbol!r} is not traded on this venue"
        else:
            problem = _order_problem(book, side, order_type, time_in_force, quantity, price)
        if problem is not None:
            self.reports.append(
                rejected_report(
                    timestamp_ns, participant, client_order_id, symbol, side, order_type,
                    time_in_force, price, quantity, problem[0], problem[1],
                )
            )  # fmt: skip
            return 0
        if order_type is _MARKET:
            price = 0
        order_id = self._next_order_id
        self._next_order_id = order_id + 1
        order = new_order(
            order_id, participant, client_order_id, symbol, side, order_type, time_in_force,
            price, quantity, quantity, 0, 0, displayed,
        )  # fmt: skip
        self.reports.append(new_report(order, timestamp_ns))
        if order_type is _LIMIT and time_in_force is _DAY:
            opposite = book.asks if side is _BUY else book.bids
            if not opposite.crossed_by(opposite.sign * order.price):  # rest at once
                self._rest(book, order, timestamp_ns)
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
        self._announce_cancel(order, timestamp_ns, _REQUESTED, orig_client_order_id)
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
        response_to = _RESPONSE_TO_REPLACE
        if order is None or order.participant != participant:
            self._reject_cancel(
                timestamp_ns, participant, client_order_id, order_id, response_to,
                RejectReason.UNKNOWN_ORDER,
                f"order {order_id} is not live for participant {participant!r}",
            )  # fmt: skip
            return 0
        book = self._books[order.symbol]
        problem = _replace_problem(book, order, quantity, price)
        if problem is not None:
            self._reject_cancel(
                timestamp_ns, participant, client_order_id, order_id, response_to, problem[0],
                problem[1], live_status(order),
            )  # fmt: skip
            return 0
        new_leaves = quantity - order.cum_qty
        if price == order.price and new_leaves <= order.leaves:
            self._reduce(order, timestamp_ns, client_order_id, quantity, new_leaves)
            return order_id
        return self._move(book, order, timestamp_ns, client_order_id, quantity, price)

    def _reduce(
        self,
        order: Order,
        timestamp_ns: int,
        client_order_id: str,
        quantity: int,
        new_leaves: int,
    ) -> None:
        """Replace keeping priority: same price, leaves not above the current ones (ITCH X)."""
        orig_client_order_id = order.client_order_id
        reduced = order.leaves - new_leaves
        order.leaves = new_leaves
        order.quantity = quantity
        order.client_order_id = client_order_id
        if reduced and order.displayed:
            self.book_events.append(
                OrderCancelled(timestamp_ns, order.symbol, order.order_id, reduced)
            )
        self.reports.append(replaced_report(order, timestamp_ns, orig_client_order_id))

    def _move(
        self,
        book: Book,
        order: Order,
        timestamp_ns: int,
        client_order_id: str,
        quantity: int,
        price: int,
    ) -> int:
        """Replace losing priority: a new order id, at the back of the queue (ITCH U) or, when
        the new price is marketable, deleted (ITCH D) and matched as an incoming order."""
        self._remove_resting(book, order)
        new_id = self._next_order_id
        self._next_order_id = new_id + 1
        order_id = order.order_id
        new_leaves = quantity - order.cum_qty
        moved = new_order(
            new_id, order.participant, client_order_id, order.symbol, order.side, _LIMIT, _DAY,
            price, quantity, new_leaves, order.cum_qty, order.cum_notional, order.displayed,
        )  # fmt: skip
        replaced = replaced_report(moved, timestamp_ns, order.client_order_id)
        opposite = book.asks if moved.side is _BUY else book.bids
        if opposite.crossed_by(opposite.sign * price):
            if moved.displayed:
                self.book_events.append(deleted_event(order, timestamp_ns))
            self.reports.append(replaced)
            self._execute(book, moved, timestamp_ns)
        else:
            (book.bids if moved.side is _BUY else book.asks).add(moved)
            self._orders[new_id] = moved
            if moved.displayed:
                self.book_events.append(
                    OrderReplaced(timestamp_ns, book.symbol, order_id, new_id, new_leaves, price)
                )
            self.reports.append(replaced)
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
        return self._book(symbol).bids.best_price()

    def best_ask(self, symbol: str) -> int | None:
        return self._book(symbol).asks.best_price()

    def depth(
        self, symbol: str, side: Side, max_levels: int | None = None, displayed_only: bool = True
    ) -> list[BookLevel]:
        """Aggregated price levels of one side, best first."""
        book = self._book(symbol)
        book_side = book.bids if side == _BUY else book.asks
        return [BookLevel(*level) for level in book_side.depth(max_levels, displayed_only)]

    def top_of_book(self, symbol: str, timestamp_ns: int = 0) -> TopOfBook:
        """Best displayed bid and offer (a missing side has price 0 and shares 0)."""
        bids = self.depth(symbol, _BUY, 1)
        asks = self.depth(symbol, _SELL, 1)
        bid = bids[0] if bids else BookLevel(0, 0, 0)
        ask = asks[0] if asks else BookLevel(0, 0, 0)
        return TopOfBook(symbol, timestamp_ns, bid.price, bid.shares, ask.price, ask.shares)

    def resting_orders(self, symbol: str, side: Side) -> list[OrderState]:
        """Live orders of one side in priority order (best price first, then time)."""
        book = self._book(symbol)
        book_side = book.bids if side == _BUY else book.asks
        return [order.state() for order in book_side.live_orders()]

    # --- internals ---------------------------------------------------------------------------

    def _execute(self, book: Book, order: Order, timestamp_ns: int) -> None:
        """Match an accepted order, then rest its remainder or cancel it."""
        opposite = book.asks if order.side is _BUY else book.bids
        limit_key = _NO_LIMIT if order.order_type is _MARKET else opposite.sign * order.price
        stopped = False
        if opposite.crossed_by(limit_key):
            if order.time_in_force is _FOK and not opposite.fillable(
                order, limit_key, self.self_match_policy(order.participant) is _CANCEL_RESTING
            ):
                self._cancel_incoming(order, timestamp_ns, _FILL_OR_KILL)
                return
            stopped = self._match(opposite, order, limit_key, timestamp_ns)
        if not order.leaves:
            return
        if stopped:
            reason = _SELF_MATCH
        elif order.order_type is _MARKET:
            reason = _NO_LIQUIDITY
        elif order.time_in_force is _DAY:
            self._rest(book, order, timestamp_ns)
            return
        elif order.time_in_force is _IOC:
            reason = _IMMEDIATE_OR_CANCEL
        else:
            reason = _FILL_OR_KILL
        self._cancel_incoming(order, timestamp_ns, reason)

    def _match(
        self, opposite: BookSide, incoming: Order, limit_key: int, timestamp_ns: int
    ) -> bool:
        """Fill `incoming` against `opposite` in price-time order, best level first. Returns
        True if self-match prevention stopped it."""
        levels = opposite.levels
        stopped = False
        while levels:
            level = levels[len(levels) - 1]
            if level.key < limit_key:
                break
            stopped = self._match_level(level, incoming, timestamp_ns)
            level.cut_front()
            opposite.drop_best_if_empty(level)
            if stopped or not incoming.leaves:
                break
        return stopped

    def _match_level(self, level: Level, incoming: Order, timestamp_ns: int) -> bool:
        """Fill `incoming` against one level's queue, oldest first, until it is filled or
        the level is empty. Returns True if self-match prevention stopped it."""
        queue = level.queue
        price = level.price
        participant = incoming.participant
        while level.head < len(queue):
            resting = queue[level.head]
            if not resting.leaves:
                level.head += 1
                continue
            if resting.participant == participant:
                policy = self.self_match_policy(participant)
                if policy is not _CANCEL_INCOMING:
                    level.head += 1
                    level.live -= 1
                    del self._orders[resting.order_id]
                    resting.leaves = 0
                    self._announce_cancel(resting, timestamp_ns, _SELF_MATCH, "")
                if policy is not _CANCEL_RESTING:
                    return True
                continue
            self._fill(resting, incoming, price, timestamp_ns)
            if not resting.leaves:
                level.head += 1
                level.live -= 1
                del self._orders[resting.order_id]
            if not incoming.leaves:
                break
        return False

    def _fill(self, resting: Order, incoming: Order, price: int, timestamp_ns: int) -> None:
        """One trade at `price` (the resting order's): both orders' quantities, both owners'
        TRADE reports (resting first) and the execution for market data."""
        fill = resting.leaves if resting.leaves < incoming.leaves else incoming.leaves
        notional = fill * resting.price  # == price, as a C integer
        resting.leaves -= fill
        resting.cum_qty += fill
        resting.cum_notional += notional
        incoming.leaves -= fill
        incoming.cum_qty += fill
        incoming.cum_notional += notional
        match_number = self._next_match_number
        self._next_match_number = match_number + 1
        reports = self.reports
        reports.append(fill_report(resting, price, fill, _ADDED, timestamp_ns, match_number))
        reports.append(fill_report(incoming, price, fill, _REMOVED, timestamp_ns, match_number))
        self.book_events.append(
            execution_event(resting, incoming, price, fill, timestamp_ns, match_number)
        )

    def _rest(self, book: Book, order: Order, timestamp_ns: int) -> None:
        """Put an accepted order's remainder on the book (ITCH A when displayed)."""
        (book.bids if order.side is _BUY else book.asks).add(order)
        self._orders[order.order_id] = order
        if order.displayed:
            self.book_events.append(added_event(order, timestamp_ns))

    def _remove_resting(self, book: Book, order: Order) -> None:
        (book.bids if order.side is _BUY else book.asks).remove(order)
        del self._orders[order.order_id]

    def _announce_cancel(
        self, order: Order, timestamp_ns: int, reason: CancelReason, orig_client_order_id: str
    ) -> None:
        """Book event and report for a resting order that has just been taken off its book."""
        if order.displayed:
            self.book_events.append(deleted_event(order, timestamp_ns))
        self.reports.append(cancelled_report(order, timestamp_ns, reason, orig_client_order_id))

    def _cancel_incoming(self, order: Order, timestamp_ns: int, reason: CancelReason) -> None:
        order.leaves = 0
        self.reports.append(cancelled_report(order, timestamp_ns, reason, ""))

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
            cancel_reject(
                timestamp_ns, participant, client_order_id, orig_client_order_id, order_id,
                order_status, response_to is CancelRejectResponseTo.REPLACE, reason, text,
            )
        )  # fmt: skip


# --- request checks ---------------------------------------------------------------------------


def _order_problem(
    book: Book,
    side: Side,
    order_type: OrdType,
    time_in_force: TimeInForce,
    quantity: int,
    price: int,
) -> tuple[RejectReason, str] | None:
    """Why a new order must be rejected (reason and text), None if it may enter."""
    symbol = book.symbol
    if book.halted:
        return RejectReason.HALTED, f"{symbol} is halted"
    if (
        (side is not _BUY and side is not _SELL)
        or (order_type is not _LIMIT and order_type is not _MARKET)
        or (time_in_force is not _DAY and time_in_force is not _IOC and time_in_force is not _FOK)
    ):
        return RejectReason.BAD_ORDER, (
            f"unsupported side {side!r}, order type {order_type!r} or time in force "
            f"{time_in_force!r} (use Side, OrdType and TimeInForce members)"
        )
    if type(quantity) is not int or quantity <= 0 or quantity % book.lot_size:
        return RejectReason.BAD_QUANTITY, (
            f"{symbol}: quantity {quantity} is not a positive multiple of lot {book.lot_size}"
        )
    if order_type is not _MARKET and (
        type(price) is not int or price <= 0 or price % book.tick_size
    ):
        return RejectReason.BAD_PRICE, (
            f"{symbol}: price {price} is not a positive multiple of tick "
            f"{format_price(book.tick_size)} (prices are integers in 1/10,000)"
        )
    return None


def _replace_problem(
    book: Book, order: Order, quantity: int, price: int
) -> tuple[RejectReason, str] | None:
    """Why a cancel/replace of `order` must be rejected, None if it may go ahead."""
    symbol = book.symbol
    if book.halted:
        return RejectReason.HALTED, f"{symbol} is halted"
    if type(quantity) is not int or quantity <= 0 or quantity % book.lot_size:
        return RejectReason.BAD_QUANTITY, (
            f"{symbol}: quantity {quantity} is not a positive multiple of lot {book.lot_size}"
        )
    if type(price) is not int or price <= 0 or price % book.tick_size:
        return RejectReason.BAD_PRICE, (
            f"{symbol}: price {price} is not a positive multiple of tick "
            f"{format_price(book.tick_size)}"
        )
    if quantity <= order.cum_qty:
        return RejectReason.TOO_LATE, (
            f"order {order.order_id}: quantity {quantity} is not above the {order.cum_qty} filled"
        )
    return None
