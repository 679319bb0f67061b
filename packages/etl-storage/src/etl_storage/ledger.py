"""The ledger resource: MongoDB records of manifests, runs, assets, lineage and activity.

The ledger is the source of truth (DESIGN.md section 5): no ledger record, no data. One
``MongoClient`` per resource instance, created lazily, with retryable reads and writes so the
ledger keeps working after the server restarts. Migrations are applied on first use (and by
``migrate()``), so unique indexes are in place before the first write.

Ids: documents reference each other by ``ObjectId``; the Dagster run id string lives only in
``runs.dagster_run_id`` (``run_object_id()`` maps one to the other).
"""

from __future__ import annotations

import contextlib
import functools
import logging
import threading
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ParamSpec, Required, TypedDict, TypeVar, Unpack

import dagster as dg
from bson import ObjectId
from pydantic import Field, PrivateAttr

from etl_models.ledger_records import (
    ActivityLog,
    AssetRecord,
    InputFile,
    LineageEdge,
    ManifestRecord,
    MigrationRecord,
    ProducedAsset,
    RunRecord,
    StatusChange,
    manifest_fingerprint,
    utc_now,
)
from etl_models.status import (
    MANIFEST_TRANSITIONS,
    RUN_TRANSITIONS,
    TERMINAL_RUN_STATUSES,
    ManifestStatus,
    RunStatus,
)
from etl_storage.errors import (
    AssetConflict,
    BatchIdConflict,
    InvalidStatusTransition,
    LedgerError,
    LedgerUnavailable,
    RecordNotFound,
)
from etl_storage.migrations import (
    ACTIVITY_LOGS,
    ASSETS,
    LINEAGE,
    MANIFESTS,
    MIGRATIONS,
    RUNS,
    VERSION_COUNTERS,
    apply_migrations,
)

if TYPE_CHECKING:
    from pymongo import MongoClient
    from pymongo.collection import Collection
    from pymongo.database import Database

    from etl_models.settings import LedgerSettings

log = logging.getLogger(__name__)

P = ParamSpec("P")
T = TypeVar("T")

# Error texts are stored in full up to this size (head and tail beyond), far below BSON's 16 MB.
MAX_ERROR_CHARS = 32_000
_CAS_ATTEMPTS = 20
_MANIFEST_TERMINAL = frozenset(
    {ManifestStatus.SUCCESS, ManifestStatus.FAILURE, ManifestStatus.CANCELED}
)


def _truncate_error(error: str | None) -> str | None:
    if error is None or len(error) <= MAX_ERROR_CHARS:
        return error
    half = MAX_ERROR_CHARS // 2
    omitted = len(error) - 2 * half
    return f"{error[:half]}\n... [{omitted} characters omitted] ...\n{error[-half:]}"


DUPLICATE_KEY_CODE = 11000


def _ledger_op(func: Callable[P, T]) -> Callable[P, T]:
    """Turn connection failures into ``LedgerUnavailable`` (a typed, readable error)."""

    @functools.wraps(func)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> T:
        from pymongo.errors import ConnectionFailure

        try:
            return func(*args, **kwargs)
        except ConnectionFailure as exc:
            raise LedgerUnavailable(
                f"the ledger database is unreachable during {func.__name__} ({exc}); "
                "check that MongoDB runs and MONGO_CONNECTION_STRING points at it"
            ) from exc

    return wrapper


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
    manifest: dict[str, Any] | None


def _intake_record(**fields: Unpack[IntakeFields]) -> tuple[ManifestRecord, dict[str, Any]]:
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
        status=status,
        error=_truncate_error(error),
        manifest=manifest,
        fingerprint=fingerprint,
        status_history=[StatusChange(status=status.value, at=now, error=_truncate_error(error))],
        created_at=now,
        updated_at=now,
    )
    doc = record.to_mongo()
    if batch_id is None:
        doc.pop("batch_id")  # absent, not null: the unique index is partial on strings
    return record, doc


