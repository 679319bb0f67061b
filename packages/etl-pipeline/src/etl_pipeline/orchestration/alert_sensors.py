"""Dagster sensors that post alerts (``etl_pipeline.alerts``) for failed runs and rejected
manifests.

Wiring: each code location adds ``alert_sensors("<location name>")`` to its definitions.

- ``<location>_run_failure_alert_sensor``: a run-failure sensor over the location's own jobs.
- ``<location>_rejection_alert_sensor``: polls the ledger (``manifests`` with status
  ``rejected``) by cursor. Rejections are recorded by the sensors of both locations in one
  ledger, so only one location carries it: ``ETL_ALERT_REJECTIONS_LOCATION`` (default
  ``asset_lanes``), or ``include_rejections`` explicitly.

Both run by default only when ``ETL_ALERT_WEBHOOK_URL`` is set where the definitions load
(otherwise they are defined but stopped, and skip if started).
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import dagster as dg

from etl_pipeline.alerts import (
    AlertSettings,
    rejection_alert,
    run_failure_alert,
    send_alert,
)
from etl_pipeline.orchestration.resources import LedgerResource
from etl_pipeline.orchestration.settings import automation_sensor_status

REJECTIONS_LOCATION_ENV = "ETL_ALERT_REJECTIONS_LOCATION"
DEFAULT_REJECTIONS_LOCATION = "asset_lanes"
REJECTION_POLL_LIMIT = 500
CURSOR_VERSION = 1


# --- rejection cursor ---------------------------------------------------------------------


@dataclass(frozen=True)
class RejectionCursor:
    """Position in the ledger's rejected manifests: last ``updated_at`` seen and the ids seen
    at exactly that time (several records can share a timestamp)."""

    after: str | None = None
    seen: tuple[str, ...] = ()

    @classmethod
    def parse(cls, raw: str | None) -> RejectionCursor | None:
        """``None`` for a sensor that never ran (or an unreadable cursor)."""
        if not raw:
            return None
        try:
            data = json.loads(raw)
            if data.get("v") != CURSOR_VERSION:
                return None
            return cls(after=data.get("after"), seen=tuple(data.get("seen") or ()))
        except (ValueError, AttributeError, TypeError):
            return None

    def dump(self) -> str:
        return json.dumps({"v": CURSOR_VERSION, "after": self.after, "seen": list(self.seen)})

    def is_new(self, updated_at: datetime, record_id: str) -> bool:
        if self.after is None:
            return True
        stamp = updated_at.isoformat()
        return stamp > self.after or (stamp == self.after and record_id not in self.seen)

    def advance(self, updated_at: datetime, record_id: str) -> RejectionCursor:
        stamp = updated_at.isoformat()
        if stamp == self.after:
            return RejectionCursor(stamp, (*self.seen, record_id))
        return RejectionCursor(stamp, (record_id,))


def _record_key(record: Any) -> tuple[datetime, str]:
    return record.updated_at, str(record.id or record.intake_key)


def new_rejections(records: Iterable[Any], cursor: RejectionCursor) -> list[Any]:
    """Records after ``cursor``, oldest first (the ledger lists the newest first)."""
    fresh = [r for r in records if cursor.is_new(*_record_key(r))]
    return sorted(fresh, key=_record_key)


def baseline_cursor(records: Iterable[Any]) -> RejectionCursor:
    """Cursor at the newest existing rejection: a first tick alerts on nothing old."""
    cursor = RejectionCursor()
    for record in sorted(records, key=_record_key):
        cursor = cursor.advance(*_record_key(record))
    return cursor


def evaluate_rejections(
    ledger: Any,
    settings: AlertSettings | None,
    raw_cursor: str | None,
    location: str,
    *,
    limit: int = REJECTION_POLL_LIMIT,
) -> tuple[int, str]:
    """Alert on rejections recorded since the cursor; (alerts sent, new cursor).

    The cursor moves past each alert once it is delivered, so a webhook outage delays the
    remaining alerts (the tick fails) without losing or repeating any.
    """
    records = ledger.list_manifests(status="rejected", limit=limit)
    cursor = RejectionCursor.parse(raw_cursor)
    if cursor is None:
        return 0, baseline_cursor(records).dump()
    sent = 0
    for record in new_rejections(records, cursor):
        alert = rejection_alert(
            batch_id=record.batch_id,
            dataset_id=record.dataset_id,
            manifest_key=record.manifest_key,
            error=record.error,
            location=location,
            archive_key=record.archive_key,
        )
        try:
            if send_alert(settings, alert):
                sent += 1
        except Exception as exc:
            # Keep what was delivered; the tick reports the failure and the next one resumes.
            raise RejectionAlertError(cursor.dump(), sent, exc) from exc
        cursor = cursor.advance(*_record_key(record))
    return sent, cursor.dump()


class RejectionAlertError(RuntimeError):
    """Delivery failed part-way; ``cursor`` covers the alerts already delivered."""

    def __init__(self, cursor: str, sent: int, cause: Exception) -> None:
        super().__init__(f"{sent} rejection alert(s) delivered, then: {cause}")
        self.cursor = cursor
        self.sent = sent


# --- sensors --------------------------------------------------------------------------------


def _failure_error(context: dg.RunFailureSensorContext) -> str | None:
    messages = []
    for event in context.get_step_failure_events():
        data = event.step_failure_data
        error = data.error if data is not None else None
        text = error.to_string() if error is not None else event.message
        messages.append(f"{event.step_key}: {text}")
    if messages:
        return "\n".join(messages)
    return context.failure_event.message if context.failure_event else None


def _run_failure_sensor(
    location: str, status: dg.DefaultSensorStatus, settings_of: Callable[[], AlertSettings | None]
) -> dg.SensorDefinition:
    @dg.run_failure_sensor(
        name=f"{location}_run_failure_alert_sensor",
        description=(
            "Posts a message to ETL_ALERT_WEBHOOK_URL for every failed run of this code "
            "location (batch, dataset, error, link to the run)."
        ),
        default_status=status,
        minimum_interval_seconds=15,
    )
    def run_failure_alert_sensor(context: dg.RunFailureSensorContext):
        settings = settings_of()
        if settings is None:
            return dg.SkipReason("ETL_ALERT_WEBHOOK_URL is not set: alerts are off")
        run = context.dagster_run
        alert = run_failure_alert(
            run_id=run.run_id,
            job_name=run.job_name,
            location=location,
            tags=run.tags,
            error=_failure_error(context),
            ui_base_url=settings.ui_base_url,
        )
        send_alert(settings, alert)
        return None

    return run_failure_alert_sensor


def _rejection_sensor(
    location: str,
    status: dg.DefaultSensorStatus,
    settings_of: Callable[[], AlertSettings | None],
) -> dg.SensorDefinition:
    @dg.sensor(
        name=f"{location}_rejection_alert_sensor",
        description=(
            "Posts a message to ETL_ALERT_WEBHOOK_URL for every manifest the ledger records "
            "as rejected (polled by cursor; the first tick starts after the existing ones)."
        ),
        default_status=status,
        minimum_interval_seconds=30,
    )
    def rejection_alert_sensor(context: dg.SensorEvaluationContext, ledger: LedgerResource):
        settings = settings_of()
        if settings is None:
            return dg.SkipReason("ETL_ALERT_WEBHOOK_URL is not set: alerts are off")
        try:
            sent, cursor = evaluate_rejections(
                ledger.get_client(), settings, context.cursor, location
            )
        except RejectionAlertError as exc:
            context.update_cursor(exc.cursor)
            raise
        context.update_cursor(cursor)
        return dg.SkipReason(f"{sent} rejection alert(s) sent")

    return rejection_alert_sensor


def alert_sensors(
    location: str,
    *,
    include_rejections: bool | None = None,
) -> list[dg.SensorDefinition]:
    """The alert sensors of code location ``location``.

    ``include_rejections`` defaults to ``location == $ETL_ALERT_REJECTIONS_LOCATION``
    (``asset_lanes``). The rejection sensor reads the ledger through the location's
    ``ledger`` resource.
    """
    configured = AlertSettings.from_env()
    # Running only where alerts are configured, and only on the deployed instance.
    status = automation_sensor_status() if configured else dg.DefaultSensorStatus.STOPPED
    sensors = [_run_failure_sensor(location, status, AlertSettings.from_env)]
    if include_rejections is None:
        owner = os.environ.get(REJECTIONS_LOCATION_ENV, "").strip() or DEFAULT_REJECTIONS_LOCATION
        include_rejections = owner == location
    if include_rejections:
        sensors.append(_rejection_sensor(location, status, AlertSettings.from_env))
    return sensors
