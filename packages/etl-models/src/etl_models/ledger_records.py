"""Ledger records: the documents of the MongoDB ledger as pydantic models.

No I/O here: ``etl_storage.ledger`` reads and writes these. References between documents are
BSON ``ObjectId`` values (``PyObjectId``); the Dagster run id string appears only as
``RunRecord.dagster_run_id``. Timestamps are timezone-aware UTC, truncated to milliseconds,
which is what BSON stores, so a record survives a round trip unchanged.

``to_mongo()`` gives the document to store (ObjectIds and datetimes stay native, ``_id`` only
when set); ``from_mongo(doc)`` validates a stored document (unknown fields are ignored so older
code can read newer documents).
"""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime
from typing import Annotated, Any, Literal, Self

from bson import ObjectId
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    WithJsonSchema,
    model_validator,
)

from etl_models.status import ManifestStatus, RunStatus


def _to_object_id(value: Any) -> ObjectId:
    if isinstance(value, ObjectId):
        return value
    if isinstance(value, str) and ObjectId.is_valid(value):
        return ObjectId(value)
    raise ValueError(f"expected a BSON ObjectId or its 24-hex-digit string, got {value!r}")


PyObjectId = Annotated[
    ObjectId,
    BeforeValidator(_to_object_id),
    PlainSerializer(lambda oid: str(oid), return_type=str, when_used="json"),
    WithJsonSchema({"type": "string", "pattern": "^[0-9a-f]{24}$"}),
]
"""A BSON ObjectId: native in ``model_dump()``, a hex string in JSON."""


