"""Spatial metadata for the ledger: what a lake object holds, read back from the object itself.

``describe_geoparquet`` reads the file's GeoParquet ``geo`` metadata with pyarrow (not the writer's
memory), ``describe_raster`` asks ``gdalinfo -json``, ``validate_cog`` checks a Cloud-Optimized
GeoTIFF with rio-cogeo's validator. CRSs are labelled by :func:`etl_spatial.crs.crs_label`.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO

from pydantic import BaseModel, ConfigDict, Field

from etl_spatial.crs import crs_label
from etl_spatial.gdal import run_gdal
from etl_spatial.geoparquet import (
    column_crs,
    geometry_column_metadata,
    primary_geometry_column,
    read_geo_metadata,
)

if TYPE_CHECKING:
    import geopandas as gpd


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
    crs: str | None = Field(description="label by etl_spatial.crs.crs_label ('EPSG:4326', WKT2)")
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


# -- vector -------------------------------------------------------------------------------------


def describe_geoparquet(path: str | Path | BinaryIO) -> VectorMetadata:
    """Metadata of a GeoParquet file, read with pyarrow from the file's ``geo`` metadata."""
    import pyarrow.parquet as pq

    parquet = pq.ParquetFile(path)
    schema = parquet.schema_arrow
    where = str(path)
    geo = read_geo_metadata(schema, where=where)
    primary = primary_geometry_column(schema, where=where)
    column = geometry_column_metadata(schema, primary, where=where)
    crs_json = column_crs(column)
    size = None
    if isinstance(path, str | Path):
        size = Path(path).stat().st_size
    return VectorMetadata(
        row_count=parquet.metadata.num_rows,
        bounds=[float(v) for v in column["bbox"]] if column.get("bbox") else None,
        geometry_types=list(column.get("geometry_types", [])),
        column_schema=[ColumnSpec(name=f.name, type=str(f.type)) for f in schema],
        geometry_column=primary,
        crs=crs_label(crs_json),
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
        crs=crs_label(frame.crs),
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
        crs=crs_label(wkt) if wkt else None,
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


def cog_problems(path: str | Path) -> list[str]:
    """Reasons local file ``path`` is not a COG (empty when it is one).

    rio-cogeo's validator (a port of GDAL's ``validate_cloud_optimized_geotiff.py``) in strict
    mode: its warnings count too, so a large image without internal overviews is refused.
    """
    from rasterio.errors import RasterioError
    from rio_cogeo.cogeo import cog_validate

    try:
        _, errors, warnings = cog_validate(str(path), strict=True, quiet=True)
    except RasterioError as exc:
        return [f"cannot read it as a raster: {exc}"]
    return [*errors, *warnings]


def validate_cog(path: str | Path) -> None:
    """Raise :class:`CogValidationError` unless local file ``path`` is a valid COG."""
    problems = cog_problems(path)
    if problems:
        raise CogValidationError(str(path), problems)
