"""Rejecting a manifest at intake: the ledger record, the archived copy and its report."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from etl_models.intake import archive_key_for
from etl_models.manifest import Manifest, ManifestValidationError
from etl_models.status import ManifestStatus
from etl_pipeline.intake_results import IntakeResult, RejectedManifest
from etl_pipeline.lanes.registry import lane_for_intent

if TYPE_CHECKING:
    from etl_storage.ledger import Ledger
    from etl_storage.object_store import ObjectStore


def reject(
    store: ObjectStore,
    ledger: Ledger,
    key: str,
    etag: str | None,
    batch_id: str | None,
    reason: str,
    error: ManifestValidationError | None,
    result: IntakeResult,
    operator: str,
    emit: Callable[[str], None],
    *,
    manifest: Manifest | None = None,
    disabled: bool = False,
) -> None:
    """Record the rejection, then archive the manifest with its report (both idempotent).

    A rejection does not claim the batch id (``claimed_batch_id`` records it): the user fixes
    the manifest and submits it again under the same id.
    """
    archive_key = archive_key_for(key)
    fields: dict[str, Any] = {}
    if manifest is not None:
        fields = {
            "uploader": manifest.uploader,
            "intent": manifest.intent,
            "lane": lane_for_intent(manifest.intent).name,
            "dataset_id": manifest.dataset_id,
        }
    ledger.record_manifest_intake(
        manifest_key=key,
        status=ManifestStatus.REJECTED,
        claimed_batch_id=batch_id,
        archive_key=archive_key,
        manifest_etag=etag,
        error=reason,
        **fields,
    )
    report = {
        "manifest_key": key,
        "manifest_etag": etag,
        "batch_id": batch_id,
        "status": "rejected",
        "reason": reason,
        "rejected_by": operator,
        **(
            error.as_report() if error else {"errors": [{"field": "(manifest)", "message": reason}]}
        ),
    }
    store.archive_rejected_manifest(key, report)
    ledger.log_activity(
        actor=operator,
        action="manifest_disabled_lane" if disabled else "manifest_rejected",
        subject=batch_id or key,
        details={"manifest_key": key, "reason": reason[:2000]},
        key=f"rejected:{key}:{etag}",
    )
    emit(f"rejected {key}: {reason}")
    entry = RejectedManifest(key, reason, batch_id, archive_key)
    (result.disabled if disabled else result.rejected).append(entry)
