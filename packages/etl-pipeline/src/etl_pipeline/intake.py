"""Manifest intake: what one sensor tick decides for the manifests in the landing bucket.

Every sensor (the three asset lanes and the legacy one) calls :func:`evaluate_intake` with the
lanes it owns. The routing table gives each manifest exactly one owner, including invalid
ones: a manifest whose ``intent`` can be read is owned by that intent's lane, anything else
(unreadable, not an object, no intent) by the default lane.

Nothing is lost and nothing is duplicated, whatever step fails:

- Valid manifest of ours: a ``queued`` ledger record (idempotent per batch) and a run plan.
  The manifest stays in ``manifests/`` until its run durably exists: the run-status sensors
  archive it when the run starts (or ends without starting). Re-evaluating after a failed
  tick yields the same ``run_key``, which Dagster never launches twice.
- Invalid manifest of ours: a ``rejected`` ledger record with the reason, then the manifest is
  archived with an error report beside it. Each step is idempotent, so a half-done rejection is
  completed on the next tick.
- Manifest of another lane: only remembered in the cursor, so it is not read again.
- Infrastructure errors (object store or ledger unreachable) propagate: the tick fails, its
  cursor is not committed, and the next tick redoes the same work idempotently.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Collection, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from etl_models.cursor import ManifestCursor, manifest_object_version
from etl_models.intake import RunPlan, archive_key_for, plan_run
from etl_models.landing import manifest_name_problem
from etl_models.ledger_records import ActivityLog
from etl_models.manifest import (
    FieldError,
    Manifest,
    ManifestValidationError,
    parse_manifest,
)
from etl_models.status import ManifestStatus
from etl_pipeline.intake_checks import check_references
from etl_pipeline.intake_rejection import reject
from etl_pipeline.intake_results import IntakeResult, QueuedManifest
from etl_pipeline.lanes.registry import default_lane, lane_for_intent

if TYPE_CHECKING:
    from etl_storage.ledger import Ledger
    from etl_storage.object_store import ObjectMetadata, ObjectStore

log = logging.getLogger(__name__)

DEFAULT_MAX_PER_TICK = 200
READ_THREADS = 8
INTAKE_WRITE_BATCH = 500
"""Queued intake records written per bulk ledger write."""


@dataclass(frozen=True)
class _Read:
    key: str
    meta: ObjectMetadata | None
    document: dict[str, Any] | None
    read_error: str | None
    # Filled in by the parallel phase for manifests of our lanes (see ``_prepare``).
    manifest: Manifest | None = None
    invalid: ManifestValidationError | None = None
    notes: tuple[str, ...] = ()  # preflight's warnings for the intake record
    input_bytes: int | None = None  # the raw files' total size (the run's weight class)


def owner_lane(document: Any) -> str:
    """The name of the lane that owns a manifest document, valid or not (see module
    docstring)."""
    if isinstance(document, dict):
        intent = document.get("intent")
        if isinstance(intent, str) and intent:
            return lane_for_intent(intent).name
    return default_lane().name


def plan_for(
    manifest: Manifest,
    key: str,
    *,
    operator: str,
    input_bytes: int | None,
    heavy_batch_mb: float,
) -> RunPlan:
    """The run request of ``manifest`` for the lane that owns its intent."""
    lane = lane_for_intent(manifest.intent)
    return plan_run(
        manifest,
        key,
        operator=operator,
        lane=lane.name,
        job_name=lane.job,
        input_bytes=input_bytes,
        heavy_batch_mb=heavy_batch_mb,
    )


def _read(store: ObjectStore, key: str, listed: ObjectMetadata | None = None) -> _Read:
    from etl_storage.errors import ManifestNotFound, ManifestReadError

    try:
        if listed is None:
            document, meta = store.read_manifest_with_metadata(key)
        else:  # the listing's size replaces a stat: one request per manifest
            document, meta = store.read_manifest_with_metadata(key, listed=listed)
    except ManifestNotFound:
        # Archived by its owner between our listing and our read: nothing to do.
        return _Read(key, None, None, None)
    except ManifestReadError as exc:
        return _Read(key, None, None, str(exc))
    return _Read(key, meta, document, None)


def _prepare(
    store: ObjectStore, ledger: Ledger, listed: ObjectMetadata, owned: Collection[str]
) -> _Read:
    """Read one manifest and, if it is ours, validate it and check its references.

    Runs in the reader threads: everything here is per manifest and writes nothing, so the
    raw-file existence checks overlap like the body reads do (a tick's cost is then dominated
    by I/O latency divided by the thread count, not summed up per manifest).
    """
    name_problem = manifest_name_problem(listed.key)
    if name_problem is not None:  # not read: rejected by the default lane, with a record
        return _Read(listed.key, listed, None, name_problem)
    read = _read(store, listed.key, listed)
    if read.document is None or read.read_error is not None:
        return read
    if owner_lane(read.document) not in owned:
        return read
    try:
        manifest = parse_manifest(read.document, landing_bucket=store.landing_bucket)
        checked = check_references(store, ledger, manifest)
    except ManifestValidationError as exc:
        return replace(read, invalid=exc)
    return replace(
        read, manifest=manifest, notes=tuple(checked.notes), input_bytes=checked.input_bytes
    )


def _requeued(
    store: ObjectStore,
    ledger: Ledger,
    listed: list[ObjectMetadata],
    operator: str,
    owned_lanes: Collection[str],
    enabled_lanes: Collection[str] | None,
    heavy_batch_mb: float,
) -> tuple[dict[str, QueuedManifest], list[str]]:
    """Listed manifests already taken in as ``queued`` (same key and ETag), re-planned from the
    ledger's copy of the document, so no body is read again.

    The cursor keeps only the most recent keys, so with a backlog of pending manifests larger
    than the cursor (runs not started yet) the same manifests come back every tick. Their run
    requests are emitted again (the same ``run_key``, which Dagster never launches twice): a
    tick whose cursor was not committed is redone exactly, without a second body read.
    Returns ours (by key) and the keys queued for other lanes (remembered, never read).
    """
    etags = {m.key: m.etag for m in listed}
    found: dict[str, QueuedManifest] = {}
    foreign: list[str] = []
    for record in ledger.queued_manifests_by_key(etags):
        key = record.manifest_key
        if key in found or key in foreign or record.manifest is None:
            continue
        if etags.get(key) != record.manifest_etag:
            continue  # a different upload under the same name: evaluate it afresh
        try:
            manifest = parse_manifest(record.manifest, landing_bucket=store.landing_bucket)
        except ManifestValidationError:
            continue  # recorded under older rules: evaluate it afresh
        plan = plan_for(
            manifest,
            key,
            operator=operator,
            input_bytes=record.input_bytes,
            heavy_batch_mb=heavy_batch_mb,
        )
        if plan.lane not in owned_lanes:
            foreign.append(key)
        elif enabled_lanes is None or plan.lane in enabled_lanes:
            found[key] = QueuedManifest(key, manifest, plan, record.manifest_etag)
    return found, foreign


def evaluate_intake(
    *,
    store: ObjectStore,
    ledger: Ledger,
    cursor: ManifestCursor,
    owned_lanes: Collection[str],
    operator: str,
    enabled_lanes: Collection[str] | None = None,
    max_per_tick: int = DEFAULT_MAX_PER_TICK,
    on_event: Callable[[str], None] | None = None,
    heavy_batch_mb: float | None = None,
) -> IntakeResult:
    """Evaluate the manifests not yet in ``cursor`` for the sensor owning ``owned_lanes``.

    ``enabled_lanes`` is the traffic controller: a valid manifest of an owned lane that is not
    enabled is recorded as rejected with the reason, archived, and gets no run (``None``: every
    owned lane is enabled). At most ``max_per_tick`` new manifests are read per tick. Runs of
    batches of at least ``heavy_batch_mb`` MB are tagged heavy (default: ``ETL_HEAVY_BATCH_MB``).
    """
    from etl_models.settings import RouterSettings

    emit = on_event or log.info
    heavy = heavy_batch_mb if heavy_batch_mb is not None else RouterSettings().heavy_batch_mb
    cursor = ManifestCursor(cursor.entries, cursor.max_keys)
    result = IntakeResult(cursor=cursor)
    # Skipped only when this very object was processed: the same name uploaded again (a new
    # ETag or upload time) is a new manifest, however recently the name was used.
    every = store.list_manifest_objects()
    cursor.retain(m.key for m in every)
    new = [m for m in every if not cursor.seen(m.key, _version(m))]
    listed, result.deferred = new[:max_per_tick], max(0, len(new) - max_per_tick)
    if not listed:
        return result
    versions = {m.key: _version(m) for m in listed}
    requeued, queued_elsewhere = _requeued(
        store, ledger, listed, operator, owned_lanes, enabled_lanes, heavy
    )
    for key, queued in requeued.items():
        result.queued.append(queued)
        cursor.mark(key, versions[key])
    for key in queued_elsewhere:
        result.foreign.append(key)
        cursor.mark(key, versions[key])
    skip = set(requeued) | set(queued_elsewhere)
    batch = [m for m in listed if m.key not in skip]
    if not batch:
        _log_queued(ledger, result.queued, operator)
        return result
    threads = min(READ_THREADS, len(batch))
    ours: list[_Read] = []
    parts: dict[str, IntakeResult] = {}
    pending: list[_ToQueue] = []

    def flush() -> None:
        outcomes = ledger.record_manifest_intakes([item.record for item in pending])
        for item, outcome in zip(pending, outcomes, strict=True):
            _settle(store, ledger, item, outcome, parts[item.read.key], operator, emit)
        pending.clear()

    with ThreadPoolExecutor(max_workers=threads) as pool:
        # Reads come back in key order while the threads read ahead, so the ledger writes
        # below overlap with the reads still in flight. Queued records go in bulk writes of
        # INTAKE_WRITE_BATCH; a manifest repeating a batch_id already seen in this tick waits
        # until the end and goes alone, so the first in key order wins, deterministically.
        repeats: list[_Read] = []
        claimed: set[Any] = set()
        for read in pool.map(lambda m: _prepare(store, ledger, m, owned_lanes), batch):
            if read.meta is None and read.read_error is None:
                continue  # vanished: owned and archived by another sensor meanwhile
            if owner_lane(read.document) not in owned_lanes:
                cursor.mark(read.key, versions[read.key])
                result.foreign.append(read.key)
                continue
            ours.append(read)
            parts[read.key] = IntakeResult(cursor=ManifestCursor())
            claim = _claimed_batch_id(read)
            if claim in claimed:
                repeats.append(read)
                continue
            claimed.add(claim)
            item = _classify(
                store, ledger, read, parts[read.key], operator, enabled_lanes, emit, heavy
            )
            if item is not None:
                pending.append(item)
            if len(pending) >= INTAKE_WRITE_BATCH:
                flush()
    flush()
    for read in repeats:
        _take_in(store, ledger, read, parts[read.key], operator, enabled_lanes, emit, heavy)
    for read in ours:  # results and cursor in key order, as one sequential pass would give
        part = parts[read.key]
        result.queued.extend(part.queued)
        result.rejected.extend(part.rejected)
        result.disabled.extend(part.disabled)
        cursor.mark(read.key, versions[read.key])
    _log_queued(ledger, result.queued, operator)
    return result


def _version(listed: ObjectMetadata) -> str | None:
    """The cursor's version token of a listed manifest object."""
    return manifest_object_version(listed.etag, listed.last_modified)


