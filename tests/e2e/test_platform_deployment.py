"""The deployed platform: both code locations as separate gRPC servers on one instance.

Everything goes through the webserver's GraphQL API, as a person using the UI would: runs are
queued in the PostgreSQL-backed instance, dequeued by the daemon and executed by the code
location's own gRPC server.
"""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from etl_devstack.services import drop_database, free_port, port_open
from etl_devstack.stack import DEFAULT_LOCATIONS, find_repo_root, stack_processes

pytestmark = pytest.mark.e2e

HEALTH_JOBS = {loc.name: loc.health_job for loc in DEFAULT_LOCATIONS}


def test_both_code_locations_are_loaded(deployed_platform):
    locations = deployed_platform.client.locations()

    assert set(HEALTH_JOBS) <= set(locations)
    for name, job in HEALTH_JOBS.items():
        entry = locations[name]
        assert entry.loaded, f"{name}: {entry.load_status} {entry.kind} {entry.error}"
        assert job in entry.jobs


@pytest.mark.parametrize("location", sorted(HEALTH_JOBS))
def test_gdal_health_check_succeeds_through_the_grpc_server(deployed_platform, location):
    run_id = deployed_platform.launch_job(
        location, HEALTH_JOBS[location], tags={"purpose": "e2e-health-check"}
    )

    status = deployed_platform.wait_for_run(run_id, timeout=300)

    assert status == "SUCCESS", deployed_platform.run_errors(run_id)


def test_stopping_one_code_server_leaves_the_other_location_serving(deployed_platform):
    stack = deployed_platform.stack
    stopped, serving = "asset_lanes", "legacy_ingest"
    stack.stop_code_server(stopped)
    try:
        stack.reload_location(stopped)
        locations = deployed_platform.client.locations()
        assert not locations[stopped].loaded
        assert locations[serving].loaded

        run_id = deployed_platform.launch_job(serving, HEALTH_JOBS[serving])
        status = deployed_platform.wait_for_run(run_id, timeout=300)

        assert status == "SUCCESS", deployed_platform.run_errors(run_id)
    finally:
        # The platform is shared by the session: bring the stopped location back.
        stack.start_code_server(stopped)
    assert deployed_platform.client.locations()[stopped].loaded


@pytest.mark.slow
def test_devstack_cli_up_status_down_leaves_nothing_behind(tmp_path: Path):
    """`python -m etl_devstack up/status/down`, as `make up/status/down` run it, on free ports."""
    root = find_repo_root(Path(__file__))
    state_dir = tmp_path / "state"
    ports = {name: free_port() for name in ("s3", "mongo", "ui", "asset_lanes", "legacy", "web")}
    dagster_db = f"dagster_cli_{uuid.uuid4().hex[:10]}"
    env = {
        **os.environ,
        "MINIO_ENDPOINT": f"127.0.0.1:{ports['s3']}",
        "MONGO_CONNECTION_STRING": f"mongodb://127.0.0.1:{ports['mongo']}",
        "DAGSTER_UI_PORT": str(ports["ui"]),
        "ASSET_LANES_GRPC_PORT": str(ports["asset_lanes"]),
        "LEGACY_INGEST_GRPC_PORT": str(ports["legacy"]),
        "ETL_WEB_PORT": str(ports["web"]),
        "POSTGRES_DB": "spatial_compute_test",
        "DAGSTER_POSTGRES_DB": dagster_db,
    }

    def cli(*args: str, timeout: float = 600) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "etl_devstack", "--state-dir", str(state_dir), *args],
            cwd=root,
            env=env,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )

    try:
        up = cli("up", "--no-main-job")
        assert up.returncode == 0, up.stdout + up.stderr

        status = cli("status", "--check")
        assert status.returncode == 0, status.stdout + status.stderr
        assert "code location asset_lanes: loaded" in status.stdout
        assert "code location legacy_ingest: loaded" in status.stdout
        settings = dict(
            line.split("=", 1)
            for line in (state_dir / "platform.env").read_text().splitlines()
            if line and not line.startswith("#")
        )
        assert settings["MINIO_ENDPOINT"] == env["MINIO_ENDPOINT"]
        assert settings["DAGSTER_UI_URL"] == f"http://127.0.0.1:{ports['ui']}"
        assert settings["DAGSTER_POSTGRES_DB"] == dagster_db
        assert sorted(p.name for p in (state_dir / "pids").iterdir()) == [
            "code-server-asset_lanes.pid",
            "code-server-legacy_ingest.pid",
            "daemon.pid",
            "mongo.pid",
            "s3.pid",
            "web.pid",  # the dataset catalog
            "webserver.pid",
        ]
    finally:
        down = cli("down")
        drop_database(dagster_db)
    assert down.returncode == 0, down.stdout + down.stderr

    assert not stack_processes(state_dir.resolve())
    assert not list((state_dir / "pids").iterdir())
    assert not [name for name, port in ports.items() if port_open("127.0.0.1", port)]
    after = cli("status", "--check")
    assert after.returncode == 1
    assert " up " not in after.stdout
