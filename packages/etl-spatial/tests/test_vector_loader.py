"""Vector loader against real PostGIS, the real S3 server and GDAL's command-line tools."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import pytest

from etl_spatial.loader import (
    FID_COLUMN,
    VectorLoadError,
    VectorSource,
    inspect_layer,
    load_vector,
)

pytestmark = pytest.mark.integration


def _feature_collection(features: list[dict], crs: str | None = None) -> dict:
    doc: dict = {"type": "FeatureCollection", "features": features}
    if crs:
        doc["crs"] = {"type": "name", "properties": {"name": crs}}
    return doc


def _point(x: float, y: float, **props) -> dict:
    return {
        "type": "Feature",
        "properties": props,
        "geometry": {"type": "Point", "coordinates": [x, y]},
    }


def test_natural_earth_shapefile_from_s3_promotes_polygon_mix(
    postgis, run_id, buckets, upload, s3_gdal_env, natural_earth_shp: Path
):
    landing, _ = buckets
    for sidecar in natural_earth_shp.parent.iterdir():
        upload(landing, f"ne/{sidecar.name}", sidecar)
    source = VectorSource(path=f"/vsis3/{landing}/ne/naturalearth_lowres.shp", format="Shapefile")

    with postgis.ephemeral_schema(run_id) as schema:
        report = load_vector(postgis, schema, [source], gdal_env=s3_gdal_env)
        assert report.row_count == 177 == schema.row_count("raw_data")
        assert report.source_crs == "EPSG:4326"
        assert report.crs_declared is False
        assert report.srid == 4326
        assert report.promoted_to_multi is True
        assert report.geometry_types == ["MultiPolygon"]
        names = [f["name"] for f in report.fields]
        assert names == ["pop_est", "continent", "name", "iso_a3", "gdp_md_est", "geom"]
        assert FID_COLUMN not in names
        assert report.files == [
            {
                "path": source.path,
                "layer": "naturalearth_lowres",
                "driver": "ESRI Shapefile",
                "feature_count": 177,
                "loaded_rows": 177,
            }
        ]
        with schema.connect() as conn:
            persistence, indexes = conn.execute(
                "SELECT c.relpersistence, (SELECT count(*) FROM pg_index i "
                "WHERE i.indrelid = c.oid AND NOT i.indisprimary) "
                "FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
                "WHERE n.nspname = %s AND c.relname = 'raw_data'",
                (schema.name,),
            ).fetchone()
            assert persistence == "u"  # UNLOGGED
            assert indexes == 0  # no spatial index unless a step asks for one
            fiji = conn.execute(
                "SELECT ST_NumGeometries(geom) FROM raw_data WHERE name = 'Fiji'"
            ).fetchone()[0]
            assert fiji == 3  # a real MultiPolygon survived, single polygons were promoted


def test_zipped_shapefile_via_vsizip(
    postgis, run_id, buckets, upload, s3_gdal_env, natural_earth_shp: Path, tmp_path: Path
):
    landing, _ = buckets
    archive = tmp_path / "countries.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        for sidecar in natural_earth_shp.parent.iterdir():
            zf.write(sidecar, f"countries/{sidecar.name}")
    path = upload(landing, "b/countries.zip", archive)
    source = VectorSource(path=f"/vsizip/{path}", format="ESRI Shapefile")
    with postgis.ephemeral_schema(run_id) as schema:
        report = load_vector(postgis, schema, [source], gdal_env=s3_gdal_env)
    assert report.row_count == 177


def test_multi_file_geojson_batch_is_appended(
    postgis, run_id, buckets, upload, s3_gdal_env, tmp_path: Path
):
    landing, _ = buckets
    paths = []
    for i in range(2):
        local = tmp_path / f"part{i}.geojson"
        features = [_point(i + j / 10, 50.0, Name=f"p{i}{j}", Score=j) for j in range(3 + i)]
        local.write_text(json.dumps(_feature_collection(features)))
        paths.append(upload(landing, f"b/part{i}.geojson", local))
    sources = [VectorSource(path=p, format="GeoJSON") for p in paths]
    with postgis.ephemeral_schema(run_id) as schema:
        report = load_vector(postgis, schema, sources, gdal_env=s3_gdal_env)
        with schema.connect() as conn:
            rows = conn.execute(
                "SELECT name, score FROM raw_data WHERE name IS NOT NULL ORDER BY name"
            ).fetchall()
    assert report.row_count == 7
    assert [f["loaded_rows"] for f in report.files] == [3, 4]
    assert len(rows) == 7  # appended rows kept their attributes (laundered names matched)
    assert report.source_crs == "EPSG:4326"
    assert report.geometry_types == ["Point"]


def test_batch_with_different_fields_is_refused(
    postgis, run_id, buckets, upload, s3_gdal_env, tmp_path: Path
):
    landing, _ = buckets
    a, b = tmp_path / "a.geojson", tmp_path / "b.geojson"
    a.write_text(json.dumps(_feature_collection([_point(1, 1, name="x")])))
    b.write_text(json.dumps(_feature_collection([_point(1, 1, label="x")])))
    sources = [
        VectorSource(path=upload(landing, "b/a.geojson", a), format="GeoJSON", label="files[0]"),
        VectorSource(path=upload(landing, "b/b.geojson", b), format="GeoJSON", label="files[1]"),
    ]
    with postgis.ephemeral_schema(run_id) as schema, pytest.raises(VectorLoadError) as info:
        load_vector(postgis, schema, sources, gdal_env=s3_gdal_env)
    message = str(info.value)
    assert "files[1]" in message and "lacks name" in message and "adds label" in message


def test_batch_with_different_crs_is_refused(
    postgis, run_id, buckets, upload, s3_gdal_env, tmp_path: Path
):
    landing, _ = buckets
    a, b = tmp_path / "a.geojson", tmp_path / "b.geojson"
    a.write_text(json.dumps(_feature_collection([_point(1, 1, name="x")])))
    b.write_text(
        json.dumps(
            _feature_collection([_point(500000, 6000000, name="y")], "urn:ogc:def:crs:EPSG::3857")
        )
    )
    sources = [
        VectorSource(path=upload(landing, "b/a.geojson", a), format="GeoJSON"),
        VectorSource(path=upload(landing, "b/b.geojson", b), format="GeoJSON"),
    ]
    with postgis.ephemeral_schema(run_id) as schema, pytest.raises(VectorLoadError) as info:
        load_vector(postgis, schema, sources, gdal_env=s3_gdal_env)
    assert "EPSG:3857" in str(info.value) and "share a CRS" in str(info.value)


def test_csv_without_crs_fails_clearly_then_uses_declared_crs(
    postgis, run_id, buckets, upload, s3_gdal_env, tmp_path: Path
):
    landing, _ = buckets
    local = tmp_path / "stations.csv"
    local.write_text("id,name,lon,lat\n1,a,144.9,-37.8\n2,b,145.0,-37.9\n3,c,151.2,-33.9\n")
    source = VectorSource(
        path=upload(landing, "b/stations.csv", local), format="CSV", label="files[0]"
    )
    with postgis.ephemeral_schema(run_id) as schema:
        with pytest.raises(VectorLoadError) as info:
            load_vector(postgis, schema, [source], gdal_env=s3_gdal_env)
        assert "files[0] has no CRS" in str(info.value)
        assert "EPSG:4326" in str(info.value)

        report = load_vector(
            postgis, schema, [source], gdal_env=s3_gdal_env, declared_crs="EPSG:4283"
        )
        assert report.row_count == 3
        assert report.source_crs == "EPSG:4283"
        assert report.crs_declared is True
        assert report.srid == 4283
        names = {f["name"]: f["type"] for f in report.fields}
        # lon/lat became the geometry; the id column was detected as a number.
        assert "lon" not in names and "lat" not in names
        assert names["id"] == "integer"
        with schema.connect() as conn:
            x = conn.execute("SELECT ST_X(geom) FROM raw_data WHERE id = 3").fetchone()[0]
        assert x == pytest.approx(151.2)


def test_csv_with_wkt_column(postgis, run_id, tmp_path: Path):
    local = tmp_path / "areas.csv"
    local.write_text(
        'code,wkt\nA,"POLYGON((0 0,1 0,1 1,0 0))"\n'
        'B,"MULTIPOLYGON(((0 0,2 0,2 2,0 0)),((5 5,6 5,6 6,5 5)))"\n'
    )
    source = VectorSource(path=str(local), format="CSV")
    with postgis.ephemeral_schema(run_id) as schema:
        report = load_vector(postgis, schema, [source], declared_crs="EPSG:3857")
    assert report.row_count == 2
    assert report.geometry_types == ["MultiPolygon"]
    assert [f["name"] for f in report.fields] == ["code", "geom"]


def test_declared_crs_conflicting_with_file_crs_is_refused(
    postgis, run_id, natural_earth_shp: Path
):
    source = VectorSource(path=str(natural_earth_shp), format="Shapefile", label="files[0]")
    with postgis.ephemeral_schema(run_id) as schema, pytest.raises(VectorLoadError) as info:
        load_vector(postgis, schema, [source], declared_crs="EPSG:28355")
    assert "files[0]" in str(info.value) and "EPSG:4326" in str(info.value)


def test_geopackage_layer_choice(postgis, run_id, tmp_path: Path, natural_earth_shp: Path):
    import geopandas as gpd

    gpkg = tmp_path / "two_layers.gpkg"
    countries = gpd.read_file(natural_earth_shp)
    countries.to_file(gpkg, layer="countries", driver="GPKG")
    countries.set_geometry(countries.representative_point()).to_file(
        gpkg, layer="centroids", driver="GPKG"
    )

    with pytest.raises(VectorLoadError, match="has 2 layers"):
        inspect_layer(VectorSource(path=str(gpkg), format="GPKG"))
    with pytest.raises(VectorLoadError, match="layer 'roads' not found"):
        inspect_layer(VectorSource(path=str(gpkg), format="GPKG", layer="roads"))

    with postgis.ephemeral_schema(run_id) as schema:
        report = load_vector(
            postgis, schema, [VectorSource(path=str(gpkg), format="GPKG", layer="centroids")]
        )
    assert report.row_count == 177
    assert report.geometry_types == ["Point"]
    assert report.promoted_to_multi is False


def test_flatgeobuf(postgis, run_id, tmp_path: Path, natural_earth_shp: Path):
    import geopandas as gpd

    fgb = tmp_path / "countries.fgb"
    gpd.read_file(natural_earth_shp).to_file(fgb, driver="FlatGeobuf")
    with postgis.ephemeral_schema(run_id) as schema:
        report = load_vector(postgis, schema, [VectorSource(path=str(fgb), format="FlatGeobuf")])
    assert report.row_count == 177
    assert report.source_crs == "EPSG:4326"


def test_unsupported_format_names_the_fix():
    with pytest.raises(VectorLoadError, match="KML"):
        _ = VectorSource(path="x.kml", format="KML").driver


def test_file_crs_that_proj_cannot_resolve_is_refused(postgis, run_id, tmp_path: Path):
    """GDAL would load it as WGS 84 without a word; the loader refuses instead."""
    local = tmp_path / "u2.geojson"
    collection = _feature_collection([_point(1, 2, a=1)], "urn:ogc:def:crs:EPSG::999999")
    local.write_text(json.dumps(collection))
    source = VectorSource(path=str(local), format="GeoJSON", label="files[0]")
    with postgis.ephemeral_schema(run_id) as schema, pytest.raises(VectorLoadError) as info:
        load_vector(postgis, schema, [source])
    assert "files[0]" in str(info.value) and "cannot be resolved" in str(info.value)


def test_unreadable_file_names_the_file(tmp_path: Path):
    local = tmp_path / "garbage.geojson"
    local.write_bytes(b"\x00not json at all")
    with pytest.raises(VectorLoadError, match=r"files\[3\]: GDAL cannot read it"):
        inspect_layer(VectorSource(path=str(local), format="GeoJSON", label="files[3]"))


def test_wrong_declared_format_is_named(natural_earth_shp: Path):
    with pytest.raises(VectorLoadError, match="reads the file as ESRI Shapefile"):
        inspect_layer(VectorSource(path=str(natural_earth_shp), format="GPKG"))


def test_geojson_is_inspected_with_one_open(tmp_path: Path, monkeypatch):
    """A GeoJSON's open reads the whole file: inspecting one must not list its layers first
    (a second full read in the run worker); the facts are the listing path's."""
    import pyogrio

    local = tmp_path / "points.geojson"
    local.write_text(json.dumps(_feature_collection([_point(1, 2, a=1), _point(3, 4, a=2)])))
    source = VectorSource(path=str(local), format="GeoJSON")
    listed = inspect_layer(VectorSource(path=str(local), format="GeoJSON", layer="points"))
    opens: list[str] = []
    real_list_layers = pyogrio.list_layers
    monkeypatch.setattr(
        pyogrio, "list_layers", lambda path: opens.append(path) or real_list_layers(path)
    )
    info = inspect_layer(source)
    assert opens == []
    assert (info.layer, info.driver, info.feature_count) == ("points", "GeoJSON", 2)
    assert (info.geometry_type, info.fields, info.crs) == (
        listed.geometry_type,
        listed.fields,
        listed.crs,
    )


