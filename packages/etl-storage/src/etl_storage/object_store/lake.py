"""Write-once uploads to the lake through boto3's public conditional-write API.

Write-once is enforced by the server (``IfNoneMatch='*'`` on the PUT, or on completing a
multipart upload), so of two concurrent writers exactly one wins; a stat first gives the clear
error early. Objects up to one part go in one PUT, larger ones as a multipart upload.
"""

from __future__ import annotations

import io
import logging
from pathlib import Path
from typing import Any, BinaryIO

from etl_storage.errors import LakeObjectExists, ObjectStoreError
from etl_storage.object_store.client import StoreConnection
from etl_storage.object_store.keys import ObjectMetadata, validate_object_key

log = logging.getLogger(__name__)

LAKE_PART_SIZE = 16 * 1024 * 1024
MIN_PART_SIZE = 5 * 1024 * 1024  # S3's minimum for every part but the last

# 412: the key was written first by someone else; 409: a concurrent conditional write.
_TAKEN_CODES = frozenset({"PreconditionFailed", "ConditionalRequestConflict"})
_TAKEN_STATUSES = frozenset({409, 412})


def _key_taken(exc: Exception) -> bool:
    from botocore.exceptions import ClientError

    if not isinstance(exc, ClientError):
        return False
    error = exc.response.get("Error", {})
    status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
    return error.get("Code") in _TAKEN_CODES or status in _TAKEN_STATUSES


class LakeWrites(StoreConnection):
    """Write-once objects in the lake bucket."""

    def upload_to_lake(
        self,
        local_path: str | Path,
        key: str,
        content_type: str = "application/octet-stream",
        metadata: dict[str, str] | None = None,
    ) -> ObjectMetadata:
        """Stream ``local_path`` to ``s3://<lake>/<key>``; refuse (``LakeObjectExists``) if taken.

        Returns the new object's metadata.
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

    def delete_lake_object(self, key: str) -> None:
        """Remove a lake object; only for one a failed publish uploaded but never registered
        (the lake is otherwise permanent). Removing a missing object is not an error."""
        self.s3.delete_object(Bucket=self.lake_bucket, Key=validate_object_key(key))

    def _write_once(
        self,
        key: str,
        stream: BinaryIO,
        size: int,
        content_type: str,
        metadata: dict[str, str] | None,
    ) -> ObjectMetadata:
        key = validate_object_key(key)
        bucket = self.lake_bucket
        if self._metadata_or_none(bucket, key) is not None:
            raise LakeObjectExists(bucket, key)
        args: dict[str, Any] = {
            "Bucket": bucket,
            "Key": key,
            "ContentType": content_type,
            "Metadata": dict(metadata or {}),
        }
        part_size = max(LAKE_PART_SIZE, MIN_PART_SIZE)
        try:
            if size <= part_size:
                self.s3.put_object(**args, Body=stream.read(), IfNoneMatch="*")
            else:
                self._multipart_write_once(args, stream, size, part_size)
        except Exception as exc:
            if _key_taken(exc):
                raise LakeObjectExists(bucket, key) from exc
            raise
        return self._metadata(bucket, key)

    def _multipart_write_once(
        self, args: dict[str, Any], stream: BinaryIO, size: int, part_size: int
    ) -> None:
        s3 = self.s3
        bucket, key = args["Bucket"], args["Key"]
        upload_id = s3.create_multipart_upload(**args)["UploadId"]
        try:
            parts: list[dict[str, Any]] = []
            remaining = size
            while remaining > 0:
                chunk = stream.read(min(part_size, remaining))
                if not chunk:
                    raise ObjectStoreError(
                        f"{key}: source ended {remaining} bytes early while uploading"
                    )
                remaining -= len(chunk)
                number = len(parts) + 1
                response = s3.upload_part(
                    Bucket=bucket, Key=key, UploadId=upload_id, PartNumber=number, Body=chunk
                )
                parts.append({"PartNumber": number, "ETag": response["ETag"]})
            s3.complete_multipart_upload(
                Bucket=bucket,
                Key=key,
                UploadId=upload_id,
                MultipartUpload={"Parts": parts},
                IfNoneMatch="*",
            )
        except BaseException:
            try:
                s3.abort_multipart_upload(Bucket=bucket, Key=key, UploadId=upload_id)
            except Exception as abort_exc:  # the original error matters more
                log.warning("could not abort multipart upload of %s: %s", key, abort_exc)
            raise
