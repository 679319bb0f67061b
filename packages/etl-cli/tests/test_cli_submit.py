"""``etl submit`` and ``etl join`` against the real S3 and Mongo servers of the harness."""

from __future__ import annotations

import json
import shutil
import threading
import time
import uuid
from pathlib import Path

import pyogrio
import pytest

from etl_models.manifest import parse_manifest
from etl_models.status import ManifestStatus, RunStatus

pytestmark = pytest.mark.integration

NATURALEARTH = Path(pyogrio.__file__).parent / "tests/fixtures/naturalearth_lowres"


def manifest_in_landing(store, batch_id: str) -> dict:
    return store.read_manifest(f"manifests/{batch_id}.json")


def landing_keys(store) -> list[str]:
    return sorted(
        o.object_name for o in store.client.list_objects(store.landing_bucket, recursive=True)
    )


def test_submit_geojson_uploads_file_then_valid_manifest(run_cli, store, ledger, geojson_file):
    result = run_cli(
        "submit", str(geojson_file), "--intent", "ingest_vector", "--dataset-id", "roads",
        "--batch-id", "roads_b1", "--crs", "EPSG:4326", "--title", "Roads",
        "--tag", "project_code=alpha",
    )  # fmt: skip
    assert result.exit_code == 0, result.stderr
    assert result.stdout == "roads_b1\n"
    assert landing_keys(store) == ["manifests/roads_b1.json", "roads_b1/roads.geojson"]
    manifest = manifest_in_landing(store, "roads_b1")
    parsed = parse_manifest(manifest, landing_bucket=store.landing_bucket)
    assert parsed.dataset_id == "roads"
    assert parsed.uploader == "tester"
    assert manifest["files"] == [
        {
            "path": f"s3://{store.landing_bucket}/roads_b1/roads.geojson",
            "type": "vector",
            "format": "GeoJSON",
            "crs": "EPSG:4326",
        }
    ]
    assert manifest["metadata"] == {
        "title": "Roads",
        "tags": {"project_code": "alpha", "dataset_id": "roads"},
    }
    body = store.client.get_object(store.landing_bucket, "roads_b1/roads.geojson")
    try:
        assert body.read() == geojson_file.read_bytes()
    finally:
        body.close()
        body.release_conn()


def test_submit_json_output_and_default_batch_id(run_cli, store, ledger, geojson_file):
    result = run_cli("submit", str(geojson_file), "--intent", "ingest_vector", "--json")
    assert result.exit_code == 0, result.stderr
    out = json.loads(result.stdout)
    batch_id = out["batch_id"]
    assert batch_id.startswith("roads_") and len(batch_id.split("_")[-1]) == 4
    assert out["manifest_key"] == f"manifests/{batch_id}.json"
    assert out["dataset_id"].startswith("dataset_")
    assert out["lane"] == "spatial"
    assert store.landing_object_exists(out["manifest_key"])


def test_submit_shapefile_uploads_sidecars_lists_only_shp(run_cli, store, ledger, cli_env):
    folder = cli_env.workdir / "shapes"
    shutil.copytree(NATURALEARTH, folder)
    (folder / "naturalearth_lowres.shp.xml").write_text("<metadata/>")
    (folder / "unrelated.dbf").write_bytes(b"not a sidecar")
    result = run_cli(
        "submit", str(folder / "naturalearth_lowres.shp"), "--intent", "ingest_vector",
        "--batch-id", "countries_1", "--json",
    )  # fmt: skip
    assert result.exit_code == 0, result.stderr
    expected = [
        "countries_1/naturalearth_lowres.cpg",
        "countries_1/naturalearth_lowres.dbf",
        "countries_1/naturalearth_lowres.prj",
        "countries_1/naturalearth_lowres.shp",
        "countries_1/naturalearth_lowres.shp.xml",
        "countries_1/naturalearth_lowres.shx",
        "manifests/countries_1.json",
    ]
    assert landing_keys(store) == expected
    manifest = manifest_in_landing(store, "countries_1")
    assert [f["path"] for f in manifest["files"]] == [
        f"s3://{store.landing_bucket}/countries_1/naturalearth_lowres.shp"
    ]
    assert manifest["files"][0]["format"] == "ESRI Shapefile"
    sizes = {f["key"]: f["size"] for f in json.loads(result.stdout)["files"]}
    for key, size in sizes.items():
        assert (
            store.landing_object_metadata(key).size
            == size
            == (folder / Path(key).name).stat().st_size
        )


