"""Object store resource: the landing bucket (raw uploads, manifests) and the lake (write-once).

Built on the ``minio`` client; one client per resource instance, created on first use. The S3
server is addressed as ``host:port`` without a scheme; ``secure`` switches TLS on.

Archive layout (DESIGN.md section 4): a manifest ``manifests/x.json`` is archived to
``archive/manifests/x.json`` (the ``manifest_archive_key`` tag), and a rejection report to
``archive/manifests/x.json.rejection.json`` beside it. Names repeat (people re-upload
``manifests/roads.json`` every day), so when the archive key is already taken by an earlier,
different manifest, the earlier copy and its report are first moved to
``archive/history/{stamp}-{etag12}/manifests/x.json`` (``stamp`` = when the earlier copy was
archived). Nothing archived is ever overwritten without a verified copy in history.
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
import re
import threading
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO

import dagster as dg
from pydantic import Field, PrivateAttr

from etl_models.ledger_records import InputFile
from etl_storage.errors import (
    ArchiveError,
    InvalidObjectKey,
    LakeObjectExists,
    ManifestNotFound,
    ManifestNotJson,
    ManifestNotObject,
    ManifestNotUtf8,
    ManifestTooLarge,
    ObjectNotFound,
    ObjectStoreError,
    PathOutsideLanding,
)

if TYPE_CHECKING:
    from minio import Minio

    from etl_models.settings import ObjectStoreSettings

log = logging.getLogger(__name__)

MANIFEST_PREFIX = "manifests/"
ARCHIVE_PREFIX = "archive/"
HISTORY_PREFIX = "archive/history/"
REJECTION_SUFFIX = ".rejection.json"
DEFAULT_MANIFEST_MAX_BYTES = 1_048_576

# Lake uploads: objects up to one part go in one conditional PUT, larger ones as a multipart
# upload whose completion is conditional. S3 requires parts of at least 5 MiB (but the last).
LAKE_PART_SIZE = 16 * 1024 * 1024
_MIN_PART_SIZE = 5 * 1024 * 1024

# Archive metadata: which landing object an archived copy came from (retry detection).
_META_SOURCE_ETAG = "etl-source-etag"
_META_SOURCE_MODIFIED = "etl-source-last-modified"

_CONTROL_CHARS = re.compile(r"[\x00-\x1f\x7f]")
_ENCODED_TRAVERSAL = re.compile(r"%(2e|2f|5c|00)", re.IGNORECASE)
_URL_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.\-]*):")


@dataclass(frozen=True)
class ObjectMetadata:
    """What the object store says about one object; the provenance of inputs and outputs."""

    bucket: str
    key: str
    etag: str
    size: int
    last_modified: datetime | None
    content_type: str | None = None

    @property
    def uri(self) -> str:
        """``s3://bucket/key``."""
        return f"s3://{self.bucket}/{self.key}"

    def to_input_file(self) -> InputFile:
        """Provenance record of this object as a raw input (path, etag, size)."""
        return InputFile(path=self.uri, etag=self.etag, size=self.size)


def _clean_etag(etag: str | None) -> str:
    return (etag or "").strip('"')


def _metadata_from_stat(bucket: str, key: str, stat: Any) -> ObjectMetadata:
    """``ObjectMetadata`` from what minio's stat/fget calls return."""
    return ObjectMetadata(
        bucket=bucket,
        key=key,
        etag=_clean_etag(stat.etag),
        size=int(stat.size or 0),
        last_modified=stat.last_modified,
        content_type=stat.content_type,
    )


def _is_missing(exc: Exception) -> bool:
    from minio.error import S3Error

    return isinstance(exc, S3Error) and exc.code in {"NoSuchKey", "NoSuchObject", "NotFound"}


