"""Drive a deployed platform the way its users do, and collect what it did.

A user uploads raw files into the landing bucket, then a manifest into ``manifests/``; the
sensors do the rest. :class:`Landing` does exactly that (and nothing more: no in-process
shortcut). The evidence helpers read back what the platform recorded: ledger documents, the
archive in the landing bucket, the Dagster runs (through the webserver) and leftover PostGIS
run schemas, so end-to-end tests and ``make up``'s sample batch can check and report it.
"""

from __future__ import annotations

import io
import json
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from etl_models.landing import archive_key_for, manifest_key_for, rejection_report_key_for

if TYPE_CHECKING:
    from etl_devstack.webserver_client import DagsterWebserverClient, RunInfo
    from etl_models.ledger_records import AssetRecord, ManifestRecord, RunRecord
    from etl_storage.ledger import Ledger
    from etl_storage.object_store import ObjectStore

T = TypeVar("T")

TERMINAL_MANIFEST_STATUSES = frozenset({"success", "failure", "canceled", "rejected"})
TERMINAL_DAGSTER_STATUSES = frozenset({"SUCCESS", "FAILURE", "CANCELED"})


class WaitTimeout(AssertionError):
    """A condition did not come true in time; the message says what was awaited and the last
    state seen. (An ``AssertionError`` so pytest shows it as a test failure.)"""


def wait_until(
    predicate: Callable[[], T],
    timeout: float,
    *,
    interval: float = 1.0,
    describe: str | Callable[[], str] = "condition",
) -> T:
    """Poll ``predicate`` until it returns something truthy and return that value.

    Raises :class:`WaitTimeout` after ``timeout`` seconds; ``describe`` (a text or a function
    giving the current state) goes into the message.
    """
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() >= deadline:
            detail = describe() if callable(describe) else describe
            raise WaitTimeout(f"not true after {timeout:.0f}s: {detail}")
        time.sleep(interval)


# --- what a user does ---------------------------------------------------------------------


def file_entry(
    uri: str,
    file_type: str,
    *,
    format: str | None = None,
    crs: str | None = None,
    layer: str | None = None,
) -> dict[str, Any]:
    """One ``files[]`` entry of a manifest."""
    entry: dict[str, Any] = {"path": uri, "type": file_type}
    for key, value in (("format", format), ("crs", crs), ("layer", layer)):
        if value is not None:
            entry[key] = value
    return entry


def manifest_document(
    batch_id: str,
    intent: str,
    files: Iterable[Mapping[str, Any]] = (),
    *,
    dataset_id: str | None = None,
    join_config: Mapping[str, Any] | None = None,
    uploader: str = "e2e-tester",
    description: str | None = None,
) -> dict[str, Any]:
    """A manifest document (the protocol of ``etl_models.manifest``)."""
    metadata: dict[str, Any] = {"project": "E2E", "tags": {}}
    if dataset_id is not None:
        metadata["tags"]["dataset_id"] = dataset_id
    if join_config is not None:
        metadata["join_config"] = dict(join_config)
    if description is not None:
        metadata["description"] = description
    return {
        "batch_id": batch_id,
        "uploader": uploader,
        "intent": intent,
        "files": [dict(f) for f in files],
        "metadata": metadata,
    }


class Landing:
    """The landing bucket as a user sees it: upload raw files, then drop the manifest."""

    def __init__(self, store: ObjectStore) -> None:
        self.store = store
        self.bucket = store.landing_bucket

    def upload(self, key: str, source: Path | bytes) -> str:
        """Upload a raw file (a path or bytes) to ``key``; its ``s3://`` URI."""
        client = self.store.client
        if isinstance(source, bytes):
            client.put_object(self.bucket, key, io.BytesIO(source), len(source))
        else:
            client.fput_object(self.bucket, key, str(source))
        return f"s3://{self.bucket}/{key}"

    def upload_folder_files(self, prefix: str, paths: Iterable[Path]) -> dict[str, str]:
        """Upload files under ``prefix/<name>``; ``{name: uri}``."""
        return {p.name: self.upload(f"{prefix}/{p.name}", p) for p in paths}

    def drop_manifest(self, name: str, document: Mapping[str, Any] | bytes) -> str:
        """Upload a manifest (a document, or raw bytes for broken ones) to ``manifests/<name>``;
        its key."""
        body = document if isinstance(document, bytes) else json.dumps(document).encode()
        key = manifest_key_for(name)
        self.store.client.put_object(
            self.bucket, key, io.BytesIO(body), len(body), content_type="application/json"
        )
        return key

    def exists(self, key: str) -> bool:
        return self.store.landing_object_exists(key)

    def pending_manifests(self, keys: Iterable[str]) -> list[str]:
        """Which of ``keys`` are still waiting in ``manifests/``."""
        waiting = set(self.store.list_manifest_keys())
        return [k for k in keys if k in waiting]


# --- what the platform recorded ------------------------------------------------------------


def manifest_records_by_key(ledger: Ledger, keys: Iterable[str]) -> dict[str, list[ManifestRecord]]:
    """Every ledger manifest record of each manifest key (names may repeat), oldest first."""
    return {key: ledger.get_manifest_by_key(key) for key in keys}


def _terminal(records: list[ManifestRecord]) -> bool:
    return bool(records) and all(r.status.value in TERMINAL_MANIFEST_STATUSES for r in records)


