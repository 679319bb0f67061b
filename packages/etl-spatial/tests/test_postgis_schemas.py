"""Ephemeral run schemas on the real PostGIS: created, named, always dropped."""

from __future__ import annotations

import uuid

import pytest
from psycopg import sql

from etl_spatial.identifiers import InvalidIdentifier, quote_identifier, validate_identifier
from etl_spatial.postgis import (
    InvalidRunId,
    Postgis,
    run_id_for_schema,
    schema_name_for_run,
)

pytestmark = pytest.mark.integration


def _schema_exists(postgis: Postgis, name: str) -> bool:
    with postgis.connect(autocommit=True) as conn:
        return (
            conn.execute("SELECT 1 FROM pg_namespace WHERE nspname = %s", (name,)).fetchone()
            is not None
        )


@pytest.mark.unit
def test_run_id_schema_mapping_both_ways():
    run_id = "0b0f5e4a-8a0e-4c8e-9d7c-2f1f3c1b2a10"
    schema = schema_name_for_run(run_id)
    assert schema == "proc_0b0f5e4a_8a0e_4c8e_9d7c_2f1f3c1b2a10"
    assert run_id_for_schema(schema) == run_id
    validate_identifier(schema)
    for bad in ["", "x", "0B0F5E4A-8A0E-4C8E-9D7C-2F1F3C1B2A10", run_id + ";drop", "a" * 36]:
        with pytest.raises(InvalidRunId):
            schema_name_for_run(bad)
    for bad in ["public", "proc_x", "proc_" + run_id]:
        with pytest.raises(ValueError):
            run_id_for_schema(bad)


@pytest.mark.unit
def test_identifiers_are_validated():
    assert validate_identifier("raw_data") == "raw_data"
    for bad in ["Raw", "1x", "a-b", 'x"; drop table y; --', "a" * 64, ""]:
        with pytest.raises(InvalidIdentifier):
            validate_identifier(bad)
    assert quote_identifier("s", "t").as_string() == '"s"."t"'


@pytest.mark.unit
def test_datasource_string_and_env_keep_the_password_out_of_argv():
    resource = Postgis(host="db", port=5433, user="etl", password="pw-secret", database="c")
    datasource = resource.ogr_pg_datasource()
    assert "pw-secret" not in datasource and "password" not in datasource
    assert datasource == "PG:dbname=c host=db port=5433 user=etl"
    assert resource.libpq_env()["PGPASSWORD"] == "pw-secret"
    assert resource.adbc_uri() == "postgresql://etl:pw-secret@db:5433/c"


def test_schema_created_and_dropped(postgis, run_id):
    with postgis.ephemeral_schema(run_id) as schema:
        assert schema.name == schema_name_for_run(run_id)
        assert _schema_exists(postgis, schema.name)
        assert (schema.name, run_id) in [tuple(i) for i in postgis.list_run_schemas()]
        rows = schema.create_table_as(
            "numbers", sql.SQL("SELECT g AS n FROM generate_series(1, %s) AS g"), (5,)
        )
        assert rows == 5 and schema.row_count("numbers") == 5
        with schema.connect() as conn:
            persistence = conn.execute(
                "SELECT relpersistence FROM pg_class WHERE oid = to_regclass('numbers')"
            ).fetchone()[0]
        assert persistence == "u"
    assert not _schema_exists(postgis, schema.name)


def test_compute_connections_do_not_jit(postgis, run_id):
    # JIT compiling the recipe's statements cost more than running them.
    with postgis.connect() as conn:
        assert conn.execute("SHOW jit").fetchone()[0] == "off"
    with postgis.ephemeral_schema(run_id) as schema, schema.connect() as conn:
        jit, path = conn.execute("SELECT current_setting('jit'), current_schema()").fetchone()
        assert jit == "off" and path == schema.name


def test_schema_dropped_when_the_body_raises(postgis, run_id):
    name = schema_name_for_run(run_id)
    with pytest.raises(ZeroDivisionError), postgis.ephemeral_schema(run_id) as schema:
        schema.create_table_as("t", sql.SQL("SELECT 1 AS x"))
        _ = 1 / 0
    assert not _schema_exists(postgis, name)


def test_schema_dropped_on_keyboard_interrupt_and_failed_sql(postgis, run_id):
    name = schema_name_for_run(run_id)
    with pytest.raises(KeyboardInterrupt), postgis.ephemeral_schema(run_id):
        raise KeyboardInterrupt
    assert not _schema_exists(postgis, name)
    with (
        pytest.raises(Exception, match="does_not_exist"),
        postgis.ephemeral_schema(run_id) as s,
        s.connect() as conn,
    ):
        conn.execute("SELECT * FROM does_not_exist")
    assert not _schema_exists(postgis, name)


def test_drop_terminates_a_session_still_holding_locks(postgis, run_id):
    name = schema_name_for_run(run_id)
    with postgis.ephemeral_schema(run_id) as schema:
        schema.create_table_as("t", sql.SQL("SELECT 1 AS x"))
        # A session (as GDAL would open with PGAPPNAME) holds a lock in an open transaction.
        holder = postgis.connect(application_name=postgis.application_name_for(name))
        holder.execute(sql.SQL("LOCK TABLE {} IN ACCESS EXCLUSIVE MODE").format(schema.table("t")))
    assert not _schema_exists(postgis, name)
    holder.close()


def test_janitor_lists_and_drops_orphans(postgis):
    active, orphan = str(uuid.uuid4()), str(uuid.uuid4())
    with postgis.ephemeral_schema(active):
        with postgis.connect(autocommit=True) as conn:
            conn.execute(
                sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(schema_name_for_run(orphan)))
            )
        found = {info.run_id for info in postgis.list_run_schemas()}
        assert {active, orphan} <= found
        # Every other schema found counts as active too: the test database is shared, and a
        # sweep of all orphans would drop the schemas of tests running beside this one.
        others = found - {active, orphan}
        dropped = postgis.drop_orphan_schemas({active, *others})
        assert schema_name_for_run(orphan) in dropped
        assert schema_name_for_run(active) not in dropped
        assert _schema_exists(postgis, schema_name_for_run(active))
    assert not _schema_exists(postgis, schema_name_for_run(orphan))
    with pytest.raises(ValueError, match="refusing"):
        postgis.drop_run_schema("public")


def test_rerun_starts_from_a_clean_schema(postgis, run_id):
    with postgis.connect(autocommit=True) as conn:
        conn.execute(
            sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(schema_name_for_run(run_id)))
        )
        conn.execute(
            sql.SQL("CREATE TABLE {} (x int)").format(
                sql.Identifier(schema_name_for_run(run_id), "leftover")
            )
        )
    with postgis.ephemeral_schema(run_id) as schema:
        assert not schema.table_exists("leftover")


def test_from_settings_reads_the_environment(postgis_service):
    resource = Postgis.from_settings()
    assert resource.database == postgis_service.database
    assert resource.postgis_version().startswith("3.")
