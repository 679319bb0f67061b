"""Run-status sensors and the schema janitor of ``asset_lanes``, evaluated with
``build_run_status_sensor_context`` / ``build_sensor_context`` on runs of a test instance:
real lane-job runs (success, failure with GDAL's own error) and runs created in the instance
(started, canceled), mirrored into the real ledger."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from typing import Any

import dagster as dg
import pytest

from asset_lanes.defs.platform.health import asset_lanes_gdal_health_job, gdal_health
from etl_devstack.services import drop_database, ensure_postgis_database
from etl_models.status import ManifestStatus, RunStatus
from etl_pipeline.orchestration.platform import build_location
from etl_pipeline.orchestration.resources import PostgisResource
from etl_spatial.identifiers import quote_identifier
from etl_spatial.postgis import Postgis, schema_name_for_run

ASSET_LANES = build_location("asset_lanes")
asset_lanes_run_canceled_sensor = ASSET_LANES.sensor("asset_lanes_run_canceled_sensor")
asset_lanes_run_failure_sensor = ASSET_LANES.sensor("asset_lanes_run_failure_sensor")
asset_lanes_run_retry_sensor = ASSET_LANES.sensor("asset_lanes_run_retry_sensor")
asset_lanes_run_started_sensor = ASSET_LANES.sensor("asset_lanes_run_started_sensor")
asset_lanes_run_success_sensor = ASSET_LANES.sensor("asset_lanes_run_success_sensor")
asset_lanes_schema_janitor = ASSET_LANES.sensor("asset_lanes_schema_janitor")
raw_spatial_asset = ASSET_LANES.asset("spatial")
spatial_asset_job = ASSET_LANES.job("spatial_asset_job")
spatial_sensor = ASSET_LANES.sensor("spatial_sensor")

pytestmark = pytest.mark.integration

GEOJSON = json.dumps(
    {
        "type": "FeatureCollection",
        "features": [
            {
                "type": "Feature",
                "properties": {"id": i},
                "geometry": {"type": "Point", "coordinates": [144.9 + i / 100, -37.8]},
            }
            for i in range(3)
        ],
    }
)
CORRUPT = b'{"type": "FeatureCollection", "features": ['


def _job(lanes, name: str) -> dg.JobDefinition:
    """A job of the location resolved with the test resources, as the code server resolves it."""
    return dg.Definitions(
        assets=[raw_spatial_asset, gdal_health],
        jobs=[spatial_asset_job, asset_lanes_gdal_health_job],
        resources=lanes.resources,
    ).resolve_job_def(name)


def _requested(lanes, batch_id: str, body: bytes | str = GEOJSON) -> dg.RunRequest:
    lanes.submit(
        batch_id,
        "ingest_vector",
        {"data.geojson": ("vector", body)},
        dataset_id=batch_id,  # batch ids here are valid dataset ids too
    )
    (request,) = lanes.tick(spatial_sensor).run_requests
    return request


def _execute(lanes, request: dg.RunRequest) -> dg.ExecuteInProcessResult:
    """The lane job run for a sensor's request, in process, in the test instance."""
    return _job(lanes, "spatial_asset_job").execute_in_process(
        instance=lanes.instance,
        partition_key=request.partition_key,
        tags=request.tags,
        raise_on_error=False,
    )


def _created_run(lanes, request: dg.RunRequest | None, job: str = "spatial_asset_job"):
    """A run in the instance that the daemon would launch; not executed."""
    return lanes.instance.create_run_for_job(
        job_def=_job(lanes, job), tags=request.tags if request else None
    )


def _report_start(lanes, run: dg.DagsterRun) -> None:
    lanes.instance.report_dagster_event(
        dg.DagsterEvent(
            event_type_value=dg.DagsterEventType.RUN_START.value, job_name=run.job_name
        ),
        run_id=run.run_id,
    )


def _evaluate(lanes, sensor, run_id: str, event_type: dg.DagsterEventType) -> Any:
    """Evaluate a run-status sensor on the run's stored event, like the daemon does."""
    (record,) = lanes.instance.get_records_for_run(run_id, of_type=event_type).records
    run = lanes.instance.get_run_by_id(run_id)
    with dg.build_run_status_sensor_context(
        sensor_name=sensor.name,
        dagster_event=record.event_log_entry.dagster_event,
        dagster_instance=lanes.instance,
        dagster_run=run,
        resources=lanes.resources,
    ) as context:
        if event_type == dg.DagsterEventType.RUN_FAILURE:
            return sensor(context.for_run_failure())
        return sensor(context)


