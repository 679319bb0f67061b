"""The legacy ``manifest_sensor`` (traffic controller), evaluated with ``build_sensor_context``
against the real S3 server and ledger."""

from __future__ import annotations

import json

import dagster as dg
import pytest

from etl_models.status import ManifestStatus
from etl_pipeline.orchestration.platform import build_location
from etl_storage.object_store import ObjectStore

LEGACY_INGEST = build_location("legacy_ingest")
legacy_manifest_sensor = LEGACY_INGEST.sensor("manifest_sensor")

pytestmark = pytest.mark.integration

GEOJSON = json.dumps(
    {
        "type": "FeatureCollection",
        "features": [
            {
                "type": "Feature",
                "properties": {"id": 1},
                "geometry": {
                    "type": "Polygon",
                    "coordinates": [
                        [[144.9, -37.8], [144.91, -37.8], [144.91, -37.81], [144.9, -37.8]]
                    ],
                },
            },
        ],
    }
)


@pytest.fixture
def reads(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every manifest body read through ``ObjectStore.read_manifest_with_metadata``."""
    seen: list[str] = []
    original = ObjectStore.read_manifest_with_metadata

    def counting(self, key, *args, **kwargs):
        seen.append(key)
        return original(self, key, *args, **kwargs)

    monkeypatch.setattr(ObjectStore, "read_manifest_with_metadata", counting)
    return seen


def test_sensor_is_named_manifest_sensor_and_targets_ingest_job() -> None:
    assert legacy_manifest_sensor.name == "manifest_sensor"
    assert legacy_manifest_sensor.job_name == "ingest_job"


def test_unset_router_launches_ingest_job_for_a_legacy_intent(
    legacy, reads, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("MANIFEST_ROUTER_ENABLED_LANES", raising=False)
    key = legacy.submit(
        "bf_1", "ingest_building_footprints", {"b.geojson": GEOJSON}, dataset_id="buildings"
    )

    result = legacy.tick(legacy_manifest_sensor)

    (request,) = result.run_requests
    assert request.run_key == "ingest:bf_1"
    assert request.partition_key is None  # ingest_job is not partitioned
    assert request.tags == {
        "batch_id": "bf_1",
        "uploader": "jane",
        "operator": "manifest_sensor",
        "intent": "ingest_building_footprints",
        "manifest_key": key,
        "lane": "ingest",
        "manifest_archive_key": f"archive/{key}",
        "dataset_id": "buildings",
        "etl/weight": "light",  # a small raw file: may use every run slot
    }
    # The op job is not partitioned, but the dataset joins the lane asset's partitions, so the
    # materialization its run records shows under the dataset in the catalog.
    (partitions,) = result.dynamic_partitions_requests
    assert partitions.partitions_def_name == "ingest_datasets"
    assert list(partitions.partition_keys) == ["buildings"]
    cursor = json.loads(result.cursor)
    assert cursor["v"] == 2 and [k for k, _ in cursor["processed"]] == [key]
    assert legacy.ledger.get_manifest("bf_1").status == ManifestStatus.QUEUED
    assert reads == [key]

    reads.clear()
    again = legacy.tick(legacy_manifest_sensor, cursor=result.cursor)
    assert reads == [] and again.run_requests == []
    assert json.loads(again.cursor)["processed"] == cursor["processed"]


def test_legacy_cursor_migrates_to_v2(legacy, reads, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MANIFEST_ROUTER_ENABLED_LANES", raising=False)
    first = legacy.submit(
        "old_1", "ingest_road_network", {"r.geojson": GEOJSON}, dataset_id="roads"
    )
    second = legacy.submit(
        "new_1", "ingest_road_network", {"r.geojson": GEOJSON}, dataset_id="roads"
    )

    result = legacy.tick(legacy_manifest_sensor, cursor=f" {first} ")

    # The legacy key has no object version: its manifest is evaluated once more (idempotent).
    assert sorted(reads) == sorted([first, second])
    assert sorted(r.run_key for r in result.run_requests) == ["ingest:new_1", "ingest:old_1"]
    cursor = json.loads(result.cursor)
    assert cursor["v"] == 2 and [k for k, _ in cursor["processed"]] == sorted([first, second])


def test_disabled_lane_is_recorded_archived_and_gets_no_run(
    legacy, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MANIFEST_ROUTER_ENABLED_LANES", "spatial")
    key = legacy.submit(
        "bf_2", "ingest_building_footprints", {"b.geojson": GEOJSON}, dataset_id="buildings"
    )

    result = legacy.tick(legacy_manifest_sensor)

    assert result.run_requests == []
    assert key in {k for k, _ in json.loads(result.cursor)["processed"]}
    (record,) = legacy.ledger.get_manifest_by_key(key)
    assert record.status == ManifestStatus.REJECTED
    assert "lane 'ingest' is disabled by MANIFEST_ROUTER_ENABLED_LANES" in record.error
    assert record.claimed_batch_id == "bf_2" and record.intent == "ingest_building_footprints"
    assert not legacy.store.landing_object_exists(key)
    assert legacy.store.landing_object_exists(f"archive/{key}")
    report = json.loads(
        legacy.store.client.get_object(
            legacy.store.landing_bucket, f"archive/{key}.rejection.json"
        ).read()
    )
    assert report["rejected_by"] == "manifest_sensor" and "disabled" in report["reason"]
    actions = [a.action for a in legacy.ledger.activity_for("bf_2")]
    assert "manifest_disabled_lane" in actions


def test_unknown_lane_name_fails_the_tick_clearly(legacy, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MANIFEST_ROUTER_ENABLED_LANES", "ingest,rivers")
    key = legacy.submit(
        "bf_3", "ingest_building_footprints", {"b.geojson": GEOJSON}, dataset_id="buildings"
    )

    expected = (
        r"MANIFEST_ROUTER_ENABLED_LANES names unknown lane 'rivers'; "
        r"use a comma list of spatial, tabular, join, ingest"
    )
    with pytest.raises(ValueError, match=expected):
        legacy.tick(legacy_manifest_sensor)

    # Nothing was decided: the manifest waits, untouched, for a fixed configuration.
    assert legacy.store.landing_object_exists(key)
    assert legacy.ledger.get_manifest_by_key(key) == []


def test_unreadable_manifest_is_rejected_by_the_legacy_sensor(
    legacy, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("MANIFEST_ROUTER_ENABLED_LANES", raising=False)
    key = legacy.put("manifests/garbled.json", b"\xff\xfe not a manifest")

    result = legacy.tick(legacy_manifest_sensor)

    assert result.run_requests == [] and isinstance(result.skip_reason, dg.SkipReason)
    assert "rejected=1" in result.skip_reason.skip_message
    (record,) = legacy.ledger.get_manifest_by_key(key)
    assert record.status == ManifestStatus.REJECTED and "UTF-8" in record.error
    assert legacy.store.landing_object_exists(f"archive/{key}")
