"""Real services for the pipeline tests: S3 server, Mongo wire server, PostGIS."""

from __future__ import annotations

import pytest

from etl_pipeline.lanes import Services
from etl_spatial.postgis import PostgisResource
from etl_storage.ledger import Ledger
from etl_storage.object_store import ObjectStore


@pytest.fixture
def store(s3_service, buckets) -> ObjectStore:
    landing, lake = buckets
    return ObjectStore(
        endpoint=s3_service.endpoint,
        access_key=s3_service.access_key,
        secret_key=s3_service.secret_key,
        landing_bucket=landing,
        lake_bucket=lake,
    )


@pytest.fixture
def ledger(mongo_service, ledger_database) -> Ledger:
    ledger = Ledger(connection_string=mongo_service.connection_string, database=ledger_database)
    ledger.migrate()
    return ledger


@pytest.fixture
def postgis(postgis_service) -> PostgisResource:
    return PostgisResource(
        host=postgis_service.host,
        port=postgis_service.port,
        user=postgis_service.user,
        password=postgis_service.password,
        database=postgis_service.database,
    )


@pytest.fixture
def services(store, ledger, postgis) -> Services:
    return Services(store=store, ledger=ledger, postgis=postgis)
