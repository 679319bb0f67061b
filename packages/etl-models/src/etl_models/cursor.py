"""The manifest sensors' cursor (see ``docs/architecture.md``).

Versioned JSON ``{"v": 1, "processed_keys": [...], "max_keys": 500}`` holding the most recently
processed manifest keys in processing order, bounded to 500. A persisted ``max_keys`` is
informational only: the bound is ours, so a tampered or old cursor cannot grow without limit.
The legacy form (a comma-separated list of keys) migrates on read.
"""

from __future__ import annotations

import json
from collections.abc import Iterable

CURSOR_VERSION = 1
MAX_KEYS = 500


class CursorError(ValueError):
    """A cursor that is neither the v1 JSON form nor the legacy comma list."""


class ManifestCursor:
    """An ordered, bounded set of processed manifest keys."""

    def __init__(self, keys: Iterable[str] = (), max_keys: int = MAX_KEYS) -> None:
        self.max_keys = max_keys
        # dict keeps insertion order: oldest first, so trimming drops the oldest.
        self._keys: dict[str, None] = {}
        for key in keys:
            self.mark(key)

    @classmethod
    def parse(cls, raw: str | None) -> ManifestCursor:
        """Read a stored cursor: empty, v1 JSON, or the legacy comma-separated form."""
        if raw is None or not raw.strip():
            return cls()
        text = raw.strip()
        if text.startswith("{"):
            try:
                data = json.loads(text)
            except json.JSONDecodeError as exc:
                raise CursorError(f"sensor cursor is not valid JSON: {exc.msg}") from None
            version = data.get("v")
            if version != CURSOR_VERSION:
                raise CursorError(
                    f"sensor cursor version {version!r} is not supported (expected "
                    f"{CURSOR_VERSION}); reset the sensor cursor"
                )
            keys = data.get("processed_keys", [])
            if not isinstance(keys, list) or not all(isinstance(k, str) for k in keys):
                raise CursorError("sensor cursor processed_keys must be a list of strings")
            return cls(keys)
        # Legacy: "manifests/a.json,manifests/b.json"
        return cls(part.strip() for part in text.split(",") if part.strip())

    def mark(self, key: str) -> None:
        """Record ``key`` as processed (most recent), trimming the oldest beyond the bound."""
        self._keys.pop(key, None)
        self._keys[key] = None
        while len(self._keys) > self.max_keys:
            del self._keys[next(iter(self._keys))]

    def __contains__(self, key: object) -> bool:
        return key in self._keys

    def __len__(self) -> int:
        return len(self._keys)

    @property
    def keys(self) -> list[str]:
        return list(self._keys)

    def serialize(self) -> str:
        """The v1 JSON form, compact and stable."""
        return json.dumps(
            {"v": CURSOR_VERSION, "processed_keys": self.keys, "max_keys": self.max_keys},
            separators=(",", ":"),
        )
