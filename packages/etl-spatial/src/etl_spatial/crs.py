"""One rule for naming a CRS, used by every package that records or compares one.

The label of a CRS is:

- ``EPSG:4326`` for lon/lat WGS 84 in either axis order, so ``OGC:CRS84`` (GeoJSON's and
  GeoParquet's default) is labelled ``EPSG:4326`` too. PostGIS stores both as SRID 4326, the lake
  writes x=longitude whatever the label says, and the lake contract labels vector outputs
  ``EPSG:4326``: two labels for the same data would make equal datasets look different.
- otherwise ``EPSG:<code>`` when PROJ identifies an EPSG code (at 70% confidence), else another
  ``AUTHORITY:code`` it identifies (e.g. ``ESRI:54009``),
- otherwise the CRS's WKT2 (a custom CRS has no shorter faithful name).

pyproj is imported when a function is called, not when this module is imported.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pyproj import CRS

WGS84_LABEL = "EPSG:4326"
WGS84_SRID = 4326
_MIN_CONFIDENCE = 70
# ``EPSG:28355`` or its URN form ``urn:ogc:def:crs:EPSG::28355`` (GeoJSON's spelling).
_AUTHORITY_CODE = re.compile(
    r"^\s*(?:[A-Z]+\s*:\s*[0-9A-Z]+|URN:OGC:DEF:CRS:[A-Z]+:[0-9.]*:[0-9A-Z]+)\s*$", re.IGNORECASE
)


class UnknownCrsError(ValueError):
    """A declared CRS that PROJ does not know, or that is not in the form asked for."""


def parse_crs(value: Any) -> CRS:
    """A ``pyproj.CRS`` from a CRS, an ``AUTH:code`` / WKT / PROJ string, PROJJSON or EPSG int.

    Raises ``pyproj.exceptions.CRSError`` when PROJ cannot build it.
    """
    from pyproj import CRS

    return value if isinstance(value, CRS) else CRS.from_user_input(value)


def is_wgs84_lonlat(value: Any) -> bool:
    """Whether the CRS is 2D geographic WGS 84 (EPSG:4326 or OGC:CRS84, axis order ignored)."""
    from pyproj import CRS

    return parse_crs(value).equals(CRS.from_epsg(WGS84_SRID), ignore_axis_order=True)


def crs_label(value: Any) -> str | None:
    """The label of a CRS under the module's rule; ``None`` for ``None``."""
    if value is None:
        return None
    crs = parse_crs(value)
    if is_wgs84_lonlat(crs):
        return WGS84_LABEL
    epsg = crs.to_epsg(min_confidence=_MIN_CONFIDENCE)
    if epsg is not None:
        return f"EPSG:{epsg}"
    authority = crs.to_authority(min_confidence=_MIN_CONFIDENCE)
    if authority is not None:
        return f"{authority[0]}:{authority[1]}"
    return crs.to_wkt()


def epsg_code(value: Any) -> int | None:
    """The EPSG code of a CRS under the same rule (4326 for OGC:CRS84), else ``None``."""
    label = crs_label(value)
    if label is not None and label.startswith("EPSG:"):
        return int(label.removeprefix("EPSG:"))
    return None


def same_crs(a: Any, b: Any) -> bool:
    """Whether two CRSs are the same, ignoring axis order (the lake always writes x first)."""
    return parse_crs(a).equals(parse_crs(b), ignore_axis_order=True)


def validate_crs(text: str, *, require_code: bool = False) -> str:
    """The label of a declared CRS; raise :class:`UnknownCrsError` when PROJ does not know it.

    The error message starts with the quoted text (``'EPSG:999999' is not known to PROJ...``)
    so a caller can put the field it came from in front of it.

    With ``require_code`` only an ``AUTHORITY:code`` such as ``EPSG:28355`` (or its OGC URN) is
    accepted: a manifest or recipe names a CRS by code, not by WKT or PROJ string.
    """
    from pyproj.exceptions import CRSError

    if not isinstance(text, str) or not text.strip():
        raise UnknownCrsError(f"{text!r} is empty; use an authority code such as 'EPSG:4326'")
    if require_code and not _AUTHORITY_CODE.match(text):
        raise UnknownCrsError(f"{text!r} is not an authority code; use one such as 'EPSG:28355'")
    try:
        label = crs_label(text.strip())
    except CRSError:
        raise UnknownCrsError(
            f"{text!r} is not known to PROJ; use an authority code PROJ ships, such as "
            "'EPSG:4326' or 'EPSG:28355'"
        ) from None
    assert label is not None
    return label
