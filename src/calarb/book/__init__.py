"""Order books: L3/L2 `OrderBook`, the multi-symbol `BookBuilder` over typed ITCH messages,
and `ItchBookFeed`, the fast path from raw ITCH bytes to books."""

from __future__ import annotations

from calarb.core.lazy import lazy_exports

_PUBLIC_NAMES = {
    "BookBuilder": "calarb.book.builder",
    "ItchBookFeed": "calarb.book.feed",
    "BookError": "calarb.book.order_book",
    "BookSnapshot": "calarb.book.order_book",
    "DuplicateOrderError": "calarb.book.order_book",
    "InvalidOrderError": "calarb.book.order_book",
    "OrderBook": "calarb.book.order_book",
    "OverExecutionError": "calarb.book.order_book",
    "RestingOrder": "calarb.book.order_book",
    "UnknownOrderError": "calarb.book.order_book",
}
"""Public name -> its module, imported on first use (`calarb book --help` stays light)."""

__all__ = sorted(_PUBLIC_NAMES)


__getattr__, __dir__ = lazy_exports(__name__, _PUBLIC_NAMES)
