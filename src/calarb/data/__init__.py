"""Market data stores and importers: ITCH to Parquet (`itch_parquet`), LOBSTER files
(`lobster`)."""
