"""Fixtures of the storage tests: resources bound to the harness's real servers."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from etl_storage import Ledger, ObjectStore


@pytest.fixture
def store(s3_service, buckets) -> ObjectStore:
    """An ObjectStore on the session's S3 server with a fresh landing/lake bucket pair."""
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
    resource = Ledger(
        connection_string=mongo_service.connection_string,
        database=ledger_database,
        server_selection_timeout_ms=5_000,
    )
    resource.migrate()
    yield resource
    resource.close()
