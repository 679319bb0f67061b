"""Parity of the two vector loaders: the Arrow fast path (:mod:`etl_spatial.arrow_load`) must
give exactly what ``ogr2ogr`` gives (table, rows, FIDs, report, errors).

Each case loads the same local file twice into two run schemas, once with
``ETL_VECTOR_LOADER=ogr2ogr`` and once with ``auto``, and compares everything. Each case also
says which engine ``auto`` must use (spies on the loader's ``copy_layer`` and ``run_ogr2ogr``, and
its "loading ... with ogr2ogr" log line), so the test fails if the fast path silently stops
being used, or takes data it should leave to ``ogr2ogr``.

Where the two engines read a file differently (the fallback ``ogr2ogr`` is an older GDAL
than the one inspection and the Arrow path use), the tests at the end pin what the Arrow path
gives instead.
"""

from __future__ import annotations

import dataclasses
import datetime
import json
import logging
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from etl_spatial import arrow_load
from etl_spatial import loader as loader_module
from etl_spatial.arrow_load import ArrowLoadPlan, loader_choice, plan_arrow_load, promote_wkb
from etl_spatial.loader import FID_COLUMN, GEOMETRY_COLUMN, VectorSource, load_vector
from etl_spatial.vector_inspection import FieldInfo, LayerInfo

pytestmark = pytest.mark.integration

LOGGER = "etl_spatial.loader"
REPORT_FIELDS = (
    "row_count",
    "srid",
    "fields",
    "geometry_types",
    "promoted_to_multi",
    "source_crs",
    "crs_declared",
    "source_names",
    "files",
)


# -- loading twice and describing the outcome ------------------------------------------------


@dataclasses.dataclass
class Outcome:
    """One load: the report (or the error), what the table looks like afterwards and which
    engine loaded it."""

    engine: str
    report: dict[str, Any] | None = None
    error: tuple[str, str] | None = None
    columns: list[tuple[Any, ...]] = dataclasses.field(default_factory=list)
    table: tuple[Any, ...] | None = None
    fids: list[int] = dataclasses.field(default_factory=list)
    rows: list[tuple[Any, ...]] = dataclasses.field(default_factory=list)
    arrow_copies: int = 0
    ogr2ogr_runs: int = 0
    fallback_logs: list[str] = dataclasses.field(default_factory=list)

    @property
    def used_arrow(self) -> bool:
        return self.arrow_copies > 0 and self.ogr2ogr_runs == 0 and not self.fallback_logs


def _describe_table(schema: Any) -> tuple[list[tuple[Any, ...]], tuple[Any, ...]]:
    """Columns (name, format_type, not null, default) in order, and the table's persistence,
    primary key, number of other indexes and geometry_columns row."""
    name = schema.name
    with schema.connect(autocommit=True) as conn:
        columns = conn.execute(
            "SELECT a.attname, format_type(a.atttypid, a.atttypmod), a.attnotnull, "
            "  pg_get_expr(d.adbin, d.adrelid) "
            "FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid "
            "JOIN pg_namespace n ON n.oid = c.relnamespace "
            "LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum "
            "WHERE n.nspname = %s AND c.relname = 'raw_data' AND a.attnum > 0 "
            "  AND NOT a.attisdropped ORDER BY a.attnum",
            (name,),
        ).fetchall()
        table = conn.execute(
            "SELECT c.relpersistence, "
            "  (SELECT array_agg(a.attname ORDER BY a.attname) FROM pg_index i "
            "   JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY(i.indkey) "
            "   WHERE i.indrelid = c.oid AND i.indisprimary), "
            "  (SELECT count(*) FROM pg_index i WHERE i.indrelid = c.oid AND NOT i.indisprimary), "
            "  (SELECT array_agg(g.type || ' ' || g.srid || ' ' || g.coord_dimension) "
            "   FROM geometry_columns g WHERE g.f_table_schema = n.nspname "
            "   AND g.f_table_name = c.relname) "
            "FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE n.nspname = %s AND c.relname = 'raw_data'",
            (name,),
        ).fetchone()
    columns = [
        (column, type_name, not_null, (default or "").replace(name + ".", "<schema>."))
        for column, type_name, not_null, default in columns
    ]
    return columns, tuple(table)


def _read_rows(schema: Any, columns: Sequence[str]) -> tuple[list[int], list[tuple[Any, ...]]]:
    """FIDs, and rows (attributes, then the geometry's EWKB) ordered by FID."""
    from psycopg import sql

    attributes = [c for c in columns if c not in {FID_COLUMN, GEOMETRY_COLUMN}]
    query = sql.SQL("SELECT {fid}, {attrs}ST_AsEWKB({geom}) FROM {table} ORDER BY {fid}").format(
        fid=sql.Identifier(FID_COLUMN),
        attrs=sql.SQL("").join(sql.SQL("{}, ").format(sql.Identifier(c)) for c in attributes),
        geom=sql.Identifier(GEOMETRY_COLUMN),
        table=schema.table("raw_data"),
    )
    with schema.connect(autocommit=True) as conn:
        rows = conn.execute(query).fetchall()
    return [r[0] for r in rows], [(*r[1:-1], None if r[-1] is None else bytes(r[-1])) for r in rows]


