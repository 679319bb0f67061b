"""The manifest sensors' cursor (see ``docs/architecture.md``).

Versioned JSON ``{"v": 2, "processed": [[key, version], ...], "max_keys": 500}`` holding the
most recently processed manifest *objects* in processing order, bounded to 500. An object is
its key plus a version token (``manifest_object_version``: ETag and last-modified time), so a
manifest uploaded again under a name already used (names repeat daily) is a new object and is
taken in; only the very object that was processed is skipped. A persisted ``max_keys`` is
informational only: the bound is ours, so a tampered or old cursor cannot grow without limit.

Older forms migrate on read: v1 JSON (``processed_keys``) and the legacy comma-separated list
carry keys without versions, and a key without a version matches no object, so each manifest
still listed is evaluated once more. That is safe because intake is idempotent (a manifest
already queued is re-planned from the ledger, one already run is recognised by its batch id).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import datetime

CURSOR_VERSION = 2
MAX_KEYS = 500


class CursorError(ValueError):
    """A cursor that is neither a known JSON form nor the legacy comma list."""


def manifest_object_version(etag: str | None, last_modified: datetime | None) -> str | None:
    """The version token of one uploaded object: its ETag and upload time.

    The ETag alone would take an identical re-upload for the processed object and leave it in
    ``manifests/`` forever; the upload time tells them apart. ``None`` when the store says
    nothing (then the object is never skipped, only re-evaluated idempotently).
    """
    if not etag:
        return None
    stamp = last_modified.isoformat() if last_modified is not None else ""
    return f"{etag}@{stamp}"


class ManifestCursor:
    """An ordered, bounded set of processed manifest objects (key plus version)."""

    def __init__(
        self, entries: Iterable[str | tuple[str, str | None]] = (), max_keys: int = MAX_KEYS
    ) -> None:
        self.max_keys = max_keys
        # dict keeps insertion order: oldest first, so trimming drops the oldest.
        self._versions: dict[str, str | None] = {}
        for entry in entries:
            key, version = (entry, None) if isinstance(entry, str) else entry
            self.mark(key, version)

    @classmethod
    def parse(cls, raw: str | None) -> ManifestCursor:
        """Read a stored cursor: empty, v2 or v1 JSON, or the legacy comma-separated form."""
        if raw is None or not raw.strip():
            return cls()
        text = raw.strip()
        if not text.startswith("{"):  # Legacy: "manifests/a.json,manifests/b.json"
            return cls(part.strip() for part in text.split(",") if part.strip())
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise CursorError(f"sensor cursor is not valid JSON: {exc.msg}") from None
        if not isinstance(data, dict):
            raise CursorError("sensor cursor must be a JSON object")
        version = data.get("v")
        if version == 1:
            keys = data.get("processed_keys", [])
            if not isinstance(keys, list) or not all(isinstance(k, str) for k in keys):
                raise CursorError("sensor cursor processed_keys must be a list of strings")
            return cls(keys)
        if version != CURSOR_VERSION:
            raise CursorError(
                f"sensor cursor version {version!r} is not supported (expected 1 or "
                f"{CURSOR_VERSION}); reset the sensor cursor"
            )
        entries = data.get("processed", [])
        if not isinstance(entries, list) or not all(_is_entry(e) for e in entries):
            raise CursorError("sensor cursor processed must be a list of [key, version] pairs")
        return cls((e[0], e[1]) for e in entries)

    def mark(self, key: str, version: str | None = None) -> None:
        """Record ``key`` at ``version`` as processed (most recent), trimming the oldest."""
        self._versions.pop(key, None)
        self._versions[key] = version
        while len(self._versions) > self.max_keys:
            del self._versions[next(iter(self._versions))]

    def retain(self, keys: Iterable[str]) -> None:
        """Forget the objects no longer listed (archived or deleted): the same name uploaded
        again is then new, even within the store's one-second timestamp resolution."""
        present = set(keys)
        self._versions = {k: v for k, v in self._versions.items() if k in present}

    def seen(self, key: str, version: str | None) -> bool:
        """Whether this very object (``key`` at ``version``) was processed already."""
        return version is not None and self._versions.get(key) == version

    def version_of(self, key: str) -> str | None:
        """The processed version of ``key`` (``None``: unknown or not processed)."""
        return self._versions.get(key)

    def __contains__(self, key: object) -> bool:
        """Whether some version of ``key`` was processed (inspection; intake uses ``seen``)."""
        return key in self._versions

    def __len__(self) -> int:
        return len(self._versions)

    @property
    def keys(self) -> list[str]:
        return list(self._versions)

    @property
    def entries(self) -> list[tuple[str, str | None]]:
        return list(self._versions.items())

    def serialize(self) -> str:
        """The v2 JSON form, compact and stable."""
        return json.dumps(
            {
                "v": CURSOR_VERSION,
                "processed": [[k, v] for k, v in self._versions.items()],
                "max_keys": self.max_keys,
            },
            separators=(",", ":"),
        )


def _is_entry(entry: object) -> bool:
    return (
        isinstance(entry, list)
        and len(entry) == 2
        and isinstance(entry[0], str)
        and (entry[1] is None or isinstance(entry[1], str))
    )
