"""Pytest harness: real services for the whole test session.

By default it starts moto's S3 server and SecantusDB on free loopback ports and uses PostGIS on
the local PostgreSQL (database ``spatial_compute_test``). Set ``ETL_TEST_EXTERNAL_SERVICES=1`` to
use the services named by the usual environment variables (``MINIO_ENDPOINT``,
``MONGO_CONNECTION_STRING``, ``POSTGRES_*``) instead, e.g. the compose stack.

Fixtures export the effective settings as environment variables for the session, so code under
test reads them exactly as in production.

``deployed_platform`` runs the whole platform (both code-location gRPC servers, the daemon and
the webserver on one PostgreSQL-backed instance) with the same code as ``make up``, on free
ports in a temporary directory, for end-to-end tests through the webserver's GraphQL API.
"""

from __future__ import annotations

import os
import uuid
import warnings
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import pymongo
import pytest

from etl_devstack.drops import Landing, wait_until
from etl_devstack.services import (
    LOOPBACK,
    ManagedProcess,
    drop_database,
    ensure_buckets,
    ensure_postgis_database,
    free_port,
    mongo_server,
    s3_server,
)
from etl_devstack.stack import (
    Stack,
    isolated_config,
    stack_processes,
)
from etl_devstack.webserver_client import DagsterWebserverClient, RunInfo

if TYPE_CHECKING:
    from etl_storage.ledger import Ledger
    from etl_storage.object_store import ObjectStore

T = TypeVar("T")

EXTERNAL = os.environ.get("ETL_TEST_EXTERNAL_SERVICES") == "1"
TEST_COMPUTE_DB = "spatial_compute_test"


@dataclass
class S3Service:
    endpoint: str
    access_key: str
    secret_key: str
    process: ManagedProcess | None

    def client(self):
        from minio import Minio

        return Minio(
            self.endpoint, access_key=self.access_key, secret_key=self.secret_key, secure=False
        )


@dataclass
class MongoService:
    connection_string: str
    process: ManagedProcess | None

    def client(self, **kwargs):
        import pymongo

        return pymongo.MongoClient(self.connection_string, serverSelectionTimeoutMS=5000, **kwargs)


@dataclass
class PostgisService:
    host: str
    port: int
    user: str
    password: str
    database: str

    def conninfo(self) -> str:
        from psycopg.conninfo import make_conninfo

        return make_conninfo(
            host=self.host,
            port=self.port,
            user=self.user,
            password=self.password or None,
            dbname=self.database,
        )


@pytest.fixture(scope="session")
def service_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("services")


@pytest.fixture(scope="session")
def s3_service(service_dir: Path) -> Iterator[S3Service]:
    """The S3 API server (moto standalone, or external MinIO)."""
    if EXTERNAL:
        service = S3Service(
            os.environ["MINIO_ENDPOINT"],
            os.environ["MINIO_ROOT_USER"],
            os.environ["MINIO_ROOT_PASSWORD"],
            None,
        )
        yield service
        return
    port = free_port()
    proc = s3_server(port, service_dir / "s3.log").start()
    service = S3Service(f"{LOOPBACK}:{port}", "testing-user", "testing-secret", proc)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("MINIO_ENDPOINT", service.endpoint)
        mp.setenv("MINIO_ROOT_USER", service.access_key)
        mp.setenv("MINIO_ROOT_PASSWORD", service.secret_key)
        mp.setenv("MINIO_SECURE", "false")
        try:
            yield service
        finally:
            proc.stop()


@pytest.fixture(scope="session")
def mongo_service(service_dir: Path) -> Iterator[MongoService]:
    """The Mongo wire-protocol server (SecantusDB, or external MongoDB)."""
    if EXTERNAL:
        yield MongoService(os.environ["MONGO_CONNECTION_STRING"], None)
        return
    port = free_port()
    proc = mongo_server(port, service_dir / "mongo-data", service_dir / "mongo.log").start()
    service = MongoService(f"mongodb://{LOOPBACK}:{port}", proc)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("MONGO_CONNECTION_STRING", service.connection_string)
        try:
            yield service
        finally:
            proc.stop()


