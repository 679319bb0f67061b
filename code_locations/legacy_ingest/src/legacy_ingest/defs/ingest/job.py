"""``manifest_sensor`` (the legacy traffic controller) -> op-based ``ingest_job``.

The ops call the same lane runners as the asset lanes: the recipe comes from the intent
(the default recipe for unknown intents) and the runner is chosen by the batch's content.
"""

import dagster as dg
from etl_instance.heartbeat import RunWorkerHeartbeat

from etl_models.routing import LANES, Lane
from etl_pipeline.lanes import begin, process_batch
from etl_pipeline.orchestration import (
    NETWORK_RETRY,
    POSTGIS_POOL,
    as_failure,
    batch_run,
    deterministic_errors,
    heartbeat_job_tags,
    lane_metadata,
    manifest_sensor,
)
from etl_spatial.postgis import PostgisResource
from etl_storage.ledger import Ledger
from etl_storage.object_store import ObjectStore

SPEC = LANES[Lane.INGEST]


@dg.op(out=dg.Out(dg.Nothing), retry_policy=NETWORK_RETRY)
def record_batch(
    context: dg.OpExecutionContext,
    object_store: ObjectStore,
    ledger: Ledger,
    postgis: PostgisResource,
    run_worker_heartbeat: RunWorkerHeartbeat,  # required so that the worker heartbeats
) -> None:
    """Record the run and the manifest's ``running`` state in the ledger, archive the manifest."""
    run = batch_run(context, object_store, ledger, postgis)
    try:
        manifest = begin(run)
    except deterministic_errors() as exc:
        raise as_failure(exc) from exc
    context.add_output_metadata(
        {
            "batch_id": manifest.batch_id,
            "intent": manifest.intent,
            "dataset_id": manifest.dataset_id,
        }
    )


@dg.op(ins={"recorded": dg.In(dg.Nothing)}, pool=POSTGIS_POOL, retry_policy=NETWORK_RETRY)
def ingest_batch(
    context: dg.OpExecutionContext,
    object_store: ObjectStore,
    ledger: Ledger,
    postgis: PostgisResource,
    run_worker_heartbeat: RunWorkerHeartbeat,  # required so that the worker heartbeats
) -> dg.Output[None]:
    """Load to PostGIS, transform with the intent's recipe, export to the lake, register."""
    run = batch_run(context, object_store, ledger, postgis)
    try:
        result = process_batch(run)
    except deterministic_errors() as exc:
        raise as_failure(exc) from exc
    return dg.Output(None, metadata=lane_metadata(result))


@dg.job(
    name=SPEC.job,
    executor_def=dg.in_process_executor,
    tags=heartbeat_job_tags(),
    description="Legacy op-based ingest of one batch (intents no asset lane owns).",
)
def ingest_job() -> None:
    ingest_batch(record_batch())


legacy_manifest_sensor = manifest_sensor(
    name=SPEC.sensor,
    job=ingest_job,
    owned_lanes={Lane.INGEST},
    partitioned=False,
    traffic_controlled=True,
    description=(
        "Legacy traffic controller: takes in manifests of the ingest lane; launches ingest_job "
        "only when MANIFEST_ROUTER_ENABLED_LANES enables the lane (unset = ingest)."
    ),
)