def test_one_open_inspection_keeps_the_listing_errors(
    tmp_path: Path, natural_earth_shp: Path, monkeypatch
):
    """Where the one-open path does not apply or fails, the listing path answers: the same
    messages as before for a named layer that is missing, an unreadable file and a file of
    another format with several layers."""
    import pyogrio

    local = tmp_path / "points.geojson"
    local.write_text(json.dumps(_feature_collection([_point(1, 2, a=1)])))
    with pytest.raises(VectorLoadError, match="layer 'roads' not found; the file has 'points'"):
        inspect_layer(VectorSource(path=str(local), format="GeoJSON", layer="roads"))
    garbage = tmp_path / "garbage.geojson"
    garbage.write_bytes(b"\x00not json at all")
    with pytest.raises(VectorLoadError, match=r"garbage.geojson: GDAL cannot read it"):
        inspect_layer(VectorSource(path=str(garbage), format="GeoJSON"))
    gpkg = tmp_path / "two_layers.gpkg"
    frame = pyogrio.read_dataframe(natural_earth_shp)
    pyogrio.write_dataframe(frame, gpkg, layer="countries", driver="GPKG")
    pyogrio.write_dataframe(frame, gpkg, layer="roads", driver="GPKG", append=True)
    with pytest.raises(VectorLoadError, match="has 2 layers"):
        inspect_layer(VectorSource(path=str(gpkg), format="GeoJSON"))