def _load(
    postgis: Any,
    run_id: str,
    engine: str,
    sources: Sequence[VectorSource],
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    **kwargs: Any,
) -> Outcome:
    """``load_vector`` with ``ETL_VECTOR_LOADER=engine`` into the run schema of ``run_id``."""
    monkeypatch.setenv("ETL_VECTOR_LOADER", engine)
    outcome = Outcome(engine=engine)
    real_run_ogr2ogr, real_copy_layer = loader_module.run_ogr2ogr, loader_module.copy_layer

    def run_ogr2ogr(*args: Any, **kw: Any) -> Any:
        outcome.ogr2ogr_runs += 1
        return real_run_ogr2ogr(*args, **kw)

    def copy_layer(*args: Any, **kw: Any) -> Any:
        outcome.arrow_copies += 1
        return real_copy_layer(*args, **kw)

    monkeypatch.setattr(loader_module, "run_ogr2ogr", run_ogr2ogr)
    monkeypatch.setattr(loader_module, "copy_layer", copy_layer)
    caplog.clear()
    try:
        with (
            caplog.at_level(logging.INFO, logger=LOGGER),
            postgis.ephemeral_schema(run_id) as schema,
        ):
            try:
                report = load_vector(postgis, schema, list(sources), **kwargs)
            except Exception as exc:
                outcome.error = (type(exc).__name__, str(exc).replace(schema.name, "<schema>"))
                outcome.table = (schema.table_exists("raw_data"),)
            else:
                outcome.report = {name: getattr(report, name) for name in REPORT_FIELDS}
                outcome.columns, outcome.table = _describe_table(schema)
                outcome.fids, outcome.rows = _read_rows(schema, [c[0] for c in outcome.columns])
            outcome.fallback_logs = [
                r.getMessage()
                for r in caplog.records
                if r.name == LOGGER and "with ogr2ogr" in r.getMessage()
            ]
    finally:
        monkeypatch.setattr(loader_module, "run_ogr2ogr", real_run_ogr2ogr)
        monkeypatch.setattr(loader_module, "copy_layer", real_copy_layer)
    return outcome


def load_both(
    postgis: Any,
    run_id: str,
    sources: Sequence[VectorSource],
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    *,
    expect_arrow: bool,
    compare: bool = True,
    **kwargs: Any,
) -> tuple[Outcome, Outcome]:
    """Load ``sources`` with ``ogr2ogr`` and with ``auto`` (two run schemas), assert that
    ``auto`` used the expected engine and (unless not ``compare``) that both outcomes are the
    same."""
    forced = _load(postgis, run_id, "ogr2ogr", sources, monkeypatch, caplog, **kwargs)
    assert forced.arrow_copies == 0 and forced.fallback_logs == []
    assert forced.ogr2ogr_runs >= 1
    auto = _load(postgis, str(uuid.uuid4()), "auto", sources, monkeypatch, caplog, **kwargs)
    if expect_arrow:
        assert auto.used_arrow, f"auto did not use the Arrow path: {auto.fallback_logs}"
        assert auto.arrow_copies == len(sources)
    else:
        assert auto.fallback_logs, "auto did not fall back to ogr2ogr"
        assert auto.ogr2ogr_runs >= 1
    if compare:
        assert_same_outcome(auto, forced)
    return forced, auto


def assert_same_outcome(auto: Outcome, forced: Outcome) -> None:
    """Left: ``auto``; right: ``ogr2ogr``."""
    assert auto.error == forced.error, "the load's error (auto vs ogr2ogr)"
    assert auto.columns == forced.columns, "columns and types (auto vs ogr2ogr)"
    assert auto.table == forced.table, "table kind, key, indexes, geometry column"
    assert auto.report == forced.report, "LoadReport (auto vs ogr2ogr)"
    assert auto.fids == forced.fids, "_etl_fid values (auto vs ogr2ogr)"
    assert len(auto.rows) == len(forced.rows)
    for fid, got, want in zip(auto.fids, auto.rows, forced.rows, strict=True):
        assert got == want, f"row with _etl_fid {fid} (auto vs ogr2ogr)"


# -- files -----------------------------------------------------------------------------------


def _write_as_polygon_layer(frame: Any, path: Path, layer: str, *, inserted: str) -> None:
    """A GeoPackage layer declared Polygon that holds other types too (GeoPackage does not
    enforce its declared type; GDAL warns about each ``inserted`` type)."""
    import pyogrio

    with pytest.warns(RuntimeWarning, match=f"{inserted} is inserted into layer"):
        pyogrio.write_dataframe(
            frame, path, layer=layer, driver="GPKG", geometry_type="Polygon",
            promote_to_multi=False,
        )  # fmt: skip
    assert pyogrio.read_info(path)["geometry_type"] == "Polygon"


def _feature(geometry: dict | None, **props: Any) -> dict:
    return {"type": "Feature", "properties": props, "geometry": geometry}


def _point(x: float, y: float, *z: float) -> dict:
    return {"type": "Point", "coordinates": [x, y, *z]}


def _write_geojson(path: Path, features: list[dict], crs: str | None = None) -> Path:
    doc: dict[str, Any] = {"type": "FeatureCollection", "features": features}
    if crs:
        doc["crs"] = {"type": "name", "properties": {"name": crs}}
    path.write_text(json.dumps(doc))
    return path


def _typed_points_geojson(path: Path) -> Path:
    """Points with string, float, int, int64, bool and date properties, mixed-case, dashed,
    spaced and ``#`` names, null values and one null geometry."""
    rows = [
        ("alpha", 1.5, 3, 5_000_000_000, True, "2024-01-15", _point(13.4, 52.5)),
        ("Beta\ttab", None, -7, 1, False, "2023-12-31", _point(-0.1, 51.5)),
        (None, 0.1, None, None, None, None, None),
        ("d\u00e9j\u00e0 vu \U0001f642", 0.0, 0, -5_000_000_000, True, "2020-02-29", _point(2, 48)),
    ]
    features = [
        _feature(
            geom,
            **{
                "Name": name,
                "Pop-Total": pop,
                "COUNT": count,
                "Big#Id": big,
                "Is_Active": flag,
                "Survey Date": day,
            },
        )
        for name, pop, count, big, flag, day, geom in rows
    ]
    return _write_geojson(path, features)


