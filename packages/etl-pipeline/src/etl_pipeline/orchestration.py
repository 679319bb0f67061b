"""Dagster building blocks shared by both code locations.

The code locations stay thin: they declare their assets, ops and jobs and get the manifest
sensors, the run-status sensors, the schema janitor, the resources and the translation of lane
results into Dagster metadata and check results from here. Only code locations import this
module (it imports Dagster); sensors import nothing heavy from it.

No ``from __future__ import annotations`` here: Dagster inspects the real annotations of
sensor and asset functions (context and resource parameters).
"""

import os
from collections.abc import Callable, Collection, Sequence
from typing import Any

import dagster as dg
from etl_instance.heartbeat import RunWorkerHeartbeat, job_heartbeat_tags

from etl_models.cursor import CursorError, ManifestCursor
from etl_models.routing import Lane
from etl_models.settings import RouterSettings
from etl_models.status import RunStatus
from etl_pipeline.intake import DEFAULT_MAX_PER_TICK, evaluate_intake
from etl_pipeline.lanes import TARGET_CRS, BatchRun, LaneError, LaneResult, Services
from etl_pipeline.lifecycle import RunContext, record_run_finished, record_run_started
from etl_pipeline.retries import (
    DEFAULT_MAX_RETRIES,
    retry_run_key,
    retry_run_tags,
    should_retry,
)
from etl_spatial.postgis import PostgisResource
from etl_storage.ledger import Ledger
from etl_storage.object_store import ObjectStore

DATASET_PARTITIONS = dg.DynamicPartitionsDefinition(name="dataset_id")
POSTGIS_POOL = "postgis"

# Network-bound steps retry with backoff; deterministic failures (bad input) raise
# ``dg.Failure(allow_retries=False)`` so they fail at once with their real message.
NETWORK_RETRY = dg.RetryPolicy(
    max_retries=2, delay=5, backoff=dg.Backoff.EXPONENTIAL, jitter=dg.Jitter.PLUS_MINUS
)

CHECK_CRS = "crs_is_epsg4326"
CHECK_GEOMETRIES = "geometries_valid_and_non_empty"
CHECK_ROW_COUNT = "row_count_matches_source"
CHECK_SCHEMA_DRIFT = "schema_drift"

_ACTIVE_STATUSES = [
    dg.DagsterRunStatus.QUEUED,
    dg.DagsterRunStatus.NOT_STARTED,
    dg.DagsterRunStatus.STARTING,
    dg.DagsterRunStatus.STARTED,
    dg.DagsterRunStatus.CANCELING,
]


def _env_int(name: str, default: int, minimum: int = 1) -> int:
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ValueError(f"{name} must be a whole number (got {raw!r})") from None
    if value < minimum:
        raise ValueError(f"{name} must be at least {minimum} (got {value})")
    return value


def sensor_interval_seconds() -> int:
    """How often manifest and run-status sensors tick (``ETL_SENSOR_INTERVAL_SECONDS``, 5)."""
    return _env_int("ETL_SENSOR_INTERVAL_SECONDS", 5)


def platform_resources() -> dict[str, Any]:
    """The resources every location binds; secrets resolve from the environment at run time."""
    return {
        "object_store": ObjectStore.from_env(),
        "ledger": Ledger.from_env(),
        "postgis": PostgisResource.from_env(),
        # Stamps the run's heartbeat tag, so a run whose worker died is failed (and retried)
        # by run monitoring instead of staying STARTED; see etl_instance.heartbeat.
        "run_worker_heartbeat": RunWorkerHeartbeat(),
    }


def heartbeat_job_tags() -> dict[str, str]:
    """Tags of every lane job: its run workers heartbeat every ``ETL_WORKER_HEARTBEAT_SECONDS``
    (default 10); their steps must require the ``run_worker_heartbeat`` resource."""
    return job_heartbeat_tags(_env_int("ETL_WORKER_HEARTBEAT_SECONDS", 10))


# --- manifest sensors ------------------------------------------------------------------------


