"""Nightly reconciliation of the ledger with the object store (no Dagster here).

Checks, in one pass:

- ``lake_object``: every ledger asset has its lake object, with the recorded size and ETag;
- ``stac_item``: every ledger asset has its STAC item beside it;
- ``untracked_lake_object``: lake objects no ledger asset accounts for;
- ``stuck_queued``: manifests ``queued`` for longer than ``ETL_RECONCILE_QUEUED_MAX_AGE_HOURS``
  (default 24) - their run never started;
- ``landing_retention``: landing-zone files older than ``ETL_LANDING_RETENTION_DAYS`` (unset:
  not checked). Pending manifests (``manifests/``) and the files of batches still queued or
  running are never counted.

Nothing is deleted unless ``ETL_LANDING_RETENTION_DAYS`` is set **and**
``ETL_LANDING_RETENTION_DELETE=true``; then only the expired landing files are removed.
The report is written to the ledger's ``reconciliation_reports`` collection
(``etl_storage.reconciliation_reports``).
"""

from __future__ import annotations

import os
import posixpath
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from etl_models.status import ManifestStatus

STAC_FILE_NAME = "item.json"
PENDING_MANIFEST_PREFIX = "manifests/"
CHECKS = (
    "lake_object",
    "stac_item",
    "untracked_lake_object",
    "stuck_queued",
    "landing_retention",
)
_LIST_LIMIT = 10_000


def _env_number(env: Mapping[str, str], name: str, default: float | None) -> float | None:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ValueError(f"{name} must be a number (got {raw!r})") from None
    if value <= 0:
        raise ValueError(f"{name} must be positive (got {raw!r}); unset it to turn this off")
    return value


@dataclass(frozen=True)
class ReconciliationSettings:
    queued_max_age: timedelta = timedelta(hours=24)
    landing_retention: timedelta | None = None
    delete_expired_landing: bool = False

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> ReconciliationSettings:
        env = os.environ if environ is None else environ
        hours = _env_number(env, "ETL_RECONCILE_QUEUED_MAX_AGE_HOURS", 24)
        days = _env_number(env, "ETL_LANDING_RETENTION_DAYS", None)
        delete = env.get("ETL_LANDING_RETENTION_DELETE", "").strip().lower() in {"1", "true"}
        if delete and days is None:
            raise ValueError(
                "ETL_LANDING_RETENTION_DELETE=true needs ETL_LANDING_RETENTION_DAYS: "
                "nothing is deleted without a retention period"
            )
        return cls(
            queued_max_age=timedelta(hours=hours or 24),
            landing_retention=timedelta(days=days) if days else None,
            delete_expired_landing=delete,
        )


@dataclass(frozen=True)
class Finding:
    check: str
    subject: str  # what is wrong: a lake/landing key or a batch id
    detail: str


@dataclass
class ReconciliationReport:
    started_at: datetime
    finished_at: datetime | None = None
    assets_checked: int = 0
    lake_objects_seen: int = 0
    landing_objects_seen: int = 0
    findings: list[Finding] = field(default_factory=list)
    deleted: list[str] = field(default_factory=list)
    settings: dict[str, Any] = field(default_factory=dict)

    def add(self, check: str, subject: str, detail: str) -> None:
        self.findings.append(Finding(check, subject, detail))

    def of(self, check: str) -> list[Finding]:
        return [f for f in self.findings if f.check == check]

    @property
    def counts(self) -> dict[str, int]:
        return {check: len(self.of(check)) for check in CHECKS}

    @property
    def ok(self) -> bool:
        return not self.findings

    def to_document(self) -> dict[str, Any]:
        """The report as stored in ``reconciliation_reports``."""
        return {
            "started_at": self.started_at,
            "finished_at": self.finished_at,
            "ok": self.ok,
            "assets_checked": self.assets_checked,
            "lake_objects_seen": self.lake_objects_seen,
            "landing_objects_seen": self.landing_objects_seen,
            "counts": self.counts,
            "findings": [asdict(f) for f in self.findings],
            "deleted": list(self.deleted),
            "settings": dict(self.settings),
        }


