"""Connection to the S3 server and the per-object basics every part of the store uses.

One ``minio`` client per instance for reads, listings, copies and downloads, and one boto3
client for the lake's conditional (write-once) uploads, which minio's public API cannot send.
Both are created on first use. The server is ``host:port`` without a scheme; ``secure``
switches TLS on.
"""

from __future__ import annotations

import os
import threading
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, Self

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr

from etl_storage.errors import ObjectNotFound, ObjectStoreError
from etl_storage.object_store.keys import (
    ObjectMetadata,
    landing_key,
    landing_key_from_uri,
    metadata_from_stat,
    validate_object_key,
)

if TYPE_CHECKING:
    from minio import Minio

    from etl_models.settings import ObjectStoreSettings

# Reading a large object may legitimately stall longer than connecting may take.
READ_TIMEOUT_S = 300.0


def is_missing(exc: Exception) -> bool:
    """Whether a minio error says the object does not exist."""
    from minio.error import S3Error

    return isinstance(exc, S3Error) and exc.code in {"NoSuchKey", "NoSuchObject", "NotFound"}


class StoreConnection(BaseModel):
    """Settings, clients and per-object basics of the object store.

    ``secret_key`` never appears in reprs or logs: only the S3 clients (and GDAL's environment,
    built by ``etl_spatial.gdal.gdal_s3_env``) receive it.
    """

    model_config = ConfigDict(arbitrary_types_allowed=True)

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
        description="Fail fast when the server is down (command lines); None: library defaults.",
    )

    _client: Any = PrivateAttr(default=None)
    _s3: Any = PrivateAttr(default=None)
    _client_lock: Any = PrivateAttr(default_factory=threading.Lock)

    @classmethod
    def from_settings(cls, settings: ObjectStoreSettings | None = None, **overrides: Any) -> Self:
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

    # --- clients ---------------------------------------------------------------------------

    def _check_endpoint(self) -> None:
        if "://" in self.endpoint:
            raise ObjectStoreError(
                f"endpoint {self.endpoint!r} must be host:port without a scheme; "
                "set secure=True (MINIO_SECURE=true) for TLS"
            )

    @property
    def client(self) -> Minio:
        """The one ``minio.Minio`` client of this instance (thread-safe, created lazily)."""
        if self._client is None:
            with self._client_lock:
                if self._client is None:
                    from minio import Minio

                    self._check_endpoint()
                    self._client = Minio(
                        self.endpoint,
                        access_key=self.access_key,
                        secret_key=self.secret_key,
                        secure=self.secure,
                        region=self.region,
                        http_client=self._bounded_http_client(),
                    )
        return self._client

    @property
    def s3(self) -> Any:
        """The boto3 S3 client of this instance (lake uploads; thread-safe, created lazily)."""
        if self._s3 is None:
            with self._client_lock:
                if self._s3 is None:
                    import boto3
                    from botocore.config import Config

                    self._check_endpoint()
                    connect = self.connect_timeout_s or 60.0
                    config = Config(
                        s3={"addressing_style": "path"},
                        connect_timeout=connect,
                        read_timeout=max(READ_TIMEOUT_S, connect),
                        retries={"mode": "standard", "max_attempts": 3},
                        # S3-compatible servers differ in checksum support; send none unasked.
                        request_checksum_calculation="when_required",
                        response_checksum_validation="when_required",
                    )
                    scheme = "https" if self.secure else "http"
                    self._s3 = boto3.session.Session().client(
                        "s3",
                        endpoint_url=f"{scheme}://{self.endpoint}",
                        aws_access_key_id=self.access_key,
                        aws_secret_access_key=self.secret_key,
                        region_name=self.region,
                        verify=os.environ.get("SSL_CERT_FILE") or None,
                        config=config,
                    )
        return self._s3

    def _bounded_http_client(self) -> Any:
        """An HTTP pool with short connect timeouts and few retries, or None for the default."""
        if self.connect_timeout_s is None:
            return None
        import certifi
        import urllib3

        return urllib3.PoolManager(
            timeout=urllib3.Timeout(
                connect=self.connect_timeout_s,
                read=max(READ_TIMEOUT_S, self.connect_timeout_s),
            ),
            maxsize=10,
            cert_reqs="CERT_REQUIRED",
            ca_certs=os.environ.get("SSL_CERT_FILE") or certifi.where(),
            # A connect that timed out is not retried: each retry would add a whole
            # connect_timeout_s, and a command line must fail within the bound it was given.
            retries=urllib3.Retry(
                total=2, connect=0, backoff_factor=0.2, status_forcelist=[500, 502, 503, 504]
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
        """The landing-bucket key of ``s3://<landing>/<key>``; anything else is refused
        (``PathOutsideLanding``: other schemes or buckets, traversal, malformed keys)."""
        return landing_key_from_uri(uri, self.landing_bucket)

    def landing_key(self, key_or_uri: str) -> str:
        """A validated landing key from a key or an ``s3://<landing>/...`` URI."""
        return landing_key(key_or_uri, self.landing_bucket)

    # --- metadata --------------------------------------------------------------------------

    def _metadata(self, bucket: str, key: str) -> ObjectMetadata:
        try:
            stat = self.client.stat_object(bucket, key)
        except Exception as exc:
            if is_missing(exc):
                raise ObjectNotFound(bucket, key) from exc
            raise
        return metadata_from_stat(bucket, key, stat)

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

    # --- downloads and GDAL access ---------------------------------------------------------

    def _download(self, bucket: str, key: str, dest_path: str | Path) -> ObjectMetadata:
        dest = Path(dest_path)
        dest.parent.mkdir(parents=True, exist_ok=True)
        try:
            # fget_object streams into a temporary file and renames it when complete.
            stat = self.client.fget_object(bucket, key, str(dest))
        except Exception as exc:
            if is_missing(exc):
                raise ObjectNotFound(bucket, key) from exc
            raise
        return metadata_from_stat(bucket, key, stat)

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

    def vsicurl_path(self, key_or_uri: str, expires: timedelta = timedelta(hours=1)) -> str:
        """``/vsicurl/<presigned URL>`` of a landing object (no credentials needed by GDAL)."""
        return "/vsicurl/" + self.presigned_landing_url(key_or_uri, expires)

    def vsis3_path(self, key_or_uri: str) -> str:
        """``/vsis3/<landing>/<key>``; GDAL needs ``etl_spatial.gdal.gdal_s3_env`` in its
        environment."""
        return f"/vsis3/{self.landing_bucket}/{self.landing_key(key_or_uri)}"

    def lake_vsis3_path(self, key: str) -> str:
        """``/vsis3/<lake>/<key>``; GDAL needs ``etl_spatial.gdal.gdal_s3_env`` in its
        environment."""
        return f"/vsis3/{self.lake_bucket}/{validate_object_key(key)}"
