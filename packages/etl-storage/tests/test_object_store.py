"""ObjectStore against the real S3 server of the harness (moto standalone)."""

from __future__ import annotations

import hashlib
import io
import json
import os
import subprocess
import threading
import urllib.request
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from etl_models.settings import ObjectStoreSettings
from etl_storage import (
    ArchiveError,
    LakeObjectExists,
    ManifestNotFound,
    ManifestNotJson,
    ManifestNotObject,
    ManifestNotUtf8,
    ManifestReadError,
    ManifestTooLarge,
    ObjectNotFound,
    ObjectStore,
    PathOutsideLanding,
)
from etl_storage.object_store import keys as keys_module
from etl_storage.object_store import lake as lake_module

pytestmark = pytest.mark.integration

MANIFEST = {"batch_id": "roads_1", "uploader": "jane", "intent": "ingest_vector", "files": []}


def put(store: ObjectStore, key: str, body: bytes | str, bucket: str | None = None) -> None:
    data = body.encode("utf-8") if isinstance(body, str) else body
    store.client.put_object(bucket or store.landing_bucket, key, io.BytesIO(data), len(data))


def read(store: ObjectStore, key: str, bucket: str | None = None) -> bytes:
    response = store.client.get_object(bucket or store.landing_bucket, key)
    try:
        return response.read()
    finally:
        response.close()
        response.release_conn()


# --- listing and reading manifests ------------------------------------------------------------


def test_lists_2500_manifests_across_pages(store: ObjectStore) -> None:
    keys = [f"manifests/batch_{i:05d}.json" for i in range(2500)]
    with ThreadPoolExecutor(max_workers=16) as pool:
        list(pool.map(lambda k: put(store, k, json.dumps({"batch_id": k[10:-5]})), keys))
    # Everything under manifests/ is listed (intake takes it in or rejects it with a record,
    # never ignores it); other prefixes and folder markers are not.
    stray = ["manifests/readme.txt", "manifests/x.json.rejection.json", "manifests/sub/nested.json"]
    for key in stray:
        put(store, key, "{}")
    put(store, "other/batch.json", "{}")
    store.client.put_object(store.landing_bucket, "manifests/sub/", io.BytesIO(b""), 0)

    listed = store.list_manifest_keys()

    assert listed == sorted([*keys, *stray])
    metadata = store.list_manifest_objects()
    assert len(metadata) == 2503
    assert all(m.etag and m.size > 0 and m.last_modified for m in metadata)


def test_reads_a_manifest_and_its_metadata(store: ObjectStore) -> None:
    put(store, "manifests/roads.json", json.dumps(MANIFEST))

    manifest, meta = store.read_manifest_with_metadata("manifests/roads.json")

    assert manifest == MANIFEST
    assert store.read_manifest("manifests/roads.json") == MANIFEST
    assert meta.key == "manifests/roads.json"
    assert meta.size == len(json.dumps(MANIFEST))
    assert meta.etag == hashlib.md5(json.dumps(MANIFEST).encode()).hexdigest()  # noqa: S324
    assert meta.last_modified is not None and meta.last_modified.tzinfo is not None
    assert meta.uri == f"s3://{store.landing_bucket}/manifests/roads.json"
    assert store.landing_object_metadata(meta.uri) == store.landing_object_metadata(meta.key)


def test_accepts_a_utf8_byte_order_mark(store: ObjectStore) -> None:
    put(store, "manifests/bom.json", b"\xef\xbb\xbf" + json.dumps(MANIFEST).encode())
    assert store.read_manifest("manifests/bom.json") == MANIFEST