@pytest.mark.parametrize(
    ("properties", "keep_source_names", "message"),
    [
        ({"geom": "x"}, False, r"field 'geom' would be the column 'geom'"),
        ({"GEOM": "x"}, False, r"field 'GEOM' would be the column 'geom'"),
        ({"_etl_fid": 7}, True, r"field '_etl_fid' would be the column '_etl_fid'"),
        (
            {"p" * 63 + "_2020": 1, "p" * 63 + "_2021": 2},
            False,
            r"fields 'p+_2020' and 'p+_2021' are the same in their first 63 bytes",
        ),
    ],
    ids=["geom", "laundered-geom", "fid", "cut-to-63-bytes"],
)
def test_field_names_the_table_cannot_hold_are_refused_before_loading(
    postgis, run_id, tmp_path: Path, properties: dict, keep_source_names: bool, message: str
):
    path = tmp_path / "p.geojson"
    path.write_text(json.dumps(_feature_collection([_point(1, 2, **properties)])))
    source = VectorSource(path=str(path), label="files[0] (s3://landing-zone/b/p.geojson)")
    with postgis.ephemeral_schema(run_id) as schema:
        with pytest.raises(VectorLoadError, match=message) as raised:
            load_vector(postgis, schema, [source], keep_source_names=keep_source_names)
        assert not schema.table_exists("raw_data")
    assert str(raised.value).startswith("files[0] (s3://landing-zone/b/p.geojson): field")


