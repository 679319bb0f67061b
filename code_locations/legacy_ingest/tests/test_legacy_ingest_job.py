"""``ingest_job`` executed in process for runs requested by the real legacy sensor, against the
real S3 server, ledger and PostGIS: a lake version with its ledger records for an unknown
intent (default recipe) and for ``ingest_road_network``, the run schema dropped on success and
on failure, and the run mirrored into the ledger by the location's run-status sensors."""

from __future__ import annotations

import json

import dagster as dg
import pytest

from etl_models.status import ManifestStatus, RunStatus
from etl_pipeline.orchestration.platform import build_location
from etl_spatial.postgis import Postgis, schema_name_for_run

LEGACY_INGEST = build_location("legacy_ingest")
ingest_job = LEGACY_INGEST.job("ingest_job")
legacy_manifest_sensor = LEGACY_INGEST.sensor("manifest_sensor")
legacy_ingest_run_failure_sensor = LEGACY_INGEST.sensor("legacy_ingest_run_failure_sensor")
legacy_ingest_run_success_sensor = LEGACY_INGEST.sensor("legacy_ingest_run_success_sensor")

pytestmark = pytest.mark.integration

ROADS = json.dumps(
    {
        "type": "FeatureCollection",
        "features": [
            {
                "type": "Feature",
                "properties": {"road_id": f"R{i}", "name": f"road {i}"},
                "geometry": {
                    "type": "LineString",
                    "coordinates": [[144.9 + i / 100, -37.8], [144.905 + i / 100, -37.81]],
                },
            }
            for i in range(4)
        ],
    }
)
CORRUPT = b'{"type": "FeatureCollection", "features": ['


@pytest.fixture
def dropped_schemas(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, bool]]:
    """Every ``Postgis.drop_run_schema`` call: (schema, whether it existed)."""
    calls: list[tuple[str, bool]] = []
    original = Postgis.drop_run_schema

    def recording(self, schema, *args, **kwargs):
        existed = original(self, schema, *args, **kwargs)
        calls.append((schema, existed))
        return existed

    monkeypatch.setattr(Postgis, "drop_run_schema", recording)
    return calls


@pytest.fixture(autouse=True)
def _router_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MANIFEST_ROUTER_ENABLED_LANES", raising=False)


def _execute(legacy, batch_id: str, intent: str, body: bytes | str, dataset_id: str):
    legacy.submit(batch_id, intent, {"data.geojson": body}, dataset_id=dataset_id)
    (request,) = legacy.tick(legacy_manifest_sensor).run_requests
    assert request.run_key == f"ingest:{batch_id}"
    result = ingest_job.execute_in_process(
        instance=legacy.instance,
        resources=legacy.resources,
        tags=request.tags,
        raise_on_error=False,
    )
    return request, result


def _mirror(legacy, sensor, run_id: str, event_type: dg.DagsterEventType) -> None:
    """Evaluate a run-status sensor on the run's stored event, like the daemon does."""
    (record,) = legacy.instance.get_records_for_run(run_id, of_type=event_type).records
    with dg.build_run_status_sensor_context(
        sensor_name=sensor.name,
        dagster_event=record.event_log_entry.dagster_event,
        dagster_instance=legacy.instance,
        dagster_run=legacy.instance.get_run_by_id(run_id),
        resources=legacy.resources,
    ) as context:
        sensor(context.for_run_failure() if event_type.value == "PIPELINE_FAILURE" else context)


def _ingest_batch_metadata(result: dg.ExecuteInProcessResult) -> dict[str, object]:
    (output,) = [
        e
        for e in result.events_for_node("ingest_batch")
        if e.event_type == dg.DagsterEventType.STEP_OUTPUT
    ]
    return {k: v.value for k, v in output.step_output_data.metadata.items()}


@pytest.mark.parametrize(
    ("intent", "recipe"),
    [("ingest_parcels_2019", "generic_vector"), ("ingest_road_network", "road_network")],
)
def test_ingest_job_publishes_a_lake_version(legacy, dropped_schemas, intent, recipe) -> None:
    request, result = _execute(legacy, "legacy_1", intent, ROADS, "legacy_roads")

    assert result.success, result.get_step_failure_events()
    assert result.dagster_run.job_name == "ingest_job"
    asset = legacy.ledger.get_asset("legacy_roads", 1)
    assert asset is not None and asset.recipe.name == recipe
    assert asset.row_count == 4 and asset.crs == "EPSG:4326" and asset.lane == "ingest"
    assert asset.geometry_types == ["MultiLineString"]
    assert legacy.lake_keys() == ["legacy_roads/v1/data.parquet", "legacy_roads/v1/item.json"]
    metadata = _ingest_batch_metadata(result)
    assert metadata["dagster/uri"] == asset.uri and metadata["dagster/row_count"] == 4
    assert metadata["version"] == 1
    # Written straight to the lake through the resources: no IO manager handled an output.
    assert dg.DagsterEventType.HANDLED_OUTPUT not in {e.event_type for e in result.all_events}

    run = legacy.ledger.get_run(result.run_id)
    assert run.batch_id == "legacy_1" and run.lane == "ingest" and run.job_name == "ingest_job"
    assert [p.asset_id for p in run.produced_assets] == [asset.id]
    assert [e.kind for e in legacy.ledger.lineage_for(asset.id)] == ["input"]
    assert legacy.ledger.get_manifest("legacy_1").status == ManifestStatus.RUNNING
    assert legacy.store.landing_object_exists(request.tags["manifest_archive_key"])
    # The run's schema existed while it worked and was dropped when it finished.
    schema = schema_name_for_run(result.run_id)
    assert (schema, True) in dropped_schemas
    assert not legacy.run_schema_exists(result.run_id)

    _mirror(
        legacy, legacy_ingest_run_success_sensor, result.run_id, dg.DagsterEventType.RUN_SUCCESS
    )
    assert legacy.ledger.get_run(result.run_id).status == RunStatus.SUCCESS
    assert legacy.ledger.get_manifest("legacy_1").status == ManifestStatus.SUCCESS


def test_failed_ingest_drops_its_schema_and_records_the_error(legacy, dropped_schemas) -> None:
    request, result = _execute(legacy, "legacy_bad", "ingest_parcels_2019", CORRUPT, "parcels")

    assert not result.success
    (failure,) = result.get_step_failure_events()
    assert failure.step_key == "ingest_batch"
    assert "Unterminated array" in failure.step_failure_data.user_failure_data.description
    event_types = [e.event_type for e in result.events_for_node("ingest_batch")]
    assert event_types.count(dg.DagsterEventType.STEP_START) == 1
    assert dg.DagsterEventType.STEP_UP_FOR_RETRY not in event_types
    schema = schema_name_for_run(result.run_id)
    assert (schema, True) in dropped_schemas
    assert not legacy.run_schema_exists(result.run_id)
    assert legacy.lake_keys() == []
    assert legacy.ledger.versions("parcels") == []

    _mirror(
        legacy, legacy_ingest_run_failure_sensor, result.run_id, dg.DagsterEventType.RUN_FAILURE
    )
    run = legacy.ledger.get_run(result.run_id)
    assert run.status == RunStatus.FAILURE and "Unterminated array" in run.error
    manifest = legacy.ledger.get_manifest("legacy_bad")
    assert manifest.status == ManifestStatus.FAILURE and "Unterminated array" in manifest.error
    assert "ingest_batch" not in manifest.error and "ingest_batch" in run.error_detail
    assert legacy.store.landing_object_exists(request.tags["manifest_archive_key"])