def _aware(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def _lake_key(store: Any, uri_or_key: str) -> str:
    prefix = f"s3://{store.lake_bucket}/"
    return uri_or_key[len(prefix) :] if uri_or_key.startswith(prefix) else uri_or_key


def _iter_assets(ledger: Any) -> Iterable[Any]:
    for dataset_id in ledger.list_datasets():
        for version in ledger.versions(dataset_id):
            asset = ledger.get_asset(dataset_id, version)
            if asset is not None:
                yield asset


def _list_objects(store: Any, bucket: str) -> dict[str, Any]:
    return {obj.object_name: obj for obj in store.client.list_objects(bucket, recursive=True)}


def _check_assets(store: Any, ledger: Any, report: ReconciliationReport) -> set[str]:
    """Each asset's data object (size, ETag) and STAC item; the lake keys they account for."""
    from etl_storage.errors import ObjectNotFound

    known: set[str] = set()
    for asset in _iter_assets(ledger):
        report.assets_checked += 1
        name = f"{asset.dataset_id} v{asset.version}"
        known.add(asset.s3_key)
        try:
            meta = store.lake_object_metadata(asset.s3_key)
        except ObjectNotFound:
            report.add("lake_object", asset.s3_key, f"{name}: lake object missing")
        else:
            if asset.size_bytes is not None and meta.size != asset.size_bytes:
                report.add(
                    "lake_object",
                    asset.s3_key,
                    f"{name}: size {meta.size} in the lake, {asset.size_bytes} in the ledger",
                )
            if asset.lake_etag and meta.etag != asset.lake_etag.strip('"'):
                report.add(
                    "lake_object",
                    asset.s3_key,
                    f"{name}: ETag {meta.etag} in the lake, {asset.lake_etag} in the ledger",
                )
        stac = (asset.stats or {}).get("stac_item")
        stac_key = (
            _lake_key(store, stac)
            if stac
            else posixpath.join(posixpath.dirname(asset.s3_key), STAC_FILE_NAME)
        )
        known.add(stac_key)
        if not store.lake_object_exists(stac_key):
            report.add("stac_item", stac_key, f"{name}: STAC item missing")
    return known


def _active_batch_prefixes(ledger: Any) -> set[str]:
    active = set()
    for status in (ManifestStatus.QUEUED, ManifestStatus.RUNNING):
        for record in ledger.list_manifests(status=status, limit=_LIST_LIMIT):
            if record.batch_id:
                active.add(f"{record.batch_id}/")
    return active


def reconcile(
    store: Any,
    ledger: Any,
    settings: ReconciliationSettings | None = None,
    *,
    now: datetime | None = None,
) -> ReconciliationReport:
    """Run every check against ``store`` (``etl_storage.ObjectStore``) and ``ledger``
    (``etl_storage.Ledger``); delete expired landing files only when the settings say so."""
    settings = settings or ReconciliationSettings()
    now = now or datetime.now(UTC)
    report = ReconciliationReport(
        started_at=now,
        settings={
            "queued_max_age_hours": settings.queued_max_age.total_seconds() / 3600,
            "landing_retention_days": (
                settings.landing_retention.total_seconds() / 86400
                if settings.landing_retention
                else None
            ),
            "delete_expired_landing": settings.delete_expired_landing,
        },
    )

    known = _check_assets(store, ledger, report)
    lake = _list_objects(store, store.lake_bucket)
    report.lake_objects_seen = len(lake)
    for key in sorted(set(lake) - known):
        report.add("untracked_lake_object", key, "no ledger asset accounts for this object")

    cutoff = now - settings.queued_max_age
    for record in ledger.list_manifests(status=ManifestStatus.QUEUED, limit=_LIST_LIMIT):
        queued_at = _aware(record.updated_at) or _aware(record.created_at)
        if queued_at is not None and queued_at < cutoff:
            age_h = (now - queued_at).total_seconds() / 3600
            report.add(
                "stuck_queued",
                record.batch_id or record.manifest_key,
                f"queued for {age_h:.1f} h (manifest {record.manifest_key}); its run never started",
            )

    if settings.landing_retention is not None:
        landing = _list_objects(store, store.landing_bucket)
        report.landing_objects_seen = len(landing)
        active = _active_batch_prefixes(ledger)
        expiry = now - settings.landing_retention
        for key, obj in sorted(landing.items()):
            modified = _aware(obj.last_modified)
            if key.startswith(PENDING_MANIFEST_PREFIX) or any(key.startswith(p) for p in active):
                continue
            if modified is None or modified >= expiry:
                continue
            age_d = (now - modified).total_seconds() / 86400
            report.add("landing_retention", key, f"{age_d:.1f} days old, past the retention")
            if settings.delete_expired_landing:
                store.client.remove_object(store.landing_bucket, key)
                report.deleted.append(key)

    report.finished_at = datetime.now(UTC)
    return report


def save_report(ledger: Any, report: ReconciliationReport, **extra: Any) -> Any:
    """Store the report in the ledger; its ``_id``. ``extra`` (e.g. the Dagster run id) is
    stored beside it."""
    from etl_storage.reconciliation_reports import save_reconciliation_report

    return save_reconciliation_report(ledger, {**report.to_document(), **extra})
