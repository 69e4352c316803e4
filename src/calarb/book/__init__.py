"""Order books: L3/L2 `OrderBook`, the multi-symbol `BookBuilder` over typed ITCH messages,
and `ItchBookFeed`, the fast path from raw ITCH bytes to books."""

from calarb.book.builder import BookBuilder
from calarb.book.feed import ItchBookFeed
from calarb.book.order_book import (
    BookError,
    BookSnapshot,
    DuplicateOrderError,
    InvalidOrderError,
    OrderBook,
    OverExecutionError,
    RestingOrder,
    UnknownOrderError,
)

__all__ = [
    "BookBuilder",
    "BookError",
    "BookSnapshot",
    "DuplicateOrderError",
    "InvalidOrderError",
    "ItchBookFeed",
    "OrderBook",
    "OverExecutionError",
    "RestingOrder",
    "UnknownOrderError",
]
