"""Spatial metadata for the ledger: what a lake object holds, read back from the object itself.

``describe_geoparquet`` reads the file's GeoParquet ``geo`` metadata with pyarrow (not the writer's
memory), ``describe_raster`` asks ``gdalinfo -json``, ``validate_cog`` checks the TIFF structure
of a Cloud-Optimized GeoTIFF.
"""

from __future__ import annotations

import itertools
import json
import struct
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO

from pydantic import BaseModel, ConfigDict, Field

from etl_spatial.gdal import run_gdal

if TYPE_CHECKING:
    import geopandas as gpd


class MetadataError(ValueError):
    """A lake object lacks the metadata its format requires."""


class CogValidationError(ValueError):
    """A GeoTIFF is not a valid Cloud-Optimized GeoTIFF; ``errors`` lists why."""

    def __init__(self, path: str, errors: Sequence[str]) -> None:
        super().__init__(f"{path} is not a valid COG: " + "; ".join(errors))
        self.errors = list(errors)


class ColumnSpec(BaseModel):
    model_config = ConfigDict(frozen=True)

    name: str
    type: str


class VectorMetadata(BaseModel):
    """A GeoParquet lake object, as recorded on the ledger's asset version."""

    model_config = ConfigDict(frozen=True)

    row_count: int
    bounds: list[float] | None = Field(description="[minx, miny, maxx, maxy] in the data's CRS")
    geometry_types: list[str]
    column_schema: list[ColumnSpec]
    geometry_column: str
    crs: str | None = Field(description="'EPSG:xxxx' when the CRS has a code, else WKT2")
    crs_projjson: dict[str, Any] | None = None
    source_crs: str | None = None
    geoparquet_version: str | None = None
    covering: dict[str, Any] | None = None
    row_groups: int | None = None
    size_bytes: int | None = None


class RasterMetadata(BaseModel):
    """A raster (COG) lake object, as recorded on the ledger's asset version."""

    model_config = ConfigDict(frozen=True)

    width: int
    height: int
    band_count: int
    data_types: list[str]
    nodata: list[float | None]
    crs: str | None
    source_crs: str | None = None
    bounds: list[float] | None = Field(description="[minx, miny, maxx, maxy] in the CRS")
    pixel_size: list[float] | None = None
    block_size: list[int] | None = None
    overview_count: int = 0
    compression: str | None = None
    layout: str | None = None
    driver: str | None = None


# -- CRS ----------------------------------------------------------------------------------------


def crs_to_label(crs: Any) -> str | None:
    """``EPSG:xxxx`` (or another ``AUTH:code``) when PROJ identifies one, else WKT2."""
    from pyproj import CRS

    if crs is None:
        return None
    parsed = crs if isinstance(crs, CRS) else CRS.from_user_input(crs)
    authority = parsed.to_authority(min_confidence=70)
    if authority is not None:
        if authority == ("OGC", "CRS84"):
            return "OGC:CRS84"
        return f"{authority[0]}:{authority[1]}"
    return parsed.to_wkt()


# -- vector -------------------------------------------------------------------------------------


def _read_geo_metadata(schema_metadata: Mapping[bytes, bytes] | None, where: str) -> dict:
    if not schema_metadata or b"geo" not in schema_metadata:
        raise MetadataError(f"{where} has no GeoParquet 'geo' metadata; write it as GeoParquet")
    return json.loads(schema_metadata[b"geo"])


def describe_geoparquet(path: str | Path | BinaryIO) -> VectorMetadata:
    """Metadata of a GeoParquet file, read with pyarrow from the file's ``geo`` metadata."""
    import pyarrow.parquet as pq

    parquet = pq.ParquetFile(path)
    schema = parquet.schema_arrow
    geo = _read_geo_metadata(schema.metadata, str(path))
    primary = geo["primary_column"]
    column = geo["columns"][primary]
    crs_json = column.get("crs", "OGC:CRS84")  # absent means OGC:CRS84 in GeoParquet
    size = None
    if isinstance(path, str | Path):
        size = Path(path).stat().st_size
    return VectorMetadata(
        row_count=parquet.metadata.num_rows,
        bounds=[float(v) for v in column["bbox"]] if column.get("bbox") else None,
        geometry_types=list(column.get("geometry_types", [])),
        column_schema=[ColumnSpec(name=f.name, type=str(f.type)) for f in schema],
        geometry_column=primary,
        crs=crs_to_label(crs_json) if crs_json is not None else None,
        crs_projjson=crs_json if isinstance(crs_json, dict) else None,
        geoparquet_version=geo.get("version"),
        covering=column.get("covering"),
        row_groups=parquet.metadata.num_row_groups,
        size_bytes=size,
    )


