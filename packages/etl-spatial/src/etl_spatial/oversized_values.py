"""Say which feature and field hold a value too long for GDAL's GeoJSON reader.

GDAL (3.6) stops reading GeoJSON at any single value longer than 10,000,000 characters and
says only "At line 1, character N: Too many characters in number" (also for strings), with no
setting to raise the limit. The long value starts about 10,000,000 bytes before N: a small
window there names its field, and counting features up to it names the feature.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from typing import Any

GEOJSON_VALUE_LIMIT = 10_000_000
"""Characters of one JSON value GDAL's GeoJSON reader accepts."""

_TOO_LONG = re.compile(r"character (\d+): Too many characters in (?:number|string)")
_KEY_THEN_STRING = re.compile(rb'"((?:[^"\\]|\\.){1,256})"\s*:\s*"')
_FEATURE = re.compile(rb'"type"\s*:\s*"Feature"')
_WINDOW = 4096
_CHUNK = 1 << 20


def is_value_too_long(message: str) -> bool:
    return _TOO_LONG.search(message) is not None


def locate_long_value(
    path: str, message: str, gdal_env: Mapping[str, str] | None = None
) -> tuple[int | None, str | None]:
    """``(feature number counting from 1, field name)`` of the value GDAL refused, each
    ``None`` when it cannot be told (an archive member, an unexpected layout)."""
    found = _TOO_LONG.search(message)
    if found is None:
        return None, None
    opener = _opener(path, gdal_env)
    if opener is None:
        return None, None
    start = max(0, int(found.group(1)) - GEOJSON_VALUE_LIMIT - _WINDOW // 2)
    try:
        with opener() as handle:
            handle.seek(start)
            window = handle.read(_WINDOW)
            field, value_at = _open_string_key(window)
            if field is None:
                return None, None
            handle.seek(0)
            return _count_features(handle, start + value_at), field
    except OSError:
        return None, None


def _open_string_key(window: bytes) -> tuple[str | None, int]:
    """The key whose string value does not end inside ``window`` (the long one)."""
    for match in reversed(list(_KEY_THEN_STRING.finditer(window))):
        rest = window[match.end() :]
        if b'"' not in rest.replace(b'\\"', b""):
            return match.group(1).decode("utf-8", "replace"), match.start()
    return None, 0


def _count_features(handle: Any, end: int) -> int:
    """Features begun before byte ``end`` (at least 1: the one holding the value)."""
    count, tail = 0, b""
    for chunk in _chunks(handle, end):
        data = tail + chunk
        # Matches wholly inside ``tail`` were counted with the previous chunk.
        count += sum(1 for m in _FEATURE.finditer(data) if m.end() > len(tail))
        tail = data[-64:]
    return max(1, count)


def _chunks(handle: Any, end: int) -> Iterator[bytes]:
    remaining = end
    while remaining > 0:
        chunk = handle.read(min(_CHUNK, remaining))
        if not chunk:
            return
        remaining -= len(chunk)
        yield chunk


def _opener(path: str, gdal_env: Mapping[str, str] | None) -> Any:
    """A function opening ``path`` as a seekable binary file, or ``None`` (archives, URLs)."""
    import io
    from pathlib import Path

    if path.startswith("/vsis3/"):
        if not gdal_env or "AWS_S3_ENDPOINT" not in gdal_env:
            return None
        from etl_spatial.archives import s3_range_reader

        bucket, _, key = path[len("/vsis3/") :].partition("/")
        return lambda: io.BufferedReader(s3_range_reader(gdal_env, bucket, key), _CHUNK)
    if path.startswith("/vsi"):
        return None
    return lambda: Path(path).open("rb")
