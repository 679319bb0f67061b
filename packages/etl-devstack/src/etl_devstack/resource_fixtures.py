"""Pytest fixtures: the platform's resources bound to the harness's real servers.

One definition for every member's tests: ``store`` (ObjectStore on a fresh bucket pair),
``ledger`` (Ledger on a fresh, migrated database) and ``postgis`` (Postgis on the test
compute database). Heavy imports stay inside the fixtures.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from etl_spatial.postgis import Postgis
    from etl_storage.ledger import Ledger
    from etl_storage.object_store import ObjectStore


@pytest.fixture
def store(s3_service, buckets) -> ObjectStore:
    """An ObjectStore on the session's S3 server with a fresh landing/lake bucket pair."""
    from etl_storage.object_store import ObjectStore

    landing, lake = buckets
    return ObjectStore(
        endpoint=s3_service.endpoint,
        access_key=s3_service.access_key,
        secret_key=s3_service.secret_key,
        landing_bucket=landing,
        lake_bucket=lake,
    )


@pytest.fixture
def ledger(mongo_service, ledger_database) -> Iterator[Ledger]:
    """A Ledger on the session's Mongo server with a fresh database (migrated)."""
    from etl_storage.ledger import Ledger

    resource = Ledger(
        connection_string=mongo_service.connection_string,
        database=ledger_database,
        server_selection_timeout_ms=5_000,
    )
    resource.migrate()
    yield resource
    resource.close()


@pytest.fixture
def postgis(postgis_service) -> Postgis:
    """A Postgis on the session's PostGIS test database."""
    from etl_spatial.postgis import Postgis

    return Postgis(
        host=postgis_service.host,
        port=postgis_service.port,
        user=postgis_service.user,
        password=postgis_service.password,
        database=postgis_service.database,
    )
