"""The tabular lane: ``tabular_sensor`` -> ``tabular_asset_job`` -> ``raw_tabular_asset``."""

import dagster as dg

from asset_lanes.asset_keys import domain_key_prefix
from etl_models.routing import LANES, Lane
from etl_pipeline.lanes import process_tabular
from etl_pipeline.orchestration import lane_asset, lane_job, manifest_sensor

SPEC = LANES[Lane.TABULAR]

raw_tabular_asset = lane_asset(
    key=dg.AssetKey([*domain_key_prefix("tabular"), SPEC.asset]),
    runner=process_tabular,
    spatial=False,
    group_name="tabular",
    kinds={"csv", "parquet"},
    description=(
        "One version of a tabular dataset per batch: a CSV streamed to Parquet with headers "
        "normalised (mapping kept) and leading-zero codes kept as text."
    ),
)

tabular_asset_job = lane_job(SPEC.job, raw_tabular_asset, "Processes one tabular batch.")

tabular_sensor = manifest_sensor(
    name=SPEC.sensor,
    job=tabular_asset_job,
    owned_lanes={Lane.TABULAR},
    partitioned=True,
    description="Takes in ingest_tabular manifests from the landing bucket.",
)
