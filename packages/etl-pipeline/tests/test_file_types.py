"""File types and their formats: declared by the lanes that read them, checked by preflight with
the field and the fix, and canonical by the time a lane reads them."""

from __future__ import annotations

from typing import Any

import pytest

from etl_models.json_schema import manifest_json_schema
from etl_models.manifest import parse_manifest
from etl_pipeline.lanes import registry
from etl_pipeline.lanes.declaration import FileFormats, Lane
from etl_pipeline.lanes.preflight import preflight
from etl_pipeline.lanes.registry import (
    LANES,
    canonical_manifest,
    declared_format,
    file_types,
    file_types_for_extension,
    inferred_format,
    manifest_schema,
)
from etl_pipeline.lanes.tabular import TabularSteps

pytestmark = pytest.mark.unit


def doc(*files: dict[str, Any], intent: str = "ingest_vector") -> dict[str, Any]:
    return {"batch_id": "b_1", "uploader": "jane", "intent": intent, "files": list(files)}


def vector(name: str = "roads.gpkg", **extra: Any) -> dict[str, Any]:
    return {"path": f"s3://landing-zone/b_1/{name}", "type": "vector", **extra}


def problems(document: dict[str, Any]) -> dict[str, str]:
    return {p.field: p.message for p in preflight(parse_manifest(document)).problems}


def test_file_types_are_the_lanes():
    assert file_types() == ("vector", "raster", "tabular")
    for lane in LANES:
        assert lane.file_types <= set(lane.steps)
        for formats in lane.file_formats.values():
            # A canonical name is one of its own spellings: canonicalising is idempotent.
            assert all(formats.declared(name) == name for name in formats.canonical_names)
    # The schema's examples only name file types that exist.
    examples = manifest_json_schema()["$defs"]["ManifestFile"]["properties"]["type"]["examples"]
    assert set(examples) <= set(file_types())
    assert manifest_schema()["$defs"]["ManifestFile"]["properties"]["type"]["enum"] == list(
        file_types()
    )


def test_file_type_must_be_known():
    errors = problems(doc(vector(type="vectr")))
    assert "'vector', 'raster' or 'tabular'" in errors["files[0].type"]
    assert list(errors) == ["files[0].type"]  # no recipe or format noise on top


@pytest.mark.parametrize(
    ("name", "declared", "canonical"),
    [
        ("roads.gpkg", None, "GPKG"),
        ("roads.geojson", None, "GeoJSON"),
        ("roads.zip", None, None),  # what the zip holds decides, once it is opened
        ("roads.zip", "shapefile", "ESRI Shapefile"),
        ("roads.shp", "shapefile", "ESRI Shapefile"),
        ("roads.shp", " Shapefile ", "ESRI Shapefile"),
        ("roads.fgb", None, "FlatGeobuf"),
        ("points.csv", None, "CSV"),
        ("data.bin", "GeoJSON", "GeoJSON"),
    ],
)
def test_vector_formats(name: str, declared: str | None, canonical: str | None):
    document = doc(vector(name, format=declared))
    assert not problems(document)
    assert canonical_manifest(parse_manifest(document)).files[0].format == canonical


def test_zip_member_format_is_inferred_from_the_member():
    document = doc(vector("roads.zip", member="roads/roads.gpkg"))
    assert canonical_manifest(parse_manifest(document)).files[0].format == "GPKG"


def test_format_must_match_type():
    message = problems(doc(vector(format="GTiff")))["files[0].format"]
    assert "format 'GTiff' is not a vector format; use one of" in message
    assert "GPKG" in message


def test_reader_options_the_format_cannot_use_are_refused():
    found = problems(
        doc(
            vector(
                "roads.gpkg", options={"encoding": "cp1252", "x_column": "lon", "y_column": "y"}
            ),
            vector("roads.geojson", options={"delimiter": ";", "wkt_column": "wkt"}),
        )
    )
    assert "geometry columns apply to vector CSV files only" in found["files[0].options.x_column"]
    assert "a vector GPKG file" in found["files[0].options.x_column"]
    assert "UTF-8 by definition" in found["files[0].options.encoding"]
    assert "a delimiter applies to CSV files only" in found["files[1].options.delimiter"]
    assert "files[1].options.wkt_column" in found
    tabular = {"path": "s3://landing-zone/b_1/t.csv", "type": "tabular"}
    refused = problems(doc({**tabular, "options": {"x_column": "lon", "y_column": "lat"}},
                           intent="ingest_tabular"))  # fmt: skip
    assert "a tabular CSV file" in refused["files[0].options.x_column"]
    refused = problems(doc({**tabular, "crs": "EPSG:4326", "layer": "t"}, intent="ingest_tabular"))
    assert "a tabular file has no geometry" in refused["files[0].crs"]
    assert "layers exist in vector files only" in refused["files[0].layer"]
    raster = {"path": "s3://landing-zone/b_1/dem.tif", "type": "raster", "layer": "band1"}
    assert "files[0].layer" in problems(doc(raster, intent="ingest_raster"))