def _write_with_arrow(
    path: Path,
    driver: str,
    geometries: list[Any],
    *,
    geometry_type: str,
    crs: str,
    skip: Sequence[str] = (),
) -> Path:
    """A layer with one attribute of each plain type (string, int16, int32, int64, float32,
    float64, bool, date; the last row all nulls), written through ``pyogrio.write_arrow`` so
    the file gets real Int16/Float32/Boolean/Date fields. Values need at most 15 significant
    digits (see :func:`test_arrow_path_keeps_every_digit_of_a_double`)."""
    import pyarrow as pa
    import pyogrio
    import shapely

    rows = len(geometries)

    def column(values: list[Any], kind: Any) -> Any:
        return pa.array([*(values * rows)[: rows - 1], None], kind)

    columns = {
        "Label-Text": column(
            ["alpha", "tab\t nl\n back\\ \\N", "d\u00e9j\u00e0 \U0001f642"], pa.string()
        ),
        "small": column([1, -32768, 32767, 0], pa.int16()),
        "Count": column([3, -7, 0, 2**31 - 1], pa.int32()),
        "big": column([2**40, -1, 0, -(2**50)], pa.int64()),
        "f32": column([1.5, 0.1, -3.25e10, 0.0], pa.float32()),
        "ratio": column([0.5, -98765.4321, 0.1, 1.25e-5], pa.float64()),
        "flag": column([True, False, True, False], pa.bool_()),
        "day": column(
            [datetime.date(2024, 3, 1), datetime.date(1900, 2, 28), datetime.date(2000, 2, 29)],
            pa.date32(),
        ),
    }
    table = pa.table(
        {
            **{name: values for name, values in columns.items() if name not in skip},
            "geometry": pa.array(
                [None if g is None else shapely.to_wkb(g) for g in geometries], pa.binary()
            ),
        }
    )
    pyogrio.write_arrow(
        table,
        path,
        driver=driver,
        layer=path.stem,
        geometry_name="geometry",
        geometry_type=geometry_type,
        crs=crs,
    )
    return path


def _source(path: Path, fmt: str, **kwargs: Any) -> VectorSource:
    return VectorSource(path=str(path), format=fmt, **kwargs)


# -- parity cases that take the Arrow path ---------------------------------------------------


@pytest.mark.parametrize("keep_source_names", [False, True], ids=["laundered", "source_names"])
def test_geojson_points_with_typed_properties(
    postgis, run_id, tmp_path: Path, monkeypatch, caplog, keep_source_names: bool
):
    path = _typed_points_geojson(tmp_path / "points.geojson")
    forced, _ = load_both(
        postgis,
        run_id,
        [_source(path, "GeoJSON")],
        monkeypatch,
        caplog,
        expect_arrow=True,
        keep_source_names=keep_source_names,
    )
    names = [c[0] for c in forced.columns]
    if keep_source_names:
        assert names[1:-1] == ["Name", "Pop-Total", "COUNT", "Big#Id", "Is_Active", "Survey Date"]
    else:
        assert names[1:-1] == ["name", "pop_total", "count", "big_id", "is_active", "survey date"]
    assert [c[1] for c in forced.columns] == [
        "integer",
        "character varying",
        "double precision",
        "integer",
        "bigint",
        "boolean",
        "date",
        "geometry(Point,4326)",
    ]
    assert forced.fids == [1, 2, 3, 4]
    assert forced.rows[2][-1] is None  # the null geometry stayed null


def test_geopackage_polygon_mix_is_promoted(postgis, run_id, tmp_path: Path, monkeypatch, caplog):
    import geopandas as gpd
    from shapely.geometry import MultiPolygon, Polygon

    square = Polygon([(0, 0), (1, 0), (1, 1), (0, 1)])
    holed = Polygon(
        [(10, 10), (20, 10), (20, 20), (10, 20)], [[(12, 12), (14, 12), (14, 14), (12, 14)]]
    )
    multi = MultiPolygon([Polygon([(30, 30), (31, 30), (31, 31)]), square])
    frame = gpd.GeoDataFrame(
        {"Parcel-Name": ["a", "b", "c", "d", "e"], "area": [1.0, 96.0, 1.5, 0.0, None]},
        geometry=[square, holed, multi, Polygon(), None],
        crs="EPSG:4326",
    )
    path = tmp_path / "parcels.gpkg"
    _write_as_polygon_layer(frame, path, "parcels", inserted="MULTIPOLYGON")
    forced, _ = load_both(
        postgis, run_id, [_source(path, "GPKG")], monkeypatch, caplog, expect_arrow=True
    )
    assert forced.report["promoted_to_multi"] is True
    assert forced.columns[-1][1] == "geometry(MultiPolygon,4326)"
    assert forced.rows[3][-1] == b"\x01\x06\x00\x00\x20\xe6\x10\x00\x00\x00\x00\x00\x00"  # empty
    assert forced.rows[4][-1] is None


