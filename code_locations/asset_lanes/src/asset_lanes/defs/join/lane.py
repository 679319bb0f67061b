"""The join lane: ``join_sensor`` -> ``join_asset_job`` -> ``joined_spatial_asset``."""

import dagster as dg

from asset_lanes.asset_keys import domain_key_prefix
from etl_models.routing import LANES, Lane
from etl_pipeline.lanes import process_join
from etl_pipeline.orchestration import lane_asset, lane_job, manifest_sensor

SPEC = LANES[Lane.JOIN]

joined_spatial_asset = lane_asset(
    key=dg.AssetKey([*domain_key_prefix("join"), SPEC.asset]),
    runner=process_join,
    spatial=True,
    group_name="join",
    kinds={"postgis", "geoparquet"},
    description=(
        "A tabular dataset (left side) joined onto a spatial dataset by key in PostGIS; keeps "
        "the geometry and every attribute of both sides, records versions used and match rate."
    ),
)

join_asset_job = lane_job(SPEC.job, joined_spatial_asset, "Processes one join batch.")

join_sensor = manifest_sensor(
    name=SPEC.sensor,
    job=join_asset_job,
    owned_lanes={Lane.JOIN},
    partitioned=True,
    description="Takes in join_datasets manifests from the landing bucket.",
)
