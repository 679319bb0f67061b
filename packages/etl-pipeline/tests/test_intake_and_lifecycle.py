"""Intake decisions and run lifecycle against the real S3 server and Mongo wire server."""

from __future__ import annotations

import io
import json
import uuid
from typing import Any

import pytest

from etl_models.cursor import ManifestCursor
from etl_models.ledger_records import AssetRecord, ColumnInfo, Recipe
from etl_models.status import ManifestStatus, RunStatus
from etl_pipeline.intake import evaluate_intake
from etl_pipeline.lifecycle import (
    RunContext,
    archive_if_pending,
    record_run_finished,
    record_run_started,
)
from etl_storage.object_store import ObjectStore

pytestmark = pytest.mark.integration

SPATIAL = {"spatial"}
INGEST = {"ingest"}


def put(store: ObjectStore, key: str, body: bytes | dict[str, Any] | list[Any]) -> None:
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    store.client.put_object(store.landing_bucket, key, io.BytesIO(data), len(data))


def vector_manifest(store: ObjectStore, batch: str, **changes: Any) -> dict[str, Any]:
    doc = {
        "batch_id": batch,
        "uploader": "jane",
        "intent": "ingest_vector",
        "files": [{"path": f"s3://{store.landing_bucket}/{batch}/roads.geojson", "type": "vector"}],
        "metadata": {"tags": {"dataset_id": "roads"}},
    }
    doc.update(changes)
    return doc


def drop(store: ObjectStore, batch_id: str, manifest: dict[str, Any] | None = None) -> str:
    """Upload a raw file and its manifest, as a user would; the manifest key."""
    put(store, f"{batch_id}/roads.geojson", b'{"type": "FeatureCollection", "features": []}')
    key = f"manifests/{batch_id}.json"
    put(store, key, manifest or vector_manifest(store, batch_id))
    return key


def tick(store, ledger, cursor=None, lanes=SPATIAL, operator="spatial_sensor", **kw):
    return evaluate_intake(
        store=store,
        ledger=ledger,
        cursor=cursor or ManifestCursor(),
        owned_lanes=lanes,
        operator=operator,
        **kw,
    )


def test_valid_manifest_is_queued_and_stays_until_its_run_exists(store, ledger) -> None:
    key = drop(store, "b1")
    result = tick(store, ledger)
    assert [q.key for q in result.queued] == [key]
    plan = result.queued[0].plan
    assert plan.run_key == "spatial:b1" and plan.partition_key == "roads"
    assert key in result.cursor
    record = ledger.get_manifest("b1")
    assert record is not None and record.status == ManifestStatus.QUEUED
    assert store.landing_object_exists(key)  # archived only once the run exists

    # A second tick with the committed cursor reads nothing new.
    again = tick(store, ledger, cursor=result.cursor)
    assert again.processed == 0


def test_tick_replayed_after_a_crash_duplicates_nothing(store, ledger) -> None:
    drop(store, "b1")
    first = tick(store, ledger)
    replay = tick(store, ledger)  # cursor never committed
    assert [q.plan.run_key for q in replay.queued] == [q.plan.run_key for q in first.queued]
    assert len(ledger.get_manifest_by_key("manifests/b1.json")) == 1


def test_run_weight_follows_the_raw_files_size(store, ledger) -> None:
    """Batches whose raw files reach the heavy threshold are tagged heavy (the instance runs
    at most two at once); smaller ones light. A re-planned queued manifest keeps its class
    from the intake record, without reading the raw files again."""
    drop(store, "small")
    drop(store, "big")
    put(store, "big/roads.geojson", b" " * 2_000_000)  # the same manifest, a 2 MB raw file
    result = tick(store, ledger, heavy_batch_mb=1.0)
    weights = {q.manifest.batch_id: q.plan.tags["etl/weight"] for q in result.queued}
    assert weights == {"small": "light", "big": "heavy"}
    assert ledger.get_manifest("big").input_bytes == 2_000_000

    replay = tick(store, ledger, heavy_batch_mb=1.0)  # cursor not committed: re-planned
    assert {q.manifest.batch_id: q.plan.tags["etl/weight"] for q in replay.queued} == weights
    # A larger threshold makes the big batch light: the class is decided at planning.
    relaxed = tick(store, ledger, heavy_batch_mb=5.0)
    assert {q.plan.tags["etl/weight"] for q in relaxed.queued} == {"light"}


def test_other_lanes_manifests_are_remembered_not_touched(store, ledger) -> None:
    key = drop(store, "b1")
    result = tick(store, ledger, lanes={"tabular"}, operator="tabular_sensor")
    assert result.foreign == [key] and key in result.cursor
    assert ledger.get_manifest("b1") is None
    assert store.landing_object_exists(key)