def manifest_sensor(
    *,
    name: str,
    job: Any,
    owned_lanes: Collection[Lane],
    partitioned: bool,
    traffic_controlled: bool = False,
    description: str,
) -> dg.SensorDefinition:
    """A sensor that takes in the manifests of ``owned_lanes`` and requests ``job`` runs.

    Run requests, the dynamic partitions they need and the cursor are returned together in
    one ``SensorResult``, so they are committed together.
    """
    max_per_tick = _env_int("ETL_SENSOR_MAX_MANIFESTS_PER_TICK", DEFAULT_MAX_PER_TICK)

    @dg.sensor(
        name=name,
        job=job,
        minimum_interval_seconds=sensor_interval_seconds(),
        default_status=dg.DefaultSensorStatus.RUNNING,
        description=description,
    )
    def _manifest_sensor(
        context: dg.SensorEvaluationContext, object_store: ObjectStore, ledger: Ledger
    ) -> dg.SensorResult:
        try:
            cursor = ManifestCursor.parse(context.cursor)
        except CursorError as exc:
            raise dg.Failure(f"{name}: {exc}") from exc
        result = evaluate_intake(
            store=object_store,
            ledger=ledger,
            cursor=cursor,
            owned_lanes=owned_lanes,
            operator=name,
            enabled_lanes=RouterSettings().enabled_lanes if traffic_controlled else None,
            max_per_tick=max_per_tick,
            on_event=context.log.info,
        )
        requests = [
            dg.RunRequest(
                run_key=q.plan.run_key,
                partition_key=q.plan.partition_key if partitioned else None,
                tags=q.plan.tags,
            )
            for q in result.queued
        ]
        partitions = sorted({q.plan.partition_key for q in result.queued})
        return dg.SensorResult(
            run_requests=requests,
            dynamic_partitions_requests=(
                [DATASET_PARTITIONS.build_add_request(partitions)]
                if partitioned and partitions
                else []
            ),
            cursor=result.cursor.serialize(),
            skip_reason=None if requests else dg.SkipReason(result.summary()),
        )

    return _manifest_sensor


# --- run status into the ledger --------------------------------------------------------------


def _run_context(run: dg.DagsterRun) -> RunContext:
    return RunContext(run.run_id, run.job_name, dict(run.tags))


def run_error_text(instance: dg.DagsterInstance, run_id: str, fallback: str | None) -> str:
    """The real error of a failed run: its step failures' messages, else the run failure."""
    records = instance.get_records_for_run(
        run_id, of_type=dg.DagsterEventType.STEP_FAILURE, limit=10
    ).records
    messages = []
    for record in records:
        event = record.event_log_entry.dagster_event
        error = getattr(event.event_specific_data, "error", None) if event else None
        if error is not None:
            text = error.message.strip()
            cause = error.cause
            while cause is not None:
                text += f"\ncaused by: {cause.message.strip()}"
                cause = cause.cause
            messages.append(f"{event.step_key}: {text}")
    return "\n\n".join(messages) or (fallback or "run failed (no error message recorded)")


def run_status_sensors(location: str) -> list[dg.SensorDefinition]:
    """One run-status sensor per concern (start, success, failure, cancelation) for the
    jobs of this location, mirroring each into the ledger and archiving the manifest."""
    interval = sensor_interval_seconds()
    common = {
        "minimum_interval_seconds": interval,
        "default_status": dg.DefaultSensorStatus.RUNNING,
    }

    @dg.run_status_sensor(
        run_status=dg.DagsterRunStatus.STARTED, name=f"{location}_run_started_sensor", **common
    )
    def run_started(context: dg.RunStatusSensorContext, object_store: ObjectStore, ledger: Ledger):
        record_run_started(object_store, ledger, _run_context(context.dagster_run))

    @dg.run_status_sensor(
        run_status=dg.DagsterRunStatus.SUCCESS, name=f"{location}_run_success_sensor", **common
    )
    def run_success(context: dg.RunStatusSensorContext, object_store: ObjectStore, ledger: Ledger):
        record_run_finished(
            object_store, ledger, _run_context(context.dagster_run), RunStatus.SUCCESS
        )

    @dg.run_failure_sensor(name=f"{location}_run_failure_sensor", **common)
    def run_failure(context: dg.RunFailureSensorContext, object_store: ObjectStore, ledger: Ledger):
        run = context.dagster_run
        fallback = context.failure_event.message if context.failure_event else None
        error = run_error_text(context.instance, run.run_id, fallback)
        record_run_finished(object_store, ledger, _run_context(run), RunStatus.FAILURE, error)

    @dg.run_status_sensor(
        run_status=dg.DagsterRunStatus.CANCELED, name=f"{location}_run_canceled_sensor", **common
    )
    def run_canceled(context: dg.RunStatusSensorContext, object_store: ObjectStore, ledger: Ledger):
        record_run_finished(
            object_store, ledger, _run_context(context.dagster_run), RunStatus.CANCELED
        )

    return [run_started, run_success, run_failure, run_canceled]


