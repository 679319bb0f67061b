"""Vector steps against the real PostGIS: repair, empties, reprojection, types, simplification."""

from __future__ import annotations

import psycopg
import pytest
from psycopg import sql

from etl_transforms.errors import SourceCrsError, VectorSchemaError
from etl_transforms.vector import apply_vector_steps
from etl_transforms.vector_profile import resolve_declared_srid
from etl_transforms.vector_sql import FLAGS_COLUMN, VectorSteps, build_vector_transform

pytestmark = pytest.mark.integration

# A 100 m square in MGA zone 55 (EPSG:28355), near Melbourne.
X0, Y0 = 320000, 5810000
SQUARE = f"POLYGON(({X0} {Y0},{X0 + 100} {Y0},{X0 + 100} {Y0 + 100},{X0} {Y0 + 100},{X0} {Y0}))"
# Bow-tie: edges cross at the centre; two 50 m triangles of 2500 m2 each, 5000 m2 in all.
BOWTIE = f"POLYGON(({X0} {Y0},{X0 + 100} {Y0 + 100},{X0 + 100} {Y0},{X0} {Y0 + 100},{X0} {Y0}))"
MULTI = (
    f"MULTIPOLYGON((({X0} {Y0},{X0 + 100} {Y0},{X0 + 100} {Y0 + 100},{X0} {Y0})),"
    f"(({X0 + 200} {Y0},{X0 + 300} {Y0},{X0 + 300} {Y0 + 100},{X0 + 200} {Y0})))"
)
# All vertices on one line: repair leaves no polygonal part.
SPIKE = f"POLYGON(({X0} {Y0},{X0 + 100} {Y0},{X0 + 200} {Y0},{X0} {Y0}))"


def _create_raw(
    conn: psycopg.Connection,
    schema: str,
    rows: list[tuple[int, str, str | None, int]],
    *,
    column_type: str = "geometry",
    table: str = "raw_data",
) -> None:
    conn.execute(
        sql.SQL("CREATE TABLE {} (id int, name text, geom {})").format(
            sql.Identifier(schema, table), sql.SQL(column_type)
        )
    )
    with conn.cursor() as cur:
        cur.executemany(
            sql.SQL(
                "INSERT INTO {} VALUES (%s, %s, "
                "CASE WHEN %s::text IS NULL THEN NULL ELSE ST_GeomFromText(%s, %s) END)"
            ).format(sql.Identifier(schema, table)),
            [(i, name, wkt, wkt, srid) for i, name, wkt, srid in rows],
        )


def _tables(conn: psycopg.Connection, schema: str) -> set[str]:
    rows = conn.execute(
        "SELECT table_name FROM information_schema.tables WHERE table_schema = %s", (schema,)
    ).fetchall()
    return {r[0] for r in rows}


def test_repair_drop_empty_reproject_and_normalise_types(pg_conn, work_schema):
    _create_raw(
        pg_conn,
        work_schema,
        [
            (1, "square", SQUARE, 28355),
            (2, "bowtie", BOWTIE, 28355),
            (3, "multi", MULTI, 28355),
            (4, "empty", "POLYGON EMPTY", 28355),
            (5, "null", None, 28355),
            (6, "spike", SPIKE, 28355),
        ],
        column_type="geometry(Geometry, 28355)",
    )

    report = apply_vector_steps(pg_conn, work_schema, VectorSteps())

    assert report.source_srid == 28355
    assert report.source_crs == "EPSG:28355"
    assert report.target_crs == "EPSG:4326"
    assert report.rows_in == 6
    assert report.rows_out == 3  # square, bowtie, multi
    assert report.null_geometry_count == 1
    assert report.empty_geometry_count == 1
    assert report.dropped_null_count == 1
    assert report.dropped_empty_count == 2  # the empty one and the collapsed spike
    assert report.collapsed_count == 1
    assert report.repaired_count == 1  # the bow-tie (the spike was repaired but dropped)
    assert report.rows_in == report.rows_out + report.dropped_null_count + (
        report.dropped_empty_count
    )
    assert report.source_geometry_types == ("MULTIPOLYGON", "POLYGON")
    assert report.geometry_types == ("MULTIPOLYGON",)

    rows = pg_conn.execute(
        sql.SQL(
            "SELECT id, name, ST_SRID(geom), GeometryType(geom), ST_IsValid(geom), "
            "ST_Area(geom::geography) FROM {} ORDER BY id"
        ).format(sql.Identifier(work_schema, "transformed"))
    ).fetchall()
    assert [(r[0], r[1]) for r in rows] == [(1, "square"), (2, "bowtie"), (3, "multi")]
    assert {r[2] for r in rows} == {4326}
    assert {r[3] for r in rows} == {"MULTIPOLYGON"}
    assert all(r[4] for r in rows)
    # Areas survive reprojection and repair: both halves of the bow-tie are kept.
    areas = {r[1]: r[5] for r in rows}
    assert areas["square"] == pytest.approx(10_000, rel=0.01)
    assert areas["bowtie"] == pytest.approx(5_000, rel=0.01)
    assert areas["multi"] == pytest.approx(10_000, rel=0.01)
    column_srid = pg_conn.execute(
        "SELECT srid FROM geometry_columns WHERE f_table_schema = %s AND f_table_name = %s",
        (work_schema, "transformed"),
    ).fetchone()
    assert column_srid == (4326,)
    # One table written; no intermediate copies; the flag column is gone.
    assert _tables(pg_conn, work_schema) == {"raw_data", "transformed"}
    columns = pg_conn.execute(
        "SELECT column_name FROM information_schema.columns WHERE table_schema = %s "
        "AND table_name = 'transformed' ORDER BY ordinal_position",
        (work_schema,),
    ).fetchall()
    assert [c[0] for c in columns] == ["id", "name", "geom"]
    bbox = report.bbox
    assert bbox is not None
    assert 144.9 < bbox[0] < bbox[2] < 145.0
    assert -37.9 < bbox[1] < bbox[3] < -37.8


