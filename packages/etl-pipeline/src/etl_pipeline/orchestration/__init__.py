"""Dagster building blocks, derived from the lane registry and shared by both code locations.

Only code locations import this package (it imports Dagster). Each location's
``definitions.py`` merges :func:`location_definitions` for its name: the lanes it serves
(asset, job and sensor per lane) plus the platform-wide sensors and resources.

No ``from __future__ import annotations`` in these modules: Dagster inspects the real
annotations of sensor, op and asset functions (context and resource parameters).
"""

from etl_pipeline.orchestration.platform import location_definitions

__all__ = ["location_definitions"]
