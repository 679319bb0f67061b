"""Tabular-onto-spatial joins against the real PostGIS: all four ``how`` values by hand."""

from __future__ import annotations

import pytest
from psycopg import sql

from etl_transforms.errors import JoinDuplicateKeyError, JoinKeyError
from etl_transforms.join import (
    JoinOptions,
    JoinSpec,
    build_join_sql,
    plan_join_columns,
    run_join,
)

pytestmark = pytest.mark.integration

# Tabular side (left). T3's key has padding that the key rule trims; T5 has no key.
TABULAR = [
    ("T1", "001", 10, "tab one"),
    ("T2", "002", 20, "tab two"),
    ("T3", " 003 ", 30, "tab three"),
    ("T4", "004", 40, "tab four"),
    ("T5", None, 50, "tab five"),
]
# Spatial side (right). '002' occurs twice; '005' has no tabular partner.
SPATIAL = [
    ("S1", "001", "one", "POINT(1 1)"),
    ("S2", "002", "two", "POINT(2 2)"),
    ("S2b", "002", "two bis", "POINT(2 3)"),
    ("S3", "003", "three", "POINT(3 3)"),
    ("S5", "005", "five", "POINT(5 5)"),
]
# Worked out by hand from the tables above: (tabular row, spatial feature) pairs.
MATCHES = {("T1", "S1"), ("T2", "S2"), ("T2", "S2b"), ("T3", "S3")}
EXPECTED = {
    "inner": MATCHES,
    "left": MATCHES | {("T4", None), ("T5", None)},
    "right": MATCHES | {(None, "S5")},
    "outer": MATCHES | {("T4", None), ("T5", None), (None, "S5")},
}


@pytest.fixture
def join_tables(pg_conn, work_schema) -> str:
    tab = sql.Identifier(work_schema, "tabular_data")
    spa = sql.Identifier(work_schema, "spatial_data")
    pg_conn.execute(
        sql.SQL("CREATE TABLE {} (row_id text, code text, pop int, name text)").format(tab)
    )
    pg_conn.execute(
        sql.SQL(
            "CREATE TABLE {} (feature_id text, code text, name text, geom geometry(Point, 4326))"
        ).format(spa)
    )
    with pg_conn.cursor() as cur:
        cur.executemany(sql.SQL("INSERT INTO {} VALUES (%s, %s, %s, %s)").format(tab), TABULAR)
        cur.executemany(
            sql.SQL("INSERT INTO {} VALUES (%s, %s, %s, ST_GeomFromText(%s, 4326))").format(spa),
            SPATIAL,
        )
    return work_schema


@pytest.mark.parametrize("how", ["left", "inner", "right", "outer"])
def test_join_semantics(pg_conn, join_tables, how):
    schema = join_tables
    report = run_join(
        pg_conn,
        schema,
        tabular_table="tabular_data",
        spatial_table="spatial_data",
        spec=JoinSpec(left_key="code", how=how),
    )
    rows = pg_conn.execute(
        sql.SQL(
            "SELECT row_id, feature_id, code_tabular, pop, name_tabular, code, name, "
            "ST_AsText(geom), ST_SRID(geom) FROM {}"
        ).format(sql.Identifier(schema, "joined"))
    ).fetchall()
    assert {(r[0], r[1]) for r in rows} == EXPECTED[how]
    assert len(rows) == len(EXPECTED[how]) == report.rows_out

    tabular = {r[0]: r for r in TABULAR}
    spatial = {r[0]: r for r in SPATIAL}
    for row_id, feature_id, code_t, pop, name_t, code_s, name_s, wkt, srid in rows:
        if row_id is None:
            assert (code_t, pop, name_t) == (None, None, None)
        else:  # every tabular attribute kept, under its resolved name
            assert (code_t, pop, name_t) == tabular[row_id][1:]
        if feature_id is None:
            assert (code_s, name_s, wkt, srid) == (None, None, None, None)
        else:  # geometry and every spatial attribute kept
            assert (code_s, name_s, wkt) == spatial[feature_id][1:]
            assert srid == 4326

    assert report.how == how
    assert report.tabular_rows == 5
    assert report.spatial_rows == 5
    assert report.tabular_null_keys == 1
    assert report.matched_tabular_rows == 3  # T1, T2, T3
    assert report.matched_spatial_rows == 4  # S1, S2, S2b, S3
    assert report.match_rate == pytest.approx(3 / 5)
    assert report.spatial_match_rate == pytest.approx(4 / 5)
    assert report.unmatched_tabular_keys.count == 1
    assert report.unmatched_tabular_keys.sample == ("004",)
    assert report.unmatched_spatial_keys.sample == ("005",)
    assert report.duplicate_spatial_keys.count == 1
    assert report.duplicate_spatial_keys.sample == ("002",)
    assert report.duplicate_spatial_keys.rows == 2
    assert report.duplicate_tabular_keys.count == 0
    assert report.column_renames == {"code": "code_tabular", "name": "name_tabular"}
    assert report.output_columns == (
        "feature_id",
        "code",
        "name",
        "geom",
        "row_id",
        "code_tabular",
        "pop",
        "name_tabular",
    )


