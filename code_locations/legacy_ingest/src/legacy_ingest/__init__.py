"""Dagster code location ``legacy_ingest``: op-based ``ingest_job`` and the legacy manifest sensor.

Only wiring lives here; the logic is in the ``etl_*`` packages. Dagster loads
:mod:`legacy_ingest.definitions`, which autoloads everything under :mod:`legacy_ingest.defs`.
"""
