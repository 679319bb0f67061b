"""Run lifecycle mirrored into the ledger, and the archive step of intake.

Called by the run-status sensors of both code locations. A manifest is archived here, once its
run durably exists (it has started, or ended without starting), never by the sensor that
requested the run. Every function is idempotent: sensors may replay events.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

from etl_models.intake import (
    TAG_BATCH_ID,
    TAG_DATASET_ID,
    TAG_LANE,
    TAG_MANIFEST_ARCHIVE_KEY,
    TAG_MANIFEST_KEY,
    TAG_UPLOADER,
)
from etl_models.status import ManifestStatus, RunStatus

if TYPE_CHECKING:
    from bson import ObjectId

    from etl_storage.ledger import Ledger
    from etl_storage.object_store import ObjectStore

log = logging.getLogger(__name__)

MAX_ERROR_CHARS = 20_000


@dataclass(frozen=True)
class RunContext:
    """What the ledger needs to know about one Dagster run."""

    dagster_run_id: str
    job_name: str
    tags: Mapping[str, str]

    @property
    def batch_id(self) -> str | None:
        return self.tags.get(TAG_BATCH_ID)

    @property
    def manifest_key(self) -> str | None:
        return self.tags.get(TAG_MANIFEST_KEY)


def archive_if_pending(store: ObjectStore, ledger: Ledger, run: RunContext) -> str | None:
    """Archive the run's manifest if it is still in ``manifests/``; the archive key or None."""
    from etl_storage.errors import ArchiveError

    key = run.manifest_key
    if not key or not store.landing_object_exists(key):
        return None
    try:
        archive_key = store.archive_manifest(key)
    except ArchiveError:
        # The run-started sensor and the run's own start both archive; when the other one
        # moved the manifest between our check and our move, there is nothing left to do.
        if store.landing_object_exists(key):
            raise
        return None
    expected = run.tags.get(TAG_MANIFEST_ARCHIVE_KEY)
    if expected and expected != archive_key:
        log.warning("manifest %s archived at %s, tagged %s", key, archive_key, expected)
    if run.batch_id:
        ledger.set_manifest_archive_key(run.batch_id, archive_key)
    ledger.log_activity(
        actor="platform",
        action="manifest_archived",
        subject=run.batch_id or key,
        details={"manifest_key": key, "archive_key": archive_key, "run": run.dagster_run_id},
        key=f"archived:{run.dagster_run_id}:{key}",
    )
    return archive_key


def record_run_started(store: ObjectStore, ledger: Ledger, run: RunContext) -> ObjectId | None:
    """Mirror a run start: ``runs`` record, manifest ``running``, manifest archived."""
    batch_id = run.batch_id
    if not batch_id:
        return None
    run_id = ledger.start_run(
        dagster_run_id=run.dagster_run_id,
        batch_id=run.batch_id,
        lane=run.tags.get(TAG_LANE),
        job_name=run.job_name,
        tags=dict(run.tags),
        partition_key=run.tags.get(TAG_DATASET_ID),
    )
    if ledger.get_manifest(batch_id) is not None:
        ledger.set_manifest_status(batch_id, ManifestStatus.RUNNING, run_id=run_id)
    archive_if_pending(store, ledger, run)
    ledger.log_activity(
        actor=run.tags.get(TAG_UPLOADER, "platform"),
        action="run_started",
        subject=batch_id,
        details={"dagster_run_id": run.dagster_run_id, "job": run.job_name},
        key=f"run_started:{run.dagster_run_id}",
    )
    return run_id


def record_run_finished(
    store: ObjectStore,
    ledger: Ledger,
    run: RunContext,
    status: RunStatus,
    error: str | None = None,
    *,
    error_detail: str | None = None,
) -> None:
    """Mirror a run end (success, failure with its error text, canceled) into the ledger.

    ``error`` is the uploader's sentence (manifest and run ``error``); ``error_detail`` the
    technical chain, kept on the run record only. A run that ends without ever starting
    (canceled while queued, failed at launch) still gets its record, and its manifest is
    archived here.
    """
    batch_id = run.batch_id
    if not batch_id:
        return
    error = error[:MAX_ERROR_CHARS] if error else None
    record = ledger.finish_run(
        run.dagster_run_id,
        status,
        error=error,
        error_detail=error_detail[:MAX_ERROR_CHARS] if error_detail else None,
        batch_id=run.batch_id,
        lane=run.tags.get(TAG_LANE),
        job_name=run.job_name,
        tags=dict(run.tags),
    )
    manifest = ledger.get_manifest(batch_id)
    if manifest is not None:
        if manifest.status == ManifestStatus.QUEUED and status == RunStatus.SUCCESS:
            # The success event was handled before the start event: pass through running.
            ledger.set_manifest_status(batch_id, ManifestStatus.RUNNING, run_id=record.id)
        ledger.set_manifest_status(
            batch_id,
            ManifestStatus(status.value),
            run_id=record.id,
            error=error,
        )
    archive_if_pending(store, ledger, run)
    ledger.log_activity(
        actor=run.tags.get(TAG_UPLOADER, "platform"),
        action=f"run_{status.value}",
        subject=batch_id,
        details={"dagster_run_id": run.dagster_run_id, "error": (error or "")[:2000]},
        key=f"run_{status.value}:{run.dagster_run_id}",
    )
