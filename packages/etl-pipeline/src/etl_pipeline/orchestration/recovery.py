"""Recovery after failures that are not the batch's: runs retried when their worker was lost,
and the PostGIS run schemas of runs that died dropped."""

from collections.abc import Sequence

import dagster as dg

from etl_pipeline.orchestration.resources import PostgisResource
from etl_pipeline.orchestration.settings import (
    automation_sensor_status,
    env_int,
    sensor_interval_seconds,
)
from etl_pipeline.retries import DEFAULT_MAX_RETRIES, retry_run_key, retry_run_tags, should_retry

_ACTIVE_STATUSES = [
    dg.DagsterRunStatus.QUEUED,
    dg.DagsterRunStatus.NOT_STARTED,
    dg.DagsterRunStatus.STARTING,
    dg.DagsterRunStatus.STARTED,
    dg.DagsterRunStatus.CANCELING,
]


def run_retry_sensor(location: str, jobs: Sequence[object]) -> dg.SensorDefinition:
    """Requests a run again when one of ``jobs`` failed for a reason other than its own steps
    (worker killed, lost with its code server, launch or set-up failure), at most
    ``ETL_RUN_MAX_RETRIES`` times (default 2); see ``etl_pipeline.retries``."""
    max_retries = env_int("ETL_RUN_MAX_RETRIES", DEFAULT_MAX_RETRIES, minimum=0)

    @dg.run_failure_sensor(
        name=f"{location}_run_retry_sensor",
        monitored_jobs=list(jobs),
        request_jobs=list(jobs),
        minimum_interval_seconds=sensor_interval_seconds(),
        default_status=automation_sensor_status(),
        description=(
            "Retries runs that failed for a reason other than their own steps (worker lost, "
            "launch or set-up failure), at most ETL_RUN_MAX_RETRIES times."
        ),
    )
    def _retry(context: dg.RunFailureSensorContext):
        run = context.dagster_run
        if not should_retry(run.tags, max_retries):
            return dg.SkipReason(
                f"run {run.run_id} is not retried (step failure or no attempts left)"
            )
        context.log.info(f"retrying run {run.run_id} of {run.job_name}")
        return dg.RunRequest(
            run_key=retry_run_key(run.run_id),
            job_name=run.job_name,
            partition_key=run.tags.get("dagster/partition"),
            tags=retry_run_tags(run.run_id, run.tags),
        )

    return _retry


def schema_janitor_sensor(location: str) -> dg.SensorDefinition:
    """Drops ``proc_*`` schemas whose run is no longer active (crashed or killed workers)."""

    @dg.sensor(
        name=f"{location}_schema_janitor",
        minimum_interval_seconds=env_int("ETL_JANITOR_INTERVAL_SECONDS", 120),
        default_status=automation_sensor_status(),
        description="Drops PostGIS run schemas (proc_*) of runs that are no longer active.",
    )
    def _janitor(context: dg.SensorEvaluationContext, postgis: PostgisResource):
        records = context.instance.get_run_records(filters=dg.RunsFilter(statuses=_ACTIVE_STATUSES))
        active = {record.dagster_run.run_id for record in records}
        dropped = postgis.get_client().drop_orphan_schemas(active)
        for schema in dropped:
            context.log.warning(f"dropped orphan run schema {schema}")
        return dg.SkipReason(f"{len(dropped)} orphan schema(s) dropped, {len(active)} active runs")

    return _janitor