def test_reader_options_the_format_uses_are_accepted():
    ok = [
        vector(
            "pts.csv",
            options={"delimiter": "|", "encoding": "cp1252", "x_column": "lon", "y_column": "lat"},
        ),
        vector("roads.zip", options={"encoding": "latin-1"}),
        vector("roads.geojson", options={"encoding": "utf-16"}),
        vector("roads.gpkg", options={"encoding": "utf-8", "delimiter": ","}),  # the defaults
    ]
    assert not [f for f in problems(doc(*ok)) if ".options." in f]
    tabular = {"path": "s3://landing-zone/b_1/t.csv", "type": "tabular"}
    both = {"delimiter": ";", "encoding": "cp1252"}
    assert problems(doc({**tabular, "options": both}, intent="ingest_tabular")) == {}


def test_format_must_be_inferable():
    message = problems(doc(vector("x.dat")))["files[0].format"]
    assert "cannot infer a vector format from extension '.dat'" in message
    assert "set files[].format" in message


def test_raster_format_and_one_file_per_raster_batch():
    raster = {"path": "s3://landing-zone/b_1/dem.tif", "type": "raster"}
    one = doc(raster, intent="ingest_raster")
    assert not problems(one)
    assert canonical_manifest(parse_manifest(one)).files[0].format == "GTiff"
    two = doc(raster, {**raster, "path": "s3://landing-zone/b_1/b.tif"}, intent="ingest_raster")
    assert "a raster batch takes exactly one file (got 2)" in problems(two)["files"]
    # Several vector files make one dataset.
    assert not problems(doc(vector(), vector("roads2.gpkg")))


def test_format_tables():
    assert declared_format("vector", " Shapefile ") == "ESRI Shapefile"
    assert declared_format("tabular", "gpkg") is None
    assert declared_format("pointcloud", "las") is None
    assert inferred_format("raster", "b/x.TIF") == "GTiff"
    assert inferred_format("tabular", "b/x.gpkg") is None
    assert file_types_for_extension(".gpkg") == {"vector"}
    assert file_types_for_extension(".tif") == {"raster"}
    assert file_types_for_extension(".csv") == {"vector", "tabular"}
    assert file_types_for_extension(".xyz") == frozenset()


def test_a_new_lane_brings_its_own_file_type(monkeypatch):
    """A lane for a kind of file the platform has never seen declares it: nothing else."""
    lane = Lane(
        name="pointcloud",
        description="LAS/LAZ point clouds",
        code_location="asset_lanes",
        sensor="pointcloud_sensor",
        job="pointcloud_asset_job",
        asset="raw_pointcloud_asset",
        asset_kinds=frozenset({"copc"}),
        recipes={},
        steps={"pointcloud": TabularSteps()},
        file_formats={
            "pointcloud": FileFormats(
                aliases={"las": "LAS", "laz": "LAS"}, extensions={".las": "LAS", ".laz": "LAS"}
            )
        },
    )
    monkeypatch.setattr(registry, "LANES", (*LANES, lane))
    registry._formats_by_type.cache_clear()
    try:
        assert file_types()[-1] == "pointcloud"
        document = doc({"path": "s3://landing-zone/b_1/scan.laz", "type": "pointcloud"}, intent="x")
        errors = problems(document)
        assert "files[0].type" not in errors and "files[0].format" not in errors
        assert canonical_manifest(parse_manifest(document)).files[0].format == "LAS"
        assert file_types_for_extension(".laz") == {"pointcloud"}
    finally:
        registry._formats_by_type.cache_clear()


def test_a_file_type_has_one_table_of_formats(monkeypatch):
    other = FileFormats(aliases={"csv": "CSV"}, extensions={".csv": "CSV"})
    lane = Lane(
        name="other",
        description="",
        code_location="asset_lanes",
        sensor="s",
        job="j",
        asset="a",
        asset_kinds=frozenset(),
        recipes={},
        steps={"tabular": TabularSteps()},
        file_formats={"tabular": other},
    )
    monkeypatch.setattr(registry, "LANES", (*LANES, lane))
    registry._formats_by_type.cache_clear()
    try:
        with pytest.raises(RuntimeError, match="file type 'tabular' is declared with different"):
            file_types()
    finally:
        registry._formats_by_type.cache_clear()


def test_a_lane_reads_only_file_types_it_has_steps_for():
    with pytest.raises(ValueError, match="without steps"):
        Lane(
            name="x",
            description="",
            code_location="asset_lanes",
            sensor="s",
            job="j",
            asset="a",
            asset_kinds=frozenset(),
            recipes={},
            steps={},
            file_formats={"tabular": FileFormats(aliases={}, extensions={})},
        )
