"""Smoke test: the ``asset_lanes`` location exactly as a deployed gRPC code server serves it.

Starts a real code server (``dagster api grpc`` and ``dagster code-server start``, the two ways
a deployment runs a location) on ``asset_lanes.definitions`` and reads the repository back over
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

LOCATION = "asset_lanes"
MODULE = "asset_lanes.definitions"
EXPECTED_JOBS = {
    "asset_lanes_gdal_health_job",
    "spatial_asset_job",
    "tabular_asset_job",
    "join_asset_job",
    "asset_lanes_reconciliation_job",  # this location carries the nightly reconciliation
}
EXPECTED_SENSORS = {
    "spatial_sensor",
    "tabular_sensor",
    "join_sensor",
    "asset_lanes_run_started_sensor",
    "asset_lanes_run_success_sensor",
    "asset_lanes_run_failure_sensor",
    "asset_lanes_run_retry_sensor",
    "asset_lanes_run_canceled_sensor",
    "asset_lanes_schema_janitor",
    "asset_lanes_run_failure_alert_sensor",
    "asset_lanes_rejection_alert_sensor",  # rejections are alerted from one location only
}
EXPECTED_SCHEDULES = {"asset_lanes_nightly_reconciliation_schedule"}
# Lane asset -> (its job, its manifest sensor, whether it is spatial).
LANE_ASSETS = {
    ("asset_lanes", "spatial", "raw_spatial_asset"): ("spatial_asset_job", "spatial_sensor", True),
    ("asset_lanes", "tabular", "raw_tabular_asset"): ("tabular_asset_job", "tabular_sensor", False),
    ("asset_lanes", "join", "joined_spatial_asset"): ("join_asset_job", "join_sensor", True),
}
EXPECTED_ASSET_KEYS = {("asset_lanes", "platform", "gdal_health"), *LANE_ASSETS}
BLOCKING_CHECKS = {"crs_is_epsg4326", "geometries_valid_and_non_empty", "row_count_matches_source"}

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
    asset_keys = {tuple(node.asset_key.path) for node in served_repository.get_asset_node_snaps()}
    check_keys = {
        tuple(check.asset_key.path) for check in served_repository.get_asset_check_node_snaps()
    }
    assert asset_keys == EXPECTED_ASSET_KEYS
    unprefixed = sorted(key for key in asset_keys | check_keys if key[0] != LOCATION)
    assert unprefixed == [], f"asset keys must start with {LOCATION!r}: {unprefixed}"


def test_health_job_selects_the_gdal_health_asset(served_repository: RemoteRepository) -> None:
    nodes = {tuple(n.asset_key.path): n for n in served_repository.get_asset_node_snaps()}
    node = nodes[("asset_lanes", "platform", "gdal_health")]
    assert "asset_lanes_gdal_health_job" in node.job_names
    assert node.group_name == "platform"


def test_lane_assets_are_partitioned_and_single_step(
    served_repository: RemoteRepository,
) -> None:
    nodes = {tuple(n.asset_key.path): n for n in served_repository.get_asset_node_snaps()}
    for key, (job_name, sensor_name, _) in LANE_ASSETS.items():
        node = nodes[key]
        assert type(node.partitions).__name__ == "DynamicPartitionsSnap", key
        # Each lane asset has its own partitions: it lists only its own datasets.
        assert node.partitions.name == f"{key[1]}_datasets", key
        # Concurrency is limited per run by its weight tag (infra/dagster.yaml), not by an op
        # pool that would hold small batches behind big ones.
        assert not node.pools, key
        assert node.group_name == key[1]
        assert job_name in node.job_names
        # One asset, its checks computed by the same op: one step per run.
        job = served_repository.get_full_job(job_name)
        assert len(job.job_snapshot.dep_structure_snapshot.node_invocation_snaps) == 1
        sensor = served_repository.get_sensor(sensor_name)
        assert sensor.job_name == job_name
        assert sensor.default_status == dg.DefaultSensorStatus.RUNNING
    assert nodes[("asset_lanes", "platform", "gdal_health")].partitions is None


def test_lane_assets_declare_their_contract_checks(served_repository: RemoteRepository) -> None:
    checks = {
        (tuple(c.asset_key.path), c.name): c.blocking
        for c in served_repository.get_asset_check_node_snaps()
    }
    expected: dict[tuple[tuple[str, ...], str], bool] = {}
    for key, (_, _, spatial) in LANE_ASSETS.items():
        blocking = BLOCKING_CHECKS if spatial else {"row_count_matches_source"}
        expected.update({(key, name): True for name in blocking})
        expected[(key, "schema_drift")] = False  # reported, never blocks
    # A low join match rate is a warning too.
    expected[("asset_lanes", "join", "joined_spatial_asset"), "join_match_rate"] = False
    assert checks == expected


def test_lane_jobs_run_in_process_with_network_retries() -> None:
    """What the gRPC snapshots do not carry, from the definitions the server loads."""
    from asset_lanes.definitions import defs

    definitions = defs()
    for key, (job_name, _, _) in LANE_ASSETS.items():
        job = definitions.resolve_job_def(job_name)
        assert job.executor_def.name == "in_process", job_name
        # Run workers heartbeat, so a worker lost with its code server fails (and retries).
        assert "etl/worker_heartbeat_interval_s" in job.tags, job_name
        assets_def = definitions.resolve_assets_def(dg.AssetKey(list(key)))
        policy = assets_def.op.retry_policy
        assert policy is not None and policy.max_retries >= 1, key
        assert policy.backoff == dg.Backoff.EXPONENTIAL
        assert assets_def.op.pool is None
        assert {"object_store", "ledger", "postgis", "run_worker_heartbeat"} <= set(
            assets_def.required_resource_keys
        )
