"""Definitions of ``asset_lanes`` kept in the location, autoloaded by ``load_from_defs_folder``.

- ``platform/``: operational checks of the location itself (GDAL health check).

The lanes (``spatial``, ``tabular``, ``join``: asset, job and sensor each), the run-status,
retry and janitor sensors and the resources come from the lane registry through
:func:`etl_pipeline.orchestration.location_definitions`, merged in ``definitions.py``.
Asset keys are ``["asset_lanes", <domain>, <name>]`` (see :mod:`asset_lanes.asset_keys`).
"""
