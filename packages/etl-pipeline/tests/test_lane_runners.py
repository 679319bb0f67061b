"""Lane runners from raw files in the landing bucket to lake versions, against real services.

Each test takes a manifest in through ``evaluate_intake`` exactly as a sensor would, runs the
lane runner as a run would, then reads the lake object back with independent readers and
checks the ledger, the archive and that no run schema is left behind.
"""

from __future__ import annotations

import io
import json
import uuid
from pathlib import Path, PurePosixPath
from typing import Any

import pytest

from etl_models.cursor import ManifestCursor
from etl_models.status import ManifestStatus
from etl_pipeline.intake import evaluate_intake
from etl_pipeline.lanes import (
    BatchRun,
    LaneError,
    Services,
    run_batch,
)
from etl_spatial.postgis import schema_name_for_run

pytestmark = pytest.mark.integration

ROADS = {
    "type": "FeatureCollection",
    "crs": {"type": "name", "properties": {"name": "urn:ogc:def:crs:EPSG::3857"}},
    "features": [
        {
            "type": "Feature",
            "properties": {"road_id": f"R{i:03d}", "name": f"road {i}", "lanes": i % 3 + 1},
            "geometry": {
                "type": "LineString",
                "coordinates": [
                    [16_000_000 + i * 100, -4_500_000],
                    [16_000_050 + i * 100, -4_500_080],
                ],
            },
        }
        for i in range(20)
    ],
}

BOWTIE = {
    "type": "FeatureCollection",
    "features": [
        {
            "type": "Feature",
            "properties": {"zone": "z1"},
            "geometry": {
                "type": "Polygon",
                "coordinates": [[[0, 0], [2, 2], [2, 0], [0, 2], [0, 0]]],
            },
        },
        {
            "type": "Feature",
            "properties": {"zone": "z2"},
            "geometry": {
                "type": "Polygon",
                "coordinates": [[[3, 0], [4, 0], [4, 1], [3, 1], [3, 0]]],
            },
        },
    ],
}


def put(services: Services, key: str, body: bytes) -> None:
    store = services.store
    store.client.put_object(store.landing_bucket, key, io.BytesIO(body), len(body))


def submit(services: Services, batch_id: str, files: dict[str, bytes], **manifest: Any) -> str:
    """Upload raw files then the manifest, as a user would; returns the manifest key."""
    store = services.store
    entries = []
    for name, body in files.items():
        put(services, f"{batch_id}/{name}", body)
        entries.append({"path": f"s3://{store.landing_bucket}/{batch_id}/{name}"})
    doc = {"batch_id": batch_id, "uploader": "jane", **manifest}
    if files:
        doc["files"] = [
            {**e, **f} for e, f in zip(entries, manifest.pop("file_specs"), strict=True)
        ]
        doc.pop("file_specs")
    key = f"manifests/{batch_id}.json"
    put(services, key, json.dumps(doc).encode())
    return key


def take_in(services: Services, lane: str) -> BatchRun:
    """One sensor tick for ``lane``; the queued batch as a run would see it."""
    result = evaluate_intake(
        store=services.store,
        ledger=services.ledger,
        cursor=ManifestCursor(),
        owned_lanes={lane},
        operator=f"{lane}_sensor",
    )
    assert not result.rejected, result.rejected
    [queued] = result.queued
    return BatchRun(
        services=services,
        dagster_run_id=str(uuid.uuid4()),
        job_name=queued.plan.job_name,
        tags=queued.plan.tags,
    )


def read_lake(services: Services, key: str, tmp_path: Path) -> Path:
    dest = tmp_path / Path(key).name
    services.store.download_from_lake(key, dest)
    return dest


def no_run_schema_left(services: Services, run: BatchRun) -> bool:
    return schema_name_for_run(run.dagster_run_id) not in {
        info.schema for info in services.postgis.list_run_schemas()
    }


