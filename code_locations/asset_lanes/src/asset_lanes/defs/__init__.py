"""Definitions of ``asset_lanes``, one folder per domain, autoloaded by ``load_from_defs_folder``.

- ``platform/``: operational checks of the location itself (GDAL health check).
- Still to come with the lanes: ``spatial/``, ``tabular/``, ``join/`` (one folder per lane:
  assets, job, sensor), ``intake/`` (run-status sensors mirroring runs into the ledger) and
  ``resources.py`` (the one place resources are bound for the whole location).

Asset keys are ``["asset_lanes", <domain>, <name>]`` (see :mod:`asset_lanes.asset_keys`).
"""