def test_incomplete_shapefile_refused_before_upload(run_cli, store, ledger, cli_env):
    folder = cli_env.workdir / "broken"
    folder.mkdir()
    shutil.copy(NATURALEARTH / "naturalearth_lowres.shp", folder)
    result = run_cli("submit", str(folder / "naturalearth_lowres.shp"), "--intent", "ingest_vector")
    assert result.exit_code == 2
    assert "naturalearth_lowres.shx" in result.stderr and "naturalearth_lowres.dbf" in result.stderr
    assert landing_keys(store) == []


@pytest.mark.parametrize(
    ("extra", "field"),
    [
        (["--crs", "WGS84"], "files[0].crs"),
        (["--dataset-id", "Bad Id"], "metadata.tags.dataset_id"),
        (["--intent", "ingest_raster"], "intent"),
    ],
)
def test_invalid_manifest_exits_2_naming_the_field(
    run_cli, store, ledger, geojson_file, extra, field
):
    args = ["submit", str(geojson_file), "--intent", "ingest_vector", "--type", "vector", *extra]
    result = run_cli(*args)
    assert result.exit_code == 2, result.stderr
    assert field in result.stderr
    assert "Traceback" not in result.output
    assert landing_keys(store) == []


def test_bad_batch_id_and_tag_are_usage_errors(run_cli, store, ledger, geojson_file):
    bad_id = run_cli("submit", str(geojson_file), "-i", "ingest_vector", "--batch-id", "../x")
    assert bad_id.exit_code == 2 and "--batch-id" in bad_id.stderr
    bad_tag = run_cli("submit", str(geojson_file), "-i", "ingest_vector", "--tag", "novalue")
    assert bad_tag.exit_code == 2 and "key=value" in bad_tag.stderr
    assert landing_keys(store) == []


def test_csv_with_legacy_intent_needs_type(run_cli, store, ledger, cli_env):
    csv = cli_env.workdir / "counts.csv"
    csv.write_text("road_id,count\n1,5\n")
    ambiguous = run_cli("submit", str(csv), "--intent", "ingest_legacy")
    assert ambiguous.exit_code == 2 and "--type" in ambiguous.stderr
    ok = run_cli("submit", str(csv), "--intent", "ingest_legacy", "--type", "tabular", "--json")
    assert ok.exit_code == 0, ok.stderr
    manifest = manifest_in_landing(store, json.loads(ok.stdout)["batch_id"])
    assert manifest["files"][0]["type"] == "tabular"
    lane = run_cli("submit", str(csv), "--intent", "ingest_tabular", "--json")
    assert json.loads(lane.stdout)["lane"] == "tabular"


def test_duplicate_batch_id_is_refused(run_cli, store, ledger, geojson_file):
    first = run_cli("submit", str(geojson_file), "-i", "ingest_vector", "--batch-id", "dup_1")
    assert first.exit_code == 0, first.stderr
    again = run_cli("submit", str(geojson_file), "-i", "ingest_vector", "--batch-id", "dup_1")
    assert again.exit_code == 2
    assert "already taken" in again.stderr and "landing zone" in again.stderr

    # Once the platform has taken the manifest in, the ledger is what refuses the id.
    ledger.record_manifest_intake(
        manifest_key="manifests/dup_2.json", status="queued", batch_id="dup_2", uploader="jane",
        manifest={"batch_id": "dup_2"},
    )  # fmt: skip
    taken = run_cli("submit", str(geojson_file), "-i", "ingest_vector", "--batch-id", "dup_2")
    assert taken.exit_code == 2
    assert "already taken" in taken.stderr and "queued" in taken.stderr and "jane" in taken.stderr
    assert not store.landing_object_exists("dup_2/roads.geojson")