@pytest.fixture(scope="session")
def postgis_service() -> Iterator[PostgisService]:
    """PostGIS on the local PostgreSQL (or the one named by ``POSTGRES_*``)."""
    service = PostgisService(
        host=os.environ.get("POSTGRES_HOST", LOOPBACK),
        port=int(os.environ.get("POSTGRES_PORT", "5432")),
        user=os.environ.get("POSTGRES_USER", "postgres"),
        password=os.environ.get("POSTGRES_PASSWORD", ""),
        database=os.environ.get("POSTGRES_DB", TEST_COMPUTE_DB) if EXTERNAL else TEST_COMPUTE_DB,
    )
    ensure_postgis_database(
        service.database,
        host=service.host,
        port=service.port,
        user=service.user,
        password=service.password,
    )
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("POSTGRES_HOST", service.host)
        mp.setenv("POSTGRES_PORT", str(service.port))
        mp.setenv("POSTGRES_USER", service.user)
        mp.setenv("POSTGRES_DB", service.database)
        yield service


@pytest.fixture
def buckets(s3_service: S3Service) -> tuple[str, str]:
    """A fresh (landing, lake) bucket pair for one test, so tests never see each other's objects."""
    suffix = uuid.uuid4().hex[:10]
    landing, lake = f"landing-{suffix}", f"lake-{suffix}"
    ensure_buckets(
        s3_service.endpoint, s3_service.access_key, s3_service.secret_key, [landing, lake]
    )
    return landing, lake


@pytest.fixture
def ledger_database(mongo_service: MongoService) -> Iterator[str]:
    """A fresh ledger database name for one test; dropped afterwards."""
    name = f"spatial_etl_test_{uuid.uuid4().hex[:10]}"
    yield name
    client = mongo_service.client()
    try:
        client.drop_database(name)
    except pymongo.errors.PyMongoError as exc:  # a restart test may have stopped the server
        warnings.warn(f"could not drop test ledger {name}: {exc}", stacklevel=1)
    finally:
        client.close()


@dataclass
class DeployedPlatform:
    """A running deployment: webserver, daemon, one gRPC server per code location."""

    stack: Stack
    env: dict[str, str] = field(default_factory=dict)

    @property
    def client(self) -> DagsterWebserverClient:
        return self.stack.client

    @property
    def ui_url(self) -> str:
        return self.stack.config.ui_url

    @property
    def graphql_url(self) -> str:
        return self.stack.client.graphql_url

    @property
    def web_url(self) -> str:
        """The dataset catalog (etl-web) of the deployment."""
        return self.stack.config.web_url

    @property
    def web_token(self) -> str:
        """The catalog's ``ETL_WEB_TOKEN``: signing in with it allows submitting."""
        return self.env["ETL_WEB_TOKEN"]

    def launch_job(
        self,
        location: str,
        job_name: str,
        run_config: dict[str, Any] | None = None,
        tags: dict[str, str] | None = None,
    ) -> str:
        """Submit a job through the webserver (run queue -> daemon -> gRPC server); run id."""
        return self.client.launch_job(location, job_name, run_config=run_config, tags=tags)

    def wait_for_run(self, run_id: str, timeout: float = 300.0) -> str:
        """Wait for a terminal status (SUCCESS, FAILURE, CANCELED) and return it."""
        return self.client.wait_for_run(run_id, timeout)

    def run_errors(self, run_id: str) -> list[str]:
        """Error messages from the run's event log, for assertion messages."""
        return self.client.run_errors(run_id)

    # -- the deployment's services, as its users reach them ---------------------------------

    @cached_property
    def object_store(self) -> ObjectStore:
        """The deployment's landing and lake buckets (same settings as its code servers)."""
        from etl_storage.object_store import ObjectStore

        env = self.env
        return ObjectStore(
            endpoint=env["MINIO_ENDPOINT"],
            access_key=env["MINIO_ROOT_USER"],
            secret_key=env["MINIO_ROOT_PASSWORD"],
            landing_bucket=env["LANDING_BUCKET"],
            lake_bucket=env["LAKE_BUCKET"],
        )

    @cached_property
    def ledger(self) -> Ledger:
        """The deployment's ledger (MongoDB database ``MONGO_DATABASE``, default spatial_etl)."""
        from etl_models.settings import LEDGER_DATABASE
        from etl_storage.ledger import Ledger

        return Ledger(
            connection_string=self.env["MONGO_CONNECTION_STRING"],
            database=self.env.get("MONGO_DATABASE", LEDGER_DATABASE),
        )

    @property
    def landing(self) -> Landing:
        """Upload raw files and drop manifests as a user does."""
        return Landing(self.object_store)

    @property
    def compute_conninfo(self) -> str:
        """libpq connection string of the PostGIS compute database of the deployment."""
        from psycopg.conninfo import make_conninfo

        env = self.env
        return make_conninfo(
            host=env["POSTGRES_HOST"],
            port=env["POSTGRES_PORT"],
            user=env["POSTGRES_USER"],
            password=env["POSTGRES_PASSWORD"] or None,
            dbname=env["POSTGRES_DB"],
        )

    def wait_until(
        self,
        predicate: Callable[[], T],
        timeout: float,
        *,
        interval: float = 1.0,
        describe: str | Callable[[], str] = "condition",
    ) -> T:
        """Poll ``predicate`` until truthy (see :func:`etl_devstack.drops.wait_until`)."""
        return wait_until(predicate, timeout, interval=interval, describe=describe)

    def runs(self, tags: dict[str, str] | None = None) -> list[RunInfo]:
        """Dagster runs of the instance (through the webserver), optionally filtered by tags."""
        return self.client.runs(tags=tags)

    def reexecute(self, run_id: str, strategy: str = "FROM_FAILURE") -> str:
        """Re-execute a run through the webserver, as the UI's button does; the new run id."""
        return self.client.reexecute_run(run_id, strategy)

    def restart_code_server(
        self, location: str, env_overrides: Mapping[str, str] | None = None, *, kill: bool = False
    ) -> None:
        """Restart one code location's gRPC server (optionally with other settings);
        ``kill=True`` crashes it (SIGKILL to its process group) instead of stopping it."""
        self.stack.restart_code_server(location, env_overrides=env_overrides, kill=kill)

    @contextmanager
    def legacy_enabled_lanes(self, lanes: str) -> Iterator[None]:
        """Run the legacy location with ``MANIFEST_ROUTER_ENABLED_LANES=lanes`` (its sensor
        evaluates in its gRPC server), restoring the deployment's setting afterwards."""
        self.restart_code_server(
            "legacy_ingest", env_overrides={"MANIFEST_ROUTER_ENABLED_LANES": lanes}
        )
        try:
            yield
        finally:
            self.restart_code_server("legacy_ingest")


