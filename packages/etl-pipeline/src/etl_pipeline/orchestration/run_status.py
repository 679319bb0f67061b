"""Run status mirrored into the ledger: one run-status sensor per concern (start, success,
failure, cancelation) for the jobs of a location; each archives the manifest as well."""

from dataclasses import dataclass

import dagster as dg

from etl_models.status import RunStatus
from etl_pipeline.lifecycle import RunContext, record_run_finished, record_run_started
from etl_pipeline.orchestration.resources import LedgerResource, ObjectStoreResource
from etl_pipeline.orchestration.settings import automation_sensor_status, sensor_interval_seconds


def _run_context(run: dg.DagsterRun) -> RunContext:
    return RunContext(run.run_id, run.job_name, dict(run.tags))


@dataclass(frozen=True)
class RunError:
    """Why a run failed: a sentence for the uploader and the technical chain for operators."""

    message: str
    detail: str


def run_error(instance: dg.DagsterInstance, run_id: str, fallback: str | None) -> RunError:
    """The real error of a failed run, from its step failures, else the run failure.

    A step that raised ``dg.Failure`` (a permanent error: see ``results.as_failure``) carries
    the uploader's sentence as its description; any other step error is an operational one
    that outlived its retries, told as such. The step keys, exception classes and causes go
    to ``detail`` only.
    """
    from etl_pipeline.failures import (
        MAX_TRACEBACK_CHARS,
        clean_text,
        internal_error_message,
        is_internal_class,
    )

    records = instance.get_records_for_run(
        run_id, of_type=dg.DagsterEventType.STEP_FAILURE, limit=10
    ).records
    messages: list[str] = []
    details: list[str] = []
    for record in records:
        event = record.event_log_entry.dagster_event
        data = event.event_specific_data if event else None
        error = getattr(data, "error", None)
        failure = getattr(data, "user_failure_data", None)
        if error is None and failure is None:
            continue
        chain, innermost = [], None
        cause = error
        while cause is not None:
            chain.append(f"{cause.cls_name}: {cause.message.strip()}")
            innermost, cause = cause, cause.cause
        detail = f"{event.step_key}: " + "\ncaused by: ".join(chain)
        if innermost is not None and innermost.stack:
            # Where the innermost error was raised: a defect's location (the run log has all).
            stack = "".join(innermost.stack)[-MAX_TRACEBACK_CHARS:]
            detail += f"\ntraceback of {innermost.cls_name}:\n{stack}"
        details.append(detail)
        if failure is not None and failure.description:
            message = clean_text(failure.description)
        elif innermost is not None and is_internal_class(innermost.cls_name):
            message = internal_error_message(innermost.cls_name, clean_text(innermost.message))
        else:
            message = (
                "the platform hit a temporary problem and the step failed after its retries "
                f"({clean_text(error.message) if error else 'no message'}); re-execute the run, "
                "and tell the platform team if it persists"
            )
        if message not in messages:
            messages.append(message)
    if not messages:
        text = fallback or "run failed (no error message recorded)"
        return RunError(clean_text(text), text)
    return RunError("; ".join(messages), "\n\n".join(details))


def run_error_text(instance: dg.DagsterInstance, run_id: str, fallback: str | None) -> str:
    """The uploader's sentence of :func:`run_error`."""
    return run_error(instance, run_id, fallback).message


def run_status_sensors(location: str) -> list[dg.SensorDefinition]:
    common = {
        "minimum_interval_seconds": sensor_interval_seconds(),
        "default_status": automation_sensor_status(),
    }

    @dg.run_status_sensor(
        run_status=dg.DagsterRunStatus.STARTED, name=f"{location}_run_started_sensor", **common
    )
    def run_started(
        context: dg.RunStatusSensorContext,
        object_store: ObjectStoreResource,
        ledger: LedgerResource,
    ):
        record_run_started(
            object_store.get_client(), ledger.get_client(), _run_context(context.dagster_run)
        )

    def finished(status: RunStatus, name: str):
        @dg.run_status_sensor(
            run_status=getattr(dg.DagsterRunStatus, status.name), name=name, **common
        )
        def _finished(
            context: dg.RunStatusSensorContext,
            object_store: ObjectStoreResource,
            ledger: LedgerResource,
        ):
            record_run_finished(
                object_store.get_client(),
                ledger.get_client(),
                _run_context(context.dagster_run),
                status,
            )

        return _finished

    @dg.run_failure_sensor(name=f"{location}_run_failure_sensor", **common)
    def run_failure(
        context: dg.RunFailureSensorContext,
        object_store: ObjectStoreResource,
        ledger: LedgerResource,
    ):
        run = context.dagster_run
        fallback = context.failure_event.message if context.failure_event else None
        error = run_error(context.instance, run.run_id, fallback)
        context.log.info(f"run {run.run_id} failed: {error.detail}")
        record_run_finished(
            object_store.get_client(),
            ledger.get_client(),
            _run_context(run),
            RunStatus.FAILURE,
            error.message,
            error_detail=error.detail,
        )

    return [
        run_started,
        finished(RunStatus.SUCCESS, f"{location}_run_success_sensor"),
        run_failure,
        finished(RunStatus.CANCELED, f"{location}_run_canceled_sensor"),
    ]