def test_keys_are_compared_as_trimmed_text(pg_conn, work_schema):
    """'007' matches '007' only; an integer 7 matches the text '7', never '007'."""
    pg_conn.execute(
        sql.SQL("CREATE TABLE {} (code text, v int)").format(sql.Identifier(work_schema, "t"))
    )
    pg_conn.execute(
        sql.SQL("CREATE TABLE {} (zone_code text, n int, geom geometry)").format(
            sql.Identifier(work_schema, "s")
        )
    )
    pg_conn.execute(
        sql.SQL("INSERT INTO {} VALUES ('007', 1), ('7', 2), ('', 3), ('08\t', 4)").format(
            sql.Identifier(work_schema, "t")
        )
    )
    pg_conn.execute(
        sql.SQL(
            "INSERT INTO {} VALUES ('007', 7, 'POINT(0 0)'), ('', 0, 'POINT(1 1)'), "
            "('08', 8, 'POINT(2 2)')"
        ).format(sql.Identifier(work_schema, "s"))
    )
    report = run_join(
        pg_conn,
        work_schema,
        tabular_table="t",
        spatial_table="s",
        spec=JoinSpec(left_key="code", right_key="zone_code", how="inner"),
    )
    rows = pg_conn.execute(
        sql.SQL("SELECT code, v, zone_code, n FROM {} ORDER BY v").format(
            sql.Identifier(work_schema, "joined")
        )
    ).fetchall()
    # '' never matches ''; '08\t' is trimmed to '08'.
    assert rows == [("007", 1, "007", 7), ("08\t", 4, "08", 8)]
    assert report.tabular_null_keys == 1 and report.spatial_null_keys == 1
    assert report.unmatched_tabular_keys.sample == ("7",)

    # Integer key on the spatial side: compared by its text form.
    report = run_join(
        pg_conn,
        work_schema,
        tabular_table="t",
        spatial_table="s",
        spec=JoinSpec(left_key="code", right_key="n", how="inner"),
        target="joined_by_int",
    )
    rows = pg_conn.execute(
        sql.SQL("SELECT code, n FROM {}").format(sql.Identifier(work_schema, "joined_by_int"))
    ).fetchall()
    assert rows == [("7", 7)]
    assert set(report.unmatched_tabular_keys.sample) == {"007", "08"}
    assert report.matched_tabular_rows == 1


def test_missing_key_names_column_and_alternatives(pg_conn, join_tables):
    with pytest.raises(JoinKeyError, match=r"left_key 'zone'.*row_id, code, pop, name"):
        run_join(
            pg_conn,
            join_tables,
            tabular_table="tabular_data",
            spatial_table="spatial_data",
            spec=JoinSpec(left_key="zone"),
        )
    with pytest.raises(JoinKeyError, match=r"right_key 'zone'.*feature_id"):
        run_join(
            pg_conn,
            join_tables,
            tabular_table="tabular_data",
            spatial_table="spatial_data",
            spec=JoinSpec(left_key="code", right_key="zone"),
        )
    with pytest.raises(JoinKeyError, match="geometry column"):
        run_join(
            pg_conn,
            join_tables,
            tabular_table="tabular_data",
            spatial_table="spatial_data",
            spec=JoinSpec(left_key="code", right_key="geom"),
        )