def ingest_roads(services: Services, batch_id: str, data: dict = ROADS) -> BatchRun:
    submit(
        services, batch_id, {"roads.geojson": json.dumps(data).encode()},
        intent="ingest_vector", metadata={"tags": {"dataset_id": "roads"}},
        file_specs=[{"type": "vector"}],
    )  # fmt: skip
    return take_in(services, "spatial")


def test_vector_batch_to_geoparquet(services: Services, tmp_path: Path) -> None:
    import geopandas as gpd
    import pyarrow.parquet as pq

    run = ingest_roads(services, "roads_1")
    result = run_batch(run, "spatial")

    asset = result.asset
    assert not result.deduplicated
    assert (asset.dataset_id, asset.version, asset.s3_key) == ("roads", 1, "roads/v1/data.parquet")
    local = read_lake(services, asset.s3_key, tmp_path)
    geo = json.loads(pq.read_schema(local).metadata[b"geo"])
    assert geo["version"] == "1.1.0"
    column = geo["columns"][geo["primary_column"]]
    assert column["crs"]["id"] == {"authority": "EPSG", "code": 4326}
    assert "covering" in column and column["geometry_types"] == ["MultiLineString"]
    frame = gpd.read_parquet(local)
    assert len(frame) == 20 and frame.crs.to_epsg() == 4326
    assert set(frame["road_id"]) == {f"R{i:03d}" for i in range(20)}
    assert 143 < frame.total_bounds[0] < 145  # 16,000,000 m east in EPSG:3857 is ~143.7°E

    assert asset.source_crs == "EPSG:3857" and asset.crs == "EPSG:4326"
    assert asset.row_count == 20 and result.quality.rows_accounted
    assert result.quality.invalid_geometries == 0
    assert [i.etag for i in asset.inputs] and asset.inputs[0].size > 0

    ledger = services.ledger
    assert ledger.get_asset("roads", 1).content_hash == asset.content_hash
    edges = ledger.lineage_for(asset.id)
    assert [e.kind for e in edges] == ["input"]
    run_record = ledger.get_run(run.dagster_run_id)
    assert [p.asset_id for p in run_record.produced_assets] == [asset.id]
    assert ledger.get_manifest("roads_1").status == ManifestStatus.RUNNING  # the run owns the end
    assert services.store.landing_object_exists("archive/manifests/roads_1.json")
    assert not services.store.landing_object_exists("manifests/roads_1.json")

    item = json.loads(services.store.client.get_object(
        services.store.lake_bucket, "roads/v1/item.json").read())  # fmt: skip
    assert item["assets"]["data"]["href"].endswith("roads/v1/data.parquet")
    assert item["properties"]["proj:code"] == "EPSG:4326"
    assert no_run_schema_left(services, run)


def test_second_batch_is_v2_and_identical_reingest_is_deduplicated(services: Services) -> None:
    first = run_batch(ingest_roads(services, "roads_1"), "spatial")
    changed = json.loads(json.dumps(ROADS))
    changed["features"] = changed["features"][:10]
    changed["features"][0]["properties"]["extra"] = "x"
    second = run_batch(ingest_roads(services, "roads_2", changed), "spatial")
    assert (first.asset.version, second.asset.version) == (1, 2)
    assert second.drift.previous_version == 1 and second.drift.added == ["extra"]

    again = ingest_roads(services, "roads_3")  # same bytes as roads_1, new batch
    result = run_batch(again, "spatial")
    assert result.deduplicated and result.asset.version == 1
    assert services.ledger.versions("roads") == [1, 2]
    link = services.ledger.get_run(again.dagster_run_id).produced_assets
    assert link[0].deduplicated and link[0].asset_id == first.asset.id