def run_retry_sensor(location: str, jobs: Sequence[Any]) -> dg.SensorDefinition:
    """Requests a run again when one of ``jobs`` failed for a reason other than its own steps
    (worker killed, lost with its code server, launch or set-up failure), at most
    ``ETL_RUN_MAX_RETRIES`` times (default 2); see ``etl_pipeline.retries``."""
    max_retries = _env_int("ETL_RUN_MAX_RETRIES", DEFAULT_MAX_RETRIES, minimum=0)

    @dg.run_failure_sensor(
        name=f"{location}_run_retry_sensor",
        monitored_jobs=list(jobs),
        request_jobs=list(jobs),
        minimum_interval_seconds=sensor_interval_seconds(),
        default_status=dg.DefaultSensorStatus.RUNNING,
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


# --- janitor ---------------------------------------------------------------------------------


def schema_janitor_sensor(location: str) -> dg.SensorDefinition:
    """Drops ``proc_*`` schemas whose run is no longer active (crashed or killed workers)."""

    @dg.sensor(
        name=f"{location}_schema_janitor",
        minimum_interval_seconds=_env_int("ETL_JANITOR_INTERVAL_SECONDS", 120),
        default_status=dg.DefaultSensorStatus.RUNNING,
        description="Drops PostGIS run schemas (proc_*) of runs that are no longer active.",
    )
    def _janitor(context: dg.SensorEvaluationContext, postgis: PostgisResource):
        records = context.instance.get_run_records(filters=dg.RunsFilter(statuses=_ACTIVE_STATUSES))
        active = {record.dagster_run.run_id for record in records}
        dropped = postgis.drop_orphan_schemas(active)
        for schema in dropped:
            context.log.warning(f"dropped orphan run schema {schema}")
        return dg.SkipReason(f"{len(dropped)} orphan schema(s) dropped, {len(active)} active runs")

    return _janitor


# --- lane results as Dagster metadata and checks ---------------------------------------------


def batch_run(
    context: dg.OpExecutionContext | dg.AssetExecutionContext,
    object_store: ObjectStore,
    ledger: Ledger,
    postgis: PostgisResource,
) -> BatchRun:
    """The lane runners' view of the current Dagster run."""
    return BatchRun(
        services=Services(object_store, ledger, postgis),
        dagster_run_id=context.run.run_id,
        job_name=context.run.job_name,
        tags=dict(context.run.tags),
        log=context.log.info,
    )


def as_failure(exc: Exception) -> dg.Failure:
    """A deterministic processing error as a Dagster failure that is not retried."""
    return dg.Failure(
        description=f"{type(exc).__name__}: {exc}",
        allow_retries=False,
        metadata={"error_type": type(exc).__name__},
    )


def deterministic_errors() -> tuple[type[Exception], ...]:
    """Errors that re-running cannot fix: bad input, broken contracts."""
    from etl_models.manifest import ManifestValidationError
    from etl_pipeline.lanes import LaneError
    from etl_spatial.gdal import GdalError
    from etl_spatial.loader import VectorLoadError
    from etl_spatial.metadata import CogValidationError
    from etl_transforms.errors import TransformError

    return (
        LaneError,
        ManifestValidationError,
        VectorLoadError,
        TransformError,
        CogValidationError,
        GdalError,
    )


def lane_metadata(result: LaneResult) -> dict[str, Any]:
    """``MaterializeResult`` metadata with Dagster's well-known keys."""
    plain = result.materialization_metadata()
    metadata: dict[str, Any] = {
        "dagster/uri": dg.MetadataValue.path(plain["uri"]),
        "dagster/column_schema": dg.TableSchema(
            columns=[dg.TableColumn(name=n, type=t) for n, t in plain["column_schema"]]
        ),
        "dataset_id": plain["dataset_id"],
        "version": plain["version"],
        "content_hash": plain["content_hash"],
        "deduplicated": plain["deduplicated"],
        "crs": plain["crs"] or "none",
        "source_crs": plain["source_crs"] or "unknown",
        "geometry_types": dg.MetadataValue.json(plain["geometry_types"]),
        "bbox": dg.MetadataValue.json(plain["bbox"]),
        "ledger_asset_id": str(result.asset.id),
    }
    if plain["row_count"] is not None:
        metadata["dagster/row_count"] = plain["row_count"]
    if plain["stac_item"]:
        metadata["stac_item"] = dg.MetadataValue.path(plain["stac_item"])
    return metadata


def check_specs(asset_key: dg.AssetKey, *, spatial: bool) -> list[dg.AssetCheckSpec]:
    """The contract checks of a lane asset (blocking) plus schema drift (a warning)."""
    names = [CHECK_ROW_COUNT]
    if spatial:
        names = [CHECK_CRS, CHECK_GEOMETRIES, CHECK_ROW_COUNT]
    specs = [dg.AssetCheckSpec(name, asset=asset_key, blocking=True) for name in names]
    specs.append(dg.AssetCheckSpec(CHECK_SCHEMA_DRIFT, asset=asset_key, blocking=False))
    return specs


def check_results(
    result: LaneResult, specs: Sequence[dg.AssetCheckSpec]
) -> list[dg.AssetCheckResult]:
    """Check results for ``specs`` from the facts the lane runner measured on the output."""
    q, drift = result.quality, result.drift
    out: list[dg.AssetCheckResult] = []
    for spec in specs:
        if spec.name == CHECK_CRS:
            passed = q.crs == TARGET_CRS if q.kind != "raster" else bool(q.crs)
            out.append(
                dg.AssetCheckResult(
                    check_name=spec.name,
                    passed=passed,
                    metadata={"crs": q.crs or "none", "kind": q.kind},
                )
            )
        elif spec.name == CHECK_GEOMETRIES:
            out.append(
                dg.AssetCheckResult(
                    check_name=spec.name,
                    passed=not q.invalid_geometries and not q.empty_geometries,
                    metadata={
                        "invalid": q.invalid_geometries or 0,
                        "empty": q.empty_geometries or 0,
                        "applies": q.kind != "raster",
                    },
                )
            )
        elif spec.name == CHECK_ROW_COUNT:
            out.append(
                dg.AssetCheckResult(
                    check_name=spec.name,
                    passed=q.rows_accounted,
                    metadata={
                        "source_rows": -1 if q.source_rows is None else q.source_rows,
                        "output_rows": q.output_rows,
                        "dropped_on_purpose": q.dropped_rows,
                    },
                )
            )
        elif spec.name == CHECK_SCHEMA_DRIFT:
            out.append(
                dg.AssetCheckResult(
                    check_name=spec.name,
                    passed=not drift.drifted,
                    severity=dg.AssetCheckSeverity.WARN,
                    metadata={
                        "previous_version": drift.previous_version or 0,
                        "added": dg.MetadataValue.json(drift.added),
                        "removed": dg.MetadataValue.json(drift.removed),
                        "retyped": dg.MetadataValue.json(drift.retyped),
                    },
                )
            )
    return out


def materialize(result: LaneResult, specs: Sequence[dg.AssetCheckSpec]) -> dg.MaterializeResult:
    """The ``MaterializeResult`` of a lane asset: metadata plus its check results."""
    return dg.MaterializeResult(
        metadata=lane_metadata(result), check_results=check_results(result, specs)
    )


def lane_asset(
    *,
    key: dg.AssetKey,
    runner: Callable[[BatchRun], LaneResult],
    spatial: bool,
    group_name: str,
    kinds: set[str],
    description: str,
) -> dg.AssetsDefinition:
    """A partitioned lane asset (partition = ``dataset_id``) that runs ``runner`` for the
    batch named by the run's tags and writes straight to the lake (no IO manager)."""
    specs = check_specs(key, spatial=spatial)

    @dg.asset(
        key=key,
        partitions_def=DATASET_PARTITIONS,
        check_specs=specs,
        pool=POSTGIS_POOL,
        retry_policy=NETWORK_RETRY,
        group_name=group_name,
        kinds=kinds,
        description=description,
    )
    def _lane_asset(
        context: dg.AssetExecutionContext,
        object_store: ObjectStore,
        ledger: Ledger,
        postgis: PostgisResource,
        run_worker_heartbeat: RunWorkerHeartbeat,  # required so that the worker heartbeats
    ) -> dg.MaterializeResult:
        run = batch_run(context, object_store, ledger, postgis)
        try:
            manifest = run.manifest()
            if manifest.dataset_id != context.partition_key:
                raise LaneError(
                    f"partition {context.partition_key!r} does not match the batch's dataset "
                    f"{manifest.dataset_id!r}; runs are requested by the manifest sensors"
                )
            result = runner(run)
        except deterministic_errors() as exc:
            raise as_failure(exc) from exc
        return materialize(result, specs)

    return _lane_asset


def lane_job(name: str, asset: dg.AssetsDefinition, description: str) -> Any:
    """A single-asset, partitioned job run in process (one step: no per-step subprocess)."""
    return dg.define_asset_job(
        name=name,
        selection=dg.AssetSelection.assets(asset),
        executor_def=dg.in_process_executor,
        tags=heartbeat_job_tags(),
        description=description,
    )


GDAL_HEALTH_TOOLS = ("gdalinfo", "ogr2ogr")
"""The GDAL tools every lane shells out to; both must answer ``--version``."""


def gdal_health_metadata(log: Any) -> dict[str, Any]:
    """``<tool> --version`` of each GDAL tool as metadata, or a ``dg.Failure`` saying why not.

    A missing or broken install does not fix itself, so the failure is not retried.
    """
    from etl_spatial.gdal import GdalError, GdalToolMissing, gdal_tool_versions

    try:
        versions = gdal_tool_versions(GDAL_HEALTH_TOOLS)
    except GdalError as exc:
        raise dg.Failure(
            description=f"GDAL health check failed: {exc}",
            metadata={"tool": exc.tool or "", "tool_missing": isinstance(exc, GdalToolMissing)},
            allow_retries=False,
        ) from exc
    for tool, version in versions.items():
        log.info(f"{tool}: {version}")
    return {f"{tool}_version": dg.MetadataValue.text(v) for tool, v in versions.items()}
