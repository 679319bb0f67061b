"""What a raw raster must have before it becomes a lake COG: readable, placed on the map (a
geotransform) and in a known CRS, its own or the one the manifest declares.

A manifest's ``files[].crs`` fills in a missing CRS (assigned, like ``gdal_translate
-a_srs``). When the file has a CRS of its own that differs, the batch fails rather than
silently picking one: a wrong CRS moves the data, and only the uploader knows which is right.
This is the vector loader's rule too.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from etl_spatial.crs import UnknownCrsError, same_crs, validate_crs
from etl_spatial.gdal import GdalError, GdalTimeout
from etl_spatial.metadata import RasterMetadata, describe_raster
from etl_spatial.writers import WriterError

_GDAL_ERROR_LINE = re.compile(r"^(?:ERROR|FAILURE)\s*\d*:\s*(.+)$", re.MULTILINE)


class RasterSourceError(WriterError):
    """A raw raster cannot be made into a COG; the message names the file and the fix."""


def describe_raster_source(
    src: str, *, gdal_env: Mapping[str, str] | None = None, name: str | None = None
) -> RasterMetadata:
    """``describe_raster`` of a raw input, with GDAL's refusal told about the user's file."""
    name = name or src
    try:
        return describe_raster(src, gdal_env=gdal_env)
    except GdalTimeout:
        raise  # operational, not the file's fault
    except GdalError as exc:
        found = _GDAL_ERROR_LINE.search(exc.stderr or "")
        detail = (found.group(1) if found else "no details").replace(src, "the file").strip()
        raise RasterSourceError(
            f"{name} cannot be read as a raster ({detail}); upload a GeoTIFF or another "
            "raster format GDAL reads"
        ) from exc


def crs_to_assign(source: RasterMetadata, declared_crs: str | None, name: str) -> str | None:
    """The CRS to assign to the raster (the declared one when the file has none), ``None``
    when the file's own CRS is used. Raises :class:`RasterSourceError` when the raster is
    not georeferenced, has no CRS and none is declared, or contradicts the declared one."""
    if source.bounds is None:
        raise RasterSourceError(
            f"{name} is not georeferenced: it has no geotransform (origin and pixel size), "
            "so it cannot be placed on the map, with or without a CRS. Save it with its "
            "georeferencing (a GeoTIFF, or a world file such as .tfw beside it) and upload "
            "it again"
        )
    if declared_crs:
        try:
            validate_crs(declared_crs)
        except UnknownCrsError as exc:
            raise RasterSourceError(f"{name}: files[].crs {exc}") from None
    if source.crs is None:
        if not declared_crs:
            raise RasterSourceError(
                f"{name} has no CRS; set the file's crs in the manifest to the CRS its "
                'coordinates are in, e.g. "crs": "EPSG:28355"'
            )
        return declared_crs
    if declared_crs and not same_crs(declared_crs, source.crs):
        own = source.crs if len(source.crs) <= 60 else "a different CRS"
        raise RasterSourceError(
            f"{name} declares crs {declared_crs!r} in the manifest but the file itself is in "
            f"{own}; remove the manifest crs (it only fills in a missing CRS) or fix "
            "the file"
        )
    return None
