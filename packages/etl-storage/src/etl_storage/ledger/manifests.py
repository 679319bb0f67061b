"""The ``manifests`` collection: intakes, lookups and status changes of batches.

Which status may follow which is decided by ``etl_models.status``; this module reads the
current state, asks, and writes the answer with a compare-and-set.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any, Unpack

from bson import ObjectId

from etl_models.ledger_records import ManifestRecord, StatusChange, utc_now
from etl_models.status import (
    MANIFEST_TRANSITIONS,
    Decision,
    ManifestStatus,
    RunStatus,
    decide_manifest_status,
    manifest_keeps_error,
    manifest_statuses_for_run_end,
)
from etl_storage.errors import (
    BatchIdConflict,
    InvalidStatusTransition,
    LedgerError,
    RecordNotFound,
)
from etl_storage.ledger.connection import (
    CAS_ATTEMPTS,
    DUPLICATE_KEY_CODE,
    LedgerConnection,
    ledger_op,
    truncate_error,
)
from etl_storage.ledger.intake import IntakeFields, ManifestIntake, intake_record
from etl_storage.migrations import MANIFESTS


class ManifestLedger(LedgerConnection):
    """Manifest records: one per accepted batch, plus every rejection."""

    @ledger_op
    def record_manifest_intake(self, **fields: Unpack[IntakeFields]) -> ManifestIntake:
        """Record a manifest as it is taken in: ``queued`` or ``rejected`` (with ``error``).

        Idempotent per batch: recording the same content again returns the existing record
        (``created=False``). A *different* manifest with an already recorded ``batch_id``
        raises ``BatchIdConflict`` so the caller can reject it. Without a ``batch_id`` (a
        manifest too broken to name one) the record is keyed by manifest key and ETag.
        """
        from pymongo.errors import DuplicateKeyError

        record, doc = intake_record(**fields)
        try:
            result = self._col(MANIFESTS).insert_one(doc)
        except DuplicateKeyError:
            outcome = self._existing_intake(record)
            if isinstance(outcome, BatchIdConflict):
                raise outcome from None
            return outcome
        record.id = result.inserted_id
        return ManifestIntake(result.inserted_id, True, record)

    @ledger_op
    def record_manifest_intakes(
        self, intakes: list[IntakeFields]
    ) -> list[ManifestIntake | BatchIdConflict]:
        """``record_manifest_intake`` for many manifests in one write (an intake tick).

        Each item holds that method's keyword arguments; the results come back in the same
        order, a ``BatchIdConflict`` in place of a record where the single call would raise.
        Items must not share a ``batch_id`` (the caller orders those itself).
        """
        from pymongo.errors import BulkWriteError

        built = [intake_record(**item) for item in intakes]
        if not built:
            return []
        failed: dict[int, dict[str, Any]] = {}
        try:
            self._col(MANIFESTS).insert_many([doc for _, doc in built], ordered=False)
        except BulkWriteError as exc:
            failed = {e["index"]: e for e in exc.details.get("writeErrors", [])}
            if any(e.get("code") != DUPLICATE_KEY_CODE for e in failed.values()):
                raise
        out: list[ManifestIntake | BatchIdConflict] = []
        for index, (record, doc) in enumerate(built):
            if index in failed:
                out.append(self._existing_intake(record))
            else:  # pymongo set the _id on the document before sending it
                record.id = doc["_id"]
                out.append(ManifestIntake(doc["_id"], True, record))
        return out

    def _existing_intake(self, record: ManifestRecord) -> ManifestIntake | BatchIdConflict:
        """The recorded intake that made ``record``'s insert a duplicate: the same manifest
        again (``created=False``), or a conflict when a different one holds the batch id."""
        existing = self._col(MANIFESTS).find_one({"intake_key": record.intake_key})
        if existing is None:
            raise LedgerError(
                f"intake {record.intake_key!r} was reported as a duplicate but is not recorded"
            )
        found = ManifestRecord.from_mongo(existing)
        same = (record.fingerprint is not None and found.fingerprint == record.fingerprint) or (
            record.fingerprint is None and record.batch_id is None
        )
        if not same:
            return BatchIdConflict(
                record.batch_id or record.intake_key, found.manifest_key, found.status.value
            )
        return ManifestIntake(found.id, False, found)  # type: ignore[arg-type]

    @ledger_op
    def get_manifest(self, batch_id: str) -> ManifestRecord | None:
        """The manifest record of ``batch_id``, or ``None``."""
        doc = self._col(MANIFESTS).find_one({"batch_id": batch_id})
        return ManifestRecord.from_mongo(doc) if doc else None

    @ledger_op
    def manifests_for_batch(self, batch_id: str) -> list[ManifestRecord]:
        """Every intake naming ``batch_id``: the accepted one and any rejections, oldest first."""
        cursor = (
            self._col(MANIFESTS)
            .find({"$or": [{"batch_id": batch_id}, {"claimed_batch_id": batch_id}]})
            .sort("created_at", 1)
        )
        return [ManifestRecord.from_mongo(doc) for doc in cursor]

    @ledger_op
    def get_manifest_by_key(self, manifest_key: str) -> list[ManifestRecord]:
        """Every manifest record taken in from ``manifest_key`` (names repeat), oldest first."""
        cursor = self._col(MANIFESTS).find({"manifest_key": manifest_key}).sort("created_at", 1)
        return [ManifestRecord.from_mongo(doc) for doc in cursor]

    @ledger_op
    def queued_manifests_by_key(self, manifest_keys: Iterable[str]) -> list[ManifestRecord]:
        """The ``queued`` manifest records taken in from any of ``manifest_keys``.

        One query per 500 keys (served by the ``manifest_key`` index): sensors use it to skip
        re-reading manifests that are already taken in and only wait for their run.
        """
        keys = sorted(set(manifest_keys))
        records: list[ManifestRecord] = []
        for start in range(0, len(keys), 500):
            cursor = self._col(MANIFESTS).find(
                {
                    "manifest_key": {"$in": keys[start : start + 500]},
                    "status": ManifestStatus.QUEUED.value,
                }
            )
            records.extend(ManifestRecord.from_mongo(doc) for doc in cursor)
        return records

    @ledger_op
    def list_manifests(
        self, status: ManifestStatus | str | None = None, limit: int = 100
    ) -> list[ManifestRecord]:
        """Most recently updated manifest records, optionally of one status."""
        query = {"status": ManifestStatus(status).value} if status else {}
        cursor = self._col(MANIFESTS).find(query).sort("updated_at", -1).limit(limit)
        return [ManifestRecord.from_mongo(doc) for doc in cursor]

    @ledger_op
    def find_manifests(
        self,
        *,
        status: ManifestStatus | str | None = None,
        uploader: str | None = None,
        dataset_id: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        limit: int = 50,
    ) -> list[ManifestRecord]:
        """Manifest records matching every given filter, newest first (``created_at``)."""
        query: dict[str, Any] = {}
        if status:
            query["status"] = ManifestStatus(status).value
        if uploader:
            query["uploader"] = uploader
        if dataset_id:
            query["dataset_id"] = dataset_id
        created: dict[str, datetime] = {}
        if since is not None:
            created["$gte"] = since
        if until is not None:
            created["$lt"] = until
        if created:
            query["created_at"] = created
        cursor = self._col(MANIFESTS).find(query).sort("created_at", -1).limit(limit)
        return [ManifestRecord.from_mongo(doc) for doc in cursor]

    @ledger_op
    def count_queued_before(self, record: ManifestRecord) -> int:
        """How many ``queued`` batches were taken in before ``record`` (its queue position)."""
        return self._col(MANIFESTS).count_documents(
            {
                "status": ManifestStatus.QUEUED.value,
                "created_at": {"$lt": record.created_at},
                "_id": {"$ne": record.id},
            }
        )

    @ledger_op
    def add_manifest_warnings(self, batch_id: str, warnings: Iterable[str]) -> None:
        """Add warnings (plain sentences for the user) to a batch's record; repeats are kept
        once, so a retried run does not say the same thing twice."""
        items = [w for w in warnings if w]
        if not items:
            return
        result = self._col(MANIFESTS).update_one(
            {"batch_id": batch_id},
            {"$addToSet": {"warnings": {"$each": items}}, "$set": {"updated_at": utc_now()}},
        )
        if result.matched_count == 0:
            raise RecordNotFound(f"no manifest record for batch_id {batch_id!r}")

    @ledger_op
    def set_manifest_archive_key(self, batch_id: str, archive_key: str) -> None:
        """Record where the manifest was archived (when it was archived after intake)."""
        result = self._col(MANIFESTS).update_one(
            {"batch_id": batch_id},
            {"$set": {"archive_key": archive_key, "updated_at": utc_now()}},
        )
        if result.matched_count == 0:
            raise RecordNotFound(f"no manifest record for batch_id {batch_id!r}")

    @ledger_op
    def set_manifest_status(
        self,
        batch_id: str,
        status: ManifestStatus | str,
        *,
        run_id: ObjectId | None = None,
        error: str | None = None,
    ) -> ManifestRecord:
        """Move the manifest of ``batch_id`` to ``status`` and append it to the history.

        ``etl_models.status.decide_manifest_status`` decides what the event does (events are
        attributed to runs, ``run_id`` = ``runs._id``); a refused change raises
        ``InvalidStatusTransition``.
        """
        from pymongo import ReturnDocument

        new = ManifestStatus(status)
        collection = self._col(MANIFESTS)
        for _ in range(CAS_ATTEMPTS):
            doc = collection.find_one({"batch_id": batch_id})
            if doc is None:
                raise RecordNotFound(
                    f"no manifest record for batch_id {batch_id!r}; record the intake first"
                )
            current = ManifestRecord.from_mongo(doc)
            decision = decide_manifest_status(current.status, current.current_run_id, new, run_id)
            if decision == Decision.KEEP:
                return current
            if decision == Decision.REFUSE:
                raise InvalidStatusTransition(
                    "manifest",
                    batch_id,
                    current.status.value,
                    new.value,
                    sorted(s.value for s in MANIFEST_TRANSITIONS[current.status]),
                )
            now = utc_now()
            change = StatusChange(
                status=new.value, at=now, run_id=run_id, error=truncate_error(error)
            ).to_mongo()
            update: dict[str, Any]
            if decision == Decision.HISTORY_ONLY:
                change["note"] = "event of an earlier run; status unchanged"
                update = {"$push": {"status_history": change}, "$set": {"updated_at": now}}
            else:
                fields: dict[str, Any] = {
                    "status": new.value,
                    "updated_at": now,
                    "error": truncate_error(error) if manifest_keeps_error(new) else None,
                }
                update = {"$set": fields, "$push": {"status_history": change}}
                if run_id is not None:
                    fields["current_run_id"] = run_id
                    update["$addToSet"] = {"run_ids": run_id}
            # Compare-and-set on the state we decided from; retry if someone moved it.
            guard = {
                "_id": current.id,
                "status": current.status.value,
                "current_run_id": current.current_run_id,
            }
            updated = collection.find_one_and_update(
                guard, update, return_document=ReturnDocument.AFTER
            )
            if updated is not None:
                return ManifestRecord.from_mongo(updated)
        raise LedgerError(
            f"manifest {batch_id!r}: status kept changing concurrently; setting {new.value!r} "
            f"gave up after {CAS_ATTEMPTS} attempts"
        )

    def record_run_end_on_manifest(
        self,
        batch_id: str,
        run_end: RunStatus | str,
        *,
        run_id: ObjectId | None = None,
        error: str | None = None,
    ) -> ManifestRecord | None:
        """Apply a run's end to its batch's manifest (``manifest_statuses_for_run_end``);
        the updated record, or ``None`` when the batch has no manifest record."""
        manifest = self.get_manifest(batch_id)
        if manifest is None:
            return None
        for status in manifest_statuses_for_run_end(manifest.status, RunStatus(run_end)):
            manifest = self.set_manifest_status(batch_id, status, run_id=run_id, error=error)
        return manifest
