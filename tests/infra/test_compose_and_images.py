"""Compose and images for production: restart policies, healthchecks, limits, required
secrets, least-privilege application users, numeric non-root images, pinned OS packages and
dependencies installed before the sources. No Docker engine needed."""

import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[2]
INFRA = ROOT / "infra"
RAW = (INFRA / "compose.yaml").read_text()
COMPOSE = yaml.safe_load(RAW)
SERVICES = COMPOSE["services"]
ONE_SHOT = {"minio-init"}
SECRETS = (
    "MINIO_ROOT_PASSWORD",
    "MINIO_APP_PASSWORD",
    "MINIO_LOGS_PASSWORD",
    "MONGO_ROOT_PASSWORD",
    "MONGO_APP_PASSWORD",
    "POSTGRES_PASSWORD",
    "DAGSTER_POSTGRES_PASSWORD",
)


def test_long_running_services_restart_have_healthchecks_and_memory_limits():
    for name, service in SERVICES.items():
        assert service["deploy"]["resources"]["limits"]["memory"], name
        if name in ONE_SHOT:
            continue
        assert service["restart"] == "unless-stopped", name
        assert service["healthcheck"]["test"], name


def test_every_secret_is_required_and_none_falls_back_to_a_default():
    assert "change-me" not in RAW
    for secret in SECRETS:
        assert f"${{{secret}:?" in RAW, secret
        assert f"${{{secret}:-" not in RAW, secret
    example = (INFRA / ".env.example").read_text()
    for secret in SECRETS:
        assert re.search(rf"^{secret}=\S+", example, re.M), secret


def test_applications_use_least_privilege_users():
    for name in ("asset_lanes", "legacy_ingest"):
        env = SERVICES[name]["environment"]
        assert env["MINIO_ROOT_USER"] == "${MINIO_APP_USER:-etl-app}"
        assert "MINIO_APP_PASSWORD" in env["MINIO_ROOT_PASSWORD"]
        assert "MONGO_APP_PASSWORD" in env["MONGO_CONNECTION_STRING"]
        assert "ROOT" not in env["MONGO_CONNECTION_STRING"]
        assert "authSource=spatial_etl" in env["MONGO_CONNECTION_STRING"]
    init = (INFRA / "minio" / "init.sh").read_text()
    assert "mc admin policy attach" in init and "MINIO_APP_USER" in init
    policy = (INFRA / "minio" / "etl-app-policy.json").read_text()
    resources = set(re.findall(r"arn:aws:s3:::([\w-]+)", policy))
    assert resources == {"landing-zone", "data-lake"}
    mongo_init = (INFRA / "mongo" / "10-ledger-user.js").read_text()
    assert 'role: "readWrite", db: database' in mongo_init
    mounts = SERVICES["mongo"]["volumes"]
    assert any("/docker-entrypoint-initdb.d/" in m for m in mounts)


def test_postgis_is_pinned_and_has_shared_memory():
    postgis = SERVICES["postgis"]
    assert postgis["image"].startswith("${POSTGIS_IMAGE:?")
    assert postgis["shm_size"] == "1gb"


def test_code_location_images_come_from_one_parametrised_dockerfile():
    builds = {n: SERVICES[n]["build"] for n in ("asset_lanes", "legacy_ingest")}
    assert {b["dockerfile"] for b in builds.values()} == {"infra/images/code_location.Dockerfile"}
    assert {b["args"]["LOCATION_MODULE"] for b in builds.values()} == {n for n in builds}


@pytest.mark.parametrize("dockerfile", ["code_location.Dockerfile", "dagster.Dockerfile"])
def test_images_run_as_a_numeric_user_and_install_dependencies_before_sources(dockerfile):
    text = (INFRA / "images" / dockerfile).read_text()
    assert re.search(r"^USER \d+:\d+$", text, re.M)
    assert "uv export" not in text and "pip install -c" not in text
    lines = text.splitlines()
    deps = next(i for i, line in enumerate(lines) if "--no-install-workspace" in line)
    sources = next(
        i
        for i, line in enumerate(lines)
        if re.match(r"COPY packages/\S* packages/", line)
        and i > lines.index("FROM ${PYTHON_IMAGE} AS build")
    )
    assert deps < sources, "dependencies must be installed before the sources are copied"
    assert "--frozen" in lines[deps]
    for line in lines:
        if "apt-get install" in line:
            assert re.search(r"\S+=\S+", line.split("install", 1)[1]), f"unpinned: {line}"


@pytest.mark.skipif(shutil.which("docker") is None, reason="no docker CLI")
def test_compose_config_passes_with_the_example_and_fails_without_secrets(tmp_path):
    argv = ["docker", "compose", "-f", str(INFRA / "compose.yaml")]
    ok = subprocess.run(
        [*argv, "--env-file", str(INFRA / ".env.example"), "config", "-q"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    if "is not a docker command" in ok.stderr:
        pytest.skip("no compose plugin")
    assert ok.returncode == 0, ok.stderr
    empty = tmp_path / "empty.env"
    empty.write_text("")
    refused = subprocess.run(
        [*argv, "--env-file", str(empty), "config", "-q"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env={"PATH": "/usr/bin:/bin:/usr/local/bin"},
    )
    assert refused.returncode != 0
    assert "see infra/.env.example" in refused.stderr or "required variable" in refused.stderr