def test_invalid_geometries_repaired_and_counted(services: Services, tmp_path: Path) -> None:
    import geopandas as gpd

    submit(
        services, "zones_1", {"zones.geojson": json.dumps(BOWTIE).encode()},
        intent="ingest_vector", metadata={"tags": {"dataset_id": "zones"}},
        file_specs=[{"type": "vector"}],
    )  # fmt: skip
    result = run_batch(take_in(services, "spatial"), "spatial")
    assert result.report["transform"]["repaired_count"] == 1
    assert result.quality.invalid_geometries == 0
    frame = gpd.read_parquet(read_lake(services, result.asset.s3_key, tmp_path))
    assert frame.geometry.is_valid.all() and len(frame) == 2


def test_failing_input_leaves_no_schema_and_no_lake_object(services: Services) -> None:
    submit(
        services, "broken_1", {"broken.geojson": b'{"type": "FeatureCollection", "features": ['},
        intent="ingest_vector", metadata={"tags": {"dataset_id": "broken"}},
        file_specs=[{"type": "vector"}],
    )  # fmt: skip
    run = take_in(services, "spatial")
    with pytest.raises(Exception, match=r"broken\.geojson|files\[0\]"):
        run_batch(run, "spatial")
    assert no_run_schema_left(services, run)
    assert not list(services.store.client.list_objects(services.store.lake_bucket, recursive=True))
    assert services.ledger.versions("broken") == []


PLACES = ["S\u00e3o Paulo", "K\u00f6ln", "caf\u00e9 \u20ac5"]  # the euro sign is cp1252 only


def _cp1252_shapefile_zip(tmp_path: Path) -> bytes:
    """A zipped Shapefile whose .dbf is cp1252 and that has no .cpg (as many exports are)."""
    import zipfile

    import geopandas as gpd
    import pyogrio
    import shapely

    frame = gpd.GeoDataFrame(
        {"name": PLACES}, geometry=[shapely.Point(i, i) for i in range(3)], crs=4326
    )
    path = tmp_path / "places.shp"
    pyogrio.write_dataframe(frame, path, encoding="CP1252")
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for part in ("shp", "shx", "dbf", "prj"):
            archive.write(path.with_suffix(f".{part}"), f"places.{part}")
    return buffer.getvalue()


@pytest.mark.parametrize("kind", ["pipe_csv", "shapefile_zip"])
def test_vector_text_in_the_declared_encoding_and_delimiter(
    services: Services, tmp_path: Path, kind: str
) -> None:
    """``files[].options.encoding`` (and a CSV's ``delimiter``) reach GDAL: the lake holds the
    characters the file meant, not mojibake or a refusal."""
    import pyarrow.parquet as pq

    if kind == "pipe_csv":
        text = "lon|lat|name\n" + "".join(f"{i}.5|{i}|{n}\n" for i, n in enumerate(PLACES))
        name, body = "places.csv", text.encode("cp1252")
        spec = {"type": "vector", "format": "CSV", "crs": "EPSG:4326"}
        spec["options"] = {"encoding": "cp1252", "delimiter": "|"}
    else:
        name, body = "places.zip", _cp1252_shapefile_zip(tmp_path)
        spec = {"type": "vector", "options": {"encoding": "cp1252"}}  # format from the zip
    submit(
        services, f"places_{kind}", {name: body}, intent="ingest_vector",
        metadata={"tags": {"dataset_id": f"places_{kind}"}}, file_specs=[spec],
    )  # fmt: skip
    run = take_in(services, "spatial")
    result = run_batch(run, "spatial")
    table = pq.read_table(read_lake(services, result.asset.s3_key, tmp_path))
    assert sorted(table.column("name").to_pylist()) == sorted(PLACES)
    assert no_run_schema_left(services, run)


