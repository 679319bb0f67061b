"""Preflight of the local stack: what it needs but does not start itself."""

from __future__ import annotations

import shutil
from collections.abc import Callable

from etl_devstack.stack_config import StackConfig, StackError


def preflight(c: StackConfig, log: Callable[[str], None] = print) -> None:
    """PostgreSQL reachable with PostGIS available (errors say what to do); GDAL tools on
    PATH (a warning only: the stack starts, the spatial lanes would fail)."""
    import psycopg

    try:
        with psycopg.connect(
            host=c.postgres_host,
            port=c.postgres_port,
            user=c.postgres_user,
            password=c.postgres_password or None,
            dbname="postgres",
            connect_timeout=5,
        ) as conn:
            version = int(conn.execute("SHOW server_version_num").fetchone()[0]) // 10000
            has_postgis = conn.execute(
                "SELECT 1 FROM pg_available_extensions WHERE name = 'postgis'"
            ).fetchone()
    except psycopg.OperationalError as exc:
        raise StackError(
            f"PostgreSQL is not reachable at {c.postgres_host}:{c.postgres_port} as user "
            f"{c.postgres_user!r} ({exc}). Start it (Debian: `pg_ctlcluster <version> main "
            "start`) or point POSTGRES_HOST/POSTGRES_PORT/POSTGRES_USER/POSTGRES_PASSWORD "
            "at a running server."
        ) from exc
    if not has_postgis:
        raise StackError(
            f"PostGIS is not installed for PostgreSQL {version} at "
            f"{c.postgres_host}:{c.postgres_port}. Install it with "
            f"`apt-get install postgresql-{version}-postgis-3` (as root; "
            "`bash scripts/bootstrap.sh` does this), then run this again."
        )
    missing = [tool for tool in ("gdalinfo", "ogr2ogr") if shutil.which(tool) is None]
    if missing:
        log(
            f"warning: GDAL tools {', '.join(missing)} not on PATH; the GDAL health check "
            "and spatial lanes will fail. Install with `apt-get install gdal-bin`."
        )