def validate_object_key(key: str) -> str:
    """Check that ``key`` is a plain relative object key; return it unchanged.

    Refused: empty keys, leading or doubled ``/`` (empty segments), ``.``/``..`` segments,
    backslashes, control characters, percent-encoded dots/slashes, trailing ``/``.
    """
    if not isinstance(key, str) or not key:
        raise InvalidObjectKey(str(key), "the key is empty; give a path like 'batch/file.gpkg'")
    if "\\" in key:
        raise InvalidObjectKey(key, "backslashes are not allowed; use '/' between folders")
    if _CONTROL_CHARS.search(key):
        raise InvalidObjectKey(key, "control characters are not allowed in object keys")
    if _ENCODED_TRAVERSAL.search(key):
        raise InvalidObjectKey(
            key, "percent-encoded '.', '/', '\\' or NUL are not allowed; rename the file"
        )
    for segment in key.split("/"):
        if segment == "":
            raise InvalidObjectKey(
                key, "empty path segment (leading, trailing or doubled '/'); remove it"
            )
        if segment in {".", ".."}:
            raise InvalidObjectKey(key, f"'{segment}' segments are not allowed")
    return key


class ObjectStore(dg.ConfigurableResource):
    """MinIO/S3 access for the platform: landing bucket (raw + manifests) and lake (write-once).

    Works as a plain object and as a Dagster resource. ``secret_key`` never appears in reprs or
    logs (only ``gdal_s3_env()`` returns it, for a subprocess environment).
    """

    endpoint: str = Field(description="S3 server as host:port, without a scheme.")
    access_key: str = Field(description="Access key id.")
    secret_key: str = Field(repr=False, description="Secret access key (never logged).")
    secure: bool = Field(default=False, description="Use TLS (https).")
    region: str = Field(default="us-east-1", description="Region name used for signing.")
    landing_bucket: str = Field(default="landing-zone", description="Raw uploads and manifests.")
    lake_bucket: str = Field(default="data-lake", description="Outputs, permanent, write-once.")
    connect_timeout_s: float | None = Field(
        default=None,
        gt=0,
        description="Fail fast when the server is down (command lines); None: minio's defaults.",
    )

    _client: Any = PrivateAttr(default=None)
    _client_lock: Any = PrivateAttr(default_factory=threading.Lock)

    @classmethod
    def from_settings(
        cls, settings: ObjectStoreSettings | None = None, **overrides: Any
    ) -> ObjectStore:
        """Build from ``ObjectStoreSettings`` (read from the environment when not given)."""
        from etl_models.settings import ObjectStoreSettings

        s = settings or ObjectStoreSettings()
        return cls(
            endpoint=s.endpoint,
            access_key=s.access_key,
            secret_key=s.secret_key.get_secret_value(),
            secure=s.secure,
            region=s.region,
            landing_bucket=s.landing_bucket,
            lake_bucket=s.lake_bucket,
            **overrides,
        )

    @classmethod
    def from_env(cls) -> ObjectStore:
        """For Dagster definitions: endpoint and credentials as ``EnvVar`` (resolved at run
        time, never stored in the definitions); TLS, region and buckets from the settings."""
        from etl_models.settings import ObjectStoreSettings

        s = ObjectStoreSettings()
        return cls(
            endpoint=dg.EnvVar("MINIO_ENDPOINT"),
            access_key=dg.EnvVar("MINIO_ROOT_USER"),
            secret_key=dg.EnvVar("MINIO_ROOT_PASSWORD"),
            secure=s.secure,
            region=s.region,
            landing_bucket=s.landing_bucket,
            lake_bucket=s.lake_bucket,
        )

    # --- client ----------------------------------------------------------------------------

    @property
    def client(self) -> Minio:
        """The one ``minio.Minio`` client of this instance (thread-safe, created lazily)."""
        if self._client is None:
            with self._client_lock:
                if self._client is None:
                    from minio import Minio

                    if "://" in self.endpoint:
                        raise ObjectStoreError(
                            f"endpoint {self.endpoint!r} must be host:port without a scheme; "
                            "set secure=True (MINIO_SECURE=true) for TLS"
                        )
                    self._client = Minio(
                        self.endpoint,
                        access_key=self.access_key,
                        secret_key=self.secret_key,
                        secure=self.secure,
                        region=self.region,
                        http_client=self._bounded_http_client(),
                    )
        return self._client

    # Reading a large object may legitimately stall longer than connecting may take.
    _READ_TIMEOUT_S = 300.0

    def _bounded_http_client(self) -> Any:
        """An HTTP pool with short connect timeouts and few retries, or None for the default."""
        if self.connect_timeout_s is None:
            return None
        import os

        import certifi
        import urllib3

        return urllib3.PoolManager(
            timeout=urllib3.Timeout(
                connect=self.connect_timeout_s,
                read=max(self._READ_TIMEOUT_S, self.connect_timeout_s),
            ),
            maxsize=10,
            cert_reqs="CERT_REQUIRED",
            ca_certs=os.environ.get("SSL_CERT_FILE") or certifi.where(),
            retries=urllib3.Retry(
                total=2, backoff_factor=0.2, status_forcelist=[500, 502, 503, 504]
            ),
        )

    def ensure_buckets(self) -> None:
        """Create the landing and lake buckets if they are missing."""
        for bucket in (self.landing_bucket, self.lake_bucket):
            if not self.client.bucket_exists(bucket):
                try:
                    self.client.make_bucket(bucket)
                except Exception as exc:  # a concurrent creator may have won the race
                    if not self.client.bucket_exists(bucket):
                        raise ObjectStoreError(
                            f"could not create bucket {bucket!r}: {exc}"
                        ) from exc

    # --- URIs and keys ---------------------------------------------------------------------

    def landing_uri(self, key: str) -> str:
        """``s3://<landing>/<key>``."""
        return f"s3://{self.landing_bucket}/{validate_object_key(key)}"

    def lake_uri(self, key: str) -> str:
        """``s3://<lake>/<key>``."""
        return f"s3://{self.lake_bucket}/{validate_object_key(key)}"

    def landing_key_from_uri(self, uri: str) -> str:
        """The landing-bucket key of ``s3://<landing>/<key>``; anything else is refused.

        Raises ``PathOutsideLanding`` for other schemes or buckets, ``..`` and ``.`` segments,
        empty segments, backslashes, control characters and percent-encoded traversal.
        """
        if not isinstance(uri, str) or not uri:
            raise PathOutsideLanding(str(uri), f"expected s3://{self.landing_bucket}/<key>")
        if "\\" in uri:
            raise PathOutsideLanding(uri, "backslashes are not allowed; use '/' between folders")
        if not uri.startswith("s3://"):
            match = _URL_SCHEME.match(uri)
            scheme = match.group(1) if match else None
            if scheme:
                reason = f"scheme {scheme!r} is not allowed; only s3://{self.landing_bucket}/..."
            else:
                reason = f"not an s3:// URI; write it as s3://{self.landing_bucket}/<key>"
            raise PathOutsideLanding(uri, reason)
        bucket, sep, key = uri[len("s3://") :].partition("/")
        if bucket != self.landing_bucket:
            raise PathOutsideLanding(
                uri,
                f"bucket {bucket!r} is not the landing bucket {self.landing_bucket!r}; "
                f"upload the file to s3://{self.landing_bucket}/ and reference it there",
            )
        if not sep or not key:
            raise PathOutsideLanding(uri, "no object key after the bucket name")
        try:
            return validate_object_key(key)
        except InvalidObjectKey as exc:
            raise PathOutsideLanding(uri, exc.reason) from exc

    def landing_key(self, key_or_uri: str) -> str:
        """A validated landing key from a key or an ``s3://<landing>/...`` URI."""
        if isinstance(key_or_uri, str) and "://" in key_or_uri:
            return self.landing_key_from_uri(key_or_uri)
        try:
            return validate_object_key(key_or_uri)
        except InvalidObjectKey as exc:
            raise PathOutsideLanding(str(key_or_uri), exc.reason) from exc

    @staticmethod
    def archive_key_for(manifest_key: str) -> str:
        """``archive/{manifest_key}``: where ``manifest_key`` is archived (run tag contract)."""
        return ARCHIVE_PREFIX + validate_object_key(manifest_key)

    @staticmethod
    def rejection_report_key_for(manifest_key: str) -> str:
        """``archive/{manifest_key}.rejection.json``: the report beside an archived manifest."""
        return ObjectStore.archive_key_for(manifest_key) + REJECTION_SUFFIX

    # --- metadata --------------------------------------------------------------------------

    def _metadata(self, bucket: str, key: str) -> ObjectMetadata:
        try:
            stat = self.client.stat_object(bucket, key)
        except Exception as exc:
            if _is_missing(exc):
                raise ObjectNotFound(bucket, key) from exc
            raise
        return _metadata_from_stat(bucket, key, stat)

    def _metadata_or_none(self, bucket: str, key: str) -> ObjectMetadata | None:
        try:
            return self._metadata(bucket, key)
        except ObjectNotFound:
            return None

    def landing_object_metadata(self, key_or_uri: str) -> ObjectMetadata:
        """ETag, size and last-modified of a landing object (``ObjectNotFound`` if missing)."""
        return self._metadata(self.landing_bucket, self.landing_key(key_or_uri))

    def lake_object_metadata(self, key: str) -> ObjectMetadata:
        """ETag, size and last-modified of a lake object (``ObjectNotFound`` if missing)."""
        return self._metadata(self.lake_bucket, validate_object_key(key))

    def landing_object_exists(self, key_or_uri: str) -> bool:
        """Whether the landing object exists."""
        return self._metadata_or_none(self.landing_bucket, self.landing_key(key_or_uri)) is not None

    def lake_object_exists(self, key: str) -> bool:
        """Whether the lake object exists."""
        return self._metadata_or_none(self.lake_bucket, validate_object_key(key)) is not None

    # --- manifests -------------------------------------------------------------------------

    def iter_manifest_objects(
        self, prefix: str = MANIFEST_PREFIX, start_after: str | None = None
    ) -> Iterator[ObjectMetadata]:
        """Every ``.json`` object under ``prefix`` (recursive), in key order, all pages."""
        # list_objects follows continuation tokens itself: every page, never only the first.
        for obj in self.client.list_objects(
            self.landing_bucket, prefix=prefix, recursive=True, start_after=start_after
        ):
            name = obj.object_name or ""
            if obj.is_dir or not name.endswith(".json") or name.endswith(REJECTION_SUFFIX):
                continue
            yield ObjectMetadata(
                bucket=self.landing_bucket,
                key=name,
                etag=_clean_etag(obj.etag),
                size=int(obj.size or 0),
                last_modified=obj.last_modified,
            )

    def list_manifest_objects(self, prefix: str = MANIFEST_PREFIX) -> list[ObjectMetadata]:
        """All manifest objects under ``prefix`` with their metadata, in key order."""
        return list(self.iter_manifest_objects(prefix))

    def list_manifest_keys(self, prefix: str = MANIFEST_PREFIX) -> list[str]:
        """All manifest keys (``.json``) under ``prefix``, recursive, every page, in key order."""
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
                if meta.size > max_bytes or len(body) > max_bytes:
                    raise ManifestTooLarge(key, max(meta.size, len(body)), max_bytes)
                return parse_manifest_bytes(key, body), meta
        try:
            meta = self._metadata(self.landing_bucket, key)
        except ObjectNotFound as exc:
            raise ManifestNotFound(
                key, f"manifest {key} does not exist in bucket {self.landing_bucket}"
            ) from exc
        if meta.size > max_bytes:
            raise ManifestTooLarge(key, meta.size, max_bytes)
        body = self._read_bounded(key, max_bytes + 1) if meta.size else b""
        if len(body) > max_bytes:
            raise ManifestTooLarge(key, len(body), max_bytes)
        return parse_manifest_bytes(key, body), meta

    def _read_with_metadata(self, key: str, limit: int) -> tuple[bytes, ObjectMetadata] | None:
        """At most ``limit`` bytes of a landing object and its metadata from the response
        headers (one ranged GET); ``None`` for an empty object (no range to read)."""
        from minio.error import S3Error
        from minio.time import from_http_header

        try:
            response = self.client.get_object(self.landing_bucket, key, offset=0, length=limit)
        except S3Error as exc:
            if _is_missing(exc):
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
            etag=_clean_etag(headers.get("ETag")),
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
            if _is_missing(exc):
                raise ManifestNotFound(key, f"manifest {key} disappeared while reading") from exc
            if exc.code == "InvalidRange":  # emptied since the stat
                return b""
            raise
        try:
            return response.read(limit)
        finally:
            response.close()
            response.release_conn()

    def archive_manifest(self, key: str) -> str:
        """Move the manifest at ``key`` to ``archive/{key}``: copy, verify, then delete.

        An earlier, different manifest already archived under the same name is first moved to
        history (with its rejection report), never overwritten. A retry after a failed delete
        recognises its own copy and only deletes. If anything fails, ``ArchiveError`` is raised
        and the manifest is still at ``key``. Returns the archive key.
        """
        from minio.commonconfig import REPLACE, CopySource

        key = self.landing_key(key)
        bucket = self.landing_bucket
        archive_key = self.archive_key_for(key)
        source = self._metadata_or_none(bucket, key)
        if source is None:
            raise ArchiveError(
                key, f"cannot archive {key}: it is not in bucket {bucket} (already archived?)"
            )
        source_modified = source.last_modified.isoformat() if source.last_modified else ""
        existing = self._metadata_or_none(bucket, archive_key)
        if existing is not None and self._is_copy_of(archive_key, source, source_modified):
            log.info("archive of %s already copied by an earlier attempt; deleting source", key)
        else:
            if existing is not None:
                self._move_archived_to_history(key, existing)
            try:
                self.client.copy_object(
                    bucket,
                    archive_key,
                    CopySource(bucket, key),
                    metadata={
                        _META_SOURCE_ETAG: source.etag,
                        _META_SOURCE_MODIFIED: source_modified,
                        "Content-Type": source.content_type or "application/json",
                    },
                    metadata_directive=REPLACE,
                )
            except Exception as exc:
                raise ArchiveError(
                    key, f"copying {key} to {archive_key} failed ({exc}); the manifest is unchanged"
                ) from exc
            self._verify_copy(key, source, archive_key)
        try:
            self.client.remove_object(bucket, key)
        except Exception as exc:
            raise ArchiveError(
                key,
                f"{key} was copied to {archive_key} but deleting the original failed ({exc}); "
                "the manifest is still in place and archiving it again is safe",
            ) from exc
        return archive_key

    def write_rejection_report(self, manifest_key: str, report: dict[str, Any]) -> str:
        """Write ``report`` as JSON beside the archived manifest; returns the report key.

        Call after ``archive_manifest`` (or use ``archive_rejected_manifest``): archiving moves
        an earlier manifest's report to history, so the report here belongs to this manifest.
        """
        report_key = self.rejection_report_key_for(manifest_key)
        body = json.dumps(report, indent=2, sort_keys=True, default=str).encode("utf-8")
        try:
            self.client.put_object(
                self.landing_bucket,
                report_key,
                io.BytesIO(body),
                len(body),
                content_type="application/json",
            )
        except Exception as exc:
            raise ArchiveError(
                manifest_key, f"writing rejection report {report_key} failed: {exc}"
            ) from exc
        return report_key

    def archive_rejected_manifest(self, key: str, report: dict[str, Any]) -> tuple[str, str]:
        """Archive an invalid manifest and write its rejection report beside it.

        Returns ``(archive_key, report_key)``. The report is written only once the manifest is
        archived; on failure ``ArchiveError`` is raised and the manifest stays at ``key``.
        """
        archive_key = self.archive_manifest(key)
        return archive_key, self.write_rejection_report(key, report)

    def _is_copy_of(self, archive_key: str, source: ObjectMetadata, source_modified: str) -> bool:
        stat = self.client.stat_object(self.landing_bucket, archive_key)
        meta = {k.lower(): v for k, v in (stat.metadata or {}).items()}
        return (
            meta.get(f"x-amz-meta-{_META_SOURCE_ETAG}") == source.etag
            and meta.get(f"x-amz-meta-{_META_SOURCE_MODIFIED}") == source_modified
            and int(stat.size or 0) == source.size
        )

    def _verify_copy(self, key: str, source: ObjectMetadata, copy_key: str) -> None:
        copied = self._metadata_or_none(self.landing_bucket, copy_key)
        if copied is None or copied.size != source.size:
            raise ArchiveError(
                key,
                f"copy of {source.key} at {copy_key} is missing or has the wrong size "
                f"({copied.size if copied else 'missing'} != {source.size}); "
                "the manifest is unchanged",
            )
        if copied.etag != source.etag and self._sha256(copy_key) != self._sha256(source.key):
            # ETags of multipart uploads may change on copy, so compare content in that case.
            raise ArchiveError(
                key, f"copy of {source.key} at {copy_key} differs from the original; unchanged"
            )

    def _sha256(self, key: str) -> str:
        digest = hashlib.sha256()
        response = self.client.get_object(self.landing_bucket, key)
        try:
            for chunk in response.stream(1024 * 1024):
                digest.update(chunk)
        finally:
            response.close()
            response.release_conn()
        return digest.hexdigest()

    def _move_archived_to_history(self, manifest_key: str, existing: ObjectMetadata) -> None:
        """Copy the earlier archived manifest (and its report) to history, verified."""
        from minio.commonconfig import CopySource

        stamp = (existing.last_modified or datetime.now(UTC)).astimezone(UTC)
        folder = f"{HISTORY_PREFIX}{stamp:%Y%m%dT%H%M%SZ}-{existing.etag[:12]}/"
        moves = [(existing.key, folder + manifest_key, existing)]
        report_key = self.rejection_report_key_for(manifest_key)
        report = self._metadata_or_none(self.landing_bucket, report_key)
        if report is not None:
            moves.append((report_key, folder + manifest_key + REJECTION_SUFFIX, report))
        for src_key, dst_key, meta in moves:
            if self._metadata_or_none(self.landing_bucket, dst_key) is None:
                try:
                    self.client.copy_object(
                        self.landing_bucket, dst_key, CopySource(self.landing_bucket, src_key)
                    )
                except Exception as exc:
                    raise ArchiveError(
                        manifest_key,
                        f"moving earlier archive {src_key} to {dst_key} failed ({exc}); "
                        f"{manifest_key} is unchanged",
                    ) from exc
            self._verify_copy(manifest_key, meta, dst_key)
        if report is not None:
            # The report would otherwise seem to belong to the manifest archived next.
            try:
                self.client.remove_object(self.landing_bucket, report_key)
            except Exception as exc:
                raise ArchiveError(
                    manifest_key,
                    f"removing earlier report {report_key} (kept in history) failed ({exc}); "
                    f"{manifest_key} is unchanged",
                ) from exc
        log.info("moved earlier archive of %s to %s", manifest_key, folder)

    def archive_history(self, manifest_key: str) -> list[str]:
        """Keys of earlier archived copies of ``manifest_key`` (oldest first)."""
        suffix = "/" + validate_object_key(manifest_key)
        return sorted(
            obj.object_name
            for obj in self.client.list_objects(
                self.landing_bucket, prefix=HISTORY_PREFIX, recursive=True
            )
            if obj.object_name and obj.object_name.endswith(suffix)
        )

    # --- lake (write-once) -----------------------------------------------------------------

    def upload_to_lake(
        self,
        local_path: str | Path,
        key: str,
        content_type: str = "application/octet-stream",
        metadata: dict[str, str] | None = None,
    ) -> ObjectMetadata:
        """Stream ``local_path`` to ``s3://<lake>/<key>``; refuse (``LakeObjectExists``) if taken.

        Write-once is enforced by the server (``If-None-Match: *`` on the PUT, or on completing
        a multipart upload), so two concurrent writers cannot both win; a stat first gives the
        clear error early. Returns the new object's metadata.
        """
        path = Path(local_path)
        size = path.stat().st_size
        with path.open("rb") as stream:
            return self._write_once(key, stream, size, content_type, metadata)

    def put_lake_bytes(
        self,
        key: str,
        data: bytes,
        content_type: str = "application/octet-stream",
        metadata: dict[str, str] | None = None,
    ) -> ObjectMetadata:
        """Write ``data`` to ``s3://<lake>/<key>`` once (``LakeObjectExists`` if taken)."""
        return self._write_once(key, io.BytesIO(data), len(data), content_type, metadata)

    def _write_once(
        self,
        key: str,
        stream: BinaryIO,
        size: int,
        content_type: str,
        metadata: dict[str, str] | None,
    ) -> ObjectMetadata:
        from minio.error import S3Error
        from minio.helpers import normalize_headers

        key = validate_object_key(key)
        bucket = self.lake_bucket
        if self._metadata_or_none(bucket, key) is not None:
            raise LakeObjectExists(bucket, key)
        headers = normalize_headers(dict(metadata or {}))
        headers["Content-Type"] = content_type
        part_size = max(LAKE_PART_SIZE, _MIN_PART_SIZE)
        try:
            if size <= part_size:
                # minio's public API cannot send If-None-Match; its request layer can.
                self.client._put_object(
                    bucket, key, stream.read(), {**headers, "If-None-Match": "*"}
                )
            else:
                self._multipart_write_once(bucket, key, stream, size, part_size, headers)
        except S3Error as exc:
            # 412: someone else wrote the key first; 409: a concurrent conditional write.
            if exc.code in {"PreconditionFailed", "ConditionalRequestConflict"}:
                raise LakeObjectExists(bucket, key) from exc
            raise
        return self._metadata(bucket, key)

    def _multipart_write_once(
        self,
        bucket: str,
        key: str,
        stream: BinaryIO,
        size: int,
        part_size: int,
        headers: dict[str, Any],
    ) -> None:
        client = self.client
        upload_id = client._create_multipart_upload(bucket, key, dict(headers))
        try:
            etags: list[tuple[int, str]] = []
            number = 0
            remaining = size
            while remaining > 0:
                number += 1
                chunk = stream.read(min(part_size, remaining))
                if not chunk:
                    raise ObjectStoreError(
                        f"{key}: source ended {remaining} bytes early while uploading"
                    )
                remaining -= len(chunk)
                etags.append(
                    (number, client._upload_part(bucket, key, chunk, None, upload_id, number))
                )
            root = ET.Element("CompleteMultipartUpload")
            for part_number, etag in etags:
                part = ET.SubElement(root, "Part")
                ET.SubElement(part, "PartNumber").text = str(part_number)
                ET.SubElement(part, "ETag").text = etag
            body = ET.tostring(root)
            response = client._execute(
                "POST",
                bucket,
                key,
                body=body,
                headers={"Content-Type": "application/xml", "If-None-Match": "*"},
                query_params={"uploadId": upload_id},
            )
            # S3 may report a failed completion inside a 200 response body.
            if b"<Error>" in (response.data or b""):
                raise ObjectStoreError(
                    f"completing upload of s3://{bucket}/{key} failed: {response.data[:500]!r}"
                )
        except BaseException:
            try:
                client._abort_multipart_upload(bucket, key, upload_id)
            except Exception as abort_exc:  # the original error matters more
                log.warning("could not abort multipart upload of %s: %s", key, abort_exc)
            raise

    # --- downloads and GDAL access ---------------------------------------------------------

    def _download(self, bucket: str, key: str, dest_path: str | Path) -> ObjectMetadata:
        dest = Path(dest_path)
        dest.parent.mkdir(parents=True, exist_ok=True)
        try:
            # fget_object streams into a temporary file and renames it when complete.
            stat = self.client.fget_object(bucket, key, str(dest))
        except Exception as exc:
            if _is_missing(exc):
                raise ObjectNotFound(bucket, key) from exc
            raise
        return _metadata_from_stat(bucket, key, stat)

    def download_from_landing(self, key_or_uri: str, dest_path: str | Path) -> ObjectMetadata:
        """Stream a landing object (key or ``s3://<landing>/...``) to ``dest_path``."""
        return self._download(self.landing_bucket, self.landing_key(key_or_uri), dest_path)

    def download_from_lake(self, key: str, dest_path: str | Path) -> ObjectMetadata:
        """Stream a lake object to ``dest_path``."""
        return self._download(self.lake_bucket, validate_object_key(key), dest_path)

    def presigned_landing_url(
        self, key_or_uri: str, expires: timedelta = timedelta(hours=1)
    ) -> str:
        """A presigned GET URL of a landing object (for GDAL ``/vsicurl/``)."""
        return self.client.presigned_get_object(
            self.landing_bucket, self.landing_key(key_or_uri), expires=expires
        )

    def presigned_lake_url(self, key: str, expires: timedelta = timedelta(hours=1)) -> str:
        """A presigned GET URL of a lake object."""
        return self.client.presigned_get_object(
            self.lake_bucket, validate_object_key(key), expires=expires
        )

    def vsicurl_path(self, key_or_uri: str, expires: timedelta = timedelta(hours=1)) -> str:
        """``/vsicurl/<presigned URL>`` of a landing object (no credentials needed by GDAL)."""
        return "/vsicurl/" + self.presigned_landing_url(key_or_uri, expires)

    def vsis3_path(self, key_or_uri: str) -> str:
        """``/vsis3/<landing>/<key>``; GDAL needs ``gdal_s3_env()`` in its environment."""
        return f"/vsis3/{self.landing_bucket}/{self.landing_key(key_or_uri)}"

    def lake_vsis3_path(self, key: str) -> str:
        """``/vsis3/<lake>/<key>``; GDAL needs ``gdal_s3_env()`` in its environment."""
        return f"/vsis3/{self.lake_bucket}/{validate_object_key(key)}"

    def gdal_s3_env(self) -> dict[str, str]:
        """Environment for GDAL ``/vsis3/`` against this server (contains the secret key).

        Pass it as a subprocess environment, never as arguments, and never log it.
        """
        return {
            "AWS_S3_ENDPOINT": self.endpoint,
            "AWS_HTTPS": "YES" if self.secure else "NO",
            "AWS_VIRTUAL_HOSTING": "FALSE",
            "AWS_ACCESS_KEY_ID": self.access_key,
            "AWS_SECRET_ACCESS_KEY": self.secret_key,
            "AWS_REGION": self.region,
            "AWS_DEFAULT_REGION": self.region,
            "AWS_NO_SIGN_REQUEST": "NO",
        }


