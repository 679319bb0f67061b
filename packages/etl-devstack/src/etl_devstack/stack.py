"""The embedded local platform: real services on loopback plus the whole Dagster deployment.

One ``Stack`` starts, in order: the S3 API server (moto) with the landing, lake and run-log
buckets, the Mongo wire server (SecantusDB), the PostGIS compute database and the Dagster
storage database on the local PostgreSQL, one ``dagster code-server`` per code location, the
daemon and the webserver. All Dagster processes share one instance (PostgreSQL storage,
``infra/dagster.yaml`` rendered with local run logs by ``etl_devstack.instance_files``).

Processes are detached (own session and process group) so ``up`` returns while they run; each
has a pid file under ``<state>/pids`` and a log under ``<state>/logs``. ``down`` stops them by
pid file, sweeps any descendant that escaped its group, and checks that every port is closed.
The effective settings go to ``<state>/platform.env`` as ``KEY=VALUE`` lines.

The same code backs ``python -m etl_devstack`` (``make up``/``down``/``status``) and the
``deployed_platform`` pytest fixture, which runs it on free ports in a temporary directory.
Settings: ``etl_devstack.stack_config``; process bookkeeping: ``etl_devstack.process_state``;
restarts and health waits: ``etl_devstack.stack_control``. Their public names are re-exported
here.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import time
from collections.abc import Callable, Mapping
from pathlib import Path

from etl_devstack.instance_files import migrate_instance, prepare_dagster_home, render_workspace
from etl_devstack.process_state import (
    Component,
    ComponentStatus,
    RunOutcome,
    _process_has_marker,
    _read_pid,
    stack_processes,
)
from etl_devstack.services import (
    ManagedProcess,
    ServiceStartError,
    ensure_buckets,
    ensure_postgis_database,
    mongo_server,
    port_open,
    s3_server,
    stop_process_group,
)
from etl_devstack.stack_config import (
    DEFAULT_LOCATIONS,
    PLATFORM_ENV_FILE,
    STATE_FILE,
    STATE_MARKER_ENV,
    CodeLocation,
    StackConfig,
    StackError,
    find_repo_root,
    isolated_config,
)
from etl_devstack.stack_control import StackControl
from etl_devstack.stack_preflight import preflight
from etl_devstack.webserver_client import DagsterWebserverClient

# The workspace renderer under its former private name (tests import it from here).
_render_workspace = render_workspace


class Stack(StackControl):
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
        comps.append(Component("web", c.web_host, c.web_port, str(c.logs_dir / "web.log")))
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
        preflight(self.config, self.log)

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
                "ASSET_LANES_GRPC_PORT, LEGACY_INGEST_GRPC_PORT, ETL_WEB_PORT)."
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
        ensure_buckets(c.s3_endpoint, c.s3_access_key, c.s3_secret_key, c.buckets)
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
        prepare_dagster_home(c)
        self.log("  preparing the Dagster instance storage (PostgreSQL)")
        migrate_instance(c, self._remaining(deadline))

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
        # The dataset catalog reads the same ledger and lake (and links runs to the UI).
        web_argv = [python, "-m", "etl_web", "--host", c.web_host, "--port", str(c.web_port)]
        self._spawn(
            self._dagster_process("web", web_argv, c.web_host, c.web_port),
            self._remaining(deadline),
        )
        self.wait_healthy(self._remaining(deadline))

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
    "STATE_MARKER_ENV",
    "CodeLocation",
    "Component",
    "ComponentStatus",
    "RunOutcome",
    "ServiceStartError",
    "Stack",
    "StackConfig",
    "StackError",
    "find_repo_root",
    "isolated_config",
    "stack_processes",
]
