"""Entry point of the ``asset_lanes`` code location: the attribute ``defs`` of this module.

Code servers load it as ``dagster api grpc -m asset_lanes.definitions`` (or
``dagster code-server start -m ...``); ``dg`` finds it through ``code_location_target_module``.
Thin on purpose: the lanes this location serves, their sensors and the platform-wide sensors
and resources are derived from the lane registry (``etl_pipeline.orchestration``); only the
location's own checks live under ``defs/`` and are autoloaded.
"""

from __future__ import annotations

from pathlib import Path

import dagster as dg

from etl_pipeline.orchestration import location_definitions

LOCATION = "asset_lanes"


@dg.definitions
def defs() -> dg.Definitions:
    """The location's lanes and platform definitions, plus what ``defs/`` holds."""
    # The dg project config (pyproject.toml with [tool.dg]) is found by walking up from here.
    own = dg.load_from_defs_folder(path_within_project=Path(__file__).parent)
    return dg.Definitions.merge(own, location_definitions(LOCATION))