def wait_for_manifests(
    ledger: Ledger, keys: Iterable[str], timeout: float, *, interval: float = 2.0
) -> dict[str, list[ManifestRecord]]:
    """Wait until every manifest key has ledger records, all in a terminal status (success,
    failure, canceled, rejected); return the records by key."""
    keys = list(keys)
    state: dict[str, list[ManifestRecord]] = {}

    def done() -> bool:
        state.clear()
        state.update(manifest_records_by_key(ledger, keys))
        return all(_terminal(records) for records in state.values())

    def describe() -> str:
        waiting = {
            k: [r.status.value for r in v] or "no record"
            for k, v in state.items()
            if not _terminal(v)
        }
        return f"{len(waiting)} of {len(keys)} manifests not terminal: {waiting}"

    wait_until(done, timeout, interval=interval, describe=describe)
    return dict(state)


def wait_for_batch(
    ledger: Ledger,
    batch_id: str,
    timeout: float,
    *,
    statuses: Iterable[str] = (TERMINAL_MANIFEST_STATUSES),
) -> ManifestRecord:
    """Wait until the manifest record of ``batch_id`` has one of ``statuses``; the record."""
    wanted = set(statuses)
    last: list[ManifestRecord | None] = [None]

    def check() -> ManifestRecord | None:
        last[0] = ledger.get_manifest(batch_id)
        return last[0] if last[0] is not None and last[0].status.value in wanted else None

    def describe() -> str:
        record = last[0]
        state = "no record" if record is None else f"{record.status.value} ({record.error})"
        return f"batch {batch_id} wanted {sorted(wanted)}, is {state}"

    return wait_until(check, timeout, interval=2.0, describe=describe)


def archived_manifest_keys(store: ObjectStore, manifest_key: str) -> dict[str, bool]:
    """For one manifest: is it archived, does it have a rejection report, is it still
    pending, and how many earlier copies sit in archive history."""
    return {
        "pending": store.landing_object_exists(manifest_key),
        "archived": store.landing_object_exists(archive_key_for(manifest_key)),
        "rejection_report": store.landing_object_exists(rejection_report_key_for(manifest_key)),
        "history": bool(store.archive_history(manifest_key)),
    }


def dagster_runs_by_tag(
    client: DagsterWebserverClient, tag: str, values: Iterable[str]
) -> dict[str, list[RunInfo]]:
    """The Dagster runs whose tag ``tag`` has each of ``values`` (one query for all)."""
    wanted = set(values)
    grouped: dict[str, list[RunInfo]] = {v: [] for v in wanted}
    for run in client.runs(limit=5000):
        value = run.tags.get(tag)
        if value in wanted:
            grouped[value].append(run)
    return grouped


def leftover_run_schemas(conninfo: str, run_ids: Iterable[str]) -> list[str]:
    """The ``proc_<run id>`` PostGIS schemas of ``run_ids`` that still exist."""
    import psycopg

    names = [f"proc_{run_id.replace('-', '_')}" for run_id in run_ids]
    if not names:
        return []
    with psycopg.connect(conninfo, connect_timeout=10) as conn:
        rows = conn.execute(
            "SELECT nspname FROM pg_namespace WHERE nspname = ANY(%s)", (names,)
        ).fetchall()
    return sorted(row[0] for row in rows)


def all_run_schemas(conninfo: str) -> list[str]:
    """Every ``proc_*`` schema in the compute database."""
    import psycopg

    with psycopg.connect(conninfo, connect_timeout=10) as conn:
        rows = conn.execute(
            "SELECT nspname FROM pg_namespace WHERE nspname LIKE 'proc\\_%'"
        ).fetchall()
    return sorted(row[0] for row in rows)


@dataclass
class BatchEvidence:
    """Everything the platform recorded about one batch, read back from each system."""

    batch_id: str
    manifest: ManifestRecord | None
    runs: list[RunRecord]
    assets: list[AssetRecord]
    dagster_runs: list[RunInfo]
    archive: dict[str, bool] = field(default_factory=dict)
    leftover_schemas: list[str] = field(default_factory=list)

    @property
    def asset(self) -> AssetRecord:
        """The one asset the batch produced or matched (asserts there is exactly one)."""
        assert len(self.assets) == 1, f"batch {self.batch_id}: assets {self.assets}"
        return self.assets[0]


def collect_batch_evidence(
    *,
    store: ObjectStore,
    ledger: Ledger,
    client: DagsterWebserverClient,
    conninfo: str,
    batch_id: str,
) -> BatchEvidence:
    """Read back one batch: ledger manifest, runs and assets; Dagster runs; the archive state
    of its manifest; PostGIS schemas its runs left behind."""
    manifest = ledger.get_manifest(batch_id)
    runs = ledger.runs_for_batch(batch_id)
    asset_ids = []
    for run in runs:
        for produced in run.produced_assets:
            if produced.asset_id not in asset_ids:
                asset_ids.append(produced.asset_id)
    assets = [a for a in (ledger.get_asset_by_id(i) for i in asset_ids) if a is not None]
    dagster_runs = client.runs(tags={"batch_id": batch_id})
    archive = archived_manifest_keys(store, manifest.manifest_key) if manifest else {}
    schemas = leftover_run_schemas(conninfo, [r.run_id for r in dagster_runs])
    return BatchEvidence(batch_id, manifest, runs, assets, dagster_runs, archive, schemas)
