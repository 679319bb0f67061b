"""Lake writers: GeoParquet from the PostGIS path read back independently; COG validated."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from etl_spatial.arrow_io import load_arrow_table
from etl_spatial.geoparquet_stream import export_geoparquet
from etl_spatial.loader import VectorSource, load_vector
from etl_spatial.metadata import CogValidationError, cog_problems, describe_raster, validate_cog
from etl_spatial.writers import raster_to_cog, write_geoparquet, write_parquet

pytestmark = pytest.mark.integration


def test_natural_earth_through_postgis_to_geoparquet(
    postgis, run_id, buckets, upload, s3_gdal_env, natural_earth_shp: Path, tmp_path: Path
):
    import geopandas as gpd
    import pyarrow.parquet as pq

    landing, _ = buckets
    for sidecar in natural_earth_shp.parent.iterdir():
        upload(landing, f"ne/{sidecar.name}", sidecar)
    source = VectorSource(path=f"/vsis3/{landing}/ne/naturalearth_lowres.shp", format="Shapefile")
    out = tmp_path / "data.parquet"
    with postgis.ephemeral_schema(run_id) as schema:
        load_vector(postgis, schema, [source], gdal_env=s3_gdal_env)
        info = export_geoparquet(postgis, schema, "raw_data", out, row_group_size=50).metadata

    # Independent read 1: pyarrow + the raw `geo` metadata.
    parquet = pq.ParquetFile(out)
    geo = json.loads(parquet.schema_arrow.metadata[b"geo"])
    assert geo["version"] == "1.1.0"
    column = geo["columns"][geo["primary_column"]]
    assert geo["primary_column"] == "geom"
    assert column["encoding"] == "WKB"
    assert column["crs"]["id"] == {"authority": "EPSG", "code": 4326}  # PROJJSON
    assert column["geometry_types"] == ["MultiPolygon"]
    assert column["bbox"] == pytest.approx([-180.0, -90.0, 180.0, 83.64513])
    assert column["covering"]["bbox"]["xmin"] == ["bbox", "xmin"]
    assert parquet.metadata.num_rows == 177
    assert parquet.metadata.num_row_groups == 4  # 177 rows / 50 per group
    assert parquet.metadata.row_group(0).column(0).compression == "ZSTD"
    names = parquet.schema_arrow.names
    assert names == ["pop_est", "continent", "name", "iso_a3", "gdp_md_est", "geom", "bbox"]

    # Independent read 2: geopandas, compared with the source shapefile.
    back = gpd.read_parquet(out)
    original = gpd.read_file(natural_earth_shp)
    assert back.crs.to_epsg() == 4326
    assert sorted(back["name"]) == sorted(original["name"])
    fiji = back.loc[back["name"] == "Fiji", "geom"].iloc[0]
    assert fiji.equals(original.loc[original["name"] == "Fiji", "geometry"].iloc[0])

    # Rows are spatially sorted: consecutive rows are closer than in the source order.
    def mean_step(series):
        c = series.representative_point()
        return float(np.mean(np.hypot(np.diff(c.x), np.diff(c.y))))

    assert mean_step(back.geometry) < mean_step(original.geometry)

    assert info.row_count == 177 and info.crs == "EPSG:4326"
    assert info.geometry_types == ["MultiPolygon"] and info.row_groups == 4


def test_geoparquet_round_trip_back_into_postgis(
    postgis, run_id, tmp_path: Path, natural_earth_shp
):
    """The join lane loads lake GeoParquet back into PostGIS with ADBC."""
    import geopandas as gpd
    import pyarrow.parquet as pq

    out = tmp_path / "countries.parquet"
    write_geoparquet(gpd.read_file(natural_earth_shp), out)
    table = pq.read_table(out)
    with postgis.ephemeral_schema(run_id) as schema:
        rows = load_arrow_table(postgis, schema, "countries", table, geometry_column="geometry")
        assert rows == 177
        with schema.connect() as conn:
            srid, persistence, valid = conn.execute(
                "SELECT Find_SRID(%s, 'countries', 'geometry'), "
                "(SELECT relpersistence FROM pg_class WHERE oid = to_regclass('countries')), "
                "(SELECT count(*) FROM countries WHERE ST_IsValid(geometry))",
                (schema.name,),
            ).fetchone()
            columns = [
                r[0]
                for r in conn.execute(
                    "SELECT column_name FROM information_schema.columns WHERE table_schema = %s "
                    "AND table_name = 'countries' ORDER BY ordinal_position",
                    (schema.name,),
                )
            ]
        assert srid == 4326 and persistence == "u" and valid == 177
        assert "bbox" not in columns  # the covering column is derived data
        # Tabular data (no geometry) goes in the same way.
        tab = table.drop_columns(["geometry", "bbox"])
        assert load_arrow_table(postgis, schema, "attributes", tab) == 177
        back = export_geoparquet(
            postgis, schema, "countries", tmp_path / "back.parquet", geometry_column="geometry"
        )
        assert back.metadata.row_count == 177


def test_write_parquet_is_zstd(tmp_path: Path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    info = write_parquet(pa.table({"a": [1, 2, 3], "b": ["x", "y", None]}), tmp_path / "t.parquet")
    assert info["row_count"] == 3
    assert info["column_schema"] == [
        {"name": "a", "type": "int64"},
        {"name": "b", "type": "string"},
    ]
    meta = pq.ParquetFile(tmp_path / "t.parquet").metadata
    assert meta.row_group(0).column(0).compression == "ZSTD"


def test_geotiff_from_s3_to_cog(buckets, upload, s3_gdal_env, make_geotiff, tmp_path: Path):
    landing, _ = buckets
    data = (np.arange(1200 * 900, dtype=np.float32).reshape(900, 1200) % 251).astype(np.float32)
    data[:10, :10] = -9999
    src = make_geotiff(
        tmp_path / "dem.tif",
        data,
        crs="EPSG:32755",
        nodata=-9999,
        bounds=(300000.0, 5800000.0, 312000.0, 5809000.0),
    )
    # A plain GeoTIFF (striped, no overviews) is not a COG.
    problems = cog_problems(src)
    assert any("not tiled" in p for p in problems)
    assert any("overviews" in p for p in problems)
    with pytest.raises(CogValidationError, match="is not a valid COG"):
        validate_cog(src)

    path = upload(landing, "b/dem.tif", src)
    cog = tmp_path / "out" / "data.tif"
    info = raster_to_cog(path, cog, gdal_env=s3_gdal_env)
    validate_cog(cog)
    assert info.layout == "COG" and info.driver == "GTiff"
    assert (info.width, info.height, info.band_count) == (1200, 900, 1)
    assert info.nodata == [-9999.0]
    assert info.crs == "EPSG:32755" and info.source_crs == "EPSG:32755"
    assert info.overview_count >= 1 and info.block_size == [512, 512]
    assert info.compression == "DEFLATE"
    assert info.bounds == pytest.approx([300000.0, 5800000.0, 312000.0, 5809000.0])


def test_cog_with_reprojection_keeps_nodata(make_geotiff, tmp_path: Path):
    data = np.full((300, 400), 7, dtype=np.uint8)
    data[0, :] = 255
    src = make_geotiff(
        tmp_path / "classes.tif",
        data,
        crs="EPSG:32755",
        nodata=255,
        bounds=(300000.0, 5800000.0, 304000.0, 5803000.0),
    )
    info = raster_to_cog(str(src), tmp_path / "wgs84.tif", target_crs="EPSG:4326")
    assert info.crs == "EPSG:4326" and info.source_crs == "EPSG:32755"
    assert info.nodata == [255.0] and info.data_types == ["Byte"]
    assert describe_raster(tmp_path / "wgs84.tif").layout == "COG"


def test_tiled_geotiff_without_cog_layout_is_rejected(make_geotiff, tmp_path: Path):
    src = make_geotiff(
        tmp_path / "tiled.tif",
        np.zeros((600, 600), dtype=np.uint8),
        creation_options=("TILED=YES", "BLOCKXSIZE=256", "BLOCKYSIZE=256"),
    )
    problems = cog_problems(src)
    assert not any("not tiled" in p for p in problems)
    assert any("overviews" in p for p in problems)


def test_a_file_that_is_not_a_raster_is_not_a_cog(tmp_path: Path):
    path = tmp_path / "notes.tif"
    path.write_text("not a tiff")
    with pytest.raises(CogValidationError, match="cannot read it as a raster"):
        validate_cog(path)


def test_raster_without_crs_cannot_be_reprojected(make_geotiff, tmp_path: Path):
    from etl_spatial.writers import WriterError

    src = make_geotiff(tmp_path / "nocrs.tif", np.zeros((50, 50), dtype=np.uint8), crs=None)
    assert describe_raster(src).crs is None
    with pytest.raises(WriterError, match="has no CRS"):
        raster_to_cog(str(src), tmp_path / "x.tif", target_crs="EPSG:4326")
