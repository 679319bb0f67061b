"""Thin Dagster resources that hand out the platform's plain clients (``get_client()``).

The clients (:class:`etl_storage.ObjectStore`, :class:`etl_storage.Ledger`,
:class:`etl_spatial.postgis.Postgis`) know nothing of Dagster; these resources only carry
their configuration, with secrets as ``EnvVar`` resolved at run time and never stored in the
definitions, and build one client per initialised resource.
"""

import os
from typing import Any

import dagster as dg
from etl_instance.heartbeat import RunWorkerHeartbeat
from pydantic import PrivateAttr

from etl_models.settings import LedgerSettings, ObjectStoreSettings, PostgisSettings
from etl_spatial.postgis import Postgis
from etl_storage.ledger import Ledger
from etl_storage.object_store import ObjectStore


class ObjectStoreResource(dg.ConfigurableResource):
    """The landing bucket and the lake (MinIO/S3)."""

    endpoint: str
    access_key: str
    secret_key: str
    secure: bool = False
    region: str = "us-east-1"
    landing_bucket: str = "landing-zone"
    lake_bucket: str = "data-lake"

    _client: Any = PrivateAttr(default=None)

    @classmethod
    def from_env(cls) -> "ObjectStoreResource":
        s = ObjectStoreSettings()
        return cls(
            endpoint=dg.EnvVar("MINIO_ENDPOINT"),
            access_key=dg.EnvVar("MINIO_ROOT_USER"),
            secret_key=dg.EnvVar("MINIO_ROOT_PASSWORD"),
            secure=s.secure,
            region=s.region,
            landing_bucket=s.landing_bucket,
            lake_bucket=s.lake_bucket,
        )

    def get_client(self) -> ObjectStore:
        if self._client is None:
            self._client = ObjectStore(
                endpoint=self.endpoint,
                access_key=self.access_key,
                secret_key=self.secret_key,
                secure=self.secure,
                region=self.region,
                landing_bucket=self.landing_bucket,
                lake_bucket=self.lake_bucket,
            )
        return self._client


class LedgerResource(dg.ConfigurableResource):
    """The MongoDB ledger; the connection string may carry credentials (an ``EnvVar``)."""

    connection_string: str
    database: str = "spatial_etl"

    _client: Any = PrivateAttr(default=None)

    @classmethod
    def from_env(cls) -> "LedgerResource":
        return cls(
            connection_string=dg.EnvVar("MONGO_CONNECTION_STRING"),
            database=LedgerSettings().database,
        )

    def get_client(self) -> Ledger:
        if self._client is None:
            self._client = Ledger(connection_string=self.connection_string, database=self.database)
        return self._client

    def teardown_after_execution(self, context: dg.InitResourceContext) -> None:
        if self._client is not None:
            self._client.close()


class PostgisResource(dg.ConfigurableResource):
    """The PostGIS compute database."""

    host: str = "127.0.0.1"
    port: int = 5432
    user: str = "postgres"
    password: str = ""
    database: str = "spatial_compute"

    @classmethod
    def from_env(cls) -> "PostgisResource":
        s = PostgisSettings()
        password = dg.EnvVar("POSTGRES_PASSWORD") if os.environ.get("POSTGRES_PASSWORD") else ""
        return cls(host=s.host, port=s.port, user=s.user, password=password, database=s.database)

    def get_client(self) -> Postgis:
        return Postgis(
            host=self.host,
            port=self.port,
            user=self.user,
            password=self.password,
            database=self.database,
        )


def platform_resources() -> dict[str, Any]:
    """The resources every location binds; secrets resolve from the environment at run time."""
    return {
        "object_store": ObjectStoreResource.from_env(),
        "ledger": LedgerResource.from_env(),
        "postgis": PostgisResource.from_env(),
        # Stamps the run's heartbeat tag, so a run whose worker died is failed (and retried)
        # by run monitoring instead of staying STARTED; see etl_instance.heartbeat.
        "run_worker_heartbeat": RunWorkerHeartbeat(),
    }


def resources_for(store: ObjectStore, ledger: Ledger, postgis: Postgis) -> dict[str, Any]:
    """The platform's resource keys configured like existing clients (tests, benchmarks)."""
    return {
        "object_store": ObjectStoreResource(
            endpoint=store.endpoint,
            access_key=store.access_key,
            secret_key=store.secret_key,
            secure=store.secure,
            region=store.region,
            landing_bucket=store.landing_bucket,
            lake_bucket=store.lake_bucket,
        ),
        "ledger": LedgerResource(
            connection_string=ledger.connection_string, database=ledger.database
        ),
        "postgis": PostgisResource(
            host=postgis.host,
            port=postgis.port,
            user=postgis.user,
            password=postgis.password,
            database=postgis.database,
        ),
        "run_worker_heartbeat": RunWorkerHeartbeat(),
    }
