"""Acting on a batch: list batches, retry one through the platform, cancel one, resubmit one.

``retry`` re-executes the batch's failed Dagster run (GraphQL ``launchRunReexecution``); the
new run carries ``etl/retry_of`` and the ledger records it under the same batch. It refuses a
batch whose failure was its input's: running it again would fail the same way, so the fix is
a new batch (``etl resubmit``). ``cancel`` terminates the batch's Dagster runs; a batch still
queued in the ledger is marked canceled at once. Both write an activity entry.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from etl_cli.errors import UsageProblem

if TYPE_CHECKING:
    from etl_cli.batch_status import BatchStatus
    from etl_cli.dagster_api import DagsterApi
    from etl_models.ledger_records import ManifestRecord
    from etl_storage import Ledger

RETRY_OF_TAG = "etl/retry_of"
REQUESTED_BY_TAG = "etl/requested_by"
_DURATION = re.compile(r"^(\d+)([hdw])$")


# Where the classes of bad-input and broken-contract errors live: a run that failed with one
# of them (or a subclass) fails the same way when re-run.
_INPUT_ERROR_CLASSES = (
    ("etl_pipeline.lanes.contract", "LaneError"),
    ("etl_models.manifest", "ManifestValidationError"),
    ("etl_spatial.loader", "VectorLoadError"),
    ("etl_transforms.errors", "TransformError"),
    ("etl_spatial.metadata", "CogValidationError"),
    ("etl_spatial.gdal", "GdalError"),
    ("etl_storage.errors", "ObjectNotFound"),
)
# Subclasses that are operational, not the input's: another attempt may succeed.
_OPERATIONAL = frozenset({"GdalTimeout"})
# How the platform words an operational failure for the uploader (etl_pipeline.failures).
TEMPORARY_PROBLEM = "the platform hit a temporary problem"


@functools.cache
def input_error_names() -> frozenset[str]:
    """Names of the input/contract error classes and their subclasses (operational ones out)."""
    import importlib

    names: set[str] = set()
    pending: list[type] = []
    for module, name in _INPUT_ERROR_CLASSES:
        try:
            pending.append(getattr(importlib.import_module(module), name))
        except (ImportError, AttributeError):  # a lane package not installed here
            names.add(name)
    while pending:
        cls = pending.pop()
        if cls.__name__ not in names and cls.__name__ not in _OPERATIONAL:
            names.add(cls.__name__)
            pending.extend(cls.__subclasses__())
    return frozenset(names)


def parse_since(text: str, now: datetime | None = None) -> datetime:
    """``2026-11-28``, ``2026-11-28T10:00``, or ``3d``/``12h``/``2w`` ago, as UTC."""
    now = now or datetime.now(UTC)
    match = _DURATION.match(text.strip())
    if match:
        amount, unit = int(match.group(1)), match.group(2)
        hours = {"h": 1, "d": 24, "w": 24 * 7}[unit]
        return now - timedelta(hours=amount * hours)
    try:
        value = datetime.fromisoformat(text.strip())
    except ValueError:
        raise UsageProblem(
            f"{text!r} is not a date", "write a date (2026-11-28), a time or an age such as 3d"
        ) from None
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def batch_row(record: ManifestRecord) -> dict[str, Any]:
    """One batch as ``etl batches`` lists it."""
    return {
        "batch_id": record.batch_id or record.claimed_batch_id,
        "status": record.status.value,
        "dataset_id": record.dataset_id,
        "lane": record.lane,
        "uploader": record.uploader,
        "created_at": record.created_at.isoformat(),
        "updated_at": record.updated_at.isoformat(),
        "resubmit_of": getattr(record, "resubmit_of", None),
        "warnings": len(getattr(record, "warnings", None) or []),
        "error": (record.error or "").strip().splitlines()[0] if record.error else None,
    }


def input_error_name(error: str | None) -> str | None:
    """The input/contract error class a failure text names (a run's ``error_detail`` holds
    the classes, older ``error`` texts start with one), or ``None``: a retry may help."""
    names = input_error_names()
    # Lanes report failures as "<ErrorType>: message" (as_failure), once per failed step.
    for word in re.findall(r"\b([A-Z]\w*(?:Error|Violation|Missing|Timeout))\b", error or ""):
        if word in names:
            return word
    return None


@dataclass(frozen=True)
class RetryResult:
    batch_id: str
    parent_run_id: str
    run_id: str
    run_url: str

    def as_json(self) -> dict[str, str]:
        return dict(self.__dict__)


def check_retryable(status: BatchStatus, dagster: DagsterApi | None = None) -> str:
    """The Dagster run id to re-execute; ``UsageProblem`` saying why not otherwise.

    A batch canceled before its run started has no run in the ledger; Dagster still has the
    canceled run, which is what gets re-executed."""
    batch = status.batch_id
    resubmit = f"fix the input and run `etl resubmit {batch}` (with --set or --file)"
    if status.manifest is None and status.rejected:
        raise UsageProblem(
            f"batch {batch} was rejected at intake: its manifest is invalid, so running it "
            "again would fail the same way",
            resubmit,
        )
    if not status.terminal:
        raise UsageProblem(
            f"batch {batch} is {status.status}; only a failed or canceled batch can be retried",
            f"follow it with `etl status {batch} --watch`",
        )
    if status.status == "success":
        raise UsageProblem(
            f"batch {batch} succeeded; there is nothing to retry",
            f"to process it again with changes, use `etl resubmit {batch}`",
        )
    run = status.current_run
    if run is None and dagster is not None and status.status == "canceled":
        runs = dagster.batch_runs(status.batch_id)
        if runs:
            return runs[0].run_id
    if run is None:
        raise UsageProblem(
            f"batch {batch} ended ({status.status}) before any run started, so there is no "
            "run to re-execute",
            f"submit it again with `etl resubmit {batch}`",
        )
    error = run.error or status.error or ""
    detail = getattr(run, "error_detail", None) or ""
    name = None if TEMPORARY_PROBLEM in error else input_error_name(f"{detail}\n{error}")
    if status.status == "failure" and name is not None:
        raise UsageProblem(
            f"batch {batch} failed because of its input ({name}); a retry would fail the same way",
            resubmit,
        )
    return run.dagster_run_id


def retry_batch(
    ledger: Ledger, dagster: DagsterApi, status: BatchStatus, actor: str
) -> RetryResult:
    """Re-execute the batch's last run through the platform and log who asked."""
    parent = check_retryable(status, dagster)
    run_id = dagster.reexecute(parent, {RETRY_OF_TAG: parent, REQUESTED_BY_TAG: actor})
    ledger.log_activity(
        actor=actor,
        action="retry_requested",
        subject=status.batch_id,
        details={"parent_run_id": parent, "run_id": run_id},
        key=f"retry:{run_id}",
    )
    return RetryResult(status.batch_id, parent, run_id, dagster.run_url(run_id))


