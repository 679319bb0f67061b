"""No vector row lost unseen, no impossible coordinate published.

Run on the vector lane's transform report before anything is exported:

- Rows lost to corruption (no readable geometry, e.g. a truncated ``.shp``; an empty one, which
  is what readers make of NaN points; NaN or infinite coordinates) fail the batch unless
  their number is within ``ETL_MAX_CORRUPT_ROWS`` (default 0, so nothing disappears
  silently). Accepted losses become ledger warnings.
- The output must lie in EPSG:4326's range after reprojection; a file without a CRS whose
  coordinates cannot be degrees (UTM metres in a CRS-less GeoJSON) is told to declare one.

The recipe's deliberate drops (geometries that repair or simplification left nothing of) and
the antimeridian wrapping are not failures: they are reported as warnings.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import Any

from etl_pipeline.lanes.contract import LaneError
from etl_transforms.vector_sql import WRAP_LIMIT

MAX_CORRUPT_ROWS_ENV = "ETL_MAX_CORRUPT_ROWS"
LONGITUDE_LIMIT = 180.0
LATITUDE_LIMIT = 90.0
DEGREE_TOLERANCE = 1e-9
"""Reprojection round-off allowed beyond the limits."""


def max_corrupt_rows() -> int:
    """How many corrupt rows a batch may lose (``ETL_MAX_CORRUPT_ROWS``, default 0)."""
    raw = os.environ.get(MAX_CORRUPT_ROWS_ENV, "").strip()
    if not raw:
        return 0
    if not raw.isdigit():
        raise LaneError(
            f"{MAX_CORRUPT_ROWS_ENV} must be a whole number of rows, 0 or more (got {raw!r}); "
            "fix the platform setting"
        )
    return int(raw)


def describe_files(files: Sequence[Mapping[str, Any]]) -> str:
    """The batch's files as the user named them (``files[0] (s3://...)``)."""
    labels = [str(f.get("path")) for f in files if f.get("path")]
    return " and ".join(labels) if labels else "the batch's files"


# What a feature without geometry most likely is, by the driver that read it: the user fixes
# a blank CSV cell differently from a truncated Shapefile.
_MISSING_GEOMETRY = {
    "CSV": "blank or unreadable coordinates (an empty or non-numeric x/y cell, or WKT that "
    "does not parse)",
    "GeoJSON": 'a null geometry ("geometry": null)',
    "ESRI Shapefile": "no readable shape (a null shape record, or a .shp shorter than its .dbf)",
}
_MISSING_GEOMETRY_OTHER = "no geometry (NULL in the file)"


def missing_geometry_reason(files: Sequence[Mapping[str, Any]]) -> str:
    """Why features of these files have no geometry, in the terms of their format(s)."""
    drivers = sorted({str(f.get("driver") or "") for f in files})
    reasons = [_MISSING_GEOMETRY.get(d, _MISSING_GEOMETRY_OTHER) for d in drivers]
    return " or ".join(dict.fromkeys(reasons)) or _MISSING_GEOMETRY_OTHER


def check_corrupt_rows(files: Sequence[Mapping[str, Any]], transform: Any) -> None:
    """Fail the batch when more rows were lost to corruption than allowed."""
    lost = transform.corrupt_count
    allowed = max_corrupt_rows()
    if lost <= allowed:
        return
    parts = []
    if transform.dropped_null_count:
        parts.append(f"{transform.dropped_null_count} have {missing_geometry_reason(files)}")
    if transform.dropped_nonfinite_count:
        parts.append(f"{transform.dropped_nonfinite_count} have NaN or infinite coordinates")
    if transform.dropped_source_empty_count:
        parts.append(
            f"{transform.dropped_source_empty_count} have an empty geometry (no coordinates, "
            "or NaN coordinates the reader could not use)"
        )
    raise LaneError(
        f"{describe_files(files)}: {lost} of {transform.rows_in} features would be lost: "
        f"{' and '.join(parts)}; nothing was published. Fix the source and upload it again "
        f"under a new batch_id (or, to accept such losses, the operator raises "
        f"{MAX_CORRUPT_ROWS_ENV}, now {allowed})"
    )


def check_output_range(
    files: Sequence[Mapping[str, Any]], transform: Any, *, crs_declared: bool
) -> None:
    """Fail the batch when the EPSG:4326 output has coordinates no place on Earth has."""
    if transform.target_srid != 4326 or transform.bbox is None:
        return
    xmin, ymin, xmax, ymax = transform.bbox
    lon_limit = LONGITUDE_LIMIT + DEGREE_TOLERANCE
    lat_limit = LATITUDE_LIMIT + DEGREE_TOLERANCE
    lon_ok = max(abs(xmin), abs(xmax)) <= lon_limit
    lat_ok = max(abs(ymin), abs(ymax)) <= lat_limit
    if lon_ok and lat_ok:
        return
    reach = f"x {xmin:g}..{xmax:g}, y {ymin:g}..{ymax:g}"
    from_degrees = transform.source_srid in (None, 4326) or transform.source_crs == "EPSG:4326"
    # Far beyond any wrapping or typo: these are projected units (metres, feet) read as degrees.
    projected = max(abs(xmin), abs(xmax)) > WRAP_LIMIT or max(abs(ymin), abs(ymax)) > 180.0
    if from_degrees and projected and not crs_declared:
        raise LaneError(
            f"{describe_files(files)}: the coordinates ({reach}) cannot be longitude/latitude "
            "degrees, yet they are read as EPSG:4326 (a GeoJSON without a CRS means EPSG:4326); "
            "declare the CRS with files[].crs (e.g. 'EPSG:32755' for UTM metres) and submit "
            "again under a new batch_id"
        )
    raise LaneError(
        f"{describe_files(files)}: after reprojection from {transform.source_crs} to EPSG:4326 "
        f"the coordinates reach {reach}, outside longitude -180..180 / latitude -90..90; check "
        "the source coordinates and files[].crs, then submit again under a new batch_id"
    )


def vector_warnings(transform: Mapping[str, Any]) -> list[str]:
    """One plain sentence per thing the user should know about the transform's rows."""
    notes = []
    if transform.get("repaired_count"):
        notes.append(f"{transform['repaired_count']} invalid geometries were repaired")
    if transform.get("wrapped_count"):
        notes.append(
            f"{transform['wrapped_count']} geometries had longitudes beyond +-180 and were "
            "wrapped (split at the antimeridian where they cross it)"
        )
    if transform.get("dropped_null_count"):
        notes.append(
            f"{transform['dropped_null_count']} features without a readable geometry were "
            f"dropped (allowed by {MAX_CORRUPT_ROWS_ENV})"
        )
    if transform.get("dropped_nonfinite_count"):
        notes.append(
            f"{transform['dropped_nonfinite_count']} features with NaN or infinite coordinates "
            f"were dropped (allowed by {MAX_CORRUPT_ROWS_ENV})"
        )
    collapsed = int(transform.get("collapsed_count") or 0)
    empty = int(transform.get("dropped_empty_count") or 0) - collapsed
    if empty:
        notes.append(
            f"{empty} features with an empty geometry were dropped (allowed by "
            f"{MAX_CORRUPT_ROWS_ENV})"
        )
    if collapsed:
        notes.append(
            f"{collapsed} degenerate geometries (no area or length left after repair) were dropped"
        )
    return notes