@pytest.mark.parametrize(
    ("body", "error", "fragment"),
    [
        (b"this is not json", ManifestNotJson, "not valid JSON"),
        (b'{"batch_id": "a",}', ManifestNotJson, "line 1"),
        (b'{"a": NaN}', ManifestNotJson, "NaN"),
        (b'{"batch_id": "a", "batch_id": "b"}', ManifestNotJson, "duplicate key 'batch_id'"),
        (b'{"batch_id": "caf\xe9"}', ManifestNotUtf8, "UTF-8"),
        (b'[{"batch_id": "a"}]', ManifestNotObject, "JSON array"),
        (b'"just a string"', ManifestNotObject, "JSON string"),
        (b"null", ManifestNotObject, "JSON null"),
        (b"", ManifestNotJson, "not valid JSON"),
        (b'{"pad": "' + b"x" * 2000 + b'"}', ManifestTooLarge, "limit of 1000 bytes"),
    ],
)
def test_bad_bodies_raise_typed_errors_and_nothing_is_deleted(
    store: ObjectStore, body: bytes, error: type[ManifestReadError], fragment: str
) -> None:
    key = "manifests/bad.json"
    put(store, key, body)

    with pytest.raises(error) as info:
        store.read_manifest(key, max_bytes=1000)

    assert isinstance(info.value, ManifestReadError)
    assert info.value.key == key
    assert fragment in str(info.value)
    assert read(store, key) == body  # still there, untouched
    assert not store.landing_object_exists(store.archive_key_for(key))


def test_missing_manifest_raises_not_found(store: ObjectStore) -> None:
    with pytest.raises(ManifestNotFound, match=r"manifests/gone\.json"):
        store.read_manifest("manifests/gone.json")