def test_the_same_bytes_in_a_corrected_encoding_are_a_new_version(
    services: Services, tmp_path: Path
) -> None:
    """Read as latin-1 by mistake, then as cp1252: the correction is v2, not a duplicate."""
    import pyarrow.parquet as pq

    body = _cp1252_shapefile_zip(tmp_path)
    names = {}
    for batch, encoding in (("enc_1", "latin-1"), ("enc_2", "cp1252"), ("enc_3", "cp1252")):
        spec = {"type": "vector", "format": "Shapefile", "options": {"encoding": encoding}}
        submit(
            services, batch, {"places.zip": body}, intent="ingest_vector",
            metadata={"tags": {"dataset_id": "enc"}}, file_specs=[spec],
        )  # fmt: skip
        result = run_batch(take_in(services, "spatial"), "spatial")
        table = pq.read_table(read_lake(services, result.asset.s3_key, tmp_path / batch))
        names[batch] = (result.asset.version, result.deduplicated, table.column("name")[2])
    assert names["enc_1"][:2] == (1, False) and names["enc_2"][:2] == (2, False)
    assert names["enc_2"][2].as_py() == "caf\u00e9 \u20ac5" != names["enc_1"][2].as_py()
    assert names["enc_3"][:2] == (2, True)


def test_a_bbox_property_is_kept_beside_the_covering(services: Services, tmp_path: Path) -> None:
    """A user's ``bbox`` attribute is the user's column; the covering column steps aside."""
    import pyarrow.parquet as pq

    feature = {
        "type": "Feature",
        "properties": {"bbox": "144.9,-37.9,145.0,-37.8", "name": "cbd"},
        "geometry": {"type": "Point", "coordinates": [144.95, -37.85]},
    }
    body = json.dumps({"type": "FeatureCollection", "features": [feature]}).encode()
    submit(
        services, "boxes_1", {"boxes.geojson": body}, intent="ingest_vector",
        metadata={"tags": {"dataset_id": "boxes"}}, file_specs=[{"type": "vector"}],
    )  # fmt: skip
    result = run_batch(take_in(services, "spatial"), "spatial")
    table = pq.read_table(read_lake(services, result.asset.s3_key, tmp_path))
    assert table.column("bbox").to_pylist() == ["144.9,-37.9,145.0,-37.8"]
    geo = json.loads(table.schema.metadata[b"geo"])
    assert geo["columns"]["geom"]["covering"]["bbox"]["xmin"] == ["geom_bbox", "xmin"]
    assert table.column("geom_bbox").to_pylist()[0]["xmin"] == pytest.approx(144.95)


@pytest.mark.parametrize("member", ["stops.geojson", "export/stops.gpkg"])
def test_a_zip_of_another_vector_format_is_read_without_a_format_or_member(
    services: Services, tmp_path: Path, member: str
) -> None:
    """Portals zip GeoJSON and GeoPackages too: a zip without a Shapefile is read as the one
    dataset it holds."""
    import zipfile

    import geopandas as gpd
    import shapely

    frame = gpd.GeoDataFrame({"stop": ["a", "b"]}, geometry=[shapely.Point(1, 2)] * 2, crs=4326)
    local = tmp_path / PurePosixPath(member).name
    frame.to_file(local, driver="GPKG" if member.endswith(".gpkg") else "GeoJSON")
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.write(local, member)
        archive.writestr("README.txt", "stops of the network")
    batch = f"zipped_{PurePosixPath(member).suffix[1:]}"
    submit(
        services, batch, {"stops.zip": buffer.getvalue()}, intent="ingest_vector",
        metadata={"tags": {"dataset_id": batch}}, file_specs=[{"type": "vector"}],
    )  # fmt: skip
    result = run_batch(take_in(services, "spatial"), "spatial")
    assert result.asset.row_count == 2


def test_vector_text_that_is_not_utf8_is_refused_with_what_to_declare(
    services: Services, tmp_path: Path
) -> None:
    submit(
        services, "places_undeclared", {"places.zip": _cp1252_shapefile_zip(tmp_path)},
        intent="ingest_vector", metadata={"tags": {"dataset_id": "places_undeclared"}},
        file_specs=[{"type": "vector", "format": "Shapefile"}],
    )  # fmt: skip
    run = take_in(services, "spatial")
    with pytest.raises(
        Exception, match=r"^files\[0\] \(s3://.*places\.zip\) has text that is not UTF-8"
    ) as raised:
        run_batch(run, "spatial")
    assert "files[].options.encoding" in str(raised.value)
    assert no_run_schema_left(services, run)
    assert services.ledger.versions("places_undeclared") == []


