"""GDAL health check of ``legacy_ingest``: are ``gdalinfo`` and ``ogr2ogr`` usable in this location?

Run ``legacy_ingest_gdal_health_job`` after a deployment: its single op records each tool's
``--version`` as output metadata, or fails with the reason (e.g. gdal-bin not installed in the
code-location image).
"""

# No `from __future__ import annotations` here: Dagster 1.13 compares the raw `context`
# annotation with the context classes, so a postponed (string) annotation is rejected
# (dagster-io/dagster#26837). Python 3.11 needs no future import for these hints.

import dagster as dg

from etl_pipeline.orchestration.health import gdal_health_metadata


# A Nothing output carries the metadata without handing a value to an IO manager: there is
# nothing downstream to read it, so nothing should be pickled into run storage.
@dg.op(out=dg.Out(dg.Nothing, description="Versions are recorded as output metadata."))
def check_gdal_tools(context: dg.OpExecutionContext) -> None:
    """Run ``<tool> --version`` for each GDAL tool and record the answers as metadata."""
    context.add_output_metadata(gdal_health_metadata(context.log))


@dg.job(
    name="legacy_ingest_gdal_health_job",
    description="Checks the GDAL command-line tools of the legacy_ingest code location.",
)
def legacy_ingest_gdal_health_job() -> None:
    """One op: ``check_gdal_tools``."""
    check_gdal_tools()
