"""``etl status``, ``datasets``, ``versions``, ``lineage`` and ``download`` against real servers."""

from __future__ import annotations

import json

import pyarrow.parquet as pq
import pytest

from etl_models.ledger_records import InputFile
from etl_models.status import ManifestStatus, RunStatus

pytestmark = pytest.mark.integration


def test_status_of_unknown_batch_exits_3(run_cli, store, ledger):
    result = run_cli("status", "no_such_batch")
    assert result.exit_code == 3
    assert "unknown batch 'no_such_batch'" in result.stderr
    assert "Traceback" not in result.output


def test_status_of_submitted_batch_waits_for_pickup(run_cli, store, ledger, geojson_file):
    assert (
        run_cli("submit", str(geojson_file), "-i", "ingest_vector", "--batch-id", "s1").exit_code
        == 0
    )
    result = run_cli("status", "s1", "--json")
    assert result.exit_code == 0
    assert json.loads(result.stdout)["status"] == "submitted"


def test_status_reports_history_runs_and_assets(run_cli, store, ledger, add_asset):
    ledger.record_manifest_intake(
        manifest_key="manifests/b1.json", status="queued", batch_id="b1", uploader="jane",
        intent="ingest_vector", lane="spatial", dataset_id="roads", manifest={"batch_id": "b1"},
    )  # fmt: skip
    ledger.record_manifest_intake(
        manifest_key="manifests/b1-typo.json", status="rejected", claimed_batch_id="b1",
        error="intent: 'ingest_vectr' is not routed", manifest={"batch_id": "b1", "x": 1},
    )  # fmt: skip
    first = ledger.start_run(dagster_run_id="run-aaaa-1", batch_id="b1", lane="spatial")
    ledger.set_manifest_status("b1", ManifestStatus.RUNNING, run_id=first)
    ledger.finish_run("run-aaaa-1", RunStatus.FAILURE, error="ogr2ogr failed\nline 2")
    ledger.set_manifest_status("b1", ManifestStatus.FAILURE, run_id=first, error="ogr2ogr failed")

    failed = run_cli("status", "b1")
    assert failed.exit_code == 1
    assert "failure" in failed.stdout and "run-aaaa-1" in failed.stdout
    assert "ogr2ogr failed" in failed.stdout and "ingest_vectr" in failed.stdout

    second = ledger.start_run(dagster_run_id="run-bbbb-2", batch_id="b1", lane="spatial")
    ledger.set_manifest_status("b1", ManifestStatus.RUNNING, run_id=second)
    asset = add_asset("roads", batch_id="b1")
    ledger.link_run_asset("run-bbbb-2", asset.id)
    ledger.finish_run("run-bbbb-2", RunStatus.SUCCESS)
    ledger.set_manifest_status("b1", ManifestStatus.SUCCESS, run_id=second)

    result = run_cli("status", "b1", "--json")
    assert result.exit_code == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["status"] == "success" and report["terminal"] is True
    assert [h["status"] for h in report["manifest"]["status_history"]] == [
        "queued", "running", "failure", "running", "success",
    ]  # fmt: skip
    assert [(r["dagster_run_id"], r["status"]) for r in report["runs"]] == [
        ("run-aaaa-1", "failure"),
        ("run-bbbb-2", "success"),
    ]
    assert report["runs"][0]["error"] == "ogr2ogr failed\nline 2"
    assert report["assets"] == [
        {
            "asset_id": str(asset.id),
            "deduplicated": False,
            "dataset_id": "roads",
            "version": 1,
            "uri": asset.uri,
            "row_count": 3,
        }
    ]
    assert report["rejected_intakes"][0]["error"] == "intent: 'ingest_vectr' is not routed"
    assert isinstance(report["manifest"]["id"], str)
    text = run_cli("status", "b1")
    assert text.exit_code == 0 and "roads@v1" in text.stdout


def test_status_of_rejected_batch_exits_1(run_cli, store, ledger):
    ledger.record_manifest_intake(
        manifest_key="manifests/r1.json", status="rejected", claimed_batch_id="r1",
        error="files: files is empty", manifest={"batch_id": "r1"},
    )  # fmt: skip
    result = run_cli("status", "r1", "--watch", "--json")
    assert result.exit_code == 1
    assert json.loads(result.stdout)["status"] == "rejected"


