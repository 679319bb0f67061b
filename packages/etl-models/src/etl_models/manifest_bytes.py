"""Manifest bytes -> JSON object: the one decoder for sensors, the CLI and local validation.

Rules: at most ``MANIFEST_MAX_BYTES``; UTF-8, with an optional byte-order mark (Windows editors
write one) stripped; strict JSON (NaN/Infinity and duplicate keys are refused, since a
duplicate silently drops one value); the top level must be an object.
"""

from __future__ import annotations

import json
from typing import Any

MANIFEST_MAX_BYTES = 1_048_576


class ManifestBytesError(ValueError):
    """Manifest bytes that are not a JSON object. ``source`` names the manifest."""

    def __init__(self, source: str, message: str) -> None:
        self.source = source
        super().__init__(message)


class ManifestBytesTooLarge(ManifestBytesError):
    """Larger than the limit."""

    def __init__(self, source: str, size: int, max_bytes: int) -> None:
        self.size = size
        self.max_bytes = max_bytes
        super().__init__(
            source,
            f"manifest {source} is {size} bytes, more than the limit of {max_bytes} bytes; "
            "a manifest lists files, it does not contain data: upload the data as files and "
            "reference them in files[].path",
        )


class ManifestBytesNotUtf8(ManifestBytesError):
    """Not valid UTF-8."""


class ManifestBytesNotJson(ManifestBytesError):
    """Not strict JSON (syntax, NaN/Infinity, duplicate keys, nesting too deep)."""


class ManifestBytesNotObject(ManifestBytesError):
    """Valid JSON, but not an object."""


def json_type_name(value: Any) -> str:
    """The JSON name of a decoded value's type (``number``, ``array`` ...)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    return {list: "array", str: "string", dict: "object"}.get(type(value), type(value).__name__)


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def _reject_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for name, value in pairs:
        if name in result:
            raise ValueError(f"duplicate key {name!r}; give each field once")
        result[name] = value
    return result


def decode_manifest_bytes(
    body: bytes, source: str = "manifest", *, max_bytes: int = MANIFEST_MAX_BYTES
) -> dict[str, Any]:
    """The manifest document in ``body``; a ``ManifestBytesError`` subclass says what is wrong."""
    if len(body) > max_bytes:
        raise ManifestBytesTooLarge(source, len(body), max_bytes)
    try:
        text = body.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ManifestBytesNotUtf8(
            source,
            f"manifest {source} is not UTF-8 text (offset {exc.start}: "
            f"{body[exc.start : exc.start + 1]!r}); save the file as UTF-8",
        ) from None
    try:
        value = json.loads(
            text, parse_constant=_reject_constant, object_pairs_hook=_reject_duplicates
        )
    except json.JSONDecodeError as exc:
        raise ManifestBytesNotJson(
            source,
            f"manifest {source} is not valid JSON: {exc.msg} at line {exc.lineno} column "
            f"{exc.colno}; fix the JSON syntax",
        ) from None
    except (ValueError, RecursionError) as exc:
        raise ManifestBytesNotJson(source, f"manifest {source} is not valid JSON: {exc}") from None
    if not isinstance(value, dict):
        raise ManifestBytesNotObject(
            source,
            f"manifest {source} is a JSON {json_type_name(value)}, not an object; the manifest "
            'must be a JSON object like {"batch_id": ..., "uploader": ..., "intent": ..., '
            '"files": [...]}',
        )
    return value
