"""The public strategy API: what a strategy receives, what it returns, and how the engine runs
one (docs/strategies.md is the tutorial).

A strategy is a plain object with no sockets and no clock. The engine calls it on one thread:

* `on_top_of_book(top)`: the consolidated best bid and offer of one of its `symbols` changed
  (`top.timestamp_ns` is the engine's now). Returns order intents and cancels (or nothing).
* `on_timer(now_ns)`: time passed. Called after every execution report and at timer ticks;
  the fast backtest replay may skip ticks before `timer_idle_until()`, so act on time only
  at or after a time you asked for (`StrategyContext.wake_at`).
* `on_fill(order, quantity, price, liquidity)`: a fill of one of its orders (an
  `OrderRecord`: symbol, side, parent ClOrdID, tag...). `on_release(order, quantity)`: part
  of an order will never fill (cancelled, expired, rejected). `on_intent_refused(intent,
  quantity)`: the risk gate or the router did not send (part of) an intent.
* `totals()` and `state()`: counters and the model's state, for reports and the status line.

It returns `OrderIntent`s (a new parent order) and `CancelOrder`s (cancel every open child of
a parent). The risk gate, the router and the OMS are the engine's, unchanged: a strategy
cannot bypass them, and only runs while the risk gate's trading state is ACTIVE.

`PairsStrategy` implements this contract itself (registered as a `Strategy`); its pair models
are driven by the engine's compiled fast path. Any other strategy subclasses `Strategy`, and
the engine runs it through a `StrategyHost`, which keeps its books for it: own positions,
working orders, fresh ClOrdIDs, and the L2 depth of a symbol when asked (`context`).
"""

from __future__ import annotations

import abc
import importlib
import importlib.util
import sys
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from calarb.core.events import TopOfBook
from calarb.core.orders import OrderPurpose
from calarb.core.types import Side
from calarb.ops.latency import Stage
from calarb.trading.orders import Liquidity, OrderIntent, OrderRecord, OrdType, TimeInForce
from calarb.trading.risk import TradingState
from calarb.trading.strategy import PairsStrategy
from calarb.trading.strategy_types import IDLE_FOREVER, CancelOrder, StrategyAction

__all__ = [
    "IDLE_FOREVER",
    "CancelOrder",
    "OpenOrder",
    "OrderIntent",
    "Strategy",
    "StrategyAction",
    "StrategyContext",
    "StrategyHost",
    "engine_strategy",
    "load_strategy",
]

if TYPE_CHECKING:
    from calarb.book.order_book import BookSnapshot

_ACTIVE = TradingState.ACTIVE
DepthSource = Callable[[str, int], "BookSnapshot | None"]
"""(symbol, levels) -> the symbol's L2 book (best first), or None when there is none."""


class Strategy(abc.ABC):  # noqa: B024 - every method has a default: subclass what you need
    """Base class of a strategy on the public API (see the module docstring).

    Subclasses set `symbols` (the instruments they trade and watch) and override what they
    need; the defaults do nothing. `context` is set by the engine before the first call.
    `from_config(table)` builds one from its TOML table (`[strategy]`, the `class` key
    removed); the default passes the table as keyword arguments.
    """

    symbols: list[str] = []
    context: StrategyContext

    @classmethod
    def from_config(cls, table: Mapping[str, Any]) -> Strategy:
        return cls(**table)

    def on_top_of_book(self, top: TopOfBook) -> Iterable[StrategyAction] | None:
        return None

    def on_timer(self, now_ns: int) -> Iterable[StrategyAction] | None:
        return None

    def timer_idle_until(self) -> int:
        """Until when `on_timer` would do nothing (the host adds `context.wake_at` times)."""
        return IDLE_FOREVER

    def on_fill(self, order: OrderRecord, quantity: int, price: int, liquidity: Liquidity) -> None:
        return None

    def on_release(self, order: OrderRecord, quantity: int) -> None:
        return None

    def on_intent_refused(self, intent: OrderIntent, quantity: int | None = None) -> None:
        return None

    def totals(self) -> dict[str, int]:
        return {}

    def state(self) -> dict[str, Any]:
        return {}


