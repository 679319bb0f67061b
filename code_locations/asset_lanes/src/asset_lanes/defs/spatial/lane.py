"""The spatial lane: ``spatial_sensor`` -> ``spatial_asset_job`` -> ``raw_spatial_asset``."""

import dagster as dg

from asset_lanes.asset_keys import domain_key_prefix
from etl_models.routing import LANES, Lane
from etl_pipeline.lanes import process_spatial
from etl_pipeline.orchestration import lane_asset, lane_job, manifest_sensor

SPEC = LANES[Lane.SPATIAL]

raw_spatial_asset = lane_asset(
    key=dg.AssetKey([*domain_key_prefix("spatial"), SPEC.asset]),
    runner=process_spatial,
    spatial=True,
    group_name="spatial",
    kinds={"postgis", "geoparquet", "cog"},
    description=(
        "One version of a spatial dataset per batch: vector files loaded into PostGIS, "
        "repaired and reprojected to EPSG:4326, written as GeoParquet 1.1; rasters as COG."
    ),
)

spatial_asset_job = lane_job(
    SPEC.job, raw_spatial_asset, "Processes one spatial batch (vector or raster) into the lake."
)

spatial_sensor = manifest_sensor(
    name=SPEC.sensor,
    job=spatial_asset_job,
    owned_lanes={Lane.SPATIAL},
    partitioned=True,
    description="Takes in ingest_vector / ingest_raster manifests from the landing bucket.",
)
