"""Run status mirrored into the ledger: one run-status sensor per concern (start, success,
failure, cancelation) for the jobs of a location; each archives the manifest as well."""

import dagster as dg

from etl_models.status import RunStatus
from etl_pipeline.lifecycle import RunContext, record_run_finished, record_run_started
from etl_pipeline.orchestration.resources import LedgerResource, ObjectStoreResource
from etl_pipeline.orchestration.settings import sensor_interval_seconds


def _run_context(run: dg.DagsterRun) -> RunContext:
    return RunContext(run.run_id, run.job_name, dict(run.tags))


def run_error_text(instance: dg.DagsterInstance, run_id: str, fallback: str | None) -> str:
    """The real error of a failed run: its step failures' messages, else the run failure."""
    records = instance.get_records_for_run(
        run_id, of_type=dg.DagsterEventType.STEP_FAILURE, limit=10
    ).records
    messages = []
    for record in records:
        event = record.event_log_entry.dagster_event
        error = getattr(event.event_specific_data, "error", None) if event else None
        if error is not None:
            text = error.message.strip()
            cause = error.cause
            while cause is not None:
                text += f"\ncaused by: {cause.message.strip()}"
                cause = cause.cause
            messages.append(f"{event.step_key}: {text}")
    return "\n\n".join(messages) or (fallback or "run failed (no error message recorded)")


def run_status_sensors(location: str) -> list[dg.SensorDefinition]:
    common = {
        "minimum_interval_seconds": sensor_interval_seconds(),
        "default_status": dg.DefaultSensorStatus.RUNNING,
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
        error = run_error_text(context.instance, run.run_id, fallback)
        record_run_finished(
            object_store.get_client(),
            ledger.get_client(),
            _run_context(run),
            RunStatus.FAILURE,
            error,
        )

    return [
        run_started,
        finished(RunStatus.SUCCESS, f"{location}_run_success_sensor"),
        run_failure,
        finished(RunStatus.CANCELED, f"{location}_run_canceled_sensor"),
    ]
