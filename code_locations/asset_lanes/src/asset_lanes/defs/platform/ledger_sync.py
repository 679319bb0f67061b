"""Run status mirrored into the ledger, and the janitor of PostGIS run schemas."""

from etl_pipeline.orchestration import run_status_sensors, schema_janitor_sensor

LOCATION = "asset_lanes"

(
    asset_lanes_run_started_sensor,
    asset_lanes_run_success_sensor,
    asset_lanes_run_failure_sensor,
    asset_lanes_run_canceled_sensor,
) = run_status_sensors(LOCATION)

asset_lanes_schema_janitor = schema_janitor_sensor(LOCATION)