Strategy.register(PairsStrategy)


@dataclass
class OpenOrder:
    """A working parent order of the strategy: what is still open of it."""

    cl_ord_id: str
    symbol: str
    side: Side
    price: int
    remaining: int
    tag: str


class StrategyContext:
    """The strategy's view of its own trading, kept by the host: positions from its own
    fills, its working orders, the latest consolidated tops, new orders with fresh ClOrdIDs,
    L2 depth on request, and wake-up times for `on_timer`."""

    def __init__(self, id_prefix: str, name: str) -> None:
        self.id_prefix = id_prefix
        self.name = name
        self.positions: dict[str, int] = {}
        self.open_orders: dict[str, OpenOrder] = {}
        self.tops: dict[str, TopOfBook] = {}
        self.wake_ns = IDLE_FOREVER
        self.depth_source: DepthSource | None = None
        self.wall_offset_ns = 0
        """Wall time minus engine time, taken from the engine's clock once (`attach`)."""
        self._next_id = 1

    def position(self, symbol: str) -> int:
        return self.positions.get(symbol, 0)

    def orders_of(self, symbol: str) -> list[OpenOrder]:
        return [order for order in self.open_orders.values() if order.symbol == symbol]

    def order(
        self,
        symbol: str,
        side: Side,
        quantity: int,
        price: int,
        *,
        time_in_force: TimeInForce = TimeInForce.DAY,
        purpose: OrderPurpose = OrderPurpose.ENTRY,
        tag: str = "",
    ) -> OrderIntent:
        """A limit order intent with a new ClOrdID, recorded as working. Prices in 1/10,000
        currency units, whole shares."""
        if quantity <= 0 or price <= 0:
            raise ValueError(f"{self.name}: order of {quantity} {symbol} at {price}")
        cl_ord_id = f"{self.id_prefix}{self._next_id}"
        self._next_id += 1
        label = f"{self.name}:{tag}" if tag else self.name
        self.open_orders[cl_ord_id] = OpenOrder(cl_ord_id, symbol, side, price, quantity, label)
        return OrderIntent(
            cl_ord_id, symbol, side, quantity, price, OrdType.LIMIT, time_in_force, label,
            False, purpose,
        )  # fmt: skip

    def buy(self, symbol: str, quantity: int, price: int, **options: Any) -> OrderIntent:
        return self.order(symbol, Side.BUY, quantity, price, **options)

    def sell(self, symbol: str, quantity: int, price: int, **options: Any) -> OrderIntent:
        return self.order(symbol, Side.SELL, quantity, price, **options)

    def cancel(self, cl_ord_id: str, reason: str = "strategy") -> CancelOrder:
        return CancelOrder(cl_ord_id, reason)

    def depth(self, symbol: str, levels: int = 5) -> BookSnapshot | None:
        """The symbol's L2 book now (each venue's book; the first venue holding one), best
        levels first; None when no book is available. Live and paper runs read the engine's
        own books; backtests read the replayed venue's book (no feed latency applied)."""
        if self.depth_source is None:
            return None
        return self.depth_source(symbol, levels)

    def wall_ns(self, now_ns: int) -> int:
        """The wall time (ns since the Unix epoch, UTC) of an engine time `now_ns`. The
        engine's clock is monotonic (live) or simulated; the host reads its two readings once,
        when it is attached, so a strategy that needs a time of day (a time to expiry) never
        reads a clock."""
        return now_ns + self.wall_offset_ns

    def wake_at(self, at_ns: int) -> None:
        """Ask for `on_timer` at or after `at_ns` (the earliest request wins until it fires)."""
        self.wake_ns = min(self.wake_ns, at_ns)

    # -- kept by the host ----------------------------------------------------------------

    def _reduce(self, cl_ord_id: str, quantity: int) -> OpenOrder | None:
        order = self.open_orders.get(cl_ord_id)
        if order is None:
            return None
        order.remaining -= quantity
        if order.remaining <= 0:
            del self.open_orders[cl_ord_id]
        return order