def test_keep_empty_and_null_when_asked(pg_conn, work_schema):
    _create_raw(
        pg_conn,
        work_schema,
        [(1, "square", SQUARE, 28355), (2, "empty", "POLYGON EMPTY", 28355), (3, "null", None, 0)],
    )
    report = apply_vector_steps(pg_conn, work_schema, VectorSteps(drop_empty=False))
    assert report.rows_out == 3
    assert report.dropped_null_count == report.dropped_empty_count == 0
    rows = pg_conn.execute(
        sql.SQL(
            "SELECT id, geom IS NULL, ST_IsEmpty(geom), ST_SRID(geom) FROM {} ORDER BY id"
        ).format(sql.Identifier(work_schema, "transformed"))
    ).fetchall()
    assert rows == [(1, False, False, 4326), (2, False, True, 4326), (3, True, None, None)]


def test_lines_and_points_are_normalised(pg_conn, work_schema):
    _create_raw(
        pg_conn,
        work_schema,
        [
            (1, "line", "LINESTRING(0 0, 1000 1000)", 3857),
            (2, "multiline", "MULTILINESTRING((0 0, 10 10),(20 20, 30 30))", 3857),
        ],
    )
    _create_raw(
        pg_conn,
        work_schema,
        [(1, "p", "POINT(0 0)", 3857), (2, "mp", "MULTIPOINT((1 1),(2 2))", 3857)],
        table="mixed_points",
    )
    _create_raw(
        pg_conn,
        work_schema,
        [(1, "p", "POINT(0 0)", 3857), (2, "q", "POINT(5 5)", 3857)],
        table="points",
    )
    lines = apply_vector_steps(pg_conn, work_schema, target_table="lines_out")
    mixed = apply_vector_steps(
        pg_conn, work_schema, source_table="mixed_points", target_table="mixed_out"
    )
    points = apply_vector_steps(
        pg_conn, work_schema, source_table="points", target_table="points_out"
    )
    assert lines.geometry_types == ("MULTILINESTRING",)
    assert mixed.geometry_types == ("MULTIPOINT",)
    assert points.geometry_types == ("POINT",)  # no mix: points stay points
    assert lines.source_crs == "EPSG:3857"


def test_curves_are_linearised(pg_conn, work_schema):
    _create_raw(
        pg_conn,
        work_schema,
        [(1, "curve", "CURVEPOLYGON(CIRCULARSTRING(0 0, 10 10, 20 0, 10 -10, 0 0))", 3857)],
    )
    report = apply_vector_steps(pg_conn, work_schema)
    assert report.geometry_types == ("MULTIPOLYGON",)


def test_declared_crs_assigns_missing_srid(pg_conn, work_schema):
    _create_raw(pg_conn, work_schema, [(1, "square", SQUARE, 0)])
    with pytest.raises(SourceCrsError, match=r"files\[\]\.crs"):
        apply_vector_steps(pg_conn, work_schema)
    report = apply_vector_steps(pg_conn, work_schema, declared_crs="EPSG:28355")
    assert report.source_srid == 28355
    assert report.declared_crs_applied is True
    area = pg_conn.execute(
        sql.SQL("SELECT ST_Area(geom::geography) FROM {}").format(
            sql.Identifier(work_schema, "transformed")
        )
    ).fetchone()
    assert area is not None
    assert area[0] == pytest.approx(10_000, rel=0.01)


def test_declared_crs_must_agree_with_data(pg_conn, work_schema):
    _create_raw(pg_conn, work_schema, [(1, "square", SQUARE, 28355)])
    with pytest.raises(SourceCrsError, match="28355"):
        apply_vector_steps(pg_conn, work_schema, declared_crs="EPSG:3857")
    assert "transformed" not in _tables(pg_conn, work_schema)


def test_mixed_srids_are_rejected(pg_conn, work_schema):
    _create_raw(
        pg_conn,
        work_schema,
        [(1, "a", SQUARE, 28355), (2, "b", "POINT(0 0)", 3857)],
    )
    with pytest.raises(SourceCrsError, match="mix SRIDs"):
        apply_vector_steps(pg_conn, work_schema)


def test_declared_crs_codes(pg_conn):
    assert resolve_declared_srid(pg_conn, "EPSG:28355") == 28355
    assert resolve_declared_srid(pg_conn, "epsg:3857") == 3857
    assert resolve_declared_srid(pg_conn, "OGC:CRS84") == 4326
    with pytest.raises(SourceCrsError, match="not known"):
        resolve_declared_srid(pg_conn, "EPSG:999999")
    with pytest.raises(SourceCrsError, match="authority code"):
        resolve_declared_srid(pg_conn, "+proj=longlat")