def test_shapefile_lines_in_utm_are_promoted(postgis, run_id, tmp_path: Path, monkeypatch, caplog):
    from shapely.geometry import LineString, MultiLineString

    path = _write_with_arrow(
        tmp_path / "roads.shp",
        "ESRI Shapefile",
        [
            LineString([(500000, 5800000), (500100, 5800200)]),
            MultiLineString([[(400000, 5700000), (400010, 5700010)], [(1, 2), (3, 4)]]),
            None,
            LineString([(450000.5, 5750000.25), (450001, 5750001), (450002, 5750000)]),
        ],
        geometry_type="LineString",
        crs="EPSG:32633",
        # ogr2ogr 3.6 reads a shapefile Logical field as text:
        # test_arrow_path_loads_a_shapefile_logical_field_as_boolean.
        skip=("flag",),
    )
    forced, _ = load_both(
        postgis, run_id, [_source(path, "Shapefile")], monkeypatch, caplog, expect_arrow=True
    )
    assert forced.report["source_crs"] == "EPSG:32633"
    assert forced.report["promoted_to_multi"] is True
    assert forced.columns[-1][1] == "geometry(MultiLineString,32633)"


def test_natural_earth_shapefile(postgis, run_id, monkeypatch, caplog, natural_earth_shp: Path):
    """Real data: Polygons and MultiPolygons, Integer64 and Real fields."""
    forced, _ = load_both(
        postgis,
        run_id,
        [_source(natural_earth_shp, "Shapefile")],
        monkeypatch,
        caplog,
        expect_arrow=True,
    )
    assert forced.report["row_count"] == 177


def test_geopackage_points_in_web_mercator(postgis, run_id, tmp_path: Path, monkeypatch, caplog):
    from shapely.geometry import Point

    path = _write_with_arrow(
        tmp_path / "points.gpkg",
        "GPKG",
        [Point(1_000_000.5, 6_000_000.25), Point(-2e7, 2e7), None, Point()],
        geometry_type="Point",
        crs="EPSG:3857",
    )
    forced, _ = load_both(
        postgis, run_id, [_source(path, "GPKG")], monkeypatch, caplog, expect_arrow=True
    )
    assert [c[1] for c in forced.columns] == [
        "integer",
        "character varying",
        "smallint",
        "integer",
        "bigint",
        "real",
        "double precision",
        "boolean",
        "date",
        "geometry(Point,3857)",
    ]


def test_flatgeobuf(postgis, run_id, tmp_path: Path, monkeypatch, caplog):
    from shapely.geometry import MultiPolygon, Polygon

    square = Polygon([(0, 0), (1, 0), (1, 1), (0, 1)])
    path = _write_with_arrow(
        tmp_path / "areas.fgb",
        "FlatGeobuf",
        [MultiPolygon([square]), MultiPolygon([square, Polygon([(5, 5), (6, 5), (6, 6)])])] * 2,
        geometry_type="MultiPolygon",
        crs="EPSG:4326",
        skip=("day",),  # FlatGeobuf has no Date type: a DateTime field, which falls back
    )
    load_both(
        postgis, run_id, [_source(path, "FlatGeobuf")], monkeypatch, caplog, expect_arrow=True
    )


def test_csv_lon_lat_with_declared_crs(postgis, run_id, tmp_path: Path, monkeypatch, caplog):
    path = tmp_path / "stations.csv"
    path.write_text(
        "id,Station-Name,lon,lat,score,opened,ok\n"
        "1,a,144.9,-37.8,1.5,2024-01-15,true\n"
        "2,,145.0,-37.9,,,false\n"
        "3,c,151.2,-33.9,2,2024/02/01,\n"
    )
    forced, _ = load_both(
        postgis,
        run_id,
        [_source(path, "CSV")],
        monkeypatch,
        caplog,
        expect_arrow=True,
        declared_crs="EPSG:4326",
    )
    assert forced.report["crs_declared"] is True
    assert [c[1] for c in forced.columns[1:]] == [
        "integer",
        "character varying",
        "double precision",
        "date",
        "boolean",
        "geometry(Point,4326)",
    ]


@pytest.mark.parametrize("crs", ["EPSG:4283", "epsg:28355"])
def test_csv_x_y_with_other_declared_crs(
    postgis, run_id, tmp_path: Path, monkeypatch, caplog, crs: str
):
    path = tmp_path / "sites.csv"
    path.write_text("x,y,a\n1,2,3\n4,5,6\n")
    forced, _ = load_both(
        postgis,
        run_id,
        [_source(path, "CSV")],
        monkeypatch,
        caplog,
        expect_arrow=True,
        declared_crs=crs,
    )
    assert forced.report["srid"] == int(crs.split(":")[1])


def test_two_geojson_files_are_appended(postgis, run_id, tmp_path: Path, monkeypatch, caplog):
    paths = []
    for i in range(2):
        features = [
            _feature(_point(i + j / 10, 50.0), Name=f"p{i}{j}", Score=j, Ratio=j / 4)
            for j in range(3 + i)
        ]
        paths.append(_write_geojson(tmp_path / f"part{i}.geojson", features))
    forced, _ = load_both(
        postgis,
        run_id,
        [_source(p, "GeoJSON") for p in paths],
        monkeypatch,
        caplog,
        expect_arrow=True,
    )
    assert [f["loaded_rows"] for f in forced.report["files"]] == [3, 4]
    assert forced.fids == list(range(1, 8))


