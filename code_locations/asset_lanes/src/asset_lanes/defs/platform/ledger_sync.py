"""Run status mirrored into the ledger, retries of runs lost for reasons other than their own
steps, and the janitor of PostGIS run schemas."""

from asset_lanes.defs.join.lane import join_asset_job
from asset_lanes.defs.spatial.lane import spatial_asset_job
from asset_lanes.defs.tabular.lane import tabular_asset_job
from etl_pipeline.orchestration import run_retry_sensor, run_status_sensors, schema_janitor_sensor

LOCATION = "asset_lanes"

(
    asset_lanes_run_started_sensor,
    asset_lanes_run_success_sensor,
    asset_lanes_run_failure_sensor,
    asset_lanes_run_canceled_sensor,
) = run_status_sensors(LOCATION)

asset_lanes_run_retry_sensor = run_retry_sensor(
    LOCATION, [spatial_asset_job, tabular_asset_job, join_asset_job]
)

asset_lanes_schema_janitor = schema_janitor_sensor(LOCATION)