def _json_type_name(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    return {list: "array", str: "string"}.get(type(value), type(value).__name__)


def parse_manifest_bytes(key: str, body: bytes) -> dict:
    """Decode and parse a manifest body; typed errors name the key and the problem."""
    try:
        # utf-8-sig tolerates a byte-order mark, which some editors write.
        text = body.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ManifestNotUtf8(
            key,
            f"manifest {key} is not valid UTF-8 (offset {exc.start}: "
            f"{body[exc.start : exc.start + 1]!r}); "
            "save the file as UTF-8",
        ) from exc

    def reject_constant(name: str) -> Any:
        raise ValueError(f"{name} is not valid JSON")

    def reject_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        result: dict[str, Any] = {}
        for name, value in pairs:
            if name in result:
                raise ValueError(f"duplicate key {name!r}")
            result[name] = value
        return result

    try:
        value = json.loads(
            text, parse_constant=reject_constant, object_pairs_hook=reject_duplicates
        )
    except json.JSONDecodeError as exc:
        raise ManifestNotJson(
            key,
            f"manifest {key} is not valid JSON: {exc.msg} at line {exc.lineno} column "
            f"{exc.colno}; fix the JSON syntax",
        ) from exc
    except (ValueError, RecursionError) as exc:
        raise ManifestNotJson(key, f"manifest {key} is not valid JSON: {exc}") from exc
    if not isinstance(value, dict):
        raise ManifestNotObject(
            key,
            f"manifest {key} is a JSON {_json_type_name(value)}, "
            "not an object; the manifest must be a JSON object like "
            '{"batch_id": ..., "uploader": ..., "intent": ..., "files": [...]}',
        )
    return value