def test_started_sensor_marks_running_and_archives(lanes) -> None:
    request = _requested(lanes, "start_1")
    run = _created_run(lanes, request)
    _report_start(lanes, run)
    assert lanes.instance.get_run_by_id(run.run_id).status == dg.DagsterRunStatus.STARTED

    _evaluate(lanes, asset_lanes_run_started_sensor, run.run_id, dg.DagsterEventType.RUN_START)

    record = lanes.ledger.get_run(run.run_id)
    assert record.status == RunStatus.RUNNING and record.batch_id == "start_1"
    assert record.lane == "spatial" and record.job_name == "spatial_asset_job"
    manifest = lanes.ledger.get_manifest("start_1")
    assert manifest.status == ManifestStatus.RUNNING
    key = request.tags["manifest_key"]
    assert not lanes.store.landing_object_exists(key)
    assert lanes.store.landing_object_exists(request.tags["manifest_archive_key"])
    assert manifest.archive_key == request.tags["manifest_archive_key"]

    # The daemon may evaluate the same event again: nothing changes.
    _evaluate(lanes, asset_lanes_run_started_sensor, run.run_id, dg.DagsterEventType.RUN_START)
    assert len(lanes.ledger.runs_for_batch("start_1")) == 1


def test_success_sensor_mirrors_a_real_successful_run(lanes) -> None:
    request = _requested(lanes, "ok_1")
    result = _execute(lanes, request)
    assert result.success
    # The lane job selects the asset with its checks: all evaluated in the one step.
    evaluations = {e.check_name: e.passed for e in result.get_asset_check_evaluations()}
    assert len(evaluations) == 4 and all(evaluations.values())

    _evaluate(lanes, asset_lanes_run_started_sensor, result.run_id, dg.DagsterEventType.RUN_START)
    _evaluate(lanes, asset_lanes_run_success_sensor, result.run_id, dg.DagsterEventType.RUN_SUCCESS)

    record = lanes.ledger.get_run(result.run_id)
    assert record.status == RunStatus.SUCCESS and record.error is None
    assert record.finished_at is not None and record.produced_assets
    manifest = lanes.ledger.get_manifest("ok_1")
    assert manifest.status == ManifestStatus.SUCCESS
    assert [c.status for c in manifest.status_history][-2:] == ["running", "success"]
    assert not lanes.store.landing_object_exists(request.tags["manifest_key"])


def test_failure_sensor_records_the_real_step_error(lanes) -> None:
    request = _requested(lanes, "bad_1", CORRUPT)
    result = _execute(lanes, request)
    assert not result.success

    _evaluate(lanes, asset_lanes_run_failure_sensor, result.run_id, dg.DagsterEventType.RUN_FAILURE)

    record = lanes.ledger.get_run(result.run_id)
    assert record.status == RunStatus.FAILURE
    # The error GDAL itself reported, not Dagster's "Steps failed" summary.
    assert "Unterminated array" in record.error
    # One sentence for the uploader; the step, classes and causes only in the detail.
    assert record.error.startswith("files[0] (s3://") and "Error:" not in record.error
    assert "asset_lanes__spatial__raw_spatial_asset" not in record.error
    assert "asset_lanes__spatial__raw_spatial_asset" in record.error_detail
    assert "VectorLoadError" in record.error_detail
    manifest = lanes.ledger.get_manifest("bad_1")
    assert manifest.status == ManifestStatus.FAILURE and "Unterminated array" in manifest.error
    assert lanes.store.landing_object_exists(request.tags["manifest_archive_key"])
    assert not lanes.run_schema_exists(result.run_id)