def test_simplification_is_opt_in_and_in_metres(pg_conn, work_schema):
    # A 1 km line in MGA55 with 2000 vertices zig-zagging 1 m either side of the axis.
    vertices = ", ".join(f"{X0 + i * 0.5} {Y0 + (1 if i % 2 else -1)}" for i in range(2001))
    _create_raw(pg_conn, work_schema, [(1, "wiggle", f"LINESTRING({vertices})", 28355)])

    plain = apply_vector_steps(pg_conn, work_schema, target_table="plain")
    simplified = apply_vector_steps(
        pg_conn, work_schema, VectorSteps(simplify_tolerance_m=5), target_table="simple"
    )
    assert plain.simplify_tolerance_m is None
    assert simplified.simplify_tolerance_m == 5

    def vertices_of(table: str) -> int:
        row = pg_conn.execute(
            sql.SQL("SELECT ST_NPoints(geom) FROM {}").format(sql.Identifier(work_schema, table))
        ).fetchone()
        assert row is not None
        return row[0]

    assert vertices_of("plain") == 2001  # not simplified unless asked
    assert vertices_of("simple") < 10
    # The simplified line stays within the tolerance of the original, measured in metres.
    distance = pg_conn.execute(
        sql.SQL(
            "SELECT ST_HausdorffDistance(ST_Transform(p.geom, 28355), ST_Transform(s.geom, 28355))"
            " FROM {} p, {} s"
        ).format(sql.Identifier(work_schema, "plain"), sql.Identifier(work_schema, "simple"))
    ).fetchone()
    assert distance is not None
    assert 0.5 < distance[0] <= 5.0


def test_missing_table_or_geometry_column(pg_conn, work_schema):
    with pytest.raises(VectorSchemaError, match="does not exist"):
        apply_vector_steps(pg_conn, work_schema)
    pg_conn.execute(
        sql.SQL("CREATE TABLE {} (id int, shape geometry)").format(
            sql.Identifier(work_schema, "raw_data")
        )
    )
    with pytest.raises(VectorSchemaError, match="shape"):
        apply_vector_steps(pg_conn, work_schema)


@pytest.mark.unit
def test_build_is_one_statement_with_quoted_identifiers():
    statement = build_vector_transform(
        "proc_abc",
        attribute_columns=["id", 'we"ird name'],
        source_srid=28355,
        steps=VectorSteps(simplify_tolerance_m=2.5),
    )
    text = statement.as_string(None)
    assert text.startswith('CREATE UNLOGGED TABLE "proc_abc"."transformed" AS SELECT')
    assert text.count("CREATE") == 1
    assert '"we""ird name"' in text
    assert "ST_Transform" in text and "ST_SimplifyPreserveTopology" in text
    unsimplified = build_vector_transform(
        "proc_abc", attribute_columns=["id"], source_srid=4326, steps=VectorSteps()
    ).as_string(None)
    assert "ST_Simplify" not in unsimplified
    assert "ST_Transform" not in unsimplified  # already EPSG:4326


def test_coordinates_outside_the_declared_crs_fail_clearly(pg_conn, work_schema):
    # Degrees labelled as metres of MGA55: the declared CRS is wrong for these coordinates.
    _create_raw(pg_conn, work_schema, [(1, "far", "POINT(1e30 1e30)", 0)])
    with pytest.raises(SourceCrsError, match=r"EPSG:28355.*files\[\]\.crs"):
        apply_vector_steps(pg_conn, work_schema, declared_crs="EPSG:28355")
    assert "transformed" not in _tables(pg_conn, work_schema)


def test_z_coordinates_are_kept(pg_conn, work_schema):
    _create_raw(
        pg_conn,
        work_schema,
        [(1, "a", "LINESTRING Z(0 0 10, 1000 1000 20)", 3857), (2, "b", "POINT Z(5 5 7)", 3857)],
    )
    report = apply_vector_steps(pg_conn, work_schema)
    assert report.coordinate_dimensions == ("XYZ",)
    rows = pg_conn.execute(
        sql.SQL(
            "SELECT id, ST_ZMin(geom), ST_ZMax(geom), ST_SRID(geom) FROM {} ORDER BY id"
        ).format(sql.Identifier(work_schema, "transformed"))
    ).fetchall()
    assert rows == [(1, 10, 20, 4326), (2, 7, 7, 4326)]


def _insert_geoms(conn: psycopg.Connection, schema: str, exprs: list[str]) -> None:
    """Rows built by SQL expressions (WKT cannot spell infinite coordinates)."""
    conn.execute(
        sql.SQL("CREATE TABLE {} (id int, name text, geom geometry)").format(
            sql.Identifier(schema, "raw_data")
        )
    )
    for i, expr in enumerate(exprs):
        conn.execute(
            sql.SQL("INSERT INTO {} VALUES (%s, 'x', ST_SetSRID(" + expr + ", 4326))").format(
                sql.Identifier(schema, "raw_data")
            ),
            (i,),
        )


