"""Files of a stack's Dagster instance: ``dagster.yaml``, ``workspace.yaml`` and the storage
migration that runs once before the Dagster processes start.

``dagster.yaml`` is ``infra/dagster.yaml`` (the instance of compose and the images) with one
local difference: the compute log manager writes run logs to the stack's own S3 server
(``endpoint_url``) instead of the endpoint named by the environment. Credentials stay out of
the file: boto3 reads ``AWS_ACCESS_KEY_ID``/``AWS_SECRET_ACCESS_KEY`` from the environment
(``StackConfig.environment``).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml

from etl_devstack.stack_config import StackConfig, StackError

COMPUTE_LOG_MANAGER_MODULE = "dagster_aws.s3.compute_log_manager"
COMPUTE_LOG_MANAGER_CLASS = "S3ComputeLogManager"
COMPUTE_LOGS_UPLOAD_INTERVAL_S = 5
"""Partial logs of a running step reach the object store this often (seconds)."""


def render_workspace(config: StackConfig) -> str:
    """``workspace.yaml``: one gRPC server per code location, on the stack's loopback ports."""
    lines = ["# Rendered by etl_devstack: one gRPC server per code location.", "load_from:"]
    for loc in config.locations:
        lines += [
            "  - grpc_server:",
            f"      host: {config.host}",
            f"      port: {loc.port}",
            f"      location_name: {loc.name}",
        ]
    return "\n".join(lines) + "\n"


def compute_log_manager_config(config: StackConfig) -> dict[str, Any]:
    """The instance's ``compute_logs`` block for this stack: S3 on the stack's own server."""
    return {
        "module": COMPUTE_LOG_MANAGER_MODULE,
        "class": COMPUTE_LOG_MANAGER_CLASS,
        "config": {
            "bucket": config.logs_bucket,
            "prefix": config.compute_logs_prefix,
            "endpoint_url": config.s3_url,
            "use_ssl": config.s3_url.startswith("https://"),
            "region": config.s3_region,
            # Where the logs are written while a step runs (uploaded every few seconds).
            "local_dir": str(config.state_dir / "compute-logs"),
            "upload_interval": COMPUTE_LOGS_UPLOAD_INTERVAL_S,
        },
    }


def render_instance_config(config: StackConfig) -> str:
    """``dagster.yaml`` of the stack: ``infra/dagster.yaml`` plus the local compute logs."""
    source = config.infra_dir / "dagster.yaml"
    if not source.is_file():
        raise StackError(f"instance config {source} is missing")
    instance = yaml.safe_load(source.read_text()) or {}
    instance["compute_logs"] = compute_log_manager_config(config)
    header = (
        "# Rendered by etl_devstack from infra/dagster.yaml: run logs go to the local S3 server.\n"
    )
    return header + yaml.safe_dump(instance, sort_keys=False)


def prepare_dagster_home(config: StackConfig) -> Path:
    """Write ``dagster.yaml`` and ``workspace.yaml`` into the stack's ``DAGSTER_HOME``."""
    home = config.dagster_home
    home.mkdir(parents=True, exist_ok=True)
    (home / "dagster.yaml").write_text(render_instance_config(config))
    config.workspace_file.write_text(render_workspace(config))
    (config.state_dir / "compute-logs").mkdir(parents=True, exist_ok=True)
    return home


def migrate_instance(config: StackConfig, timeout: float) -> None:
    """Create/upgrade the storage tables once, before several processes race to do it."""
    log_path = config.logs_dir / "instance-migrate.log"
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with log_path.open("ab") as log:
        result = subprocess.run(
            [sys.executable, "-m", "dagster", "instance", "migrate"],
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=config.process_environment(),
            timeout=timeout,
            check=False,
        )
    if result.returncode != 0:
        tail = "\n".join(log_path.read_text(errors="replace").splitlines()[-30:])
        raise StackError(f"`dagster instance migrate` failed:\n{tail}")