def test_dry_run_uploads_nothing(run_cli, store, ledger, geojson_file):
    result = run_cli(
        "submit", str(geojson_file), "-i", "ingest_vector", "--batch-id", "dry1", "--dry-run"
    )
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["batch_id"] == "dry1"
    assert landing_keys(store) == []


def _platform(ledger, store, batch_id: str, final: str, error: str | None = None):
    """Play the platform's part: take the manifest in, run, and end with ``final``."""
    deadline = time.monotonic() + 60
    while not store.landing_object_exists(f"manifests/{batch_id}.json"):
        if time.monotonic() > deadline:
            return
        time.sleep(0.05)
    manifest = store.read_manifest(f"manifests/{batch_id}.json")
    ledger.record_manifest_intake(
        manifest_key=f"manifests/{batch_id}.json", status="queued", batch_id=batch_id,
        uploader=manifest["uploader"], intent=manifest["intent"], lane="spatial",
        dataset_id=manifest["metadata"]["tags"]["dataset_id"], manifest=manifest,
    )  # fmt: skip
    run_id = f"run-{uuid.uuid4()}"
    oid = ledger.start_run(dagster_run_id=run_id, batch_id=batch_id, lane="spatial")
    ledger.set_manifest_status(batch_id, ManifestStatus.RUNNING, run_id=oid)
    ledger.finish_run(run_id, RunStatus(final), error=error)
    ledger.set_manifest_status(batch_id, ManifestStatus(final), run_id=oid, error=error)


@pytest.mark.parametrize(("final", "code"), [("success", 0), ("failure", 1)])
def test_wait_follows_the_batch_to_its_end(run_cli, store, ledger, geojson_file, final, code):
    batch_id = f"wait_{final}"
    error = "GDAL could not open the file\nline 2\nline 3\nline 4" if final == "failure" else None
    platform = threading.Thread(target=_platform, args=(ledger, store, batch_id, final, error))
    platform.start()
    try:
        result = run_cli(
            "submit", str(geojson_file), "-i", "ingest_vector", "--dataset-id", "roads",
            "--batch-id", batch_id, "--wait", "--interval", "0.1", "--timeout", "60", "--json",
        )  # fmt: skip
    finally:
        platform.join()
    assert result.exit_code == code, result.stderr
    out = json.loads(result.stdout)
    assert out["status"] == final and out["timed_out"] is False
    report = out["report"]
    assert [r["status"] for r in report["runs"]] == [final]
    if error:
        assert report["error"] == error and report["runs"][0]["error"] == error


def test_wait_text_mode_shows_changes_and_ignores_earlier_rejections(
    run_cli, store, ledger, geojson_file
):
    # An earlier submission under this id was rejected; the new one must not end on it.
    ledger.record_manifest_intake(
        manifest_key="manifests/wait_again.json", status="rejected", claimed_batch_id="wait_again",
        error="files[0].path: missing", manifest={"batch_id": "wait_again", "old": True},
    )  # fmt: skip
    platform = threading.Thread(
        target=_platform, args=(ledger, store, "wait_again", "success", None)
    )
    platform.start()
    try:
        result = run_cli(
            "submit", str(geojson_file), "-i", "ingest_vector", "--dataset-id", "roads",
            "--batch-id", "wait_again", "--wait", "--interval", "0.1", "--timeout", "60",
        )  # fmt: skip
    finally:
        platform.join()
    assert result.exit_code == 0, result.stderr
    assert result.stdout == "wait_again\n"
    assert "success" in result.stderr