def test_unreadable_manifest_is_owned_by_the_default_lane(store, ledger) -> None:
    put(store, "manifests/broken.json", b"{not json")
    spatial = tick(store, ledger)
    assert spatial.foreign == ["manifests/broken.json"]
    legacy = tick(store, ledger, lanes=INGEST, operator="manifest_sensor")
    assert [r.key for r in legacy.rejected] == ["manifests/broken.json"]
    assert not store.landing_object_exists("manifests/broken.json")
    report = json.loads(
        store.client.get_object(
            store.landing_bucket, "archive/manifests/broken.json.rejection.json"
        ).read()
    )
    assert "not valid JSON" in report["reason"] or "JSON" in report["reason"]
    records = ledger.get_manifest_by_key("manifests/broken.json")
    assert [r.status for r in records] == [ManifestStatus.REJECTED]
    assert records[0].error


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"files": [{"path": "s3://data-lake/x.geojson", "type": "vector"}]}, "files[0].path"),
        ({"batch_id": "../evil"}, "batch_id"),
        ({"colour": "red"}, "colour"),
        ({"intent": "ingest_vector", "files": []}, "files"),
    ],
)
def test_invalid_manifest_rejected_with_readable_reason(store, ledger, change, field) -> None:
    key = drop(store, "b1", vector_manifest(store, "b1", **change))
    result = tick(store, ledger)
    assert [r.key for r in result.rejected] == [key]
    assert field in result.rejected[0].reason
    assert not store.landing_object_exists(key)
    assert store.landing_object_exists(f"archive/{key}")
    report = json.loads(
        store.client.get_object(store.landing_bucket, f"archive/{key}.rejection.json").read()
    )
    assert field in {e["field"] for e in report["errors"]}
    records = ledger.get_manifest_by_key(key)
    assert records[-1].status == ManifestStatus.REJECTED and field in (records[-1].error or "")


def test_missing_raw_file_is_rejected_at_intake(store, ledger) -> None:
    key = "manifests/b2.json"
    put(store, key, vector_manifest(store, "b2"))  # the raw file was never uploaded
    result = tick(store, ledger)
    assert "files[0].path" in result.rejected[0].reason
    assert "upload the file before the manifest" in result.rejected[0].reason


def test_rejected_batch_can_be_fixed_and_resubmitted_under_the_same_id(store, ledger) -> None:
    drop(store, "b1", vector_manifest(store, "b1", colour="red"))
    assert tick(store, ledger).rejected
    drop(store, "b1")
    assert [q.manifest.batch_id for q in tick(store, ledger).queued] == ["b1"]


def test_duplicate_batch_id_from_another_manifest_is_rejected(store, ledger) -> None:
    drop(store, "b1")
    tick(store, ledger)
    other = vector_manifest(store, "b1", uploader="mallory")
    put(store, "manifests/copy.json", other)
    result = tick(store, ledger, cursor=ManifestCursor(["manifests/b1.json"]))
    assert [r.key for r in result.rejected] == ["manifests/copy.json"]
    assert "already used" in result.rejected[0].reason
    original = ledger.get_manifest("b1")
    assert original is not None and original.uploader == "jane"


def test_disabled_lane_is_recorded_archived_and_gets_no_run(store, ledger) -> None:
    doc = vector_manifest(store, "legacy1", intent="ingest_building_footprints")
    key = drop(store, "legacy1", doc)
    result = tick(
        store, ledger, lanes=INGEST, operator="manifest_sensor", enabled_lanes=frozenset()
    )
    assert not result.queued and [d.key for d in result.disabled] == [key]
    assert "MANIFEST_ROUTER_ENABLED_LANES" in result.disabled[0].reason
    assert not store.landing_object_exists(key)
    assert ledger.get_manifest_by_key(key)[-1].status == ManifestStatus.REJECTED
    enabled = tick(store, ledger, lanes=INGEST, operator="manifest_sensor",
                   enabled_lanes={"ingest"})  # fmt: skip
    assert enabled.processed == 0


def test_join_references_checked_at_intake(store, ledger) -> None:
    join = {
        "batch_id": "j1",
        "uploader": "jane",
        "intent": "join_datasets",
        "metadata": {
            "join_config": {
                "spatial_dataset_id": "roads",
                "tabular_dataset_id": "counts",
                "left_key": "road_id",
            }
        },
    }
    put(store, "manifests/j1.json", join)
    result = tick(store, ledger, lanes={"join"}, operator="join_sensor")
    reason = result.rejected[0].reason
    assert "dataset 'roads' does not exist" in reason and "dataset 'counts'" in reason

    for dataset_id, columns in (("roads", ["road_id", "name"]), ("counts", ["road", "n"])):
        ledger.register_asset(
            AssetRecord(
                dataset_id=dataset_id,
                version=ledger.allocate_version(dataset_id),
                s3_key=f"{dataset_id}/v1/data.parquet",
                uri=f"s3://lake/{dataset_id}/v1/data.parquet",
                format="geoparquet" if dataset_id == "roads" else "parquet",
                content_hash=uuid.uuid4().hex,
                recipe=Recipe(name="test", version="1"),
                column_schema=[ColumnInfo(name=c, type="string") for c in columns],
            )
        )
    put(store, "manifests/j2.json", {**join, "batch_id": "j2"})
    result = tick(store, ledger, lanes={"join"}, operator="join_sensor")
    reason = result.rejected[0].reason
    assert "tabular dataset counts v1: column 'road_id' is not there" in reason
    fixed = json.loads(json.dumps(join))
    fixed["batch_id"] = "j3"
    fixed["metadata"]["join_config"].update(left_key="road", right_key="road_id")
    put(store, "manifests/j3.json", fixed)
    result = tick(store, ledger, lanes={"join"}, operator="join_sensor")
    assert [q.plan.run_key for q in result.queued] == ["join:j3"]


