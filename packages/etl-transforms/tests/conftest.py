"""Fixtures for the transformation tests: a PostGIS connection and a throw-away schema."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import psycopg
import pytest
from psycopg import sql


@pytest.fixture
def pg_conn(postgis_service) -> Iterator[psycopg.Connection]:
    """An autocommit connection to the test PostGIS database."""
    with psycopg.connect(postgis_service.conninfo(), autocommit=True) as conn:
        yield conn


@pytest.fixture
def work_schema(pg_conn: psycopg.Connection) -> Iterator[str]:
    """A fresh schema for one test, always dropped afterwards."""
    name = f"test_tx_{uuid.uuid4().hex[:12]}"
    pg_conn.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(name)))
    try:
        yield name
    finally:
        pg_conn.execute(sql.SQL("DROP SCHEMA {} CASCADE").format(sql.Identifier(name)))
