"""Market data stores and importers: ITCH to Parquet (`itch_parquet`), LOBSTER files
(`lobster`), and their commands (`commands`: `calarb itch convert`, `calarb book lobster`)."""
