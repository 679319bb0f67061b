"""File types and formats: the one table of what the platform reads and how users spell it.

Pure lookups; the manifest model turns a failed lookup into a field error.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import PurePosixPath
from typing import Literal

FileType = Literal["vector", "raster", "tabular"]
FILE_TYPES: tuple[FileType, ...] = ("vector", "raster", "tabular")

JOIN_INTENT = "join_datasets"

# Canonical GDAL driver names by file type, with the spellings users write.
FORMAT_ALIASES: Mapping[FileType, Mapping[str, str]] = {
    "vector": {
        "geojson": "GeoJSON",
        "json": "GeoJSON",
        "gpkg": "GPKG",
        "geopackage": "GPKG",
        "esri shapefile": "ESRI Shapefile",
        "shapefile": "ESRI Shapefile",
        "shp": "ESRI Shapefile",
        "zip": "ESRI Shapefile",  # zipped shapefile, read through /vsizip/
        "flatgeobuf": "FlatGeobuf",
        "fgb": "FlatGeobuf",
        "csv": "CSV",
    },
    "raster": {
        "gtiff": "GTiff",
        "geotiff": "GTiff",
        "tif": "GTiff",
        "tiff": "GTiff",
        "cog": "GTiff",
        "jp2openjpeg": "JP2OpenJPEG",
        "jp2": "JP2OpenJPEG",
        "png": "PNG",
        "jpeg": "JPEG",
        "jpg": "JPEG",
        "hfa": "HFA",
        "img": "HFA",
        "aaigrid": "AAIGrid",
        "asc": "AAIGrid",
        "netcdf": "netCDF",
        "nc": "netCDF",
    },
    "tabular": {"csv": "CSV", "tsv": "CSV", "txt": "CSV"},
}

EXTENSION_FORMAT: Mapping[str, str] = {
    ".geojson": "GeoJSON",
    ".json": "GeoJSON",
    ".gpkg": "GPKG",
    ".shp": "ESRI Shapefile",
    ".zip": "ESRI Shapefile",
    ".fgb": "FlatGeobuf",
    ".csv": "CSV",
    ".tsv": "CSV",
    ".txt": "CSV",
    ".tif": "GTiff",
    ".tiff": "GTiff",
    ".jp2": "JP2OpenJPEG",
    ".png": "PNG",
    ".jpg": "JPEG",
    ".jpeg": "JPEG",
    ".img": "HFA",
    ".asc": "AAIGrid",
    ".nc": "netCDF",
}


def formats_of(file_type: str) -> list[str]:
    """The canonical format names a file type accepts, sorted."""
    return sorted(set(FORMAT_ALIASES[file_type].values()))  # type: ignore[index]


def declared_format(file_type: str, declared: str) -> str | None:
    """The canonical name of a format the user declared, or ``None`` if the type lacks it."""
    return FORMAT_ALIASES[file_type].get(declared.strip().lower())  # type: ignore[index]


def extension(path: str) -> str:
    """The lower-case extension of a path or key (``''`` when it has none)."""
    return PurePosixPath(path).suffix.lower()


def inferred_format(file_type: str, path: str) -> str | None:
    """The canonical format implied by ``path``'s extension, if ``file_type`` accepts it."""
    inferred = EXTENSION_FORMAT.get(extension(path))
    return inferred if inferred in FORMAT_ALIASES[file_type].values() else None  # type: ignore[index]


def file_types_for_extension(suffix: str) -> frozenset[FileType]:
    """The file types that can read a file with extension ``suffix`` (``.csv``: two)."""
    fmt = EXTENSION_FORMAT.get(suffix.lower())
    return frozenset(t for t in FILE_TYPES if fmt is not None and fmt in FORMAT_ALIASES[t].values())
