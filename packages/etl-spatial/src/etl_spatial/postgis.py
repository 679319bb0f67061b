"""PostGIS as the transient compute engine: one ephemeral schema per Dagster run.

The schema of run ``0b0f...-...`` is ``proc_0b0f..._...`` (the run id with ``-`` replaced by
``_``), so a janitor can map any leftover schema back to its run and drop it once that run is no
longer active. :meth:`Postgis.ephemeral_schema` creates the schema and drops it on every exit
path, including exceptions, ``KeyboardInterrupt`` and an orchestrator's run-cancel interrupt.

:class:`Postgis` is a plain class with no orchestrator dependency; the pipeline wraps it in its
own resource.
"""

from __future__ import annotations

import contextlib
import json
import logging
import re
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, NamedTuple
from urllib.parse import quote

from etl_spatial.identifiers import quote_identifier, validate_identifier

if TYPE_CHECKING:
    import psycopg
    from psycopg import sql

    from etl_models.settings import PostgisSettings

logger = logging.getLogger(__name__)

SCHEMA_PREFIX = "proc_"
_RUN_ID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
_RUN_SCHEMA = re.compile(
    r"^proc_([0-9a-f]{8})_([0-9a-f]{4})_([0-9a-f]{4})_([0-9a-f]{4})_([0-9a-f]{12})$"
)
_APPLICATION_PREFIX = "etl_spatial:"


class InvalidRunId(ValueError):
    """A run id that is not a lowercase UUID string (the form Dagster uses)."""


class SchemaCleanupError(RuntimeError):
    """The ephemeral schema of a run could not be dropped; the janitor will retry."""


def schema_name_for_run(run_id: str) -> str:
    """``proc_<run id with - as _>`` for a Dagster run id (a lowercase UUID string)."""
    if not isinstance(run_id, str) or not _RUN_ID.match(run_id):
        raise InvalidRunId(
            f"run_id {run_id!r} is not a Dagster run id; expected a lowercase UUID such as "
            "'0b0f5e4a-8a0e-4c8e-9d7c-2f1f3c1b2a10'"
        )
    return SCHEMA_PREFIX + run_id.replace("-", "_")


def run_id_for_schema(schema: str) -> str:
    """Inverse of :func:`schema_name_for_run`; raises ``ValueError`` for any other name."""
    match = _RUN_SCHEMA.match(schema) if isinstance(schema, str) else None
    if match is None:
        raise ValueError(
            f"schema {schema!r} is not a run schema; expected 'proc_' followed by a run id "
            "with '-' replaced by '_'"
        )
    return "-".join(match.groups())


def is_run_schema(schema: str) -> bool:
    """Whether ``schema`` is named like a run schema."""
    return bool(_RUN_SCHEMA.match(schema))


class RunSchemaInfo(NamedTuple):
    """A run schema found in the database, for the janitor."""

    schema: str
    run_id: str


@dataclass(frozen=True)
class RunSchema:
    """The ephemeral schema of one run, with helpers to name and create tables in it."""

    name: str
    run_id: str
    postgis: Postgis

    @property
    def identifier(self) -> sql.Identifier:
        """The quoted schema name."""
        return quote_identifier(self.name)

    def table(self, table: str) -> sql.Identifier:
        """Quoted ``"schema"."table"`` for use in ``psycopg.sql`` compositions."""
        return quote_identifier(self.name, table)

    def qualified(self, table: str) -> str:
        """``schema.table`` as plain text (both parts validated), e.g. for ``ogr2ogr -nln``."""
        return f"{self.name}.{validate_identifier(table, what='table name')}"

    def connect(self, **kwargs: Any) -> psycopg.Connection[Any]:
        """A connection whose ``search_path`` starts with this schema."""
        return self.postgis.connect(search_path=(self.name, "public"), **kwargs)

    def create_table_as(
        self,
        table: str,
        query: sql.Composable,
        params: Sequence[Any] | Mapping[str, Any] | None = None,
        *,
        conn: psycopg.Connection[Any] | None = None,
    ) -> int:
        """``CREATE UNLOGGED TABLE schema.table AS <query>``; returns the number of rows.

        Transient tables are UNLOGGED (no WAL) and get no index: a step that needs one creates
        it explicitly.
        """
        from psycopg import sql

        statement = sql.SQL("CREATE UNLOGGED TABLE {} AS ").format(self.table(table)) + query
        with contextlib.ExitStack() as stack:
            if conn is None:
                conn = stack.enter_context(self.connect(autocommit=True))
            cursor = conn.execute(statement, params)
            return cursor.rowcount

    def table_exists(self, table: str) -> bool:
        """Whether ``schema.table`` exists."""
        with self.connect(autocommit=True) as conn:
            row = conn.execute(
                "SELECT to_regclass(%s) IS NOT NULL",
                (f'"{self.name}"."{validate_identifier(table, what="table name")}"',),
            ).fetchone()
        return bool(row and row[0])

    def row_count(self, table: str) -> int:
        """``count(*)`` of ``schema.table``."""
        from psycopg import sql

        with self.connect(autocommit=True) as conn:
            row = conn.execute(
                sql.SQL("SELECT count(*) FROM {}").format(self.table(table))
            ).fetchone()
        return int(row[0]) if row else 0


