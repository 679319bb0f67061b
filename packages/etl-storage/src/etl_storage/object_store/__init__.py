"""The object store: the landing bucket (raw uploads, manifests) and the lake (write-once).

A plain class (no Dagster): ``ObjectStore`` composes the connection basics
(``client``), manifest reads (``manifests``), the archive (``archive``) and lake writes
(``lake``). Key rules and the landing layout live in ``etl_models.landing``.
"""

from __future__ import annotations

from etl_storage.object_store.archive import ManifestArchive
from etl_storage.object_store.keys import ObjectMetadata, validate_object_key
from etl_storage.object_store.lake import LakeWrites
from etl_storage.object_store.manifests import (
    DEFAULT_MANIFEST_MAX_BYTES,
    ManifestReads,
    parse_manifest_bytes,
)


class ObjectStore(ManifestReads, ManifestArchive, LakeWrites):
    """MinIO/S3 access for the platform: landing bucket (raw + manifests) and lake (write-once).

    ``secret_key`` never appears in reprs or logs.
    """


__all__ = [
    "DEFAULT_MANIFEST_MAX_BYTES",
    "ObjectMetadata",
    "ObjectStore",
    "parse_manifest_bytes",
    "validate_object_key",
]
