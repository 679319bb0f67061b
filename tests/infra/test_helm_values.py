"""The Helm values of the official Dagster chart (infra/helm/values.yaml): the settings the
deployment depends on, and the instance they render checked by this Dagster's own schemas.
No services and no cluster needed."""

import re
import tomllib
from pathlib import Path

import pytest
import yaml

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[2]
VALUES = yaml.safe_load((ROOT / "infra" / "helm" / "values.yaml").read_text())
DAGSTER_YAML = yaml.safe_load((ROOT / "infra" / "dagster.yaml").read_text())
SECRETS = {"spatial-etl-services", "spatial-etl-compute-logs"}


def _env(deployment: dict) -> dict[str, str]:
    return {item["name"]: item["value"] for item in deployment["env"]}


def test_postgres_secret_is_external_and_the_driver_is_psycopg2():
    assert VALUES["generatePostgresqlPasswordSecret"] is False
    assert VALUES["global"]["postgresqlSecretName"]
    postgres = VALUES["postgresql"]
    assert postgres["enabled"] is False
    assert postgres["postgresqlScheme"] == "postgresql+psycopg2"
    assert "postgresqlPassword" not in postgres
    assert DAGSTER_YAML["storage"]["postgres"]["postgres_db"]["scheme"] == "postgresql+psycopg2"


def test_both_code_locations_are_user_deployments_with_pinned_images():
    deployments = VALUES["dagster-user-deployments"]["deployments"]
    assert VALUES["dagster-user-deployments"]["enabled"] is True
    locations = {}
    for deployment in deployments:
        image = deployment["image"]
        assert re.fullmatch(r"\d+\.\d+\.\d+", image["tag"]), image
        assert image["pullPolicy"] == "IfNotPresent"
        args = deployment["dagsterApiGrpcArgs"]
        locations[args[args.index("--location-name") + 1]] = args[args.index("-m") + 1]
        assert {s["name"] for s in deployment["envSecrets"]} == SECRETS
        assert deployment["includeConfigInLaunchedRuns"]["enabled"] is True
        env = _env(deployment)
        assert env["ETL_WORKER_HEARTBEAT_SECONDS"] == "0"  # K8s checks workers itself
        assert not any("PASSWORD" in name or "CONNECTION_STRING" in name for name in env)
        assert deployment["podSecurityContext"]["runAsUser"] == 10001
        assert deployment["podSecurityContext"]["runAsNonRoot"] is True
        assert deployment["resources"]["limits"]["memory"]
    assert locations == {
        "asset_lanes": "asset_lanes.definitions",
        "legacy_ingest": "legacy_ingest.definitions",
    }


def test_k8s_run_launcher_gives_run_pods_resources_storage_and_secrets():
    launcher = VALUES["runLauncher"]
    assert launcher["type"] == "K8sRunLauncher"
    config = launcher["config"]["k8sRunLauncher"]
    assert {s["name"] for s in config["envSecrets"]} == SECRETS
    assert "ETL_WORKER_HEARTBEAT_SECONDS=0" in config["envVars"]
    container = config["runK8sConfig"]["containerConfig"]
    for part in ("requests", "limits"):
        assert {"memory", "ephemeral-storage"} <= set(container["resources"][part])
    mounts = {m["mountPath"]: m["name"] for m in config["volumeMounts"]}
    volumes = {v["name"]: v for v in config["volumes"]}
    assert volumes[mounts["/tmp"]]["emptyDir"]["sizeLimit"]
    assert config["runK8sConfig"]["podSpecConfig"]["securityContext"]["runAsNonRoot"] is True
    assert config["runK8sConfig"]["jobSpecConfig"]["activeDeadlineSeconds"] > 0


def test_k8s_run_launcher_config_is_valid_for_dagster_k8s():
    from dagster._config import validate_config
    from dagster_k8s import K8sRunLauncher

    helm = VALUES["runLauncher"]["config"]["k8sRunLauncher"]
    # What the chart renders into the instance (snake_case keys of the launcher).
    rendered = {
        # Set by the chart's templates from the release (not from values).
        "instance_config_map": "spatial-etl-dagster-instance",
        "dagster_home": "/opt/dagster/dagster_home",
        "postgres_password_secret": VALUES["global"]["postgresqlSecretName"],
        "service_account_name": "spatial-etl-dagster",
        "load_incluster_config": helm["loadInclusterConfig"],
        "image_pull_policy": helm["imagePullPolicy"],
        "env_secrets": [s["name"] for s in helm["envSecrets"]],
        "env_vars": helm["envVars"],
        "volume_mounts": helm["volumeMounts"],
        "volumes": helm["volumes"],
        "fail_pod_on_run_failure": helm["failPodOnRunFailure"],
        "run_k8s_config": {
            "container_config": helm["runK8sConfig"]["containerConfig"],
            "pod_spec_config": helm["runK8sConfig"]["podSpecConfig"],
            "job_spec_config": helm["runK8sConfig"]["jobSpecConfig"],
        },
    }
    result = validate_config(K8sRunLauncher.config_type(), rendered)
    assert result.success, [e.message for e in result.errors]