def _utc_millis(value: datetime) -> datetime:
    # Naive datetimes are UTC by the ledger's convention (BSON dates carry no zone).
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    value = value.astimezone(UTC)
    return value.replace(microsecond=value.microsecond // 1000 * 1000)


UtcDatetime = Annotated[datetime, AfterValidator(_utc_millis)]
"""A timezone-aware UTC datetime with millisecond precision (what BSON stores)."""


def utc_now() -> datetime:
    """Now, in UTC, truncated to milliseconds so it round-trips through BSON unchanged."""
    return _utc_millis(datetime.now(UTC))


class LedgerModel(BaseModel):
    """Base of ledger documents: ``_id`` alias, ObjectIds allowed, Mongo (de)serialisation."""

    model_config = ConfigDict(
        populate_by_name=True,
        arbitrary_types_allowed=True,
        extra="ignore",
        validate_assignment=True,
    )

    def to_mongo(self) -> dict[str, Any]:
        """The document to store: native ObjectIds and datetimes, ``_id`` only when set."""
        doc = self.model_dump(by_alias=True, mode="python")
        if doc.get("_id") is None:
            doc.pop("_id", None)
        return doc

    @classmethod
    def from_mongo(cls, doc: dict[str, Any]) -> Self:
        """Validate a stored document."""
        return cls.model_validate(doc)


class StatusChange(LedgerModel):
    """One entry of a status history."""

    status: str
    at: UtcDatetime
    run_id: PyObjectId | None = None
    error: str | None = None


# --- manifests -------------------------------------------------------------------------------


def manifest_fingerprint(manifest: dict[str, Any]) -> str:
    """SHA-256 of the manifest's canonical JSON: equal for equal content, whatever the layout."""
    canonical = json.dumps(manifest, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


class ManifestRecord(LedgerModel):
    """``manifests``: one per batch (or per unreadable manifest object), with status history.

    ``intake_key`` is the idempotency key of the intake: ``batch:{batch_id}`` when the
    manifest names a batch, else ``object:{manifest_key}@{etag}`` for a manifest so broken that
    it has no usable batch_id (it is still recorded, as ``rejected``).
    """

    id: PyObjectId | None = Field(default=None, alias="_id")
    intake_key: str
    batch_id: str | None = None
    # A rejected manifest never claims its batch id (so a fixed manifest can be resubmitted
    # under it); the id it named is kept here, for people looking it up.
    claimed_batch_id: str | None = None
    manifest_key: str
    manifest_etag: str | None = None
    archive_key: str | None = None
    uploader: str | None = None
    intent: str | None = None
    lane: str | None = None
    dataset_id: str | None = None
    status: ManifestStatus
    error: str | None = None
    # What the user should know although nothing failed: a low join match rate, schema
    # drift, rows repaired or dropped, an intent that looks like a typo. One plain sentence
    # each, shown by the CLI and the catalog.
    warnings: list[str] = Field(default_factory=list)
    # Total size of the batch's raw files at intake (sets the run's weight class).
    input_bytes: int | None = None
    # The batch this one resubmits (``etl resubmit``), from the manifest's
    # ``metadata.tags.resubmit_of``; the old batch's activity log links forward.
    resubmit_of: str | None = None
    manifest: dict[str, Any] | None = None
    fingerprint: str | None = None
    status_history: list[StatusChange] = Field(default_factory=list)
    run_ids: list[PyObjectId] = Field(default_factory=list)
    current_run_id: PyObjectId | None = None
    created_at: UtcDatetime = Field(default_factory=utc_now)
    updated_at: UtcDatetime = Field(default_factory=utc_now)

    @staticmethod
    def intake_key_for(
        batch_id: str | None, manifest_key: str, manifest_etag: str | None, fingerprint: str | None
    ) -> str:
        """The idempotency key of an intake (see the class docstring)."""
        if batch_id:
            return f"batch:{batch_id}"
        return f"object:{manifest_key}@{manifest_etag or fingerprint or 'unknown'}"


# --- runs ------------------------------------------------------------------------------------


class ProducedAsset(LedgerModel):
    """An asset a run produced, or found already present (``deduplicated``)."""

    asset_id: PyObjectId
    deduplicated: bool = False


class RunPhase(LedgerModel):
    """A phase a run entered (preparing, loading, transforming, exporting, checking,
    publishing), when, and the counts known then (rows, features)."""

    name: str
    at: UtcDatetime = Field(default_factory=utc_now)
    counts: dict[str, Any] = Field(default_factory=dict)


class RunRecord(LedgerModel):
    """``runs``: one per Dagster run; ``dagster_run_id`` is the only home of the run id string."""

    id: PyObjectId | None = Field(default=None, alias="_id")
    dagster_run_id: str
    batch_id: str | None = None
    manifest_id: PyObjectId | None = None
    lane: str | None = None
    job_name: str | None = None
    partition_key: str | None = None
    tags: dict[str, str] = Field(default_factory=dict)
    status: RunStatus
    error: str | None = None  # one sentence for the uploader
    error_detail: str | None = None  # the technical chain, for operators only
    started_at: UtcDatetime | None = None
    finished_at: UtcDatetime | None = None
    status_history: list[StatusChange] = Field(default_factory=list)
    produced_assets: list[ProducedAsset] = Field(default_factory=list)
    phase: str | None = None  # the latest of ``phases``
    phases: list[RunPhase] = Field(default_factory=list)
    created_at: UtcDatetime = Field(default_factory=utc_now)
    updated_at: UtcDatetime = Field(default_factory=utc_now)


# --- assets ----------------------------------------------------------------------------------


class Recipe(LedgerModel):
    """The transformation that produced an asset: name, version and parameters."""

    name: str
    version: str
    params: dict[str, Any] = Field(default_factory=dict)


class InputFile(LedgerModel):
    """Provenance of one raw input: its ``s3://`` path, ETag and size at read time."""

    path: str
    etag: str
    size: int = Field(ge=0)


class ParentAsset(LedgerModel):
    """A lake asset this asset was derived from (e.g. both sides of a join)."""

    asset_id: PyObjectId
    dataset_id: str
    version: int = Field(ge=1)
    role: str | None = None


class ColumnInfo(LedgerModel):
    """One column of the output's schema."""

    name: str
    type: str
    description: str | None = None
    # The name in the user's file (a shapefile's STATE_FIPS, a CSV header), where ``name``
    # is the lake's (state_fips); join keys resolve against either.
    source_name: str | None = None


def asset_content_hash(
    *,
    dataset_id: str,
    recipe: Recipe,
    inputs: list[InputFile] | None = None,
    parents: list[ParentAsset] | None = None,
) -> str:
    """Dedupe key: identical inputs (by ETag and size) + same recipe for the same dataset.

    Input paths are left out on purpose: the same bytes re-uploaded under another batch folder
    are the same input. Parent assets count by (dataset_id, version, role).
    """
    payload = {
        "dataset_id": dataset_id,
        "recipe": recipe.model_dump(mode="json"),
        "inputs": sorted([i.etag, i.size] for i in inputs or []),
        "parents": sorted([p.dataset_id, p.version, p.role or ""] for p in parents or []),
    }
    canonical = json.dumps(payload, sort_keys=True, separators=(",", ":"), default=str)
    return "sha256:" + hashlib.sha256(canonical.encode("utf-8")).hexdigest()


class AssetRecord(LedgerModel):
    """``assets``: one per dataset version written to the lake."""

    id: PyObjectId | None = Field(default=None, alias="_id")
    dataset_id: str
    version: int = Field(ge=1)
    s3_key: str
    uri: str
    format: str
    content_hash: str
    recipe: Recipe
    inputs: list[InputFile] = Field(default_factory=list)
    parents: list[ParentAsset] = Field(default_factory=list)
    row_count: int | None = Field(default=None, ge=0)
    bounds: tuple[float, float, float, float] | None = None
    crs: str | None = None
    source_crs: str | None = None
    geometry_types: list[str] = Field(default_factory=list)
    column_schema: list[ColumnInfo] = Field(default_factory=list)
    size_bytes: int | None = Field(default=None, ge=0)
    lake_etag: str | None = None
    stats: dict[str, Any] = Field(default_factory=dict)
    # Human metadata from the manifest (title, description, source, license, attribution,
    # keywords, providers): see ``etl_models.dataset_metadata``.
    metadata: dict[str, Any] = Field(default_factory=dict)
    lane: str | None = None
    batch_id: str | None = None
    run_id: PyObjectId | None = None
    # A deprecated version stays in the lake and the ledger (never deleted); listings mark it
    # and people are told to use another version.
    deprecated_at: UtcDatetime | None = None
    deprecated_by: str | None = None
    deprecation_reason: str | None = None
    created_at: UtcDatetime = Field(default_factory=utc_now)


# --- lineage and activity --------------------------------------------------------------------


class LineageEdge(LedgerModel):
    """An edge into ``asset_id``: from a raw input file (``input``) or a parent asset (``parent``).

    ``edge_key`` makes recording an edge idempotent; it is derived when not given.
    """

    id: PyObjectId | None = Field(default=None, alias="_id")
    edge_key: str = ""
    kind: Literal["input", "parent"]
    asset_id: PyObjectId
    input: InputFile | None = None
    parent_asset_id: PyObjectId | None = None
    role: str | None = None
    run_id: PyObjectId | None = None
    created_at: UtcDatetime = Field(default_factory=utc_now)

    @model_validator(mode="after")
    def _source_matches_kind(self) -> LineageEdge:
        if self.kind == "input" and self.input is None:
            raise ValueError("lineage edge of kind 'input' needs input (path, etag, size)")
        if self.kind == "parent" and self.parent_asset_id is None:
            raise ValueError("lineage edge of kind 'parent' needs parent_asset_id")
        if not self.edge_key:
            if self.kind == "input":
                assert self.input is not None
                source = f"{self.input.path}@{self.input.etag}"
            else:
                source = str(self.parent_asset_id)
            # object.__setattr__ avoids re-running validation through validate_assignment.
            object.__setattr__(self, "edge_key", f"{self.asset_id}:{self.kind}:{source}")
        return self


class ActivityLog(LedgerModel):
    """``activity_logs``: who did what to which subject, when. ``key`` makes logging idempotent."""

    id: PyObjectId | None = Field(default=None, alias="_id")
    key: str
    actor: str
    action: str
    subject: str
    details: dict[str, Any] = Field(default_factory=dict)
    at: UtcDatetime = Field(default_factory=utc_now)


class MigrationRecord(LedgerModel):
    """``schema_migrations``: one applied migration."""

    number: int = Field(alias="_id", ge=1)
    name: str
    checksum: str
    applied_at: UtcDatetime = Field(default_factory=utc_now)
