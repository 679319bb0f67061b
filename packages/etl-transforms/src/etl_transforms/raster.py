"""Raster recipe step: any GDAL raster -> Cloud-Optimized GeoTIFF.

The recipe decides *what* to do (optional target CRS, resampling, compression, block size);
the GDAL work is done by the lake writer :func:`etl_spatial.writers.raster_to_cog`, so there is
exactly one place that runs ``gdalwarp`` / ``gdal_translate -of COG``. That writer always
builds internal overviews, keeps the source nodata value and validates the result as a COG.

Resampling defaults to ``nearest``: it never invents values, so categorical rasters (land
cover, zones) survive reprojection and overviews; continuous rasters (elevation, imagery) can
ask for ``bilinear`` or ``average`` through ``metadata.tags.resampling``. Overviews use the
same method unless ``overview_resampling`` says otherwise.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

if TYPE_CHECKING:
    from etl_spatial.metadata import RasterMetadata

Resampling = Literal[
    "nearest", "bilinear", "cubic", "cubicspline", "lanczos", "average", "mode", "min", "max"
]


class RasterOptions(BaseModel):
    """How a raster becomes a COG. Part of the recipe (and of the content hash)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    target_crs: str | None = Field(
        None, description="reproject to this CRS (e.g. 'EPSG:4326'); None = keep"
    )
    resampling: Resampling = Field("nearest", description="resampling when reprojecting")
    overview_resampling: Resampling | None = Field(
        None, description="resampling of the overviews; None = same as resampling"
    )
    compression: Literal["DEFLATE", "ZSTD", "LZW"] = "DEFLATE"
    blocksize: int = Field(512, ge=128, le=4096)

    @field_validator("target_crs")
    @classmethod
    def _known_crs_label(cls, value: str | None) -> str | None:
        """An authority code PROJ knows, stored as its label (``epsg:4326`` and ``OGC:CRS84``
        -> ``EPSG:4326``) so equal recipes hash equally."""
        from etl_spatial.crs import validate_crs

        return validate_crs(value, require_code=True) if value else value

    def writer_arguments(self) -> dict[str, Any]:
        """Keyword arguments for :func:`etl_spatial.writers.raster_to_cog`."""
        return {
            "target_crs": self.target_crs,
            "resampling": self.resampling,
            "overview_resampling": self.overview_resampling or self.resampling,
            "compress": self.compression,
            "blocksize": self.blocksize,
        }


def raster_to_lake_cog(
    src: str,
    dst: str | Path,
    options: RasterOptions | None = None,
    gdal_env: Mapping[str, str] | None = None,
    *,
    timeout: float | None = None,
    declared_crs: str | None = None,
    label: str | None = None,
) -> RasterMetadata:
    """Convert GDAL raster ``src`` (a local path or ``/vsis3/...``) into a validated COG at the
    local path ``dst`` with the recipe's options; returns the writer's raster metadata (CRS,
    source CRS, nodata, overview count, ...).

    ``declared_crs`` is the manifest's ``files[].crs``: assigned when the raster has none, an
    error when it contradicts the raster's own. ``label`` names the file in errors."""
    from etl_spatial.writers import raster_to_cog

    options = options or RasterOptions()
    kwargs: dict[str, Any] = options.writer_arguments()
    kwargs.update(declared_crs=declared_crs, label=label)
    if timeout is not None:
        kwargs["timeout"] = timeout
    return raster_to_cog(src, dst, gdal_env=gdal_env, **kwargs)