@pytest.mark.parametrize("keep_source_names", [False, True], ids=["laundered", "source_names"])
def test_batch_files_with_other_field_order_and_case(
    postgis, run_id, tmp_path: Path, monkeypatch, caplog, keep_source_names: bool
):
    """The second file names its fields in another case and order. Laundered, both map onto
    the same columns; with source names the Arrow COPY does not fit (no column ``score``) and
    ``ogr2ogr`` (which matches names case-insensitively) loads the batch."""
    first = _write_geojson(tmp_path / "a.geojson", [_feature(_point(1, 2), Name="x", Score=1)])
    second = _write_geojson(tmp_path / "b.geojson", [_feature(_point(1, 3), score=2, NAME="y")])
    _, auto = load_both(
        postgis,
        run_id,
        [_source(first, "GeoJSON"), _source(second, "GeoJSON")],
        monkeypatch,
        caplog,
        expect_arrow=not keep_source_names,
        keep_source_names=keep_source_names,
    )
    if keep_source_names:
        assert "did not fit" in auto.fallback_logs[0]


def test_batch_of_polygons_and_multipolygons(postgis, run_id, tmp_path: Path, monkeypatch, caplog):
    polygon = {"type": "Polygon", "coordinates": [[[0, 0], [1, 0], [1, 1], [0, 0]]]}
    multi = {
        "type": "MultiPolygon",
        "coordinates": [[[[0, 0], [1, 0], [1, 1], [0, 0]]], [[[5, 5], [6, 5], [6, 6], [5, 5]]]],
    }
    first = _write_geojson(tmp_path / "a.geojson", [_feature(polygon, n=1), _feature(None, n=2)])
    second = _write_geojson(tmp_path / "b.geojson", [_feature(multi, n=3)])
    forced, _ = load_both(
        postgis,
        run_id,
        [_source(first, "GeoJSON"), _source(second, "GeoJSON")],
        monkeypatch,
        caplog,
        expect_arrow=True,
    )
    assert forced.columns[-1][1] == "geometry(MultiPolygon,4326)"


def test_geojson_feature_ids_and_empty_line(postgis, run_id, tmp_path: Path, monkeypatch, caplog):
    """Integer feature ids are GDAL FIDs: neither engine keeps them (both number the rows)."""
    line = {"type": "LineString", "coordinates": [[0, 0], [1, 1]]}
    empty = {"type": "LineString", "coordinates": []}
    features = [
        dict(_feature(line, n=1), id=10),
        dict(_feature(empty, n=2), id=5),
        dict(_feature(line, n=3), id=7),
    ]
    path = _write_geojson(tmp_path / "ids.geojson", features)
    forced, _ = load_both(
        postgis, run_id, [_source(path, "GeoJSON")], monkeypatch, caplog, expect_arrow=True
    )
    assert forced.fids == [1, 2, 3]


# -- parity cases that must fall back to ogr2ogr ---------------------------------------------


def test_csv_with_wkt_column_falls_back(postgis, run_id, tmp_path: Path, monkeypatch, caplog):
    path = tmp_path / "areas.csv"
    path.write_text(
        'code,wkt\nA,"POLYGON((0 0,1 0,1 1,0 0))"\n'
        'B,"MULTIPOLYGON(((0 0,2 0,2 2,0 0)),((5 5,6 5,6 6,5 5)))"\n'
    )
    forced, auto = load_both(
        postgis,
        run_id,
        [_source(path, "CSV")],
        monkeypatch,
        caplog,
        expect_arrow=False,
        declared_crs="EPSG:3857",
    )
    assert "geometry type" in auto.fallback_logs[0]
    assert forced.report["geometry_types"] == ["MultiPolygon"]


def test_geojson_crs_member_falls_back(postgis, run_id, tmp_path: Path, monkeypatch, caplog):
    path = _write_geojson(
        tmp_path / "mercator.geojson",
        [_feature(_point(1_000_000, 6_000_000), name="a", n=1), _feature(None, name="b", n=2)],
        crs="urn:ogc:def:crs:EPSG::3857",
    )
    forced, auto = load_both(
        postgis, run_id, [_source(path, "GeoJSON")], monkeypatch, caplog, expect_arrow=False
    )
    assert "crs member" in auto.fallback_logs[0]
    assert forced.report["srid"] == 3857


def test_datetime_field_falls_back(postgis, run_id, tmp_path: Path, monkeypatch, caplog):
    path = _write_geojson(
        tmp_path / "events.geojson",
        [
            _feature(_point(1, 2), at="2024-01-15T10:30:00", name="a"),
            _feature(_point(3, 4), at="2024-01-16T00:00:00Z", name="b"),
        ],
    )
    _, auto = load_both(
        postgis, run_id, [_source(path, "GeoJSON")], monkeypatch, caplog, expect_arrow=False
    )
    assert "DateTime" in auto.fallback_logs[0]


def test_3d_points_fall_back(postgis, run_id, tmp_path: Path, monkeypatch, caplog):
    path = _write_geojson(
        tmp_path / "z.geojson",
        [_feature(_point(1, 2, 3), name="a"), _feature(_point(4, 5, 6.5), name="b")],
    )
    forced, auto = load_both(
        postgis, run_id, [_source(path, "GeoJSON")], monkeypatch, caplog, expect_arrow=False
    )
    assert "geometry type" in auto.fallback_logs[0]
    assert forced.columns[-1][1] == "geometry(PointZ,4979)"  # GDAL makes WGS 84 3D of it


def test_non_plain_fields_fall_back(postgis, run_id, tmp_path: Path, monkeypatch, caplog):
    path = _write_geojson(
        tmp_path / "lists.geojson",
        [_feature(_point(1, 2), v=[1, 2], o={"a": 1}), _feature(_point(3, 4), v=None, o=None)],
    )
    _, auto = load_both(
        postgis, run_id, [_source(path, "GeoJSON")], monkeypatch, caplog, expect_arrow=False
    )
    assert "IntegerList" in auto.fallback_logs[0]


