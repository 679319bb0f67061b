"""Entry point of the ``asset_lanes`` code location, loaded as ``-m asset_lanes.definitions``
(see :func:`etl_pipeline.orchestration.location_definitions`)."""

from __future__ import annotations

from pathlib import Path

import dagster as dg

from etl_pipeline.orchestration import location_definitions


@dg.definitions
def defs() -> dg.Definitions:
    """The location's lanes and platform definitions, plus what its ``defs/`` folder holds."""
    return location_definitions("asset_lanes", Path(__file__).parent)
