"""calarb: a low-latency statistical-arbitrage trading system in Python."""

__version__ = "0.1.0"
