"""Normalised header names against the real PostgreSQL: reserved words and unquoted DDL."""

from __future__ import annotations

import pytest
from psycopg import sql

from etl_transforms.headers import POSTGRES_RESERVED_WORDS, normalize_headers

pytestmark = pytest.mark.integration


def test_reserved_words_cover_postgres_and_names_work_unquoted(pg_conn, work_schema):
    server_reserved = {
        row[0]
        for row in pg_conn.execute(
            "SELECT word FROM pg_get_keywords() WHERE catcode IN ('R', 'T')"
        ).fetchall()
    }
    assert server_reserved <= POSTGRES_RESERVED_WORDS

    headers = ["Order", "user", "2nd value", "", "Name", "name", "x" * 100, "table", "Café"]
    names = normalize_headers(headers).normalised
    # Unquoted DDL must accept every name and store it unchanged.
    columns = ", ".join(f"{name} text" for name in names)
    pg_conn.execute(
        sql.SQL("CREATE TABLE {} (" + columns + ")").format(sql.Identifier(work_schema, "unquoted"))
    )
    stored = pg_conn.execute(
        "SELECT column_name FROM information_schema.columns WHERE table_schema = %s "
        "AND table_name = 'unquoted' ORDER BY ordinal_position",
        (work_schema,),
    ).fetchall()
    assert tuple(r[0] for r in stored) == names