def test_tabular_csv_to_parquet_keeps_leading_zeros(services: Services, tmp_path: Path) -> None:
    import pyarrow.parquet as pq

    csv = "Road ID,Count,Post Code\n" + "".join(
        f"R{i:03d},{i * 10},0{800 + i}\n" for i in range(20)
    )
    submit(
        services, "counts_1", {"counts.csv": csv.encode()},
        intent="ingest_tabular", metadata={"tags": {"dataset_id": "counts"}},
        file_specs=[{"type": "tabular"}],
    )  # fmt: skip
    result = run_batch(take_in(services, "tabular"), "tabular")
    table = pq.read_table(read_lake(services, result.asset.s3_key, tmp_path))
    assert table.num_rows == 20 and result.quality.source_rows == 20
    assert table.column_names == ["road_id", "count", "post_code"]
    assert table.column("post_code")[0].as_py() == "0800"
    assert result.asset.format == "parquet"
    mapping = {m["original"]: m["normalised"] for m in result.report["header_mapping"]}
    assert mapping["Road ID"] == "road_id"


@pytest.mark.parametrize(
    ("how", "rows", "with_geometry"),
    [("left", 12, 10), ("inner", 10, 10), ("right", 20, 20), ("outer", 22, 20)],
)
def test_join_semantics_end_to_end(
    services: Services, tmp_path: Path, how: str, rows: int, with_geometry: int
) -> None:
    import geopandas as gpd

    run_batch(ingest_roads(services, "roads_1"), "spatial")
    # 10 counts match roads R000..R009, 2 match nothing.
    csv = "road,n\n" + "".join(f"R{i:03d},{i}\n" for i in range(10)) + "X1,1\nX2,2\n"
    submit(
        services, "counts_1", {"counts.csv": csv.encode()},
        intent="ingest_tabular", metadata={"tags": {"dataset_id": "counts"}},
        file_specs=[{"type": "tabular"}],
    )  # fmt: skip
    run_batch(take_in(services, "tabular"), "tabular")
    join = {
        "spatial_dataset_id": "roads",
        "tabular_dataset_id": "counts",
        "left_key": "road",
        "right_key": "road_id",
        "how": how,
    }
    submit(
        services, f"join_{how}", {}, intent="join_datasets",
        metadata={"tags": {"dataset_id": f"roads_counts_{how}"}, "join_config": join},
    )  # fmt: skip
    run = take_in(services, "join")
    result = run_batch(run, "join")
    frame = gpd.read_parquet(read_lake(services, result.asset.s3_key, tmp_path))
    assert len(frame) == rows
    assert int(frame.geometry.notna().sum()) == with_geometry
    assert {"road_id", "name", "lanes", "road", "n"} <= set(frame.columns)
    report = result.report["join"]
    assert report["match_rate"] == pytest.approx(10 / 12)
    assert report["unmatched_tabular_keys"]["count"] == 2
    parents = {p.role: (p.dataset_id, p.version) for p in result.asset.parents}
    assert parents == {"spatial": ("roads", 1), "tabular": ("counts", 1)}
    kinds = sorted(e.kind for e in services.ledger.lineage_for(result.asset.id))
    assert kinds == ["parent", "parent"]
    assert no_run_schema_left(services, run)


