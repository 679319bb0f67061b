"""GDAL health check of the ``asset_lanes`` location: are ``gdalinfo`` and ``ogr2ogr`` usable here?

Run ``asset_lanes_gdal_health_job`` after a deployment: it materializes
``asset_lanes/platform/gdal_health`` with each tool's ``--version`` as metadata, or fails with
the reason (e.g. gdal-bin not installed in the code-location image).
"""

# No `from __future__ import annotations` here: Dagster 1.13 compares the raw `context`
# annotation with the context classes, so a postponed (string) annotation is rejected
# (dagster-io/dagster#26837). Python 3.11 needs no future import for these hints.

import dagster as dg

from asset_lanes.asset_keys import domain_key_prefix
from etl_pipeline.orchestration.health import gdal_health_metadata


@dg.asset(
    key_prefix=domain_key_prefix("platform"),
    name="gdal_health",
    group_name="platform",
    kinds={"gdal"},
    description="GDAL command-line tools available to this code location, with their versions.",
)
def gdal_health(context: dg.AssetExecutionContext) -> dg.MaterializeResult:
    """Run ``<tool> --version`` for each GDAL tool and record the answers as metadata."""
    return dg.MaterializeResult(metadata=gdal_health_metadata(context.log))


asset_lanes_gdal_health_job = dg.define_asset_job(
    name="asset_lanes_gdal_health_job",
    selection=dg.AssetSelection.assets(gdal_health),
    description="Checks the GDAL command-line tools of the asset_lanes code location.",
)
