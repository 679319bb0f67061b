"""``key_match`` rules against PostgreSQL: which keys are equal under each rule."""

from __future__ import annotations

import pytest
from psycopg import sql

from etl_transforms.join import JoinSpec, run_join


@pytest.fixture
def key_tables(pg_conn, work_schema) -> str:
    """Tabular codes as text, spatial codes as numbers and padded/cased text."""
    t, s = sql.Identifier(work_schema, "t"), sql.Identifier(work_schema, "s")
    pg_conn.execute(sql.SQL("CREATE TABLE {} (code text, v int)").format(t))
    pg_conn.execute(
        sql.SQL("CREATE TABLE {} (num double precision, txt text, geom geometry)").format(s)
    )
    pg_conn.execute(
        sql.SQL(
            "INSERT INTO {} VALUES ('01', 1), (' 4', 2), ('5.50', 3), ('Ab', 4), ('x1', 5), ('', 6)"
        ).format(t)
    )
    pg_conn.execute(
        sql.SQL(
            "INSERT INTO {} VALUES (1.0, 'aB', 'POINT(0 0)'), (4, '04', 'POINT(1 1)'), "
            "(5.5, 'x1', 'POINT(2 2)'), (NULL, ' Ab', 'POINT(3 3)')"
        ).format(s)
    )
    return work_schema


def _matched(pg_conn, schema, right_key, key_match, target) -> list[tuple]:
    report = run_join(
        pg_conn, schema, tabular_table="t", spatial_table="s", target=target,
        spec=JoinSpec(left_key="code", right_key=right_key, how="inner", key_match=key_match),
    )  # fmt: skip
    rows = pg_conn.execute(
        sql.SQL("SELECT v FROM {} ORDER BY v").format(sql.Identifier(schema, target))
    ).fetchall()
    assert report.key_match == key_match
    return [r[0] for r in rows]


def test_numeric_matches_numbers_by_value_and_other_text_as_trimmed(pg_conn, key_tables):
    # '01' = 1.0, ' 4' = 4, '5.50' = 5.5; 'x1' is not a number and matches nothing numeric.
    assert _matched(pg_conn, key_tables, "num", "numeric", "j1") == [1, 2, 3]
    # Against text: '04' = ' 4' by value; 'Ab' = ' Ab' and 'x1' = 'x1' as trimmed text.
    assert _matched(pg_conn, key_tables, "txt", "numeric", "j2") == [2, 4, 5]


def test_trimmed_exact_and_casefold(pg_conn, key_tables):
    # '01' is not '1' and '5.50' is not '5.5' as text; ' 4' trims to '4'.
    assert _matched(pg_conn, key_tables, "num", "trimmed", "j3") == [2]
    assert _matched(pg_conn, key_tables, "txt", "trimmed", "j4") == [4, 5]
    # exact keeps whitespace: ' Ab' is not 'Ab'; casefold ignores case and whitespace.
    assert _matched(pg_conn, key_tables, "txt", "exact", "j5") == [5]
    assert _matched(pg_conn, key_tables, "txt", "casefold", "j6") == [4, 4, 5]


@pytest.mark.unit
def test_spec_fingerprint_leaves_default_rule_out():
    plain = JoinSpec(left_key="a", how="left")
    assert "key_match" not in plain.fingerprint()
    assert plain.fingerprint() == {"left_key": "a", "right_key": "a", "how": "left"}
    assert JoinSpec(left_key="a", key_match="numeric").fingerprint()["key_match"] == "numeric"