def _log_queued(ledger: Ledger, queued: Iterable[QueuedManifest], operator: str) -> None:
    """One ``manifest_queued`` activity entry per queued manifest, all in one write. Keyed by
    batch and ETag, so the requeued ones of a replayed tick are written once (and an entry
    lost with a crashed tick is written by its replay)."""
    ledger.log_activities(
        ActivityLog(
            key=f"queued:{q.manifest.batch_id}:{q.etag}",
            actor=q.manifest.uploader,
            action="manifest_queued",
            subject=q.manifest.batch_id,
            details={"manifest_key": q.key, "lane": q.plan.lane, "operator": operator},
        )
        for q in queued
    )


def _claimed_batch_id(read: _Read) -> Any:
    if read.manifest is not None:
        return read.manifest.batch_id
    return ("key", read.key)  # invalid or unreadable: recorded by key, never conflicts


@dataclass(frozen=True)
class _ToQueue:
    """A valid manifest of an enabled lane, to be recorded as ``queued``."""

    read: _Read
    manifest: Manifest
    plan: RunPlan
    record: dict[str, Any]  # the keyword arguments of ``Ledger.record_manifest_intake``


def _take_in(
    store: ObjectStore,
    ledger: Ledger,
    read: _Read,
    result: IntakeResult,
    operator: str,
    enabled_lanes: Collection[str] | None,
    emit: Callable[[str], None],
    heavy_batch_mb: float,
) -> None:
    """Take in one manifest: reject it, or record it as queued (one ledger write)."""
    from etl_storage.errors import BatchIdConflict

    item = _classify(store, ledger, read, result, operator, enabled_lanes, emit, heavy_batch_mb)
    if item is None:
        return
    try:
        outcome: Any = ledger.record_manifest_intake(**item.record)
    except BatchIdConflict as exc:
        outcome = exc
    _settle(store, ledger, item, outcome, result, operator, emit)


