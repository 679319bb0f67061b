"""Health waits, restarts of single components and job launches of a running stack.

A mixin of ``etl_devstack.stack.Stack``: it uses the stack's config, webserver client, pid
files and process spawning.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import time
from collections.abc import Mapping

from etl_devstack.process_state import (
    Component,
    RunOutcome,
    _process_has_marker,
    _read_pid,
)
from etl_devstack.services import (
    ensure_buckets,
    mongo_server,
    port_open,
    s3_server,
    stop_process_group,
)
from etl_devstack.stack_config import CodeLocation, StackError
from etl_devstack.webserver_client import WebserverError


class StackControl:
    """What a running stack can be asked to do besides start and stop."""

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
            ensure_buckets(c.s3_endpoint, c.s3_access_key, c.s3_secret_key, c.buckets)

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