def describe_geodataframe(frame: gpd.GeoDataFrame) -> VectorMetadata:
    """Metadata of an in-memory GeoDataFrame (same shape as :func:`describe_geoparquet`)."""
    import pandas as pd
    import pyarrow as pa

    geometry = frame.geometry
    types = sorted({t for t in geometry.geom_type.dropna().unique()})
    non_empty = geometry[~(geometry.isna() | geometry.is_empty)]
    bounds = [float(v) for v in non_empty.total_bounds] if len(non_empty) else None
    attributes = pa.Table.from_pandas(
        pd.DataFrame(frame.drop(columns=[geometry.name])), preserve_index=False
    )
    columns = [ColumnSpec(name=f.name, type=str(f.type)) for f in attributes.schema]
    columns.insert(
        list(frame.columns).index(geometry.name), ColumnSpec(name=geometry.name, type="binary")
    )
    return VectorMetadata(
        row_count=len(frame),
        bounds=bounds,
        geometry_types=types,
        column_schema=columns,
        geometry_column=geometry.name,
        crs=crs_to_label(frame.crs),
        crs_projjson=frame.crs.to_json_dict() if frame.crs is not None else None,
    )


# -- raster -------------------------------------------------------------------------------------


def gdalinfo_json(path: str | Path, *, gdal_env: Mapping[str, str] | None = None) -> dict[str, Any]:
    """``gdalinfo -json`` of ``path`` (local or ``/vsis3/``)."""
    completed = run_gdal("gdalinfo", ["-json", str(path)], env=gdal_env, timeout=300)
    return json.loads(completed.stdout)


def describe_raster(
    path: str | Path, *, gdal_env: Mapping[str, str] | None = None
) -> RasterMetadata:
    """Metadata of a GDAL raster from ``gdalinfo -json``."""
    info = gdalinfo_json(path, gdal_env=gdal_env)
    width, height = (int(v) for v in info["size"])
    bands = info.get("bands", [])
    wkt = (info.get("coordinateSystem") or {}).get("wkt") or None
    transform = info.get("geoTransform")
    bounds = None
    pixel_size = None
    if transform:
        x0, dx, rx, y0, ry, dy = transform
        xs = [x0, x0 + dx * width + rx * height, x0 + rx * height, x0 + dx * width]
        ys = [y0, y0 + ry * width + dy * height, y0 + dy * height, y0 + ry * width]
        bounds = [min(xs), min(ys), max(xs), max(ys)]
        pixel_size = [abs(dx), abs(dy)]
    structure = (info.get("metadata") or {}).get("IMAGE_STRUCTURE") or {}
    first = bands[0] if bands else {}
    return RasterMetadata(
        width=width,
        height=height,
        band_count=len(bands),
        data_types=[b.get("type", "") for b in bands],
        nodata=[_nodata(b.get("noDataValue")) for b in bands],
        crs=crs_to_label(wkt) if wkt else None,
        bounds=bounds,
        pixel_size=pixel_size,
        block_size=[int(v) for v in first["block"]] if "block" in first else None,
        overview_count=len(first.get("overviews", [])),
        compression=structure.get("COMPRESSION"),
        layout=structure.get("LAYOUT"),
        driver=info.get("driverShortName"),
    )


def _nodata(value: Any) -> float | None:
    if value is None:
        return None
    if isinstance(value, str):  # "nan", "inf" are reported as strings
        return float(value)
    return float(value)


# -- COG validation -----------------------------------------------------------------------------

_TIFF_TYPES = {1: ("B", 1), 3: ("H", 2), 4: ("I", 4), 16: ("Q", 8), 13: ("I", 4), 18: ("Q", 8)}
_TAG_TILE_WIDTH = 322
_TAG_TILE_OFFSETS = 324
_TAG_STRIP_OFFSETS = 273
_TAG_IMAGE_WIDTH = 256
_TAG_IMAGE_LENGTH = 257
_TAG_SUBFILE_TYPE = 254


