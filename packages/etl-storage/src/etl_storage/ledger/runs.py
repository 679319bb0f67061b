"""The ``runs`` collection: one record per Dagster run, linked to its batch's manifest.

Sensors report starts and ends in any order; ``etl_models.status.decide_run_end`` decides what
an end does, this module carries it out idempotently.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from bson import ObjectId

from etl_models.ledger_records import ProducedAsset, RunPhase, RunRecord, StatusChange, utc_now
from etl_models.status import (
    RUN_TRANSITIONS,
    TERMINAL_RUN_STATUSES,
    Decision,
    RunStatus,
    decide_run_end,
)
from etl_storage.errors import InvalidStatusTransition, LedgerError, RecordNotFound
from etl_storage.ledger.connection import (
    CAS_ATTEMPTS,
    LedgerConnection,
    ledger_op,
    truncate_error,
)
from etl_storage.migrations import MANIFESTS, RUNS


class RunLedger(LedgerConnection):
    """Run records (``runs._id`` is what other documents reference; the Dagster run id string
    lives only in ``runs.dagster_run_id``)."""

    def _manifest_id(self, batch_id: str | None) -> ObjectId | None:
        if not batch_id:
            return None
        doc = self._col(MANIFESTS).find_one({"batch_id": batch_id}, {"_id": 1})
        return doc["_id"] if doc else None

    def _link_manifest(self, manifest_id: ObjectId | None, run_id: ObjectId) -> None:
        if manifest_id is not None:
            self._col(MANIFESTS).update_one(
                {"_id": manifest_id}, {"$addToSet": {"run_ids": run_id}}
            )

    @ledger_op
    def start_run(
        self,
        *,
        dagster_run_id: str,
        batch_id: str | None = None,
        lane: str | None = None,
        job_name: str | None = None,
        tags: dict[str, str] | None = None,
        partition_key: str | None = None,
    ) -> ObjectId:
        """Record that a Dagster run started (idempotent by ``dagster_run_id``); its ``_id``.

        The run is linked to the batch's manifest record. If the run's end was recorded first
        (sensors are not ordered), the terminal status is kept and only ``started_at`` is set.
        """
        from pymongo.errors import DuplicateKeyError

        manifest_id = self._manifest_id(batch_id)
        now = utc_now()
        record = RunRecord(
            dagster_run_id=dagster_run_id,
            batch_id=batch_id,
            manifest_id=manifest_id,
            lane=lane,
            job_name=job_name,
            partition_key=partition_key,
            tags=dict(tags or {}),
            status=RunStatus.RUNNING,
            started_at=now,
            status_history=[StatusChange(status=RunStatus.RUNNING.value, at=now)],
            created_at=now,
            updated_at=now,
        )
        runs = self._col(RUNS)
        for _ in range(2):  # two concurrent upserts: the loser retries and finds the winner
            try:
                runs.update_one(
                    {"dagster_run_id": dagster_run_id},
                    {"$setOnInsert": record.to_mongo()},
                    upsert=True,
                )
                break
            except DuplicateKeyError:
                continue
        runs.update_one(
            {"dagster_run_id": dagster_run_id, "started_at": None},
            {"$set": {"started_at": now, "updated_at": now}},
        )
        doc = runs.find_one({"dagster_run_id": dagster_run_id})
        if doc is None:  # pragma: no cover - the upsert above guarantees it
            raise LedgerError(f"run {dagster_run_id!r} vanished right after being recorded")
        self._link_manifest(manifest_id, doc["_id"])
        return doc["_id"]

    @ledger_op
    def finish_run(
        self,
        dagster_run_id: str,
        status: RunStatus | str,
        *,
        error: str | None = None,
        error_detail: str | None = None,
        batch_id: str | None = None,
        lane: str | None = None,
        job_name: str | None = None,
        tags: dict[str, str] | None = None,
    ) -> RunRecord:
        """Record the end of a run: ``success``, ``failure`` (with the real error) or ``canceled``.

        ``error`` is the sentence shown to the uploader; ``error_detail`` the technical chain
        for operators (not shown by default).

        A run whose start was never recorded (failed at launch, or events out of order) is
        created from the context given. Repeating the same end is a no-op; changing an ended
        run's status raises ``InvalidStatusTransition``.
        """
        from pymongo import ReturnDocument
        from pymongo.errors import DuplicateKeyError

        new = RunStatus(status)
        if decide_run_end(RunStatus.RUNNING, new) == Decision.REFUSE:
            allowed = sorted(s.value for s in TERMINAL_RUN_STATUSES)
            raise InvalidStatusTransition("run", dagster_run_id, "?", new.value, allowed)
        runs = self._col(RUNS)
        for _ in range(CAS_ATTEMPTS):
            now = utc_now()
            change = StatusChange(status=new.value, at=now, error=truncate_error(error))
            existing = runs.find_one({"dagster_run_id": dagster_run_id})
            current = RunRecord.from_mongo(existing) if existing is not None else None
            decision = decide_run_end(current.status if current else None, new)
            if current is not None and decision == Decision.KEEP:
                return current
            if current is not None and decision == Decision.REFUSE:
                raise InvalidStatusTransition(
                    "run",
                    dagster_run_id,
                    current.status.value,
                    new.value,
                    sorted(s.value for s in RUN_TRANSITIONS[current.status]),
                )
            if current is not None:  # APPLY: compare-and-set on the status decided from
                updated = runs.find_one_and_update(
                    {"dagster_run_id": dagster_run_id, "status": current.status.value},
                    {
                        "$set": {
                            "status": new.value,
                            "error": truncate_error(error),
                            "error_detail": truncate_error(error_detail),
                            "finished_at": now,
                            "updated_at": now,
                        },
                        "$push": {"status_history": change.to_mongo()},
                    },
                    return_document=ReturnDocument.AFTER,
                )
                if updated is not None:
                    return RunRecord.from_mongo(updated)
                continue
            record = RunRecord(
                dagster_run_id=dagster_run_id,
                batch_id=batch_id,
                manifest_id=self._manifest_id(batch_id),
                lane=lane,
                job_name=job_name,
                tags=dict(tags or {}),
                status=new,
                error=truncate_error(error),
                error_detail=truncate_error(error_detail),
                finished_at=now,
                status_history=[change],
                created_at=now,
                updated_at=now,
            )
            try:
                result = runs.insert_one(record.to_mongo())
            except DuplicateKeyError:
                continue  # a concurrent start_run won; apply the end to it
            record.id = result.inserted_id
            self._link_manifest(record.manifest_id, result.inserted_id)
            return record
        raise LedgerError(f"run {dagster_run_id!r}: could not record {new.value!r}")

    @ledger_op
    def link_run_asset(
        self, dagster_run_id: str, asset_id: ObjectId, deduplicated: bool = False
    ) -> None:
        """Link an asset to the run that produced it (or found it already present)."""
        link = ProducedAsset(asset_id=asset_id, deduplicated=deduplicated).to_mongo()
        result = self._col(RUNS).update_one(
            {"dagster_run_id": dagster_run_id},
            {"$addToSet": {"produced_assets": link}, "$set": {"updated_at": utc_now()}},
        )
        if result.matched_count == 0:
            raise RecordNotFound(f"no run record for Dagster run {dagster_run_id!r}")

    @ledger_op
    def get_run(self, dagster_run_id: str) -> RunRecord | None:
        """The run record of a Dagster run id, or ``None``."""
        doc = self._col(RUNS).find_one({"dagster_run_id": dagster_run_id})
        return RunRecord.from_mongo(doc) if doc else None

    @ledger_op
    def run_object_id(self, dagster_run_id: str) -> ObjectId:
        """The ``runs._id`` of a Dagster run (``RecordNotFound`` if not recorded)."""
        doc = self._col(RUNS).find_one({"dagster_run_id": dagster_run_id}, {"_id": 1})
        if doc is None:
            raise RecordNotFound(
                f"no run record for Dagster run {dagster_run_id!r}; call start_run first"
            )
        return doc["_id"]

    @ledger_op
    def runs_for_batch(self, batch_id: str) -> list[RunRecord]:
        """Every run of a batch (re-executions included), oldest first."""
        cursor = self._col(RUNS).find({"batch_id": batch_id}).sort("created_at", 1)
        return [RunRecord.from_mongo(doc) for doc in cursor]

    @ledger_op
    def record_run_phase(
        self, dagster_run_id: str, phase: str, counts: Mapping[str, Any] | None = None
    ) -> None:
        """Append the phase a run entered (with the counts known then) to its run record."""
        entry = RunPhase(name=phase, counts=dict(counts or {}))
        result = self._col(RUNS).update_one(
            {"dagster_run_id": dagster_run_id},
            {
                "$set": {"phase": phase, "updated_at": entry.at},
                "$push": {"phases": entry.to_mongo()},
            },
        )
        if result.matched_count == 0:
            raise RecordNotFound(f"no run record for Dagster run {dagster_run_id!r}")
