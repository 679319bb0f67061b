"""The manifest sensor of a lane: takes in its manifests and requests its job's runs."""

import dagster as dg

from etl_models.cursor import CursorError, ManifestCursor
from etl_models.settings import RouterSettings
from etl_pipeline.intake import DEFAULT_MAX_PER_TICK, evaluate_intake
from etl_pipeline.lanes.declaration import Lane
from etl_pipeline.lanes.registry import parse_enabled_lanes
from etl_pipeline.orchestration.resources import LedgerResource, ObjectStoreResource
from etl_pipeline.orchestration.settings import (
    automation_sensor_status,
    env_int,
    sensor_interval_seconds,
)


def manifest_sensor(
    lane: Lane, job: object, partitions: dg.DynamicPartitionsDefinition
) -> dg.SensorDefinition:
    """A sensor that takes in the manifests ``lane`` owns and requests ``job`` runs.

    Run requests, the dataset partitions they need and the cursor are returned together in
    one ``SensorResult``, so they are committed together. Asset-lane runs target their
    dataset's partition; the legacy op job is not partitioned, but its dataset is still added
    to the lane's partitions so the materialization it records shows under that partition.
    """
    max_per_tick = env_int("ETL_SENSOR_MAX_MANIFESTS_PER_TICK", DEFAULT_MAX_PER_TICK)
    partitioned_runs = lane.dagster_style == "asset"
    intents = ", ".join(sorted(lane.intents)) or "none"
    description = (
        f"Takes in the {lane.name} lane's manifests ({intents}"
        + (", and every intent no other lane declares" if lane.takes_unknown_intents else "")
        + ") from the landing bucket"
        + (
            "; launches runs only when MANIFEST_ROUTER_ENABLED_LANES enables the lane."
            if lane.traffic_controlled
            else "."
        )
    )

    @dg.sensor(
        name=lane.sensor,
        job=job,
        minimum_interval_seconds=sensor_interval_seconds(),
        default_status=automation_sensor_status(),
        description=description,
    )
    def _manifest_sensor(
        context: dg.SensorEvaluationContext,
        object_store: ObjectStoreResource,
        ledger: LedgerResource,
    ) -> dg.SensorResult:
        enabled = parse_enabled_lanes(RouterSettings().enabled_lane_names)
        try:
            cursor = ManifestCursor.parse(context.cursor)
        except CursorError as exc:
            raise dg.Failure(f"{lane.sensor}: {exc}") from exc
        result = evaluate_intake(
            store=object_store.get_client(),
            ledger=ledger.get_client(),
            cursor=cursor,
            owned_lanes={lane.name},
            operator=lane.sensor,
            enabled_lanes=enabled if lane.traffic_controlled else None,
            max_per_tick=max_per_tick,
            on_event=context.log.info,
        )
        requests = [
            dg.RunRequest(
                run_key=q.plan.run_key,
                partition_key=q.plan.partition_key if partitioned_runs else None,
                tags=q.plan.tags,
            )
            for q in result.queued
        ]
        new_partitions = sorted({q.plan.partition_key for q in result.queued})
        return dg.SensorResult(
            run_requests=requests,
            dynamic_partitions_requests=(
                [partitions.build_add_request(new_partitions)] if new_partitions else []
            ),
            cursor=result.cursor.serialize(),
            skip_reason=None if requests else dg.SkipReason(result.summary()),
        )

    return _manifest_sensor