class StrategyHost(PairsStrategy):
    """Runs a `Strategy` in the engine: the engine's strategy slot is typed for the compiled
    `PairsStrategy`, so the host is one with no pairs. It forwards each call, keeps the
    strategy's `context`, and sends the actions of a top-of-book change straight through
    the engine's risk gate, router and OMS (`attach`)."""

    def __init__(self, strategy: Strategy, id_prefix: str = "U") -> None:
        super().__init__((), id_prefix)
        self.user = strategy
        name = getattr(strategy, "name", None) or type(strategy).__name__
        self.context = StrategyContext(id_prefix, name)
        strategy.context = self.context
        for symbol in strategy.symbols:
            self.pairs_by_symbol[symbol] = []  # the engine looks up each symbol's pairs
        self.engine: Any = None
        self.counters = dict.fromkeys(("orders", "cancels", "fills", "refused"), 0)

    def attach(self, engine: Any, depth_source: DepthSource | None = None) -> None:
        """Bind to the engine that runs this host (after it is built). `depth_source`: where
        L2 comes from (default: the engine's own books, as in live and paper runs). The
        context's wall-time mapping is read from the engine's clock here, once."""
        self.engine = engine
        self.context.depth_source = depth_source or _engine_depth(engine)
        clock = engine.clock
        self.context.wall_offset_ns = clock.wall_ns() - clock.monotonic_ns()

    def restart_ids(self, id_prefix: str) -> None:
        self.id_prefix = self.context.id_prefix = id_prefix

    # -- engine calls ----------------------------------------------------------------------

    def on_top_of_book(self, top: TopOfBook) -> None:
        self.tops[top.symbol] = top
        self.context.tops[top.symbol] = top
        actions = self.user.on_top_of_book(top)
        if not actions:
            return
        engine = self.engine
        if engine is None or engine.risk.state is not _ACTIVE:
            # not trading (warming up, reducing, halted): nothing is sent, and the strategy
            # hears so, as from the risk gate
            for action in actions:
                if type(action) is not CancelOrder:
                    self.on_intent_refused(action)
            return
        stamps = engine._stamps
        if stamps is not None:
            stamps[Stage.SIGNAL] = engine._stamp_now()
        engine._execute(self._counted(actions), top.timestamp_ns)

    def on_timer(self, now_ns: int) -> list[StrategyAction]:
        context = self.context
        if context.wake_ns <= now_ns:
            context.wake_ns = IDLE_FOREVER
        return self._counted(self.user.on_timer(now_ns) or ())

    def timer_idle_until(self) -> int:
        return min(self.user.timer_idle_until(), self.context.wake_ns)

    def on_fill(self, order: OrderRecord, quantity: int, price: int, liquidity: Liquidity) -> None:
        context = self.context
        if order.parent_id not in context.open_orders:
            return
        context._reduce(order.parent_id, quantity)
        signed = quantity if order.side is Side.BUY else -quantity
        context.positions[order.symbol] = context.positions.get(order.symbol, 0) + signed
        self.counters["fills"] += 1
        self.user.on_fill(order, quantity, price, liquidity)

    def on_release(self, order: OrderRecord, quantity: int) -> None:
        if self.context._reduce(order.parent_id, quantity) is not None:
            self.user.on_release(order, quantity)

    def on_intent_refused(self, intent: OrderIntent, quantity: int | None = None) -> None:
        refused = intent.quantity if quantity is None else quantity
        if self.context._reduce(intent.cl_ord_id, refused) is not None:
            self.counters["refused"] += 1
            self.user.on_intent_refused(intent, refused)

    def restore(self, orders: Iterable[OrderRecord], now_ns: int) -> None:
        """After a restart: positions and working orders from the journal's orders whose tag
        is this strategy's."""
        context = self.context
        name = context.name
        for order in orders:
            if order.tag != name and not order.tag.startswith(name + ":"):
                continue
            signed = order.cum_qty if order.side is Side.BUY else -order.cum_qty
            context.positions[order.symbol] = context.positions.get(order.symbol, 0) + signed
            if order.is_open:
                found = context.open_orders.get(order.parent_id)
                if found is None:
                    context.open_orders[order.parent_id] = OpenOrder(
                        order.parent_id, order.symbol, order.side, order.price,
                        order.leaves_qty, order.tag,
                    )  # fmt: skip
                else:
                    found.remaining += order.leaves_qty

    def totals(self) -> dict[str, int]:
        return {**self.counters, **self.user.totals()}

    def state(self) -> dict[str, dict[str, object]]:
        context = self.context
        return {
            context.name: {
                "positions": dict(context.positions),
                "open_orders": len(context.open_orders),
                **self.user.state(),
            }
        }

    def _counted(self, actions: Iterable[StrategyAction]) -> list[StrategyAction]:
        actions = list(actions)
        for action in actions:
            if type(action) is CancelOrder:
                self.counters["cancels"] += 1
            else:
                self.counters["orders"] += 1
        return actions


