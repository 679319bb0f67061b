"""Transforms name CRSs by the shared rule of ``etl_spatial.crs`` (OGC:CRS84 is EPSG:4326)."""

from __future__ import annotations

import pydantic
import pytest

from etl_transforms.errors import SourceCrsError
from etl_transforms.raster import RasterOptions
from etl_transforms.vector_profile import resolve_declared_srid, srid_crs_label


@pytest.mark.unit
def test_raster_target_crs_is_stored_as_its_label():
    assert RasterOptions(target_crs="epsg:3857").target_crs == "EPSG:3857"
    # Equal recipes hash equally: both spellings of lon/lat WGS 84 are one label.
    assert RasterOptions(target_crs="OGC:CRS84") == RasterOptions(target_crs="EPSG:4326")
    assert RasterOptions().target_crs is None
    with pytest.raises(pydantic.ValidationError, match="not known to PROJ"):
        RasterOptions(target_crs="EPSG:999999")
    with pytest.raises(pydantic.ValidationError, match="not an authority code"):
        RasterOptions(target_crs="+proj=longlat +datum=WGS84")


@pytest.mark.integration
def test_declared_and_stored_crs_use_the_same_labels(pg_conn):
    assert resolve_declared_srid(pg_conn, "OGC:CRS84") == 4326
    assert resolve_declared_srid(pg_conn, "urn:ogc:def:crs:EPSG::4326") == 4326
    assert srid_crs_label(pg_conn, 4326) == "EPSG:4326"
    assert srid_crs_label(pg_conn, 28355) == "EPSG:28355"
    with pytest.raises(SourceCrsError, match=r"files\[\]\.crs 'EPSG:999999' is not known"):
        resolve_declared_srid(pg_conn, "EPSG:999999")
    with pytest.raises(SourceCrsError, match="not in PostGIS spatial_ref_sys"):
        srid_crs_label(pg_conn, 999999)
