"""The one CRS naming rule: the cases the loader, metadata and transforms used to disagree on."""

from __future__ import annotations

import pytest

from etl_spatial.crs import (
    UnknownCrsError,
    crs_label,
    epsg_code,
    is_wgs84_lonlat,
    same_crs,
    validate_crs,
)

pytestmark = pytest.mark.unit

CRS84_PROJJSON = {
    "type": "GeographicCRS",
    "name": "WGS 84 (CRS84)",
    "datum": {
        "type": "GeodeticReferenceFrame",
        "name": "World Geodetic System 1984",
        "ellipsoid": {
            "name": "WGS 84",
            "semi_major_axis": 6378137,
            "inverse_flattening": 298.257223563,
        },
    },
    "coordinate_system": {
        "subtype": "ellipsoidal",
        "axis": [
            {"name": "Longitude", "abbreviation": "lon", "direction": "east", "unit": "degree"},
            {"name": "Latitude", "abbreviation": "lat", "direction": "north", "unit": "degree"},
        ],
    },
    "id": {"authority": "OGC", "code": "CRS84"},
}


@pytest.mark.parametrize(
    "value",
    [
        "EPSG:4326",
        "epsg:4326",
        4326,
        "OGC:CRS84",  # the metadata module used to say "OGC:CRS84", the loader "EPSG:4326"
        "urn:ogc:def:crs:OGC:1.3:CRS84",
        "urn:ogc:def:crs:EPSG::4326",
        CRS84_PROJJSON,  # GeoParquet's PROJJSON form
        "+proj=longlat +datum=WGS84 +no_defs",
    ],
)
def test_every_spelling_of_lonlat_wgs84_is_epsg_4326(value):
    assert crs_label(value) == "EPSG:4326"
    assert epsg_code(value) == 4326
    assert is_wgs84_lonlat(value)


def test_other_crs_labels():
    assert crs_label(None) is None
    assert crs_label("EPSG:28355") == "EPSG:28355"
    assert crs_label("ESRI:102100") == "EPSG:3857"  # PROJ identifies the EPSG equivalent
    assert crs_label("ESRI:54009") == "ESRI:54009"  # Mollweide has no EPSG code
    assert epsg_code("ESRI:54009") is None
    custom = "+proj=tmerc +lat_0=1.234 +lon_0=5.678 +ellps=GRS80"
    assert crs_label(custom).startswith("PROJCRS")
    assert epsg_code(custom) is None
    assert not is_wgs84_lonlat("EPSG:4283")  # GDA94 lon/lat is a different datum


def test_same_crs_ignores_axis_order():
    assert same_crs("OGC:CRS84", "EPSG:4326")
    assert not same_crs("EPSG:4326", "EPSG:4283")


def test_validate_crs_returns_the_label_and_names_unknown_codes():
    assert validate_crs("epsg:3857") == "EPSG:3857"
    assert validate_crs("OGC:CRS84") == "EPSG:4326"
    with pytest.raises(UnknownCrsError, match=r"'EPSG:999999' is not known to PROJ"):
        validate_crs("EPSG:999999")
    with pytest.raises(UnknownCrsError, match="not known to PROJ"):
        validate_crs("WGS1984-ish")
    with pytest.raises(UnknownCrsError, match="empty"):
        validate_crs(" ")
    assert validate_crs("+proj=longlat +datum=WGS84") == "EPSG:4326"
    with pytest.raises(UnknownCrsError, match="not an authority code"):
        validate_crs("+proj=longlat +datum=WGS84", require_code=True)
    assert validate_crs("urn:ogc:def:crs:EPSG::28355", require_code=True) == "EPSG:28355"
    assert validate_crs("urn:ogc:def:crs:OGC:1.3:CRS84", require_code=True) == "EPSG:4326"
