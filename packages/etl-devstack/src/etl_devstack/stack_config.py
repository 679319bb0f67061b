"""Settings of one local platform stack: endpoints, credentials, databases, state directory.

``StackConfig.from_env`` reads the platform's environment variables (plus UI / gRPC ports);
``isolated_config`` gives a throwaway stack of its own (tests, benchmarks).
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from etl_devstack.services import LOOPBACK, free_port
from etl_models.settings import COMPUTE_DATABASE, LAKE_BUCKET, LANDING_BUCKET

# Every process of a stack carries this variable (children inherit it), so ``down`` can find
# descendants that left their process group and so a stale pid file never kills a stranger.
STATE_MARKER_ENV = "ETL_DEVSTACK_STATE"
PLATFORM_ENV_FILE = "platform.env"
STATE_FILE = "stack.json"
LOGS_BUCKET = "dagster-logs"
"""Bucket of the run (compute) logs, apart from the landing and lake buckets."""
COMPUTE_LOGS_PREFIX = "compute-logs"


class StackError(RuntimeError):
    """The stack cannot start or stop; the message says what to do."""


@dataclass(frozen=True)
class CodeLocation:
    """One code location served by its own gRPC server."""

    name: str
    module: str
    port: int
    port_env: str  # environment variable that overrides the port
    health_job: str  # the location's GDAL health-check job


DEFAULT_LOCATIONS: tuple[CodeLocation, ...] = (
    CodeLocation(
        "asset_lanes",
        "asset_lanes.definitions",
        4266,
        "ASSET_LANES_GRPC_PORT",
        "asset_lanes_gdal_health_job",
    ),
    CodeLocation(
        "legacy_ingest",
        "legacy_ingest.definitions",
        4267,
        "LEGACY_INGEST_GRPC_PORT",
        "legacy_ingest_gdal_health_job",
    ),
)


def find_repo_root(start: Path | None = None) -> Path:
    """The workspace root: the nearest ancestor of ``start`` (default: cwd) holding
    ``infra/dagster.yaml``."""
    here = (start or Path.cwd()).resolve()
    for candidate in (here, *here.parents):
        if (candidate / "infra" / "dagster.yaml").is_file():
            return candidate
    raise StackError(
        f"no infra/dagster.yaml above {here}: run this from the repository checkout "
        "(e.g. `make up` at its root)"
    )


def _host_port(value: str, variable: str) -> tuple[str, int]:
    host, sep, port = value.rpartition(":")
    if not sep or not host or not port.isdigit() or "/" in value:
        raise StackError(
            f"{variable} must be HOST:PORT without a scheme (got {value!r}); e.g. 127.0.0.1:9000"
        )
    return host, int(port)


def _mongo_host_port(value: str) -> tuple[str, int]:
    parts = urlsplit(value)
    if parts.scheme != "mongodb" or not parts.hostname or "," in parts.netloc or parts.username:
        raise StackError(
            "the embedded stack serves MongoDB itself, so MONGO_CONNECTION_STRING must be "
            f"mongodb://HOST:PORT (got {value!r}); unset it to use mongodb://127.0.0.1:27017, "
            "or use the compose stack for a real MongoDB"
        )
    return parts.hostname, parts.port or 27017


def _int_env(environ: Mapping[str, str], name: str, default: int) -> int:
    raw = environ.get(name)
    if raw is None or raw == "":
        return default
    if not raw.isdigit():
        raise StackError(f"{name} must be a port number (got {raw!r}); e.g. {name}={default}")
    return int(raw)


@dataclass(frozen=True)
class StackConfig:
    """Effective settings of one stack: endpoints, credentials, databases, state directory."""

    state_dir: Path
    infra_dir: Path
    host: str = LOOPBACK
    s3_host: str = LOOPBACK
    s3_port: int = 9000
    s3_access_key: str = "minioadmin"
    s3_secret_key: str = "minioadmin"  # noqa: S105 - local default, like MinIO's own
    s3_region: str = "us-east-1"
    logs_bucket: str = LOGS_BUCKET
    compute_logs_prefix: str = COMPUTE_LOGS_PREFIX
    mongo_host: str = LOOPBACK
    mongo_port: int = 27017
    ui_host: str = LOOPBACK
    ui_port: int = 3000
    # The dataset catalog (etl-web): a web app and STAC API over the ledger.
    web_host: str = LOOPBACK
    web_port: int = 8080
    postgres_host: str = LOOPBACK
    postgres_port: int = 5432
    postgres_user: str = "postgres"
    postgres_password: str = ""
    compute_database: str = COMPUTE_DATABASE
    dagster_postgres_host: str = LOOPBACK
    dagster_postgres_port: int = 5432
    dagster_postgres_user: str = "postgres"
    dagster_postgres_password: str = ""
    dagster_database: str = "dagster"
    enabled_lanes: str = "ingest"
    locations: tuple[CodeLocation, ...] = DEFAULT_LOCATIONS
    # External services (e.g. compose): use the given S3 / Mongo endpoints, start neither.
    external_object_store: bool = False
    external_mongo: bool = False
    extra_env: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def from_env(
        cls,
        state_dir: Path,
        infra_dir: Path,
        environ: Mapping[str, str] | None = None,
    ) -> StackConfig:
        """Defaults overridden by the platform's environment variables (plus UI / gRPC ports)."""
        env = os.environ if environ is None else environ
        s3_host, s3_port = _host_port(env.get("MINIO_ENDPOINT", "127.0.0.1:9000"), "MINIO_ENDPOINT")
        mongo_host, mongo_port = _mongo_host_port(
            env.get("MONGO_CONNECTION_STRING", "mongodb://127.0.0.1:27017")
        )
        pg_host = env.get("POSTGRES_HOST", LOOPBACK)
        pg_port = _int_env(env, "POSTGRES_PORT", 5432)
        pg_user = env.get("POSTGRES_USER", "postgres")
        pg_password = env.get("POSTGRES_PASSWORD", "")
        locations = tuple(
            replace(loc, port=_int_env(env, loc.port_env, loc.port)) for loc in DEFAULT_LOCATIONS
        )
        return cls(
            state_dir=state_dir.resolve(),
            infra_dir=infra_dir.resolve(),
            s3_host=s3_host,
            s3_port=s3_port,
            s3_access_key=env.get("MINIO_ROOT_USER", "minioadmin"),
            s3_secret_key=env.get("MINIO_ROOT_PASSWORD", "minioadmin"),
            logs_bucket=env.get("DAGSTER_COMPUTE_LOGS_BUCKET", LOGS_BUCKET),
            compute_logs_prefix=env.get("DAGSTER_COMPUTE_LOGS_PREFIX", COMPUTE_LOGS_PREFIX),
            mongo_host=mongo_host,
            mongo_port=mongo_port,
            ui_host=env.get("DAGSTER_UI_HOST", LOOPBACK),
            ui_port=_int_env(env, "DAGSTER_UI_PORT", 3000),
            web_host=env.get("ETL_WEB_HOST", LOOPBACK),
            web_port=_int_env(env, "ETL_WEB_PORT", 8080),
            postgres_host=pg_host,
            postgres_port=pg_port,
            postgres_user=pg_user,
            postgres_password=pg_password,
            compute_database=env.get("POSTGRES_DB", COMPUTE_DATABASE),
            dagster_postgres_host=env.get("DAGSTER_POSTGRES_HOST", pg_host),
            dagster_postgres_port=_int_env(env, "DAGSTER_POSTGRES_PORT", pg_port),
            dagster_postgres_user=env.get("DAGSTER_POSTGRES_USER", pg_user),
            dagster_postgres_password=env.get("DAGSTER_POSTGRES_PASSWORD", pg_password),
            dagster_database=env.get("DAGSTER_POSTGRES_DB", "dagster"),
            enabled_lanes=env.get("MANIFEST_ROUTER_ENABLED_LANES", "ingest"),
            locations=locations,
        )

    @property
    def dagster_home(self) -> Path:
        return self.state_dir / "dagster_home"

    @property
    def workspace_file(self) -> Path:
        return self.dagster_home / "workspace.yaml"

    @property
    def logs_dir(self) -> Path:
        return self.state_dir / "logs"

    @property
    def pids_dir(self) -> Path:
        return self.state_dir / "pids"

    @property
    def mongo_data_dir(self) -> Path:
        return self.state_dir / "mongo-data"

    @property
    def ui_url(self) -> str:
        return f"http://{self.ui_host}:{self.ui_port}"

    @property
    def web_url(self) -> str:
        return f"http://{self.web_host}:{self.web_port}"

    @property
    def s3_endpoint(self) -> str:
        return f"{self.s3_host}:{self.s3_port}"

    @property
    def s3_url(self) -> str:
        """The S3 endpoint as a URL (what boto3 and the compute log manager take)."""
        return f"http://{self.s3_endpoint}"

    @property
    def buckets(self) -> list[str]:
        """Every bucket the stack's S3 server must have."""
        return [LANDING_BUCKET, LAKE_BUCKET, self.logs_bucket]

    @property
    def mongo_connection_string(self) -> str:
        return f"mongodb://{self.mongo_host}:{self.mongo_port}"

    def environment(self) -> dict[str, str]:
        """The effective settings as environment variables (what ``platform.env`` holds)."""
        env = {
            "MINIO_ENDPOINT": self.s3_endpoint,
            "MINIO_ROOT_USER": self.s3_access_key,
            "MINIO_ROOT_PASSWORD": self.s3_secret_key,
            "MINIO_SECURE": "false",
            "LANDING_BUCKET": LANDING_BUCKET,
            "LAKE_BUCKET": LAKE_BUCKET,
            "MONGO_CONNECTION_STRING": self.mongo_connection_string,
            "POSTGRES_HOST": self.postgres_host,
            "POSTGRES_PORT": str(self.postgres_port),
            "POSTGRES_USER": self.postgres_user,
            "POSTGRES_PASSWORD": self.postgres_password,
            "POSTGRES_DB": self.compute_database,
            "DAGSTER_POSTGRES_HOST": self.dagster_postgres_host,
            "DAGSTER_POSTGRES_PORT": str(self.dagster_postgres_port),
            "DAGSTER_POSTGRES_USER": self.dagster_postgres_user,
            "DAGSTER_POSTGRES_PASSWORD": self.dagster_postgres_password,
            "DAGSTER_POSTGRES_DB": self.dagster_database,
            "DAGSTER_HOME": str(self.dagster_home),
            "DAGSTER_UI_URL": self.ui_url,
            "MANIFEST_ROUTER_ENABLED_LANES": self.enabled_lanes,
            # Run logs (S3ComputeLogManager): boto3 reads the credentials from these.
            "DAGSTER_COMPUTE_LOGS_BUCKET": self.logs_bucket,
            "DAGSTER_COMPUTE_LOGS_PREFIX": self.compute_logs_prefix,
            "DAGSTER_COMPUTE_LOGS_ENDPOINT_URL": self.s3_url,
            "AWS_ACCESS_KEY_ID": self.s3_access_key,
            "AWS_SECRET_ACCESS_KEY": self.s3_secret_key,
            "AWS_DEFAULT_REGION": self.s3_region,
        }
        for loc in self.locations:
            env[loc.port_env] = str(loc.port)
        env.update(self.extra_env)
        return env

    def process_environment(self) -> dict[str, str]:
        """Environment of every stack process: ours + effective settings + the state marker."""
        env = {**os.environ, **self.environment()}
        env[STATE_MARKER_ENV] = str(self.state_dir)
        env["PYTHONUNBUFFERED"] = "1"
        # Only the stack's own processes are the deployed instance (sensors running); not in
        # platform.env, so a `dg dev` started with those settings keeps its sensors stopped.
        env["ETL_DEPLOYED"] = "1"
        return env