class Ledger(dg.ConfigurableResource):
    """MongoDB ledger (database ``spatial_etl``); a plain object or a Dagster resource.

    ``connection_string`` may carry credentials: it never appears in reprs or logs.
    """

    connection_string: str = Field(repr=False, description="MongoDB URI (secret).")
    database: str = Field(default="spatial_etl", description="Ledger database name.")
    server_selection_timeout_ms: int = Field(
        default=10_000, description="How long an operation waits for a reachable server."
    )
    auto_migrate: bool = Field(
        default=True, description="Apply pending migrations on first use of this instance."
    )

    _client: Any = PrivateAttr(default=None)
    _lock: Any = PrivateAttr(default_factory=threading.RLock)
    _migrated: bool = PrivateAttr(default=False)

    @classmethod
    def from_settings(cls, settings: LedgerSettings | None = None, **overrides: Any) -> Ledger:
        """Build from ``LedgerSettings`` (read from the environment when not given)."""
        from etl_models.settings import LedgerSettings

        s = settings or LedgerSettings()
        return cls(
            connection_string=s.connection_string.get_secret_value(),
            database=s.database,
            **overrides,
        )

    @classmethod
    def from_env(cls, **overrides: Any) -> Ledger:
        """For Dagster definitions: the connection string as ``EnvVar`` (resolved at run time,
        never stored in the definitions); the database name from the settings."""
        from etl_models.settings import LedgerSettings

        return cls(
            connection_string=dg.EnvVar("MONGO_CONNECTION_STRING"),
            database=LedgerSettings().database,
            **overrides,
        )

    # --- connection ------------------------------------------------------------------------

    @property
    def client(self) -> MongoClient:
        """The one ``MongoClient`` of this instance (thread-safe, lazy, reconnecting)."""
        if self._client is None:
            with self._lock:
                if self._client is None:
                    from pymongo import MongoClient

                    self._client = MongoClient(
                        self.connection_string,
                        serverSelectionTimeoutMS=self.server_selection_timeout_ms,
                        retryWrites=True,
                        retryReads=True,
                        tz_aware=True,
                        appname="etl-ledger",
                    )
        return self._client

    @property
    def db(self) -> Database:
        """The ledger database (migrated on first use when ``auto_migrate``)."""
        database = self.client[self.database]
        if self.auto_migrate and not self._migrated:
            with self._lock:
                if not self._migrated:
                    apply_migrations(database, MIGRATIONS)
                    self._migrated = True
        return database

    def _col(self, name: str) -> Collection:
        return self.db[name]

    def close(self) -> None:
        """Close the client (a later call opens a new one)."""
        with self._lock:
            if self._client is not None:
                self._client.close()
                self._client = None

    def teardown_after_execution(self, context: dg.InitResourceContext) -> None:
        """Dagster lifecycle: close the client of the initialised copy."""
        self.close()

    @_ledger_op
    def ping(self) -> bool:
        """Whether the server answers."""
        self.client.admin.command("ping")
        return True

    @_ledger_op
    def migrate(self) -> list[MigrationRecord]:
        """Apply pending migrations; returns those applied now (``MigrationError`` on drift)."""
        with self._lock:
            applied = apply_migrations(self.client[self.database], MIGRATIONS)
            self._migrated = True
        return applied

    # --- manifests -------------------------------------------------------------------------

    @_ledger_op
    def record_manifest_intake(self, **fields: Unpack[IntakeFields]) -> ManifestIntake:
        """Record a manifest as it is taken in: ``queued`` or ``rejected`` (with ``error``).

        Idempotent per batch: recording the same content again returns the existing record
        (``created=False``). A *different* manifest with an already recorded ``batch_id``
        raises ``BatchIdConflict`` so the caller can reject it. Without a ``batch_id`` (a
        manifest too broken to name one) the record is keyed by manifest key and ETag.
        """
        from pymongo.errors import DuplicateKeyError

        record, doc = _intake_record(**fields)
        try:
            result = self._col(MANIFESTS).insert_one(doc)
        except DuplicateKeyError:
            outcome = self._existing_intake(record)
            if isinstance(outcome, BatchIdConflict):
                raise outcome from None
            return outcome
        record.id = result.inserted_id
        return ManifestIntake(result.inserted_id, True, record)

    @_ledger_op
    def record_manifest_intakes(
        self, intakes: list[IntakeFields]
    ) -> list[ManifestIntake | BatchIdConflict]:
        """``record_manifest_intake`` for many manifests in one write (an intake tick).

        Each item holds that method's keyword arguments; the results come back in the same
        order, a ``BatchIdConflict`` in place of a record where the single call would raise.
        Items must not share a ``batch_id`` (the caller orders those itself).
        """
        from pymongo.errors import BulkWriteError

        built = [_intake_record(**item) for item in intakes]
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

    @_ledger_op
    def get_manifest(self, batch_id: str) -> ManifestRecord | None:
        """The manifest record of ``batch_id``, or ``None``."""
        doc = self._col(MANIFESTS).find_one({"batch_id": batch_id})
        return ManifestRecord.from_mongo(doc) if doc else None

    @_ledger_op
    def manifests_for_batch(self, batch_id: str) -> list[ManifestRecord]:
        """Every intake naming ``batch_id``: the accepted one and any rejections, oldest first."""
        cursor = (
            self._col(MANIFESTS)
            .find({"$or": [{"batch_id": batch_id}, {"claimed_batch_id": batch_id}]})
            .sort("created_at", 1)
        )
        return [ManifestRecord.from_mongo(doc) for doc in cursor]

    @_ledger_op
    def get_manifest_by_key(self, manifest_key: str) -> list[ManifestRecord]:
        """Every manifest record taken in from ``manifest_key`` (names repeat), oldest first."""
        cursor = self._col(MANIFESTS).find({"manifest_key": manifest_key}).sort("created_at", 1)
        return [ManifestRecord.from_mongo(doc) for doc in cursor]

    @_ledger_op
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

    @_ledger_op
    def set_manifest_archive_key(self, batch_id: str, archive_key: str) -> None:
        """Record where the manifest was archived (when it was archived after intake)."""
        result = self._col(MANIFESTS).update_one(
            {"batch_id": batch_id},
            {"$set": {"archive_key": archive_key, "updated_at": utc_now()}},
        )
        if result.matched_count == 0:
            raise RecordNotFound(f"no manifest record for batch_id {batch_id!r}")

    @_ledger_op
    def set_manifest_status(
        self,
        batch_id: str,
        status: ManifestStatus | str,
        *,
        run_id: ObjectId | None = None,
        error: str | None = None,
    ) -> ManifestRecord:
        """Move the manifest of ``batch_id`` to ``status`` and append it to the history.

        Transitions follow ``etl_models.status.MANIFEST_TRANSITIONS`` (``InvalidStatusTransition``
        otherwise). Events are attributed to runs (``run_id`` = ``runs._id``):

        - repeating the current status for the same run is a no-op (sensors may replay), and
          so is ``running`` for the current run once that run has ended (a late start event);
        - ``running`` for a new run while another is recorded running: the new run (a
          re-execution) takes over;
        - a terminal status of a run that is no longer the current one is kept in the history
          only, so out-of-order events of an older run cannot overwrite a newer run's state.
        """
        new = ManifestStatus(status)
        collection = self._col(MANIFESTS)
        for _ in range(_CAS_ATTEMPTS):
            doc = collection.find_one({"batch_id": batch_id})
            if doc is None:
                raise RecordNotFound(
                    f"no manifest record for batch_id {batch_id!r}; record the intake first"
                )
            current = ManifestRecord.from_mongo(doc)
            now = utc_now()
            change = StatusChange(
                status=new.value, at=now, run_id=run_id, error=_truncate_error(error)
            ).to_mongo()
            stale = (
                new in _MANIFEST_TERMINAL
                and run_id is not None
                and current.current_run_id is not None
                and run_id != current.current_run_id
            )
            same_event = current.status == new and (
                run_id is None or run_id == current.current_run_id
            )
            superseding = (
                new == ManifestStatus.RUNNING
                and current.status == ManifestStatus.RUNNING
                and run_id is not None
                and run_id != current.current_run_id
            )
            # The start of a run reported after that same run ended (the run-status sensors
            # race the run itself): a replay, not a re-execution (which has a new run id).
            late_start = (
                new == ManifestStatus.RUNNING
                and run_id is not None
                and run_id == current.current_run_id
                and current.status in _MANIFEST_TERMINAL
            )
            if same_event or late_start:
                return current
            update: dict[str, Any]
            if stale:
                change["note"] = "event of an earlier run; status unchanged"
                update = {"$push": {"status_history": change}, "$set": {"updated_at": now}}
            elif superseding or new in MANIFEST_TRANSITIONS[current.status]:
                fields: dict[str, Any] = {
                    "status": new.value,
                    "updated_at": now,
                    "error": _truncate_error(error)
                    if new in {ManifestStatus.FAILURE, ManifestStatus.CANCELED}
                    else None,
                }
                update = {"$set": fields, "$push": {"status_history": change}}
                if run_id is not None:
                    fields["current_run_id"] = run_id
                    update["$addToSet"] = {"run_ids": run_id}
            else:
                raise InvalidStatusTransition(
                    "manifest",
                    batch_id,
                    current.status.value,
                    new.value,
                    sorted(s.value for s in MANIFEST_TRANSITIONS[current.status]),
                )
            # Compare-and-set on the state we decided from; retry if someone moved it.
            guard = {
                "_id": current.id,
                "status": current.status.value,
                "current_run_id": current.current_run_id,
            }
            from pymongo import ReturnDocument

            updated = collection.find_one_and_update(
                guard, update, return_document=ReturnDocument.AFTER
            )
            if updated is not None:
                return ManifestRecord.from_mongo(updated)
        raise LedgerError(
            f"manifest {batch_id!r}: status kept changing concurrently; setting {new.value!r} "
            f"gave up after {_CAS_ATTEMPTS} attempts"
        )

    @_ledger_op
    def list_manifests(
        self, status: ManifestStatus | str | None = None, limit: int = 100
    ) -> list[ManifestRecord]:
        """Most recently updated manifest records, optionally of one status."""
        query = {"status": ManifestStatus(status).value} if status else {}
        cursor = self._col(MANIFESTS).find(query).sort("updated_at", -1).limit(limit)
        return [ManifestRecord.from_mongo(doc) for doc in cursor]

    # --- runs ------------------------------------------------------------------------------

    def _manifest_id(self, batch_id: str | None) -> ObjectId | None:
        if not batch_id:
            return None
        doc = self._col(MANIFESTS).find_one({"batch_id": batch_id}, {"_id": 1})
        return doc["_id"] if doc else None

    @_ledger_op
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
        if manifest_id is not None:
            self._col(MANIFESTS).update_one(
                {"_id": manifest_id}, {"$addToSet": {"run_ids": doc["_id"]}}
            )
        return doc["_id"]

    @_ledger_op
    def finish_run(
        self,
        dagster_run_id: str,
        status: RunStatus | str,
        *,
        error: str | None = None,
        batch_id: str | None = None,
        lane: str | None = None,
        job_name: str | None = None,
        tags: dict[str, str] | None = None,
    ) -> RunRecord:
        """Record the end of a run: ``success``, ``failure`` (with the real error) or ``canceled``.

        A run whose start was never recorded (failed at launch, or events out of order) is
        created from the context given. Repeating the same end is a no-op; changing an ended
        run's status raises ``InvalidStatusTransition``.
        """
        from pymongo import ReturnDocument
        from pymongo.errors import DuplicateKeyError

        new = RunStatus(status)
        if new not in TERMINAL_RUN_STATUSES:
            raise InvalidStatusTransition(
                "run",
                dagster_run_id,
                "?",
                new.value,
                sorted(s.value for s in TERMINAL_RUN_STATUSES),
            )
        runs = self._col(RUNS)
        for _ in range(_CAS_ATTEMPTS):
            now = utc_now()
            change = StatusChange(status=new.value, at=now, error=_truncate_error(error))
            updated = runs.find_one_and_update(
                {"dagster_run_id": dagster_run_id, "status": RunStatus.RUNNING.value},
                {
                    "$set": {
                        "status": new.value,
                        "error": _truncate_error(error),
                        "finished_at": now,
                        "updated_at": now,
                    },
                    "$push": {"status_history": change.to_mongo()},
                },
                return_document=ReturnDocument.AFTER,
            )
            if updated is not None:
                return RunRecord.from_mongo(updated)
            existing = runs.find_one({"dagster_run_id": dagster_run_id})
            if existing is not None:
                current = RunRecord.from_mongo(existing)
                if current.status == new:
                    return current
                raise InvalidStatusTransition(
                    "run",
                    dagster_run_id,
                    current.status.value,
                    new.value,
                    sorted(s.value for s in RUN_TRANSITIONS[current.status]),
                )
            record = RunRecord(
                dagster_run_id=dagster_run_id,
                batch_id=batch_id,
                manifest_id=self._manifest_id(batch_id),
                lane=lane,
                job_name=job_name,
                tags=dict(tags or {}),
                status=new,
                error=_truncate_error(error),
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
            if record.manifest_id is not None:
                self._col(MANIFESTS).update_one(
                    {"_id": record.manifest_id}, {"$addToSet": {"run_ids": result.inserted_id}}
                )
            return record
        raise LedgerError(f"run {dagster_run_id!r}: could not record {new.value!r}")

    @_ledger_op
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

    @_ledger_op
    def get_run(self, dagster_run_id: str) -> RunRecord | None:
        """The run record of a Dagster run id, or ``None``."""
        doc = self._col(RUNS).find_one({"dagster_run_id": dagster_run_id})
        return RunRecord.from_mongo(doc) if doc else None

    @_ledger_op
    def run_object_id(self, dagster_run_id: str) -> ObjectId:
        """The ``runs._id`` of a Dagster run (``RecordNotFound`` if not recorded)."""
        doc = self._col(RUNS).find_one({"dagster_run_id": dagster_run_id}, {"_id": 1})
        if doc is None:
            raise RecordNotFound(
                f"no run record for Dagster run {dagster_run_id!r}; call start_run first"
            )
        return doc["_id"]

    @_ledger_op
    def runs_for_batch(self, batch_id: str) -> list[RunRecord]:
        """Every run of a batch (re-executions included), oldest first."""
        cursor = self._col(RUNS).find({"batch_id": batch_id}).sort("created_at", 1)
        return [RunRecord.from_mongo(doc) for doc in cursor]

    # --- assets ----------------------------------------------------------------------------

    @_ledger_op
    def allocate_version(self, dataset_id: str) -> int:
        """The next version number of ``dataset_id`` (1, 2, ...), allocated atomically.

        A counter document per dataset is incremented server-side, so concurrent callers
        never get the same number. A version whose run fails is not reused (gaps are fine).
        """
        from pymongo import ReturnDocument
        from pymongo.errors import DuplicateKeyError

        counters = self._col(VERSION_COUNTERS)
        for _ in range(_CAS_ATTEMPTS):
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

    @_ledger_op
    def register_asset(self, record: AssetRecord) -> ObjectId:
        """Insert an asset record; its ``_id``.

        Re-registering the identical asset (same dataset, version, key and content hash)
        returns the existing id; any other collision raises ``AssetConflict``.
        """
        from pymongo.errors import DuplicateKeyError

        assets = self._col(ASSETS)
        try:
            return assets.insert_one(record.to_mongo()).inserted_id
        except DuplicateKeyError as exc:
            existing = assets.find_one(
                {
                    "$or": [
                        {"dataset_id": record.dataset_id, "version": record.version},
                        {"s3_key": record.s3_key},
                    ]
                }
            )
            if existing is not None and (
                existing["dataset_id"] == record.dataset_id
                and existing["version"] == record.version
                and existing["s3_key"] == record.s3_key
                and existing["content_hash"] == record.content_hash
            ):
                return existing["_id"]
            raise AssetConflict(
                f"asset {record.dataset_id} v{record.version} at {record.s3_key} collides with "
                f"an existing asset ({(exc.details or {}).get('keyValue')}); versions and lake "
                "keys are unique: allocate a new version with allocate_version"
            ) from exc

    @_ledger_op
    def get_asset(self, dataset_id: str, version: int) -> AssetRecord | None:
        """One version of a dataset, or ``None``."""
        doc = self._col(ASSETS).find_one({"dataset_id": dataset_id, "version": int(version)})
        return AssetRecord.from_mongo(doc) if doc else None

    @_ledger_op
    def get_asset_by_id(self, asset_id: ObjectId) -> AssetRecord | None:
        """An asset by its ``_id``, or ``None``."""
        doc = self._col(ASSETS).find_one({"_id": asset_id})
        return AssetRecord.from_mongo(doc) if doc else None

    @_ledger_op
    def latest_asset(self, dataset_id: str) -> AssetRecord | None:
        """The highest registered version of ``dataset_id``, or ``None``."""
        doc = self._col(ASSETS).find_one({"dataset_id": dataset_id}, sort=[("version", -1)])
        return AssetRecord.from_mongo(doc) if doc else None

    @_ledger_op
    def asset_exists(
        self, content_hash: str, *, dataset_id: str | None = None
    ) -> AssetRecord | None:
        """The latest asset with ``content_hash`` (dedupe), optionally within one dataset."""
        query: dict[str, Any] = {"content_hash": content_hash}
        if dataset_id is not None:
            query["dataset_id"] = dataset_id
        doc = self._col(ASSETS).find_one(query, sort=[("created_at", -1), ("version", -1)])
        return AssetRecord.from_mongo(doc) if doc else None

    @_ledger_op
    def list_datasets(self) -> list[str]:
        """Dataset ids with at least one registered version, sorted."""
        return sorted(self._col(ASSETS).distinct("dataset_id"))

    @_ledger_op
    def versions(self, dataset_id: str) -> list[int]:
        """Registered versions of ``dataset_id``, ascending."""
        cursor = (
            self._col(ASSETS).find({"dataset_id": dataset_id}, {"version": 1}).sort("version", 1)
        )
        return [int(doc["version"]) for doc in cursor]

    # --- lineage ---------------------------------------------------------------------------

    @_ledger_op
    def add_lineage(self, edge: LineageEdge) -> bool:
        """Record a lineage edge; ``False`` if it was already recorded (idempotent)."""
        from pymongo.errors import DuplicateKeyError

        try:
            self._col(LINEAGE).insert_one(edge.to_mongo())
        except DuplicateKeyError:
            return False
        return True

    def add_input_lineage(
        self, asset_id: ObjectId, inputs: Iterable[InputFile], *, run_id: ObjectId | None = None
    ) -> int:
        """Edges raw input -> asset; returns how many were new."""
        return sum(
            self.add_lineage(LineageEdge(kind="input", asset_id=asset_id, input=i, run_id=run_id))
            for i in inputs
        )

    def add_parent_lineage(
        self,
        asset_id: ObjectId,
        parent_asset_id: ObjectId,
        *,
        role: str | None = None,
        run_id: ObjectId | None = None,
    ) -> bool:
        """Edge parent asset -> derived (e.g. joined) asset; ``False`` if already recorded."""
        return self.add_lineage(
            LineageEdge(
                kind="parent",
                asset_id=asset_id,
                parent_asset_id=parent_asset_id,
                role=role,
                run_id=run_id,
            )
        )

    @_ledger_op
    def lineage_for(self, asset_id: ObjectId) -> list[LineageEdge]:
        """Upstream edges of ``asset_id`` (its inputs and parent assets)."""
        cursor = self._col(LINEAGE).find({"asset_id": asset_id}).sort("created_at", 1)
        return [LineageEdge.from_mongo(doc) for doc in cursor]

    @_ledger_op
    def downstream_of(self, asset_id: ObjectId) -> list[LineageEdge]:
        """Edges from ``asset_id`` to assets derived from it."""
        cursor = self._col(LINEAGE).find({"parent_asset_id": asset_id}).sort("created_at", 1)
        return [LineageEdge.from_mongo(doc) for doc in cursor]

    # --- activity --------------------------------------------------------------------------

    @_ledger_op
    def log_activity(
        self,
        *,
        actor: str,
        action: str,
        subject: str,
        details: dict[str, Any] | None = None,
        key: str | None = None,
    ) -> bool:
        """Audit log entry: ``actor`` did ``action`` to ``subject``.

        ``key`` makes it idempotent (a sensor replaying a tick logs once): returns ``False``
        when an entry with that key exists. Without a key every call logs.
        """
        from pymongo.errors import DuplicateKeyError

        entry = ActivityLog(
            key=key or f"uuid:{uuid.uuid4()}",
            actor=actor,
            action=action,
            subject=subject,
            details=dict(details or {}),
        )
        try:
            self._col(ACTIVITY_LOGS).insert_one(entry.to_mongo())
        except DuplicateKeyError:
            return False
        return True

    @_ledger_op
    def log_activities(self, entries: Iterable[ActivityLog]) -> int:
        """Write many keyed activity entries in one round trip; the number written.

        Entries whose ``key`` already exists are skipped (as ``log_activity`` does), so a
        replayed batch logs each entry once. Any other write error is raised.
        """
        from pymongo.errors import BulkWriteError

        docs = [entry.to_mongo() for entry in entries]
        if not docs:
            return 0
        try:
            return len(self._col(ACTIVITY_LOGS).insert_many(docs, ordered=False).inserted_ids)
        except BulkWriteError as exc:
            errors = exc.details.get("writeErrors", [])
            others = [e for e in errors if e.get("code") != DUPLICATE_KEY_CODE]
            if others:
                raise
            return int(exc.details.get("nInserted", len(docs) - len(errors)))

    @_ledger_op
    def activity_for(self, subject: str) -> list[ActivityLog]:
        """Activity about ``subject``, oldest first."""
        cursor = self._col(ACTIVITY_LOGS).find({"subject": subject}).sort([("at", 1), ("_id", 1)])
        return [ActivityLog.from_mongo(doc) for doc in cursor]
