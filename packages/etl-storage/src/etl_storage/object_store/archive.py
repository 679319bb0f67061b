"""Archiving manifests in the landing bucket, never overwriting an earlier archived copy.

``manifests/x.json`` is archived to ``archive/manifests/x.json`` (the ``manifest_archive_key``
run tag), a rejection report to ``archive/manifests/x.json.rejection.json`` beside it. Names
repeat (people re-upload ``manifests/roads.json`` every day), so an archive key already taken
by an earlier, different manifest is first moved, with its report, to
``archive/history/{stamp}-{etag12}/manifests/x.json`` (``stamp``: when the earlier copy was
archived). Key naming lives in ``etl_models.landing``.
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
from datetime import UTC, datetime
from typing import Any

from etl_models import landing
from etl_storage.errors import ArchiveError
from etl_storage.object_store.client import StoreConnection
from etl_storage.object_store.keys import ObjectMetadata, validate_object_key

log = logging.getLogger(__name__)

# Archive metadata: which landing object an archived copy came from (retry detection).
_META_SOURCE_ETAG = "etl-source-etag"
_META_SOURCE_MODIFIED = "etl-source-last-modified"


class ManifestArchive(StoreConnection):
    """Moving processed manifests to ``archive/`` and writing rejection reports."""

    @staticmethod
    def archive_key_for(manifest_key: str) -> str:
        """``archive/{manifest_key}``: where ``manifest_key`` is archived (run tag contract)."""
        return validate_object_key(landing.archive_key_for(manifest_key))

    @staticmethod
    def rejection_report_key_for(manifest_key: str) -> str:
        """``archive/{manifest_key}.rejection.json``: the report beside an archived manifest."""
        return validate_object_key(landing.rejection_report_key_for(manifest_key))

    def archive_manifest(self, key: str) -> str:
        """Move the manifest at ``key`` to ``archive/{key}``: copy, verify, then delete.

        An earlier, different manifest already archived under the same name is first moved to
        history (with its rejection report), never overwritten. A retry after a failed delete
        recognises its own copy and only deletes. If anything fails, ``ArchiveError`` is raised
        and the manifest is still at ``key``. Returns the archive key.
        """
        from minio.commonconfig import REPLACE, CopySource

        # A key listed under manifests/ is moved whatever its spelling (see archive_key_for).
        key = key if key.startswith(landing.MANIFEST_PREFIX) else self.landing_key(key)
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

    def archive_history(self, manifest_key: str) -> list[str]:
        """Keys of earlier archived copies of ``manifest_key`` (oldest first)."""
        suffix = "/" + validate_object_key(manifest_key)
        return sorted(
            obj.object_name
            for obj in self.client.list_objects(
                self.landing_bucket, prefix=landing.HISTORY_PREFIX, recursive=True
            )
            if obj.object_name and obj.object_name.endswith(suffix)
        )

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
        folder = landing.history_folder_for(stamp, existing.etag)
        moves = [(existing.key, folder + manifest_key, existing)]
        report_key = self.rejection_report_key_for(manifest_key)
        report = self._metadata_or_none(self.landing_bucket, report_key)
        if report is not None:
            moves.append((report_key, folder + manifest_key + landing.REJECTION_SUFFIX, report))
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