@dataclass(frozen=True)
class CancelResult:
    batch_id: str
    terminated_runs: tuple[str, ...]
    marked_canceled: bool
    note: str | None = None

    def as_json(self) -> dict[str, Any]:
        return {**self.__dict__, "terminated_runs": list(self.terminated_runs)}


def cancel_batch(
    ledger: Ledger, dagster: DagsterApi, status: BatchStatus, actor: str
) -> CancelResult:
    """Terminate the batch's active Dagster runs; mark a ledger-queued batch canceled."""
    from etl_cli.dagster_api import ACTIVE_STATUSES
    from etl_cli.errors import ServiceUnavailable

    batch = status.batch_id
    if status.terminal:
        raise UsageProblem(f"batch {batch} already ended ({status.status}); nothing to cancel")
    if status.status == "submitted":
        raise UsageProblem(
            f"batch {batch} is not taken in yet (its manifest waits in the landing zone)",
            "wait until `etl status` shows it queued, then cancel it",
        )
    terminated: list[str] = []
    note = None
    try:
        for run in dagster.batch_runs(batch):
            if run.status in ACTIVE_STATUSES:
                dagster.terminate(run.run_id)
                terminated.append(run.run_id)
    except ServiceUnavailable:
        if status.status != "queued":
            raise
        note = (
            "the Dagster webserver is unreachable: a run already requested for this batch may "
            "still start; check the run queue in the UI"
        )
    marked = False
    if status.status == "queued":
        # No run has started, so no run-status sensor will record the cancelation for us.
        ledger.set_manifest_status(batch, "canceled", error=f"canceled by {actor} (etl cancel)")
        marked = True
    ledger.log_activity(
        actor=actor,
        action="cancel_requested",
        subject=batch,
        details={"terminated_runs": terminated, "status_before": status.status},
    )
    return CancelResult(batch, tuple(terminated), marked, note)