def test_run_monitoring_concurrency_and_queue_match_the_instance_config():
    daemon = VALUES["dagsterDaemon"]
    monitoring = daemon["runMonitoring"]
    assert monitoring["enabled"] is True
    assert monitoring["maxRuntimeSeconds"] > 0
    assert monitoring["startTimeoutSeconds"] > 0
    assert daemon["runRetries"]["enabled"] is False
    queue = daemon["runCoordinator"]["config"]["customRunCoordinator"]
    assert queue["class"] == DAGSTER_YAML["run_coordinator"]["class"]
    assert queue["config"] == DAGSTER_YAML["run_coordinator"]["config"]
    assert VALUES["additionalInstanceConfig"]["concurrency"] == DAGSTER_YAML["concurrency"]


def test_compute_logs_go_to_the_object_store():
    logs = VALUES["computeLogManager"]
    assert logs["type"] == "S3ComputeLogManager"
    s3 = logs["config"]["s3ComputeLogManager"]
    assert (s3["bucket"], s3["prefix"]) == ("dagster-logs", "compute-logs")
    assert s3["endpointUrl"].startswith("http")
    assert DAGSTER_YAML["compute_logs"]["class"] == "S3ComputeLogManager"
    for component in ("dagsterWebserver", "dagsterDaemon"):
        assert {"name": "spatial-etl-compute-logs"} in VALUES[component]["envSecrets"]


def test_rendered_instance_is_valid_for_this_dagster(tmp_path, monkeypatch):
    """The instance the chart renders from these values (storage, run coordinator, compute
    logs, run monitoring, additional config), checked by Dagster's instance schema."""
    from dagster._core.instance.config import dagster_instance_config

    daemon, s3 = VALUES["dagsterDaemon"], VALUES["computeLogManager"]["config"]
    s3 = s3["s3ComputeLogManager"]
    snake = {
        "startTimeoutSeconds": "start_timeout_seconds",
        "pollIntervalSeconds": "poll_interval_seconds",
        "maxResumeRunAttempts": "max_resume_run_attempts",
        "maxRuntimeSeconds": "max_runtime_seconds",
        "freeSlotsAfterRunEndSeconds": "free_slots_after_run_end_seconds",
        "enabled": "enabled",
    }
    coordinator = daemon["runCoordinator"]["config"]["customRunCoordinator"]
    instance = {
        "storage": {
            "postgres": {
                "postgres_db": {
                    "hostname": VALUES["postgresql"]["postgresqlHost"],
                    "username": VALUES["postgresql"]["postgresqlUsername"],
                    "password": {"env": "DAGSTER_PG_PASSWORD"},
                    "db_name": VALUES["postgresql"]["postgresqlDatabase"],
                    "port": VALUES["postgresql"]["service"]["port"],
                    "scheme": VALUES["postgresql"]["postgresqlScheme"],
                }
            }
        },
        "run_coordinator": coordinator,
        "compute_logs": {
            "module": "dagster_aws.s3.compute_log_manager",
            "class": "S3ComputeLogManager",
            "config": {
                "bucket": s3["bucket"],
                "prefix": s3["prefix"],
                "endpoint_url": s3["endpointUrl"],
                "use_ssl": s3["useSsl"],
                "region": s3["region"],
                "local_dir": s3["localDir"],
                "upload_interval": s3["uploadInterval"],
            },
        },
        "run_monitoring": {snake[k]: v for k, v in daemon["runMonitoring"].items()},
        **VALUES["additionalInstanceConfig"],
    }
    (tmp_path / "dagster.yaml").write_text(yaml.safe_dump(instance))
    monkeypatch.setenv("DAGSTER_PG_PASSWORD", "x")
    config, _ = dagster_instance_config(str(tmp_path))
    assert config["concurrency"]["runs"]["tag_concurrency_limits"] == [
        {"key": "etl/weight", "value": "heavy", "limit": 2}
    ]
    assert config["concurrency"]["runs"]["max_concurrent_runs"] == 4
    assert config["run_monitoring"]["max_runtime_seconds"] == 21600


def test_dagster_k8s_is_locked_at_the_release_of_dagster():
    lock = tomllib.loads((ROOT / "uv.lock").read_text())
    versions = {p["name"]: p["version"] for p in lock["package"]}
    major, minor, patch = versions["dagster"].split(".")
    # Libraries are versioned 0.(minor+16).patch alongside dagster 1.minor.patch.
    assert major == "1"
    assert versions["dagster-k8s"] == f"0.{int(minor) + 16}.{patch}" == "0.29.27"
    assert versions["dagster-aws"] == versions["dagster-k8s"]
    instance = tomllib.loads((ROOT / "packages/etl-instance/pyproject.toml").read_text())
    assert "dagster-k8s==0.29.27" in instance["project"]["dependencies"]

    import dagster_k8s

    assert dagster_k8s.__version__ == "0.29.27"
