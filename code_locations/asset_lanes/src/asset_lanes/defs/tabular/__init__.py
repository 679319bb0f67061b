"""Tabular lane: CSV to Parquet (intent ingest_tabular)."""
