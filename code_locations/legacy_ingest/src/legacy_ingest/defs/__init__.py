"""Definitions of ``legacy_ingest``, one folder per domain, autoloaded by ``load_from_defs_folder``.

- ``platform/``: operational checks of the location itself (GDAL health check job).
- Still to come: ``ingest/`` (the op-based ``ingest_job`` and the legacy ``manifest_sensor``,
  the traffic controller) and ``resources.py`` (the one place resources are bound).

This location is op-based, so it defines jobs rather than assets; any asset added here must be
keyed ``["legacy_ingest", <domain>, <name>]`` so keys never clash with ``asset_lanes``.
"""