def test_datasets_versions_lineage(run_cli, store, ledger, add_asset):
    empty = run_cli("datasets", "--json")
    assert empty.exit_code == 0 and json.loads(empty.stdout) == []
    raw = InputFile(path=f"s3://{store.landing_bucket}/b1/roads.gpkg", etag="abc123", size=42)
    roads1 = add_asset("roads", inputs=[raw], batch_id="b1")
    roads2 = add_asset("roads", batch_id="b2")
    counts = add_asset("counts")
    joined = add_asset("roads_counts")
    ledger.add_input_lineage(roads1.id, [raw])
    ledger.add_parent_lineage(joined.id, roads1.id, role="spatial")
    ledger.add_parent_lineage(joined.id, counts.id, role="tabular")

    listing = json.loads(run_cli("datasets", "--json").stdout)
    assert [(d["dataset_id"], d["latest_version"], d["version_count"]) for d in listing] == [
        ("counts", 1, 1),
        ("roads", 2, 2),
        ("roads_counts", 1, 1),
    ]
    assert "roads_counts" in run_cli("datasets").stdout

    versions = run_cli("versions", "roads", "--json")
    assert versions.exit_code == 0
    assert [(v["version"], v["batch_id"]) for v in json.loads(versions.stdout)] == [
        (1, "b1"),
        (2, "b2"),
    ]
    unknown = run_cli("versions", "raods")
    assert unknown.exit_code == 3 and "did you mean roads" in unknown.stderr

    upstream = json.loads(run_cli("lineage", "roads@v1", "--json").stdout)
    assert upstream["inputs"] == [{"path": raw.path, "etag": "abc123", "size": 42}]
    assert [c["ref"] for c in upstream["children"]] == ["roads_counts@v1"]
    assert upstream["asset"]["uri"] == roads1.uri
    derived = json.loads(run_cli("lineage", "roads_counts", "--json").stdout)
    assert sorted((p["ref"], p["role"]) for p in derived["parents"]) == [
        ("counts@v1", "tabular"),
        ("roads@v1", "spatial"),
    ]
    text = run_cli("lineage", "roads@1")
    assert text.exit_code == 0 and "abc123" in text.stdout and "roads_counts@v1" in text.stdout
    assert run_cli("lineage", "roads@v9").exit_code == 3
    assert roads2.version == 2


def test_download_verifies_and_writes_files(run_cli, store, ledger, add_asset, cli_env):
    asset = add_asset("roads")
    dest = cli_env.workdir / "out"
    dest.mkdir()
    result = run_cli("download", "roads@v1", str(dest), "--with-stac", "--json")
    assert result.exit_code == 0, result.stderr
    files = json.loads(result.stdout)["files"]
    data_path = dest / "roads_v1.parquet"
    assert [f["path"] for f in files] == [str(data_path), str(dest / "roads_v1.item.json")]
    assert data_path.stat().st_size == asset.size_bytes
    assert pq.read_table(data_path).num_rows == 3
    assert json.loads((dest / "roads_v1.item.json").read_text())["id"] == "roads"
    assert sorted(p.name for p in dest.iterdir()) == ["roads_v1.item.json", "roads_v1.parquet"]

    again = run_cli("download", "roads", str(dest))
    assert again.exit_code == 2 and "--overwrite" in again.stderr
    explicit = cli_env.workdir / "named.parquet"
    assert run_cli("download", "roads", str(explicit)).stdout.strip() == str(explicit)
    assert explicit.read_bytes() == data_path.read_bytes()
    assert run_cli("download", "nope", str(dest)).exit_code == 3


def test_download_refuses_lake_object_that_disagrees_with_ledger(
    run_cli, store, ledger, add_asset, cli_env
):
    asset = add_asset("roads", with_stac=False)
    ledger.db["assets"].update_one({"_id": asset.id}, {"$set": {"size_bytes": 1}})
    result = run_cli("download", "roads", str(cli_env.workdir / "x.parquet"))
    assert result.exit_code == 6
    assert "the ledger records 1" in result.stderr
    assert not (cli_env.workdir / "x.parquet").exists()
    add_asset("lakes", with_stac=False)
    no_stac = run_cli("download", "lakes", str(cli_env.workdir / "y.parquet"), "--with-stac")
    assert no_stac.exit_code == 3 and "no STAC item" in no_stac.stderr
    assert not (cli_env.workdir / "y.parquet").exists()