def test_per_tick_cap_defers_the_rest(store, ledger) -> None:
    for i in range(5):
        drop(store, f"b{i}")
    first = tick(store, ledger, max_per_tick=3)
    assert len(first.queued) == 3 and first.deferred == 2
    second = tick(store, ledger, cursor=first.cursor, max_per_tick=3)
    assert len(second.queued) == 2 and second.deferred == 0


def test_run_lifecycle_archives_and_mirrors_status(store, ledger) -> None:
    key = drop(store, "b1")
    plan = tick(store, ledger).queued[0].plan
    run = RunContext(dagster_run_id=str(uuid.uuid4()), job_name=plan.job_name, tags=plan.tags)
    record_run_started(store, ledger, run)
    assert not store.landing_object_exists(key)
    assert store.landing_object_exists(plan.tags["manifest_archive_key"])
    assert ledger.get_manifest("b1").status == ManifestStatus.RUNNING
    record_run_finished(store, ledger, run, RunStatus.FAILURE, "ogr2ogr: no such layer 'x'")
    manifest = ledger.get_manifest("b1")
    assert manifest.status == ManifestStatus.FAILURE and "no such layer" in manifest.error
    assert ledger.get_run(run.dagster_run_id).error == "ogr2ogr: no such layer 'x'"

    # Re-execution: a new run of the same batch succeeds.
    retry = RunContext(dagster_run_id=str(uuid.uuid4()), job_name=plan.job_name, tags=plan.tags)
    record_run_started(store, ledger, retry)
    record_run_finished(store, ledger, retry, RunStatus.SUCCESS)
    assert ledger.get_manifest("b1").status == ManifestStatus.SUCCESS
    assert len(ledger.runs_for_batch("b1")) == 2


def test_manifest_archived_by_the_other_starter_meanwhile_is_not_an_error(store, ledger) -> None:
    """The run-started sensor and the run itself both archive the manifest: when the other one
    moves it between our existence check and our move, the start goes on (seen in a fault
    test: the batch failed with "cannot archive ... already archived?")."""

    class CheckedBeforeTheOther:  # our existence check ran before the other starter's move
        checked = False

        def landing_object_exists(self, key: str) -> bool:
            if not self.checked:
                self.checked = True
                return True
            return store.landing_object_exists(key)

        def archive_manifest(self, key: str) -> str:
            return store.archive_manifest(key)

    key = drop(store, "b1")
    plan = tick(store, ledger).queued[0].plan
    store.archive_manifest(key)  # the other starter, just before our move
    run = RunContext(dagster_run_id=str(uuid.uuid4()), job_name=plan.job_name, tags=plan.tags)
    assert archive_if_pending(CheckedBeforeTheOther(), ledger, run) is None
    record_run_started(store, ledger, run)
    assert ledger.get_manifest("b1").status == ManifestStatus.RUNNING
    assert store.landing_object_exists(plan.tags["manifest_archive_key"])


def test_run_canceled_before_start_still_archives(store, ledger) -> None:
    key = drop(store, "b1")
    plan = tick(store, ledger).queued[0].plan
    run = RunContext(dagster_run_id=str(uuid.uuid4()), job_name=plan.job_name, tags=plan.tags)
    record_run_finished(store, ledger, run, RunStatus.CANCELED)
    assert not store.landing_object_exists(key)
    assert ledger.get_manifest("b1").status == ManifestStatus.CANCELED
    assert ledger.get_run(run.dagster_run_id).status == RunStatus.CANCELED


def test_runs_without_a_batch_are_not_mirrored(store, ledger) -> None:
    run = RunContext(dagster_run_id=str(uuid.uuid4()), job_name="health", tags={})
    assert record_run_started(store, ledger, run) is None
    record_run_finished(store, ledger, run, RunStatus.SUCCESS)
    assert ledger.get_run(run.dagster_run_id) is None


def test_invalid_recipe_override_is_rejected_at_intake(store, ledger) -> None:
    doc = vector_manifest(store, "b1")
    doc["metadata"]["tags"]["simplify_m"] = -5
    key = drop(store, "b1", doc)
    result = tick(store, ledger)
    assert [r.key for r in result.rejected] == [key]
    assert "simplify_m" in result.rejected[0].reason
