"""Where the spatial lane has GDAL read a raw file: a local copy for formats read more than
once or out of order, in place over S3 for the others (real S3 server)."""

from __future__ import annotations

import io
from pathlib import Path
from types import SimpleNamespace

import pytest

from etl_pipeline.lanes.spatial import local_or_vsis3

pytestmark = pytest.mark.integration


@pytest.mark.parametrize(
    ("name", "format_"),
    [
        ("roads.geojson", "GeoJSON"),
        ("roads.json", "json"),
        ("sites.csv", "CSV"),
        ("b.gpkg", "GPKG"),
    ],
)
def test_whole_file_formats_are_downloaded_once(store, tmp_path: Path, name, format_) -> None:
    body = f"content of {name}".encode()
    key = f"batch/{name}"
    store.client.put_object(store.landing_bucket, key, io.BytesIO(body), len(body))
    work = SimpleNamespace(run=SimpleNamespace(services=SimpleNamespace(store=store)), tmp=tmp_path)
    path = Path(local_or_vsis3(work, 0, key, format_))
    assert path.is_relative_to(tmp_path)  # inside the run's directory, removed with it
    assert path.name.endswith(name)  # GDAL still sees the file's own extension
    assert path.read_bytes() == body


@pytest.mark.parametrize(
    ("name", "format_", "prefix"),
    [
        ("roads.fgb", "FlatGeobuf", "/vsis3/"),  # made for range reads
        ("roads.zip", "Shapefile", "/vsizip//vsis3/"),
        ("roads.zip", "GeoJSON", "/vsizip//vsis3/"),
    ],
)
def test_other_formats_are_read_in_place(store, tmp_path: Path, name, format_, prefix) -> None:
    work = SimpleNamespace(run=SimpleNamespace(services=SimpleNamespace(store=store)), tmp=tmp_path)
    path = local_or_vsis3(work, 0, f"batch/{name}", format_)
    assert path.startswith(prefix) and path.endswith(f"/batch/{name}")
    assert not any(tmp_path.iterdir())
