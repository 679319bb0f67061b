"""Shared pieces of the benchmark suite: result rows, phase timers, throwaway services.

Every row of the suite is a ratio against a baseline measured in the same run on the same
machine, because absolute times drift on shared machines. ``BenchServices`` starts a throwaway
S3 server and Mongo wire server on free loopback ports and uses PostGIS on the local PostgreSQL
in a bench database of its own (``spatial_compute_bench_<hex>``); everything it starts is
stopped (and the database dropped) on exit.
"""

from __future__ import annotations

import json
import os
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

BENCH_DATABASE = "spatial_compute_bench"


@dataclass
class Row:
    """One line of the result table: ``ours / baseline`` against ``target``.

    ``target`` is the maximum ratio (``None``: informational, e.g. a floor comparison), or the
    minimum one when ``target_is_minimum`` (throughputs: more is better); ``unit`` says what
    the two numbers are (seconds, MB, batches/h). ``checks`` are pass/fail assertions printed
    with the row (e.g. "second tick reads no manifest body").
    """

    key: str
    work: str
    baseline_label: str
    baseline: float
    ours: float
    unit: str
    target: float | None
    phases: dict[str, dict[str, float]] = field(default_factory=dict)
    checks: dict[str, bool] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    target_is_minimum: bool = False

    @property
    def ratio(self) -> float:
        return self.ours / self.baseline if self.baseline else float("inf")

    @property
    def met(self) -> bool | None:
        checks_ok = all(self.checks.values())
        if self.target is None:
            return checks_ok if self.checks else None
        if self.target_is_minimum:
            return self.ratio >= self.target and checks_ok
        return self.ratio <= self.target and checks_ok

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "ratio": round(self.ratio, 3), "met": self.met}


class PhaseTimer:
    """Wall time per named phase (``with timer("load"): ...``); repeated phases add up."""

    def __init__(self) -> None:
        self.phases: dict[str, float] = {}

    @contextmanager
    def __call__(self, name: str) -> Iterator[None]:
        start = time.perf_counter()
        try:
            yield
        finally:
            self.phases[name] = self.phases.get(name, 0.0) + time.perf_counter() - start

    @property
    def total(self) -> float:
        return sum(self.phases.values())

    def rounded(self) -> dict[str, float]:
        return {k: round(v, 3) for k, v in self.phases.items()}


@contextmanager
def patched(module: Any, name: str, wrapper: Callable[[Callable[..., Any]], Callable[..., Any]]):
    """Temporarily replace ``module.name`` by ``wrapper(original)`` (phase timing of the real
    lane code: lane runners import these functions at call time)."""
    original = getattr(module, name)
    setattr(module, name, wrapper(original))
    try:
        yield
    finally:
        setattr(module, name, original)


def timed_function(timer: PhaseTimer, phase: str) -> Callable[[Callable[..., Any]], Any]:
    """A ``patched`` wrapper that books every call of the function to ``phase``."""

    def wrap(func: Callable[..., Any]) -> Callable[..., Any]:
        def inner(*args: Any, **kwargs: Any) -> Any:
            with timer(phase):
                return func(*args, **kwargs)

        return inner

    return wrap


def peak_rss_mb() -> float:
    """This process's peak RSS in MB since it started its program (``VmHWM``).

    Not ``getrusage().ru_maxrss``: Linux carries that over ``execve``, so a child started by a
    parent holding 700 MB reports at least 700 MB whatever it does itself.
    """
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024  # kB
    raise RuntimeError("no VmHWM in /proc/self/status (Linux only)")


CPU_ROLES: tuple[tuple[str, str], ...] = (
    # (substring of the command line, role): first match wins.
    ("moto.server", "S3 server (moto, test double)"),
    ("secantus", "Mongo server (SecantusDB, test double)"),
    ("postgres", "PostgreSQL (instance, compute)"),
    # The code server runs its gRPC server as a child (``dagster api grpc``), which starts
    # each run worker through multiprocessing's spawn.
    ("code-server", "code servers and their run workers"),
    ("api grpc", "code servers and their run workers"),
    ("spawn_main", "code servers and their run workers"),
    ("dagster._daemon", "Dagster daemon (sensors, queue)"),
    ("dagster_webserver", "Dagster webserver"),
    ("etl_web", "catalog web app"),
)


