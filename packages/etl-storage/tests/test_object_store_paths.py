"""ObjectStore path rules, archive naming, GDAL environment and manifest parsing (no server)."""

from __future__ import annotations

import pytest

from etl_storage import (
    InvalidObjectKey,
    ManifestNotJson,
    ManifestNotObject,
    ManifestNotUtf8,
    ObjectStore,
    PathOutsideLanding,
)
from etl_storage.object_store import parse_manifest_bytes, validate_object_key

pytestmark = pytest.mark.unit


@pytest.fixture
def store() -> ObjectStore:
    return ObjectStore(
        endpoint="127.0.0.1:9000",
        access_key="user",
        secret_key="very-secret-key",
        landing_bucket="landing-zone",
        lake_bucket="data-lake",
    )


@pytest.mark.parametrize(
    ("uri", "key"),
    [
        ("s3://landing-zone/roads/roads.gpkg", "roads/roads.gpkg"),
        ("s3://landing-zone/a/b/c d (1).shp", "a/b/c d (1).shp"),
        ("s3://landing-zone/file..name.csv", "file..name.csv"),
    ],
)
def test_landing_uris_map_to_keys(store: ObjectStore, uri: str, key: str) -> None:
    assert store.landing_key_from_uri(uri) == key


@pytest.mark.parametrize(
    ("uri", "reason"),
    [
        ("s3://data-lake/roads/v1/data.parquet", "not the landing bucket"),
        ("s3://other/roads.gpkg", "not the landing bucket"),
        ("s3://landing-zone/../data-lake/x", "'..' segments"),
        ("s3://landing-zone/a/../../b", "'..' segments"),
        ("s3://landing-zone/./a", "'.' or '..' segments"),
        ("s3://landing-zone//etc/passwd", "absolute"),
        ("s3://landing-zone/a//b", "empty segment"),
        ("s3://landing-zone/a/", "empty segment"),
        ("s3://landing-zone/a/%252e%252e/b", "percent-encoded"),
        ("s3://landing-zone/", "no object key"),
        ("s3://landing-zone", "no object key"),
        ("s3://landing-zone/a\\..\\b", "backslashes"),
        ("s3://landing-zone/a/%2e%2e/b", "percent-encoded"),
        ("s3://landing-zone/a\x00b", "control characters"),
        ("https://evil.example/landing-zone/a", "scheme 'https'"),
        ("file:///etc/passwd", "scheme 'file'"),
        ("/vsis3/landing-zone/a", "not an s3:// URI"),
        ("/etc/passwd", "not an s3:// URI"),
        ("landing-zone/a.gpkg", "not an s3:// URI"),
        ("", "expected s3://"),
    ],
)
def test_paths_outside_landing_are_refused(store: ObjectStore, uri: str, reason: str) -> None:
    with pytest.raises(PathOutsideLanding) as info:
        store.landing_key_from_uri(uri)
    assert reason in str(info.value)
    assert isinstance(info.value, ValueError)


def test_landing_key_accepts_keys_and_uris(store: ObjectStore) -> None:
    assert store.landing_key("a/b.tif") == "a/b.tif"
    assert store.landing_key("s3://landing-zone/a/b.tif") == "a/b.tif"
    with pytest.raises(PathOutsideLanding):
        store.landing_key("../a")
    with pytest.raises(PathOutsideLanding):
        store.landing_key("/a")


@pytest.mark.parametrize("key", ["", "/a", "a/", "a//b", "..", "a/../b", "a\\b", "a\nb"])
def test_invalid_object_keys(key: str) -> None:
    with pytest.raises(InvalidObjectKey):
        validate_object_key(key)


def test_archive_and_report_keys() -> None:
    assert ObjectStore.archive_key_for("manifests/roads.json") == "archive/manifests/roads.json"
    assert (
        ObjectStore.rejection_report_key_for("manifests/roads.json")
        == "archive/manifests/roads.json.rejection.json"
    )


def test_uris_and_gdal_paths(store: ObjectStore) -> None:
    assert store.lake_uri("roads/v1/data.parquet") == "s3://data-lake/roads/v1/data.parquet"
    assert store.landing_uri("roads/a.gpkg") == "s3://landing-zone/roads/a.gpkg"
    assert store.vsis3_path("s3://landing-zone/roads/a.gpkg") == "/vsis3/landing-zone/roads/a.gpkg"
    assert store.lake_vsis3_path("roads/v1/data.tif") == "/vsis3/data-lake/roads/v1/data.tif"


def test_secret_key_never_in_repr(store: ObjectStore) -> None:
    assert "very-secret-key" not in repr(store)
    assert "very-secret-key" not in str(store)


def test_endpoint_with_scheme_is_refused() -> None:
    store = ObjectStore(endpoint="http://minio:9000", access_key="u", secret_key="s")
    with pytest.raises(Exception, match="without a scheme"):
        _ = store.client


def test_parse_manifest_bytes() -> None:
    assert parse_manifest_bytes("k", b'{"a": [1, 2.5, null, true]}') == {"a": [1, 2.5, None, True]}
    with pytest.raises(ManifestNotObject, match="JSON number"):
        parse_manifest_bytes("k", b"42")
    with pytest.raises(ManifestNotObject, match="JSON boolean"):
        parse_manifest_bytes("k", b"true")
    with pytest.raises(ManifestNotJson, match="Infinity"):
        parse_manifest_bytes("k", b'{"a": -Infinity}')
    with pytest.raises(ManifestNotUtf8, match="offset 1"):
        parse_manifest_bytes("k", b"{\xff}")