@pytest.mark.parametrize("multi", [False, True], ids=["points", "multipoints"])
def test_point_layers_skip_geos_but_still_find_nonfinite_and_empty(pg_conn, work_schema, multi):
    """Point layers take the no-GEOS path: NaN / infinite coordinates and empties are still
    found and counted, longitudes beyond 180 still wrapped, valid points untouched."""

    def pt(x: str, y: str) -> str:
        p = f"ST_MakePoint({x}::float8, {y}::float8)"
        return f"ST_Multi({p})" if not multi else f"ST_Collect({p}, ST_MakePoint(1, 1))"

    exprs = [
        pt("1", "2"),
        pt("'NaN'", "2"),
        pt("3", "'Infinity'"),
        pt("'-Infinity'", "4"),
        "'POINT EMPTY'::geometry",
        pt("190", "5"),
    ]
    if not multi:
        exprs = [e.replace("ST_Multi(", "(") for e in exprs]
    _insert_geoms(pg_conn, work_schema, exprs)
    report = apply_vector_steps(pg_conn, work_schema)
    assert report.rows_in == 6
    assert report.dropped_nonfinite_count == 3
    assert report.dropped_source_empty_count == 1
    assert report.corrupt_count == 4
    assert report.rows_out == 2
    assert report.repaired_count == 0
    assert report.wrapped_count == 1
    assert report.bbox is not None and report.bbox[2] <= 180.0

    # Already within +-180 and finite: no validity, transform or wrap work left at all.
    pg_conn.execute(sql.SQL("DROP TABLE {}").format(sql.Identifier(work_schema, "transformed")))
    pg_conn.execute(
        sql.SQL("DELETE FROM {} WHERE id <> 0").format(sql.Identifier(work_schema, "raw_data"))
    )
    clean = apply_vector_steps(pg_conn, work_schema)
    assert (clean.rows_in, clean.rows_out, clean.corrupt_count) == (1, 1, 0)
    assert (clean.repaired_count, clean.wrapped_count) == (0, 0)


def test_point_layer_statement_has_no_geos_or_transform():
    statement = build_vector_transform(
        "proc_x",
        attribute_columns=["id"],
        source_srid=4326,
        steps=VectorSteps(),
        point_layer=True,
        source_nonfinite=False,
        curves=False,
        wrap=False,
    ).as_string(None)
    for call in ("ST_IsValid", "ST_MakeValid", "ST_Transform", "ST_HasArc", "ST_WrapX"):
        assert call not in statement


# --- no-op recipe: the target is a view over the source --------------------------------------


def _relkind(conn: psycopg.Connection, schema: str, table: str) -> str:
    row = conn.execute(
        "SELECT c.relkind FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
        "WHERE n.nspname = %s AND c.relname = %s",
        (schema, table),
    ).fetchone()
    assert row is not None, f"{schema}.{table} does not exist"
    return str(row[0])


def _column_facts(conn: psycopg.Connection, schema: str, table: str) -> list[tuple]:
    """Columns (name, type with modifier) and what geometry_columns says of ``geom``."""
    columns = conn.execute(
        "SELECT a.attname, format_type(a.atttypid, a.atttypmod) FROM pg_attribute a "
        "WHERE a.attrelid = %s::regclass AND a.attnum > 0 AND NOT a.attisdropped "
        "ORDER BY a.attnum",
        (f'"{schema}"."{table}"',),
    ).fetchall()
    geometry = conn.execute(
        "SELECT type, srid, coord_dimension FROM geometry_columns "
        "WHERE f_table_schema = %s AND f_table_name = %s",
        (schema, table),
    ).fetchall()
    return [*columns, *geometry]


def _rows(conn: psycopg.Connection, schema: str, table: str) -> list[tuple]:
    return conn.execute(
        sql.SQL("SELECT id, name, ST_AsEWKB(geom), GeometryType(geom) FROM {} ORDER BY id").format(
            sql.Identifier(schema, table)
        )
    ).fetchall()


POINT_ROWS = [
    (1, "a", "POINT(144.9631 -37.8136)", 4326),
    (2, "b", "POINT(-180 -90)", 4326),
    (3, "c", "POINT(180 90)", 4326),
    (4, "d", "POINT(0.1234567890123 45.000000000001)", 4326),
    (5, None, "POINT(-71.06 42.36)", 4326),
]
MULTIPOINT_ROWS = [
    (1, "a", "MULTIPOINT((144.9631 -37.8136),(145 -37))", 4326),
    (2, "b", "MULTIPOINT((-180 -90))", 4326),
    (3, "c", "MULTIPOINT((179.5 10),(-179.5 -10),(0 0))", 4326),
]