def test_polygon_layer_holding_a_line_gets_the_same_outcome(
    postgis, run_id, tmp_path: Path, monkeypatch, caplog
):
    """Data that does not fit the plan: the Arrow COPY fails, ``ogr2ogr`` then fails the same
    way as without the fast path, and no table is left behind."""
    import geopandas as gpd
    from shapely.geometry import LineString, Polygon

    frame = gpd.GeoDataFrame(
        {"name": ["ok", "bad"]},
        geometry=[Polygon([(0, 0), (1, 0), (1, 1)]), LineString([(0, 0), (2, 2)])],
        crs="EPSG:4326",
    )
    path = tmp_path / "mixed.gpkg"
    _write_as_polygon_layer(frame, path, "mixed", inserted="LINESTRING")
    forced, auto = load_both(
        postgis, run_id, [_source(path, "GPKG")], monkeypatch, caplog, expect_arrow=False
    )
    assert "did not fit" in auto.fallback_logs[0]
    assert forced.error is not None and "does not match column type" in forced.error[1]
    assert forced.table == (False,)


# -- where the Arrow path keeps more of the user's data than ogr2ogr ---------------------------
#
# The ogr2ogr the loader falls back to is Debian's GDAL 3.6.2 (the image pins gdal-bin 3.6.2);
# inspection and the Arrow path read with the GDAL 3.12 of the pyogrio wheel, so the table
# now has the types inspection reported. Found while writing this file, against ogr2ogr:
# - its text COPY prints doubles with 15 significant digits (0.1 + 0.2 -> 0.3, 1/3 ->
#   0.333333333333333) and the largest double as 1.79769313486232e+308, which PostgreSQL
#   refuses (the load fails);
# - GDAL 3.6 reads a dBASE Logical field as text ('T', 'F', '?'), identifies the .prj of
#   EPSG:32761 as EPSG:5042 and finds no code for EPSG:3067's (it adds a spatial_ref_sys row);
# - its CSV detection makes integers of "00123" and "-007" (zeros lost), dates of "2024-1-5"
#   and text of "NaN"; its GeoJSON reading clamps 99999999999999999999 into a bigint.
# The tests below pin what the Arrow path gives; only the Arrow load is run.


def _load_arrow(
    postgis: Any, run_id: str, sources: Sequence[VectorSource], monkeypatch, caplog, **kwargs
) -> Outcome:
    outcome = _load(postgis, run_id, "auto", sources, monkeypatch, caplog, **kwargs)
    assert outcome.used_arrow, f"auto did not use the Arrow path: {outcome.fallback_logs}"
    assert outcome.error is None, outcome.error
    return outcome


def _column(outcome: Outcome, name: str) -> tuple[str, list[Any]]:
    """A column's type and its values in FID order."""
    names = [c[0] for c in outcome.columns if c[0] not in {FID_COLUMN, GEOMETRY_COLUMN}]
    index = names.index(name)
    type_name = next(c[1] for c in outcome.columns if c[0] == name)
    return type_name, [row[index] for row in outcome.rows]


def test_arrow_path_keeps_every_digit_of_a_double(
    postgis, run_id, tmp_path: Path, monkeypatch, caplog
):
    import pyarrow as pa
    import pyogrio
    import shapely
    from shapely.geometry import Point

    values = [0.1 + 0.2, 1 / 3, 123456789.123456789, 1e16 + 2, 1.7976931348623157e308]
    table = pa.table(
        {
            "v": pa.array(values, pa.float64()),
            "geometry": pa.array(
                [shapely.to_wkb(Point(i, i)) for i in range(len(values))], pa.binary()
            ),
        }
    )
    path = tmp_path / "reals.gpkg"
    pyogrio.write_arrow(
        table, path, driver="GPKG", layer="reals", geometry_name="geometry",
        geometry_type="Point", crs="EPSG:4326",
    )  # fmt: skip
    auto = _load_arrow(postgis, run_id, [_source(path, "GPKG")], monkeypatch, caplog)
    assert _column(auto, "v") == ("double precision", values)


@pytest.mark.parametrize("fmt", ["GeoJSON", "CSV"])
def test_arrow_path_loads_the_largest_double(
    postgis, run_id, tmp_path: Path, monkeypatch, caplog, fmt: str
):
    if fmt == "GeoJSON":
        path = _write_geojson(
            tmp_path / "max.geojson",
            [_feature(_point(1, 2), v=1.7976931348623157e308), _feature(_point(3, 4), v=1.0)],
        )
        kwargs: dict[str, Any] = {}
    else:
        path = tmp_path / "max.csv"
        path.write_text("x,y,v\n1,2,1.7976931348623157e308\n3,4,1\n")
        kwargs = {"declared_crs": "EPSG:4326"}
    auto = _load_arrow(postgis, run_id, [_source(path, fmt)], monkeypatch, caplog, **kwargs)
    assert _column(auto, "v") == ("double precision", [1.7976931348623157e308, 1.0])


def test_arrow_path_loads_a_shapefile_logical_field_as_boolean(
    postgis, run_id, tmp_path: Path, monkeypatch, caplog
):
    from shapely.geometry import Point

    path = _write_with_arrow(
        tmp_path / "flags.shp",
        "ESRI Shapefile",
        [Point(1, 2), Point(3, 4), Point(5, 6)],
        geometry_type="Point",
        crs="EPSG:4326",
    )
    auto = _load_arrow(postgis, run_id, [_source(path, "Shapefile")], monkeypatch, caplog)
    type_name, values = _column(auto, "flag")
    assert type_name == "boolean"
    assert values[-1] is None and {*values[:-1]} <= {True, False}