@pytest.fixture(scope="session")
def deployed_platform(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[DeployedPlatform]:
    """The whole platform on free loopback ports; torn down (no process left) after the session.

    Instance storage is a fresh PostgreSQL database ``dagster_e2e_<hex>`` and compute a fresh
    PostGIS database ``spatial_compute_e2e_<hex>`` (both dropped afterwards). With
    ``ETL_TEST_EXTERNAL_SERVICES=1`` the S3 and Mongo endpoints come from the environment
    instead of being started here.
    """
    state_dir = tmp_path_factory.mktemp("platform")
    # The catalog is writable for people (and browser tests) who sign in with this token.
    web_env = {"ETL_WEB_TOKEN": f"e2e-{uuid.uuid4().hex}"}
    config = isolated_config(
        state_dir,
        label="e2e",
        **(
            {
                # Its own compute database otherwise: the deployment's schema janitor drops
                # every proc_* schema of a run its instance does not know, other tests' too.
                "compute_database": TEST_COMPUTE_DB,
                "external_object_store": True,
                "external_mongo": True,
                "s3_host": os.environ["MINIO_ENDPOINT"].rpartition(":")[0],
                "s3_port": int(os.environ["MINIO_ENDPOINT"].rpartition(":")[2]),
                "s3_access_key": os.environ["MINIO_ROOT_USER"],
                "s3_secret_key": os.environ["MINIO_ROOT_PASSWORD"],
                # Taken as given (it may carry credentials or a replica set).
                "extra_env": {
                    **web_env,
                    "MONGO_CONNECTION_STRING": os.environ["MONGO_CONNECTION_STRING"],
                },
            }
            if EXTERNAL
            else {"s3_port": free_port(), "mongo_port": free_port(), "extra_env": web_env}
        ),
    )
    stack = Stack(config, log=lambda message: None)
    stack.start(timeout=480)
    try:
        yield DeployedPlatform(stack=stack, env=config.environment())
    finally:
        leftovers = stack.stop()
        drop_database(
            config.dagster_database,
            host=config.dagster_postgres_host,
            port=config.dagster_postgres_port,
            user=config.dagster_postgres_user,
            password=config.dagster_postgres_password,
        )
        if config.compute_database != TEST_COMPUTE_DB:
            drop_database(
                config.compute_database,
                host=config.postgres_host,
                port=config.postgres_port,
                user=config.postgres_user,
                password=config.postgres_password,
            )
    assert not leftovers, f"platform processes/ports left after teardown: {leftovers}"
    assert not stack_processes(state_dir)
