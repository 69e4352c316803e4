"""The modules compiled to C extensions from their own `.py` source (Cython, pure-Python mode).

The one list: `setup.py` builds these (each has its `.pxd` declarations beside it) and
`calarb.build_info()` checks them at run time. This file imports nothing, so the build can
read it without importing calarb.
"""

COMPILED_MODULES = (
    "calarb.model.moments",
    "calarb.model.hedge",
    "calarb.model.spread",
    "calarb.model.signal",
    "calarb.model.live",
    "calarb.ops.latency",
    "calarb.book.order_book",
    "calarb.book.feed",
    "calarb.venue.orders",
    "calarb.venue.price_levels",
    "calarb.venue.records",
    "calarb.venue.matching",
    "calarb.trading.orders",
    "calarb.trading.oms",
    "calarb.trading.portfolio",
    "calarb.trading.risk",
    "calarb.trading.router",
    "calarb.trading.strategy",
    "calarb.trading.engine",
    "calarb.fix.codec",
    "calarb.fix.timefmt",
    "calarb.fix.messages.fields",
    "calarb.fix.messages.orders",
    "calarb.fix.messages.execution",
    "calarb.fix.store",
    "calarb.fix.outbound",
    "calarb.fix.session",
    "calarb.trading.fix_gateway",
)
