"""Dagster code location ``asset_lanes``: partitioned lane assets, their sensors and run status.

Only wiring lives here; the logic is in the ``etl_*`` packages. Dagster loads
:mod:`asset_lanes.definitions`, which autoloads everything under :mod:`asset_lanes.defs`.
"""
