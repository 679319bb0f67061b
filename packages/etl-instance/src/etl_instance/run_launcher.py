"""``HeartbeatRunLauncher``: Dagster's default launcher plus a run-worker health check.

Configured in ``infra/dagster.yaml``; loaded by the webserver, the daemon and the code
servers, so this module imports nothing but Dagster.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any, Self

from dagster import DagsterRun, DefaultRunLauncher, Field, IntSource
from dagster._core.launcher import CheckRunHealthResult, WorkerStatus
from dagster._serdes import ConfigurableClassData

from etl_instance.heartbeat import DEFAULT_TIMEOUT_S, evaluate_heartbeat


class HeartbeatRunLauncher(DefaultRunLauncher):
    """Launches runs on the code servers exactly like ``DefaultRunLauncher``; in addition,
    run monitoring (``run_monitoring.enabled``) may ask it whether a started run's worker is
    alive. It answers from the worker's heartbeat tag (see ``etl_instance.heartbeat``):
    a stale heartbeat means the worker died, and the daemon then fails the run.

    Runs of jobs that do not heartbeat are always reported running (as before).
    """

    def __init__(
        self,
        inst_data: ConfigurableClassData | None = None,
        heartbeat_timeout_seconds: int = DEFAULT_TIMEOUT_S,
    ):
        if heartbeat_timeout_seconds < 1:
            raise ValueError(
                "run_launcher.config.heartbeat_timeout_seconds must be at least 1 "
                f"(got {heartbeat_timeout_seconds})"
            )
        self.heartbeat_timeout_seconds = heartbeat_timeout_seconds
        super().__init__(inst_data=inst_data)

    @classmethod
    def config_type(cls) -> dict[str, Any]:
        return {
            "heartbeat_timeout_seconds": Field(
                IntSource,
                is_required=False,
                default_value=DEFAULT_TIMEOUT_S,
                description=(
                    "Seconds without a heartbeat after which a started run's worker is "
                    "considered dead (at least four heartbeat intervals are always allowed)."
                ),
            )
        }

    @classmethod
    def from_config_value(
        cls, inst_data: ConfigurableClassData, config_value: Mapping[str, Any]
    ) -> Self:
        return cls(inst_data=inst_data, **config_value)

    @property
    def supports_check_run_worker_health(self) -> bool:
        return True

    def check_run_worker_health(self, run: DagsterRun) -> CheckRunHealthResult:
        record = self._instance.get_run_record_by_id(run.run_id) if self.has_instance else None
        started_at = record.start_time if record is not None else None
        verdict = evaluate_heartbeat(
            run.tags,
            started_at=started_at,
            now=time.time(),
            timeout_s=self.heartbeat_timeout_seconds,
        )
        if verdict is None:
            return CheckRunHealthResult(WorkerStatus.RUNNING, "job does not heartbeat")
        status = WorkerStatus.RUNNING if verdict.alive else WorkerStatus.FAILED
        return CheckRunHealthResult(status, verdict.message)