@pytest.mark.parametrize(
    ("rows", "column_type", "steps"),
    [
        (POINT_ROWS, "geometry(Point, 4326)", None),  # as ogr2ogr loads a GPKG point layer
        (POINT_ROWS, "geometry", None),  # untyped column, SRID on each value
        (MULTIPOINT_ROWS, "geometry(MultiPoint, 4326)", None),
        (
            [(1, "a", "POINT(16137000 -4553000)", 3857), (2, "b", "POINT(1e7 1e7)", 3857)],
            "geometry(Point, 3857)",
            VectorSteps(target_srid=3857),  # no antimeridian outside EPSG:4326
        ),
    ],
    ids=["points", "points-untyped-column", "multipoints", "web-mercator-to-itself"],
)
def test_noop_recipe_is_a_view_with_the_transform_s_output(
    pg_conn, work_schema, monkeypatch, rows, column_type, steps
):
    """Data every step leaves as it is: the target is a view over the source (no copy, no
    flags column, no output scan), and rows, columns, types and the report are those the
    CREATE TABLE AS path gives."""
    import etl_transforms.vector as vector

    _create_raw(pg_conn, work_schema, rows, column_type=column_type)
    fast = apply_vector_steps(pg_conn, work_schema, steps, target_table="fast")
    monkeypatch.setattr(vector, "is_noop", lambda *args, **kwargs: False)
    copied = apply_vector_steps(pg_conn, work_schema, steps, target_table="copied")

    assert _relkind(pg_conn, work_schema, "fast") == "v"
    assert _relkind(pg_conn, work_schema, "copied") == "r"
    assert _rows(pg_conn, work_schema, "fast") == _rows(pg_conn, work_schema, "copied")
    assert _column_facts(pg_conn, work_schema, "fast") == _column_facts(
        pg_conn, work_schema, "copied"
    )
    assert [c[0] for c in _column_facts(pg_conn, work_schema, "fast")[:3]] == [
        "id",
        "name",
        "geom",
    ]
    assert fast.model_dump(exclude={"target_table"}) == copied.model_dump(exclude={"target_table"})
    assert fast.rows_in == fast.rows_out == len(rows)
    assert (
        fast.rows_in
        == (fast.rows_out + fast.dropped_null_count + fast.dropped_nonfinite_count)
        + fast.dropped_empty_count
    )
    assert (fast.repaired_count, fast.wrapped_count, fast.corrupt_count) == (0, 0, 0)
    assert "raw_data" in _tables(pg_conn, work_schema)  # the source stays


def _one_extra(rows: list, extra: tuple) -> list:
    return [*rows, (len(rows) + 1, "extra", *extra)]


@pytest.mark.parametrize(
    ("rows", "kwargs"),
    [
        (_one_extra(POINT_ROWS, (None, 4326)), {}),
        (_one_extra(POINT_ROWS, ("POINT EMPTY", 4326)), {}),
        (_one_extra(POINT_ROWS, ("POINT(NaN 1)", 4326)), {}),
        (_one_extra(POINT_ROWS, ("POINT(190 5)", 4326)), {}),
        (_one_extra(POINT_ROWS, ("POINT(-180.5 5)", 4326)), {}),
        (_one_extra(POINT_ROWS, ("MULTIPOINT((1 1),(2 2))", 4326)), {}),
        (_one_extra(POINT_ROWS, ("LINESTRING(0 0, 1 1)", 4326)), {}),
        ([(1, "z", "POINT Z(144.9 -37.8 10)", 4326)], {}),
        ([(1, "m", "POINT M(144.9 -37.8 10)", 4326)], {}),
        ([(1, "a", "POINT(16137000 -4553000)", 3857)], {}),
        ([(1, "a", "POINT(144.9 -37.8)", 0)], {"declared_crs": "EPSG:4326"}),
        (POINT_ROWS, {"steps": VectorSteps(simplify_tolerance_m=1)}),
        (POINT_ROWS, {"steps": VectorSteps(target_srid=3857)}),
        (
            [(1, "a", "POINT(16137000 -4553000)", 3857)],
            {"steps": VectorSteps(target_srid=3857, simplify_tolerance_m=1)},
        ),
        ([(1, "c", "CIRCULARSTRING(0 0, 1 1, 2 0)", 4326)], {}),
        ([(1, "p", "MULTIPOLYGON(((0 0, 1 0, 1 1, 0 0)))", 4326)], {}),
    ],
    ids=[
        "null",
        "empty",
        "nan",
        "beyond-180",
        "beyond-minus-180",
        "mixed-point-multipoint",
        "mixed-point-line",
        "z",
        "m",
        "other-crs",
        "srid-0-declared",
        "simplify",
        "other-target-crs",
        "simplify-in-target-crs",
        "curve",
        "valid-polygons",
    ],
)
def test_noop_recipe_not_taken_when_a_step_has_work(pg_conn, work_schema, rows, kwargs):
    """Anything a step would change (or might: polygons need GEOS to tell) gets the table."""
    _create_raw(pg_conn, work_schema, rows)
    report = apply_vector_steps(pg_conn, work_schema, **kwargs)
    assert _relkind(pg_conn, work_schema, "transformed") == "r"
    assert FLAGS_COLUMN not in {c[0] for c in _column_facts(pg_conn, work_schema, "transformed")}
    assert report.rows_in == len(rows)