def test_duplicate_spatial_keys_can_fail_the_join(pg_conn, join_tables):
    with pytest.raises(JoinDuplicateKeyError, match="'002'"):
        run_join(
            pg_conn,
            join_tables,
            tabular_table="tabular_data",
            spatial_table="spatial_data",
            spec=JoinSpec(left_key="code"),
            options=JoinOptions(on_duplicate_spatial_keys="fail"),
        )
    exists = pg_conn.execute("SELECT to_regclass(%s)", (f"{join_tables}.joined",)).fetchone()
    assert exists == (None,)


def test_key_sample_is_capped(pg_conn, work_schema):
    pg_conn.execute(
        sql.SQL(
            "CREATE TABLE {} AS SELECT lpad(i::text, 4, '0') AS code FROM generate_series(1, 50) i"
        ).format(sql.Identifier(work_schema, "t"))
    )
    pg_conn.execute(
        sql.SQL("CREATE TABLE {} (code text, geom geometry)").format(
            sql.Identifier(work_schema, "s")
        )
    )
    report = run_join(
        pg_conn,
        work_schema,
        tabular_table="t",
        spatial_table="s",
        spec=JoinSpec(left_key="code"),
        options=JoinOptions(key_sample_limit=5),
    )
    assert report.rows_out == 50
    assert report.match_rate == 0
    assert report.spatial_match_rate is None
    assert report.unmatched_tabular_keys.count == 50
    assert report.unmatched_tabular_keys.sample == ("0001", "0002", "0003", "0004", "0005")
    assert report.unmatched_tabular_keys.truncated


@pytest.mark.unit
def test_column_collisions_resolve_deterministically():
    plan = plan_join_columns(
        ["code", "name", "name_tabular", "geom", "x" * 63], ["code", "name", "geom", "x" * 63]
    )
    assert plan.renames == {
        "code": "code_tabular",
        "name": "name_tabular_2",  # 'name_tabular' is a tabular column of its own
        "geom": "geom_tabular",
        "x" * 63: "x" * 55 + "_tabular",
    }
    assert len(set(plan.output_columns)) == len(plan.output_columns)
    assert all(len(c.encode()) <= 63 for c in plan.output_columns)


@pytest.mark.unit
def test_join_sql_is_one_statement_per_how():
    for how, keyword in [
        ("left", "LEFT JOIN"),
        ("inner", "INNER JOIN"),
        ("right", "RIGHT JOIN"),
        ("outer", "FULL OUTER JOIN"),
    ]:
        text = build_join_sql(
            "proc_x",
            tabular_table="t",
            spatial_table="s",
            spec=JoinSpec(left_key="code", how=how),
            tabular_columns=["code", "v"],
            spatial_columns=["code", "geom"],
        ).as_string(None)
        assert text.startswith('CREATE UNLOGGED TABLE "proc_x"."joined" AS SELECT')
        assert text.count("CREATE") == 1
        assert f" {keyword} " in text
    assert JoinSpec(left_key="code").right_key == "code"


@pytest.mark.unit
def test_spec_from_manifest_join_config():
    from etl_models.manifest import JoinConfig

    config = JoinConfig(
        spatial_dataset_id="suburbs", tabular_dataset_id="census", left_key="sa2_code"
    )
    spec = JoinSpec.from_join_config(config)
    assert (spec.left_key, spec.spatial_key, spec.how) == ("sa2_code", "sa2_code", "left")
    config = JoinConfig(
        spatial_dataset_id="suburbs",
        tabular_dataset_id="census",
        left_key="code",
        right_key="sa2_code",
        how="outer",
    )
    spec = JoinSpec.from_join_config(config)
    assert (spec.left_key, spec.spatial_key, spec.how) == ("code", "sa2_code", "outer")
