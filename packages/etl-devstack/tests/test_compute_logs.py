"""Run logs are kept in the object store: the stack's instance (``dagster.yaml`` rendered by
``etl_devstack.instance_files``, the code path of ``make up``) sends a run's stdout/stderr to
the local S3 server, where they can be read back without the process that wrote them."""

import uuid
from pathlib import Path

import dagster as dg
import pytest
import yaml

from etl_devstack.instance_files import (
    COMPUTE_LOG_MANAGER_CLASS,
    prepare_dagster_home,
    render_instance_config,
)
from etl_devstack.services import ensure_buckets
from etl_devstack.stack import StackConfig, find_repo_root

INFRA = find_repo_root(Path(__file__)) / "infra"


def _config(tmp_path: Path, s3_service, logs_bucket: str) -> StackConfig:
    return StackConfig.from_env(
        tmp_path / "state",
        INFRA,
        environ={
            "MINIO_ENDPOINT": s3_service.endpoint,
            "MINIO_ROOT_USER": s3_service.access_key,
            "MINIO_ROOT_PASSWORD": s3_service.secret_key,
            "DAGSTER_COMPUTE_LOGS_BUCKET": logs_bucket,
        },
    )


@pytest.mark.unit
def test_rendered_instance_keeps_infra_settings_and_adds_s3_compute_logs(tmp_path, monkeypatch):
    from dagster._core.instance.config import dagster_instance_config

    config = StackConfig.from_env(tmp_path, INFRA, environ={"MINIO_ENDPOINT": "127.0.0.1:19000"})
    rendered = yaml.safe_load(render_instance_config(config))
    infra = yaml.safe_load((INFRA / "dagster.yaml").read_text())

    assert rendered["storage"] == infra["storage"]
    assert rendered["run_launcher"] == infra["run_launcher"]
    logs = rendered["compute_logs"]
    assert logs["class"] == COMPUTE_LOG_MANAGER_CLASS
    assert logs["config"]["endpoint_url"] == "http://127.0.0.1:19000"
    assert logs["config"]["bucket"] == "dagster-logs"
    assert logs["config"]["prefix"] == "compute-logs"
    # No credential in the file: boto3 takes them from the process environment.
    assert "minioadmin" not in render_instance_config(config)
    assert config.environment()["AWS_ACCESS_KEY_ID"] == config.s3_access_key
    assert "dagster-logs" in config.buckets

    home = prepare_dagster_home(config)
    for name in ("HOST", "PORT", "USER", "PASSWORD", "DB"):
        monkeypatch.setenv(f"DAGSTER_POSTGRES_{name}", "5432" if name == "PORT" else "x")
    checked, _ = dagster_instance_config(str(home))
    assert checked["compute_logs"]["class"] == COMPUTE_LOG_MANAGER_CLASS


MARKER = f"compute-log-marker-{uuid.uuid4().hex}"


@dg.op
def noisy_step(context: dg.OpExecutionContext) -> None:
    print(f"stdout {MARKER}")
    context.log.info("a step that prints")


@dg.job
def noisy_job():
    noisy_step()


@pytest.mark.integration
def test_a_runs_logs_are_readable_from_the_object_store(tmp_path, s3_service, monkeypatch):
    bucket = f"logs-{uuid.uuid4().hex[:12]}"
    config = _config(tmp_path, s3_service, bucket)
    # What the stack does before it starts Dagster: buckets, then DAGSTER_HOME.
    ensure_buckets(config.s3_endpoint, config.s3_access_key, config.s3_secret_key, config.buckets)
    home = prepare_dagster_home(config)
    for key in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_DEFAULT_REGION"):
        monkeypatch.setenv(key, config.environment()[key])
    compute_logs = yaml.safe_load((home / "dagster.yaml").read_text())["compute_logs"]

    with dg.instance_for_test(overrides={"compute_logs": compute_logs}) as instance:
        result = noisy_job.execute_in_process(instance=instance)
        assert result.success
        run_id = result.run_id

    # Read back with a fresh client, as the webserver of a restarted stack would.
    client = s3_service.client()
    keys = [obj.object_name for obj in client.list_objects(bucket, prefix="", recursive=True)]
    assert keys, "no compute log object was uploaded"
    assert all(key.startswith(f"{config.compute_logs_prefix}/") for key in keys)
    bodies = {}
    for key in keys:
        response = client.get_object(bucket, key)
        try:
            bodies[key] = response.read().decode()
        finally:
            response.close()
            response.release_conn()
    stdout_keys = [key for key, body in bodies.items() if f"stdout {MARKER}" in body]
    assert stdout_keys, f"the step's stdout is in none of {keys}"
    assert any(run_id in key for key in keys), keys