def test_raster_to_cog(services: Services, tmp_path: Path) -> None:
    from etl_spatial.gdal import run_gdal
    from etl_spatial.metadata import validate_cog

    source = tmp_path / "dem.asc"
    rows = "\n".join(" ".join(str((r * 7 + c) % 50) for c in range(64)) for r in range(64))
    source.write_text(
        "ncols 64\nnrows 64\nxllcorner 144.0\nyllcorner -38.0\ncellsize 0.01\n"
        f"NODATA_value -9999\n{rows}\n"
    )
    tif = tmp_path / "dem.tif"
    run_gdal("gdal_translate", ["-of", "GTiff", "-a_srs", "EPSG:4326", str(source), str(tif)])
    submit(
        services, "dem_1", {"dem.tif": tif.read_bytes()},
        intent="ingest_raster", metadata={"tags": {"dataset_id": "dem"}},
        file_specs=[{"type": "raster"}],
    )  # fmt: skip
    result = run_batch(take_in(services, "spatial"), "spatial")
    assert result.asset.s3_key == "dem/v1/data.tif" and result.asset.format == "cog"
    validate_cog(read_lake(services, result.asset.s3_key, tmp_path))
    assert result.asset.crs == "EPSG:4326"
    assert result.asset.bounds[0] == pytest.approx(144.0)


def test_legacy_dispatch_by_content(services: Services) -> None:
    submit(
        services, "legacy_1", {"roads.geojson": json.dumps(ROADS).encode()},
        intent="ingest_road_network", metadata={"tags": {"dataset_id": "legacy_roads"}},
        file_specs=[{"type": "vector"}],
    )  # fmt: skip
    result = run_batch(take_in(services, "ingest"), "ingest")
    assert result.asset.dataset_id == "legacy_roads" and result.asset.row_count == 20


def test_run_without_batch_tag_fails_clearly(services: Services) -> None:
    run = BatchRun(services=services, dagster_run_id=str(uuid.uuid4()), job_name="x", tags={})
    with pytest.raises(LaneError, match="Upload a manifest"):
        run_batch(run, "spatial")


# --- joins by the names users know --------------------------------------------------------

STATES = [("01", "Alabama"), ("04", "Arizona"), ("05", "Arkansas"), ("06", "California")]


def zipped_shapefile(tmp_path: Path) -> bytes:
    """A real zipped shapefile with a ``STATE_FIPS`` text field ("01", "04", ...)."""
    import zipfile

    import geopandas as gpd
    from shapely.geometry import box

    frame = gpd.GeoDataFrame(
        {"STATE_FIPS": [f for f, _ in STATES], "NAME": [n for _, n in STATES]},
        geometry=[box(i, 0, i + 1, 1) for i in range(len(STATES))],
        crs="EPSG:4326",
    )
    folder = tmp_path / "shp"
    folder.mkdir()
    frame.to_file(folder / "states.shp", driver="ESRI Shapefile")
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for part in sorted(folder.iterdir()):
            archive.write(part, part.name)
    return buffer.getvalue()


def ingest_states_and_population(services: Services, tmp_path: Path) -> None:
    submit(
        services, "states_1", {"states.zip": zipped_shapefile(tmp_path)},
        intent="ingest_vector", metadata={"tags": {"dataset_id": "states"}},
        file_specs=[{"type": "vector"}],
    )  # fmt: skip
    states = run_batch(take_in(services, "spatial"), "spatial")
    names = {c.name: c.source_name for c in states.asset.column_schema}
    assert names["state_fips"] == "STATE_FIPS" and names["name"] == "NAME"
    # The CSV holds the codes as numbers (1, 4, 5, 6) and a column named 1929.
    csv = "STATE_FIPS,1929\n" + "".join(f"{int(f)},{i * 100}\n" for i, (f, _) in enumerate(STATES))
    submit(
        services, "population_1", {"population.csv": csv.encode()},
        intent="ingest_tabular", metadata={"tags": {"dataset_id": "population"}},
        file_specs=[{"type": "tabular"}],
    )  # fmt: skip
    population = run_batch(take_in(services, "tabular"), "tabular")
    names = {c.name: c.source_name for c in population.asset.column_schema}
    assert names == {"state_fips": "STATE_FIPS", "col_1929": "1929"}