@pytest.mark.parametrize("epsg", [27700, 3067, 32761])
def test_arrow_path_identifies_the_shapefile_crs(
    postgis, run_id, tmp_path: Path, monkeypatch, caplog, epsg: int
):
    import geopandas as gpd
    import pyogrio
    from shapely.geometry import Point

    frame = gpd.GeoDataFrame({"a": [1, 2]}, geometry=[Point(1, 2), Point(3, 4)], crs=epsg)
    path = tmp_path / "sites.shp"
    pyogrio.write_dataframe(frame, path)
    auto = _load_arrow(postgis, run_id, [_source(path, "Shapefile")], monkeypatch, caplog)
    assert auto.report["srid"] == epsg
    assert auto.columns[-1][1] == f"geometry(Point,{epsg})"


@pytest.mark.parametrize(
    ("values", "type_name", "loaded"),
    [
        pytest.param(["00123", "7"], "character varying", ["00123", "7"], id="leading-zeros"),
        pytest.param(["-007", "1"], "character varying", ["-007", "1"], id="negative-zeros"),
        pytest.param(["0123.5", "1"], "character varying", ["0123.5", "1"], id="zero-real"),
        pytest.param(["2024-1-5", "2024-01-06"], "character varying", None, id="unpadded-date"),
        pytest.param(["+5", "6"], "integer", [5, 6], id="plus-sign"),
    ],
)
def test_arrow_path_keeps_csv_values_as_written(
    postgis, run_id, tmp_path: Path, monkeypatch, caplog, values, type_name, loaded
):
    """Codes with leading zeros stay text (ogr2ogr 3.6 made integers of them)."""
    path = tmp_path / "values.csv"
    path.write_text(f"x,y,v\n1,2,{values[0]}\n3,4,{values[1]}\n")
    auto = _load_arrow(
        postgis, run_id, [_source(path, "CSV")], monkeypatch, caplog, declared_crs="EPSG:4326"
    )
    assert _column(auto, "v") == (type_name, loaded if loaded is not None else values)


@pytest.mark.parametrize("value", ["NaN", "inf"])
def test_arrow_path_reads_non_finite_csv_reals_as_reals(
    postgis, run_id, tmp_path: Path, monkeypatch, caplog, value: str
):
    import math

    path = tmp_path / "values.csv"
    path.write_text(f"x,y,v\n1,2,{value}\n3,4,1.5\n")
    auto = _load_arrow(
        postgis, run_id, [_source(path, "CSV")], monkeypatch, caplog, declared_crs="EPSG:4326"
    )
    type_name, (first, second) = _column(auto, "v")
    assert type_name == "double precision"
    assert (math.isnan(first) if value == "NaN" else first == math.inf) and second == 1.5


def test_arrow_path_does_not_clamp_an_integer_beyond_int64(
    postgis, run_id, tmp_path: Path, monkeypatch, caplog
):
    path = _write_geojson(
        tmp_path / "values.geojson",
        [_feature(_point(1, 0), v=99999999999999999999), _feature(_point(1, 1), v=1)],
    )
    auto = _load_arrow(postgis, run_id, [_source(path, "GeoJSON")], monkeypatch, caplog)
    assert _column(auto, "v") == ("double precision", [1e20, 1.0])


# -- promote_wkb -----------------------------------------------------------------------------


def _promoted(geometries: list[Any], multi: str) -> list[Any]:
    import pyarrow as pa
    import shapely

    wkb = pa.array(
        [None if g is None else shapely.to_wkb(g, byte_order=1) for g in geometries], pa.binary()
    )
    out = promote_wkb(wkb, multi)
    assert out.type == pa.binary()
    return [None if v is None else shapely.from_wkb(v) for v in out.to_pylist()]


@pytest.mark.unit
def test_promote_wkb_polygons():
    from shapely.geometry import MultiPolygon, Point, Polygon

    square = Polygon([(0, 0), (1, 0), (1, 1), (0, 1)], [[(0.2, 0.2), (0.4, 0.2), (0.4, 0.4)]])
    multi = MultiPolygon([square, Polygon([(5, 5), (6, 5), (6, 6)])])
    point = Point(1, 2)
    out = _promoted([square, Polygon(), multi, None, MultiPolygon(), point], "MultiPolygon")
    assert out[0].geom_type == "MultiPolygon" and len(out[0].geoms) == 1
    assert out[0].geoms[0].equals_exact(square, 0)
    assert out[1].geom_type == "MultiPolygon" and out[1].is_empty
    assert out[2].geom_type == "MultiPolygon" and out[2].equals_exact(multi, 0)
    assert out[3] is None
    assert out[4].geom_type == "MultiPolygon" and out[4].is_empty
    assert out[5].geom_type == "Point"  # other kinds unchanged (the typed column refuses them)


@pytest.mark.unit
def test_promote_wkb_lines():
    from shapely.geometry import LineString, MultiLineString

    line = LineString([(0, 0), (1, 1), (2, 0)])
    multi = MultiLineString([[(0, 0), (1, 1)], [(5, 5), (6, 6)]])
    out = _promoted([line, LineString(), multi, None], "MultiLineString")
    assert out[0].geom_type == "MultiLineString" and out[0].geoms[0].equals_exact(line, 0)
    assert out[1].geom_type == "MultiLineString" and out[1].is_empty
    assert out[2].equals_exact(multi, 0)
    assert out[3] is None


