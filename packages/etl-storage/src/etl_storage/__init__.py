"""Storage: object store (MinIO/S3) and ledger (MongoDB) with migrations; no Dagster."""

from __future__ import annotations

from etl_storage.errors import (
    ArchiveError,
    AssetConflict,
    BatchIdConflict,
    InvalidObjectKey,
    InvalidStatusTransition,
    LakeObjectExists,
    LedgerError,
    LedgerUnavailable,
    ManifestNotFound,
    ManifestNotJson,
    ManifestNotObject,
    ManifestNotUtf8,
    ManifestReadError,
    ManifestTooLarge,
    MigrationError,
    ObjectNotFound,
    ObjectStoreError,
    PathOutsideLanding,
    RecordNotFound,
    StorageError,
)
from etl_storage.ledger import Ledger, ManifestIntake
from etl_storage.object_store import ObjectMetadata, ObjectStore

__all__ = [
    "ArchiveError",
    "AssetConflict",
    "BatchIdConflict",
    "InvalidObjectKey",
    "InvalidStatusTransition",
    "LakeObjectExists",
    "Ledger",
    "LedgerError",
    "LedgerUnavailable",
    "ManifestIntake",
    "ManifestNotFound",
    "ManifestNotJson",
    "ManifestNotObject",
    "ManifestNotUtf8",
    "ManifestReadError",
    "ManifestTooLarge",
    "MigrationError",
    "ObjectMetadata",
    "ObjectNotFound",
    "ObjectStore",
    "ObjectStoreError",
    "PathOutsideLanding",
    "RecordNotFound",
    "StorageError",
]
