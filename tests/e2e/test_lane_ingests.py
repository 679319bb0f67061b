"""Every lane through the real deployment, driven as a user drives it (issue 5).

Raw files are uploaded to the landing bucket first, then the manifest to ``manifests/``; the
sensors, the run queue, the daemon and the code locations' gRPC servers do the rest. Each test
reads back the lake object, the ledger documents, the archive, the Dagster runs and checks
that no ``proc_*`` schema of its runs is left.

Independent batches are dropped together by the module fixture, so they run concurrently and
the suite stays short; each test then waits for its own batch. Batch and dataset ids carry a
per-module token, so other tests sharing the deployment never interfere.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from etl_devstack import sample_data
from etl_devstack.drops import (
    file_entry,
    manifest_document,
    wait_for_batch,
    wait_for_manifests,
)

pytestmark = pytest.mark.e2e

BATCH_TIMEOUT = 420.0
JOIN_CODES = 30
UNMATCHED = ("ZZA", "ZZB")
TARGET_CRS = "EPSG:4326"


@dataclass
class Drop:
    """The batches of this module: names -> batch ids, dataset ids, manifest keys."""

    platform: Any
    token: str
    data: Path
    batches: dict[str, str] = field(default_factory=dict)
    datasets: dict[str, str] = field(default_factory=dict)
    keys: dict[str, str] = field(default_factory=dict)

    def batch(self, name: str) -> str:
        return self.batches[name]

    def submit(
        self,
        name: str,
        intent: str,
        files: list[tuple[Path, str, dict[str, Any]]],
        *,
        dataset: str | None = None,
        join_config: dict[str, Any] | None = None,
    ) -> str:
        """Upload ``files`` (path, type, extra manifest fields) under ``<batch_id>/``, then
        drop the manifest; the batch id."""
        batch_id = f"e5-{self.token}-{name}"
        landing = self.platform.landing
        entries = [
            file_entry(landing.upload(f"{batch_id}/{path.name}", path), file_type, **extra)
            for path, file_type, extra in files
        ]
        dataset_id = f"e5{self.token}-{dataset or name}"
        document = manifest_document(
            batch_id, intent, entries, dataset_id=dataset_id, join_config=join_config
        )
        self.keys[name] = landing.drop_manifest(f"{batch_id}.json", document)
        self.batches[name] = batch_id
        self.datasets[name] = dataset_id
        return batch_id

    def wait(self, name: str, statuses: tuple[str, ...] = ("success",)) -> Any:
        ledger = self.platform.ledger
        record = wait_for_batch(ledger, self.batches[name], BATCH_TIMEOUT)
        assert record.status.value in statuses, (name, record.status, record.error)
        return record


@pytest.fixture(scope="module")
def drop(deployed_platform, tmp_path_factory) -> Drop:
    """Wave one: every independent batch at once (vector x3, raster, CSV, legacy, failing,
    invalid manifests)."""
    data = tmp_path_factory.mktemp("issue5-data")
    d = Drop(deployed_platform, uuid.uuid4().hex[:8], data)
    geojson = sample_data.countries_geojson(data / "geojson")
    d.submit("geojson", "ingest_vector", [(geojson, "vector", {})])
    zipped = sample_data.countries_zip(data / "zip")
    d.submit("shapefile-zip", "ingest_vector", [(zipped, "vector", {"format": "zip"})])
    gpkg = sample_data.countries_geopackage(data / "gpkg", layer="countries")
    d.submit("gpkg", "ingest_vector", [(gpkg, "vector", {"layer": "countries"})])
    tif = sample_data.elevation_geotiff(data / "raster" / "elevation.tif")
    d.submit("raster", "ingest_raster", [(tif, "raster", {})])
    codes = sample_data.unique_country_codes()[:JOIN_CODES]
    csv_path = sample_data.country_stats_csv(
        data / "csv" / "stats.csv", codes=codes, unmatched_codes=UNMATCHED
    )
    d.submit("csv", "ingest_tabular", [(csv_path, "tabular", {})])
    d.submit("legacy", "ingest_survey_legacy", [(geojson, "vector", {})])
    d.submit("versioned-1", "ingest_vector", [(geojson, "vector", {})], dataset="versioned")
    corrupt = sample_data.corrupt_geojson(data / "corrupt" / "broken.geojson")
    d.submit("failing", "ingest_vector", [(corrupt, "vector", {})])
    landing = deployed_platform.landing
    d.keys["not-json"] = landing.drop_manifest(f"e5-{d.token}-not-json.json", b"{ not json")
    d.keys["missing-file"] = landing.drop_manifest(
        f"e5-{d.token}-missing-file.json",
        manifest_document(
            f"e5-{d.token}-missing-file",
            "ingest_vector",
            [file_entry(f"s3://{landing.bucket}/e5-{d.token}-missing/roads.geojson", "vector")],
        ),
    )
    d.keys["bad-fields"] = landing.drop_manifest(
        f"e5-{d.token}-bad-fields.json",
        manifest_document(
            "../etc/passwd",
            "ingest_tabular",
            [file_entry("s3://data-lake/other/stats.csv", "tabular")],
        ),
    )
    return d


def test_geojson_vector_ingest(drop, checks):
    drop.wait("geojson")
    ev = checks.assert_succeeded(drop.batch("geojson"), lane="spatial", job="spatial_asset_job")
    asset = ev.asset
    assert (asset.dataset_id, asset.version, asset.format) == (
        drop.datasets["geojson"],
        1,
        "geoparquet",
    )
    assert asset.s3_key == f"{asset.dataset_id}/v1/data.parquet"
    table, geo = checks.read_geoparquet(asset.s3_key)
    assert table.num_rows == asset.row_count == 177
    assert geo["version"].startswith("1.1")
    column = geo["columns"][geo["primary_column"]]
    assert column["crs"]["id"] == {"authority": "EPSG", "code": 4326}
    assert "covering" in column
    assert {"name", "iso_a3", "pop_est"} <= set(table.column_names)
    assert asset.crs == TARGET_CRS
    assert asset.inputs and asset.inputs[0].path.endswith("/countries.geojson")
    lineage = drop.platform.ledger.lineage_for(asset.id)
    assert [e.kind for e in lineage] == ["input"]
    stac_uri = asset.stats["stac_item"]
    assert stac_uri.startswith(
        f"s3://{checks.platform.object_store.lake_bucket}/{asset.dataset_id}/v1/"
    )
    stac_key = stac_uri.split("/", 3)[3]
    assert checks.platform.object_store.lake_object_exists(stac_key)


@pytest.mark.parametrize("name", ["shapefile-zip", "gpkg"])
def test_zipped_shapefile_and_geopackage_ingests(drop, checks, name):
    drop.wait(name)
    ev = checks.assert_succeeded(drop.batch(name), lane="spatial", job="spatial_asset_job")
    asset = ev.asset
    assert asset.version == 1
    table, geo = checks.read_geoparquet(asset.s3_key)
    assert table.num_rows == asset.row_count == 177
    assert geo["columns"][geo["primary_column"]]["crs"]["id"]["code"] == 4326
    assert sorted(set(table.column("iso_a3").to_pylist()))[:1] == ["-99"]


def test_raster_ingest_becomes_a_cog(drop, checks):
    drop.wait("raster")
    ev = checks.assert_succeeded(drop.batch("raster"), lane="spatial", job="spatial_asset_job")
    asset = ev.asset
    assert (asset.format, asset.s3_key) == ("cog", f"{asset.dataset_id}/v1/data.tif")
    info = checks.raster_info(asset.s3_key)
    assert info["size"] == [180, 90]
    assert info["metadata"]["IMAGE_STRUCTURE"].get("LAYOUT") == "COG"
    assert info["bands"][0]["type"] == "Int16"
    assert "4326" in info["coordinateSystem"]["wkt"].rsplit("ID[", 1)[-1]


def test_csv_ingest_becomes_parquet(drop, checks):
    drop.wait("csv")
    ev = checks.assert_succeeded(drop.batch("csv"), lane="tabular", job="tabular_asset_job")
    asset = ev.asset
    assert asset.format == "parquet"
    table = checks.read_parquet(asset.s3_key)
    assert table.num_rows == asset.row_count == JOIN_CODES + len(UNMATCHED)
    assert table.column_names[:2] == ["iso_a3", "country"]
    assert set(UNMATCHED) <= set(table.column("iso_a3").to_pylist())


def test_unknown_intent_runs_on_the_legacy_lane(drop, checks):
    drop.wait("legacy")
    ev = checks.assert_succeeded(drop.batch("legacy"), lane="ingest", job="ingest_job")
    table, _ = checks.read_geoparquet(ev.asset.s3_key)
    assert table.num_rows == 177


@pytest.fixture(scope="module")
def joins(drop) -> dict[str, str]:
    """Wave two: the four join kinds, once their spatial and tabular parents exist."""
    drop.wait("geojson")
    drop.wait("csv")
    for how in ("left", "inner", "right", "outer"):
        drop.submit(
            f"join-{how}",
            "join_datasets",
            [],
            join_config={
                "spatial_dataset_id": drop.datasets["geojson"],
                "tabular_dataset_id": drop.datasets["csv"],
                "left_key": "iso_a3",
                "how": how,
            },
        )
    return {how: drop.batch(f"join-{how}") for how in ("left", "inner", "right", "outer")}


@pytest.mark.parametrize("how", ["left", "inner", "right", "outer"])
def test_join_kinds(drop, joins, checks, how):
    drop.wait(f"join-{how}")
    ev = checks.assert_succeeded(joins[how], lane="join", job="join_asset_job")
    asset = ev.asset
    ledger = drop.platform.ledger
    spatial = ledger.latest_asset(drop.datasets["geojson"])
    tabular = ledger.latest_asset(drop.datasets["csv"])
    expected_rows = {
        "left": JOIN_CODES + len(UNMATCHED),
        "inner": JOIN_CODES,
        "right": spatial.row_count,
        "outer": spatial.row_count + len(UNMATCHED),
    }[how]
    table, geo = checks.read_geoparquet(asset.s3_key)
    assert table.num_rows == asset.row_count == expected_rows
    assert {"population_millions", "gdp_per_person_usd", "continent", "name"} <= set(
        table.column_names
    )
    assert geo["columns"][geo["primary_column"]]["crs"]["id"]["code"] == 4326
    assert sorted((p.role, p.dataset_id, p.version) for p in asset.parents) == [
        ("spatial", spatial.dataset_id, spatial.version),
        ("tabular", tabular.dataset_id, tabular.version),
    ]
    report = asset.stats["report"]["join"]
    unmatched = report["unmatched_tabular_keys"]
    if how in ("left", "outer"):
        assert unmatched["count"] == len(UNMATCHED)
    lineage = ledger.lineage_for(asset.id)
    assert sorted(e.role for e in lineage if e.kind == "parent") == ["spatial", "tabular"]


def test_invalid_manifests_are_rejected_with_a_readable_report(drop, checks):
    keys = [drop.keys[n] for n in ("not-json", "missing-file", "bad-fields")]
    wait_for_manifests(drop.platform.ledger, keys, BATCH_TIMEOUT)

    _, report = checks.assert_rejected(drop.keys["not-json"])
    assert "JSON" in report["reason"] or "json" in report["reason"]

    record, report = checks.assert_rejected(drop.keys["missing-file"])
    fields = {e["field"] for e in report["errors"]}
    assert "files[0].path" in fields
    assert "does not exist" in record.error

    record, report = checks.assert_rejected(drop.keys["bad-fields"])
    fields = {e["field"] for e in report["errors"]}
    assert {"batch_id", "files[0].path"} <= fields, report["errors"]
    assert "landing" in record.error


def test_failing_input_is_re_executed_to_success(drop, checks):
    platform = drop.platform
    record = drop.wait("failing", statuses=("failure",))
    batch_id = drop.batch("failing")
    # The real error text reached the ledger (GDAL's complaint about the file), not a stub.
    assert "broken.geojson" in record.error, record.error
    [failed] = platform.ledger.runs_for_batch(batch_id)
    assert failed.status.value == "failure" and failed.error
    [dagster_failed] = platform.runs(tags={"batch_id": batch_id})
    assert dagster_failed.status == "FAILURE"
    assert platform.object_store.landing_object_exists(f"archive/{record.manifest_key}")

    # The user fixes the raw object in place and re-executes the failed run (as in the UI).
    good = sample_data.countries_geojson(drop.data / "fixed", stem="broken")
    platform.landing.upload(f"{batch_id}/broken.geojson", good)
    new_run_id = platform.reexecute(dagster_failed.run_id, "FROM_FAILURE")
    status = platform.wait_for_run(new_run_id, timeout=BATCH_TIMEOUT)
    assert status == "SUCCESS", platform.run_errors(new_run_id)
    platform.wait_until(
        lambda: platform.ledger.get_manifest(batch_id).status.value == "success",
        BATCH_TIMEOUT,
        describe=lambda: str(platform.ledger.get_manifest(batch_id).status),
    )

    ev = checks.assert_succeeded(batch_id, lane="spatial", job="spatial_asset_job", runs=2)
    assert [r.status.value for r in ev.runs] == ["failure", "success"]
    reexecuted = {r.run_id: r for r in ev.dagster_runs}[new_run_id]
    assert reexecuted.tags["dagster/parent_run_id"] == dagster_failed.run_id
    assert [h.status for h in ev.manifest.status_history] == [
        "queued", "running", "failure", "running", "success",
    ]  # fmt: skip
    table, _ = checks.read_geoparquet(ev.asset.s3_key)
    assert table.num_rows == 177
    assert (
        ev.asset.inputs[0].etag
        == platform.object_store.landing_object_metadata(f"{batch_id}/broken.geojson").etag
    )


def test_two_batches_for_one_dataset_give_v1_and_v2(drop, checks):
    drop.wait("versioned-1")
    gpkg = sample_data.countries_geopackage(drop.data / "gpkg-v2", layer="countries")
    drop.submit(
        "versioned-2", "ingest_vector", [(gpkg, "vector", {"layer": "countries"})],
        dataset="versioned",
    )  # fmt: skip
    drop.wait("versioned-2")
    first = checks.assert_succeeded(drop.batch("versioned-1"), lane="spatial",
                                    job="spatial_asset_job").asset  # fmt: skip
    second = checks.assert_succeeded(drop.batch("versioned-2"), lane="spatial",
                                     job="spatial_asset_job").asset  # fmt: skip
    dataset_id = drop.datasets["versioned-1"]
    assert drop.datasets["versioned-2"] == dataset_id
    assert (first.version, second.version) == (1, 2)
    assert (first.s3_key, second.s3_key) == (
        f"{dataset_id}/v1/data.parquet",
        f"{dataset_id}/v2/data.parquet",
    )
    assert first.content_hash != second.content_hash
    assert drop.platform.ledger.versions(dataset_id) == [1, 2]
    for asset in (first, second):
        table, _ = checks.read_geoparquet(asset.s3_key)
        assert table.num_rows == asset.row_count == 177


def test_identical_re_ingest_is_deduplicated(drop, checks):
    drop.wait("geojson")
    original = checks.evidence(drop.batch("geojson")).asset
    # Same bytes, uploaded again under the new batch's folder, for the same dataset.
    geojson = drop.data / "geojson" / "countries.geojson"
    drop.submit("geojson-again", "ingest_vector", [(geojson, "vector", {})], dataset="geojson")
    drop.wait("geojson-again")
    ev = checks.assert_succeeded(
        drop.batch("geojson-again"), lane="spatial", job="spatial_asset_job", deduplicated=True
    )
    assert ev.asset.id == original.id
    assert drop.platform.ledger.versions(original.dataset_id) == [1]
    assert not drop.platform.object_store.lake_object_exists(
        f"{original.dataset_id}/v2/data.parquet"
    )


ASSET_PARTITIONS_QUERY = """
query AssetPartitions($key: AssetKeyInput!) {
  assetNodeOrError(assetKey: $key) {
    __typename
    ... on AssetNode {
      partitionKeys
      assetPartitionStatuses {
        __typename
        ... on DefaultPartitionStatuses { materializedPartitions }
      }
    }
  }
}
"""


def _asset_partitions(checks, path: list[str]) -> tuple[set[str], set[str]]:
    """What the Dagster UI lists for an asset: its partitions and the materialized ones."""
    data = checks.platform.client.execute(ASSET_PARTITIONS_QUERY, {"key": {"path": path}})
    node = data["assetNodeOrError"]
    assert node["__typename"] == "AssetNode", node
    statuses = node["assetPartitionStatuses"]
    return set(node["partitionKeys"]), set(statuses.get("materializedPartitions", []))


def test_each_asset_lists_only_its_own_datasets_and_legacy_ones_appear(drop, checks):
    """In the UI each lane asset lists only its own datasets, and a dataset taken in by the
    legacy op job appears as a materialized partition of the legacy lane's asset."""
    drop.wait("csv")
    drop.wait("geojson")
    drop.wait("legacy")
    tabular, tabular_done = _asset_partitions(
        checks, ["asset_lanes", "tabular", "raw_tabular_asset"]
    )
    spatial, _ = _asset_partitions(checks, ["asset_lanes", "spatial", "raw_spatial_asset"])
    assert drop.datasets["csv"] in tabular_done
    assert drop.datasets["geojson"] in spatial
    assert drop.datasets["geojson"] not in tabular and drop.datasets["legacy"] not in tabular
    assert drop.datasets["csv"] not in spatial
    legacy, legacy_done = _asset_partitions(checks, ["legacy_ingest", "ingest", "ingested_dataset"])
    assert drop.datasets["legacy"] in legacy_done
    assert drop.datasets["csv"] not in legacy
