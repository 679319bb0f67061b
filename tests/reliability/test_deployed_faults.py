"""Faults of the deployed platform (issue 8): processes killed or stopped under a real
deployment (code servers, daemon, webserver on one PostgreSQL-backed instance), then the
three systems checked against each other.

- a run worker killed with SIGKILL while it loads a large vector batch into PostGIS;
- the Mongo wire server stopped while a run is in progress, then restarted on its data;
- a code server restarted while one of its runs is in flight and others are queued;
- the daemon killed (SIGKILL) right after a sensor requested the first runs of a batch;
- the S3 server unreachable during sensor ticks (a TCP proxy in front of moto is stopped:
  moto keeps objects in memory, so stopping moto itself would wipe the buckets), then back.

After each: every manifest processed exactly once, or failed visibly and re-executed to
success; the ledger's runs match Dagster's runs one to one with the same terminal status; no
manifest is left ``running``/``queued``; one lake version per dataset; and the schema janitor
leaves no ``proc_*`` schema of any finished run.

The worker kill runs on the session's ``deployed_platform`` (it only fails one run of its
own) and is the CI representative. The other faults would disturb a shared deployment, so
they run on a module-scoped stack of their own (``fault_platform``) whose S3 endpoint is a
proxy and whose janitor ticks every 5 s; they are in the full set only.
"""

from __future__ import annotations

import contextlib
import json
import os
import selectors
import signal
import socket
import threading
import time
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
import pytest

from etl_devstack.drops import (
    TERMINAL_DAGSTER_STATUSES,
    file_entry,
    leftover_run_schemas,
    manifest_document,
    wait_until,
)
from etl_devstack.pytest_plugin import TEST_COMPUTE_DB, DeployedPlatform
from etl_devstack.services import LOOPBACK, drop_database, free_port, port_open, s3_server
from etl_devstack.stack import Stack, isolated_config
from etl_devstack.stack import stack_processes as live_stack_processes
from etl_pipeline.retries import RETRY_OF_TAG, should_retry

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

EXTERNAL = os.environ.get("ETL_TEST_EXTERNAL_SERVICES") == "1"
TIMEOUT = 420.0
ACTIVE = {"QUEUED", "NOT_STARTED", "STARTING", "STARTED", "CANCELING"}


# --- data ----------------------------------------------------------------------------------