def isolated_config(state_dir: Path, *, label: str, **overrides: Any) -> StackConfig:
    """A stack of its own beside any other (tests, benchmarks): the UI and both code servers
    on free loopback ports, instance storage and compute in fresh ``dagster_{label}_<hex>`` and
    ``spatial_compute_{label}_<hex>`` databases on the PostgreSQL named by ``POSTGRES_*``
    (default: the local server). ``overrides`` replace any other field (S3, Mongo, env)."""
    root = find_repo_root(Path(__file__))
    token = uuid.uuid4().hex[:10]
    host = os.environ.get("POSTGRES_HOST", LOOPBACK)
    port = int(os.environ.get("POSTGRES_PORT", "5432"))
    user = os.environ.get("POSTGRES_USER", "postgres")
    password = os.environ.get("POSTGRES_PASSWORD", "")
    fields: dict[str, Any] = {
        "postgres_host": host, "postgres_port": port,
        "postgres_user": user, "postgres_password": password,
        "dagster_postgres_host": host, "dagster_postgres_port": port,
        "dagster_postgres_user": user, "dagster_postgres_password": password,
        "compute_database": f"spatial_compute_{label}_{token}",
        "dagster_database": f"dagster_{label}_{token}",
        "ui_port": free_port(),
        "web_port": free_port(),
        "locations": tuple(replace(loc, port=free_port()) for loc in DEFAULT_LOCATIONS),
    }  # fmt: skip
    base = StackConfig.from_env(state_dir, root / "infra", environ={})
    return replace(base, **{**fields, **overrides})