def test_oversized_manifest_is_refused_before_download(
    store: ObjectStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    put(store, "manifests/big.json", b"[" + b"1," * 100_000 + b"1]")
    calls: list[str] = []
    original = store.client.get_object
    monkeypatch.setattr(
        store.client, "get_object", lambda *a, **k: calls.append("get") or original(*a, **k)
    )

    with pytest.raises(ManifestTooLarge) as info:
        store.read_manifest("manifests/big.json", max_bytes=1_000)

    assert info.value.size == 200_003 and info.value.max_bytes == 1_000
    assert calls == []  # refused from the size alone


def test_reads_at_most_max_bytes_plus_one(
    store: ObjectStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An object that grows between stat and read is still bounded (stat is bypassed here)."""
    put(store, "manifests/grows.json", b'{"a": "' + b"x" * 5_000 + b'"}')
    real_metadata = store._metadata

    def small_stat(bucket: str, key: str):
        meta = real_metadata(bucket, key)
        return keys_module.ObjectMetadata(
            bucket=bucket, key=key, etag=meta.etag, size=10, last_modified=meta.last_modified
        )

    monkeypatch.setattr(store, "_metadata", small_stat)
    with pytest.raises(ManifestTooLarge) as info:
        store.read_manifest("manifests/grows.json", max_bytes=100)
    assert info.value.size == 101


# --- archiving --------------------------------------------------------------------------------


def test_archives_a_manifest(store: ObjectStore) -> None:
    put(store, "manifests/roads.json", json.dumps(MANIFEST))

    archive_key = store.archive_manifest("manifests/roads.json")

    assert (
        archive_key
        == "archive/manifests/roads.json"
        == store.archive_key_for("manifests/roads.json")
    )
    assert not store.landing_object_exists("manifests/roads.json")
    assert json.loads(read(store, archive_key)) == MANIFEST
    assert store.list_manifest_keys() == []


def test_archive_with_failing_delete_keeps_the_manifest_recoverable(
    store: ObjectStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    key = "manifests/roads.json"
    put(store, key, json.dumps(MANIFEST))

    def failing_remove(*args, **kwargs):
        raise OSError("connection reset while deleting")

    monkeypatch.setattr(store.client, "remove_object", failing_remove)
    with pytest.raises(ArchiveError, match="still in place") as info:
        store.archive_manifest(key)
    assert info.value.key == key
    # Never lost: the original is readable and the archive copy exists.
    assert store.read_manifest(key) == MANIFEST
    assert json.loads(read(store, "archive/manifests/roads.json")) == MANIFEST
    assert key in store.list_manifest_keys()

    monkeypatch.undo()
    assert store.archive_manifest(key) == "archive/manifests/roads.json"
    assert not store.landing_object_exists(key)
    # The retry recognised its own copy: no spurious history entry.
    assert store.archive_history(key) == []


def test_archive_with_failing_copy_leaves_everything_in_place(
    store: ObjectStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    key = "manifests/roads.json"
    put(store, key, json.dumps(MANIFEST))

    def failing_copy(*args, **kwargs):
        raise OSError("copy refused")

    monkeypatch.setattr(store.client, "copy_object", failing_copy)
    with pytest.raises(ArchiveError, match="manifest is unchanged"):
        store.archive_manifest(key)
    assert store.read_manifest(key) == MANIFEST
    assert not store.landing_object_exists("archive/manifests/roads.json")


def test_second_manifest_with_an_archived_name_keeps_both(store: ObjectStore) -> None:
    key = "manifests/roads.json"
    first = {**MANIFEST, "batch_id": "roads_day1"}
    second = {**MANIFEST, "batch_id": "roads_day2"}
    put(store, key, json.dumps(first))
    store.archive_rejected_manifest(key, {"errors": ["day 1 was rejected"]})
    put(store, key, json.dumps(second))

    archive_key = store.archive_manifest(key)

    assert json.loads(read(store, archive_key)) == second
    history = store.archive_history(key)
    assert len(history) == 1
    assert history[0].startswith("archive/history/") and history[0].endswith("/" + key)
    assert json.loads(read(store, history[0])) == first
    # The earlier report moved with its manifest; the new archive has no report yet.
    assert json.loads(read(store, history[0] + ".rejection.json")) == {
        "errors": ["day 1 was rejected"]
    }
    assert not store.landing_object_exists(store.rejection_report_key_for(key))

    # A third one keeps all three.
    third = {**MANIFEST, "batch_id": "roads_day3"}
    put(store, key, json.dumps(third))
    store.archive_manifest(key)
    history = store.archive_history(key)
    assert len(history) == 2
    assert sorted(json.loads(read(store, k))["batch_id"] for k in history) == [
        "roads_day1",
        "roads_day2",
    ]
    assert json.loads(read(store, archive_key))["batch_id"] == "roads_day3"


def test_rejection_report_beside_the_archived_manifest(store: ObjectStore) -> None:
    key = "manifests/broken.json"
    put(store, key, b"not json")

    archive_key, report_key = store.archive_rejected_manifest(
        key, {"batch_id": None, "errors": [{"field": "(body)", "message": "not JSON"}]}
    )

    assert archive_key == "archive/manifests/broken.json"
    assert report_key == "archive/manifests/broken.json.rejection.json"
    assert read(store, archive_key) == b"not json"
    assert json.loads(read(store, report_key))["errors"][0]["field"] == "(body)"
    assert store.landing_object_metadata(report_key).content_type == "application/json"


def test_archiving_a_missing_manifest_raises(store: ObjectStore) -> None:
    with pytest.raises(ArchiveError, match="already archived"):
        store.archive_manifest("manifests/nothing.json")


# --- lake: write-once, streamed -----------------------------------------------------------------


def test_lake_write_to_an_existing_key_is_refused(store: ObjectStore) -> None:
    meta = store.put_lake_bytes(
        "roads/v1/data.parquet",
        b"first",
        "application/vnd.apache.parquet",
        metadata={"dataset-id": "roads"},
    )
    assert meta.size == 5 and meta.key == "roads/v1/data.parquet"
    assert meta.content_type == "application/vnd.apache.parquet"
    stat = store.client.stat_object(store.lake_bucket, "roads/v1/data.parquet")
    assert {k.lower(): v for k, v in stat.metadata.items()}["x-amz-meta-dataset-id"] == "roads"

    with pytest.raises(LakeObjectExists, match="write-once"):
        store.put_lake_bytes("roads/v1/data.parquet", b"second")

    assert read(store, "roads/v1/data.parquet", store.lake_bucket) == b"first"


def test_lake_refusal_is_enforced_by_the_server_not_only_the_stat(
    store: ObjectStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A writer whose existence check raced (saw no object) is still refused: If-None-Match."""
    store.put_lake_bytes("roads/v1/data.parquet", b"first")
    monkeypatch.setattr(store, "_metadata_or_none", lambda bucket, key: None)

    with pytest.raises(LakeObjectExists):
        store.put_lake_bytes("roads/v1/data.parquet", b"second")

    monkeypatch.undo()
    assert read(store, "roads/v1/data.parquet", store.lake_bucket) == b"first"


def test_concurrent_lake_writers_exactly_one_wins(store: ObjectStore) -> None:
    barrier = threading.Barrier(8)
    outcomes: list[str] = []

    def write(i: int) -> None:
        barrier.wait()
        try:
            store.put_lake_bytes("race/v1/data.bin", f"writer {i}".encode())
            outcomes.append("won")
        except LakeObjectExists:
            outcomes.append("refused")

    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(write, range(8)))

    assert sorted(outcomes) == ["refused"] * 7 + ["won"]


def test_large_upload_is_streamed_in_parts_and_write_once(
    store: ObjectStore, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(lake_module, "LAKE_PART_SIZE", 5 * 1024 * 1024)
    source = tmp_path / "big.bin"
    payload = os.urandom(11 * 1024 * 1024 + 123)
    source.write_bytes(payload)

    meta = store.upload_to_lake(source, "big/v1/data.tif", content_type="image/tiff")

    assert meta.size == len(payload)
    assert meta.etag.endswith("-3")  # three parts: 5 + 5 + 1 MiB
    dest = tmp_path / "out" / "data.tif"
    downloaded = store.download_from_lake("big/v1/data.tif", dest)
    assert downloaded.size == len(payload)
    assert hashlib.sha256(dest.read_bytes()).digest() == hashlib.sha256(payload).digest()

    # The conditional multipart completion refuses too, even when the stat is bypassed.
    monkeypatch.setattr(store, "_metadata_or_none", lambda bucket, key: None)
    source.write_bytes(os.urandom(len(payload)))
    with pytest.raises(LakeObjectExists):
        store.upload_to_lake(source, "big/v1/data.tif")
    monkeypatch.undo()
    assert store.lake_object_metadata("big/v1/data.tif").etag == meta.etag
    # The refused multipart upload was aborted, not left behind.
    assert store.s3.list_multipart_uploads(Bucket=store.lake_bucket).get("Uploads", []) == []


def test_second_multipart_write_is_refused_even_without_the_stat(
    store: ObjectStore, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two multipart writers of one key: the conditional completion refuses the second."""
    monkeypatch.setattr(lake_module, "LAKE_PART_SIZE", 5 * 1024 * 1024)
    monkeypatch.setattr(store, "_metadata_or_none", lambda bucket, key: None)
    source = tmp_path / "big.bin"
    source.write_bytes(os.urandom(6 * 1024 * 1024))
    store.upload_to_lake(source, "twice/v1/data.tif")
    with pytest.raises(LakeObjectExists):
        store.upload_to_lake(source, "twice/v1/data.tif")


def test_delete_lake_object_removes_an_unregistered_upload(store: ObjectStore) -> None:
    store.put_lake_bytes("orphan/v1/data.parquet", b"x")
    store.delete_lake_object("orphan/v1/data.parquet")
    assert not store.lake_object_exists("orphan/v1/data.parquet")
    store.delete_lake_object("orphan/v1/data.parquet")  # already gone: no error
    store.put_lake_bytes("orphan/v1/data.parquet", b"y")  # the key is free again


def test_upload_small_file_and_lake_metadata(store: ObjectStore, tmp_path: Path) -> None:
    source = tmp_path / "item.json"
    source.write_text('{"type": "Feature"}')

    meta = store.upload_to_lake(source, "roads/v1/item.json", content_type="application/json")

    assert store.lake_object_metadata("roads/v1/item.json") == meta
    assert store.lake_object_exists("roads/v1/item.json")
    assert store.lake_uri("roads/v1/item.json") == f"s3://{store.lake_bucket}/roads/v1/item.json"
    with pytest.raises(LakeObjectExists):
        store.upload_to_lake(source, "roads/v1/item.json")


# --- downloads, presigned URLs, GDAL ----------------------------------------------------------

GEOJSON = json.dumps(
    {
        "type": "FeatureCollection",
        "features": [
            {
                "type": "Feature",
                "properties": {"name": f"p{i}"},
                "geometry": {"type": "Point", "coordinates": [144.9 + i / 100, -37.8]},
            }
            for i in range(3)
        ],
    }
)


def test_downloads_from_landing_by_key_or_uri(store: ObjectStore, tmp_path: Path) -> None:
    put(store, "batch_1/points.geojson", GEOJSON)

    meta = store.download_from_landing(
        f"s3://{store.landing_bucket}/batch_1/points.geojson", tmp_path / "a" / "points.geojson"
    )

    assert (tmp_path / "a" / "points.geojson").read_text() == GEOJSON
    assert meta.size == len(GEOJSON)
    assert meta.to_input_file().path == f"s3://{store.landing_bucket}/batch_1/points.geojson"
    with pytest.raises(ObjectNotFound):
        store.download_from_landing("batch_1/missing.geojson", tmp_path / "b")
    with pytest.raises(ObjectNotFound):
        store.download_from_lake("nothing/v1/data.parquet", tmp_path / "c")


def test_raw_reads_are_confined_to_the_landing_bucket(store: ObjectStore, tmp_path: Path) -> None:
    store.put_lake_bytes("secret/v1/data.parquet", b"lake data")
    for path in (
        f"s3://{store.lake_bucket}/secret/v1/data.parquet",
        f"s3://{store.landing_bucket}/../{store.lake_bucket}/secret/v1/data.parquet",
        "file:///etc/passwd",
        "../secret",
    ):
        with pytest.raises(PathOutsideLanding):
            store.download_from_landing(path, tmp_path / "x")
        with pytest.raises(PathOutsideLanding):
            store.presigned_landing_url(path)
        with pytest.raises(PathOutsideLanding):
            store.vsis3_path(path)


def test_presigned_landing_url_serves_the_object(store: ObjectStore) -> None:
    put(store, "batch_1/points.geojson", GEOJSON)
    url = store.presigned_landing_url("batch_1/points.geojson")
    assert url.startswith(f"http://{store.endpoint}/{store.landing_bucket}/batch_1/points.geojson?")
    with urllib.request.urlopen(url, timeout=10) as response:  # noqa: S310 - our own server
        assert response.read().decode() == GEOJSON


def _ogrinfo(path: str, env: dict[str, str]) -> str:
    base = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "CPL_", "GDAL_"))}
    result = subprocess.run(
        ["ogrinfo", "-ro", "-so", "-al", path],
        env={**base, **env},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_gdal_reads_landing_objects_via_a_presigned_vsicurl_path(store: ObjectStore) -> None:
    # /vsis3/ reads need etl_spatial's GDAL S3 environment; they are tested there.
    put(store, "batch_1/points.geojson", GEOJSON)

    via_curl = _ogrinfo(store.vsicurl_path("batch_1/points.geojson"), {})

    assert "Feature Count: 3" in via_curl


# --- settings and Dagster ---------------------------------------------------------------------


def test_from_settings_uses_the_environment(s3_service) -> None:
    store = ObjectStore.from_settings()
    assert store.endpoint == s3_service.endpoint
    assert store.access_key == s3_service.access_key
    explicit = ObjectStore.from_settings(
        ObjectStoreSettings(MINIO_ENDPOINT="minio:9000", LAKE_BUCKET="lake-x")
    )
    assert (explicit.endpoint, explicit.lake_bucket) == ("minio:9000", "lake-x")


def test_object_store_is_a_plain_object_with_one_client(store: ObjectStore) -> None:
    assert store.client is store.client and store.s3 is store.s3
    assert not hasattr(ObjectStore, "from_env")


def test_ensure_buckets_creates_missing_buckets(s3_service) -> None:
    suffix = uuid.uuid4().hex[:8]
    store = ObjectStore(
        endpoint=s3_service.endpoint,
        access_key=s3_service.access_key,
        secret_key=s3_service.secret_key,
        landing_bucket=f"landing-new-{suffix}",
        lake_bucket=f"lake-new-{suffix}",
    )
    store.ensure_buckets()
    store.ensure_buckets()  # idempotent
    assert store.client.bucket_exists(store.landing_bucket)
    assert store.client.bucket_exists(store.lake_bucket)
