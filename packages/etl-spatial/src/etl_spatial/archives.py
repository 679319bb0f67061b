"""Find the vector dataset inside a zip archive, also when the archive sits in S3.

GDAL 3.6 opens ``/vsizip/archive.zip`` only when the dataset is at the archive root; people zip
folders. We read the zip's central directory (a few ranged GETs for S3 objects) and point GDAL at
the member, e.g. ``/vsizip//vsis3/bucket/roads.zip/roads/roads.shp``.
"""

from __future__ import annotations

import io
import zipfile
from collections.abc import Mapping
from pathlib import Path, PurePosixPath
from typing import Any

VECTOR_EXTENSIONS: Mapping[str, tuple[str, ...]] = {
    "ESRI Shapefile": (".shp",),
    "GPKG": (".gpkg",),
    "GeoJSON": (".geojson", ".json"),
    "FlatGeobuf": (".fgb",),
    "CSV": (".csv",),
}
ALL_VECTOR_EXTENSIONS = tuple(ext for exts in VECTOR_EXTENSIONS.values() for ext in exts)


class ArchiveError(ValueError):
    """A zip archive holds no, or more than one, candidate dataset."""


class _S3RangeReader(io.RawIOBase):
    """Seekable read-only file over an S3 object, fetching only the ranges zipfile asks for."""

    def __init__(self, client: Any, bucket: str, key: str) -> None:
        self._client, self._bucket, self._key = client, bucket, key
        self._size = int(client.stat_object(bucket, key).size)
        self._pos = 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._pos

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._pos, io.SEEK_END: self._size}[whence]
        self._pos = max(0, base + offset)
        return self._pos

    def readinto(self, buffer: Any) -> int:
        length = min(len(buffer), self._size - self._pos)
        if length <= 0:
            return 0
        response = self._client.get_object(self._bucket, self._key, self._pos, length)
        try:
            data = response.read()
        finally:
            response.close()
            response.release_conn()
        buffer[: len(data)] = data
        self._pos += len(data)
        return len(data)


def _s3_client(gdal_env: Mapping[str, str]) -> Any:
    from minio import Minio

    return Minio(
        gdal_env["AWS_S3_ENDPOINT"],
        access_key=gdal_env.get("AWS_ACCESS_KEY_ID"),
        secret_key=gdal_env.get("AWS_SECRET_ACCESS_KEY"),
        secure=gdal_env.get("AWS_HTTPS", "YES").upper() not in {"NO", "FALSE", "0"},
        region=gdal_env.get("AWS_REGION"),
    )


def s3_range_reader(gdal_env: Mapping[str, str], bucket: str, key: str) -> io.RawIOBase:
    """A seekable reader of S3 object ``key``, with the S3 settings GDAL is given."""
    return _S3RangeReader(_s3_client(gdal_env), bucket, key)


def stored_zip_members(client: Any, bucket: str, key: str) -> list[str]:
    """Member names of the zip object ``key`` in ``bucket``, read with a few ranged GETs
    (``client`` is a minio client). Raises ``zipfile.BadZipFile`` for a file that is not a zip.
    """
    handle = io.BufferedReader(_S3RangeReader(client, bucket, key), 65536)
    try:
        with zipfile.ZipFile(handle) as zf:
            return zf.namelist()
    finally:
        handle.close()


def zip_members(archive: str, gdal_env: Mapping[str, str] | None = None) -> list[str] | None:
    """Member names of ``archive`` (a local path or ``/vsis3/bucket/key``); ``None`` if the
    archive cannot be listed here (e.g. ``/vsicurl/``), in which case GDAL opens the root."""
    if archive.startswith("/vsis3/"):
        if not gdal_env or "AWS_S3_ENDPOINT" not in gdal_env:
            return None
        bucket, _, key = archive[len("/vsis3/") :].partition("/")
        return stored_zip_members(_s3_client(gdal_env), bucket, key)
    elif archive.startswith("/vsi"):
        return None
    else:
        handle: Any = Path(archive).open("rb")  # noqa: SIM115 - closed below
    try:
        with zipfile.ZipFile(handle) as zf:
            return zf.namelist()
    finally:
        handle.close()


def choose_member(
    members: list[str], driver: str | None, member: str | None = None, name: str = "the zip"
) -> str:
    """The member of a zip to read: ``member`` when the manifest names one (it must be in the
    zip), else the one dataset of ``driver``'s kind the zip holds. Raises
    :class:`ArchiveError` naming what the zip holds and the manifest field to set."""
    if member is not None:
        if member not in members:
            listed = [m for m in members if not m.endswith("/")][:20]
            raise ArchiveError(
                f"{name}: files[].member {member!r} is not in the zip, which holds "
                f"{', '.join(listed) or 'nothing'}; write the member as the zip lists it"
            )
        return member
    if driver is None:
        # A zip whose format nobody declared: a Shapefile if it holds one (zips of shapefiles
        # often carry a .csv or .json beside them), else its one dataset of any format.
        extensions = VECTOR_EXTENSIONS["ESRI Shapefile"]
        candidates = _datasets(members, extensions)
        if not candidates:
            extensions = ALL_VECTOR_EXTENSIONS
            candidates = _datasets(members, extensions)
    else:
        extensions = VECTOR_EXTENSIONS.get(driver) or ALL_VECTOR_EXTENSIONS
        candidates = _datasets(members, extensions)
    if not candidates:
        raise ArchiveError(
            f"{name}: the zip holds no {driver or 'vector'} dataset "
            f"(looked for {', '.join(extensions)}); zip the files themselves"
        )
    if len(candidates) > 1:
        raise ArchiveError(
            f"{name}: the zip holds several datasets ({', '.join(candidates[:10])}); choose "
            f'one with the file\'s "member" in the manifest, e.g. "member": "{candidates[0]}"'
        )
    return candidates[0]


def resolve_zip_member(
    path: str,
    driver: str | None,
    gdal_env: Mapping[str, str] | None = None,
    label: str = "",
    member: str | None = None,
) -> str:
    """``/vsizip/<archive>.zip`` -> ``/vsizip/<archive>.zip/<member>``: the member the manifest
    names, else the one dataset in the archive (see :func:`choose_member`).

    Paths that already name a member are returned as is; so are archives that cannot be
    listed, with ``member`` appended when given.
    """
    if not path.startswith("/vsizip/") or not path.lower().endswith(".zip"):
        return path
    archive = path[len("/vsizip/") :]
    name = label or path
    try:
        members = zip_members(archive, gdal_env)
    except (zipfile.BadZipFile, EOFError) as exc:
        raise ArchiveError(
            f"{name}: not a readable zip archive ({exc}); upload a zip made by a standard tool"
        ) from None
    if members is None:
        return f"{path}/{member}" if member else path
    return f"{path}/{choose_member(members, driver, member, name)}"


def _datasets(members: list[str], extensions: tuple[str, ...]) -> list[str]:
    """Members with one of ``extensions``, without macOS's resource-fork copies."""
    return [
        m
        for m in members
        if m.lower().endswith(extensions)
        and not m.startswith("__MACOSX/")
        and not PurePosixPath(m).name.startswith("._")
    ]