def test_noop_view_exports_the_same_geoparquet(
    pg_conn, postgis, work_schema, monkeypatch, tmp_path
):
    """The GeoParquet written from the view is the one written from the CTAS table: same
    rows in the same order, same WKB, columns, Arrow types and ``geo`` metadata."""
    import json

    import pyarrow.parquet as pq

    import etl_transforms.vector as vector
    from etl_spatial.geoparquet_stream import export_geoparquet

    pg_conn.execute(
        sql.SQL(
            "CREATE TABLE {} (_etl_fid serial, id bigint, name varchar, value float8, "
            "flag boolean, geom geometry(Point, 4326))"
        ).format(sql.Identifier(work_schema, "raw_data"))
    )
    pg_conn.execute(
        sql.SQL(
            "INSERT INTO {} (id, name, value, flag, geom) SELECT i, 'p-' || i, i / 7.0, "
            "i % 3 = 0, ST_SetSRID(ST_MakePoint(((i * 7919) % 36000) / 100.0 - 180, "
            "((i * 104729) % 17000) / 100.0 - 85), 4326) FROM generate_series(1, 3000) AS i"
        ).format(sql.Identifier(work_schema, "raw_data"))
    )
    fast = apply_vector_steps(pg_conn, work_schema, target_table="fast")
    monkeypatch.setattr(vector, "is_noop", lambda *args, **kwargs: False)
    copied = apply_vector_steps(pg_conn, work_schema, target_table="copied")
    assert _relkind(pg_conn, work_schema, "fast") == "v"
    assert fast.bbox == copied.bbox and fast.rows_out == copied.rows_out == 3000

    written = {}
    for table, report in (("fast", fast), ("copied", copied)):
        path = tmp_path / f"{table}.parquet"
        result = export_geoparquet(postgis, work_schema, table, path, extent=report.bbox)
        written[table] = (path, result)
    (fast_path, fast_result), (copied_path, copied_result) = written["fast"], written["copied"]
    fast_table, copied_table = pq.read_table(fast_path), pq.read_table(copied_path)
    assert fast_table.schema.names == ["id", "name", "value", "flag", "geom", "bbox"]
    assert fast_table.schema.remove_metadata() == copied_table.schema.remove_metadata()
    assert fast_table.equals(copied_table)  # same rows, same order, same WKB and bbox
    fast_geo = json.loads(fast_table.schema.metadata[b"geo"])
    copied_geo = json.loads(copied_table.schema.metadata[b"geo"])
    assert fast_geo == copied_geo
    assert fast_geo["columns"]["geom"]["geometry_types"] == ["Point"]
    assert fast_geo["columns"]["geom"]["bbox"] == list(fast.bbox)
    assert fast_result.metadata == copied_result.metadata
    assert (fast_result.null_geometries, fast_result.empty_geometries) == (0, 0)
    assert fast_result.invalid_geometries == copied_result.invalid_geometries == 0


# --- non-finite coordinates: cheap tests where they are exact, GEOS otherwise -----------------


def _wkb(kind: str, *parts: list[tuple[float, float]]) -> bytes:
    import struct

    def points(pts: list[tuple[float, float]]) -> bytes:
        return struct.pack("<I", len(pts)) + b"".join(struct.pack("<dd", *p) for p in pts)

    if kind == "point":
        return struct.pack("<BI", 1, 1) + struct.pack("<dd", *parts[0][0])
    if kind == "line":
        return struct.pack("<BI", 1, 2) + points(parts[0])
    if kind == "polygon":
        return struct.pack("<BII", 1, 3, len(parts)) + b"".join(points(r) for r in parts)
    if kind == "multipolygon":
        return struct.pack("<BII", 1, 6, len(parts)) + b"".join(
            _wkb("polygon", ring) for ring in parts
        )
    if kind == "multiline":
        return struct.pack("<BII", 1, 5, len(parts)) + b"".join(_wkb("line", p) for p in parts)
    raise AssertionError(kind)


def test_nonfinite_test_agrees_with_geos(pg_conn):
    """``nonfinite_xy`` clears lines and polygons by their length instead of GEOS; it must
    count exactly the rows GEOS reports as ``Invalid Coordinate``."""
    from etl_transforms.vector_sql import nonfinite_xy

    nan, inf = float("nan"), float("inf")
    square = [(0.0, 0.0), (1.0, 0.0), (1.0, 1.0), (0.0, 0.0)]
    wkbs = [
        _wkb("polygon", square),
        _wkb("polygon", [(0, 0), (nan, 1), (1, 1), (0, 0)]),
        _wkb("polygon", [(nan, 0), (1, 0), (1, 1), (nan, 0)]),  # GEOS: ring not closed
        _wkb("polygon", [(0, 0), (inf, 0), (1, 1), (0, 0)]),
        _wkb("polygon", [(0, 0), (inf, 0), (inf, 1), (0, 0)]),  # perimeter NaN
        _wkb("polygon", [(0, 0), (1, -inf), (1, 1), (0, 0)]),
        _wkb("polygon", [(0, 0), (10, 0), (10, 10), (0, 0)], [(1, 1), (2, nan), (2, 2), (1, 1)]),
        _wkb("polygon", [(-1e308, 0), (1e308, 0), (1e308, 1e308), (-1e308, 0)]),  # overflow
        _wkb("polygon", [(0, 0), (1, 0), (0, 1), (1, 1), (0, 0)]),  # bow tie
        _wkb("multipolygon", square, [(5, 5), (6, nan), (6, 6), (5, 5)]),
        _wkb("line", [(0, 0), (nan, 1)]),
        _wkb("line", [(0, 0), (1, inf), (2, 2)]),
        _wkb("line", [(inf, 0), (inf, 1)]),
        _wkb("line", [(-1e308, 0), (1e308, 0)]),
        _wkb("line", [(0, 0), (0, 0)]),
        _wkb("multiline", [(0, 0), (1, 1)], [(2, 2), (nan, 3)]),
        _wkb("point", [(nan, 0)]),
        _wkb("point", [(0, inf)]),
        _wkb("point", [(1, 2)]),
    ]
    wkts = [
        "POLYGON Z((0 0 NaN, 1 0 1, 1 1 1, 0 0 NaN))",  # Z is not X/Y
        "POLYGON EMPTY",
        "LINESTRING EMPTY",
        "MULTIPOINT((0 0),(NaN 1))",
        "CIRCULARSTRING(0 0, NaN 1, 2 0)",
        "GEOMETRYCOLLECTION(POINT(NaN 0), POLYGON((0 0, 1 0, 1 1, 0 0)))",
    ]
    g = sql.Identifier("g")
    geos = sql.SQL(
        "(CASE WHEN ST_GeometryType(g) = 'ST_Point' THEN ST_X(g) * 0 + ST_Y(g) * 0 <> 0 "
        "ELSE NOT ST_IsValid(g, 0) AND ST_IsValidReason(g) LIKE 'Invalid Coordinate%%' END)"
    )
    query = sql.SQL("SELECT {ours}, {geos} FROM (SELECT {value} AS g) AS s")
    verdicts = []
    for value, param in [
        *((sql.SQL("ST_GeomFromWKB(%s, 4326)"), w) for w in wkbs),
        *((sql.SQL("ST_GeomFromText(%s, 4326)"), w) for w in wkts),
    ]:
        row = pg_conn.execute(
            query.format(ours=nonfinite_xy(g), geos=geos, value=value), (param,)
        ).fetchone()
        assert row is not None
        verdicts.append(row)
    assert [ours for ours, _ in verdicts] == [theirs for _, theirs in verdicts]
    assert sum(bool(ours) for ours, _ in verdicts) == 15


