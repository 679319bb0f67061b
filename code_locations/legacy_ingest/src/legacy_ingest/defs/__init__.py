"""Definitions of ``legacy_ingest`` kept in the location, autoloaded by ``load_from_defs_folder``.

- ``platform/``: operational checks of the location itself (GDAL health check job).

The legacy lane (op-based ``ingest_job``, the traffic-controlled ``manifest_sensor`` and the
``ingested_dataset`` asset its runs materialize), the run-status, retry and janitor sensors
and the resources come from the lane registry through
:func:`etl_pipeline.orchestration.location_definitions`, merged in ``definitions.py``. Asset
keys here start with ``legacy_ingest`` so they never clash with ``asset_lanes``.
"""