def test_wait_times_out_with_exit_5(run_cli, store, ledger, geojson_file):
    result = run_cli(
        "submit", str(geojson_file), "-i", "ingest_vector", "--batch-id", "never_picked",
        "--wait", "--interval", "0.1", "--timeout", "0.3",
    )  # fmt: skip
    assert result.exit_code == 5
    assert "still submitted" in result.stderr
    assert result.stdout == "never_picked\n"


def test_join_submits_manifest_after_checking_datasets(run_cli, store, ledger, add_asset):
    add_asset("roads", columns=("road_id", "name", "geometry"))
    add_asset("counts", columns=("road", "n"))
    unknown = run_cli("join", "roadz", "counts", "--left-key", "road")
    assert unknown.exit_code == 3 and "roadz" in unknown.stderr and "roads" in unknown.stderr
    bad_column = run_cli("join", "roads", "counts", "--left-key", "road_id")
    assert bad_column.exit_code == 2 and "--left-key" in bad_column.stderr
    missing_version = run_cli("join", "roads@v7", "counts", "--left-key", "road")
    assert missing_version.exit_code == 3 and "v7" in missing_version.stderr

    result = run_cli(
        "join", "roads@v1", "counts", "--left-key", "road", "--right-key", "road_id",
        "--how", "inner", "--dataset-id", "roads_counts", "--batch-id", "join_1", "--json",
    )  # fmt: skip
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["lane"] == "join"
    manifest = manifest_in_landing(store, "join_1")
    assert manifest["intent"] == "join_datasets" and "files" not in manifest
    assert manifest["metadata"]["join_config"] == {
        "spatial_dataset_id": "roads",
        "tabular_dataset_id": "counts",
        "left_key": "road",
        "right_key": "road_id",
        "how": "inner",
        "spatial_version": 1,
        "key_match": "trimmed",
        "min_match_rate": 0.9,
    }
    assert (
        parse_manifest(manifest, landing_bucket=store.landing_bucket).dataset_id == "roads_counts"
    )
    assert landing_keys(store) == ["manifests/join_1.json"]


def test_join_defaults_keep_spatial_resolves_source_names_and_checks_kinds(
    run_cli, store, ledger, add_asset
):
    # The lake names are lower case; the user types the name as in the file.
    add_asset("states", columns=("state_fips", "geometry"))
    add_asset("counts", columns=("state_fips", "pop"))

    result = run_cli(
        "join", "states", "counts", "--left-key", "STATE_FIPS", "--key-match", "numeric",
        "--batch-id", "join_2", "--json",
    )  # fmt: skip
    assert result.exit_code == 0, result.stderr
    manifest = manifest_in_landing(store, "join_2")
    config = manifest["metadata"]["join_config"]
    assert (config["keep"], config["key_match"], "how" in config) == ("spatial", "numeric", False)
    assert manifest["metadata"]["tags"]["dataset_id"] == "states_counts"
    assert json.loads(result.stdout)["dataset_id"] == "states_counts"

    clash = run_cli("join", "states", "counts", "--left-key", "pop", "--keep", "spatial",
                    "--how", "left")  # fmt: skip
    assert clash.exit_code == 2 and "disagree" in clash.stderr
    missing = run_cli("join", "states", "counts", "--left-key", "POPULATION")
    assert missing.exit_code == 2 and "available columns" in missing.stderr


def test_submit_checks_declared_crs_and_notes_intent_typo_before_upload(
    run_cli, store, geojson_file
):
    bad_crs = run_cli(
        "submit", str(geojson_file), "-i", "ingest_vector", "--crs", "EPSG:999999",
        "--batch-id", "bad_crs",
    )  # fmt: skip
    assert bad_crs.exit_code == 2 and "files[0].crs" in bad_crs.stderr + bad_crs.stdout
    assert landing_keys(store) == []

    typo = run_cli(
        "submit", str(geojson_file), "-i", "ingest_vectr", "--type", "vector",
        "--batch-id", "typo_1", "--dry-run",
    )  # fmt: skip
    assert typo.exit_code == 0, typo.stderr
    assert "did you mean 'ingest_vector'" in typo.stderr and "generic_vector" in typo.stderr
