"""Join lane: a tabular dataset joined onto a spatial one in PostGIS (intent join_datasets)."""
