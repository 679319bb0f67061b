"""The embedded local platform: real services on loopback plus the whole Dagster deployment.

One ``Stack`` starts, in order: the S3 API server (moto) with the landing and lake buckets, the
Mongo wire server (SecantusDB), the PostGIS compute database and the Dagster storage database on
the local PostgreSQL, one ``dagster code-server`` per code location, the daemon and the
webserver. All Dagster processes share one instance (PostgreSQL storage, ``infra/dagster.yaml``).

Processes are detached (own session and process group) so ``up`` returns while they run; each
has a pid file under ``<state>/pids`` and a log under ``<state>/logs``. ``down`` stops them by
pid file, sweeps any descendant that escaped its group, and checks that every port is closed.
The effective settings go to ``<state>/platform.env`` as ``KEY=VALUE`` lines.

The same code backs ``python -m etl_devstack`` (``make up``/``down``/``status``) and the
``deployed_platform`` pytest fixture, which runs it on free ports in a temporary directory.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from etl_devstack.services import (
    LOOPBACK,
    ManagedProcess,
    ServiceStartError,
    ensure_buckets,
    ensure_postgis_database,
    free_port,
    mongo_server,
    port_open,
    s3_server,
    stop_process_group,
)
from etl_devstack.webserver_client import DagsterWebserverClient, WebserverError
from etl_models.settings import COMPUTE_DATABASE, LAKE_BUCKET, LANDING_BUCKET

# Every process of a stack carries this variable (children inherit it), so ``down`` can find
# descendants that left their process group and so a stale pid file never kills a stranger.
STATE_MARKER_ENV = "ETL_DEVSTACK_STATE"
PLATFORM_ENV_FILE = "platform.env"
STATE_FILE = "stack.json"


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
    mongo_host: str = LOOPBACK
    mongo_port: int = 27017
    ui_host: str = LOOPBACK
    ui_port: int = 3000
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
        """Defaults overridden by the DESIGN.md environment variables (plus UI / gRPC ports)."""
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
            mongo_host=mongo_host,
            mongo_port=mongo_port,
            ui_host=env.get("DAGSTER_UI_HOST", LOOPBACK),
            ui_port=_int_env(env, "DAGSTER_UI_PORT", 3000),
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
    def s3_endpoint(self) -> str:
        return f"{self.s3_host}:{self.s3_port}"

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
        "locations": tuple(replace(loc, port=free_port()) for loc in DEFAULT_LOCATIONS),
    }  # fmt: skip
    base = StackConfig.from_env(state_dir, root / "infra", environ={})
    return replace(base, **{**fields, **overrides})


@dataclass(frozen=True)
class Component:
    """A process of the stack as recorded in the state file."""

    name: str
    host: str
    port: int | None
    log: str

    @property
    def endpoint(self) -> str:
        return f"{self.host}:{self.port}" if self.port is not None else "-"


@dataclass(frozen=True)
class ComponentStatus:
    name: str
    endpoint: str
    pid: int | None
    running: bool
    port_open: bool | None

    @property
    def up(self) -> bool:
        return self.running and self.port_open is not False


@dataclass(frozen=True)
class RunOutcome:
    """A job run launched through the webserver."""

    location: str
    job: str
    run_id: str
    status: str
    errors: tuple[str, ...] = ()


def _render_workspace(config: StackConfig) -> str:
    lines = ["# Rendered by etl_devstack: one gRPC server per code location.", "load_from:"]
    for loc in config.locations:
        lines += [
            "  - grpc_server:",
            f"      host: {config.host}",
            f"      port: {loc.port}",
            f"      location_name: {loc.name}",
        ]
    return "\n".join(lines) + "\n"


def _read_pid(path: Path) -> int | None:
    try:
        return int(path.read_text().strip())
    except (OSError, ValueError):
        return None


def _process_has_marker(pid: int, state_dir: Path) -> bool:
    """Whether ``pid`` is a live process of the stack in ``state_dir`` (guards pid reuse)."""
    marker = f"{STATE_MARKER_ENV}={state_dir}".encode()
    try:
        environ = Path(f"/proc/{pid}/environ").read_bytes()
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    if stat.rsplit(")", 1)[-1].split()[0] == "Z":
        return False
    return marker in environ.split(b"\0")


def stack_processes(state_dir: Path) -> list[int]:
    """Pids of every live process carrying the state marker of ``state_dir``."""
    proc = Path("/proc")
    if not proc.is_dir():
        return []
    return [
        int(entry.name)
        for entry in proc.iterdir()
        if entry.name.isdigit() and _process_has_marker(int(entry.name), state_dir)
    ]


class Stack:
    """Start, check and stop one platform stack described by a ``StackConfig``."""

    def __init__(self, config: StackConfig, log: Callable[[str], None] = print) -> None:
        self.config = config
        self.log = log
        self.client = DagsterWebserverClient(config.ui_url)

    # -- state -------------------------------------------------------------------------------

    @property
    def state_file(self) -> Path:
        return self.config.state_dir / STATE_FILE

    def _components(self) -> list[Component]:
        c = self.config
        comps: list[Component] = []
        if not c.external_object_store:
            comps.append(Component("s3", c.s3_host, c.s3_port, str(c.logs_dir / "s3.log")))
        if not c.external_mongo:
            comps.append(
                Component("mongo", c.mongo_host, c.mongo_port, str(c.logs_dir / "mongo.log"))
            )
        for loc in c.locations:
            name = f"code-server-{loc.name}"
            comps.append(Component(name, c.host, loc.port, str(c.logs_dir / f"{name}.log")))
        comps.append(Component("daemon", c.host, None, str(c.logs_dir / "daemon.log")))
        comps.append(
            Component("webserver", c.ui_host, c.ui_port, str(c.logs_dir / "webserver.log"))
        )
        return comps

    def recorded_components(self) -> list[Component]:
        """Components recorded by the last ``up`` (falls back to this config's components)."""
        try:
            data = json.loads(self.state_file.read_text())
            return [Component(**item) for item in data["components"]]
        except (OSError, ValueError, KeyError, TypeError):
            return self._components()

    def started_at(self) -> str | None:
        """When the running stack was started (``YYYYMMDDtHHMMSS``, UTC), from the state file."""
        try:
            value = json.loads(self.state_file.read_text()).get("started_at")
        except (OSError, ValueError, AttributeError):
            return None
        return value if isinstance(value, str) else None

    def _pid_file(self, name: str) -> Path:
        return self.config.pids_dir / f"{name}.pid"

    def status(self) -> list[ComponentStatus]:
        """Each component: pid, whether it runs, whether its port answers."""
        result = []
        for comp in self.recorded_components():
            pid = _read_pid(self._pid_file(comp.name))
            running = pid is not None and _process_has_marker(pid, self.config.state_dir)
            is_open = port_open(comp.host, comp.port) if comp.port is not None else None
            result.append(ComponentStatus(comp.name, comp.endpoint, pid, running, is_open))
        return result

    def is_running(self) -> bool:
        """Whether any process of this stack is alive."""
        return any(s.running for s in self.status()) or bool(stack_processes(self.config.state_dir))

    def write_platform_env(self) -> Path:
        """Write the effective settings as ``KEY=VALUE`` lines (sourceable by sh and make)."""
        path = self.config.state_dir / PLATFORM_ENV_FILE
        path.parent.mkdir(parents=True, exist_ok=True)
        lines = [
            "# Effective settings of the local platform, written by `python -m etl_devstack up`."
        ]
        lines += [f"{key}={value}" for key, value in self.config.environment().items()]
        path.write_text("\n".join(lines) + "\n")
        path.chmod(0o600)  # holds the (local) credentials
        return path

    # -- start -------------------------------------------------------------------------------

    def preflight(self) -> None:
        """Check what the stack needs but does not start: PostgreSQL with PostGIS available."""
        import psycopg

        c = self.config
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
            self.log(
                f"warning: GDAL tools {', '.join(missing)} not on PATH; the GDAL health check "
                "and spatial lanes will fail. Install with `apt-get install gdal-bin`."
            )

    def _spawn(
        self,
        process: ManagedProcess,
        timeout: float,
        env_overrides: Mapping[str, str] | None = None,
    ) -> ManagedProcess:
        self.log(f"  starting {process.name} ({self._endpoint_of(process)})")
        process.env = {**self.config.process_environment(), **(env_overrides or {})}
        try:
            process.start(timeout)
        finally:
            # Record the pid even when the start failed, so `down` can clean up after it.
            if process.pid is not None:
                self._pid_file(process.name).write_text(f"{process.pid}\n")
        return process

    @staticmethod
    def _endpoint_of(process: ManagedProcess) -> str:
        return f"{process.host}:{process.port}" if process.port is not None else "no port"

    def _dagster_process(
        self, name: str, argv: list[str], host: str, port: int | None, health=None
    ) -> ManagedProcess:
        return ManagedProcess(
            name=name,
            argv=argv,
            log_path=self.config.logs_dir / f"{name}.log",
            host=host,
            port=port,
            health_check=health,
        )

    def _code_server_argv(self, loc: CodeLocation) -> list[str]:
        return [
            sys.executable, "-m", "dagster", "code-server", "start",
            "-h", self.config.host, "-p", str(loc.port),
            "-m", loc.module,
            "--location-name", loc.name,
            # Run workers start as `<this python> -m dagster`: the same venv, whatever PATH says.
            "--use-python-environment-entry-point",
        ]  # fmt: skip

    def _prepare_dagster_home(self) -> None:
        c = self.config
        c.dagster_home.mkdir(parents=True, exist_ok=True)
        source = c.infra_dir / "dagster.yaml"
        if not source.is_file():
            raise StackError(f"instance config {source} is missing")
        shutil.copyfile(source, c.dagster_home / "dagster.yaml")
        c.workspace_file.write_text(_render_workspace(c))

    def _migrate_instance(self, timeout: float) -> None:
        # Create/upgrade the storage tables once, before four processes race to do it.
        log_path = self.config.logs_dir / "instance-migrate.log"
        with log_path.open("ab") as log:
            result = subprocess.run(
                [sys.executable, "-m", "dagster", "instance", "migrate"],
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env=self.config.process_environment(),
                timeout=timeout,
                check=False,
            )
        if result.returncode != 0:
            tail = "\n".join(log_path.read_text(errors="replace").splitlines()[-30:])
            raise StackError(f"`dagster instance migrate` failed:\n{tail}")

    def start(self, timeout: float = 300.0) -> None:
        """Start every component and wait until the platform is healthy.

        On failure, whatever was started is stopped again and ``StackError`` says why.
        """
        c = self.config
        if self.is_running():
            raise StackError(
                f"a stack is already running from {c.state_dir}; stop it first (`make down`)"
            )
        busy = [
            comp.endpoint
            for comp in self._components()
            if comp.port is not None and port_open(comp.host, comp.port)
        ]
        if busy:
            raise StackError(
                f"ports already in use: {', '.join(busy)}. Stop what listens there, or choose "
                "other ports (MINIO_ENDPOINT, MONGO_CONNECTION_STRING, DAGSTER_UI_PORT, "
                "ASSET_LANES_GRPC_PORT, LEGACY_INGEST_GRPC_PORT)."
            )
        self.preflight()
        for directory in (c.state_dir, c.logs_dir, c.pids_dir):
            directory.mkdir(parents=True, exist_ok=True)
        self.state_file.write_text(
            json.dumps(
                {
                    "components": [comp.__dict__ for comp in self._components()],
                    # Identifies this run of the stack (the embedded S3 server starts empty).
                    "started_at": time.strftime("%Y%m%dt%H%M%S", time.gmtime()),
                },
                indent=2,
            )
        )
        self.write_platform_env()
        deadline = time.monotonic() + timeout
        try:
            self._start_all(deadline)
        except BaseException:
            self.log("start failed; stopping what was started")
            self.stop()
            raise

    def _remaining(self, deadline: float) -> float:
        left = deadline - time.monotonic()
        if left <= 0:
            raise StackError(
                f"the stack did not become healthy in time; see the logs in {self.config.logs_dir}"
            )
        return left

    def _start_all(self, deadline: float) -> None:
        c = self.config
        if not c.external_object_store:
            s3 = s3_server(c.s3_port, c.logs_dir / "s3.log", host=c.s3_host)
            s3.name = "s3"
            self._spawn(s3, self._remaining(deadline))
        ensure_buckets(
            c.s3_endpoint, c.s3_access_key, c.s3_secret_key, [LANDING_BUCKET, LAKE_BUCKET]
        )
        if not c.external_mongo:
            mongo = mongo_server(
                c.mongo_port, c.mongo_data_dir, c.logs_dir / "mongo.log", host=c.mongo_host
            )
            mongo.name = "mongo"
            self._spawn(mongo, self._remaining(deadline))
        pg = {
            "host": c.postgres_host,
            "port": c.postgres_port,
            "user": c.postgres_user,
            "password": c.postgres_password,
        }
        ensure_postgis_database(c.compute_database, **pg)
        ensure_postgis_database(
            c.dagster_database,
            host=c.dagster_postgres_host,
            port=c.dagster_postgres_port,
            user=c.dagster_postgres_user,
            password=c.dagster_postgres_password,
            postgis=False,
        )
        self._prepare_dagster_home()
        self.log("  preparing the Dagster instance storage (PostgreSQL)")
        self._migrate_instance(self._remaining(deadline))

        python = sys.executable
        for loc in c.locations:
            self._spawn(
                self._dagster_process(
                    f"code-server-{loc.name}", self._code_server_argv(loc), c.host, loc.port
                ),
                self._remaining(deadline),
            )
        workspace = str(c.workspace_file)
        self._spawn(
            self._dagster_process(
                "daemon", [python, "-m", "dagster._daemon", "run", "-w", workspace], c.host, None
            ),
            self._remaining(deadline),
        )
        webserver_argv = [
            python, "-m", "dagster_webserver",
            "-h", c.ui_host, "-p", str(c.ui_port),
            "-w", workspace,
        ]  # fmt: skip
        self._spawn(
            self._dagster_process(
                "webserver", webserver_argv, c.ui_host, c.ui_port, health=self.client.reachable
            ),
            self._remaining(deadline),
        )
        self.wait_healthy(self._remaining(deadline))

    def wait_healthy(self, timeout: float = 180.0) -> None:
        """Wait until every code location is loaded and the required daemons are healthy."""
        deadline = time.monotonic() + timeout
        names = [loc.name for loc in self.config.locations]
        self.log(f"  waiting for code locations {', '.join(names)} to load")
        last_reload: dict[str, float] = {}
        problems: list[str] = []
        while time.monotonic() < deadline:
            self._check_processes_alive()
            problems = []
            try:
                entries = self.client.locations()
            except WebserverError as exc:
                problems = [str(exc)]
                time.sleep(1)
                continue
            for name in names:
                entry = entries.get(name)
                if entry is None:
                    problems.append(f"{name}: not in the workspace")
                elif not entry.loaded:
                    problems.append(f"{name}: {entry.load_status} {entry.kind} {entry.error or ''}")
                    # A location whose server was still loading when the webserver first asked
                    # stays in error until reloaded; ask again every few seconds.
                    if (
                        entry.kind == "PythonError"
                        and time.monotonic() - last_reload.get(name, 0) > 5
                    ):
                        last_reload[name] = time.monotonic()
                        self.reload_location(name)
            if not problems:
                break
            time.sleep(1)
        else:
            raise StackError("code locations not loaded in time:\n  " + "\n  ".join(problems))
        self.log("  waiting for the daemon's heartbeats")
        unhealthy: list[str] = []
        while time.monotonic() < deadline:
            self._check_processes_alive()
            try:
                statuses = self.client.daemon_statuses()
            except WebserverError as exc:
                unhealthy = [str(exc)]
                time.sleep(1)
                continue
            unhealthy = [name for name, (req, ok) in statuses.items() if req and not ok]
            if not unhealthy:
                return
            time.sleep(1)
        raise StackError(
            f"daemons not healthy in time: {', '.join(unhealthy)}; see "
            f"{self.config.logs_dir / 'daemon.log'}"
        )

    def reload_location(self, name: str) -> None:
        """Ask the webserver to reconnect to a code location's gRPC server (errors logged)."""
        mutation = (
            "mutation PlatformReload($name: String!) { reloadRepositoryLocation("
            "repositoryLocationName: $name) { __typename } }"
        )
        try:
            self.client.execute(mutation, {"name": name})
        except WebserverError as exc:
            self.log(f"  reload of {name} failed: {exc}")

    def _check_processes_alive(self) -> None:
        dead = [s.name for s in self.status() if not s.running]
        if dead:
            logs = self.config.logs_dir
            raise StackError(
                f"stopped unexpectedly: {', '.join(dead)}; see the logs in {logs}, then restart "
                "with `make down && make up`"
            )

    def _location(self, name: str) -> CodeLocation:
        for loc in self.config.locations:
            if loc.name == name:
                return loc
        known = ", ".join(loc.name for loc in self.config.locations)
        raise StackError(f"unknown code location {name!r}; known: {known}")

    def _stop_pid_file(self, name: str, *, kill: bool, timeout: float) -> None:
        """Stop the process group recorded in ``name``'s pid file (if it is ours) and forget it.
        ``kill``: SIGKILL at once (a crash) instead of SIGTERM first."""
        pid = _read_pid(self._pid_file(name))
        if pid is not None and _process_has_marker(pid, self.config.state_dir):
            if kill:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(pid, signal.SIGKILL)
            stop_process_group(pid, timeout)
        self._pid_file(name).unlink(missing_ok=True)

    def stop_code_server(self, location: str, timeout: float = 20.0, *, kill: bool = False) -> None:
        """Stop the gRPC server of one code location (the rest of the platform keeps running).

        ``kill=True`` sends SIGKILL to its process group (server and run workers) at once: a
        crash, in which no process can report the end of its runs.
        """
        loc = self._location(location)
        name = f"code-server-{loc.name}"
        self._stop_pid_file(name, kill=kill, timeout=timeout)
        deadline = time.monotonic() + timeout
        while port_open(self.config.host, loc.port) and time.monotonic() < deadline:
            time.sleep(0.1)

    def start_code_server(
        self,
        location: str,
        timeout: float = 180.0,
        env_overrides: Mapping[str, str] | None = None,
    ) -> None:
        """(Re)start one code location's gRPC server and wait until the webserver loads it.

        ``env_overrides`` change this server's environment only (e.g. another
        ``MANIFEST_ROUTER_ENABLED_LANES``): sensors and runs of the location execute in it.
        """
        loc = self._location(location)
        c = self.config
        deadline = time.monotonic() + timeout
        self._spawn(
            self._dagster_process(
                f"code-server-{loc.name}", self._code_server_argv(loc), c.host, loc.port
            ),
            self._remaining(deadline),
            env_overrides,
        )
        while time.monotonic() < deadline:
            self.reload_location(loc.name)
            try:
                entry = self.client.locations().get(loc.name)
            except WebserverError:
                entry = None
            if entry is not None and entry.loaded:
                return
            time.sleep(1)
        raise StackError(f"code location {loc.name} not loaded again within {timeout:.0f}s")

    def restart_code_server(
        self,
        location: str,
        env_overrides: Mapping[str, str] | None = None,
        timeout: float = 180.0,
        *,
        kill: bool = False,
    ) -> None:
        """Stop (``kill``: crash) and start one code location's gRPC server (optionally with
        other settings)."""
        self.stop_code_server(location, kill=kill)
        self.start_code_server(location, timeout=timeout, env_overrides=env_overrides)

    # -- single components (fault-injection tests) ---------------------------------------------

    RESTARTABLE_COMPONENTS = ("s3", "mongo", "daemon")

    def stop_component(self, name: str, *, kill: bool = False, timeout: float = 20.0) -> None:
        """Stop one of ``RESTARTABLE_COMPONENTS`` (the rest of the platform keeps running).

        ``kill=True`` sends SIGKILL to its process group at once (a crash, not a shutdown).
        """
        comp = self._restartable(name)
        self._stop_pid_file(name, kill=kill, timeout=timeout)
        deadline = time.monotonic() + timeout
        while comp.port is not None and port_open(comp.host, comp.port):
            if time.monotonic() > deadline:
                raise StackError(f"{name} still listens on {comp.endpoint} after stopping it")
            time.sleep(0.1)

    def start_component(self, name: str, timeout: float = 120.0) -> None:
        """Start one stopped component again with the stack's settings: same port, same data
        (the Mongo server reopens its storage; the in-memory S3 server starts empty)."""
        self._restartable(name)
        c = self.config
        if name == "s3":
            process = s3_server(c.s3_port, c.logs_dir / "s3.log", host=c.s3_host)
        elif name == "mongo":
            process = mongo_server(
                c.mongo_port, c.mongo_data_dir, c.logs_dir / "mongo.log", host=c.mongo_host
            )
        else:
            workspace = str(c.workspace_file)
            argv = [sys.executable, "-m", "dagster._daemon", "run", "-w", workspace]
            process = self._dagster_process("daemon", argv, c.host, None)
        process.name = name
        self._spawn(process, timeout)
        if name == "s3":
            ensure_buckets(
                c.s3_endpoint, c.s3_access_key, c.s3_secret_key, [LANDING_BUCKET, LAKE_BUCKET]
            )

    def _restartable(self, name: str) -> Component:
        for comp in self._components():
            if comp.name == name and name in self.RESTARTABLE_COMPONENTS:
                return comp
        known = [c.name for c in self._components() if c.name in self.RESTARTABLE_COMPONENTS]
        raise StackError(
            f"cannot stop/start component {name!r} of this stack; restartable: {', '.join(known)}"
        )

    # -- main job ------------------------------------------------------------------------------

    def run_job(
        self,
        location: str,
        job: str,
        timeout: float = 300.0,
        run_config: dict | None = None,
        tags: dict[str, str] | None = None,
    ) -> RunOutcome:
        """Launch ``job`` through the webserver (queue -> daemon -> gRPC server), wait for it."""
        run_id = self.client.launch_job(location, job, run_config=run_config, tags=tags)
        status = self.client.wait_for_run(run_id, timeout)
        errors = tuple(self.client.run_errors(run_id)) if status != "SUCCESS" else ()
        return RunOutcome(location, job, run_id, status, errors)

    # -- stop --------------------------------------------------------------------------------

    def stop(self, timeout: float = 20.0) -> list[str]:
        """Stop every process of the stack; return what is still left (empty when clean)."""
        c = self.config
        for comp in reversed(self.recorded_components()):
            pid_file = self._pid_file(comp.name)
            pid = _read_pid(pid_file)
            if pid is not None and _process_has_marker(pid, c.state_dir):
                self.log(f"  stopping {comp.name} (pid {pid})")
                stop_process_group(pid, timeout)
            pid_file.unlink(missing_ok=True)
        # Run workers and other descendants that started their own session.
        for pid in stack_processes(c.state_dir):
            try:
                os.kill(pid, signal.SIGTERM)
            except ProcessLookupError:
                continue
        sweep_deadline = time.monotonic() + timeout
        while stack_processes(c.state_dir) and time.monotonic() < sweep_deadline:
            time.sleep(0.1)
        for pid in stack_processes(c.state_dir):
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                continue
        leftovers: list[str] = []
        port_deadline = time.monotonic() + 10
        for comp in self.recorded_components():
            if comp.port is None:
                continue
            while port_open(comp.host, comp.port) and time.monotonic() < port_deadline:
                time.sleep(0.1)
        time.sleep(0.2)
        leftovers += [f"process {pid}" for pid in stack_processes(c.state_dir)]
        for comp in self.recorded_components():
            if comp.port is not None and port_open(comp.host, comp.port):
                leftovers.append(f"port {comp.endpoint} ({comp.name})")
        return leftovers


__all__ = [
    "DEFAULT_LOCATIONS",
    "CodeLocation",
    "ComponentStatus",
    "RunOutcome",
    "ServiceStartError",
    "Stack",
    "StackConfig",
    "StackError",
    "find_repo_root",
    "stack_processes",
]
