"""Run status mirrored into the ledger, retries of runs lost for reasons other than their own
steps, and the janitor of PostGIS run schemas."""

from etl_pipeline.orchestration import run_retry_sensor, run_status_sensors, schema_janitor_sensor
from legacy_ingest.defs.ingest.job import ingest_job

LOCATION = "legacy_ingest"

(
    legacy_ingest_run_started_sensor,
    legacy_ingest_run_success_sensor,
    legacy_ingest_run_failure_sensor,
    legacy_ingest_run_canceled_sensor,
) = run_status_sensors(LOCATION)

legacy_ingest_run_retry_sensor = run_retry_sensor(LOCATION, [ingest_job])

legacy_ingest_schema_janitor = schema_janitor_sensor(LOCATION)
