"""Stack settings, rendered files and process bookkeeping (no services needed)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from etl_devstack.services import (
    ManagedProcess,
    free_port,
    live_group_members,
    stop_process_group,
)
from etl_devstack.stack import (
    STATE_MARKER_ENV,
    Stack,
    StackConfig,
    StackError,
    _render_workspace,
    find_repo_root,
    stack_processes,
)

pytestmark = pytest.mark.unit

REPO = find_repo_root(Path(__file__))
INFRA = REPO / "infra"


def test_defaults_are_the_documented_endpoints(tmp_path):
    config = StackConfig.from_env(tmp_path, INFRA, environ={})
    env = config.environment()

    assert env["MINIO_ENDPOINT"] == "127.0.0.1:9000"
    assert env["MONGO_CONNECTION_STRING"] == "mongodb://127.0.0.1:27017"
    assert env["DAGSTER_UI_URL"] == "http://127.0.0.1:3000"
    assert env["POSTGRES_DB"] == "spatial_compute"
    assert env["DAGSTER_POSTGRES_DB"] == "dagster"
    assert env["MANIFEST_ROUTER_ENABLED_LANES"] == "ingest"
    assert env["DAGSTER_HOME"] == str(tmp_path.resolve() / "dagster_home")
    assert [loc.port for loc in config.locations] == [4266, 4267]


def test_environment_variables_override_every_endpoint(tmp_path):
    config = StackConfig.from_env(
        tmp_path,
        INFRA,
        environ={
            "MINIO_ENDPOINT": "127.0.0.1:19000",
            "MONGO_CONNECTION_STRING": "mongodb://127.0.0.1:37017",
            "DAGSTER_UI_PORT": "13000",
            "ASSET_LANES_GRPC_PORT": "14266",
            "LEGACY_INGEST_GRPC_PORT": "14267",
            "POSTGRES_HOST": "db.internal",
            "POSTGRES_PASSWORD": "pw",
            "MANIFEST_ROUTER_ENABLED_LANES": "ingest,spatial",
        },
    )
    env = config.environment()

    assert (config.s3_port, config.mongo_port, config.ui_port) == (19000, 37017, 13000)
    assert [loc.port for loc in config.locations] == [14266, 14267]
    # Dagster storage follows the compute PostgreSQL unless DAGSTER_POSTGRES_* say otherwise.
    assert env["DAGSTER_POSTGRES_HOST"] == "db.internal"
    assert env["DAGSTER_POSTGRES_PASSWORD"] == "pw"
    assert env["MANIFEST_ROUTER_ENABLED_LANES"] == "ingest,spatial"


@pytest.mark.parametrize(
    ("variable", "value", "hint"),
    [
        ("MINIO_ENDPOINT", "http://127.0.0.1:9000", "HOST:PORT"),
        ("MONGO_CONNECTION_STRING", "mongodb://user:pw@db:27017", "mongodb://HOST:PORT"),
        ("DAGSTER_UI_PORT", "three-thousand", "port number"),
    ],
)
def test_invalid_settings_name_the_variable_and_the_fix(tmp_path, variable, value, hint):
    with pytest.raises(StackError) as excinfo:
        StackConfig.from_env(tmp_path, INFRA, environ={variable: value})

    assert variable in str(excinfo.value)
    assert hint in str(excinfo.value)


def test_platform_env_is_sourceable_key_value_lines(tmp_path):
    stack = Stack(StackConfig.from_env(tmp_path, INFRA, environ={}), log=lambda _: None)

    path = stack.write_platform_env()
    result = subprocess.run(
        ["bash", "-c", f"set -a; . {path}; echo $MINIO_ENDPOINT $DAGSTER_UI_URL"],
        capture_output=True,
        text=True,
        check=True,
        timeout=10,
    )

    assert result.stdout.split() == ["127.0.0.1:9000", "http://127.0.0.1:3000"]
    assert oct(path.stat().st_mode & 0o777) == "0o600"


def test_workspace_has_one_grpc_server_per_location(tmp_path):
    config = StackConfig.from_env(tmp_path, INFRA, environ={"ASSET_LANES_GRPC_PORT": "5001"})

    workspace = yaml.safe_load(_render_workspace(config))

    assert workspace["load_from"] == [
        {"grpc_server": {"host": "127.0.0.1", "port": 5001, "location_name": "asset_lanes"}},
        {"grpc_server": {"host": "127.0.0.1", "port": 4267, "location_name": "legacy_ingest"}},
    ]


def test_instance_config_uses_postgres_from_env_and_queues_runs():
    config = yaml.safe_load((INFRA / "dagster.yaml").read_text())

    postgres = config["storage"]["postgres"]["postgres_db"]
    assert {key: postgres[key] for key in ("hostname", "username", "password", "db_name")} == {
        "hostname": {"env": "DAGSTER_POSTGRES_HOST"},
        "username": {"env": "DAGSTER_POSTGRES_USER"},
        "password": {"env": "DAGSTER_POSTGRES_PASSWORD"},
        "db_name": {"env": "DAGSTER_POSTGRES_DB"},
    }
    assert config["run_coordinator"]["class"] == "QueuedRunCoordinator"
    assert 1 <= config["concurrency"]["runs"]["max_concurrent_runs"] <= 8
    assert config["telemetry"]["enabled"] is False


def test_instance_config_is_valid_for_this_dagster(tmp_path, monkeypatch):
    from dagster._core.instance.config import dagster_instance_config

    (tmp_path / "dagster.yaml").write_text((INFRA / "dagster.yaml").read_text())
    for name in ("HOST", "PORT", "USER", "PASSWORD", "DB"):
        monkeypatch.setenv(f"DAGSTER_POSTGRES_{name}", "5432" if name == "PORT" else "x")
    for name in ("BUCKET", "PREFIX", "ENDPOINT_URL"):
        monkeypatch.setenv(f"DAGSTER_COMPUTE_LOGS_{name}", "http://minio:9000")

    config, _ = dagster_instance_config(str(tmp_path))

    assert config["run_coordinator"]["class"] == "QueuedRunCoordinator"


def test_compose_workspace_points_at_the_code_location_services():
    workspace = yaml.safe_load((INFRA / "workspace.yaml").read_text())

    assert [entry["grpc_server"]["location_name"] for entry in workspace["load_from"]] == [
        "asset_lanes",
        "legacy_ingest",
    ]


def test_compose_pins_images_and_publishes_only_the_ui_and_the_catalog():
    compose = yaml.safe_load((INFRA / "compose.yaml").read_text())
    services = compose["services"]

    for name, service in services.items():
        image = service["image"]
        assert not image.endswith(":latest") and ":" in image, f"{name} image not pinned: {image}"
    published = {name: s["ports"] for name, s in services.items() if s.get("ports")}
    assert list(published) == ["dagster-webserver", "etl-web"]
    assert all(port.startswith("127.0.0.1:") for ports in published.values() for port in ports)


def test_gdal_only_in_code_location_images():
    images = INFRA / "images"

    assert "gdal-bin" in (images / "code_location.Dockerfile").read_text()
    assert "gdal-bin" not in (images / "dagster.Dockerfile").read_text()


def _sleeper(tmp_path: Path, name: str, env: dict[str, str] | None = None) -> ManagedProcess:
    # A parent that forks a child in the same group: stopping must take both.
    code = (
        "import subprocess, sys, time; "
        "subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)']); "
        "time.sleep(60)"
    )
    return ManagedProcess(
        name=name,
        argv=[sys.executable, "-c", code],
        log_path=tmp_path / f"{name}.log",
        host="127.0.0.1",
        port=None,
        env=env,
    )


def test_process_without_port_is_healthy_once_running_and_stops_with_its_children(tmp_path):
    proc = _sleeper(tmp_path, "sleeper").start(timeout=10)
    pid = proc.pid
    deadline = time.monotonic() + 10
    while len(live_group_members(pid)) < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert len(live_group_members(pid)) == 2

    proc.stop(timeout=5)

    assert live_group_members(pid) == []
    assert stop_process_group(pid) is True


def test_health_check_decides_when_a_process_is_ready(tmp_path):
    calls = []

    def ready() -> bool:
        calls.append(1)
        return len(calls) >= 3

    proc = _sleeper(tmp_path, "checked")
    proc.health_check = ready
    try:
        proc.start(timeout=10)
        assert len(calls) == 3
    finally:
        proc.stop(timeout=5)


def test_stack_processes_are_found_by_their_state_marker(tmp_path):
    marker = {STATE_MARKER_ENV: str(tmp_path)}
    proc = _sleeper(tmp_path, "marked", env={**os.environ, **marker}).start(timeout=10)
    try:
        deadline = time.monotonic() + 10
        while len(stack_processes(tmp_path)) < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
        # The parent and the child it forked both inherit the marker.
        assert proc.pid in stack_processes(tmp_path)
        assert len(stack_processes(tmp_path)) == 2
        assert stack_processes(tmp_path / "other") == []
    finally:
        proc.stop(timeout=5)
    assert stack_processes(tmp_path) == []


def test_status_and_stop_of_a_stack_that_never_started(tmp_path):
    ports = {
        "MINIO_ENDPOINT": f"127.0.0.1:{free_port()}",
        "MONGO_CONNECTION_STRING": f"mongodb://127.0.0.1:{free_port()}",
        "DAGSTER_UI_PORT": str(free_port()),
        "ASSET_LANES_GRPC_PORT": str(free_port()),
        "LEGACY_INGEST_GRPC_PORT": str(free_port()),
    }
    stack = Stack(StackConfig.from_env(tmp_path / "state", INFRA, environ=ports), log=print)

    assert not any(s.running or s.port_open for s in stack.status())
    assert not stack.is_running()
    assert stack.stop(timeout=1) == []
