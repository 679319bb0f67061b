"""The manifest sensors of ``asset_lanes``, evaluated with ``build_sensor_context`` against the
real S3 server and ledger: run requests, dynamic partitions and cursor in one ``SensorResult``,
a cursor that keeps manifests from being read twice, and one owner per manifest."""

from __future__ import annotations

import json
import uuid

import dagster as dg
import pytest

from etl_models.identity import derive_dataset_id
from etl_models.ledger_records import AssetRecord, ColumnInfo, Recipe
from etl_models.status import ManifestStatus
from etl_pipeline.orchestration.platform import build_location
from etl_storage.object_store import ObjectStore

ASSET_LANES = build_location("asset_lanes")
LEGACY_INGEST = build_location("legacy_ingest")
join_sensor = ASSET_LANES.sensor("join_sensor")
spatial_sensor = ASSET_LANES.sensor("spatial_sensor")
tabular_sensor = ASSET_LANES.sensor("tabular_sensor")
legacy_manifest_sensor = LEGACY_INGEST.sensor("manifest_sensor")

pytestmark = pytest.mark.integration

GEOJSON = json.dumps(
    {
        "type": "FeatureCollection",
        "features": [
            {
                "type": "Feature",
                "properties": {"id": 1},
                "geometry": {"type": "Point", "coordinates": [144.9, -37.8]},
            },
        ],
    }
)
CSV = "road,n\nR1,1\n"


