"""A lane served as Dagster definitions: its partitioned asset (or, for the legacy lane, its
op job recording the same materialization), its job and its manifest sensor."""

from dataclasses import dataclass

import dagster as dg
from etl_instance.heartbeat import RunWorkerHeartbeat

from etl_pipeline.lanes.batch import BatchRun, Services, begin
from etl_pipeline.lanes.contract import LaneError
from etl_pipeline.lanes.declaration import Lane
from etl_pipeline.lanes.template import run_lane
from etl_pipeline.orchestration.intake_sensor import manifest_sensor
from etl_pipeline.orchestration.resources import (
    LedgerResource,
    ObjectStoreResource,
    PostgisResource,
)
from etl_pipeline.orchestration.results import (
    check_results,
    check_specs,
    lane_metadata,
    no_retry_when_permanent,
)
from etl_pipeline.orchestration.settings import heartbeat_job_tags

# Operational failures (timeouts, lost connections) retry with backoff; permanent ones (bad
# input, a missing raw file: ``etl_pipeline.failures.is_permanent``) raise
# ``dg.Failure(allow_retries=False)`` so they fail at once with a message for the uploader.
NETWORK_RETRY = dg.RetryPolicy(
    max_retries=2, delay=5, backoff=dg.Backoff.EXPONENTIAL, jitter=dg.Jitter.PLUS_MINUS
)


@dataclass(frozen=True)
class LaneDefinitions:
    """What Dagster serves for one lane."""

    lane: Lane
    assets: list
    job: object
    sensor: dg.SensorDefinition


def asset_key(lane: Lane) -> dg.AssetKey:
    """``[code location, lane, asset]``: unique across the deployment's shared instance."""
    return dg.AssetKey([lane.code_location, lane.name, lane.asset])


def batch_run(
    context: dg.OpExecutionContext | dg.AssetExecutionContext,
    object_store: ObjectStoreResource,
    ledger: LedgerResource,
    postgis: PostgisResource,
) -> BatchRun:
    """The lane runner's view of the current Dagster run."""
    return BatchRun(
        services=Services(object_store.get_client(), ledger.get_client(), postgis.get_client()),
        dagster_run_id=context.run.run_id,
        job_name=context.run.job_name,
        tags=dict(context.run.tags),
        log=context.log.info,
    )


def _lane_asset(lane: Lane, partitions: dg.DynamicPartitionsDefinition) -> dg.AssetsDefinition:
    key = asset_key(lane)
    specs = check_specs(key, lane.checks)

    @dg.asset(
        key=key,
        partitions_def=partitions,
        check_specs=specs,
        retry_policy=NETWORK_RETRY,
        group_name=lane.name,
        kinds=set(lane.asset_kinds),
        description=lane.description,
    )
    def _asset(
        context: dg.AssetExecutionContext,
        object_store: ObjectStoreResource,
        ledger: LedgerResource,
        postgis: PostgisResource,
        run_worker_heartbeat: RunWorkerHeartbeat,  # required so that the worker heartbeats
    ) -> dg.MaterializeResult:
        run = batch_run(context, object_store, ledger, postgis)
        with no_retry_when_permanent():
            manifest = run.manifest()
            if manifest.dataset_id != context.partition_key:
                raise LaneError(
                    f"partition {context.partition_key!r} does not match the batch's dataset "
                    f"{manifest.dataset_id!r}; runs are requested by the manifest sensors"
                )
            result = run_lane(run, lane, manifest)
        return dg.MaterializeResult(
            metadata=lane_metadata(result), check_results=check_results(result, lane.checks)
        )

    return _asset


def _asset_lane(lane: Lane) -> LaneDefinitions:
    partitions = dg.DynamicPartitionsDefinition(name=lane.partitions_name)
    asset = _lane_asset(lane, partitions)
    job = dg.define_asset_job(
        name=lane.job,
        selection=dg.AssetSelection.assets(asset),
        executor_def=dg.in_process_executor,  # one step: no per-step subprocess
        tags=heartbeat_job_tags(),
        description=f"Processes one {lane.name} batch into the lake.",
    )
    return LaneDefinitions(lane, [asset], job, manifest_sensor(lane, job, partitions))


def _op_job_lane(lane: Lane) -> LaneDefinitions:
    """The legacy shape: ``record_batch`` -> ``ingest_batch`` ops. The ingest op records an
    ``AssetMaterialization`` of the lane's asset for the dataset's partition, with the same
    metadata as the asset lanes, so legacy datasets appear in the catalog too."""
    partitions = dg.DynamicPartitionsDefinition(name=lane.partitions_name)
    key = asset_key(lane)
    spec = dg.AssetSpec(
        key,
        partitions_def=partitions,
        group_name=lane.name,
        kinds=set(lane.asset_kinds),
        description=lane.description,
    )

    @dg.op(name="record_batch", out=dg.Out(dg.Nothing), retry_policy=NETWORK_RETRY)
    def record_batch(
        context: dg.OpExecutionContext,
        object_store: ObjectStoreResource,
        ledger: LedgerResource,
        postgis: PostgisResource,
        run_worker_heartbeat: RunWorkerHeartbeat,  # required so that the worker heartbeats
    ) -> None:
        """Record the run and the manifest's ``running`` state, archive the manifest."""
        run = batch_run(context, object_store, ledger, postgis)
        with no_retry_when_permanent():
            manifest = begin(run)
        context.add_output_metadata(
            {
                "batch_id": manifest.batch_id,
                "intent": manifest.intent,
                "dataset_id": manifest.dataset_id,
            }
        )

    @dg.op(
        name="ingest_batch",
        ins={"recorded": dg.In(dg.Nothing)},
        retry_policy=NETWORK_RETRY,
    )
    def ingest_batch(
        context: dg.OpExecutionContext,
        object_store: ObjectStoreResource,
        ledger: LedgerResource,
        postgis: PostgisResource,
        run_worker_heartbeat: RunWorkerHeartbeat,  # required so that the worker heartbeats
    ) -> dg.Output[None]:
        """Load to PostGIS, transform with the intent's recipe, export to the lake, register."""
        run = batch_run(context, object_store, ledger, postgis)
        with no_retry_when_permanent():
            result = run_lane(run, lane)
        metadata = lane_metadata(result)
        context.log_event(
            dg.AssetMaterialization(
                asset_key=key, partition=result.asset.dataset_id, metadata=metadata
            )
        )
        return dg.Output(None, metadata=metadata)

    @dg.job(
        name=lane.job,
        executor_def=dg.in_process_executor,
        tags=heartbeat_job_tags(),
        description=f"Legacy op-based ingest of one batch ({lane.name} lane).",
    )
    def _job() -> None:
        ingest_batch(record_batch())

    return LaneDefinitions(lane, [spec], _job, manifest_sensor(lane, _job, partitions))


def lane_definitions(lane: Lane) -> LaneDefinitions:
    return _asset_lane(lane) if lane.dagster_style == "asset" else _op_job_lane(lane)
