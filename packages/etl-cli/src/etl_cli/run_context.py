"""Where a batch stands on the platform beyond its ledger record: its queue position (queued
batches ahead in the ledger, runs ahead in Dagster's run queue), why it waits, and its
Dagster run's address. The webserver is optional here: when it is down the ledger's answer is
shown and it is asked again only after a pause, so following a batch never stalls on it.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from etl_cli.errors import ServiceUnavailable

if TYPE_CHECKING:
    from etl_cli.batch_status import BatchStatus
    from etl_cli.dagster_api import DagsterApi
    from etl_storage import Ledger

RETRY_DAGSTER_AFTER_S = 30.0


@dataclass(frozen=True)
class PlatformView:
    """What the ledger alone does not say about a batch."""

    queue: str | None = None  # position and reason while queued
    run_id: str | None = None  # the Dagster run id (known before the ledger has a run)
    run_url: str | None = None


class PlatformProbe:
    """Asks the ledger and (when reachable) the Dagster webserver about one batch."""

    def __init__(
        self,
        ledger: Ledger,
        dagster: DagsterApi | None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.ledger = ledger
        self.dagster = dagster
        self.clock = clock
        self._dagster_down_until = 0.0

    def _dagster(self) -> DagsterApi | None:
        if self.dagster is None or self.clock() < self._dagster_down_until:
            return None
        return self.dagster

    def view(self, status: BatchStatus) -> PlatformView:
        run = status.current_run
        run_id = run.dagster_run_id if run is not None else None
        queue = None
        if status.status == "queued" and status.manifest is not None:
            ahead = self.ledger.count_queued_before(status.manifest)
            queue = f"{ahead} queued batch(es) ahead in the ledger"
        dagster = self._dagster()
        if dagster is not None and (status.status == "queued" or run_id is None):
            try:
                queue, run_id = self._from_dagster(dagster, status, queue, run_id)
            except ServiceUnavailable:
                self._dagster_down_until = self.clock() + RETRY_DAGSTER_AFTER_S
        url = self.dagster.run_url(run_id) if run_id and self.dagster is not None else None
        return PlatformView(queue, run_id, url)

    def _from_dagster(
        self, dagster: DagsterApi, status: BatchStatus, queue: str | None, run_id: str | None
    ) -> tuple[str | None, str | None]:
        if status.terminal:
            return queue, run_id
        runs = dagster.batch_runs(status.batch_id)
        if not runs:
            if status.status == "queued":
                reason = "waiting for the sensor to launch its run"
                return (f"{queue}; {reason}" if queue else reason), run_id
            return queue, run_id
        newest = runs[0]
        if status.status != "queued":
            return queue, run_id or newest.run_id
        if newest.status == "QUEUED":
            ahead = dagster.queue_ahead(newest)
            reason = f"run queued in Dagster, {ahead} run(s) ahead (concurrency limits)"
        elif newest.status in {"NOT_STARTED", "STARTING"}:
            reason = "the run worker is starting"
        else:
            reason = f"run {newest.status.lower()} in Dagster"
        return (f"{queue}; {reason}" if queue else reason), newest.run_id