def points_geojson(n: int, tag: str) -> bytes:
    """A GeoJSON FeatureCollection of ``n`` points."""
    head = b'{"type":"FeatureCollection","features":['
    parts = [
        b'{"type":"Feature","properties":{"k":%d,"tag":"%s"},'
        b'"geometry":{"type":"Point","coordinates":[%.5f,%.5f]}}'
        % (i, tag.encode(), 144.0 + (i % 1000) / 1000, -37.0 - (i // 1000) / 1000)
        for i in range(n)
    ]
    return head + b",".join(parts) + b"]}"


def stats_csv(n: int) -> bytes:
    return ("k,value\n" + "".join(f"{i},{i * 1.5}\n" for i in range(n))).encode()


@dataclass(frozen=True)
class Batch:
    batch_id: str
    dataset_id: str
    manifest_key: str
    lane: str


def submit(platform: DeployedPlatform, label: str, *, points: int = 0, rows: int = 0) -> Batch:
    """Upload one batch's raw file, then its manifest (vector if ``points``, else tabular)."""
    token = uuid.uuid4().hex[:8]
    batch_id, dataset_id = f"fault-{label}-{token}", f"fault-{label}-{token}"
    landing = platform.landing
    if points:
        uri = landing.upload(f"{batch_id}/points.geojson", points_geojson(points, batch_id))
        doc = manifest_document(
            batch_id, "ingest_vector", [file_entry(uri, "vector")], dataset_id=dataset_id
        )
        lane = "spatial"
    else:
        uri = landing.upload(f"{batch_id}/stats.csv", stats_csv(rows or 20))
        doc = manifest_document(
            batch_id, "ingest_tabular", [file_entry(uri, "tabular")], dataset_id=dataset_id
        )
        lane = "tabular"
    key = landing.drop_manifest(f"{batch_id}.json", doc)
    return Batch(batch_id, dataset_id, key, lane)


# --- the deployment's processes ------------------------------------------------------------


def _proc_table() -> dict[int, tuple[int, str]]:
    """pid -> (parent pid, command line) of every live process."""
    table: dict[int, tuple[int, str]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[-1].split()
        if fields[0] != "Z":
            table[int(entry.name)] = (int(fields[1]), cmdline)
    return table


def run_workers(stack: Stack, location: str) -> list[int]:
    """Pids of the run workers of a code location: the gRPC server starts each run in a
    ``multiprocessing`` (spawn) child, so they are its descendants running ``spawn_main``."""
    pid = int((stack.config.pids_dir / f"code-server-{location}.pid").read_text())
    table = _proc_table()
    children: dict[int, list[int]] = {}
    for child, (parent, _) in table.items():
        children.setdefault(parent, []).append(child)
    found, todo = [], list(children.get(pid, []))
    while todo:
        current = todo.pop()
        todo.extend(children.get(current, []))
        if "spawn_main" in table[current][1]:
            found.append(current)
    return found


def run_schema(run_id: str) -> str:
    return f"proc_{run_id.replace('-', '_')}"


def wait_run_started_with_schema(platform: DeployedPlatform, batch: Batch) -> str:
    """Wait until the batch's first run is STARTED and its PostGIS schema exists; its id."""
    state: dict[str, Any] = {}

    def started() -> str | None:
        runs = platform.runs(tags={"batch_id": batch.batch_id})
        state["runs"] = [(r.run_id, r.status) for r in runs]
        for run in runs:
            if run.status == "STARTED" and leftover_run_schemas(
                platform.compute_conninfo, [run.run_id]
            ):
                return run.run_id
        return None

    return wait_until(started, TIMEOUT, interval=0.5, describe=lambda: f"{batch.batch_id}: {state}")


class LoadHold:
    """Keeps the vector runs of a platform in their load, whatever the machine's speed: an
    ACCESS EXCLUSIVE lock on PostGIS's ``spatial_ref_sys``, which a vector load reads (its
    CRS lookup) after its run schema exists. A fault injected while the lock is held hits a
    run that is provably in flight, instead of one that a fast load may already have ended."""

    def __init__(self, conninfo: str) -> None:
        self._conninfo = conninfo
        self._conn = psycopg.connect(conninfo)
        self._conn.execute("LOCK TABLE public.spatial_ref_sys IN ACCESS EXCLUSIVE MODE")

    def wait_run_blocked(self) -> None:
        """Wait until a session (the run's load) waits on the held lock."""

        def waiting() -> bool:
            with psycopg.connect(self._conninfo) as probe:
                (count,) = probe.execute(
                    "SELECT count(*) FROM pg_locks WHERE NOT granted "
                    "AND relation = 'public.spatial_ref_sys'::regclass"
                ).fetchone()
            return count > 0

        wait_until(waiting, TIMEOUT, interval=0.2, describe="a vector load waiting on the hold")

    def release(self) -> None:
        if not self._conn.closed:
            self._conn.rollback()
            self._conn.close()


@contextlib.contextmanager
def load_hold(platform: DeployedPlatform) -> Iterator[LoadHold]:
    hold = LoadHold(platform.compute_conninfo)
    try:
        yield hold
    finally:
        hold.release()


# --- consistency of the ledger, Dagster, the lake and PostGIS ------------------------------


def wait_settled(platform: DeployedPlatform, batches: Iterable[Batch]) -> None:
    """Wait until every batch's Dagster runs are finished and its ledger manifest is terminal
    with the status of its newest run (the run-status sensors have mirrored it)."""
    batches = list(batches)
    state: dict[str, Any] = {}

    def settled() -> bool:
        state.clear()
        for b in batches:
            runs = platform.runs(tags={"batch_id": b.batch_id})
            record = platform.ledger.get_manifest(b.batch_id)
            status = record.status.value if record else None
            state[b.batch_id] = (status, [r.status for r in runs])
            if not runs or any(r.status not in TERMINAL_DAGSTER_STATUSES for r in runs):
                return False
            if runs[0].status == "FAILURE" and should_retry(runs[0].tags):
                return False  # failed, and the location's retry sensor requests it again
            if status != runs[0].status.lower():  # newest first
                return False
        return True

    wait_until(settled, TIMEOUT, interval=2.0, describe=lambda: f"not settled: {state}")


HEARTBEAT_DETECTION_S = 300
"""Heartbeat timeout (90 s in infra/dagster.yaml) + monitoring poll (30 s) + slack for a loaded
2-core machine."""


def wait_for_retry(platform: DeployedPlatform, run_id: str) -> str:
    """The run id of the automatic retry (the location's retry sensor) of failed run ``run_id``."""
    retries = wait_until(
        lambda: [r.run_id for r in platform.runs() if r.tags.get(RETRY_OF_TAG) == run_id],
        180,
        describe=f"an automatic retry of failed run {run_id}",
    )
    assert len(retries) == 1, retries
    return retries[0]


def ledger_run(platform: DeployedPlatform, batch: Batch, run_id: str) -> Any:
    """The ledger's record of Dagster run ``run_id`` of ``batch``."""
    records = platform.ledger.runs_for_batch(batch.batch_id)
    return next(r for r in records if r.dagster_run_id == run_id)


def reexecute_failed(platform: DeployedPlatform, batches: Iterable[Batch]) -> list[str]:
    """Re-execute (as the UI's button does) each batch whose newest run failed; the batch
    ids re-executed. The ledger must have mirrored the failure before that."""
    again = []
    for b in batches:
        newest = platform.runs(tags={"batch_id": b.batch_id})[0]
        if newest.status == "FAILURE":
            record = platform.ledger.get_manifest(b.batch_id)
            assert record.status.value == "failure" and record.error, (b, record)
            platform.reexecute(newest.run_id, "ALL_STEPS")
            again.append(b.batch_id)
    return again


def assert_consistent(platform: DeployedPlatform, batches: Iterable[Batch]) -> dict[str, Any]:
    """Every batch succeeded exactly once and the ledger, Dagster, the archive, the lake and
    PostGIS agree; counts by batch for the report."""
    ledger, store = platform.ledger, platform.object_store
    summary: dict[str, Any] = {}
    all_run_ids: list[str] = []
    for b in batches:
        manifests = ledger.get_manifest_by_key(b.manifest_key)
        assert len(manifests) == 1, (b, [(m.status, m.error) for m in manifests])
        manifest = manifests[0]
        assert manifest.status.value == "success", (b, manifest.status, manifest.error)
        dagster = {r.run_id: r for r in platform.runs(tags={"batch_id": b.batch_id})}
        records = ledger.runs_for_batch(b.batch_id)
        # One ledger run per Dagster run, same terminal status.
        assert {r.dagster_run_id for r in records} == set(dagster), (b, records, dagster)
        for record in records:
            assert record.status.value == dagster[record.dagster_run_id].status.lower(), record
        # Exactly one sensor-requested run (one run key); the rest are re-executions of it or
        # retries requested by the retry sensor.
        originals = [
            r
            for r in dagster.values()
            if "dagster/parent_run_id" not in r.tags and RETRY_OF_TAG not in r.tags
        ]
        assert len(originals) == 1, (b, [r.tags for r in dagster.values()])
        assert originals[0].tags["dagster/run_key"] == f"{b.lane}:{b.batch_id}"
        successes = [r for r in dagster.values() if r.status == "SUCCESS"]
        assert len(successes) == 1, (b, [(r.run_id, r.status) for r in dagster.values()])
        # One version in the ledger and in the lake; the manifest archived once.
        assert ledger.versions(b.dataset_id) == [1], (b, ledger.versions(b.dataset_id))
        asset = ledger.get_asset(b.dataset_id, 1)
        assert store.lake_object_exists(asset.s3_key)
        lake = sorted(
            o.object_name
            for o in store.client.list_objects(store.lake_bucket, f"{b.dataset_id}/", True)
        )
        assert [k for k in lake if not k.startswith(f"{b.dataset_id}/v1/")] == [], lake
        assert not store.landing_object_exists(b.manifest_key), f"{b.manifest_key} pending"
        assert store.landing_object_exists(f"archive/{b.manifest_key}")
        assert store.archive_history(b.manifest_key) == []
        summary[b.batch_id] = {"dagster_runs": len(dagster), "ledger_runs": len(records)}
        all_run_ids += list(dagster)
    # The janitor leaves no schema of a finished run (a killed run's schema included).
    wait_until(
        lambda: not leftover_run_schemas(platform.compute_conninfo, all_run_ids),
        60,
        describe=lambda: f"run schemas left: "
        f"{leftover_run_schemas(platform.compute_conninfo, all_run_ids)}",
    )
    return summary


def assert_no_manifest_stuck(platform: DeployedPlatform, batches: Iterable[Batch]) -> None:
    """No manifest is ``running`` or ``queued`` while every run of its batch has ended."""
    for b in batches:
        runs = platform.runs(tags={"batch_id": b.batch_id})
        record = platform.ledger.get_manifest(b.batch_id)
        if runs and all(r.status in TERMINAL_DAGSTER_STATUSES for r in runs):
            assert record.status.value not in {"running", "queued"}, (b, record.status)


# --- GraphQL: sensor ticks and the janitor ------------------------------------------------

TICKS_QUERY = """
query FaultSensorTicks($selector: SensorSelector!, $after: Float) {
  sensorOrError(sensorSelector: $selector) {
    __typename
    ... on Sensor {
      sensorState { ticks(limit: 100, afterTimestamp: $after) {
        status timestamp error { message } } }
    }
  }
}
"""

DRY_RUN_MUTATION = """
mutation FaultJanitorDryRun($selector: SensorSelector!, $cursor: String) {
  sensorDryRun(selectorData: $selector, cursor: $cursor) {
    __typename
    ... on DryRunInstigationTick { evaluationResult { skipReason error { message } } }
    ... on PythonError { message }
  }
}
"""


def _selector(location: str, sensor: str) -> dict[str, str]:
    return {
        "repositoryLocationName": location,
        "repositoryName": "__repository__",
        "sensorName": sensor,
    }


def sensor_ticks(platform: DeployedPlatform, location: str, sensor: str, after: float) -> list:
    data = platform.client.execute(
        TICKS_QUERY, {"selector": _selector(location, sensor), "after": after}
    )["sensorOrError"]
    assert data["__typename"] == "Sensor", data
    return data["sensorState"]["ticks"]


def run_deployed_janitor(platform: DeployedPlatform, location: str = "asset_lanes") -> str:
    """Evaluate the deployed janitor sensor now, in its code server (the UI's "test sensor"):
    the same code and instance as its scheduled ticks. Its skip reason."""
    data = platform.client.execute(
        DRY_RUN_MUTATION,
        {"selector": _selector(location, f"{location}_schema_janitor"), "cursor": None},
    )["sensorDryRun"]
    assert data["__typename"] == "DryRunInstigationTick", data
    result = data["evaluationResult"]
    assert not result["error"], result["error"]
    return result["skipReason"]


# --- a TCP proxy that stands in for the S3 server going away -------------------------------


class TcpProxy:
    """Loopback TCP proxy ``listen_port -> target``. ``stop()`` closes the listener and every
    open connection (new connections are refused); ``start()`` listens again on the same port.
    Bounded: at most ``max_connections`` at once, each pumped by one thread."""

    def __init__(self, listen_port: int, target: tuple[str, int], max_connections: int = 128):
        self.listen_port = listen_port
        self.target = target
        self.max_connections = max_connections
        self._server: socket.socket | None = None
        self._thread: threading.Thread | None = None
        self._conns: set[socket.socket] = set()
        self._lock = threading.Lock()
        self._stopping = threading.Event()

    def start(self) -> None:
        server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        server.bind((LOOPBACK, self.listen_port))
        server.listen(64)
        server.settimeout(0.2)
        self._stopping.clear()
        self._server = server
        self._thread = threading.Thread(target=self._accept_loop, name="s3-proxy", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stopping.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        if self._server is not None:
            self._server.close()
            self._server = None
        with self._lock:
            for conn in list(self._conns):
                self._close(conn)
        assert not port_open(LOOPBACK, self.listen_port)

    def _close(self, conn: socket.socket) -> None:
        with contextlib.suppress(OSError):
            conn.shutdown(socket.SHUT_RDWR)
        conn.close()
        self._conns.discard(conn)

    def _accept_loop(self) -> None:
        assert self._server is not None
        while not self._stopping.is_set():
            try:
                client, _ = self._server.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            with self._lock:
                if len(self._conns) >= self.max_connections * 2:
                    client.close()
                    continue
                try:
                    upstream = socket.create_connection(self.target, timeout=5)
                except OSError:
                    client.close()
                    continue
                self._conns.update((client, upstream))
            threading.Thread(target=self._pump, args=(client, upstream), daemon=True).start()

    def _pump(self, a: socket.socket, b: socket.socket) -> None:
        peers = {a: b, b: a}
        sel = selectors.DefaultSelector()
        try:
            for sock in peers:
                sock.settimeout(None)
                sel.register(sock, selectors.EVENT_READ)
            while not self._stopping.is_set():
                for key, _ in sel.select(timeout=0.5):
                    data = key.fileobj.recv(65536)  # type: ignore[union-attr]
                    if not data:
                        return
                    peers[key.fileobj].sendall(data)  # type: ignore[index]
        except OSError:
            return
        finally:
            sel.close()
            with self._lock:
                for sock in peers:
                    self._close(sock)


# --- the module's own deployment ------------------------------------------------------------


@dataclass
class FaultPlatform:
    platform: DeployedPlatform
    proxy: TcpProxy


@pytest.fixture(scope="module")
def fault_platform(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FaultPlatform]:
    """A whole deployment for fault injection: its own moto S3 server behind ``TcpProxy`` (the
    platform's ``MINIO_ENDPOINT`` is the proxy; the test uploads and reads straight from
    moto), its own Mongo wire server, instance and compute databases; janitor every 5 s."""
    if EXTERNAL:
        pytest.fail("the fault stack starts its own S3 and Mongo servers; unset "
                    "ETL_TEST_EXTERNAL_SERVICES")  # fmt: skip
    state_dir = tmp_path_factory.mktemp("fault-platform")
    moto_port, proxy_port = free_port(), free_port()
    moto = s3_server(moto_port, state_dir / "moto.log").start()
    proxy = TcpProxy(proxy_port, (LOOPBACK, moto_port))
    proxy.start()
    config = isolated_config(
        state_dir,
        label="fault",
        external_object_store=True,
        s3_port=proxy_port,
        s3_access_key="testing-user",
        s3_secret_key="testing-secret",  # moto accepts any credentials
        mongo_port=free_port(),
        extra_env={"ETL_JANITOR_INTERVAL_SECONDS": "5"},
    )
    assert config.compute_database != TEST_COMPUTE_DB
    stack = Stack(config, log=lambda message: None)
    try:
        stack.start(timeout=480)
        env = {**config.environment(), "MINIO_ENDPOINT": f"{LOOPBACK}:{moto_port}"}
        yield FaultPlatform(DeployedPlatform(stack=stack, env=env), proxy)
    finally:
        leftovers = stack.stop()
        proxy.stop()
        moto.stop()
        for database, prefix in ((config.dagster_database, "dagster_postgres"),
                                 (config.compute_database, "postgres")):  # fmt: skip
            drop_database(
                database,
                host=getattr(config, f"{prefix}_host"),
                port=getattr(config, f"{prefix}_port"),
                user=getattr(config, f"{prefix}_user"),
                password=getattr(config, f"{prefix}_password"),
            )
    assert not leftovers, f"fault stack left processes/ports: {leftovers}"
    assert not live_stack_processes(state_dir)


# --- the faults ------------------------------------------------------------------------------


def test_run_worker_killed_mid_load_fails_visibly_and_is_retried(deployed_platform):
    """kill -9 of the run worker while it loads a vector batch into PostGIS."""
    platform = deployed_platform
    with load_hold(platform) as hold:
        batch = submit(platform, "kill9", points=20_000)
        run_id = wait_run_started_with_schema(platform, batch)
        hold.wait_run_blocked()
        workers = wait_until(
            lambda: run_workers(platform.stack, "asset_lanes"),
            30,
            interval=0.2,
            describe="a run worker under the asset_lanes code server",
        )
        assert len(workers) == 1, f"expected the one run worker in flight, found {workers}"
        os.kill(workers[0], signal.SIGKILL)
    # The code server notices its worker died and fails the run; the failure sensor mirrors it,
    # and run retries (not a step failure) re-execute it with the same tags and a new run id.
    assert platform.wait_for_run(run_id, 120) == "FAILURE"
    retry = wait_for_retry(platform, run_id)
    assert platform.wait_for_run(retry, TIMEOUT) == "SUCCESS", platform.run_errors(retry)
    wait_settled(platform, [batch])
    killed = ledger_run(platform, batch, run_id)
    assert killed.status.value == "failure" and killed.error, killed
    # The killed run's schema is an orphan: the deployed janitor drops it. This shared
    # deployment's janitor ticks every 120 s, so evaluate it now in its code server.
    if leftover_run_schemas(platform.compute_conninfo, [run_id]):
        reason = run_deployed_janitor(platform)
        assert "orphan" in reason, reason
    summary = assert_consistent(platform, [batch])
    assert summary[batch.batch_id] == {"dagster_runs": 2, "ledger_runs": 2}


@pytest.mark.reliability
def test_mongo_stopped_during_run_then_restarted(fault_platform):
    """The ledger's server goes away while a run loads, and comes back on the same data."""
    platform = fault_platform.platform
    stack = platform.stack
    with load_hold(platform) as hold:
        batch = submit(platform, "mongo", points=20_000)
        run_id = wait_run_started_with_schema(platform, batch)
        hold.wait_run_blocked()
        stack.stop_component("mongo")
    # The run goes on loading with the ledger down.
    try:
        time.sleep(10)  # ledger down across part of the run and several sensor ticks
    finally:
        stack.start_component("mongo")
    status = platform.wait_for_run(run_id, TIMEOUT)
    wait_settled(platform, [batch])
    assert_no_manifest_stuck(platform, [batch])
    if status == "FAILURE":
        reexecute_failed(platform, [batch])
        wait_settled(platform, [batch])
    assert_consistent(platform, [batch])


@pytest.mark.parametrize(
    "crash",
    [
        pytest.param(True, id="sigkill"),  # in CI: the case only the heartbeat can detect
        pytest.param(False, id="sigterm", marks=pytest.mark.reliability),
    ],
)
def test_code_server_restarted_with_runs_in_flight_and_queued(fault_platform, crash):
    """``asset_lanes`` restarted (or crashed and started) while one run loads and two more are
    queued or starting. (A restart with manifests pending and no run in flight is
    tests/e2e/test_mixed_drop.py.)"""
    platform = fault_platform.platform
    # The big run is held in its load until the server is down, so it is in flight when the
    # fault comes however fast the machine loads it.
    with load_hold(platform) as hold:
        big = submit(platform, "cs-big", points=20_000)
        run_id = wait_run_started_with_schema(platform, big)
        hold.wait_run_blocked()
        small = [submit(platform, f"cs-small{i}", rows=30) for i in range(2)]
        wait_until(
            lambda: all(platform.runs(tags={"batch_id": b.batch_id}) for b in small),
            TIMEOUT,
            describe="runs requested for the small batches",
        )
        (big_run,) = [
            r for r in platform.runs(tags={"batch_id": big.batch_id}) if r.run_id == run_id
        ]
        assert big_run.status == "STARTED", big_run
        platform.stack.stop_code_server("asset_lanes", kill=crash)
    platform.stack.start_code_server("asset_lanes")
    batches = [big, *small]
    # SIGTERM: the run may finish, or its worker report the interruption as it dies.
    # SIGKILL: the worker dies with its server and nobody reports that run's end; its
    # heartbeat goes stale and run monitoring fails it (etl_instance.run_launcher). A failed
    # run is requested again by the retry sensor once the server is back.
    status = platform.wait_for_run(run_id, HEARTBEAT_DETECTION_S)
    if crash:
        assert status == "FAILURE"
    if status == "FAILURE":
        retry = wait_for_retry(platform, run_id)
        assert platform.wait_for_run(retry, TIMEOUT) == "SUCCESS", platform.run_errors(retry)
    wait_settled(platform, batches)
    in_flight = ledger_run(platform, big, run_id)
    assert in_flight.status.value == status.lower(), in_flight
    if crash:
        assert "stopped heartbeating" in in_flight.error, in_flight.error
    assert_no_manifest_stuck(platform, batches)
    # Runs killed by the stop itself fail at once, while the location is down; the retry
    # sensor runs in the location, so it requests them again once the server is back.
    summary = assert_consistent(platform, batches)
    runs = 2 if status == "FAILURE" else 1
    assert summary[big.batch_id] == {"dagster_runs": runs, "ledger_runs": runs}, summary


@pytest.mark.reliability
def test_daemon_killed_mid_batch_then_restarted(fault_platform):
    """SIGKILL the daemon (sensors, run queue) once the first runs of a drop are requested."""
    platform = fault_platform.platform
    stack = platform.stack
    batches = [submit(platform, f"daemon{i}", rows=25) for i in range(3)]
    batches += [submit(platform, f"daemon-v{i}", points=200) for i in range(3)]
    ids = {b.batch_id for b in batches}
    wait_until(
        lambda: any(r.tags.get("batch_id") in ids for r in platform.runs()),
        120,
        interval=0.2,
        describe="a first run requested for the drop",
    )
    stack.stop_component("daemon", kill=True)
    try:
        time.sleep(3)
    finally:
        stack.start_component("daemon")
    wait_settled(platform, batches)
    assert_no_manifest_stuck(platform, batches)
    summary = assert_consistent(platform, batches)
    assert all(v == {"dagster_runs": 1, "ledger_runs": 1} for v in summary.values()), summary


@pytest.mark.reliability
def test_s3_unreachable_during_sensor_ticks_then_back(fault_platform):
    """The platform's S3 endpoint refuses connections for a while: intake ticks fail visibly,
    nothing is taken in twice or lost; once it is back every manifest runs exactly once."""
    platform, proxy = fault_platform.platform, fault_platform.proxy
    before = time.time()
    proxy.stop()
    try:
        # Uploads go straight to moto: the user's side still works, the platform's does not.
        batches = [submit(platform, f"s3-{i}", rows=20) for i in range(2)]
        batches += [submit(platform, f"s3-v{i}", points=100) for i in range(2)]

        def failed_ticks() -> list:
            return [
                t
                for sensor in ("spatial_sensor", "tabular_sensor")
                for t in sensor_ticks(platform, "asset_lanes", sensor, before)
                if t["status"] == "FAILURE"
            ]

        failures = wait_until(
            lambda: len(failed_ticks()) >= 4 and failed_ticks(),
            180,
            describe="failed intake ticks while S3 is unreachable",
        )
        assert all(t["error"] and t["error"]["message"] for t in failures), failures
        for b in batches:
            assert platform.ledger.get_manifest_by_key(b.manifest_key) == []
            assert platform.landing.exists(b.manifest_key)
            assert platform.runs(tags={"batch_id": b.batch_id}) == []
    finally:
        proxy.start()
    wait_settled(platform, batches)
    assert_no_manifest_stuck(platform, batches)
    summary = assert_consistent(platform, batches)
    assert all(v == {"dagster_runs": 1, "ledger_runs": 1} for v in summary.values()), summary
    # And the sensors recovered: successful ticks after the outage.
    after = [
        t
        for t in sensor_ticks(platform, "asset_lanes", "spatial_sensor", before)
        if t["status"] == "SUCCESS"
    ]
    assert after, "no successful spatial_sensor tick after S3 came back"
    print(json.dumps({"failed_ticks": len(failures)}))