def test_failure_sensor_tells_a_platform_defect_from_bad_input(lanes, monkeypatch) -> None:
    """A defect in the platform's code fails the run with a sentence that does not blame the
    batch, and the ledger keeps the traceback that names where it is."""
    import etl_spatial.loader

    def defect(*args: Any, **kwargs: Any) -> None:
        return [].items()  # the class of defect: a value of the wrong type

    monkeypatch.setattr(etl_spatial.loader, "load_vector", defect)
    request = _requested(lanes, "defect_1")
    result = _execute(lanes, request)
    assert not result.success

    _evaluate(lanes, asset_lanes_run_failure_sensor, result.run_id, dg.DagsterEventType.RUN_FAILURE)

    record = lanes.ledger.get_run(result.run_id)
    assert record.status == RunStatus.FAILURE
    assert record.error.startswith("the platform failed on an internal error (AttributeError: ")
    assert "not on the batch" in record.error and "Traceback" not in record.error
    assert "traceback of AttributeError" in record.error_detail
    assert "in defect" in record.error_detail and "[].items()" in record.error_detail
    assert lanes.ledger.get_manifest("defect_1").error == record.error


def test_retry_sensor_requests_a_run_lost_with_its_worker_and_the_retry_succeeds(lanes) -> None:
    """A started run failed from outside (as run monitoring fails a run whose worker stopped
    heartbeating): the retry sensor requests it again, and that request runs to v1."""
    request = _requested(lanes, "lost_1")
    tags = {**request.tags, "dagster/partition": request.partition_key}
    run = lanes.instance.create_run_for_job(job_def=_job(lanes, "spatial_asset_job"), tags=tags)
    _report_start(lanes, run)
    lanes.instance.report_run_failed(run, "the run worker stopped heartbeating")
    _evaluate(lanes, asset_lanes_run_failure_sensor, run.run_id, dg.DagsterEventType.RUN_FAILURE)
    assert lanes.ledger.get_manifest("lost_1").status == ManifestStatus.FAILURE

    retry = _evaluate(
        lanes, asset_lanes_run_retry_sensor, run.run_id, dg.DagsterEventType.RUN_FAILURE
    )
    assert isinstance(retry, dg.RunRequest), retry
    assert retry.run_key == f"retry:{run.run_id}"
    assert retry.job_name == "spatial_asset_job" and retry.partition_key == "lost_1"
    assert retry.tags["batch_id"] == "lost_1" and retry.tags["etl/retry_of"] == run.run_id
    assert retry.tags["etl/retry_number"] == "1"
    assert not any(k.startswith("dagster/") for k in retry.tags), retry.tags

    result = _execute(lanes, retry)
    assert result.success
    success = dg.DagsterEventType.RUN_SUCCESS
    _evaluate(lanes, asset_lanes_run_success_sensor, result.run_id, success)
    assert lanes.ledger.get_manifest("lost_1").status == ManifestStatus.SUCCESS
    assert [r.status for r in lanes.ledger.runs_for_batch("lost_1")] == [
        RunStatus.FAILURE, RunStatus.SUCCESS,
    ]  # fmt: skip
    assert lanes.ledger.versions("lost_1") == [1]

    # The retry's own loss is retried once more; a third is not (ETL_RUN_MAX_RETRIES = 2).
    again = {**retry.tags, "etl/retry_number": "2", "dagster/partition": "lost_1"}
    last = lanes.instance.create_run_for_job(job_def=_job(lanes, "spatial_asset_job"), tags=again)
    lanes.instance.report_run_failed(last)
    skipped = _evaluate(
        lanes, asset_lanes_run_retry_sensor, last.run_id, dg.DagsterEventType.RUN_FAILURE
    )
    assert isinstance(skipped, dg.SkipReason), skipped


def test_retry_sensor_does_not_retry_a_step_failure(lanes) -> None:
    result = _execute(lanes, _requested(lanes, "bad_2", CORRUPT))
    assert not result.success
    run = lanes.instance.get_run_by_id(result.run_id)
    assert run.tags.get("dagster/failure_reason") == "STEP_FAILURE"
    skipped = _evaluate(
        lanes, asset_lanes_run_retry_sensor, result.run_id, dg.DagsterEventType.RUN_FAILURE
    )
    assert isinstance(skipped, dg.SkipReason) and "step failure" in skipped.skip_message


def test_canceled_sensor_records_a_run_canceled_before_it_started(lanes) -> None:
    request = _requested(lanes, "cancel_1")
    run = _created_run(lanes, request)
    lanes.instance.report_run_canceled(run)

    _evaluate(lanes, asset_lanes_run_canceled_sensor, run.run_id, dg.DagsterEventType.RUN_CANCELED)

    assert lanes.ledger.get_run(run.run_id).status == RunStatus.CANCELED
    assert lanes.ledger.get_manifest("cancel_1").status == ManifestStatus.CANCELED
    # It never started, so nothing archived it before: the canceled sensor does.
    assert not lanes.store.landing_object_exists(request.tags["manifest_key"])
    assert lanes.store.landing_object_exists(request.tags["manifest_archive_key"])


