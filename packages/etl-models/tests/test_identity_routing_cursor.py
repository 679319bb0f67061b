"""Identity, run plans, sensor cursor, settings, status transitions and the
published JSON Schema."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from pydantic import ValidationError

from etl_models.cursor import MAX_KEYS, CursorError, ManifestCursor, manifest_object_version
from etl_models.identity import derive_dataset_id, lake_prefix, run_key, validate_dataset_id
from etl_models.intake import archive_key_for, batch_weight, plan_run
from etl_models.json_schema import manifest_json_schema, published_schema
from etl_models.manifest import parse_manifest
from etl_models.settings import ObjectStoreSettings, PostgisSettings, RouterSettings
from etl_models.status import (
    ManifestStatus,
    RunStatus,
    manifest_transition_allowed,
    run_transition_allowed,
)

pytestmark = pytest.mark.unit


def test_derived_dataset_id_is_stable_and_valid() -> None:
    first = derive_dataset_id("roads_2026_11_22")
    assert first == derive_dataset_id("roads_2026_11_22")
    assert first != derive_dataset_id("roads_2026_11_23")
    assert validate_dataset_id(first) == first
    with pytest.raises(ValueError, match="batch_id"):
        derive_dataset_id("../x")


def test_run_key_and_lake_prefix() -> None:
    assert run_key("spatial", "b1") == "spatial:b1"
    assert lake_prefix("roads", 3) == "roads/v3/"
    for bad in (0, -1, True, "1"):
        with pytest.raises(ValueError, match="positive integer"):
            lake_prefix("roads", bad)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="dataset_id"):
        lake_prefix("../etc", 1)


def test_router_settings_from_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MANIFEST_ROUTER_ENABLED_LANES", raising=False)
    assert RouterSettings().enabled_lane_names == {"ingest"}
    monkeypatch.setenv("MANIFEST_ROUTER_ENABLED_LANES", " Spatial, ingest,")
    assert RouterSettings().enabled_lane_names == {"spatial", "ingest"}


def test_plan_run_tags_and_keys() -> None:
    manifest = parse_manifest(
        {
            "batch_id": "b1",
            "uploader": "jane",
            "intent": "ingest_vector",
            "files": [{"path": "s3://landing-zone/b1/x.geojson", "type": "vector"}],
        }
    )
    plan = plan_run(
        manifest,
        "manifests/b1.json",
        operator="spatial_sensor",
        lane="spatial",
        job_name="spatial_asset_job",
    )
    assert plan.lane == "spatial"
    assert plan.job_name == "spatial_asset_job"
    assert plan.run_key == "spatial:b1"
    assert plan.partition_key == manifest.dataset_id
    assert plan.tags == {
        "batch_id": "b1",
        "uploader": "jane",
        "operator": "spatial_sensor",
        "intent": "ingest_vector",
        "manifest_key": "manifests/b1.json",
        "lane": "spatial",
        "manifest_archive_key": "archive/manifests/b1.json",
        "dataset_id": manifest.dataset_id,
        "etl/weight": "heavy",  # size unknown: the safe side
    }
    assert archive_key_for("manifests/a.json") == "archive/manifests/a.json"


def test_batch_weight_by_input_size() -> None:
    assert batch_weight(None) == "heavy"
    assert batch_weight(0) == "light"
    assert batch_weight(99_999_999) == "light"
    assert batch_weight(100_000_000) == "heavy"
    assert batch_weight(5_000_000, heavy_batch_mb=5) == "heavy"


def test_cursor_round_trip_and_bound() -> None:
    cursor = ManifestCursor()
    for i in range(MAX_KEYS + 20):
        cursor.mark(f"manifests/{i}.json", f"etag{i}@t")
    assert len(cursor) == MAX_KEYS
    assert cursor.version_of("manifests/0.json") is None  # oldest trimmed
    assert cursor.seen(f"manifests/{MAX_KEYS + 19}.json", f"etag{MAX_KEYS + 19}@t")
    restored = ManifestCursor.parse(cursor.serialize())
    assert restored.entries == cursor.entries
    data = json.loads(cursor.serialize())
    assert data["v"] == 2 and data["max_keys"] == MAX_KEYS


def test_cursor_skips_only_the_very_object_it_processed() -> None:
    when = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    first = manifest_object_version("abc", when)
    cursor = ManifestCursor([("manifests/daily.json", first)])
    assert cursor.seen("manifests/daily.json", first)
    # New bytes under the same name, or the same bytes uploaded again later: a new object.
    assert not cursor.seen("manifests/daily.json", manifest_object_version("def", when))
    later = manifest_object_version("abc", datetime(2026, 1, 3, tzinfo=UTC))
    assert not cursor.seen("manifests/daily.json", later)
    assert not cursor.seen("manifests/daily.json", None)  # unknown versions never skip


def test_cursor_mark_again_moves_to_most_recent() -> None:
    cursor = ManifestCursor(["a", "b", "c"])
    cursor.mark("a", "v2")
    assert cursor.keys == ["b", "c", "a"]
    assert cursor.version_of("a") == "v2"


def test_cursor_persisted_max_keys_is_informational() -> None:
    raw = json.dumps({"v": 2, "processed": [[f"k{i}", "v"] for i in range(900)], "max_keys": 5000})
    assert len(ManifestCursor.parse(raw)) == MAX_KEYS


def test_cursor_migrates_v1_and_legacy_forms_without_skipping_anything() -> None:
    cursor = ManifestCursor.parse("manifests/a.json, manifests/b.json,,")
    assert cursor.keys == ["manifests/a.json", "manifests/b.json"]
    assert json.loads(cursor.serialize())["v"] == 2
    v1 = ManifestCursor.parse(json.dumps({"v": 1, "processed_keys": ["manifests/a.json"]}))
    assert v1.keys == ["manifests/a.json"]
    # A v1 key has no version: the object is evaluated once more (intake is idempotent).
    assert not v1.seen("manifests/a.json", "etag@t")
    assert len(ManifestCursor.parse(None)) == 0
    assert len(ManifestCursor.parse("")) == 0


@pytest.mark.parametrize(
    "raw",
    [
        '{"v": 3, "processed": []}',
        '{"v": 1, "processed_keys": "x"}',
        '{"v": 2, "processed": [["k"]]}',
        '{"v": 2, "processed": [[1, "v"]]}',
        "{broken",
    ],
)
def test_cursor_rejects_unknown_forms(raw: str) -> None:
    with pytest.raises(CursorError):
        ManifestCursor.parse(raw)


def test_settings_from_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    # The service harness may have exported its own settings earlier in the session.
    for name in ("LANDING_BUCKET", "LAKE_BUCKET", "POSTGRES_DB"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("MINIO_ENDPOINT", "minio:9000")
    monkeypatch.setenv("MINIO_ROOT_PASSWORD", "s3cret")
    settings = ObjectStoreSettings()
    assert settings.endpoint == "minio:9000"
    assert settings.landing_bucket == "landing-zone" and settings.lake_bucket == "data-lake"
    assert "s3cret" not in repr(settings)
    monkeypatch.setenv("POSTGRES_PASSWORD", "pgpass")
    assert "pgpass" not in repr(PostgisSettings())
    assert PostgisSettings().database == "spatial_compute"


@pytest.mark.parametrize("endpoint", ["http://minio:9000", "minio", "minio:port"])
def test_object_store_endpoint_without_scheme(
    monkeypatch: pytest.MonkeyPatch, endpoint: str
) -> None:
    monkeypatch.setenv("MINIO_ENDPOINT", endpoint)
    with pytest.raises(ValidationError, match="MINIO_ENDPOINT must be host:port without a scheme"):
        ObjectStoreSettings()


def test_status_transitions() -> None:
    assert manifest_transition_allowed(ManifestStatus.QUEUED, ManifestStatus.RUNNING)
    assert manifest_transition_allowed(ManifestStatus.FAILURE, ManifestStatus.RUNNING)
    assert not manifest_transition_allowed(ManifestStatus.REJECTED, ManifestStatus.RUNNING)
    assert not manifest_transition_allowed(ManifestStatus.SUCCESS, ManifestStatus.QUEUED)
    assert run_transition_allowed(RunStatus.RUNNING, RunStatus.CANCELED)
    assert not run_transition_allowed(RunStatus.SUCCESS, RunStatus.RUNNING)


def test_published_schema_matches_model() -> None:
    assert published_schema() == json.loads(json.dumps(manifest_json_schema()))


def test_schema_describes_the_contract() -> None:
    schema = manifest_json_schema()
    assert schema["additionalProperties"] is False
    assert set(schema["required"]) == {"batch_id", "uploader", "intent"}
    assert schema["properties"]["batch_id"]["pattern"] == "^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$"
    file_schema = schema["$defs"]["ManifestFile"]
    # Which file types exist is the lanes' to say; the schema checks the shape, with examples.
    assert file_schema["properties"]["type"]["pattern"] == "^[a-z][a-z0-9_]{0,31}$"
    assert "vector" in file_schema["properties"]["type"]["examples"]
