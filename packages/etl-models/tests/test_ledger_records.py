"""Ledger record models: ObjectIds, UTC timestamps, Mongo round trips, hashes (no I/O)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone

import pytest
from bson import ObjectId
from pydantic import ValidationError

from etl_models.ledger_records import (
    ActivityLog,
    AssetRecord,
    InputFile,
    LineageEdge,
    ManifestRecord,
    MigrationRecord,
    ParentAsset,
    Recipe,
    RunRecord,
    StatusChange,
    asset_content_hash,
    manifest_fingerprint,
    utc_now,
)
from etl_models.status import ManifestStatus, RunStatus

pytestmark = pytest.mark.unit

RECIPE = Recipe(name="vector_to_geoparquet", version="1", params={"simplify_m": 5})
INPUTS = [InputFile(path="s3://landing-zone/b/roads.gpkg", etag="abc", size=10)]


def make_asset(**overrides) -> AssetRecord:
    fields = {
        "dataset_id": "roads",
        "version": 1,
        "s3_key": "roads/v1/data.parquet",
        "uri": "s3://data-lake/roads/v1/data.parquet",
        "format": "geoparquet",
        "content_hash": asset_content_hash(dataset_id="roads", recipe=RECIPE, inputs=INPUTS),
        "recipe": RECIPE,
        "inputs": INPUTS,
        "run_id": ObjectId(),
        **overrides,
    }
    return AssetRecord(**fields)


def test_object_ids_stay_native_for_mongo_and_are_strings_in_json() -> None:
    run_id = ObjectId()
    record = make_asset(run_id=str(run_id))  # hex strings are accepted and converted

    doc = record.to_mongo()
    assert doc["run_id"] == run_id and isinstance(doc["run_id"], ObjectId)
    assert "_id" not in doc  # not yet stored: Mongo assigns it
    assert json.loads(record.model_dump_json())["run_id"] == str(run_id)

    stored = {**doc, "_id": ObjectId()}
    assert AssetRecord.from_mongo(stored).id == stored["_id"]
    with pytest.raises(ValidationError, match="ObjectId"):
        make_asset(run_id="not-an-id")


def test_timestamps_are_utc_with_millisecond_precision() -> None:
    now = utc_now()
    assert now.tzinfo is UTC and now.microsecond % 1000 == 0

    melbourne = timezone(timedelta(hours=11))
    local = datetime(2026, 11, 22, 10, 0, 0, 123456, tzinfo=melbourne)
    change = StatusChange(status="running", at=local)
    assert change.at == datetime(2026, 11, 21, 23, 0, 0, 123000, tzinfo=UTC)
    naive = StatusChange(status="running", at=datetime(2026, 1, 1, 12, 0))
    assert naive.at.tzinfo is UTC and naive.at.hour == 12


def test_round_trip_through_a_mongo_document() -> None:
    record = ManifestRecord(
        intake_key="batch:roads",
        batch_id="roads",
        manifest_key="manifests/roads.json",
        status=ManifestStatus.QUEUED,
        manifest={"batch_id": "roads"},
        status_history=[StatusChange(status="queued", at=utc_now())],
        run_ids=[ObjectId()],
    )
    doc = {**record.to_mongo(), "_id": ObjectId(), "field_from_newer_code": 1}
    again = ManifestRecord.from_mongo(doc)
    assert again.model_dump(exclude={"id"}) == record.model_dump(exclude={"id"})
    assert doc["status"] == "queued"


def test_run_record_defaults() -> None:
    run = RunRecord(dagster_run_id="abc-123", status=RunStatus.RUNNING)
    assert run.tags == {} and run.produced_assets == [] and run.error is None
    with pytest.raises(ValidationError):
        RunRecord(dagster_run_id="x", status="queued")  # not a run status


def test_asset_record_validation() -> None:
    asset = make_asset(bounds=[144.0, -38.0, 145.0, -37.0])
    assert asset.bounds == (144.0, -38.0, 145.0, -37.0)
    with pytest.raises(ValidationError):
        make_asset(version=0)
    with pytest.raises(ValidationError):
        make_asset(bounds=[1.0, 2.0])
    with pytest.raises(ValidationError):
        InputFile(path="s3://x/y", etag="e", size=-1)


def test_content_hash_depends_on_inputs_recipe_and_dataset_only() -> None:
    base = asset_content_hash(dataset_id="roads", recipe=RECIPE, inputs=INPUTS)
    assert base.startswith("sha256:")
    moved = [InputFile(path="s3://landing-zone/other_batch/roads.gpkg", etag="abc", size=10)]
    assert asset_content_hash(dataset_id="roads", recipe=RECIPE, inputs=moved) == base
    changed = [InputFile(path=INPUTS[0].path, etag="def", size=10)]
    assert asset_content_hash(dataset_id="roads", recipe=RECIPE, inputs=changed) != base
    other_recipe = Recipe(name="vector_to_geoparquet", version="2")
    assert asset_content_hash(dataset_id="roads", recipe=other_recipe, inputs=INPUTS) != base
    assert asset_content_hash(dataset_id="rivers", recipe=RECIPE, inputs=INPUTS) != base
    two = [*INPUTS, InputFile(path="s3://landing-zone/b/a.prj", etag="p", size=1)]
    assert asset_content_hash(dataset_id="roads", recipe=RECIPE, inputs=two) == asset_content_hash(
        dataset_id="roads", recipe=RECIPE, inputs=list(reversed(two))
    )
    parent = ParentAsset(asset_id=ObjectId(), dataset_id="roads", version=3, role="spatial")
    joined = asset_content_hash(dataset_id="j", recipe=RECIPE, parents=[parent])
    assert joined != asset_content_hash(
        dataset_id="j", recipe=RECIPE, parents=[parent.model_copy(update={"version": 4})]
    )


def test_manifest_fingerprint_ignores_layout() -> None:
    assert manifest_fingerprint({"a": 1, "b": [1, 2]}) == manifest_fingerprint(
        {"b": [1, 2], "a": 1}
    )
    assert manifest_fingerprint({"a": 1}) != manifest_fingerprint({"a": 2})


def test_intake_keys() -> None:
    assert ManifestRecord.intake_key_for("roads", "manifests/x.json", "e", None) == "batch:roads"
    assert (
        ManifestRecord.intake_key_for(None, "manifests/x.json", "e1", None)
        == "object:manifests/x.json@e1"
    )


def test_lineage_edges_need_a_source_and_get_a_stable_key() -> None:
    child, parent = ObjectId(), ObjectId()
    edge = LineageEdge(kind="input", asset_id=child, input=INPUTS[0])
    assert edge.edge_key == f"{child}:input:s3://landing-zone/b/roads.gpkg@abc"
    assert LineageEdge(kind="input", asset_id=child, input=INPUTS[0]).edge_key == edge.edge_key
    parent_edge = LineageEdge(kind="parent", asset_id=child, parent_asset_id=parent)
    assert parent_edge.edge_key == f"{child}:parent:{parent}"
    with pytest.raises(ValidationError, match="needs input"):
        LineageEdge(kind="input", asset_id=child)
    with pytest.raises(ValidationError, match="needs parent_asset_id"):
        LineageEdge(kind="parent", asset_id=child)


def test_activity_and_migration_records() -> None:
    log = ActivityLog(key="k", actor="sensor", action="archived", subject="batch:roads")
    assert log.details == {} and log.at.tzinfo is UTC
    migration = MigrationRecord(number=1, name="create_collections", checksum="abc")
    assert migration.to_mongo()["_id"] == 1
    assert MigrationRecord.from_mongo(migration.to_mongo()).number == 1