def _cpu_role(pid: str, parent: str) -> str:
    """The role of a process by its command line; an exited process that its parent has not
    reaped yet (a zombie: no command line, e.g. a finished run worker) takes its parent's."""
    if int(pid) == os.getpid():
        return "bench (drops, polling)"
    for candidate in (pid, parent):
        try:
            cmdline = Path(f"/proc/{candidate}/cmdline").read_bytes()
        except OSError:
            continue
        if cmdline:
            text = cmdline.replace(b"\0", b" ").decode(errors="replace")
            return next((role for needle, role in CPU_ROLES if needle in text), "other")
    return "other"


def cpu_snapshot() -> dict[str, tuple[str, float]]:
    """CPU seconds of every process on the machine (Linux ``/proc``): pid -> (role, its own
    CPU plus that of its exited children, which is where run workers and PostgreSQL
    backends end up once reaped)."""
    tick = os.sysconf("SC_CLK_TCK")
    snapshot = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        # After the command name: state, ppid, ...; utime..cstime are fields 14-17 of stat.
        seconds = sum(int(v) for v in fields[11:15]) / tick
        snapshot[entry.name] = (_cpu_role(entry.name, fields[1]), seconds)
    return snapshot


def cpu_used(before: dict[str, tuple[str, float]], after: dict[str, tuple[str, float]]):
    """CPU seconds spent between two snapshots, by role (a process gone by ``after`` counts
    through its parent, if the parent reaped it)."""
    used: dict[str, float] = {}
    for pid, (role, seconds) in after.items():
        start = before.get(pid, (role, 0.0))[1]
        used[role] = used.get(role, 0.0) + max(0.0, seconds - start)
    return {role: round(value, 1) for role, value in sorted(used.items(), key=lambda i: -i[1])}


def say(message: str) -> None:
    """Progress on stderr (the table goes to stdout)."""
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def median(values: list[float]) -> float:
    ordered = sorted(values)
    mid = len(ordered) // 2
    return ordered[mid] if len(ordered) % 2 else (ordered[mid - 1] + ordered[mid]) / 2


@dataclass
class BenchServices:
    """Throwaway S3 + Mongo servers and the PostGIS bench database, with platform resources."""

    work_dir: Path
    # One database per run: two runs at once must not drop each other's database.
    database: str = field(default_factory=lambda: f"{BENCH_DATABASE}_{uuid.uuid4().hex[:8]}")
    s3_endpoint: str = ""
    mongo_uri: str = ""
    _processes: list[Any] = field(default_factory=list)

    access_key: str = "bench"
    secret_key: str = "bench-secret"  # noqa: S105 - throwaway local server

    def start(self) -> BenchServices:
        from etl_devstack.services import (
            ensure_postgis_database,
            free_port,
            mongo_server,
            s3_server,
        )

        s3_port, mongo_port = free_port(), free_port()
        self._processes.append(s3_server(s3_port, self.work_dir / "logs" / "s3.log").start())
        self._processes.append(
            mongo_server(
                mongo_port, self.work_dir / "mongo-data", self.work_dir / "logs" / "mongo.log"
            ).start()
        )
        self.s3_endpoint = f"127.0.0.1:{s3_port}"
        self.mongo_uri = f"mongodb://127.0.0.1:{mongo_port}"
        pg = self.postgres_settings()
        ensure_postgis_database(self.database, **pg)
        return self

    @staticmethod
    def postgres_settings() -> dict[str, Any]:
        return {
            "host": os.environ.get("POSTGRES_HOST", "127.0.0.1"),
            "port": int(os.environ.get("POSTGRES_PORT", "5432")),
            "user": os.environ.get("POSTGRES_USER", "postgres"),
            "password": os.environ.get("POSTGRES_PASSWORD", ""),
        }

    def stop(self) -> None:
        from etl_devstack.services import drop_database

        for process in reversed(self._processes):
            process.stop()
        self._processes.clear()
        drop_database(self.database, **self.postgres_settings())

    def object_store(self, **overrides: Any) -> Any:
        from etl_storage.object_store import ObjectStore

        token = uuid.uuid4().hex[:8]
        store = ObjectStore(
            endpoint=self.s3_endpoint,
            access_key=self.access_key,
            secret_key=self.secret_key,
            landing_bucket=overrides.pop("landing_bucket", f"landing-{token}"),
            lake_bucket=overrides.pop("lake_bucket", f"lake-{token}"),
            **overrides,
        )
        store.ensure_buckets()
        return store

    def ledger(self) -> Any:
        from etl_storage.ledger import Ledger

        return Ledger(connection_string=self.mongo_uri, database=f"bench_{uuid.uuid4().hex[:8]}")

    def postgis(self) -> Any:
        from etl_spatial.postgis import Postgis

        return Postgis(database=self.database, **self.postgres_settings())

    def platform(self) -> Any:
        from etl_pipeline.lanes import Services

        return Services(self.object_store(), self.ledger(), self.postgis())


