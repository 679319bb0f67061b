"""Lake writers: GeoParquet 1.1, Parquet and Cloud-Optimized GeoTIFF.

:func:`write_geoparquet` writes a GeoDataFrame through geopandas (its ``geo`` metadata: PROJJSON
CRS, bbox, geometry types and a bbox covering column), zstd-compressed, rows sorted along a
Hilbert curve so row-group statistics of the covering column prune well, row groups of about
100k rows. It needs the ``etl-spatial[geodataframe]`` extra; the lanes do not use it (they
stream from PostGIS through :mod:`etl_spatial.geoparquet_stream`), so deployed run workers
carry neither geopandas nor pandas. COGs come from GDAL's COG driver and are validated
structurally before they count as written.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO

from etl_spatial.gdal import DEFAULT_TIMEOUT, run_gdal
from etl_spatial.metadata import (
    RasterMetadata,
    VectorMetadata,
    describe_geoparquet,
    describe_raster,
    validate_cog,
)

if TYPE_CHECKING:
    import geopandas as gpd
    import pandas as pd
    import pyarrow as pa

DEFAULT_ROW_GROUP_SIZE = 100_000
GEOPARQUET_VERSION = "1.1.0"
COVERING_COLUMN = "bbox"
RESAMPLING_METHODS = frozenset(
    {"nearest", "bilinear", "cubic", "cubicspline", "lanczos", "average", "mode", "min", "max"}
)


class WriterError(ValueError):
    """Data cannot be written as asked (bad argument or input the format cannot hold)."""


def hilbert_order(geometries: gpd.GeoSeries) -> Any:
    """Positions that sort ``geometries`` along a Hilbert curve (missing/empty ones last)."""
    import numpy as np

    valid = ~(geometries.isna() | geometries.is_empty).to_numpy()
    order = np.arange(len(geometries))
    if not valid.any():
        return order
    distances = geometries[valid].hilbert_distance().to_numpy()
    valid_positions = order[valid][np.argsort(distances, kind="stable")]
    return np.concatenate([valid_positions, order[~valid]])


def write_geoparquet(
    data: gpd.GeoDataFrame,
    path: str | Path | BinaryIO,
    *,
    sort: str | None = "hilbert",
    row_group_size: int = DEFAULT_ROW_GROUP_SIZE,
    compression: str = "zstd",
) -> VectorMetadata:
    """Write ``data`` as GeoParquet 1.1 and return the metadata read back from the file.

    ``sort="hilbert"`` orders rows spatially (``GeoSeries.hilbert_distance``); ``None`` keeps
    the input order. The index is not written. When ``path`` is a file object, the returned
    metadata comes from the frame instead of the file.
    """
    import geopandas as gpd

    if not isinstance(data, gpd.GeoDataFrame):
        raise WriterError(f"write_geoparquet needs a GeoDataFrame, got {type(data).__name__}")
    if sort not in {"hilbert", None}:
        raise WriterError(f"sort must be 'hilbert' or None, got {sort!r}")
    if row_group_size < 1:
        raise WriterError(f"row_group_size must be positive, got {row_group_size}")
    if COVERING_COLUMN in data.columns:
        raise WriterError(
            f"column {COVERING_COLUMN!r} is reserved for the GeoParquet bbox covering; "
            "rename it before writing"
        )
    frame = data
    if sort == "hilbert" and len(frame) > 1:
        frame = frame.iloc[hilbert_order(frame.geometry)]
    frame.to_parquet(
        path,
        index=False,
        compression=compression,
        schema_version=GEOPARQUET_VERSION,
        write_covering_bbox=True,
        row_group_size=row_group_size,
    )
    if isinstance(path, str | Path):
        return describe_geoparquet(path)
    from etl_spatial.metadata import describe_geodataframe

    return describe_geodataframe(frame)


def write_parquet(
    data: pa.Table | pd.DataFrame,
    path: str | Path | BinaryIO,
    *,
    row_group_size: int = DEFAULT_ROW_GROUP_SIZE,
    compression: str = "zstd",
) -> dict[str, Any]:
    """Write tabular ``data`` as zstd Parquet; returns ``{row_count, column_schema}``."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = data if isinstance(data, pa.Table) else pa.Table.from_pandas(data, preserve_index=False)
    pq.write_table(table, path, compression=compression, row_group_size=row_group_size)
    return {
        "row_count": table.num_rows,
        "column_schema": [{"name": f.name, "type": str(f.type)} for f in table.schema],
    }


def raster_to_cog(
    src: str,
    dst: str | Path,
    *,
    gdal_env: Mapping[str, str] | None = None,
    target_crs: str | None = None,
    resampling: str = "nearest",
    overview_resampling: str | None = None,
    compress: str = "DEFLATE",
    blocksize: int = 512,
    timeout: float = DEFAULT_TIMEOUT,
    declared_crs: str | None = None,
    label: str | None = None,
) -> RasterMetadata:
    """Convert GDAL raster ``src`` (e.g. ``/vsis3/...``) to a validated COG at local ``dst``.

    With ``target_crs`` the raster is reprojected by ``gdalwarp`` (``resampling`` applies;
    ``nearest`` by default so categorical values survive), else copied by ``gdal_translate``.
    Nodata is kept. The returned metadata has ``source_crs`` set to the input's CRS.
    ``declared_crs`` (the manifest's ``files[].crs``) is assigned when the raster has none
    (see :mod:`etl_spatial.raster_source` for the rules); ``label`` is what messages call
    the file.
    """
    from etl_spatial.raster_source import crs_to_assign, describe_raster_source

    if resampling not in RESAMPLING_METHODS:
        raise WriterError(
            f"resampling {resampling!r} is not supported; use one of "
            f"{', '.join(sorted(RESAMPLING_METHODS))}"
        )
    if overview_resampling is not None and overview_resampling not in RESAMPLING_METHODS:
        raise WriterError(f"overview_resampling {overview_resampling!r} is not supported")
    source = describe_raster_source(src, gdal_env=gdal_env, name=label)
    assign = crs_to_assign(source, declared_crs, label or src)
    dst = Path(dst)
    dst.parent.mkdir(parents=True, exist_ok=True)
    creation = [
        f"COMPRESS={compress}",
        "PREDICTOR=YES",
        f"BLOCKSIZE={int(blocksize)}",
        "OVERVIEWS=AUTO",
        "BIGTIFF=IF_SAFER",
        "NUM_THREADS=ALL_CPUS",
    ]
    if overview_resampling:
        creation.append(f"OVERVIEW_RESAMPLING={overview_resampling.upper()}")
    co_args = [arg for option in creation for arg in ("-co", option)]
    if target_crs is None:
        run_gdal(
            "gdal_translate",
            ["-of", "COG", *(["-a_srs", assign] if assign else []), *co_args, src, str(dst)],
            env=gdal_env,
            timeout=timeout,
        )
    else:
        run_gdal(
            "gdalwarp",
            [
                "-of",
                "COG",
                *(["-s_srs", assign] if assign else []),
                "-t_srs",
                target_crs,
                "-r",
                resampling,
                "-multi",
                "-wo",
                "NUM_THREADS=ALL_CPUS",
                "-overwrite",
                *co_args,
                src,
                str(dst),
            ],
            env=gdal_env,
            timeout=timeout,
        )
    validate_cog(dst)
    info = describe_raster(str(dst))
    return info.model_copy(update={"source_crs": source.crs or assign})
