"""Looking at data without downloading it, against the real test services: schema, head
(ranged reads of the lake object), diff and deprecate."""

from __future__ import annotations

import io
import json
import secrets
import uuid

import pytest

from etl_models.ledger_records import AssetRecord, ColumnInfo, Recipe

pytestmark = pytest.mark.integration


def _geoparquet(rows: int, extra: bool = False) -> bytes:
    import pyarrow as pa
    import pyarrow.parquet as pq
    import shapely

    points = [shapely.Point(144.0 + i / rows, -37.0).wkb for i in range(rows)]
    data = {
        "road_id": list(range(rows)),
        "noise": [secrets.token_hex(16) for _ in range(rows)],  # incompressible
        "geometry": points,
    }
    if extra:
        data["lanes"] = [2] * rows
    geo = {"version": "1.1.0", "primary_column": "geometry",
           "columns": {"geometry": {"encoding": "WKB", "geometry_types": ["Point"]}}}  # fmt: skip
    table = pa.table(data).replace_schema_metadata({"geo": json.dumps(geo)})
    sink = io.BytesIO()
    pq.write_table(table, sink, row_group_size=2_000)
    return sink.getvalue()


def _register(
    store,
    ledger,
    dataset_id: str,
    body: bytes,
    rows: int,
    columns,
    bounds=(144.0, -37.0, 145.0, -37.0),
) -> AssetRecord:
    version = ledger.allocate_version(dataset_id)
    key = f"{dataset_id}/v{version}/data.parquet"
    meta = store.put_lake_bytes(key, body, content_type="application/vnd.apache.parquet")
    record = AssetRecord(
        dataset_id=dataset_id, version=version, s3_key=key,
        uri=f"s3://{store.lake_bucket}/{key}", format="GeoParquet",
        content_hash=f"sha256:{uuid.uuid4().hex}", recipe=Recipe(name="t", version="1"),
        row_count=rows, crs="EPSG:4326", bounds=bounds,
        geometry_types=["Point"], column_schema=list(columns), size_bytes=meta.size,
        lake_etag=meta.etag,
    )  # fmt: skip
    record.id = ledger.register_asset(record)
    return record


def test_head_reads_only_the_first_row_groups(run_cli, store, ledger):
    rows = 60_000
    body = _geoparquet(rows)
    _register(store, ledger, "roads", body, rows, [])
    result = run_cli("head", "roads", "-n", "3", "--json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert [r["road_id"] for r in report["rows"]] == [0, 1, 2]
    assert report["rows"][0]["geometry"] == "POINT (144 -37)"
    assert report["object_bytes"] == len(body)
    assert report["bytes_read"] < len(body) / 2, report["bytes_read"]

    text = run_cli("head", "roads", "-n", "2")
    lines = text.stdout.splitlines()
    assert lines[0].split("\t") == ["road_id", "noise", "geometry"]
    assert len(lines) == 3 and lines[1].startswith("0\t") and lines[1].endswith("POINT (144 -37)")


def test_schema_shows_source_names_and_falls_back_to_the_footer(run_cli, store, ledger):
    columns = [
        ColumnInfo(name="state_fips", type="string"),
        ColumnInfo(name="geometry", type="geometry"),
    ]
    if "source_name" in ColumnInfo.model_fields:
        columns[0] = ColumnInfo(name="state_fips", type="string", source_name="STATE_FIPS")
    _register(store, ledger, "states", _geoparquet(10), 10, columns)
    report = json.loads(run_cli("schema", "states@v1", "--json").stdout)
    assert [(c["name"], c["type"]) for c in report["columns"]] == [
        ("state_fips", "string"),
        ("geometry", "geometry"),
    ]
    if "source_name" in ColumnInfo.model_fields:
        assert report["columns"][0]["source_name"] == "STATE_FIPS"
        assert "state_fips\tstring\tSTATE_FIPS" in run_cli("schema", "states").stdout

    _register(store, ledger, "bare", _geoparquet(10), 10, [])  # no schema in the ledger
    footer = json.loads(run_cli("schema", "bare", "--json").stdout)
    assert [c["name"] for c in footer["columns"]] == ["road_id", "noise", "geometry"]
    missing = run_cli("schema", "nope", "--json")
    assert missing.exit_code == 3 and json.loads(missing.stdout)["exit_code"] == 3


def test_diff_reports_added_column_rows_and_bbox(run_cli, store, ledger):
    base = [
        ColumnInfo(name="road_id", type="int64"),
        ColumnInfo(name="geometry", type="geometry"),
    ]
    _register(store, ledger, "roads", _geoparquet(10), 10, base)
    newer = [*base, ColumnInfo(name="lanes", type="int64")]
    newer[0] = ColumnInfo(name="road_id", type="string")
    _register(store, ledger, "roads", _geoparquet(12, extra=True), 12, newer, (1, 2, 3, 4))

    report = json.loads(run_cli("diff", "roads@v1", "roads@v2", "--json").stdout)
    assert report["columns_added"] == [{"name": "lanes", "type": "int64"}]
    assert report["columns_removed"] == []
    assert report["columns_retyped"] == [{"name": "road_id", "from": "int64", "to": "string"}]
    assert report["rows"] == {"from": 10, "to": 12, "delta": 2}
    assert report["bbox"]["changed"] is True and report["crs"]["changed"] is False
    text = run_cli("diff", "roads@v1", "roads@v2").stdout
    assert "+ column lanes (int64)" in text and "~ rows: 10 -> 12 (+2)" in text


def test_deprecate_marks_a_version_and_keeps_its_data(run_cli, store, ledger, add_asset):
    add_asset("roads")
    add_asset("roads")
    needs_version = run_cli("deprecate", "roads")
    assert needs_version.exit_code == 2 and "roads@vN" in needs_version.stderr
    result = run_cli("deprecate", "roads@v1", "--reason", "wrong CRS", "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["reason"] == "wrong CRS"
    record = ledger.get_asset("roads", 1)
    assert record.deprecated_at is not None and record.deprecated_by == "tester"
    assert store.client.stat_object(store.lake_bucket, record.s3_key).size > 0
    listed = json.loads(run_cli("versions", "roads", "--json").stdout)
    assert [(v["version"], v["deprecated"]) for v in listed] == [(1, True), (2, False)]
    assert "v1 (deprecated)" in run_cli("versions", "roads").stdout
    again = run_cli("deprecate", "roads@v1", "--reason", "other")
    assert again.exit_code == 0 and ledger.get_asset("roads", 1).deprecation_reason == "wrong CRS"
    assert [a.action for a in ledger.activity_for("roads@v1")] == ["deprecated"]