def submit_state_join(services: Services, batch_id: str, **join: Any) -> BatchRun:
    config = {"spatial_dataset_id": "states", "tabular_dataset_id": "population", **join}
    submit(
        services, batch_id, {}, intent="join_datasets",
        metadata={"tags": {"dataset_id": batch_id}, "join_config": config,
                  "license": "CC-BY-4.0", "keywords": ["census"]},
    )  # fmt: skip
    return take_in(services, "join")


def test_join_by_source_names_with_numeric_keys_matches_every_feature(
    services: Services, tmp_path: Path
) -> None:
    import geopandas as gpd

    from etl_pipeline.orchestration.results import check_results

    ingest_states_and_population(services, tmp_path)
    run = submit_state_join(
        services, "states_population", left_key="STATE_FIPS", keep="spatial",
        key_match="numeric",
    )  # fmt: skip
    result = run_batch(run, "join")

    frame = gpd.read_parquet(read_lake(services, result.asset.s3_key, tmp_path))
    assert len(frame) == len(STATES) and frame["col_1929"].notna().all()
    report = result.report["join"]
    assert (report["left_key"], report["right_key"]) == ("state_fips", "state_fips")
    assert report["key_match"] == "numeric" and "by value" in report["key_rule"]
    assert report["spatial_match_rate"] == 1.0 and report["match_rate"] == 1.0
    assert result.report["match"]["low"] == []
    record = services.ledger.get_manifest(run.batch_id)
    assert record.warnings == []
    by_name = {c.name: c for c in result.asset.column_schema}
    assert by_name["col_1929"].source_name == "1929"
    assert result.asset.metadata == {"license": "CC-BY-4.0", "keywords": ["census"]}
    stac_key = result.asset.s3_key.replace("data.parquet", "item.json")
    item = json.loads(read_lake(services, stac_key, tmp_path).read_text())
    assert item["properties"]["license"] == "CC-BY-4.0"
    columns = {c["name"]: c.get("etl:source_name") for c in item["properties"]["table:columns"]}
    assert columns["state_fips"] == "STATE_FIPS"
    [match_check] = [c for c in check_results(result, ["join_match_rate"])]
    assert match_check.passed


def test_low_match_rate_warns_and_no_match_fails_with_samples(
    services: Services, tmp_path: Path
) -> None:
    import dagster as dg

    from etl_pipeline.orchestration.results import check_results

    ingest_states_and_population(services, tmp_path)
    # Today's rule compares trimmed text: the CSV's 1 never equals the shapefile's "01".
    run = submit_state_join(services, "no_match", left_key="state_fips")
    with pytest.raises(LaneError, match=r"no key matched.*'1'.*'01'.*'numeric'"):
        run_batch(run, "join")

    # Two of the four states have counts, written with their leading zeros (kept as text).
    csv = "state_fips,pop\n01,10\n04,20\n"
    submit(
        services, "population_2", {"population.csv": csv.encode()},
        intent="ingest_tabular", metadata={"tags": {"dataset_id": "population"}},
        file_specs=[{"type": "tabular"}],
    )  # fmt: skip
    run_batch(take_in(services, "tabular"), "tabular")
    run = submit_state_join(services, "half_matched", left_key="STATE_FIPS", keep="spatial")
    result = run_batch(run, "join")
    assert result.asset.row_count == 4  # every feature kept
    assert result.report["match"]["rates"] == {"spatial": 0.5}
    [warning, *rest] = services.ledger.get_manifest(run.batch_id).warnings
    assert "join matched 2 of 4 spatial rows (50.0%), under min_match_rate 90%" in warning
    assert "'05'" in warning and not rest
    [check] = check_results(result, ["join_match_rate"])
    assert not check.passed and check.severity == dg.AssetCheckSeverity.WARN