def _classify(
    store: ObjectStore,
    ledger: Ledger,
    read: _Read,
    result: IntakeResult,
    operator: str,
    enabled_lanes: Collection[str] | None,
    emit: Callable[[str], None],
    heavy_batch_mb: float,
) -> _ToQueue | None:
    """Reject (and record) what cannot be queued; what can is returned, not yet recorded."""
    etag = read.meta.etag if read.meta else None
    if read.read_error is not None:
        reject(store, ledger, read.key, etag, None, read.read_error, None, result, operator, emit)
        return None
    document = read.document or {}
    try:
        if read.invalid is not None:
            raise read.invalid
        manifest, notes, input_bytes = read.manifest, list(read.notes), read.input_bytes
        if manifest is None:  # not prepared by the reader threads
            manifest = parse_manifest(document, landing_bucket=store.landing_bucket)
            checked = check_references(store, ledger, manifest)
            notes, input_bytes = checked.notes, checked.input_bytes
    except ManifestValidationError as exc:
        batch_id = document.get("batch_id") if isinstance(document.get("batch_id"), str) else None
        reject(store, ledger, read.key, etag, batch_id, str(exc), exc, result, operator, emit)
        return None
    plan = plan_for(
        manifest,
        read.key,
        operator=operator,
        input_bytes=input_bytes,
        heavy_batch_mb=heavy_batch_mb,
    )
    if enabled_lanes is not None and plan.lane not in enabled_lanes:
        reason = (
            f"lane {plan.lane!r} is disabled by MANIFEST_ROUTER_ENABLED_LANES; no run was "
            f"requested. Enable the lane (e.g. MANIFEST_ROUTER_ENABLED_LANES={plan.lane}) "
            "and upload the manifest again"
        )
        reject(
            store, ledger, read.key, etag, manifest.batch_id, reason, None, result, operator,
            emit, manifest=manifest, disabled=True,
        )  # fmt: skip
        return None
    record = {
        "manifest_key": read.key,
        "status": ManifestStatus.QUEUED,
        "batch_id": manifest.batch_id,
        "archive_key": archive_key_for(read.key),
        "manifest_etag": etag,
        "uploader": manifest.uploader,
        "intent": manifest.intent,
        "lane": plan.lane,
        "dataset_id": manifest.dataset_id,
        "warnings": notes,
        "input_bytes": input_bytes,
        "manifest": document,
    }
    return _ToQueue(read, manifest, plan, record)


