"""What a vector input is: its GDAL path, format, layer and (for CSV) geometry columns."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass

# Manifest ``format`` values (and common spellings) -> GDAL driver names.
FORMAT_DRIVERS: Mapping[str, str] = {
    "geojson": "GeoJSON",
    "json": "GeoJSON",
    "shp": "ESRI Shapefile",
    "shapefile": "ESRI Shapefile",
    "esri shapefile": "ESRI Shapefile",
    "gpkg": "GPKG",
    "geopackage": "GPKG",
    "fgb": "FlatGeobuf",
    "flatgeobuf": "FlatGeobuf",
    "csv": "CSV",
}
# Coordinate columns found without options (GDAL matches them ignoring case): common names,
# Darwin Core's (GBIF and biodiversity portals) and ArcGIS's "Add XY Coordinates".
CSV_X_NAMES = ("lon", "longitude", "lng", "long", "x", "easting", "decimalLongitude", "POINT_X")
CSV_Y_NAMES = ("lat", "latitude", "y", "northing", "decimalLatitude", "POINT_Y")
CSV_WKT_NAMES = ("wkt", "geometry", "geom", "the_geom", "wkt_geom")


class VectorLoadError(ValueError):
    """A vector batch cannot be loaded; the message names the file, the problem and the fix."""


@dataclass(frozen=True)
class VectorSource:
    """One GDAL-readable vector input.

    ``path`` is a GDAL path: ``/vsis3/bucket/key``, ``/vsizip//vsis3/bucket/key.zip`` (or
    ``.../key.zip/inner.shp``), ``/vsicurl/<presigned url>`` or a local path. ``label`` is what
    error messages call the file (e.g. ``files[0] (s3://landing-zone/b/roads.gpkg)``); it defaults
    to ``path``. ``member`` names the dataset inside a zip archive (``files[].member``). For
    CSV, coordinates come from lon/lat (``x_column``/``y_column``) or WKT
    (``wkt_column``) columns, detected by common names when not given. ``encoding`` (a Python
    codec name) and ``delimiter`` are the manifest's reader options: a Shapefile is read in
    ``encoding``; a CSV or GeoJSON that needs them is rewritten first
    (:func:`etl_spatial.vector_text.prepare_text_source`).
    """

    path: str
    format: str | None = None
    layer: str | None = None
    label: str | None = None
    member: str | None = None
    x_column: str | None = None
    y_column: str | None = None
    wkt_column: str | None = None
    encoding: str | None = None
    delimiter: str | None = None

    @property
    def name(self) -> str:
        return self.label or self.path

    @property
    def driver(self) -> str | None:
        if self.format is None:
            return None
        key = self.format.strip().lower()
        if key not in FORMAT_DRIVERS:
            raise VectorLoadError(
                f"{self.name}: format {self.format!r} is not a supported vector format; use one "
                f"of GeoJSON, Shapefile, GPKG, FlatGeobuf, CSV"
            )
        return FORMAT_DRIVERS[key]

    @property
    def driver_or_guess(self) -> str | None:
        """:attr:`driver`, else the driver the path's extension names (``.shp``, ``.csv``)."""
        if self.format is not None:
            return self.driver
        fmt = format_for_path(self.path)
        return FORMAT_DRIVERS[fmt] if fmt else None

    def open_options(self) -> dict[str, str]:
        """GDAL dataset open options (CSV geometry columns and type detection; a Shapefile's
        declared encoding, which overrides its ``.cpg``)."""
        if self.encoding and self.driver_or_guess == "ESRI Shapefile":
            from etl_spatial.vector_text import gdal_encoding

            return {"ENCODING": gdal_encoding(self.encoding)}
        if self.driver != "CSV":
            return {}
        xs = (self.x_column,) if self.x_column else CSV_X_NAMES
        ys = (self.y_column,) if self.y_column else CSV_Y_NAMES
        wkts = (self.wkt_column,) if self.wkt_column else CSV_WKT_NAMES
        options = {
            "AUTODETECT_TYPE": "YES",
            "AUTODETECT_SIZE_LIMIT": "0",  # scan the whole file, so a late "1.5" is not an int
            "KEEP_GEOM_COLUMNS": "NO",
            "EMPTY_STRING_AS_NULL": "YES",
        }
        if self.wkt_column or not (self.x_column or self.y_column):
            options["GEOM_POSSIBLE_NAMES"] = ",".join(wkts)
        if not self.wkt_column:
            options["X_POSSIBLE_NAMES"] = ",".join(xs)
            options["Y_POSSIBLE_NAMES"] = ",".join(ys)
        return options

    def gdal_path(self) -> str:
        """Path as GDAL opens it (CSV through the CSV driver's ``CSV:`` prefix when needed)."""
        if self.driver == "CSV" and not self.path.lower().endswith((".csv", ".csv.gz")):
            return "CSV:" + self.path
        return self.path


def resolve_source(
    source: VectorSource, *, gdal_env: Mapping[str, str] | None = None
) -> VectorSource:
    """``source`` with a zip archive path pointed at the one dataset inside it."""
    from etl_spatial.archives import ArchiveError, resolve_zip_member

    try:
        path = resolve_zip_member(
            source.path, source.driver, gdal_env, label=source.name, member=source.member
        )
    except ArchiveError as exc:
        raise VectorLoadError(str(exc)) from None
    if path == source.path:
        return source
    # A zip's format is its member's when the manifest named none (``.zip`` says only "zip").
    fmt = source.format or format_for_path(path)
    return dataclasses.replace(source, path=path, label=source.name, format=fmt)


def format_for_path(path: str) -> str | None:
    """The format that ``path``'s extension names (a key of :data:`FORMAT_DRIVERS`), if any."""
    extension = path.rsplit(".", 1)[-1].lower()
    return extension if extension in FORMAT_DRIVERS else None