def test_names_equal_once_laundered_are_told_apart_and_kept(postgis, run_id, tmp_path: Path):
    """Not refused: GDAL numbers names that are equal in full, and a source name that only
    differs from the geometry column's in case is another column."""
    path = tmp_path / "p.geojson"
    props = {"Name": "a", "name": "b", "NAME": "c", "Geom": "d"}
    path.write_text(json.dumps(_feature_collection([_point(1, 2, **props)])))
    loaded = {}
    for keep in (False, True):
        with postgis.ephemeral_schema(f"{run_id[:-1]}{int(keep)}") as schema:
            source = VectorSource(path=str(path))
            if keep:
                report = load_vector(postgis, schema, [source], keep_source_names=True)
            else:
                with pytest.raises(VectorLoadError, match="field 'Geom' would be the column"):
                    load_vector(postgis, schema, [source])
                continue
            with schema.connect(autocommit=True) as conn:
                loaded = conn.execute(f'SELECT * FROM "{schema.name}".raw_data').fetchone()
    assert [c["name"] for c in report.fields] == ["Name", "name2", "NAME3", "Geom", "geom"]
    assert loaded[1:5] == ("a", "b", "c", "d")


@pytest.mark.parametrize(
    ("name", "text"),
    [
        ("gbif.tsv", "gbifID\tdecimalLatitude\tdecimalLongitude\tspecies\n7\t-37.8\t144.9\tA b\n"),
        ("arcgis.csv", "OBJECTID,POINT_X,POINT_Y\n7,144.9,-37.8\n"),
        ("caps.csv", "ID,Longitude,Latitude\n7,144.9,-37.8\n"),
    ],
    ids=["darwin-core-tsv", "arcgis-xy", "capitalised"],
)
def test_csv_coordinate_columns_are_found_by_their_common_names(
    postgis, run_id, tmp_path: Path, name: str, text: str
):
    path = tmp_path / name
    path.write_text(text)
    with postgis.ephemeral_schema(run_id) as schema:
        report = load_vector(
            postgis, schema, [VectorSource(path=str(path), format="CSV")], declared_crs="EPSG:4326"
        )
        with schema.connect(autocommit=True) as conn:
            (point,) = conn.execute(
                f'SELECT ST_AsText(geom) FROM "{schema.name}".raw_data'
            ).fetchone()
    assert point == "POINT(144.9 -37.8)" and report.row_count == 1


