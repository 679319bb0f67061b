"""Object keys and metadata: validation against the shared rules, URIs, provenance records."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from etl_models.landing import object_key_problem, split_s3_uri
from etl_models.ledger_records import InputFile
from etl_storage.errors import InvalidObjectKey, PathOutsideLanding

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


def clean_etag(etag: str | None) -> str:
    """An ETag without its quotes."""
    return (etag or "").strip('"')


def metadata_from_stat(bucket: str, key: str, stat: Any) -> ObjectMetadata:
    """``ObjectMetadata`` from what minio's stat/fget calls return."""
    return ObjectMetadata(
        bucket=bucket,
        key=key,
        etag=clean_etag(stat.etag),
        size=int(stat.size or 0),
        last_modified=stat.last_modified,
        content_type=stat.content_type,
    )


def validate_object_key(key: str) -> str:
    """``key`` unchanged if it is a plain relative object key (``etl_models.landing`` rules)."""
    problem = object_key_problem(key)
    if problem is not None:
        raise InvalidObjectKey(str(key), problem)
    return key


def landing_key_from_uri(uri: str, landing_bucket: str) -> str:
    """The key of ``s3://<landing_bucket>/<key>``; ``PathOutsideLanding`` for anything else."""
    if not isinstance(uri, str) or not uri:
        raise PathOutsideLanding(str(uri), f"expected s3://{landing_bucket}/<key>")
    if "\\" in uri:
        raise PathOutsideLanding(uri, "backslashes are not allowed; use '/' between folders")
    parts = split_s3_uri(uri)
    if parts is None:
        match = _URL_SCHEME.match(uri)
        if match:
            reason = f"scheme {match.group(1)!r} is not allowed; only s3://{landing_bucket}/..."
        else:
            reason = f"not an s3:// URI; write it as s3://{landing_bucket}/<key>"
        raise PathOutsideLanding(uri, reason)
    bucket, key = parts
    if bucket != landing_bucket:
        raise PathOutsideLanding(
            uri,
            f"bucket {bucket!r} is not the landing bucket {landing_bucket!r}; "
            f"upload the file to s3://{landing_bucket}/ and reference it there",
        )
    if not key:
        raise PathOutsideLanding(uri, "no object key after the bucket name")
    problem = object_key_problem(key)
    if problem is not None:
        raise PathOutsideLanding(uri, problem)
    return key


def landing_key(key_or_uri: str, landing_bucket: str) -> str:
    """A validated landing key from a key or an ``s3://<landing>/...`` URI."""
    if isinstance(key_or_uri, str) and "://" in key_or_uri:
        return landing_key_from_uri(key_or_uri, landing_bucket)
    problem = object_key_problem(key_or_uri)
    if problem is not None:
        raise PathOutsideLanding(str(key_or_uri), problem)
    return key_or_uri
