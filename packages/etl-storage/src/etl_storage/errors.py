"""Typed errors of the storage layer.

Every message names the object or record, the offending value and what to do about it, because
these texts end up in rejection reports, run failures and the ledger where people read them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from etl_models.ledger_records import AssetRecord


class StorageError(Exception):
    """Base class of every error raised by ``etl_storage``."""


# --- object store -------------------------------------------------------------------------


class ObjectStoreError(StorageError):
    """An object-store operation failed."""


class ObjectNotFound(ObjectStoreError):
    """An object that should exist is missing."""

    def __init__(self, bucket: str, key: str, hint: str = "") -> None:
        self.bucket = bucket
        self.key = key
        message = f"object s3://{bucket}/{key} does not exist"
        super().__init__(f"{message}; {hint}" if hint else message)


class ManifestReadError(ObjectStoreError):
    """A manifest body could not be read as a JSON object. ``key`` names the manifest."""

    def __init__(self, key: str, message: str) -> None:
        self.key = key
        super().__init__(message)


class ManifestNotFound(ManifestReadError):
    """The manifest object is missing (deleted or already archived)."""


class ManifestTooLarge(ManifestReadError):
    """The manifest is larger than the configured limit."""

    def __init__(self, key: str, size: int, max_bytes: int) -> None:
        self.size = size
        self.max_bytes = max_bytes
        super().__init__(
            key,
            f"manifest {key} is {size} bytes, more than the limit of {max_bytes} bytes; "
            "a manifest lists files, it does not contain data: upload the data as files and "
            "reference them in files[].path",
        )


class ManifestNotUtf8(ManifestReadError):
    """The manifest bytes are not valid UTF-8."""


class ManifestNotJson(ManifestReadError):
    """The manifest text is not valid JSON (or uses NaN/Infinity or duplicate keys)."""


class ManifestNotObject(ManifestReadError):
    """The manifest is valid JSON but not a JSON object (e.g. an array)."""


class PathOutsideLanding(ObjectStoreError, ValueError):
    """A raw-file path points outside the landing bucket or is not a plain key."""

    def __init__(self, path: str, reason: str) -> None:
        self.path = path
        self.reason = reason
        super().__init__(f"path {path!r} is not a file in the landing bucket: {reason}")


class InvalidObjectKey(ObjectStoreError, ValueError):
    """An object key is malformed (empty segments, ``..``, backslashes, control characters)."""

    def __init__(self, key: str, reason: str) -> None:
        self.key = key
        self.reason = reason
        super().__init__(f"object key {key!r} is invalid: {reason}")


class LakeObjectExists(ObjectStoreError):
    """The lake is write-once: an object already exists at the key."""

    def __init__(self, bucket: str, key: str) -> None:
        self.bucket = bucket
        self.key = key
        super().__init__(
            f"lake object s3://{bucket}/{key} already exists and the lake is write-once; "
            "allocate a new version (Ledger.allocate_version) and write under its prefix"
        )


class ArchiveError(ObjectStoreError):
    """Archiving a manifest did not complete. The source manifest is still in place."""

    def __init__(self, key: str, message: str) -> None:
        self.key = key
        super().__init__(message)


# --- ledger --------------------------------------------------------------------------------


class LedgerError(StorageError):
    """A ledger operation failed."""


class LedgerUnavailable(LedgerError):
    """The ledger database could not be reached."""


class RecordNotFound(LedgerError):
    """A ledger record that the operation needs does not exist."""


class InvalidStatusTransition(LedgerError):
    """A status change that the lifecycle does not allow (e.g. ``rejected`` -> ``running``)."""

    def __init__(self, kind: str, ident: str, current: str, new: str, allowed: list[str]) -> None:
        self.kind = kind
        self.ident = ident
        self.current = current
        self.new = new
        self.allowed = allowed
        allowed_text = ", ".join(allowed) if allowed else "none (final state)"
        super().__init__(
            f"{kind} {ident!r}: status cannot change from {current!r} to {new!r}; "
            f"allowed from {current!r}: {allowed_text}"
        )


class BatchIdConflict(LedgerError):
    """A different manifest re-uses a ``batch_id`` that is already recorded."""

    def __init__(self, batch_id: str, existing_manifest_key: str, existing_status: str) -> None:
        self.batch_id = batch_id
        self.existing_manifest_key = existing_manifest_key
        self.existing_status = existing_status
        super().__init__(
            f"batch_id {batch_id!r} is already used by manifest {existing_manifest_key} "
            f"(status {existing_status}) with different content; batch_id is globally unique "
            "and immutable: give the new manifest a new batch_id"
        )


class AssetConflict(LedgerError):
    """An asset record collides with an existing one.

    ``existing`` is the registered asset with the same ``(dataset_id, content_hash)`` (the
    content is already published: link to it); ``None`` when the version or lake key is taken.
    """

    def __init__(self, message: str, existing: AssetRecord | None = None) -> None:
        self.existing = existing
        super().__init__(message)


class MigrationError(LedgerError):
    """The recorded ledger migrations do not match the code (changed, renumbered, missing)."""
