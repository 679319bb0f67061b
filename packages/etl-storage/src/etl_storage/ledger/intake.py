"""What a manifest intake records: its fields, its result and its document (no I/O)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Required, TypedDict, Unpack

from bson import ObjectId

from etl_models.ledger_records import (
    ManifestRecord,
    StatusChange,
    manifest_fingerprint,
    utc_now,
)
from etl_models.status import ManifestStatus
from etl_storage.errors import LedgerError
from etl_storage.ledger.connection import truncate_error


@dataclass(frozen=True)
class ManifestIntake:
    """Result of ``record_manifest_intake``: the record and whether this call created it."""

    manifest_id: ObjectId
    created: bool
    record: ManifestRecord


class IntakeFields(TypedDict, total=False):
    """What a manifest intake records (the keyword arguments of ``record_manifest_intake``)."""

    manifest_key: Required[str]
    status: Required[ManifestStatus | str]
    batch_id: str | None
    claimed_batch_id: str | None
    archive_key: str | None
    manifest_etag: str | None
    uploader: str | None
    intent: str | None
    lane: str | None
    dataset_id: str | None
    error: str | None
    warnings: list[str]
    input_bytes: int | None
    manifest: dict[str, Any] | None


def intake_record(**fields: Unpack[IntakeFields]) -> tuple[ManifestRecord, dict[str, Any]]:
    """The record of a manifest intake and its document, checked."""
    status = ManifestStatus(fields["status"])
    batch_id, manifest = fields.get("batch_id"), fields.get("manifest")
    error = fields.get("error")
    if status not in {ManifestStatus.QUEUED, ManifestStatus.REJECTED}:
        raise LedgerError(
            f"manifest intake status must be 'queued' or 'rejected', got {status.value!r}; "
            "later states are set with set_manifest_status"
        )
    if status == ManifestStatus.REJECTED and not error:
        raise LedgerError("a rejected manifest needs the error text that explains why")
    fingerprint = manifest_fingerprint(manifest) if manifest is not None else None
    now = utc_now()
    record = ManifestRecord(
        intake_key=ManifestRecord.intake_key_for(
            batch_id, fields["manifest_key"], fields.get("manifest_etag"), fingerprint
        ),
        batch_id=batch_id,
        claimed_batch_id=fields.get("claimed_batch_id") or batch_id,
        manifest_key=fields["manifest_key"],
        manifest_etag=fields.get("manifest_etag"),
        archive_key=fields.get("archive_key"),
        uploader=fields.get("uploader"),
        intent=fields.get("intent"),
        lane=fields.get("lane"),
        dataset_id=fields.get("dataset_id"),
        resubmit_of=resubmitted_batch(manifest),
        status=status,
        error=truncate_error(error),
        warnings=list(fields.get("warnings") or []),
        input_bytes=fields.get("input_bytes"),
        manifest=manifest,
        fingerprint=fingerprint,
        status_history=[StatusChange(status=status.value, at=now, error=truncate_error(error))],
        created_at=now,
        updated_at=now,
    )
    doc = record.to_mongo()
    if batch_id is None:
        doc.pop("batch_id")  # absent, not null: the unique index is partial on strings
    return record, doc


RESUBMIT_OF_TAG = "resubmit_of"


def resubmitted_batch(manifest: dict[str, Any] | None) -> str | None:
    """The batch a manifest resubmits: its ``metadata.tags.resubmit_of`` (set by
    ``etl resubmit``), or ``None``."""
    metadata = manifest.get("metadata") if isinstance(manifest, dict) else None
    tags = metadata.get("tags") if isinstance(metadata, dict) else None
    value = tags.get(RESUBMIT_OF_TAG) if isinstance(tags, dict) else None
    return value if isinstance(value, str) and value else None