def _read_ifds(handle: BinaryIO) -> tuple[list[dict[str, Any]], bytes]:
    """Parse the IFD chain of a (Big)TIFF: offset, width, height, tiled, data offsets."""
    header = handle.read(16)
    if header[:2] == b"II":
        endian = "<"
    elif header[:2] == b"MM":
        endian = ">"
    else:
        raise ValueError("not a TIFF file")
    magic = struct.unpack(endian + "H", header[2:4])[0]
    big = magic == 43
    if magic not in (42, 43):
        raise ValueError("not a TIFF file")
    if big:
        offset = struct.unpack(endian + "Q", header[8:16])[0]
        ghost_start = 16
    else:
        offset = struct.unpack(endian + "I", header[4:8])[0]
        ghost_start = 8
    handle.seek(ghost_start)
    ghost = handle.read(1024)
    ifds: list[dict[str, Any]] = []
    seen: set[int] = set()
    while offset and offset not in seen and len(ifds) < 100:
        seen.add(offset)
        handle.seek(offset)
        if big:
            (count,) = struct.unpack(endian + "Q", handle.read(8))
            entry_size, inline = 20, 8
        else:
            (count,) = struct.unpack(endian + "H", handle.read(2))
            entry_size, inline = 12, 4
        raw_entries = handle.read(count * entry_size)
        next_raw = handle.read(8 if big else 4)
        tags: dict[int, list[int]] = {}
        for i in range(count):
            entry = raw_entries[i * entry_size : (i + 1) * entry_size]
            if big:
                tag, typ, n = struct.unpack(endian + "HHQ", entry[:12])
                value_bytes = entry[12:20]
            else:
                tag, typ, n = struct.unpack(endian + "HHI", entry[:8])
                value_bytes = entry[8:12]
            if tag not in (
                _TAG_TILE_WIDTH,
                _TAG_TILE_OFFSETS,
                _TAG_STRIP_OFFSETS,
                _TAG_IMAGE_WIDTH,
                _TAG_IMAGE_LENGTH,
                _TAG_SUBFILE_TYPE,
            ):
                continue
            fmt, size = _TIFF_TYPES.get(typ, ("B", 1))
            if n * size <= inline:
                data = value_bytes[: n * size]
            else:
                (pointer,) = struct.unpack(endian + ("Q" if big else "I"), value_bytes[:inline])
                here = handle.tell()
                handle.seek(pointer)
                data = handle.read(n * size)
                handle.seek(here)
            tags[tag] = list(struct.unpack(endian + fmt * n, data))
        data_offsets = tags.get(_TAG_TILE_OFFSETS) or tags.get(_TAG_STRIP_OFFSETS) or []
        ifds.append(
            {
                "offset": offset,
                "width": (tags.get(_TAG_IMAGE_WIDTH) or [0])[0],
                "height": (tags.get(_TAG_IMAGE_LENGTH) or [0])[0],
                "tiled": _TAG_TILE_WIDTH in tags,
                "mask": bool((tags.get(_TAG_SUBFILE_TYPE) or [0])[0] & 4),
                "data_offsets": [o for o in data_offsets if o > 0],
            }
        )
        (offset,) = struct.unpack(endian + ("Q" if big else "I"), next_raw)
    return ifds, ghost


def cog_problems(path: str | Path) -> list[str]:
    """Reasons ``path`` is not a COG (empty when it is one).

    Mirrors GDAL's ``validate_cloud_optimized_geotiff.py``: tiled images, IFDs before any image
    data, overviews stored smallest-first before the full-resolution data, GDAL's structural
    metadata (``LAYOUT=IFDS_BEFORE_DATA``), and GDAL itself reporting ``LAYOUT=COG``.
    """
    problems: list[str] = []
    try:
        with Path(path).open("rb") as handle:
            ifds, ghost = _read_ifds(handle)
    except (OSError, ValueError, struct.error) as exc:
        return [f"cannot read TIFF structure: {exc}"]
    if not ifds:
        return ["no image file directory"]
    images = [ifd for ifd in ifds if not ifd["mask"]]
    if any(not ifd["tiled"] for ifd in ifds):
        problems.append("image is striped, not tiled")
    if b"GDAL_STRUCTURAL_METADATA_SIZE" not in ghost or b"LAYOUT=IFDS_BEFORE_DATA" not in ghost:
        problems.append("missing GDAL structural metadata LAYOUT=IFDS_BEFORE_DATA")
    first_data = min((o for ifd in ifds for o in ifd["data_offsets"]), default=None)
    if first_data is not None and any(ifd["offset"] > first_data for ifd in ifds):
        problems.append("an IFD is stored after image data (IFDs must come first)")
    if ifds[0]["offset"] != min(ifd["offset"] for ifd in ifds):
        problems.append("the full-resolution IFD is not the first one")
    # Each lower-resolution image's data must come before the next larger one's.
    for larger, smaller in itertools.pairwise(images):
        if (
            larger["data_offsets"]
            and smaller["data_offsets"]
            and min(smaller["data_offsets"]) > min(larger["data_offsets"])
        ):
            problems.append(
                f"overview {smaller['width']}x{smaller['height']} data is stored after "
                f"the {larger['width']}x{larger['height']} data"
            )
    main = images[0] if images else ifds[0]
    if (main["width"] > 512 or main["height"] > 512) and len(images) < 2:
        problems.append(f"image is {main['width']}x{main['height']} but has no internal overviews")
    try:
        layout = (
            (gdalinfo_json(path).get("metadata") or {}).get("IMAGE_STRUCTURE", {}).get("LAYOUT")
        )
    except Exception as exc:  # GDAL cannot open it at all
        problems.append(f"GDAL cannot read it: {exc}")
    else:
        if layout != "COG":
            problems.append(f"GDAL reports LAYOUT={layout or '(none)'}, not COG")
    return problems


def validate_cog(path: str | Path) -> None:
    """Raise :class:`CogValidationError` unless local file ``path`` is a valid COG."""
    problems = cog_problems(path)
    if problems:
        raise CogValidationError(str(path), problems)