def test_polygons_with_nonfinite_coordinates_are_counted(pg_conn, work_schema):
    square = f"ST_GeomFromText('{SQUARE}')"
    _insert_geoms(
        pg_conn,
        work_schema,
        [
            f"ST_Transform(ST_SetSRID({square}, 28355), 4326)",
            "ST_MakePolygon(ST_MakeLine(ARRAY[ST_MakePoint(0, 0), ST_MakePoint('NaN', 1), "
            "ST_MakePoint(1, 1), ST_MakePoint(0, 0)]))",
            "ST_MakePolygon(ST_MakeLine(ARRAY[ST_MakePoint(0, 0), "
            "ST_MakePoint('Infinity', 1), ST_MakePoint(1, 1), ST_MakePoint(0, 0)]))",
            "ST_MakeLine(ST_MakePoint(0, 0), ST_MakePoint(1, '-Infinity'))",
        ],
    )
    report = apply_vector_steps(pg_conn, work_schema)
    assert report.dropped_nonfinite_count == 3
    assert report.rows_out == 1
    assert report.corrupt_count == 3


# --- validity known from the transform: no second GEOS pass in the export ---------------------


@pytest.mark.parametrize("srid", [4326, 28355], ids=["in-place", "reprojected"])
def test_output_validity_is_known_for_lines_and_polygons(
    pg_conn, postgis, work_schema, tmp_path, srid
):
    """A polygon layer with make_valid: the transform knows how many output geometries are
    invalid (GEOS tested every row in its final shape), and that is what the export's own
    GEOS pass finds; the export without that pass counts the same with the transform's
    number."""
    from etl_spatial.geoparquet_stream import export_geoparquet

    def shape(wkt: str) -> str:
        if srid == 4326:  # the same shapes, small, near Melbourne in degrees
            return f"ST_Transform(ST_GeomFromText('{wkt}', 28355), 4326)"
        return f"ST_GeomFromText('{wkt}', 28355)"

    pg_conn.execute(
        sql.SQL("CREATE TABLE {} (id int, name text, geom geometry)").format(
            sql.Identifier(work_schema, "raw_data")
        )
    )
    for i, wkt in enumerate([SQUARE, BOWTIE, MULTI, SPIKE, BOWTIE]):
        pg_conn.execute(
            sql.SQL("INSERT INTO {} VALUES (%s, 'x', " + shape(wkt) + ")").format(
                sql.Identifier(work_schema, "raw_data")
            ),
            (i,),
        )
    report = apply_vector_steps(pg_conn, work_schema)
    assert report.repaired_count == 2
    assert report.output_invalid_count == 0
    assert "output_invalid_count" not in report.model_dump()
    table_invalid = pg_conn.execute(
        sql.SQL("SELECT count(*) FILTER (WHERE NOT ST_IsValid(geom)) FROM {}").format(
            sql.Identifier(work_schema, "transformed")
        )
    ).fetchone()
    assert table_invalid == (report.output_invalid_count,)

    checked = export_geoparquet(
        postgis, work_schema, "transformed", tmp_path / "checked.parquet", extent=report.bbox
    )
    trusted = export_geoparquet(
        postgis,
        work_schema,
        "transformed",
        tmp_path / "trusted.parquet",
        extent=report.bbox,
        check_validity=False,
    )
    assert checked.invalid_geometries == trusted.invalid_geometries + report.output_invalid_count
    assert checked.metadata == trusted.metadata


def test_output_validity_flag_marks_repaired_rows_that_stay_invalid():
    """Only rows the last repair changed are asked again (one more GEOS call for a few rows),
    and only for line / polygon layers with make_valid."""
    from etl_transforms.vector_sql import FLAG_INVALID

    def statement(**kwargs) -> str:
        return build_vector_transform(
            "proc_x", attribute_columns=["id"], source_srid=4326, **kwargs
        ).as_string(None)

    polygons = statement(steps=VectorSteps(), wrap=False)
    assert f"| {FLAG_INVALID}" in polygons
    # Two ST_IsValid: every row in the repair pass, the repaired ones once more.
    assert polygons.count("ST_IsValid(") == 2
    assert f"| {FLAG_INVALID}" not in statement(steps=VectorSteps(make_valid=False), wrap=False)
    points = statement(steps=VectorSteps(), point_layer=True, wrap=False)
    assert f"| {FLAG_INVALID}" not in points
    no_multi = statement(steps=VectorSteps(normalize_types=False), wrap=False)
    assert f"| {FLAG_INVALID}" in no_multi


