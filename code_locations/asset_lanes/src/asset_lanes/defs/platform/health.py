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
from etl_spatial.gdal import GdalError, GdalToolMissing, gdal_tool_versions

GDAL_HEALTH_TOOLS = ("gdalinfo", "ogr2ogr")
"""The tools every lane shells out to; both must answer ``--version``."""


@dg.asset(
    key_prefix=domain_key_prefix("platform"),
    name="gdal_health",
    group_name="platform",
    kinds={"gdal"},
    description="GDAL command-line tools available to this code location, with their versions.",
)
def gdal_health(context: dg.AssetExecutionContext) -> dg.MaterializeResult:
    """Run ``<tool> --version`` for each GDAL tool and record the answers as metadata."""
    try:
        versions = gdal_tool_versions(GDAL_HEALTH_TOOLS)
    except GdalError as exc:
        # dg.Failure puts the reason and metadata on the failed step (the UI's headline), and a
        # missing or broken install does not fix itself, so retrying would only delay the news.
        raise dg.Failure(
            description=f"GDAL health check failed: {exc}",
            metadata={
                "tool": exc.tool or "",
                "tool_missing": isinstance(exc, GdalToolMissing),
            },
            allow_retries=False,
        ) from exc
    for tool, version in versions.items():
        context.log.info(f"{tool}: {version}")
    return dg.MaterializeResult(
        metadata={f"{tool}_version": dg.MetadataValue.text(v) for tool, v in versions.items()}
    )


asset_lanes_gdal_health_job = dg.define_asset_job(
    name="asset_lanes_gdal_health_job",
    selection=dg.AssetSelection.assets(gdal_health),
    description="Checks the GDAL command-line tools of the asset_lanes code location.",
)