def test_runs_without_batch_tags_are_ignored(lanes) -> None:
    health = _job(lanes, "asset_lanes_gdal_health_job").execute_in_process(instance=lanes.instance)
    assert health.success
    failed = _created_run(lanes, None, "asset_lanes_gdal_health_job")
    lanes.instance.report_run_failed(failed)
    canceled = _created_run(lanes, None, "asset_lanes_gdal_health_job")
    lanes.instance.report_run_canceled(canceled)

    started_type, success_type = dg.DagsterEventType.RUN_START, dg.DagsterEventType.RUN_SUCCESS
    _evaluate(lanes, asset_lanes_run_started_sensor, health.run_id, started_type)
    _evaluate(lanes, asset_lanes_run_success_sensor, health.run_id, success_type)
    _evaluate(lanes, asset_lanes_run_failure_sensor, failed.run_id, dg.DagsterEventType.RUN_FAILURE)
    _evaluate(
        lanes, asset_lanes_run_canceled_sensor, canceled.run_id, dg.DagsterEventType.RUN_CANCELED
    )

    assert lanes.ledger.db["runs"].count_documents({}) == 0
    assert lanes.ledger.db["manifests"].count_documents({}) == 0


# --- janitor ---------------------------------------------------------------------------------


@pytest.fixture
def janitor_postgis(postgis_service) -> Iterator[Postgis]:
    """PostGIS compute on a database of its own: the janitor drops every orphan ``proc_*``
    schema it sees, and other test sessions may be working in the shared test database."""
    database = f"janitor_test_{uuid.uuid4().hex[:10]}"
    server = {
        "host": postgis_service.host,
        "port": postgis_service.port,
        "user": postgis_service.user,
        "password": postgis_service.password,
    }
    ensure_postgis_database(database, postgis=False, **server)
    try:
        yield Postgis(database=database, **server)
    finally:
        drop_database(database, **server)


def _orphan_schema(postgis: Postgis, run_id: str) -> str:
    """A run schema with a table in it, left behind as by a worker killed mid-run."""
    from psycopg import sql

    schema = schema_name_for_run(run_id)
    with postgis.connect(autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE SCHEMA {}").format(quote_identifier(schema)))
        conn.execute(sql.SQL("CREATE TABLE {} (id int)").format(quote_identifier(schema, "loaded")))
    return schema


def _schemas(postgis: Postgis) -> set[str]:
    return {info.schema for info in postgis.list_run_schemas()}


def test_janitor_drops_orphans_and_keeps_schemas_of_active_runs(
    lanes, janitor_postgis: Postgis
) -> None:
    active = _created_run(lanes, None, "asset_lanes_gdal_health_job")
    _report_start(lanes, active)  # STARTED: a worker is using its schema right now
    finished = _job(lanes, "asset_lanes_gdal_health_job").execute_in_process(
        instance=lanes.instance
    )
    kept = _orphan_schema(janitor_postgis, active.run_id)
    crashed = _orphan_schema(janitor_postgis, str(uuid.uuid4()))  # run unknown to the instance
    done = _orphan_schema(janitor_postgis, finished.run_id)  # run over, schema left behind
    assert _schemas(janitor_postgis) == {kept, crashed, done}

    with dg.build_sensor_context(
        instance=lanes.instance, resources={"postgis": PostgisResource.like(janitor_postgis)}
    ) as context:
        outcome = asset_lanes_schema_janitor(context)

    assert _schemas(janitor_postgis) == {kept}
    assert isinstance(outcome, dg.SkipReason)
    assert outcome.skip_message.startswith("2 orphan schema(s) dropped")

    # Once that run is over, its schema goes too.
    lanes.instance.report_run_canceled(lanes.instance.get_run_by_id(active.run_id))
    with dg.build_sensor_context(
        instance=lanes.instance, resources={"postgis": PostgisResource.like(janitor_postgis)}
    ) as context:
        asset_lanes_schema_janitor(context)
    assert _schemas(janitor_postgis) == set()