def _engine_depth(engine: Any) -> DepthSource:
    """L2 from the engine's own books (its ITCH feeds: live and paper runs)."""

    def depth(symbol: str, levels: int) -> BookSnapshot | None:
        for feed in engine.feeds.values():
            book = feed.books.get(symbol)
            if book is not None and len(book):
                return book.snapshot(levels, engine.clock.monotonic_ns())
        return None

    return depth


def engine_strategy(strategy: Strategy | PairsStrategy, id_prefix: str = "U") -> PairsStrategy:
    """What the engine's strategy slot takes: a `PairsStrategy` as it is, any other
    `Strategy` in a `StrategyHost`."""
    if isinstance(strategy, PairsStrategy):
        return strategy
    if not isinstance(strategy, Strategy):
        raise TypeError(f"{type(strategy).__name__} is not a calarb Strategy")
    return StrategyHost(strategy, id_prefix)


def load_strategy(spec: str, table: Mapping[str, Any], base: Path | None = None,
                  where: str = "strategy") -> Strategy:  # fmt: skip
    """Build the strategy a config names: `spec` is "package.module:Class" or
    "path/to/file.py:Class" (relative to `base`, the config's folder); `table` goes to the
    class's `from_config`. Errors are ValueErrors naming `where`."""
    module_name, _, class_name = spec.partition(":")
    if not module_name or not class_name:
        raise ValueError(f"{where}.class: {spec!r} is not 'module:Class' or 'file.py:Class'")
    try:
        if module_name.endswith(".py"):
            path = Path(module_name)
            if not path.is_absolute() and base is not None:
                path = base / path
            if not path.is_file():
                raise ValueError(f"{where}.class: no file {path}")
            unique = f"calarb_user_strategy_{path.stem}_{abs(hash(str(path.resolve())))}"
            module = sys.modules.get(unique)
            if module is None:
                module_spec = importlib.util.spec_from_file_location(unique, path)
                module = importlib.util.module_from_spec(module_spec)
                sys.modules[unique] = module
                module_spec.loader.exec_module(module)
        else:
            module = importlib.import_module(module_name)
    except ImportError as exc:
        raise ValueError(f"{where}.class: cannot import {module_name!r}: {exc}") from None
    cls = getattr(module, class_name, None)
    if not (isinstance(cls, type) and issubclass(cls, Strategy)):
        raise ValueError(f"{where}.class: {spec!r} is not a calarb Strategy class")
    try:
        strategy = cls.from_config(dict(table))
    except (TypeError, ValueError, KeyError) as exc:
        raise ValueError(f"{where}: {exc}") from None
    if not strategy.symbols:
        raise ValueError(f"{where}: {spec} trades no symbols")
    return strategy
