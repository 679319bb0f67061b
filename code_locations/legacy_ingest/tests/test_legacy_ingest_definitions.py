"""Smoke test: the ``legacy_ingest`` location exactly as a deployed gRPC code server serves it.

Starts a real code server (``dagster api grpc`` and ``dagster code-server start``, the two ways
a deployment runs a location) on ``legacy_ingest.definitions`` and reads the repository back over
gRPC, the way the webserver and daemon see it. Adding or renaming a job, sensor or schedule is
meant to fail here: update the expected sets deliberately.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator

import dagster as dg
import pytest
from dagster import DagsterInstance
from dagster._core.remote_origin import GrpcServerCodeLocationOrigin
from dagster._core.remote_representation.code_location import GrpcServerCodeLocation
from dagster._core.remote_representation.external import RemoteRepository
from dagster._grpc.client import DagsterGrpcClient

from etl_devstack.services import LOOPBACK, ManagedProcess, free_port

pytestmark = pytest.mark.integration

LOCATION = "legacy_ingest"
MODULE = "legacy_ingest.definitions"
EXPECTED_JOBS = {"legacy_ingest_gdal_health_job", "ingest_job"}
EXPECTED_SENSORS = {
    "manifest_sensor",
    "legacy_ingest_run_started_sensor",
    "legacy_ingest_run_success_sensor",
    "legacy_ingest_run_failure_sensor",
    "legacy_ingest_run_retry_sensor",
    "legacy_ingest_run_canceled_sensor",
    "legacy_ingest_schema_janitor",
    "legacy_ingest_run_failure_alert_sensor",
}
EXPECTED_SCHEDULES: set[str] = set()

SERVER_COMMANDS = {
    "api-grpc": ["api", "grpc"],
    "code-server": ["code-server", "start"],
}


@pytest.fixture(scope="module", params=sorted(SERVER_COMMANDS))
def code_server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ManagedProcess]:
    """A code server for the location, started the way a deployment starts it."""
    workdir = tmp_path_factory.mktemp(f"{LOCATION}-{request.param}")
    dagster_home = workdir / "dagster_home"
    dagster_home.mkdir()
    (dagster_home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    port = free_port()
    server = ManagedProcess(
        name=f"{LOCATION} {request.param}",
        argv=[
            sys.executable,
            "-m",
            "dagster",
            *SERVER_COMMANDS[request.param],
            "--module-name",
            MODULE,
            "--location-name",
            LOCATION,
            "--host",
            LOOPBACK,
            "--port",
            str(port),
        ],
        log_path=workdir / "server.log",
        host=LOOPBACK,
        port=port,
        # The deployed platform says so (ETL_DEPLOYED): its sensors then default to running.
        env={"DAGSTER_HOME": str(dagster_home), "ETL_DEPLOYED": "1"},
    )
    server.start(timeout=120)
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def served_repository(code_server: ManagedProcess) -> Iterator[RemoteRepository]:
    """The location's one repository, fetched over gRPC like the webserver does."""
    origin = GrpcServerCodeLocationOrigin(
        host=code_server.host, port=code_server.port, location_name=LOCATION
    )
    with (
        DagsterInstance.ephemeral() as instance,
        GrpcServerCodeLocation(origin, instance=instance) as location,
    ):
        repositories = location.get_repositories()
        assert len(repositories) == 1, (
            f"expected one repository, got {sorted(repositories)}\n{code_server.log_tail()}"
        )
        (repository,) = repositories.values()
        pointer = location.get_repository_python_origin(repository.name).code_pointer
        assert getattr(pointer, "module", None) == MODULE
        yield repository


def test_code_server_answers_ping(code_server: ManagedProcess) -> None:
    client = DagsterGrpcClient(port=code_server.port, host=code_server.host)
    assert client.ping(LOCATION)["echo"] == LOCATION


def test_served_jobs_are_the_expected_ones(served_repository: RemoteRepository) -> None:
    # Jobs named "__..." are Dagster's implicit asset jobs, not ours.
    jobs = {job.name for job in served_repository.get_all_jobs() if not job.name.startswith("__")}
    assert jobs == EXPECTED_JOBS


def test_served_sensors_and_schedules_are_the_expected_ones(
    served_repository: RemoteRepository,
) -> None:
    assert {sensor.name for sensor in served_repository.get_sensors()} == EXPECTED_SENSORS
    assert {schedule.name for schedule in served_repository.get_schedules()} == EXPECTED_SCHEDULES


def test_every_asset_key_carries_the_location_prefix(served_repository: RemoteRepository) -> None:
    # The op-based ingest job records materializations of one asset, keyed under the location.
    asset_keys = {tuple(node.asset_key.path) for node in served_repository.get_asset_node_snaps()}
    assert ("legacy_ingest", "ingest", "ingested_dataset") in asset_keys
    check_keys = {
        tuple(check.asset_key.path) for check in served_repository.get_asset_check_node_snaps()
    }
    unprefixed = sorted(key for key in asset_keys | check_keys if key[0] != LOCATION)
    assert unprefixed == [], f"asset keys must start with {LOCATION!r}: {unprefixed}"


def test_health_job_runs_the_gdal_check_op(served_repository: RemoteRepository) -> None:
    job = served_repository.get_full_job("legacy_ingest_gdal_health_job")
    ops = {node.node_name for node in job.job_snapshot.dep_structure_snapshot.node_invocation_snaps}
    assert ops == {"check_gdal_tools"}


def test_manifest_sensor_launches_the_ingest_job(served_repository: RemoteRepository) -> None:
    sensor = served_repository.get_sensor("manifest_sensor")
    assert sensor.job_name == "ingest_job"
    assert sensor.default_status == dg.DefaultSensorStatus.RUNNING
    job = served_repository.get_full_job("ingest_job")
    deps = {
        node.node_name: {d.node_name for i in node.input_dep_snaps for d in i.upstream_output_snaps}
        for node in job.job_snapshot.dep_structure_snapshot.node_invocation_snaps
    }
    assert deps == {"record_batch": set(), "ingest_batch": {"record_batch"}}


def test_ingest_job_runs_in_process_with_pool_and_retries() -> None:
    """What the gRPC snapshots do not carry, from the definitions the server loads."""
    from legacy_ingest.definitions import defs

    job = defs().resolve_job_def("ingest_job")
    assert job.executor_def.name == "in_process"
    assert job.partitions_def is None
    # Run workers heartbeat, so a worker lost with its code server fails (and retries).
    assert "etl/worker_heartbeat_interval_s" in job.tags
    for op_name in ("record_batch", "ingest_batch"):
        op = job.graph.node_named(op_name).definition
        assert op.retry_policy is not None and op.retry_policy.backoff == dg.Backoff.EXPONENTIAL
        assert {"object_store", "ledger", "postgis", "run_worker_heartbeat"} <= set(
            op.required_resource_keys
        )
    assert job.graph.node_named("ingest_batch").definition.pool is None