def test_output_validity_is_unknown_without_repair_or_for_points(pg_conn, work_schema):
    _create_raw(pg_conn, work_schema, [(1, "bowtie", BOWTIE, 28355)])
    unrepaired = apply_vector_steps(pg_conn, work_schema, VectorSteps(make_valid=False))
    assert unrepaired.output_invalid_count is None
    _create_raw(pg_conn, work_schema, POINT_ROWS, table="points")
    points = apply_vector_steps(
        pg_conn, work_schema, source_table="points", target_table="points_out"
    )
    assert points.output_invalid_count is None


# --- the first validity test as a self-join on the source's key (parallel workers) ---------

KEYED_CASES = [
    SQUARE,
    BOWTIE,
    MULTI,
    SPIKE,
    "POLYGON EMPTY",
    None,
    f"GEOMETRYCOLLECTION(POLYGON(({X0} {Y0},{X0 + 10} {Y0},{X0 + 10} {Y0 + 10},{X0} {Y0})),"
    f"LINESTRING({X0} {Y0},{X0 + 5} {Y0 + 5}))",
    f"CURVEPOLYGON(CIRCULARSTRING({X0} {Y0},{X0 + 50} {Y0 + 50},{X0 + 100} {Y0},"
    f"{X0 + 50} {Y0 - 50},{X0} {Y0}))",
    # A ring touching itself at a point (invalid), and one with a hole outside its shell.
    f"POLYGON(({X0} {Y0},{X0 + 100} {Y0},{X0 + 50} {Y0 + 50},{X0 + 100} {Y0 + 100},"
    f"{X0} {Y0 + 100},{X0 + 50} {Y0 + 50},{X0} {Y0}))",
    f"POLYGON(({X0} {Y0},{X0 + 10} {Y0},{X0 + 10} {Y0 + 10},{X0} {Y0 + 10},{X0} {Y0}),"
    f"({X0 + 20} {Y0 + 20},{X0 + 30} {Y0 + 20},{X0 + 30} {Y0 + 30},{X0 + 20} {Y0 + 20}))",
]


@pytest.mark.parametrize("srid", [28355, 4326], ids=["reprojected", "in-place"])
def test_first_validity_test_by_key_gives_the_same_table_and_report(pg_conn, work_schema, srid):
    """A source with a single-column primary key (the loaders' ``_etl_fid``) has its first
    validity test done as a self-join the parallel workers run; the output and the report are
    those of the per-row test on the same rows without a key."""
    shapes = [
        None if wkt is None else (wkt if srid == 28355 else f"ST_Transform:{wkt}")
        for wkt in KEYED_CASES
    ]
    for table, key in (("raw_plain", "int"), ("raw_keyed", "int PRIMARY KEY")):
        pg_conn.execute(
            sql.SQL("CREATE TABLE {} (id {}, name text, geom geometry)").format(
                sql.Identifier(work_schema, table), sql.SQL(key)
            )
        )
        for i, shape in enumerate(shapes):
            if shape is None:
                expr = "NULL"
            elif shape.startswith("ST_Transform:"):
                expr = f"ST_Transform(ST_GeomFromText('{shape.split(':', 1)[1]}', 28355), 4326)"
            else:
                expr = f"ST_GeomFromText('{shape}', 28355)"
            pg_conn.execute(
                sql.SQL("INSERT INTO {} VALUES (%s, %s, " + expr + ")").format(
                    sql.Identifier(work_schema, table)
                ),
                (i, f"row {i}"),
            )
    plain = apply_vector_steps(
        pg_conn, work_schema, source_table="raw_plain", target_table="out_plain"
    )
    keyed = apply_vector_steps(
        pg_conn, work_schema, source_table="raw_keyed", target_table="out_keyed"
    )
    assert keyed.repaired_count >= 3
    ignore = {"source_table", "target_table"}
    assert keyed.model_dump(exclude=ignore) == plain.model_dump(exclude=ignore)
    assert keyed.output_invalid_count == plain.output_invalid_count
    assert _rows(pg_conn, work_schema, "out_keyed") == _rows(pg_conn, work_schema, "out_plain")


@pytest.mark.unit
def test_key_column_moves_the_first_validity_test_into_a_join():
    def build(key: str | None, **kwargs) -> str:
        return build_vector_transform(
            "s", attribute_columns=["_etl_fid", "a"], source_srid=4326,
            steps=VectorSteps(), key_column=key, **kwargs,
        ).as_string(None)  # fmt: skip

    keyed, plain = build("_etl_fid"), build(None)
    assert 'LEFT JOIN (SELECT "_etl_fid" FROM "s"."raw_data" WHERE NOT ST_IsValid(' in keyed
    assert keyed.count("ST_IsValid(") == plain.count("ST_IsValid(")
    assert "JOIN" not in plain
    # Points are tested without GEOS: no join for them.
    assert "JOIN" not in build("_etl_fid", point_layer=True)