@dataclass(frozen=True, kw_only=True)
class Postgis:
    """Connection settings of the PostGIS compute database (``spatial_compute``), with the run
    schema lifecycle and janitor queries.

    The password is only ever given to libpq in-process or to GDAL through ``PGPASSWORD``; it is
    left out of ``repr``.
    """

    host: str = "127.0.0.1"
    port: int = 5432
    user: str = "postgres"
    password: str = field(default="", repr=False)
    database: str = "spatial_compute"
    connect_timeout: int = 10
    """Seconds to wait for a connection."""

    @classmethod
    def from_settings(cls, settings: PostgisSettings | None = None) -> Postgis:
        """Build from :class:`etl_models.settings.PostgisSettings` (read from the environment)."""
        from etl_models.settings import PostgisSettings

        s = settings if settings is not None else PostgisSettings()
        return cls(
            host=s.host,
            port=s.port,
            user=s.user,
            password=s.password.get_secret_value(),
            database=s.database,
        )

    # -- connections -------------------------------------------------------------------------

    def connect(
        self,
        *,
        autocommit: bool = False,
        search_path: Sequence[str] | None = None,
        application_name: str | None = None,
    ) -> psycopg.Connection[Any]:
        """A new psycopg connection (use as a context manager)."""
        import psycopg

        # No JIT: the recipe's nested CTAS and profile queries cost enough to be compiled, and
        # compiling them took longer than running them (1M points: recipe 8.3 s -> 4.4 s).
        options = "-c jit=off"
        if search_path:
            # Identifiers were validated; libpq options escape spaces with backslashes.
            options += " -c search_path=" + ",".join(
                validate_identifier(s, what="schema") for s in search_path
            )
        return psycopg.connect(
            host=self.host,
            port=self.port,
            user=self.user,
            password=self.password or None,
            dbname=self.database,
            autocommit=autocommit,
            connect_timeout=self.connect_timeout,
            application_name=application_name or "etl_spatial",
            options=options,
        )

    def libpq_env(self, application_name: str | None = None) -> dict[str, str]:
        """``PG*`` environment variables for GDAL's PostgreSQL driver (the only place of the
        password for subprocesses)."""
        env = {
            "PGHOST": self.host,
            "PGPORT": str(self.port),
            "PGUSER": self.user,
            "PGDATABASE": self.database,
            "PGCONNECT_TIMEOUT": str(self.connect_timeout),
        }
        if self.password:
            env["PGPASSWORD"] = self.password
        if application_name:
            env["PGAPPNAME"] = application_name
        return env

    def ogr_pg_datasource(self, schema: str | None = None) -> str:
        """GDAL datasource string ``PG:dbname=... host=... port=... user=...`` without password.

        With ``schema``, GDAL only sees tables of that schema (``active_schema``).
        """
        parts = {
            "dbname": self.database,
            "host": self.host,
            "port": str(self.port),
            "user": self.user,
        }
        if schema is not None:
            parts["active_schema"] = validate_identifier(schema, what="schema")
        return "PG:" + " ".join(f"{k}={_libpq_quote(v)}" for k, v in parts.items())

    def adbc_uri(self) -> str:
        """``postgresql://`` URI for ADBC (contains the password: never log it)."""
        auth = quote(self.user, safe="")
        if self.password:
            auth += ":" + quote(self.password, safe="")
        database = quote(self.database, safe="")
        if self.host.startswith("/"):  # a Unix socket directory goes in the query string
            return (
                f"postgresql://{auth}@/{database}?host={quote(self.host, safe='')}&port={self.port}"
            )
        return f"postgresql://{auth}@{_uri_host(self.host)}:{self.port}/{database}"

    def adbc_connect(self) -> Any:
        """A new ADBC DB-API connection (``adbc_driver_postgresql.dbapi``)."""
        import adbc_driver_postgresql.dbapi

        return adbc_driver_postgresql.dbapi.connect(self.adbc_uri())

    # -- run schemas -------------------------------------------------------------------------

    @contextlib.contextmanager
    def ephemeral_schema(self, run_id: str) -> Iterator[RunSchema]:
        """Create the run's schema, yield it, and drop it (CASCADE) on every exit path.

        An existing schema of the same run (left by a crashed earlier attempt of a re-executed
        run) is dropped first, so every attempt starts clean.
        """
        schema = schema_name_for_run(run_id)
        self.drop_run_schema(schema)
        try:
            with self.connect(autocommit=True) as conn:
                conn.execute(_sql("CREATE SCHEMA {}").format(quote_identifier(schema)))
                comment = json.dumps(
                    {"run_id": run_id, "created_at": datetime.now(UTC).isoformat()}
                )
                # COMMENT takes no bind parameters; a JSON string of a validated run id and a
                # timestamp is quoted as a literal by psycopg.
                conn.execute(
                    _sql("COMMENT ON SCHEMA {} IS {}").format(
                        quote_identifier(schema), _literal(comment)
                    )
                )
            yield RunSchema(name=schema, run_id=run_id, postgis=self)
        except BaseException:
            # Exceptions, KeyboardInterrupt, the interrupt of a run cancel: drop, but never
            # let a cleanup error mask the original one.
            try:
                self.drop_run_schema(schema, terminate_sessions=True)
            except Exception as cleanup_error:
                logger.error("could not drop run schema %s: %s", schema, cleanup_error)
            raise
        else:
            try:
                self.drop_run_schema(schema, terminate_sessions=True)
            except Exception as exc:
                raise SchemaCleanupError(
                    f"could not drop run schema {schema}: {exc}; the janitor will retry"
                ) from exc

    def drop_run_schema(
        self, schema: str, *, terminate_sessions: bool = False, attempts: int = 3
    ) -> bool:
        """``DROP SCHEMA IF EXISTS schema CASCADE`` for a run schema; returns whether it existed.

        With ``terminate_sessions``, other sessions tagged for this schema (e.g. an ogr2ogr that
        was still loading when the step was interrupted) are terminated first so their locks do
        not block the drop.
        """
        if not is_run_schema(schema):
            raise ValueError(f"refusing to drop {schema!r}: only run schemas (proc_<run id>)")
        last_error: Exception | None = None
        for attempt in range(attempts):
            try:
                with self.connect(autocommit=True) as conn:
                    if terminate_sessions:
                        conn.execute(
                            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                            "WHERE application_name = %s AND pid <> pg_backend_pid()",
                            (self.application_name_for(schema),),
                        )
                    conn.execute("SET lock_timeout = '30s'")
                    existed = conn.execute(
                        "SELECT 1 FROM pg_namespace WHERE nspname = %s", (schema,)
                    ).fetchone()
                    conn.execute(
                        _sql("DROP SCHEMA IF EXISTS {} CASCADE").format(quote_identifier(schema))
                    )
                    return existed is not None
            except Exception as exc:  # retry transient failures (lock timeout, restart)
                last_error = exc
                time.sleep(0.5 * (attempt + 1))
        assert last_error is not None
        raise last_error

    @staticmethod
    def application_name_for(schema: str) -> str:
        """``application_name`` that sessions working in ``schema`` use (GDAL: ``PGAPPNAME``)."""
        return _APPLICATION_PREFIX + validate_identifier(schema, what="schema")

    def list_run_schemas(self) -> list[RunSchemaInfo]:
        """Every ``proc_*`` run schema in the database with its run id, for the janitor."""
        with self.connect(autocommit=True) as conn:
            rows = conn.execute(
                "SELECT nspname FROM pg_namespace WHERE nspname LIKE 'proc\\_%' ORDER BY nspname"
            ).fetchall()
        return [
            RunSchemaInfo(schema=name, run_id=run_id_for_schema(name))
            for (name,) in rows
            if is_run_schema(name)
        ]

    def drop_orphan_schemas(self, active_run_ids: set[str] | frozenset[str]) -> list[str]:
        """Drop run schemas whose run id is not in ``active_run_ids``; returns the dropped names."""
        dropped = []
        for info in self.list_run_schemas():
            if info.run_id not in active_run_ids:
                self.drop_run_schema(info.schema, terminate_sessions=True)
                dropped.append(info.schema)
        return dropped

    def postgis_version(self) -> str:
        """``postgis_lib_version()``: a cheap health check."""
        with self.connect(autocommit=True) as conn:
            row = conn.execute("SELECT postgis_lib_version()").fetchone()
        return str(row[0]) if row else ""


def _sql(template: str) -> sql.SQL:
    from psycopg import sql

    return sql.SQL(template)


def _literal(value: str) -> sql.Literal:
    from psycopg import sql

    return sql.Literal(value)


def _libpq_quote(value: str) -> str:
    if value and re.fullmatch(r"[A-Za-z0-9_.\-:/]+", value):
        return value
    escaped = value.replace("\\", "\\\\").replace("'", "\\'")
    return f"'{escaped}'"


def _uri_host(host: str) -> str:
    return f"[{host}]" if ":" in host and not host.startswith("[") else host
