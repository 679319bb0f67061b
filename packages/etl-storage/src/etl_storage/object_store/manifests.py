"""Manifests in the landing bucket: listing and bounded, typed reads.

Bytes are decoded by ``etl_models.manifest_bytes`` (the rules live there); this module only
fetches them and maps its errors onto the storage's typed ``ManifestReadError`` family.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from etl_models.landing import MANIFEST_PREFIX
from etl_models.manifest_bytes import (
    MANIFEST_MAX_BYTES,
    ManifestBytesError,
    ManifestBytesNotJson,
    ManifestBytesNotObject,
    ManifestBytesNotUtf8,
    ManifestBytesTooLarge,
    decode_manifest_bytes,
)
from etl_storage.errors import (
    ManifestNotFound,
    ManifestNotJson,
    ManifestNotObject,
    ManifestNotUtf8,
    ManifestReadError,
    ManifestTooLarge,
    ObjectNotFound,
)
from etl_storage.object_store.client import StoreConnection, is_missing
from etl_storage.object_store.keys import ObjectMetadata, clean_etag

DEFAULT_MANIFEST_MAX_BYTES = MANIFEST_MAX_BYTES

_READ_ERRORS: dict[type[ManifestBytesError], type[ManifestReadError]] = {
    ManifestBytesNotUtf8: ManifestNotUtf8,
    ManifestBytesNotJson: ManifestNotJson,
    ManifestBytesNotObject: ManifestNotObject,
}


def parse_manifest_bytes(
    key: str, body: bytes, max_bytes: int = DEFAULT_MANIFEST_MAX_BYTES
) -> dict[str, Any]:
    """``etl_models.manifest_bytes.decode_manifest_bytes`` with the storage's typed errors."""
    try:
        return decode_manifest_bytes(body, key, max_bytes=max_bytes)
    except ManifestBytesTooLarge as exc:
        raise ManifestTooLarge(key, exc.size, exc.max_bytes) from None
    except ManifestBytesError as exc:
        raise _READ_ERRORS[type(exc)](key, str(exc)) from None