# -- plan_arrow_load -------------------------------------------------------------------------


def _info(
    *fields: tuple[str, str],
    driver: str = "GPKG",
    geometry_type: str = "Point",
    source: VectorSource | None = None,
) -> LayerInfo:
    return LayerInfo(
        # Any local file: the plan only asks whether the source is one (and a GeoJSON's size).
        source=source or VectorSource(path=__file__, format="GPKG"),
        layer="x",
        driver=driver,
        geometry_type=geometry_type,
        feature_count=1,
        extent=None,
        crs="EPSG:4326",
        fields=tuple(FieldInfo(name=n, type=t) for n, t in fields),
    )


def _plan(info: LayerInfo, *, epsg: int | None = 4326, promote: bool = False, launder=True):
    return plan_arrow_load(
        info, epsg=epsg, promote=promote, launder=launder, reserved=(FID_COLUMN, GEOMETRY_COLUMN)
    )


@pytest.mark.unit
def test_loader_choice():
    assert loader_choice({}) == "auto"
    assert loader_choice({"ETL_VECTOR_LOADER": " OGR2OGR "}) == "ogr2ogr"
    assert loader_choice({"ETL_VECTOR_LOADER": ""}) == "auto"
    with pytest.raises(ValueError, match="auto or ogr2ogr"):
        loader_choice({"ETL_VECTOR_LOADER": "arrow"})


@pytest.mark.unit
def test_plan_accepts_plain_layer():
    plan = _plan(
        _info(("Name-X", "String"), ("n", "Integer64"), geometry_type="Polygon"), promote=True
    )
    assert plan == ArrowLoadPlan(
        columns=(
            ("Name-X", "name_x", "character varying", "string"),
            ("n", "n", "bigint", "int64"),
        ),
        geometry_type="MultiPolygon",
        srid=4326,
    )


@pytest.mark.unit
@pytest.mark.parametrize(
    ("info", "kwargs", "reason"),
    [
        (_info(driver="KML"), {}, "driver KML"),
        (_info(), {"epsg": None}, "its CRS has no EPSG code"),
        (_info(geometry_type="Point Z"), {}, "geometry type 'Point Z'"),
        (_info(geometry_type="3D Point"), {}, "geometry type '3D Point'"),
        (_info(geometry_type="Unknown (any)"), {}, "geometry type 'Unknown (any)'"),
        (_info(("Größe", "Real")), {}, "'Größe' is not ASCII"),
        (_info(("A-b", "String"), ("a_b", "String")), {}, "'a_b' repeats a column name"),
        (_info(("geom", "String")), {}, "'geom' repeats a column name"),
        (_info(("_ETL_FID", "Integer")), {}, "'_ETL_FID' repeats a column name"),
        (_info(("at", "DateTime")), {}, "'at' of type DateTime"),
        (_info(("x" * 64, "String")), {}, "is not a plain PostgreSQL column name"),
        (_info(geometry_type="Point"), {"promote": True}, "points in a batch promoted"),
    ],
)
def test_plan_reasons(info: LayerInfo, kwargs: dict[str, Any], reason: str):
    result = _plan(info, **kwargs)
    assert isinstance(result, str), result
    assert reason in result


@pytest.mark.unit
def test_plan_keeps_source_names_when_not_laundering():
    plan = _plan(_info(("Größe", "Real"), ("A-b", "String"), ("a_b", "String")), launder=False)
    assert isinstance(plan, ArrowLoadPlan)
    assert [c[1] for c in plan.columns] == ["Größe", "A-b", "a_b"]


@pytest.mark.unit
def test_plan_refuses_geojson_that_may_declare_a_crs(tmp_path: Path):
    plain = _write_geojson(tmp_path / "plain.geojson", [_feature(_point(1, 2), a=1)])
    declared = _write_geojson(
        tmp_path / "crs.geojson", [_feature(_point(1, 2), a=1)], crs="urn:ogc:def:crs:EPSG::3857"
    )
    for path, expect_plan in ((plain, True), (declared, False)):
        info = _info(driver="GeoJSON", source=VectorSource(path=str(path), format="GeoJSON"))
        assert isinstance(_plan(info), ArrowLoadPlan) is expect_plan
    assert arrow_load.geojson_may_declare_crs("/vsis3/bucket/key.geojson") is True


@pytest.mark.unit
@pytest.mark.parametrize(
    "path", ["/vsis3/landing/b/x.gpkg", "/vsizip//vsis3/landing/b/x.zip/x.shp", "/missing/x.gpkg"]
)
def test_plan_leaves_sources_read_in_place_to_ogr2ogr(path: str):
    info = _info(("a", "Integer"), source=VectorSource(path=path, format="GPKG"))
    assert _plan(info) == "it is read in place, not from a local copy"


@pytest.mark.unit
def test_plan_leaves_large_geojson_to_ogr2ogr(tmp_path: Path, monkeypatch):
    """GDAL's GeoJSON reader keeps state per feature read: past the limit the load runs in
    ogr2ogr's process, so the worker's memory does not grow with the file."""
    path = _write_geojson(tmp_path / "big.geojson", [_feature(_point(1, 2), a=1)] * 50)
    source = VectorSource(path=str(path), format="GeoJSON")
    info = _info(("a", "Integer"), driver="GeoJSON", source=source)
    assert isinstance(_plan(info), ArrowLoadPlan)
    monkeypatch.setattr(arrow_load, "GEOJSON_MAX_BYTES", path.stat().st_size - 1)
    assert _plan(info) == "a GeoJSON larger than 0 MB"
