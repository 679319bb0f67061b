"""Thin Dagster resources that hand out the platform's plain clients (``get_client()``).

The clients (:class:`etl_storage.ObjectStore`, :class:`etl_storage.Ledger`,
:class:`etl_spatial.postgis.Postgis`) know nothing of Dagster; these resources only carry
their configuration, with secrets as ``EnvVar`` resolved at run time and never stored in the
definitions, and build one client per initialised resource. A resource's fields are exactly
its client's constructor arguments.
"""

import os
from typing import Any, ClassVar

import dagster as dg
from etl_instance.heartbeat import RunWorkerHeartbeat
from pydantic import PrivateAttr

from etl_models.settings import LedgerSettings, ObjectStoreSettings, PostgisSettings
from etl_spatial.postgis import Postgis
from etl_storage.ledger import Ledger
from etl_storage.object_store import ObjectStore


class _ClientResource(dg.ConfigurableResource):
    """A resource that builds one ``client_class`` from its own fields, on first use."""

    client_class: ClassVar[type]
    _client: Any = PrivateAttr(default=None)

    @classmethod
    def like(cls, client: Any) -> Any:
        """A resource configured like an existing client (tests, benchmarks)."""
        return cls(**{name: getattr(client, name) for name in cls.model_fields})

    def get_client(self) -> Any:
        if self._client is None:
            config = {name: getattr(self, name) for name in type(self).model_fields}
            self._client = self.client_class(**config)
        return self._client


class ObjectStoreResource(_ClientResource):
    """The landing bucket and the lake (MinIO/S3)."""

    client_class = ObjectStore

    endpoint: str
    access_key: str
    secret_key: str
    secure: bool = False
    region: str = "us-east-1"
    landing_bucket: str = "landing-zone"
    lake_bucket: str = "data-lake"

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
        return super().get_client()


class LedgerResource(_ClientResource):
    """The MongoDB ledger; the connection string may carry credentials (an ``EnvVar``)."""

    client_class = Ledger

    connection_string: str
    database: str = "spatial_etl"

    @classmethod
    def from_env(cls) -> "LedgerResource":
        return cls(
            connection_string=dg.EnvVar("MONGO_CONNECTION_STRING"),
            database=LedgerSettings().database,
        )

    def get_client(self) -> Ledger:
        return super().get_client()

    def teardown_after_execution(self, context: dg.InitResourceContext) -> None:
        if self._client is not None:
            self._client.close()


class PostgisResource(_ClientResource):
    """The PostGIS compute database."""

    client_class = Postgis

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
        return super().get_client()


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
        "object_store": ObjectStoreResource.like(store),
        "ledger": LedgerResource.like(ledger),
        "postgis": PostgisResource.like(postgis),
        "run_worker_heartbeat": RunWorkerHeartbeat(),
    }
