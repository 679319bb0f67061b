"""The GDAL health check both locations run after a deployment."""

from typing import Any

import dagster as dg

GDAL_HEALTH_TOOLS = ("gdalinfo", "ogr2ogr")
"""The GDAL tools every lane shells out to; both must answer ``--version``."""


def gdal_health_metadata(log: Any) -> dict[str, Any]:
    """``<tool> --version`` of each GDAL tool as metadata, or a ``dg.Failure`` saying why not.

    A missing or broken install does not fix itself, so the failure is not retried.
    """
    from etl_spatial.gdal import GdalError, GdalToolMissing, gdal_tool_versions

    try:
        versions = gdal_tool_versions(GDAL_HEALTH_TOOLS)
    except GdalError as exc:
        raise dg.Failure(
            description=f"GDAL health check failed: {exc}",
            metadata={"tool": exc.tool or "", "tool_missing": isinstance(exc, GdalToolMissing)},
            allow_retries=False,
        ) from exc
    for tool, version in versions.items():
        log.info(f"{tool}: {version}")
    return {f"{tool}_version": dg.MetadataValue.text(v) for tool, v in versions.items()}
