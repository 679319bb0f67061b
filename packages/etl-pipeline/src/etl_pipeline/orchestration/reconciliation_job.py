"""The nightly reconciliation job and its schedule (logic: ``etl_pipeline.reconciliation``).

Wiring: each code location merges ``reconciliation_definitions("<location name>")`` into its
definitions. Only one location carries the job (the checks cover the whole platform):
``ETL_RECONCILE_LOCATION`` (default ``asset_lanes``); elsewhere the definitions are empty.

Schedule: ``ETL_RECONCILE_CRON`` (default ``30 2 * * *``) in ``ETL_RECONCILE_TIMEZONE``
(default ``UTC``), running by default. The run's output carries one metadata entry per check
(``passed`` or the number of findings) plus the findings, and the full report is stored in
the ledger (``reconciliation_reports``).
"""

from __future__ import annotations

import os
from typing import Any

import dagster as dg

from etl_pipeline.orchestration.resources import LedgerResource, ObjectStoreResource
from etl_pipeline.orchestration.settings import automation_schedule_status
from etl_pipeline.reconciliation import (
    CHECKS,
    ReconciliationReport,
    ReconciliationSettings,
    reconcile,
    save_report,
)

LOCATION_ENV = "ETL_RECONCILE_LOCATION"
DEFAULT_LOCATION = "asset_lanes"
DEFAULT_CRON = "30 2 * * *"
MAX_FINDINGS_SHOWN = 50


def report_metadata(report: ReconciliationReport, report_id: Any = None) -> dict[str, Any]:
    """Asset-check-like metadata: one entry per check, totals, and the first findings."""
    metadata: dict[str, Any] = {
        f"check/{check}": "passed" if count == 0 else f"{count} finding(s)"
        for check, count in report.counts.items()
    }
    metadata["ok"] = dg.MetadataValue.bool(report.ok)
    metadata["assets_checked"] = report.assets_checked
    metadata["lake_objects_seen"] = report.lake_objects_seen
    metadata["landing_objects_seen"] = report.landing_objects_seen
    metadata["deleted_landing_objects"] = len(report.deleted)
    if report_id is not None:
        metadata["ledger_report_id"] = str(report_id)
    if report.findings:
        rows = ["| check | subject | detail |", "|---|---|---|"]
        rows += [
            f"| {f.check} | `{f.subject}` | {f.detail.replace('|', '/')} |"
            for f in report.findings[:MAX_FINDINGS_SHOWN]
        ]
        if len(report.findings) > MAX_FINDINGS_SHOWN:
            rows.append(f"| … | {len(report.findings) - MAX_FINDINGS_SHOWN} more | see ledger |")
        metadata["findings"] = dg.MetadataValue.md("\n".join(rows))
    return metadata


def build_reconciliation_job(location: str) -> dg.JobDefinition:
    """The job: one op that reconciles, stores the report and returns its summary."""

    @dg.op(
        name=f"{location}_reconcile_ledger_and_lake",
        description="Checks the ledger against the lake and landing zone; stores a report.",
        out=dg.Out(dict, description="Counts per check (the report is in the ledger)."),
        tags={"kind": "housekeeping"},
    )
    def reconcile_ledger_and_lake(
        context,  # OpExecutionContext (a string annotation fails)
        object_store: ObjectStoreResource,
        ledger: LedgerResource,
    ):
        settings = ReconciliationSettings.from_env()
        store, records = object_store.get_client(), ledger.get_client()
        report = reconcile(store, records, settings)
        report_id = save_report(records, report, dagster_run_id=context.run_id)
        for check in CHECKS:
            for finding in report.of(check)[:MAX_FINDINGS_SHOWN]:
                context.log.warning(f"{check}: {finding.subject}: {finding.detail}")
        summary = {"ok": report.ok, **report.counts, "deleted": len(report.deleted)}
        return dg.Output(summary, metadata=report_metadata(report, report_id))

    @dg.job(
        name=f"{location}_reconciliation_job",
        description=(
            "Nightly housekeeping: ledger assets vs lake objects (size, ETag, STAC item), "
            "untracked lake objects, manifests stuck in queued, landing files past retention."
        ),
        tags={"etl/housekeeping": "reconciliation"},
    )
    def reconciliation_job():
        reconcile_ledger_and_lake()

    return reconciliation_job


def reconciliation_definitions(location: str, *, enabled: bool | None = None) -> dg.Definitions:
    """The job and its nightly schedule for ``location`` (empty unless it carries them)."""
    if enabled is None:
        owner = os.environ.get(LOCATION_ENV, "").strip() or DEFAULT_LOCATION
        enabled = owner == location
    if not enabled:
        return dg.Definitions()
    job = build_reconciliation_job(location)
    schedule = dg.ScheduleDefinition(
        name=f"{location}_nightly_reconciliation_schedule",
        job=job,
        cron_schedule=os.environ.get("ETL_RECONCILE_CRON", "").strip() or DEFAULT_CRON,
        execution_timezone=os.environ.get("ETL_RECONCILE_TIMEZONE", "").strip() or "UTC",
        default_status=automation_schedule_status(),
        description="Runs the reconciliation job every night.",
    )
    return dg.Definitions(jobs=[job], schedules=[schedule])
