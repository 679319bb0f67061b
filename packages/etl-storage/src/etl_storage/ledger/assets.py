"""The ``assets`` collection and the version counters: one record per published version.

Invariants (unique indexes): one asset per (dataset_id, version), per lake key, and per
(dataset_id, content_hash), so two runs of identical content cannot both publish.
"""

from __future__ import annotations

import contextlib
from typing import Any

from bson import ObjectId

from etl_models.ledger_records import AssetRecord, utc_now
from etl_storage.errors import AssetConflict, LedgerError, RecordNotFound
from etl_storage.ledger.connection import CAS_ATTEMPTS, LedgerConnection, ledger_op
from etl_storage.migrations import ASSETS, VERSION_COUNTERS


def _same_registration(doc: dict[str, Any], record: AssetRecord) -> bool:
    return (
        doc["dataset_id"] == record.dataset_id
        and doc["version"] == record.version
        and doc["s3_key"] == record.s3_key
        and doc["content_hash"] == record.content_hash
    )


class AssetLedger(LedgerConnection):
    """Asset records, version allocation and dedupe lookups."""

    @ledger_op
    def allocate_version(self, dataset_id: str) -> int:
        """The next version number of ``dataset_id`` (1, 2, ...), allocated atomically.

        A counter document per dataset is incremented server-side, so concurrent callers
        never get the same number. A version whose run fails is not reused (gaps are fine).
        """
        from pymongo import ReturnDocument
        from pymongo.errors import DuplicateKeyError

        counters = self._col(VERSION_COUNTERS)
        for _ in range(CAS_ATTEMPTS):
            doc = counters.find_one_and_update(
                {"_id": dataset_id},
                {"$inc": {"seq": 1}, "$set": {"updated_at": utc_now()}},
                return_document=ReturnDocument.AFTER,
            )
            if doc is not None:
                return int(doc["seq"])
            # First version of this dataset: create the counter at 0 (a concurrent creator
            # may win; either way the next update increments the one document). No upsert:
            # racing upserts are where servers differ, a plain insert is unambiguous.
            with contextlib.suppress(DuplicateKeyError):
                counters.insert_one({"_id": dataset_id, "seq": 0, "updated_at": utc_now()})
        raise LedgerError(f"could not allocate a version for dataset {dataset_id!r}")

    @ledger_op
    def register_asset(self, record: AssetRecord) -> ObjectId:
        """Insert an asset record; its ``_id``.

        Re-registering the identical asset (same dataset, version, key and content hash)
        returns the existing id. The same content already registered for the dataset raises
        ``AssetConflict`` with that record as ``existing`` (a concurrent identical batch won);
        any other collision (version or lake key taken) raises it with ``existing=None``.
        """
        from pymongo.errors import DuplicateKeyError

        assets = self._col(ASSETS)
        try:
            return assets.insert_one(record.to_mongo()).inserted_id
        except DuplicateKeyError as exc:
            same_content = assets.find_one(
                {"dataset_id": record.dataset_id, "content_hash": record.content_hash}
            )
            if same_content is not None and _same_registration(same_content, record):
                return same_content["_id"]
            if same_content is not None:
                existing = AssetRecord.from_mongo(same_content)
                raise AssetConflict(
                    f"asset {record.dataset_id} with content {record.content_hash} is already "
                    f"registered as v{existing.version} ({existing.s3_key}); link to it instead "
                    "of publishing the same content again",
                    existing=existing,
                ) from exc
            taken = assets.find_one(
                {
                    "$or": [
                        {"dataset_id": record.dataset_id, "version": record.version},
                        {"s3_key": record.s3_key},
                    ]
                }
            )
            if taken is not None and _same_registration(taken, record):
                return taken["_id"]
            raise AssetConflict(
                f"asset {record.dataset_id} v{record.version} at {record.s3_key} collides with "
                f"an existing asset ({(exc.details or {}).get('keyValue')}); versions and lake "
                "keys are unique: allocate a new version with allocate_version"
            ) from exc

    @ledger_op
    def get_asset(self, dataset_id: str, version: int) -> AssetRecord | None:
        """One version of a dataset, or ``None``."""
        doc = self._col(ASSETS).find_one({"dataset_id": dataset_id, "version": int(version)})
        return AssetRecord.from_mongo(doc) if doc else None

    @ledger_op
    def get_asset_by_id(self, asset_id: ObjectId) -> AssetRecord | None:
        """An asset by its ``_id``, or ``None``."""
        doc = self._col(ASSETS).find_one({"_id": asset_id})
        return AssetRecord.from_mongo(doc) if doc else None

    @ledger_op
    def latest_asset(self, dataset_id: str) -> AssetRecord | None:
        """The highest registered version of ``dataset_id``, or ``None``."""
        doc = self._col(ASSETS).find_one({"dataset_id": dataset_id}, sort=[("version", -1)])
        return AssetRecord.from_mongo(doc) if doc else None

    @ledger_op
    def asset_exists(
        self, content_hash: str, *, dataset_id: str | None = None
    ) -> AssetRecord | None:
        """The latest asset with ``content_hash`` (dedupe), optionally within one dataset."""
        query: dict[str, Any] = {"content_hash": content_hash}
        if dataset_id is not None:
            query["dataset_id"] = dataset_id
        doc = self._col(ASSETS).find_one(query, sort=[("created_at", -1), ("version", -1)])
        return AssetRecord.from_mongo(doc) if doc else None

    @ledger_op
    def list_datasets(self) -> list[str]:
        """Dataset ids with at least one registered version, sorted."""
        return sorted(self._col(ASSETS).distinct("dataset_id"))

    @ledger_op
    def versions(self, dataset_id: str) -> list[int]:
        """Registered versions of ``dataset_id``, ascending."""
        cursor = (
            self._col(ASSETS).find({"dataset_id": dataset_id}, {"version": 1}).sort("version", 1)
        )
        return [int(doc["version"]) for doc in cursor]

    @ledger_op
    def deprecate_asset(
        self, dataset_id: str, version: int, *, actor: str, reason: str | None = None
    ) -> AssetRecord:
        """Mark one version deprecated (its data stays; nothing is deleted); the record.

        Deprecating an already deprecated version keeps the first mark (idempotent)."""
        from pymongo import ReturnDocument

        assets = self._col(ASSETS)
        query = {"dataset_id": dataset_id, "version": int(version)}
        doc = assets.find_one_and_update(
            {**query, "deprecated_at": None},
            {
                "$set": {
                    "deprecated_at": utc_now(),
                    "deprecated_by": actor,
                    "deprecation_reason": reason,
                }
            },
            return_document=ReturnDocument.AFTER,
        )
        if doc is None:
            doc = assets.find_one(query)
        if doc is None:
            raise RecordNotFound(f"dataset {dataset_id!r} has no version v{version}")
        return AssetRecord.from_mongo(doc)
