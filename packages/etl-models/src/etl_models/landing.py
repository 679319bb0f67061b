"""Landing-bucket layout and object-key rules, shared by the manifest model and the storage.

Layout: raw files under ``<batch_id>/``, manifests under ``manifests/``; processed manifests are
archived to ``archive/{manifest_key}`` with a rejection report ``{archive_key}.rejection.json``
beside it, and an earlier archived copy with the same name is moved to
``archive/history/{stamp}-{etag12}/{manifest_key}`` first (see ``docs/architecture.md``).

Key rules return the problem as text (``None`` when fine) so each caller raises its own error
type with the same reason.
"""

from __future__ import annotations

import hashlib
import re
from datetime import datetime

MANIFEST_PREFIX = "manifests/"
ARCHIVE_PREFIX = "archive/"
HISTORY_PREFIX = "archive/history/"
REJECTION_SUFFIX = ".rejection.json"

# Prefixes that belong to the platform: raw files there would pass for manifests or archives.
RESERVED_LANDING_PREFIXES = (MANIFEST_PREFIX, ARCHIVE_PREFIX)
MAX_KEY_LENGTH = 1024  # S3's limit

_CONTROL_CHARS = re.compile(r"[\x00-\x1f\x7f]")
# Some clients decode %2e%2e into '..' (and %252e twice), so no escape may reach a key.
_PERCENT_ESCAPE = re.compile(r"%[0-9A-Fa-f]{2}")


def object_key_problem(key: object) -> str | None:
    """Why ``key`` is not a plain relative object key, or ``None`` if it is one."""
    if not isinstance(key, str) or not key:
        return "it names no object (the key is empty)"
    if key.startswith("/"):
        return "the key is absolute (starts with '/'); remove the leading '/'"
    if "\\" in key:
        return "backslashes are not allowed; use '/' between folders"
    if _CONTROL_CHARS.search(key):
        return "control characters are not allowed in object keys"
    if _PERCENT_ESCAPE.search(key):
        return "percent-escapes (percent-encoded characters such as %2e) are not allowed"
    segments = key.split("/")
    if "" in segments:
        return "the key has an empty segment (a doubled or trailing '/'); remove it"
    if any(segment in {".", ".."} for segment in segments):
        return "'.' or '..' segments are not allowed"
    if len(key.encode("utf-8")) > MAX_KEY_LENGTH:
        return f"the key is longer than {MAX_KEY_LENGTH} bytes"
    return None


def raw_file_key_problem(key: object) -> str | None:
    """``object_key_problem`` plus the reserved prefixes: the rule for a manifest's files."""
    problem = object_key_problem(key)
    if problem is None and str(key).startswith(RESERVED_LANDING_PREFIXES):
        return "manifests/ and archive/ are reserved for the platform"
    return problem


def manifest_name_problem(key: str) -> str | None:
    """Why the object ``key`` under ``manifests/`` cannot be taken in as a manifest (``None``:
    it can). Any case of ``.json`` is accepted; the sentence names the fix."""
    if not key.lower().endswith(".json"):
        name = key.rsplit("/", 1)[-1] or key
        stem = name.rsplit(".", 1)[0] if "." in name.lstrip(".") else name.lstrip(".")
        return (
            f"{key} is not a manifest: only .json files belong in {MANIFEST_PREFIX}; upload "
            f"the manifest as {MANIFEST_PREFIX}{stem or 'batch'}.json (raw files go under "
            "<batch_id>/)"
        )
    problem = object_key_problem(key)
    if problem is not None:
        return f"manifest key {key!r} is not usable: {problem}; upload it under a plain name"
    return None


def split_s3_uri(uri: str) -> tuple[str, str] | None:
    """``(bucket, key)`` of ``s3://bucket/key`` (key may be empty), ``None`` if not s3://."""
    if not isinstance(uri, str) or not uri.startswith("s3://"):
        return None
    bucket, _, key = uri[len("s3://") :].partition("/")
    return bucket, key


def manifest_key_for(name: str) -> str:
    """``manifests/{name}``: where a manifest is uploaded."""
    return MANIFEST_PREFIX + name


UNSAFE_ARCHIVE_PREFIX = ARCHIVE_PREFIX + "unsafe-keys/"


def archive_key_for(manifest_key: str) -> str:
    """``archive/{manifest_key}``: where a processed manifest is archived (run tag contract).

    A key that is not a plain object key (``manifests//x.json``, ``%2e``, control characters)
    cannot be mirrored under ``archive/``; it is archived under a name derived from its hash,
    so it is still taken out of ``manifests/`` with its rejection report instead of failing
    every intake tick.
    """
    if object_key_problem(manifest_key) is None:
        return ARCHIVE_PREFIX + manifest_key
    digest = hashlib.sha256(manifest_key.encode("utf-8", "surrogatepass")).hexdigest()[:24]
    return f"{UNSAFE_ARCHIVE_PREFIX}{digest}.json"


def rejection_report_key_for(manifest_key: str) -> str:
    """``archive/{manifest_key}.rejection.json``: the report beside an archived manifest."""
    return archive_key_for(manifest_key) + REJECTION_SUFFIX


def history_folder_for(archived_at: datetime, etag: str) -> str:
    """``archive/history/{stamp}-{etag12}/``: where an earlier archived copy is kept.

    ``archived_at`` must be timezone-aware UTC; ``stamp`` is ``YYYYmmddTHHMMSSZ``.
    """
    return f"{HISTORY_PREFIX}{archived_at:%Y%m%dT%H%M%SZ}-{etag[:12]}/"
