"""Ledger metadata: GeoParquet description, CRS labels, TIFF structure parsing."""

from __future__ import annotations

from pathlib import Path

import pytest

from etl_spatial.metadata import (
    MetadataError,
    crs_to_label,
    describe_geodataframe,
    describe_geoparquet,
)

pytestmark = pytest.mark.unit


def test_describe_geoparquet_requires_geo_metadata(tmp_path: Path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    pq.write_table(pa.table({"a": [1]}), tmp_path / "plain.parquet")
    with pytest.raises(MetadataError, match="no GeoParquet"):
        describe_geoparquet(tmp_path / "plain.parquet")


def test_describe_geoparquet_and_frame_agree(tmp_path: Path):
    import geopandas as gpd
    from shapely import Point, Polygon

    from etl_spatial.writers import write_geoparquet

    frame = gpd.GeoDataFrame(
        {"name": ["a", "b", "c"], "n": [1, 2, 3]},
        geometry=[Point(0, 0), Polygon([(1, 1), (2, 1), (2, 2)]), None],
        crs="EPSG:3857",
    )
    info = write_geoparquet(frame, tmp_path / "x.parquet")
    assert info.row_count == 3
    assert info.geometry_types == ["Point", "Polygon"]
    assert info.bounds == [0.0, 0.0, 2.0, 2.0]
    assert info.crs == "EPSG:3857"
    assert info.crs_projjson["id"]["code"] == 3857
    assert [c.name for c in info.column_schema] == ["name", "n", "geometry", "bbox"]
    in_memory = describe_geodataframe(frame)
    assert in_memory.bounds == info.bounds and in_memory.geometry_types == info.geometry_types
    assert [c.name for c in in_memory.column_schema] == ["name", "n", "geometry"]


def test_crs_labels():
    assert crs_to_label("EPSG:4326") == "EPSG:4326"
    assert crs_to_label("OGC:CRS84") == "OGC:CRS84"
    assert crs_to_label(None) is None
    assert crs_to_label("+proj=tmerc +lat_0=1.234 +lon_0=5.678 +ellps=GRS80").startswith("PROJCRS")