class ManifestReads(StoreConnection):
    """Listing and reading manifests (``manifests/*.json``) in the landing bucket."""

    def iter_manifest_objects(
        self, prefix: str = MANIFEST_PREFIX, start_after: str | None = None
    ) -> Iterator[ObjectMetadata]:
        """Every object under ``prefix`` (recursive), in key order, all pages.

        Not only ``.json`` ones: whatever is uploaded under ``manifests/`` is taken in or
        rejected with a record (``etl_models.landing.manifest_name_problem`` says which), never
        ignored. Only folder markers (keys ending in ``/``, which hold no manifest) are skipped.
        """
        # list_objects follows continuation tokens itself: every page, never only the first.
        for obj in self.client.list_objects(
            self.landing_bucket, prefix=prefix, recursive=True, start_after=start_after
        ):
            name = obj.object_name or ""
            if obj.is_dir or not name or name.endswith("/"):
                continue
            yield ObjectMetadata(
                bucket=self.landing_bucket,
                key=name,
                etag=clean_etag(obj.etag),
                size=int(obj.size or 0),
                last_modified=obj.last_modified,
            )

    def list_manifest_objects(self, prefix: str = MANIFEST_PREFIX) -> list[ObjectMetadata]:
        """All manifest objects under ``prefix`` with their metadata, in key order."""
        return list(self.iter_manifest_objects(prefix))

    def list_manifest_keys(self, prefix: str = MANIFEST_PREFIX) -> list[str]:
        """All object keys under ``prefix`` but folder markers, recursive, in key order."""
        return [m.key for m in self.iter_manifest_objects(prefix)]

    def read_manifest(self, key: str, max_bytes: int = DEFAULT_MANIFEST_MAX_BYTES) -> dict:
        """The manifest at ``key`` parsed as a JSON object.

        Raises ``ManifestNotFound``, ``ManifestTooLarge`` (checked from the size before
        reading, and never reading more than ``max_bytes + 1``), ``ManifestNotUtf8``,
        ``ManifestNotJson`` (also for NaN/Infinity and duplicate keys) or ``ManifestNotObject``.
        Nothing is moved or deleted.
        """
        return self.read_manifest_with_metadata(key, max_bytes)[0]

    def read_manifest_with_metadata(
        self,
        key: str,
        max_bytes: int = DEFAULT_MANIFEST_MAX_BYTES,
        *,
        listed: ObjectMetadata | None = None,
    ) -> tuple[dict, ObjectMetadata]:
        """``read_manifest`` plus the object's metadata (etag, size) for provenance.

        ``listed`` is the object's entry from a listing (``iter_manifest_objects``): its size
        replaces the separate stat, so the manifest costs one request (a sensor tick reads
        thousands, each a round trip); the returned metadata is that of the body read.
        """
        key = self.landing_key(key)
        if listed is not None:
            if listed.size > max_bytes:
                raise ManifestTooLarge(key, listed.size, max_bytes)
            read = self._read_with_metadata(key, max_bytes + 1)
            if read is not None:
                body, meta = read
                if meta.size > max_bytes:
                    raise ManifestTooLarge(key, meta.size, max_bytes)
                return parse_manifest_bytes(key, body, max_bytes), meta
        try:
            meta = self._metadata(self.landing_bucket, key)
        except ObjectNotFound as exc:
            raise ManifestNotFound(
                key, f"manifest {key} does not exist in bucket {self.landing_bucket}"
            ) from exc
        if meta.size > max_bytes:
            raise ManifestTooLarge(key, meta.size, max_bytes)
        body = self._read_bounded(key, max_bytes + 1) if meta.size else b""
        return parse_manifest_bytes(key, body, max_bytes), meta

    def _read_with_metadata(self, key: str, limit: int) -> tuple[bytes, ObjectMetadata] | None:
        """At most ``limit`` bytes of a landing object and its metadata from the response
        headers (one ranged GET); ``None`` for an empty object (no range to read)."""
        from minio.error import S3Error
        from minio.time import from_http_header

        try:
            response = self.client.get_object(self.landing_bucket, key, offset=0, length=limit)
        except S3Error as exc:
            if is_missing(exc):
                raise ManifestNotFound(
                    key, f"manifest {key} does not exist in bucket {self.landing_bucket}"
                ) from exc
            if exc.code == "InvalidRange":
                return None
            raise
        try:
            headers = response.headers
            # Content-Range "bytes 0-N/TOTAL" carries the object size; checked before the body
            # is read, so an object that grew since the listing is refused unread.
            total = str(headers.get("Content-Range") or "").rpartition("/")[2]
            size = int(total) if total.isdigit() else int(headers.get("Content-Length") or 0)
            body = response.read(limit) if size < limit else b""
        finally:
            response.close()
            response.release_conn()
        modified = headers.get("Last-Modified")
        return body, ObjectMetadata(
            bucket=self.landing_bucket,
            key=key,
            etag=clean_etag(headers.get("ETag")),
            size=size,
            last_modified=from_http_header(modified) if modified else None,
            content_type=headers.get("Content-Type"),
        )

    def _read_bounded(self, key: str, limit: int) -> bytes:
        """At most ``limit`` bytes of a landing object (a range read)."""
        from minio.error import S3Error

        try:
            # Range read: an object that grew after the stat still cannot flood memory.
            response = self.client.get_object(self.landing_bucket, key, offset=0, length=limit)
        except S3Error as exc:
            if is_missing(exc):
                raise ManifestNotFound(key, f"manifest {key} disappeared while reading") from exc
            if exc.code == "InvalidRange":  # emptied since the stat
                return b""
            raise
        try:
            return response.read(limit)
        finally:
            response.close()
            response.release_conn()
