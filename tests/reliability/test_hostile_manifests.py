"""Hostile manifests: every one is rejected with a readable reason naming the problem, archived
with an error report beside it, recorded as ``rejected`` in the ledger, and no tick fails.

Each case is one manifest dropped into a fresh landing bucket and one intake tick owning every
lane (the routing table gives each manifest exactly one owner; here we are all of them). The
Dagster sensors themselves are exercised over a whole batch of hostile manifests at the end.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from typing import Any

import pytest

from etl_models.status import ManifestStatus

from .conftest import Lab, ci, full_only

pytestmark = pytest.mark.integration

GEOJSON = json.dumps(
    {
        "type": "FeatureCollection",
        "features": [
            {
                "type": "Feature",
                "properties": {"id": 1},
                "geometry": {"type": "Point", "coordinates": [144.9, -37.8]},
            }
        ],
    }
)

Body = bytes | str | dict[str, Any] | list[Any]
Case = Callable[[Lab], tuple[Body, str]]


def valid(lab: Lab, batch: str = "hm_batch", **changes: Any) -> dict[str, Any]:
    """A valid vector manifest whose raw file exists; ``changes`` replace top-level fields."""
    doc = lab.manifest(
        batch, "ingest_vector", {"roads.geojson": ("vector", GEOJSON)}, dataset_id="roads"
    )
    doc.update(changes)
    return doc


def file_change(lab: Lab, **changes: Any) -> dict[str, Any]:
    doc = valid(lab)
    doc["files"][0].update(changes)
    return doc


def drop_key(doc: dict[str, Any], *path: str) -> dict[str, Any]:
    target = doc
    for part in path[:-1]:
        target = target[part]
    del target[path[-1]]
    return doc


def meta(lab: Lab, **changes: Any) -> dict[str, Any]:
    doc = valid(lab)
    doc["metadata"].update(changes)
    return doc


def tags(lab: Lab, **changes: Any) -> dict[str, Any]:
    doc = valid(lab)
    doc["metadata"]["tags"].update(changes)
    return doc


def join(lab: Lab, **config: Any) -> dict[str, Any]:
    base = {"spatial_dataset_id": "roads", "tabular_dataset_id": "counts", "left_key": "road"}
    doc = lab.manifest(
        "hm_join", "join_datasets", dataset_id="roads_counts", join_config={**base, **config}
    )
    return doc


def with_datasets(lab: Lab) -> None:
    """Register a spatial and a tabular dataset so joins can name real ones."""
    lab.register_fake_dataset("roads", "geoparquet", ["road_id", "name"])
    lab.register_fake_dataset("counts", "parquet", ["road", "n"])


def lake_path(lab: Lab) -> dict[str, Any]:
    return file_change(lab, path=f"s3://{lab.store.lake_bucket}/roads/v1/data.parquet")


def duplicate_batch(lab: Lab) -> tuple[Body, str]:
    """Another manifest reusing the batch_id of one already taken in."""
    lab.put("manifests/first.json", valid(lab, "dup_batch"))
    first = lab.tick()
    assert [q.manifest.batch_id for q in first.queued] == ["dup_batch"]
    return valid(lab, "dup_batch", uploader="mallory"), "batch_id"


def join_missing_columns(lab: Lab) -> tuple[Body, str]:
    with_datasets(lab)
    return join(lab, left_key="no_such_column", right_key="road_id"), "left_key"


def join_missing_right_column(lab: Lab) -> tuple[Body, str]:
    with_datasets(lab)
    return join(lab, right_key="nope"), "right_key"


def deep_nesting(_: Lab) -> tuple[Body, str]:
    return "[" * 100_000 + "]" * 100_000, "not valid JSON"


def too_many_files(lab: Lab) -> tuple[Body, str]:
    doc = valid(lab)
    doc["files"] = [
        {"path": lab.uri(f"hm_batch/f{i}.geojson"), "type": "vector"} for i in range(1001)
    ]
    return doc, "files"


CASES: list[Any] = [
    # --- not a JSON object at all ---------------------------------------------------------
    ci(lambda lab: (b"{not json", "not valid JSON"), id="malformed-json"),
    full_only(lambda lab: (b'{"batch_id": "x", "files": [', "not valid JSON"), id="truncated"),
    ci(lambda lab: (b"", "not valid JSON"), id="empty"),
    full_only(lambda lab: (b"  \n\t ", "not valid JSON"), id="whitespace-only"),
    ci(lambda lab: (b'{"pad": "' + b"x" * 1_100_000 + b'"}', "limit"), id="huge"),
    ci(lambda lab: (b'{"batch_id": "caf\xe9"}', "UTF-8"), id="latin1-not-utf8"),
    full_only(lambda lab: ('{"batch_id": "x"}'.encode("utf-16"), "UTF-8"), id="utf16"),
    ci(lambda lab: ([valid(lab)], "array"), id="array-not-object"),
    full_only(lambda lab: ('"hello"', "string"), id="json-string"),
    full_only(lambda lab: ("null", "null"), id="json-null"),
    full_only(lambda lab: ("42", "number"), id="json-number"),
    full_only(lambda lab: (b'{"batch_id": NaN}', "NaN"), id="nan-constant"),
    full_only(
        lambda lab: (b'{"batch_id": "a", "batch_id": "b"}', "duplicate key"),
        id="duplicate-json-key",
    ),
    full_only(deep_nesting, id="deep-nesting"),
    # --- missing and extra fields ----------------------------------------------------------
    ci(lambda lab: (drop_key(valid(lab), "batch_id"), "batch_id"), id="missing-batch_id"),
    full_only(lambda lab: (drop_key(valid(lab), "uploader"), "uploader"), id="missing-uploader"),
    full_only(lambda lab: (drop_key(valid(lab), "intent"), "intent"), id="missing-intent"),
    full_only(lambda lab: (drop_key(valid(lab), "files"), "files"), id="missing-files"),
    ci(lambda lab: (valid(lab, colour="red"), "colour"), id="extra-top-level"),
    full_only(lambda lab: (file_change(lab, size=10), "files[0].size"), id="extra-file-field"),
    full_only(lambda lab: (meta(lab, owner="x"), "metadata.owner"), id="extra-metadata"),
    # --- wrong types ----------------------------------------------------------------------
    ci(lambda lab: (valid(lab, batch_id=17), "batch_id"), id="batch_id-int"),
    full_only(lambda lab: (valid(lab, batch_id=None), "batch_id"), id="batch_id-null"),
    full_only(lambda lab: (valid(lab, uploader=["jane"]), "uploader"), id="uploader-list"),
    full_only(lambda lab: (valid(lab, files="roads.geojson"), "files"), id="files-string"),
    full_only(lambda lab: (valid(lab, files=["roads.geojson"]), "files[0]"), id="file-string"),
    full_only(lambda lab: (valid(lab, metadata=[]), "metadata"), id="metadata-list"),
    full_only(lambda lab: (meta(lab, tags=["a"]), "metadata.tags"), id="tags-list"),
    full_only(lambda lab: (valid(lab, intent=3), "intent"), id="intent-int"),
    full_only(lambda lab: (tags(lab, nested={"a": 1}), "metadata.tags"), id="tag-value-object"),
    # --- bad identifiers -------------------------------------------------------------------
    ci(lambda lab: (valid(lab, batch_id="../evil"), "batch_id"), id="batch_id-traversal"),
    full_only(lambda lab: (valid(lab, batch_id="a b"), "batch_id"), id="batch_id-space"),
    full_only(lambda lab: (valid(lab, batch_id=""), "batch_id"), id="batch_id-empty"),
    full_only(lambda lab: (valid(lab, batch_id="b" * 200), "batch_id"), id="batch_id-long"),
    full_only(lambda lab: (valid(lab, batch_id=".hidden"), "batch_id"), id="batch_id-dot"),
    full_only(lambda lab: (valid(lab, batch_id="a/b"), "batch_id"), id="batch_id-slash"),
    full_only(lambda lab: (valid(lab, batch_id="café"), "batch_id"), id="batch_id-unicode"),
    full_only(lambda lab: (valid(lab, batch_id="x'; drop--"), "batch_id"), id="batch_id-sql"),
    ci(lambda lab: (tags(lab, dataset_id="Roads"), "dataset_id"), id="dataset_id-upper"),
    full_only(
        lambda lab: (tags(lab, dataset_id="../lake"), "dataset_id"), id="dataset_id-traversal"
    ),
    full_only(lambda lab: (tags(lab, dataset_id=5), "dataset_id"), id="dataset_id-int"),
    full_only(lambda lab: (tags(lab, dataset_id="d" * 65), "dataset_id"), id="dataset_id-long"),
    full_only(lambda lab: (meta(lab, tags={"bad key!": 1}), "bad key!"), id="tag-key"),
    full_only(lambda lab: (valid(lab, uploader="jane\x00"), "uploader"), id="uploader-nul"),
    full_only(lambda lab: (valid(lab, uploader="   "), "uploader"), id="uploader-blank"),
    ci(duplicate_batch, id="duplicate-batch_id"),
    # --- paths outside the landing bucket ---------------------------------------------------
    ci(lambda lab: (lake_path(lab), "files[0].path"), id="path-lake-bucket"),
    full_only(
        lambda lab: (file_change(lab, path=f"s3://{lab.landing}-evil/x.geojson"), "files[0].path"),
        id="path-bucket-prefix",
    ),
    ci(
        lambda lab: (
            file_change(lab, path=lab.uri("hm_batch/../../etc/x.geojson")),
            "files[0].path",
        ),
        id="path-dotdot",
    ),
    full_only(
        lambda lab: (file_change(lab, path=lab.uri("./hm_batch/roads.geojson")), "files[0].path"),
        id="path-dot",
    ),
    full_only(
        lambda lab: (file_change(lab, path=lab.uri("/etc/passwd.geojson")), "files[0].path"),
        id="path-absolute-key",
    ),
    ci(
        lambda lab: (file_change(lab, path="/etc/passwd.geojson"), "files[0].path"),
        id="path-local-absolute",
    ),
    full_only(
        lambda lab: (file_change(lab, path="file:///etc/passwd.geojson"), "files[0].path"),
        id="path-file-url",
    ),
    ci(
        lambda lab: (
            file_change(lab, path="http://169.254.169.254/latest/x.geojson"),
            "files[0].path",
        ),
        id="path-http-url",
    ),
    full_only(
        lambda lab: (
            file_change(lab, path="/vsicurl/http://example.com/x.geojson"),
            "files[0].path",
        ),
        id="path-vsicurl",
    ),
    full_only(
        lambda lab: (file_change(lab, path=lab.uri("hm_batch/%2e%2e/x.geojson")), "files[0].path"),
        id="path-encoded-traversal",
    ),
    full_only(
        lambda lab: (file_change(lab, path=lab.uri("hm_batch\\..\\x.geojson")), "files[0].path"),
        id="path-backslash",
    ),
    full_only(
        lambda lab: (file_change(lab, path=lab.uri("manifests/other.geojson")), "files[0].path"),
        id="path-reserved-prefix",
    ),
    full_only(
        lambda lab: (file_change(lab, path=lab.uri("hm_batch/a\nb.geojson")), "files[0].path"),
        id="path-control-char",
    ),
    full_only(
        lambda lab: (file_change(lab, path=lab.uri("hm_batch/missing.geojson")), "does not exist"),
        id="path-missing-file",
    ),
    # --- files and intents -------------------------------------------------------------------
    ci(lambda lab: (valid(lab, files=[]), "files"), id="empty-files"),
    ci(
        lambda lab: (file_change(lab, type="tabular", path=lab.uri("hm_batch/c.csv")), "intent"),
        id="intent-type-mismatch",
    ),
    full_only(lambda lab: (valid(lab, intent="ingest_raster"), "intent"), id="raster-vector"),
    full_only(
        lambda lab: (file_change(lab, type="pointcloud"), "files[0].type"), id="unknown-file-type"
    ),
    full_only(lambda lab: (file_change(lab, format="PDF"), "format"), id="bad-format"),
    full_only(
        lambda lab: (file_change(lab, path=lab.uri("hm_batch/roads.xyz")), "format"),
        id="unknown-extension",
    ),
    full_only(lambda lab: (file_change(lab, crs="WGS84"), "crs"), id="crs-name"),
    full_only(
        lambda lab: (file_change(lab, crs="EPSG:4326; DROP TABLE x"), "crs"), id="crs-injection"
    ),
    full_only(
        lambda lab: (file_change(lab, options={"encoding": "klingon"}), "encoding"),
        id="unknown-encoding",
    ),
    full_only(
        lambda lab: (file_change(lab, options={"x_column": "lon"}), "options"), id="x-without-y"
    ),
    full_only(lambda lab: (valid(lab, intent="Ingest Vector!"), "intent"), id="intent-pattern"),
    full_only(
        lambda lab: (valid(lab, files=valid(lab)["files"] * 2), "files"), id="duplicate-paths"
    ),
    full_only(too_many_files, id="too-many-files"),
    # --- joins ---------------------------------------------------------------------------
    ci(lambda lab: (join(lab), "does not exist"), id="join-missing-datasets"),
    ci(join_missing_columns, id="join-missing-column"),
    full_only(join_missing_right_column, id="join-missing-right-column"),
    full_only(lambda lab: (join(lab, how="cross"), "how"), id="join-how"),
    full_only(lambda lab: (join(lab, left_key=""), "left_key"), id="join-empty-key"),
    full_only(lambda lab: (join(lab, spatial_version=0), "spatial_version"), id="join-version-0"),
    full_only(
        lambda lab: (join(lab, spatial_dataset_id="../x"), "spatial_dataset_id"),
        id="join-bad-dataset-id",
    ),
    full_only(
        lambda lab: ({**join(lab), "files": valid(lab)["files"]}, "files"), id="join-with-files"
    ),
    full_only(
        lambda lab: (drop_key(join(lab), "metadata", "join_config"), "join_config"),
        id="join-without-config",
    ),
    full_only(
        lambda lab: (meta(lab, join_config=join(lab)["metadata"]["join_config"]), "join_config"),
        id="join-config-on-vector",
    ),
]


@pytest.mark.parametrize("case", CASES)
def test_hostile_manifest_is_rejected_archived_and_recorded(lab: Lab, case: Case) -> None:
    body, expected = case(lab)
    key = lab.put(f"manifests/hostile-{uuid.uuid4().hex[:8]}.json", body)

    result = lab.tick()  # must not raise: a hostile manifest never fails a tick

    assert not result.queued or all(q.key != key for q in result.queued)
    [rejected] = [r for r in result.rejected if r.key == key]
    assert expected in rejected.reason, rejected.reason
    assert len(rejected.reason) < 20_000
    # Archived with its error report; gone from manifests/.
    assert not lab.store.landing_object_exists(key)
    assert lab.store.landing_object_exists(f"archive/{key}")
    report = lab.rejection_report(key)
    assert report["status"] == "rejected" and report["manifest_key"] == key
    assert report["errors"] and all(e["field"] and e["message"] for e in report["errors"])
    assert expected in json.dumps(report)
    # The ledger has the rejection with the same readable reason.
    [record] = lab.ledger.get_manifest_by_key(key)
    assert record.status == ManifestStatus.REJECTED
    assert record.error and expected in record.error
    # Nothing ran, nothing reached the lake.
    assert not lab.lake_keys()
    # The next tick does not see it again (archived), and does not fail either.
    assert lab.tick(cursor=result.cursor).processed == 0


def test_dagster_sensors_survive_a_batch_of_hostile_manifests(lab: Lab) -> None:
    """The real sensors of both locations over hostile manifests: no tick fails, every
    manifest ends archived and rejected by exactly one owner, valid ones still run."""
    import dagster as dg

    from etl_pipeline.orchestration.platform import build_location
    from etl_pipeline.orchestration.resources import resources_for

    asset_lanes, legacy = build_location("asset_lanes"), build_location("legacy_ingest")
    lane_sensors = [
        *(asset_lanes.sensor(n) for n in ("spatial_sensor", "tabular_sensor", "join_sensor")),
        legacy.sensor("manifest_sensor"),
    ]

    hostile: dict[str, Body] = {
        "manifests/h-json.json": b"{not json",
        "manifests/h-empty.json": b"",
        "manifests/h-bin.json": bytes(range(256)),
        "manifests/h-array.json": b"[]",
        "manifests/h-lake.json": lake_path(lab),
        "manifests/h-dotdot.json": file_change(lab, path=lab.uri("a/../../x.geojson")),
        "manifests/h-tabular.json": {**valid(lab, batch_id="hb1"), "intent": "ingest_tabular"},
        "manifests/h-join.json": join(lab),
        "manifests/h-legacy.json": valid(lab, batch_id="hb2", intent="ingest_stuff", files=[]),
        "manifests/h-id.json": valid(lab, batch_id="../../etc"),
    }
    for key, body in hostile.items():
        lab.put(key, body)
    good = lab.submit(
        "good_1", "ingest_vector", {"r.geojson": ("vector", GEOJSON)}, dataset_id="roads"
    )
    resources = resources_for(lab.store, lab.ledger, lab.postgis)
    requests: list[dg.RunRequest] = []
    with dg.instance_for_test() as instance:
        for sensor in lane_sensors:
            with dg.build_sensor_context(instance=instance, resources=resources) as context:
                result = sensor(context)  # raises if the tick fails
            assert isinstance(result, dg.SensorResult)
            requests += list(result.run_requests or [])
    assert [r.run_key for r in requests] == ["spatial:good_1"]
    assert lab.store.list_manifest_keys() == [good]  # waits for its run; the rest archived
    for key in hostile:
        records = lab.ledger.get_manifest_by_key(key)
        assert [r.status for r in records] == [ManifestStatus.REJECTED], key
        assert lab.rejection_report(key)["errors"]
