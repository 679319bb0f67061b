"""Vector steps against the real PostGIS: repair, empties, reprojection, types, simplification."""

from __future__ import annotations

import psycopg
import pytest
from psycopg import sql

from etl_transforms.errors import SourceCrsError, VectorSchemaError
from etl_transforms.vector import apply_vector_steps
from etl_transforms.vector_profile import resolve_declared_srid
from etl_transforms.vector_sql import VectorSteps, build_vector_transform

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