def test_a_layer_without_geometry_says_what_to_do(postgis, run_id, tmp_path: Path):
    import pandas as pd
    import pyogrio

    csv = tmp_path / "t.csv"
    csv.write_text("site,count\na,1\n")
    gpkg = tmp_path / "t.gpkg"
    pyogrio.write_dataframe(pd.DataFrame({"site": ["a"], "count": [1]}), gpkg, layer="counts")
    label = "files[0] (s3://landing-zone/b/t)"
    cases = [
        # Before the CRS is asked for: without coordinates, a CRS would not help.
        (VectorSource(path=str(csv), format="CSV", label=label), None,
         r"no coordinate columns were found among its columns \(site, count\); name them with "
         r"files\[\]\.options\.x_column and y_column"),
        (VectorSource(path=str(csv), format="CSV", label=label, x_column="lon", y_column="lat"),
         "EPSG:4326",
         r"the coordinate columns named in files\[\]\.options \(x_column 'lon', y_column 'lat'\) "
         r"are not among its columns \(site, count\)"),
        (VectorSource(path=str(gpkg), format="GPKG", label=label), "EPSG:4326",
         r"layer 'counts' has no geometry column .* the file type 'tabular'"),
    ]  # fmt: skip
    with postgis.ephemeral_schema(run_id) as schema:
        for source, crs, message in cases:
            with pytest.raises(VectorLoadError, match=message):
                load_vector(postgis, schema, [source], declared_crs=crs)
        assert not schema.table_exists("raw_data")
