"""Options analytics: Black prices and greeks, implied vols, forwards from parity, SVI/SSVI and
Heston calibration, and the static-arbitrage scanner (issue 16, items 1-3)."""
