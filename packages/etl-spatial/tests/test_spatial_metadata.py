"""Ledger metadata: GeoParquet description and the shared GeoParquet metadata reader."""

from __future__ import annotations

from pathlib import Path

import pytest

from etl_spatial.geoparquet import (
    GeoMetadataError,
    covering_bbox_column,
    geometry_column_metadata,
    primary_geometry_column,
    read_geo_metadata,
)
from etl_spatial.metadata import describe_geodataframe, describe_geoparquet

pytestmark = pytest.mark.unit


def test_describe_geoparquet_requires_geo_metadata(tmp_path: Path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    pq.write_table(pa.table({"a": [1]}), tmp_path / "plain.parquet")
    with pytest.raises(GeoMetadataError, match="no GeoParquet"):
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


def test_geo_metadata_reader(tmp_path: Path):
    import geopandas as gpd
    import pyarrow as pa
    import pyarrow.parquet as pq
    from shapely import Point

    from etl_spatial.writers import write_geoparquet

    frame = gpd.GeoDataFrame({"n": [1]}, geometry=[Point(1, 2)], crs="EPSG:4326")
    frame = frame.rename_geometry("geom")
    write_geoparquet(frame, tmp_path / "g.parquet")
    schema = pq.read_schema(tmp_path / "g.parquet")
    assert primary_geometry_column(schema) == "geom"
    assert primary_geometry_column(schema.metadata) == "geom"  # the raw mapping works too
    assert read_geo_metadata(schema)["version"] == "1.1.0"
    assert covering_bbox_column(geometry_column_metadata(schema)) == "bbox"

    plain = pa.schema([("a", pa.int64())])
    with pytest.raises(GeoMetadataError, match=r"tabular\.parquet has no GeoParquet"):
        primary_geometry_column(plain, where="tabular.parquet")
    broken = {b"geo": b'{"columns": {"g": {}}, "primary_column": "other"}'}
    with pytest.raises(GeoMetadataError, match="primary_column"):
        primary_geometry_column(broken)


def test_geoparquet_without_crs_member_is_labelled_wgs84(tmp_path: Path):
    """GeoParquet's default CRS is OGC:CRS84; the lake labels it EPSG:4326."""
    import json

    import geopandas as gpd
    import pyarrow.parquet as pq
    from shapely import Point

    from etl_spatial.writers import write_geoparquet

    path = tmp_path / "crs84.parquet"
    write_geoparquet(gpd.GeoDataFrame(geometry=[Point(1, 2)], crs="OGC:CRS84"), path)
    table = pq.read_table(path)
    geo = json.loads(table.schema.metadata[b"geo"])
    del geo["columns"]["geometry"]["crs"]
    pq.write_table(table.replace_schema_metadata({b"geo": json.dumps(geo).encode()}), path)
    assert describe_geoparquet(path).crs == "EPSG:4326"