@pytest.fixture
def read_counter(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every manifest body read through ``ObjectStore.read_manifest_with_metadata``."""
    reads: list[str] = []
    original = ObjectStore.read_manifest_with_metadata

    def counting(self, key, *args, **kwargs):
        reads.append(key)
        return original(self, key, *args, **kwargs)

    monkeypatch.setattr(ObjectStore, "read_manifest_with_metadata", counting)
    return reads


def test_tick_returns_runs_partitions_and_cursor_together(lanes, read_counter) -> None:
    key = lanes.submit(
        "roads_b1",
        "ingest_vector",
        {"roads.geojson": ("vector", GEOJSON)},
        dataset_id="roads",
        uploader="jane",
    )

    result = lanes.tick(spatial_sensor)

    (request,) = result.run_requests
    assert request.run_key == "spatial:roads_b1"
    assert request.partition_key == "roads"
    assert request.tags == {
        "batch_id": "roads_b1",
        "uploader": "jane",
        "operator": "spatial_sensor",
        "intent": "ingest_vector",
        "manifest_key": key,
        "lane": "spatial",
        "manifest_archive_key": f"archive/{key}",
        "dataset_id": "roads",
        "etl/weight": "light",  # a small raw file: may use every run slot
    }
    (partitions,) = result.dynamic_partitions_requests
    assert isinstance(partitions, dg.AddDynamicPartitionsRequest)
    assert partitions.partitions_def_name == "spatial_datasets"  # the lane's own
    assert list(partitions.partition_keys) == ["roads"]
    cursor = json.loads(result.cursor)
    assert cursor["v"] == 2 and cursor["max_keys"] == 500
    assert [k for k, _ in cursor["processed"]] == [key]
    assert cursor["processed"][0][1]  # the object's version (ETag and upload time)
    assert read_counter == [key]
    manifest = lanes.ledger.get_manifest("roads_b1")
    assert manifest is not None and manifest.status == ManifestStatus.QUEUED
    # Archived only once its run exists (by the run-status sensor), never by the intake tick.
    assert lanes.store.landing_object_exists(key)

    # The next tick, given the committed cursor, reads no manifest body and requests nothing.
    read_counter.clear()
    again = lanes.tick(spatial_sensor, cursor=result.cursor)
    assert read_counter == []
    assert again.run_requests == [] and not again.dynamic_partitions_requests
    assert json.loads(again.cursor)["processed"] == cursor["processed"]
    assert again.skip_reason is not None


def test_legacy_comma_separated_cursor_migrates(lanes, read_counter) -> None:
    old = lanes.submit(
        "roads_old", "ingest_vector", {"r.geojson": ("vector", GEOJSON)}, dataset_id="roads"
    )
    new = lanes.submit(
        "roads_new", "ingest_vector", {"r.geojson": ("vector", GEOJSON)}, dataset_id="roads"
    )
    legacy_cursor = f"{old},manifests/long_gone.json"

    result = lanes.tick(spatial_sensor, cursor=legacy_cursor)

    # A legacy key carries no object version, so the manifest it names is evaluated once more
    # (idempotent): a manifest stuck behind an old cursor is taken in, not ignored forever.
    assert sorted(read_counter) == sorted([old, new])
    assert sorted(r.run_key for r in result.run_requests) == [
        "spatial:roads_new",
        "spatial:roads_old",
    ]
    cursor = json.loads(result.cursor)
    assert cursor["v"] == 2
    # A key no longer listed is dropped: the cursor holds only what could come back.
    assert [k for k, _ in cursor["processed"]] == sorted([old, new])
    read_counter.clear()
    assert lanes.tick(spatial_sensor, cursor=result.cursor).run_requests == []
    assert read_counter == []


def test_a_corrupt_cursor_fails_the_tick_with_the_sensor_name(lanes) -> None:
    with pytest.raises(dg.Failure, match=r"spatial_sensor: sensor cursor version 7"):
        lanes.tick(spatial_sensor, cursor='{"v": 7, "processed_keys": []}')


def _register(ledger, dataset_id: str, columns: list[str], fmt: str = "parquet") -> None:
    """A lake version in the ledger, so a join manifest naming it is valid at intake."""
    version = ledger.allocate_version(dataset_id)
    ledger.register_asset(
        AssetRecord(
            dataset_id=dataset_id,
            version=version,
            s3_key=f"{dataset_id}/v{version}/data.parquet",
            uri=f"s3://lake/{dataset_id}/v{version}/data.parquet",
            format=fmt,
            content_hash=uuid.uuid4().hex,
            recipe=Recipe(name="test", version="1"),
            column_schema=[ColumnInfo(name=c, type="string") for c in columns],
        )
    )


def test_each_sensor_owns_exactly_its_lane(lanes, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MANIFEST_ROUTER_ENABLED_LANES", raising=False)
    _register(lanes.ledger, "roads", ["road_id"], "geoparquet")
    _register(lanes.ledger, "counts", ["road"])
    spatial = lanes.submit("s1", "ingest_vector", {"a.geojson": ("vector", GEOJSON)})
    tabular = lanes.submit("t1", "ingest_tabular", {"a.csv": ("tabular", CSV)})
    join = lanes.submit(
        "j1",
        "join_datasets",
        join_config={
            "spatial_dataset_id": "roads",
            "tabular_dataset_id": "counts",
            "left_key": "road",
            "right_key": "road_id",
        },
    )
    legacy = lanes.submit("l1", "ingest_building_footprints", {"a.geojson": ("vector", GEOJSON)})
    unparseable = lanes.put("manifests/broken.json", b'{"batch_id": "x", ')
    # Readable intent, invalid manifest (no files): owned, and rejected, by the tabular lane.
    invalid_tabular = lanes.put(
        "manifests/t_bad.json",
        {"batch_id": "t_bad", "uploader": "jane", "intent": "ingest_tabular"},
    )
    every_key = {spatial, tabular, join, legacy, unparseable, invalid_tabular}

    sensors = [spatial_sensor, tabular_sensor, join_sensor, legacy_manifest_sensor]
    results = {sensor.name: lanes.tick(sensor) for sensor in sensors}

    requested = {
        name: [(r.run_key, r.partition_key) for r in result.run_requests]
        for name, result in results.items()
    }
    # No dataset_id tag: the id is derived from the batch id, the same in every component.
    assert requested == {
        "spatial_sensor": [("spatial:s1", derive_dataset_id("s1"))],
        "tabular_sensor": [("tabular:t1", derive_dataset_id("t1"))],
        "join_sensor": [("join:j1", derive_dataset_id("j1"))],
        "manifest_sensor": [("ingest:l1", None)],  # the legacy job is not partitioned
    }
    # Each sensor's cursor records every manifest it saw, owned or not, so none is read twice.
    for name, result in results.items():
        seen = {k for k, _ in json.loads(result.cursor)["processed"]}
        assert seen <= every_key, name
    spatial_cursor = json.loads(results["spatial_sensor"].cursor)
    assert {k for k, _ in spatial_cursor["processed"]} == every_key

    # Each invalid manifest was rejected exactly once, by its owner, and archived with a report.
    for key, owner in ((unparseable, "manifest_sensor"), (invalid_tabular, "tabular_sensor")):
        assert not lanes.store.landing_object_exists(key)
        report = json.loads(
            lanes.store.client.get_object(
                lanes.store.landing_bucket, f"archive/{key}.rejection.json"
            ).read()
        )
        assert report["rejected_by"] == owner, key
        (record,) = lanes.ledger.get_manifest_by_key(key)
        assert record.status == ManifestStatus.REJECTED and record.error
        rejections = [
            a
            for a in lanes.ledger.activity_for(record.claimed_batch_id or key)
            if a.action == "manifest_rejected"
        ]
        assert [a.actor for a in rejections] == [owner]
    # The valid ones wait for their runs.
    for key in (spatial, tabular, join, legacy):
        assert lanes.store.landing_object_exists(key)
