"""STAC items describe lake versions and validate offline."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from etl_pipeline.stac import (
    COG_MEDIA_TYPE,
    GEOPARQUET_MEDIA_TYPE,
    StacInput,
    StacValidationError,
    build_item,
    validate_item,
)

pytestmark = pytest.mark.unit


def _spec(**changes) -> StacInput:
    base = {
        "dataset_id": "roads",
        "version": 2,
        "data_uri": "s3://data-lake/roads/v2/data.parquet",
        "media_type": GEOPARQUET_MEDIA_TYPE,
        "bbox": [144.9, -37.9, 145.1, -37.7],
        "crs": "EPSG:4326",
        "created": datetime(2026, 11, 22, 10, 0, tzinfo=UTC),
        "row_count": 42,
        "geometry_types": ["MultiLineString"],
        "source_crs": "EPSG:28355",
        "batch_id": "roads_2026_11_22",
        "recipe": {"name": "vector_default", "version": 1},
    }
    base.update(changes)
    return StacInput(**base)


def test_vector_item_describes_the_version() -> None:
    item = build_item(_spec())
    assert item["id"] == "roads-v2"
    assert item["bbox"] == [144.9, -37.9, 145.1, -37.7]
    assert item["geometry"]["type"] == "Polygon"
    assert item["properties"]["proj:code"] == "EPSG:4326"
    assert item["properties"]["etl:row_count"] == 42
    assert item["properties"]["etl:source_crs"] == "EPSG:28355"
    assert item["assets"]["data"]["href"] == "s3://data-lake/roads/v2/data.parquet"
    rels = {link["rel"]: link["href"] for link in item["links"]}
    assert rels["self"] == "s3://data-lake/roads/v2/item.json"
    assert rels["predecessor-version"] == "s3://data-lake/roads/v1/item.json"


def test_joined_item_links_parents_and_raster_media_type() -> None:
    item = build_item(
        _spec(
            dataset_id="joined",
            version=1,
            data_uri="s3://data-lake/joined/v1/data.tif",
            media_type=COG_MEDIA_TYPE,
            parents=[("roads", 3), ("counts", 1)],
        )
    )
    derived = [link["href"] for link in item["links"] if link["rel"] == "derived_from"]
    assert derived == ["s3://data-lake/roads/v3/item.json", "s3://data-lake/counts/v1/item.json"]
    assert not any(link["rel"] == "predecessor-version" for link in item["links"])
    assert item["assets"]["data"]["type"] == COG_MEDIA_TYPE


def test_point_footprint_for_degenerate_bbox() -> None:
    item = build_item(_spec(bbox=[1.0, 2.0, 1.0, 2.0]))
    assert item["geometry"] == {"type": "Point", "coordinates": [1.0, 2.0]}


def test_invalid_items_are_refused() -> None:
    item = build_item(_spec())
    broken = {**item, "bbox": [10.0, 0.0, 0.0, 1.0]}
    with pytest.raises(StacValidationError, match="inverted"):
        validate_item(broken)
    no_type = {k: v for k, v in item.items() if k != "type"}
    with pytest.raises(StacValidationError, match="invalid"):
        validate_item(no_type)
    bad_code = {**item, "properties": {**item["properties"], "proj:code": 4326}}
    with pytest.raises(StacValidationError, match="proj:code"):
        validate_item(bad_code)