def submit_and_take_in(services: Any, name: str, document: dict[str, Any]) -> Any:
    """Upload a manifest and run one intake tick for it (the sensor's work, untimed set-up);
    the ``RunPlan`` of the queued manifest."""
    from etl_devstack.drops import Landing
    from etl_models.cursor import ManifestCursor
    from etl_pipeline.intake import evaluate_intake
    from etl_pipeline.lanes.registry import lane_names

    key = Landing(services.store).drop_manifest(name, document)
    result = evaluate_intake(
        store=services.store,
        ledger=services.ledger,
        cursor=ManifestCursor([], 500),
        owned_lanes=set(lane_names()),
        operator="bench",
        on_event=lambda message: None,
    )
    queued = [q for q in result.queued if q.key == key]
    if not queued:
        raise RuntimeError(f"bench manifest {key} was not queued: {result.summary()}")
    return queued[0].plan


def batch_run(services: Any, plan: Any) -> Any:
    """A ``BatchRun`` as the Dagster asset would build it (fresh run id per call)."""
    from etl_pipeline.lanes import BatchRun

    return BatchRun(
        services=services,
        dagster_run_id=str(uuid.uuid4()),
        job_name=plan.job_name,
        tags=dict(plan.tags),
        log=lambda message: None,
    )


def disk_free_bytes(path: Path) -> int:
    import shutil

    return shutil.disk_usage(path).free


def write_json(path: Path, payload: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(payload, indent=2, default=str) + "\n")


@dataclass
class BenchPlatform:
    """A platform started for one bench row; ``torn_down`` is known once it is stopped."""

    config: Any
    client: Any
    torn_down: bool | None = None


@contextmanager
def deployed_platform(
    state_dir: Path, row: str, extra_env: dict[str, str] | None = None
) -> Iterator[BenchPlatform]:
    """A whole platform on free ports in ``state_dir`` for one bench row, with a webserver
    GraphQL client; stopped, its databases dropped and checked for leftovers on every exit
    path."""
    from etl_devstack.services import drop_database, free_port
    from etl_devstack.stack import Stack, isolated_config, stack_processes
    from etl_devstack.webserver_client import DagsterWebserverClient

    config = isolated_config(
        state_dir, label="bench", s3_port=free_port(), mongo_port=free_port(),
        extra_env=extra_env or {},
    )  # fmt: skip
    stack = Stack(config, log=lambda message: None)
    say(f"row {row}: starting the deployed platform (free ports, temporary state)")
    started = time.time()
    stack.start(timeout=600)
    say(f"row {row}: platform up in {time.time() - started:.0f}s")
    platform = BenchPlatform(config, DagsterWebserverClient(config.ui_url))
    try:
        yield platform
    finally:
        leftovers = stack.stop()
        for database, host in (
            (config.dagster_database, config.dagster_postgres_host),
            (config.compute_database, config.postgres_host),
        ):
            drop_database(
                database, host=host, port=config.postgres_port, user=config.postgres_user,
                password=config.postgres_password,
            )  # fmt: skip
        remaining = stack_processes(config.state_dir)
        platform.torn_down = not leftovers and not remaining
        if not platform.torn_down:
            say(f"row {row}: WARNING left after teardown: {leftovers} {remaining}")
