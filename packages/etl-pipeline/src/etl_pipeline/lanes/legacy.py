"""The legacy ingest lane: intents no other lane declares (including the original platform's
``ingest_building_footprints`` and ``ingest_road_network``), processed by the batch's file
type with the steps (and file formats) of the spatial and tabular lanes, launched by the
op-based ``ingest_job`` only while ``MANIFEST_ROUTER_ENABLED_LANES`` enables the lane."""

from __future__ import annotations

from etl_pipeline.lanes import spatial, tabular
from etl_pipeline.lanes.declaration import SPATIAL_CHECKS, Lane
from etl_transforms.registry import make_recipe
from etl_transforms.vector import VectorSteps

LANE = Lane(
    name="ingest",
    description=(
        "Datasets ingested by the legacy op-based ingest_job (intents no asset lane owns): "
        "vector to GeoParquet, raster to COG, CSV to Parquet by the batch's file type."
    ),
    code_location="legacy_ingest",
    sensor="manifest_sensor",
    job="ingest_job",
    asset="ingested_dataset",
    asset_kinds=frozenset({"postgis", "geoparquet", "cog", "parquet"}),
    recipes={
        "ingest_building_footprints": make_recipe(
            "building_footprints",
            "vector",
            VectorSteps(make_valid=True, drop_empty=True, simplify_tolerance_m=None),
            "footprints: repair self-intersections, MultiPolygon, no simplification",
        ),
        "ingest_road_network": make_recipe(
            "road_network",
            "vector",
            # Simplification would move vertices off junctions and break connectivity.
            VectorSteps(make_valid=True, drop_empty=True, simplify_tolerance_m=None),
            "roads: MultiLineString, geometry kept vertex-exact (no simplification)",
        ),
    },
    steps={**spatial.STEPS, **tabular.STEPS},
    file_formats={**spatial.FILE_FORMATS, **tabular.FILE_FORMATS},
    checks=SPATIAL_CHECKS,
    takes_unknown_intents=True,
    dagster_style="op_job",
    traffic_controlled=True,
)
