"""Entry point of the ``legacy_ingest`` code location, loaded as ``-m legacy_ingest.definitions``
(see :func:`etl_pipeline.orchestration.location_definitions`)."""

from __future__ import annotations

from pathlib import Path

import dagster as dg

from etl_pipeline.orchestration import location_definitions


@dg.definitions
def defs() -> dg.Definitions:
    """The location's lanes and platform definitions, plus what its ``defs/`` folder holds."""
    return location_definitions("legacy_ingest", Path(__file__).parent)
