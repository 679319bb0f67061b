"""Ledger metadata: content hash, GeoParquet description, TIFF structure parsing."""

from __future__ import annotations

from pathlib import Path

import pytest

from etl_spatial.metadata import (
    MetadataError,
    content_hash,
    crs_to_label,
    describe_geodataframe,
    describe_geoparquet,
    file_sha256,
)

pytestmark = pytest.mark.unit

INPUTS = [
    {"path": "s3://landing-zone/b/a.shp", "etag": '"e1"', "size": 10},
    {"path": "s3://landing-zone/b/a.dbf", "etag": "e2", "size": 20},
]


def test_content_hash_is_order_independent_and_path_free():
    h = content_hash(INPUTS, "vector_default", "1", {"target_crs": "EPSG:4326"})
    assert len(h) == 64
    assert h == content_hash(
        list(reversed(INPUTS)), "vector_default", "1", {"target_crs": "EPSG:4326"}
    )
    moved = [{**i, "path": i["path"].replace("/b/", "/c/")} for i in INPUTS]
    assert h == content_hash(moved, "vector_default", "1", {"target_crs": "EPSG:4326"})


def test_content_hash_changes_with_content_recipe_and_params():
    base = content_hash(INPUTS, "vector_default", "1", {"a": 1})
    changed = [dict(INPUTS[0], etag="other"), INPUTS[1]]
    assert content_hash(changed, "vector_default", "1", {"a": 1}) != base
    assert content_hash(INPUTS, "vector_default", "2", {"a": 1}) != base
    assert content_hash(INPUTS, "other", "1", {"a": 1}) != base
    assert content_hash(INPUTS, "vector_default", "1", {"a": 2}) != base
    assert content_hash(INPUTS, "vector_default", "1", {"a": 1, "b": None}) != base


def test_content_hash_needs_etag_or_bytes(tmp_path: Path):
    with pytest.raises(ValueError, match=r"inputs\[0\].*etag"):
        content_hash([{"path": "x", "size": 1}], "r", "1", {})
    f = tmp_path / "x.bin"
    f.write_bytes(b"hello")
    digest = file_sha256(f)
    assert digest == "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824"
    assert len(content_hash([{"path": "x", "sha256": digest, "size": 5}], "r", "1", {})) == 64


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
