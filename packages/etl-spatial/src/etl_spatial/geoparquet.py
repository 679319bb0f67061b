"""Reading the GeoParquet ``geo`` schema metadata (GeoParquet 1.x), in one place.

Accepts a ``pyarrow.Schema`` (of a table or a Parquet file) or its raw metadata mapping
(``{b"geo": b"{...}"}``), so callers never parse the JSON themselves.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pyarrow as pa

GEO_METADATA_KEY = b"geo"
DEFAULT_CRS = "OGC:CRS84"
"""GeoParquet: a geometry column without a ``crs`` member is in OGC:CRS84."""


class GeoMetadataError(ValueError):
    """The data has no (or no usable) GeoParquet ``geo`` metadata."""


def _metadata(schema_or_metadata: pa.Schema | Mapping[bytes, bytes] | None) -> Mapping:
    if schema_or_metadata is None:
        return {}
    if isinstance(schema_or_metadata, Mapping):
        return schema_or_metadata
    return schema_or_metadata.metadata or {}


def has_geo_metadata(schema_or_metadata: pa.Schema | Mapping[bytes, bytes] | None) -> bool:
    """Whether the schema carries a ``geo`` metadata entry."""
    return GEO_METADATA_KEY in _metadata(schema_or_metadata)


def read_geo_metadata(
    schema_or_metadata: pa.Schema | Mapping[bytes, bytes] | None, *, where: str = "the data"
) -> dict[str, Any]:
    """The decoded ``geo`` metadata; :class:`GeoMetadataError` (naming ``where``) if absent."""
    metadata = _metadata(schema_or_metadata)
    if GEO_METADATA_KEY not in metadata:
        raise GeoMetadataError(f"{where} has no GeoParquet 'geo' metadata; write it as GeoParquet")
    try:
        geo = json.loads(metadata[GEO_METADATA_KEY])
    except ValueError as exc:
        raise GeoMetadataError(f"{where} has unreadable GeoParquet 'geo' metadata: {exc}") from None
    if not isinstance(geo, dict) or not isinstance(geo.get("columns"), dict):
        raise GeoMetadataError(f"{where}: the GeoParquet 'geo' metadata has no 'columns'")
    return geo


def primary_geometry_column(
    schema_or_metadata: pa.Schema | Mapping[bytes, bytes] | None, *, where: str = "the data"
) -> str:
    """Name of the primary geometry column; :class:`GeoMetadataError` if there is none."""
    geo = read_geo_metadata(schema_or_metadata, where=where)
    column = geo.get("primary_column")
    if not column or column not in geo["columns"]:
        raise GeoMetadataError(
            f"{where}: the GeoParquet 'geo' metadata names no described primary_column"
        )
    return str(column)


def geometry_column_metadata(
    schema_or_metadata: pa.Schema | Mapping[bytes, bytes] | None,
    column: str | None = None,
    *,
    where: str = "the data",
) -> dict[str, Any]:
    """The ``geo`` entry of ``column`` (the primary column by default)."""
    geo = read_geo_metadata(schema_or_metadata, where=where)
    name = column or primary_geometry_column(schema_or_metadata, where=where)
    if name not in geo["columns"]:
        raise GeoMetadataError(f"{where}: the GeoParquet 'geo' metadata does not describe {name!r}")
    return dict(geo["columns"][name])


def column_crs(column_metadata: Mapping[str, Any]) -> Any:
    """The column's CRS (PROJJSON dict or string), ``DEFAULT_CRS`` when absent, ``None`` when
    GeoParquet says the CRS is unknown (an explicit JSON ``null``)."""
    return column_metadata.get("crs", DEFAULT_CRS)


def covering_bbox_column(column_metadata: Mapping[str, Any]) -> str | None:
    """Name of the column's bbox covering column (GeoParquet 1.1), if it has one."""
    bbox = (column_metadata.get("covering") or {}).get("bbox")
    if not bbox:
        return None
    return str(next(iter(bbox.values()))[0])
