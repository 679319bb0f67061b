"""Spatial lane: vector files to GeoParquet, rasters to COG (intents ingest_vector/raster)."""
