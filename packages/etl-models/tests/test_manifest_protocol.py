"""Every manifest rule, each with a passing and a failing case, and error messages that name
the field and the fix."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest

from etl_models.manifest import (
    Manifest,
    ManifestValidationError,
    landing_key,
    parse_manifest,
    parse_manifest_bytes,
)

pytestmark = pytest.mark.unit


def valid_vector() -> dict[str, Any]:
    return {
        "batch_id": "roads_2026_11_22",
        "uploader": "jane",
        "intent": "ingest_vector",
        "files": [
            {
                "path": "s3://landing-zone/roads_2026_11_22/roads.gpkg",
                "type": "vector",
                "format": "GPKG",
                "crs": "EPSG:28355",
            }
        ],
        "metadata": {
            "project": "ALPHA",
            "description": "Road centrelines",
            "tags": {"dataset_id": "roads"},
            "join_config": None,
        },
    }


def valid_join() -> dict[str, Any]:
    return {
        "batch_id": "join_1",
        "uploader": "jane",
        "intent": "join_datasets",
        "metadata": {
            "tags": {"dataset_id": "roads_with_counts"},
            "join_config": {
                "spatial_dataset_id": "roads",
                "tabular_dataset_id": "counts",
                "left_key": "road_id",
            },
        },
    }


def with_changes(base: dict[str, Any], **path_values: Any) -> dict[str, Any]:
    """Copy ``base`` and set dotted paths (``files.0.type``); the value ``...`` deletes."""
    doc = copy.deepcopy(base)
    for dotted, value in path_values.items():
        parts = dotted.split("__")
        target: Any = doc
        for part in parts[:-1]:
            target = target[int(part)] if isinstance(target, list) else target[part]
        last = parts[-1]
        if isinstance(target, list):
            target[int(last)] = value
        elif value is ...:
            del target[last]
        else:
            target[last] = value
    return doc


def errors_of(doc: Any, **kwargs: Any) -> dict[str, str]:
    with pytest.raises(ManifestValidationError) as info:
        parse_manifest(doc, **kwargs)
    return {e.field: e.message for e in info.value.errors}


def test_design_example_is_valid() -> None:
    manifest = parse_manifest(valid_vector())
    assert manifest.dataset_id == "roads"
    assert manifest.files[0].format == "GPKG"
    assert manifest.files[0].key == "roads_2026_11_22/roads.gpkg"
    assert manifest.file_type == "vector"


# --- batch_id ------------------------------------------------------------------------------


@pytest.mark.parametrize("batch_id", ["a", "roads_2026_11_22", "A.b-c_9", "x" * 128])
def test_batch_id_accepted(batch_id: str) -> None:
    assert parse_manifest(with_changes(valid_vector(), batch_id=batch_id)).batch_id == batch_id


@pytest.mark.parametrize(
    "batch_id", ["", "-leading", ".hidden", "has space", "a/b", "x" * 129, "ümlaut", "a\nb"]
)
def test_batch_id_rejected(batch_id: str) -> None:
    errors = errors_of(with_changes(valid_vector(), batch_id=batch_id))
    assert "batch_id" in errors
    assert "roads_2026_11_22" in errors["batch_id"]  # shows a valid example


def test_batch_id_must_be_string() -> None:
    errors = errors_of(with_changes(valid_vector(), batch_id=123))
    assert errors["batch_id"].startswith("must be a string")


def test_batch_id_required() -> None:
    errors = errors_of(with_changes(valid_vector(), batch_id=...))
    assert errors["batch_id"] == "required field 'batch_id' is missing; add it"


# --- uploader / intent ---------------------------------------------------------------------


def test_uploader_required_and_readable() -> None:
    assert parse_manifest(with_changes(valid_vector(), uploader="Jane Doe")).uploader == "Jane Doe"
    assert "uploader" in errors_of(with_changes(valid_vector(), uploader=...))
    assert "uploader" in errors_of(with_changes(valid_vector(), uploader="   "))
    assert "uploader" in errors_of(with_changes(valid_vector(), uploader="a\x00b"))


@pytest.mark.parametrize("intent", ["ingest_vector", "ingest_building_footprints", "x1"])
def test_intent_accepted(intent: str) -> None:
    assert parse_manifest(with_changes(valid_vector(), intent=intent)).intent == intent


@pytest.mark.parametrize("intent", ["", "Ingest", "ingest-vector", "1abc", "a" * 65])
def test_intent_rejected(intent: str) -> None:
    assert "intent" in errors_of(with_changes(valid_vector(), intent=intent))


# --- unknown fields and wrong types --------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "field"),
    [
        ("colour", "colour"),
        ("files__0__colour", "files[0].colour"),
        ("metadata__colour", "metadata.colour"),
    ],
)
def test_unknown_fields_rejected(path: str, field: str) -> None:
    errors = errors_of(with_changes(valid_vector(), **{path: "red"}))
    assert errors[field] == "unknown field 'colour'; remove it or check its spelling"


@pytest.mark.parametrize(
    ("path", "value", "field"),
    [
        ("files", "s3://landing-zone/x.gpkg", "files"),
        ("files__0__type", 1, "files[0].type"),
        ("metadata", [], "metadata"),
        ("metadata__tags", ["a"], "metadata.tags"),
        ("files__0__crs", 28355, "files[0].crs"),
    ],
)
def test_wrong_types_rejected_not_coerced(path: str, value: Any, field: str) -> None:
    errors = errors_of(with_changes(valid_vector(), **{path: value}))
    assert field in errors


@pytest.mark.parametrize("doc", [[], "manifest", 3, None])
def test_document_must_be_an_object(doc: Any) -> None:
    errors = errors_of(doc)
    assert "JSON object" in errors["(manifest)"]


# --- files[].path confinement --------------------------------------------------------------


@pytest.mark.parametrize(
    "path",
    [
        "s3://landing-zone/batch/roads.gpkg",
        "s3://landing-zone/batch/sub dir/roads v2.gpkg",
        "s3://landing-zone/roads.gpkg",
    ],
)
def test_path_in_landing_bucket_accepted(path: str) -> None:
    doc = with_changes(valid_vector(), files__0__path=path)
    assert parse_manifest(doc).files[0].path == path


@pytest.mark.parametrize(
    ("path", "reason"),
    [
        ("s3://data-lake/roads/v1/data.parquet", "outside the landing bucket"),
        ("s3://landing-zone-evil/x.gpkg", "outside the landing bucket"),
        ("landing-zone/x.gpkg", "outside the landing bucket"),
        ("/etc/passwd", "outside the landing bucket"),
        ("file:///etc/passwd", "outside the landing bucket"),
        ("https://example.com/x.gpkg", "outside the landing bucket"),
        ("/vsicurl/http://x/y.gpkg", "outside the landing bucket"),
        ("s3://landing-zone/../data-lake/x.gpkg", "'..' segments"),
        ("s3://landing-zone/a/../../x.gpkg", "'..' segments"),
        ("s3://landing-zone/./x.gpkg", "'..' segments"),
        ("s3://landing-zone//x.gpkg", "absolute"),
        ("s3://landing-zone/a//x.gpkg", "empty"),
        ("s3://landing-zone/", "names no object"),
        ("s3://landing-zone/a\\..\\x.gpkg", "backslashes"),
        ("s3://landing-zone/%2e%2e/x.gpkg", "percent-escapes"),
        ("s3://landing-zone/manifests/x.json", "reserved"),
        ("s3://landing-zone/archive/x.gpkg", "reserved"),
    ],
)
def test_path_outside_landing_rejected(path: str, reason: str) -> None:
    errors = errors_of(with_changes(valid_vector(), files__0__path=path))
    message = errors["files[0].path"]
    assert reason in message
    assert "s3://landing-zone/<batch_id>/" in message  # the fix


def test_landing_bucket_comes_from_context() -> None:
    doc = with_changes(valid_vector(), files__0__path="s3://my-landing/b/x.gpkg")
    assert parse_manifest(doc, landing_bucket="my-landing").files[0].key == "b/x.gpkg"
    assert "outside the landing bucket" in errors_of(doc)["files[0].path"]
    assert landing_key("s3://my-landing/b/x.gpkg", "my-landing") == "b/x.gpkg"


# --- files[].type / format / crs -----------------------------------------------------------


def test_file_type_is_a_lowercase_name() -> None:
    # Which file types exist is declared by the lanes (etl_pipeline's preflight tests).
    errors = errors_of(with_changes(valid_vector(), files__0__type="Vector!"))
    assert "lowercase name such as 'vector'" in errors["files[0].type"]
    assert parse_manifest(with_changes(valid_vector(), files__0__type="pointcloud"))


def test_format_is_kept_as_given() -> None:
    # Its canonical spelling is the reading lane's (etl_pipeline's preflight tests).
    doc = with_changes(valid_vector(), files__0__format=" shapefile ")
    assert parse_manifest(doc).files[0].format == "shapefile"
    doc["files"][0].pop("format")
    assert parse_manifest(doc).files[0].format is None


@pytest.mark.parametrize("crs", ["EPSG:4326", "epsg:28355", "ESRI:102100", "OGC:CRS84", None])
def test_crs_accepted(crs: str | None) -> None:
    parsed = parse_manifest(with_changes(valid_vector(), files__0__crs=crs))
    assert parsed.files[0].crs == (crs.upper() if crs else None)


@pytest.mark.parametrize("crs", ["4326", "EPSG:abc", "+proj=longlat", "EPSG:"])
def test_crs_rejected(crs: str) -> None:
    assert (
        "EPSG:28355" in errors_of(with_changes(valid_vector(), files__0__crs=crs))["files[0].crs"]
    )


def test_csv_options() -> None:
    doc = with_changes(
        valid_vector(),
        files__0__path="s3://landing-zone/b/pts.csv",
        files__0__format="CSV",
        files__0__options={"x_column": "lon", "y_column": "lat", "encoding": "LATIN-1"},
    )
    options = parse_manifest(doc).files[0].options
    assert options is not None and options.encoding == "iso8859-1"
    lonely = with_changes(doc, files__0__options={"x_column": "lon"})
    assert "x_column and y_column go together" in errors_of(lonely)["files[0].options"]
    bad_encoding = with_changes(doc, files__0__options={"encoding": "klingon"})
    assert "latin-1" in errors_of(bad_encoding)["files[0].options.encoding"]
    both = with_changes(
        doc, files__0__options={"x_column": "a", "y_column": "b", "wkt_column": "w"}
    )
    assert "not both" in errors_of(both)["files[0].options"]


# --- batch-level rules ----------------------------------------------------------------------


def test_files_must_not_be_empty_for_ingest() -> None:
    errors = errors_of(with_changes(valid_vector(), files=[]))
    assert "at least one raw file" in errors["files"]


def test_one_type_per_batch_for_legacy_intents() -> None:
    doc = valid_vector()
    doc["intent"] = "ingest_building_footprints"
    doc["files"].append({"path": "s3://landing-zone/b/dem.tif", "type": "raster"})
    assert "mix types" in errors_of(doc)["files"]


def test_multi_file_batches_parse() -> None:
    # How many files a type takes is its lane's rule (etl_pipeline's preflight tests).
    doc = valid_vector()
    doc["files"].append(
        {"path": "s3://landing-zone/roads_2026_11_22/roads2.gpkg", "type": "vector"}
    )
    assert len(parse_manifest(doc).files) == 2


def test_duplicate_paths_rejected() -> None:
    doc = valid_vector()
    doc["files"].append(dict(doc["files"][0]))
    assert "more than once" in errors_of(doc)["files"]


# --- tags and identity ---------------------------------------------------------------------


def test_tags_scalar_values_only() -> None:
    doc = with_changes(valid_vector(), metadata__tags={"dataset_id": "roads", "n": 3, "ok": True})
    assert parse_manifest(doc).metadata.tags["n"] == 3
    bad = with_changes(valid_vector(), metadata__tags={"dataset_id": "roads", "nested": {"a": 1}})
    assert "metadata.tags.nested" in errors_of(bad)


def test_tag_keys_validated() -> None:
    bad = with_changes(valid_vector(), metadata__tags={"bad key!": "x"})
    assert any("tag key" in message for message in errors_of(bad).values())


@pytest.mark.parametrize("dataset_id", ["roads", "census_2021", "a", "x-y", "0abc"])
def test_dataset_id_tag_accepted(dataset_id: str) -> None:
    doc = with_changes(valid_vector(), metadata__tags={"dataset_id": dataset_id})
    assert parse_manifest(doc).dataset_id == dataset_id


@pytest.mark.parametrize("dataset_id", ["Roads", "_x", "a b", "a/b", "a" * 65, "", "ü"])
def test_dataset_id_tag_rejected(dataset_id: str) -> None:
    doc = with_changes(valid_vector(), metadata__tags={"dataset_id": dataset_id})
    assert "lowercase letters" in errors_of(doc)["metadata.tags.dataset_id"]


def test_dataset_id_tag_must_be_string() -> None:
    doc = with_changes(valid_vector(), metadata__tags={"dataset_id": 7})
    assert "must be a string" in errors_of(doc)["metadata.tags.dataset_id"]


def test_dataset_id_derived_deterministically_when_absent() -> None:
    doc = with_changes(valid_vector(), metadata__tags={})
    first, second = parse_manifest(doc), parse_manifest(copy.deepcopy(doc))
    assert first.dataset_id == second.dataset_id
    assert first.dataset_id.startswith("dataset_") and len(first.dataset_id) == 20
    other = parse_manifest(with_changes(doc, batch_id="another_batch"))
    assert other.dataset_id != first.dataset_id


# --- join_config ---------------------------------------------------------------------------


def test_join_manifest_valid_and_defaults() -> None:
    manifest = parse_manifest(valid_join())
    join = manifest.metadata.join_config
    assert join is not None
    # Without keep or how, a join keeps every tabular row (how 'left'), as it always did.
    assert (join.how, join.effective_how, join.effective_keep) == (None, "left", "tabular")
    assert (join.key_match, join.min_match_rate) == ("trimmed", 0.9)
    assert join.effective_right_key == "road_id"
    assert manifest.file_type is None


@pytest.mark.parametrize("how", ["left", "inner", "right", "outer"])
def test_join_how_accepted(how: str) -> None:
    doc = with_changes(valid_join(), metadata__join_config__how=how)
    assert parse_manifest(doc).metadata.join_config.how == how


def test_join_how_rejected() -> None:
    doc = with_changes(valid_join(), metadata__join_config__how="cross")
    assert "'left', 'inner', 'right' or 'outer'" in errors_of(doc)["metadata.join_config.how"]


def test_join_requires_config() -> None:
    doc = with_changes(valid_join(), metadata__join_config=None)
    assert "needs metadata.join_config" in errors_of(doc)["metadata.join_config"]


def test_join_takes_no_files() -> None:
    doc = with_changes(valid_join(), files=valid_vector()["files"])
    assert "remove 'files'" in errors_of(doc)["files"]


def test_join_config_only_for_join_intent() -> None:
    doc = with_changes(
        valid_vector(), metadata__join_config=valid_join()["metadata"]["join_config"]
    )
    assert "only for intent 'join_datasets'" in errors_of(doc)["metadata.join_config"]


def test_join_dataset_ids_validated() -> None:
    doc = with_changes(valid_join(), metadata__join_config__spatial_dataset_id="Bad Id")
    assert "lowercase" in errors_of(doc)["metadata.join_config.spatial_dataset_id"]


def test_join_versions_positive_integers() -> None:
    ok = with_changes(valid_join(), metadata__join_config__spatial_version=2)
    assert parse_manifest(ok).metadata.join_config.spatial_version == 2
    for bad in (0, -1, "2", 1.5):
        doc = with_changes(valid_join(), metadata__join_config__spatial_version=bad)
        assert "metadata.join_config.spatial_version" in errors_of(doc)


def test_join_keys_required_non_empty() -> None:
    assert "metadata.join_config.left_key" in errors_of(
        with_changes(valid_join(), metadata__join_config__left_key="")
    )
    assert "metadata.join_config.left_key" in errors_of(
        with_changes(valid_join(), metadata__join_config__left_key=...)
    )


# --- bytes entry point ----------------------------------------------------------------------


def test_bytes_entry_point() -> None:
    raw = json.dumps(valid_vector()).encode()
    assert isinstance(parse_manifest_bytes(raw), Manifest)
    with pytest.raises(ManifestValidationError, match="not valid JSON"):
        parse_manifest_bytes(b"{not json")
    with pytest.raises(ManifestValidationError, match="not UTF-8"):
        parse_manifest_bytes(b'{"batch_id": "\xff"}')
    with pytest.raises(ManifestValidationError, match="JSON object"):
        parse_manifest_bytes(b"[1, 2]")


def test_report_lists_every_problem() -> None:
    doc = with_changes(valid_vector(), batch_id="-x", uploader=..., colour="red")
    with pytest.raises(ManifestValidationError) as info:
        parse_manifest(doc)
    report = info.value.as_report()
    assert {e["field"] for e in report["errors"]} == {"batch_id", "uploader", "colour"}
    assert "3 problem(s)" in str(info.value)
