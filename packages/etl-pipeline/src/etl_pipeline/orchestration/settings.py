"""Operational settings of the Dagster definitions, read from the environment."""

import os

from etl_instance.heartbeat import job_heartbeat_tags


def env_int(name: str, default: int, minimum: int = 1) -> int:
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ValueError(f"{name} must be a whole number (got {raw!r})") from None
    if value < minimum:
        raise ValueError(f"{name} must be at least {minimum} (got {value})")
    return value


def sensor_interval_seconds() -> int:
    """How often manifest and run-status sensors tick (``ETL_SENSOR_INTERVAL_SECONDS``, 5)."""
    return env_int("ETL_SENSOR_INTERVAL_SECONDS", 5)


def heartbeat_job_tags() -> dict[str, str]:
    """Tags of every lane job: its run workers heartbeat every ``ETL_WORKER_HEARTBEAT_SECONDS``
    (default 10; ``0``/``off`` where the run launcher checks workers itself, as on Kubernetes);
    their steps must require the ``run_worker_heartbeat`` resource."""
    return job_heartbeat_tags()
