"""Operational settings of the Dagster definitions, read from the environment."""

import os

import dagster as dg
from etl_instance.heartbeat import job_heartbeat_tags

DEPLOYED_ENV = "ETL_DEPLOYED"
"""Set to ``1`` by the deployed platform only (local stack processes, compose, Helm, the e2e
harness): anything else is a development instance."""


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


def is_deployed_instance() -> bool:
    """Whether these definitions serve the deployed platform (``ETL_DEPLOYED=1``)."""
    return os.environ.get(DEPLOYED_ENV, "").strip().lower() in {"1", "true", "yes"}


def automation_sensor_status() -> dg.DefaultSensorStatus:
    """Default status of the sensors that act on shared buckets and the shared ledger.

    STOPPED on a development instance (``dg dev``): a second daemon must not take in the live
    landing zone or re-queue its manifests into a throwaway instance. Start them in the UI
    when that is what you want.
    """
    deployed = is_deployed_instance()
    return dg.DefaultSensorStatus.RUNNING if deployed else dg.DefaultSensorStatus.STOPPED


def automation_schedule_status() -> dg.DefaultScheduleStatus:
    """``automation_sensor_status`` for schedules."""
    return (
        dg.DefaultScheduleStatus.RUNNING
        if is_deployed_instance()
        else dg.DefaultScheduleStatus.STOPPED
    )
