"""The Arrow load's limits and guards against real PostGIS: its time limit is an operational
failure, a GeoJSON whose ``crs`` member GDAL may have ignored is left to ``ogr2ogr``, and a
bad ``ETL_VECTOR_LOADER`` names the setting."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from etl_spatial.arrow_load import geojson_may_declare_crs, loader_choice
from etl_spatial.gdal import GdalTimeout
from etl_spatial.loader import load_vector
from etl_spatial.vector_source import VectorSource


def _points_gpkg(path: Path, rows: int) -> Path:
    import numpy as np
    import pyarrow as pa
    import pyogrio
    import shapely

    xs = np.linspace(-170, 170, rows)
    table = pa.table(
        {
            "id": pa.array(np.arange(rows, dtype="int64")),
            "geometry": pa.array(shapely.to_wkb(shapely.points(xs, xs / 2)), pa.binary()),
        }
    )
    pyogrio.write_arrow(
        table, path, layer="points", driver="GPKG", geometry_name="geometry",
        geometry_type="Point", crs="EPSG:4326",
    )  # fmt: skip
    return path


def test_arrow_load_past_its_time_limit_is_an_operational_timeout(
    postgis, run_id, tmp_path: Path, monkeypatch, caplog
):
    """The limit is PostgreSQL's statement_timeout on the COPY: GdalTimeout (retryable, names
    the settings to raise), not a fall back to ogr2ogr and not a bad-input error; nothing is
    left behind."""
    monkeypatch.setenv("ETL_VECTOR_LOADER", "auto")
    source = VectorSource(path=str(_points_gpkg(tmp_path / "p.gpkg", 300_000)), format="GPKG")
    with postgis.ephemeral_schema(run_id) as schema:
        with (
            caplog.at_level("INFO", logger="etl_spatial.loader"),
            pytest.raises(GdalTimeout) as info,
        ):
            load_vector(postgis, schema, [source], timeout=0.001)
        assert "ETL_GDAL_TIMEOUT_SECONDS_PER_MB" in str(info.value)
        assert "not a fault of the input" in str(info.value)
        assert not any("with ogr2ogr" in r.getMessage() for r in caplog.records)
        assert not schema.table_exists("raw_data")


def test_same_file_loads_within_a_normal_limit(postgis, run_id, tmp_path: Path, monkeypatch):
    monkeypatch.setenv("ETL_VECTOR_LOADER", "auto")
    source = VectorSource(path=str(_points_gpkg(tmp_path / "p.gpkg", 300_000)), format="GPKG")
    with postgis.ephemeral_schema(run_id) as schema:
        report = load_vector(postgis, schema, [source], timeout=600)
        assert report.row_count == 300_000
        assert schema.row_count("raw_data") == 300_000


def test_geojson_crs_member_is_found_anywhere_in_the_file(tmp_path: Path):
    plain = tmp_path / "plain.geojson"
    point = {"type": "Point", "coordinates": [1, 0]}
    features = [
        {"type": "Feature", "properties": {"n": i}, "geometry": point} for i in range(20_000)
    ]
    plain.write_text(json.dumps({"type": "FeatureCollection", "features": features}))
    assert not geojson_may_declare_crs(str(plain))
    # After the features (past the first read chunk), as RFC 7946 allows members in any order.
    late = tmp_path / "late.geojson"
    late.write_text(
        json.dumps(
            {
                "type": "FeatureCollection",
                "features": features * 30,
                "crs": {"type": "name", "properties": {"name": "EPSG:3857"}},
            }
        )
    )
    assert late.stat().st_size > 8 * 1024 * 1024
    assert geojson_may_declare_crs(str(late))
    # Remote or missing files cannot be scanned: assume the worst.
    assert geojson_may_declare_crs("/vsis3/bucket/key.geojson")
    assert geojson_may_declare_crs(str(tmp_path / "missing.geojson"))


def test_loader_setting_is_validated():
    assert loader_choice({}) == "auto"
    assert loader_choice({"ETL_VECTOR_LOADER": " OGR2OGR "}) == "ogr2ogr"
    with pytest.raises(ValueError, match="ETL_VECTOR_LOADER must be auto or ogr2ogr"):
        loader_choice({"ETL_VECTOR_LOADER": "fast"})
