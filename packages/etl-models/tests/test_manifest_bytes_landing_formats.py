"""The one home of manifest concepts: byte decoding, landing-key rules, format tables."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from etl_models.landing import (
    archive_key_for,
    history_folder_for,
    manifest_key_for,
    object_key_problem,
    raw_file_key_problem,
    rejection_report_key_for,
)
from etl_models.manifest import ManifestValidationError, landing_key, parse_manifest_bytes
from etl_models.manifest_bytes import (
    ManifestBytesNotJson,
    ManifestBytesNotObject,
    ManifestBytesNotUtf8,
    ManifestBytesTooLarge,
    decode_manifest_bytes,
)

pytestmark = pytest.mark.unit


# --- bytes -> JSON object -----------------------------------------------------------------------


def test_decodes_a_json_object() -> None:
    assert decode_manifest_bytes(b'{"a": [1, 2.5, null, true]}') == {"a": [1, 2.5, None, True]}


def test_a_utf8_byte_order_mark_is_accepted_and_stripped() -> None:
    assert decode_manifest_bytes(b'\xef\xbb\xbf{"a": 1}') == {"a": 1}


def test_duplicate_keys_are_rejected_even_when_nested() -> None:
    with pytest.raises(ManifestBytesNotJson, match="duplicate key 'batch_id'"):
        decode_manifest_bytes(b'{"batch_id": "a", "batch_id": "b"}')
    with pytest.raises(ManifestBytesNotJson, match="duplicate key 'x'"):
        decode_manifest_bytes(b'{"m": {"x": 1, "x": 2}}')


@pytest.mark.parametrize("constant", [b"NaN", b"Infinity", b"-Infinity"])
def test_nan_and_infinity_are_rejected(constant: bytes) -> None:
    with pytest.raises(ManifestBytesNotJson, match="not valid JSON"):
        decode_manifest_bytes(b'{"a": ' + constant + b"}")


@pytest.mark.parametrize(
    ("body", "kind"),
    [
        (b"[1]", "array"),
        (b"42", "number"),
        (b"true", "boolean"),
        (b"null", "null"),
        (b'"s"', "string"),
    ],
)
def test_the_top_level_must_be_an_object(body: bytes, kind: str) -> None:
    with pytest.raises(ManifestBytesNotObject, match=f"JSON {kind}"):
        decode_manifest_bytes(body)


def test_non_utf8_and_oversized_bodies_are_rejected() -> None:
    with pytest.raises(ManifestBytesNotUtf8, match="offset 1"):
        decode_manifest_bytes(b"{\xff}")
    with pytest.raises(ManifestBytesTooLarge, match="limit of 10 bytes"):
        decode_manifest_bytes(b'{"a": "0123456789"}', max_bytes=10)


def test_parse_manifest_bytes_applies_the_same_rules() -> None:
    with pytest.raises(ManifestValidationError, match="duplicate key"):
        parse_manifest_bytes(b'{"batch_id": "a", "batch_id": "b"}')
    with pytest.raises(ManifestValidationError, match="batch_id"):  # BOM stripped, then validated
        parse_manifest_bytes(b'\xef\xbb\xbf{"batch_id": 1}')


# --- landing keys -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("key", "fragment"),
    [
        ("", "names no object"),
        ("/etc/passwd", "absolute"),
        ("a\\..\\b", "backslashes"),
        ("a/\x00b", "control characters"),
        ("a/\x7fb", "control characters"),
        ("a/%2e%2e/b", "percent-escapes"),
        ("a/%2F../b", "percent-escapes"),
        ("a/%252e%252e/b", "percent-escapes"),  # double encoding
        ("a//b", "empty segment"),
        ("a/", "empty segment"),
        ("..", "'..' segments"),
        ("a/../b", "'..' segments"),
        ("./a", "'..' segments"),
        ("a/" + "x" * 1024, "longer than 1024"),
    ],
)
def test_unsafe_object_keys_are_refused(key: str, fragment: str) -> None:
    problem = object_key_problem(key)
    assert problem is not None and fragment in problem


@pytest.mark.parametrize("key", ["b/roads.gpkg", "b/file..name.csv", "b/c d (1).shp", "b/100%.csv"])
def test_plain_keys_are_accepted(key: str) -> None:
    assert object_key_problem(key) is None
    assert raw_file_key_problem(key) is None


@pytest.mark.parametrize("key", ["manifests/x.json", "archive/manifests/x.json"])
def test_reserved_prefixes_are_refused_for_raw_files_only(key: str) -> None:
    assert object_key_problem(key) is None  # the platform itself reads and writes there
    assert "reserved" in (raw_file_key_problem(key) or "")


def test_manifest_paths_use_the_same_rules() -> None:
    assert landing_key("s3://landing-zone/b/x.gpkg") == "b/x.gpkg"
    for path in ("s3://landing-zone/a/%2e%2e/x", "s3://landing-zone/manifests/x.json"):
        with pytest.raises(ValueError):
            landing_key(path)


def test_archive_naming() -> None:
    assert manifest_key_for("roads.json") == "manifests/roads.json"
    assert archive_key_for("manifests/roads.json") == "archive/manifests/roads.json"
    assert (
        rejection_report_key_for("manifests/roads.json")
        == "archive/manifests/roads.json.rejection.json"
    )
    stamp = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    assert history_folder_for(stamp, "0123456789abcdef") == (
        "archive/history/20260102T030405Z-0123456789ab/"
    )
