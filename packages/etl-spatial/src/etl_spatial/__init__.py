"""Spatial compute: PostGIS ephemeral schemas, GDAL runner, lake writers, spatial metadata.

Modules (import them directly; this package imports nothing heavy at import time):

- ``etl_spatial.gdal``: ``run_gdal``, ``gdal_tool_versions``, ``gdal_s3_env``, errors
- ``etl_spatial.postgis``: ``Postgis`` (ephemeral run schemas, janitor queries)
- ``etl_spatial.identifiers``: ``validate_identifier``, ``quote_identifier``
- ``etl_spatial.crs``: ``crs_label``, ``validate_crs``, ``epsg_code`` (the one CRS naming rule)
- ``etl_spatial.geoparquet``: ``read_geo_metadata``, ``primary_geometry_column``
- ``etl_spatial.vector_source``: ``VectorSource``, ``VectorLoadError``
- ``etl_spatial.vector_inspection``: ``inspect_layer`` (pyogrio)
- ``etl_spatial.loader``: ``load_vector`` raw files -> ``<run schema>.raw_data``
- ``etl_spatial.arrow_io``: ADBC loads into PostGIS (``load_arrow_table`` and the streamed
  ``load_parquet``), table facts (columns, SRID, CRS)
- ``etl_spatial.adbc_stream``: ``record_batches``, a query's rows as Arrow batches (ADBC binary
  COPY), read ahead in a thread
- ``etl_spatial.geoparquet_stream``: ``export_geoparquet`` PostGIS table -> GeoParquet 1.1 in
  bounded memory (sorted in PostGIS, ADBC batches, geo metadata built on the way)
- ``etl_spatial.writers``: ``write_geoparquet``, ``write_parquet``, ``raster_to_cog``
- ``etl_spatial.metadata``: ``describe_geoparquet``, ``describe_raster``, ``validate_cog``

Nothing here depends on an orchestrator: the pipeline wraps ``Postgis`` in its own resource.

The content hash of a dataset version is ``etl_models.ledger_records.asset_content_hash``.
"""