def _settle(
    store: ObjectStore,
    ledger: Ledger,
    item: _ToQueue,
    outcome: Any,
    result: IntakeResult,
    operator: str,
    emit: Callable[[str], None],
) -> None:
    """Queue ``item`` given its intake record, or reject it: its batch id is taken by another
    manifest (``outcome`` is the ``BatchIdConflict``), or it already ran (a re-upload)."""
    from etl_storage.errors import BatchIdConflict

    manifest, key, etag = item.manifest, item.read.key, item.record["manifest_etag"]

    def reject_batch_id(reason: str) -> None:
        error = ManifestValidationError([FieldError("batch_id", reason)])
        reject(store, ledger, key, etag, None, str(error), error, result, operator, emit)

    if isinstance(outcome, BatchIdConflict):
        reason = (
            f"batch_id {manifest.batch_id!r} is already used by {outcome.existing_manifest_key} "
            f"(status {outcome.existing_status}); batch ids are unique and immutable: choose a "
            "new batch_id for a new batch"
        )
        reject_batch_id(reason)
        return
    if not outcome.created and outcome.record.status != ManifestStatus.QUEUED:
        # The same manifest again after it already ran: a re-upload, not a new batch.
        reason = (
            f"batch_id {manifest.batch_id!r} was already taken in (status "
            f"{outcome.record.status.value}); to run it again re-execute its Dagster run, or "
            "submit a new batch_id"
        )
        reject_batch_id(reason)
        return
    emit(f"queued {key} (batch {manifest.batch_id}) for {item.plan.job_name}")
    result.queued.append(QueuedManifest(key, manifest, item.plan, etag))
