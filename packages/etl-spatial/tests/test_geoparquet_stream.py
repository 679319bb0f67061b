"""Streaming PostGIS -> GeoParquet export: the GeoParquet 1.1 contract, read back independently,
and the geometry facts counted on the way."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from etl_spatial import adbc_stream, geoparquet_stream
from etl_spatial.geoparquet_stream import export_geoparquet, wkb_geometry_types
from etl_spatial.loader import load_vector
from etl_spatial.vector_source import VectorSource


def test_wkb_geometry_types_reads_iso_ewkb_and_both_byte_orders():
    import pyarrow as pa
    import shapely

    values = [
        shapely.to_wkb(shapely.Point(1, 2)),
        shapely.to_wkb(shapely.Point(1, 2, 3), flavor="iso", include_srid=False),
        shapely.to_wkb(shapely.Point(1, 2, 3), flavor="extended"),
        shapely.to_wkb(shapely.box(0, 0, 1, 1), byte_order=0),  # big endian
        shapely.to_wkb(shapely.MultiLineString([[(0, 0), (1, 1)]])),
        None,
    ]
    array = pa.array(values, type=pa.binary())
    assert wkb_geometry_types(array) == {"Point", "Point Z", "Polygon", "MultiLineString"}
    assert wkb_geometry_types(array.slice(3, 1)) == {"Polygon"}
    assert wkb_geometry_types(array.slice(4, 2)) == {"MultiLineString"}  # NULL at an offset
    assert wkb_geometry_types(pa.array([None, *values[:2]], type=pa.binary())) == {
        "Point",
        "Point Z",
    }
    assert wkb_geometry_types(pa.array([None], type=pa.binary())) == set()


def test_read_ahead_hands_over_batches_errors_and_stops_early():
    import threading

    import pyarrow as pa

    schema = pa.schema([("x", pa.int64())])
    batches = [pa.record_batch([pa.array([i])], schema=schema) for i in range(5)]

    class Reader:
        def __init__(self, fail_at=None, hold=None):
            self.schema, self.fail_at, self.hold = schema, fail_at, hold

        def __iter__(self):
            for i, batch in enumerate(batches):
                if i == self.fail_at:
                    raise RuntimeError("stream broke")
                if self.hold is not None and i == 3:
                    self.hold.wait(5)  # a query still running
                yield batch

    ahead = adbc_stream.ReadAhead(Reader(), cancel=lambda: None)
    assert [b.column(0)[0].as_py() for b in ahead] == [0, 1, 2, 3, 4]
    ahead.close()

    failing = adbc_stream.ReadAhead(Reader(fail_at=2), cancel=lambda: None)
    seen = []
    with pytest.raises(RuntimeError, match="stream broke"):
        for batch in failing:
            seen.append(batch.column(0)[0].as_py())
    assert seen == [0, 1]
    failing.close()

    # The caller gives up: the reading thread is cancelled and joined, not left behind.
    hold = threading.Event()
    cancelled = []
    early = adbc_stream.ReadAhead(
        Reader(hold=hold), cancel=lambda: (cancelled.append(True), hold.set())
    )
    assert next(iter(early)).column(0)[0].as_py() == 0
    early.close()
    assert cancelled == [True] and not early._thread.is_alive()


integration = pytest.mark.integration


@integration
def test_natural_earth_streams_to_geoparquet_1_1(
    postgis, run_id, natural_earth_shp: Path, tmp_path: Path
):
    import geopandas as gpd
    import pyarrow.parquet as pq
    import shapely

    out = tmp_path / "data.parquet"
    source = VectorSource(path=str(natural_earth_shp), format="Shapefile")
    world = tmp_path / "world.parquet"
    with postgis.ephemeral_schema(run_id) as schema:
        load_vector(postgis, schema, [source])
        result = export_geoparquet(postgis, schema, "raw_data", out, row_group_size=50)
        # A known extent (the recipe's report) saves the scan that finds it.
        export_geoparquet(postgis, schema, "raw_data", world, extent=(-180, -90, 180, 90))

    parquet = pq.ParquetFile(out)
    geo = json.loads(parquet.schema_arrow.metadata[b"geo"])
    column = geo["columns"][geo["primary_column"]]
    assert geo["version"] == "1.1.0" and geo["primary_column"] == "geom"
    assert column["encoding"] == "WKB"
    assert column["crs"]["id"] == {"authority": "EPSG", "code": 4326}
    assert column["geometry_types"] == ["MultiPolygon"]
    assert column["bbox"] == pytest.approx([-180.0, -90.0, 180.0, 83.64513])
    assert column["covering"]["bbox"]["ymax"] == ["bbox", "ymax"]
    assert parquet.metadata.num_rows == 177 and parquet.metadata.num_row_groups == 4
    first = parquet.metadata.row_group(0)
    assert first.column(0).compression == "ZSTD"
    # Row-group pruning reads the covering column's statistics.
    by_path = {first.column(i).path_in_schema: first.column(i) for i in range(first.num_columns)}
    assert by_path["bbox.xmin"].statistics.has_min_max
    assert by_path["bbox.ymax"].statistics.max <= 90
    assert parquet.schema_arrow.names == [
        "pop_est", "continent", "name", "iso_a3", "gdp_md_est", "geom", "bbox",
    ]  # fmt: skip

    back = gpd.read_parquet(out)
    original = gpd.read_file(natural_earth_shp)
    assert back.crs.to_epsg() == 4326
    assert sorted(back["name"]) == sorted(original["name"])
    fiji = back.loc[back["name"] == "Fiji", "geom"].iloc[0]
    assert fiji.equals(original.loc[original["name"] == "Fiji", "geometry"].iloc[0])
    # The covering column holds each row's own bounds.
    table = pq.read_table(out, columns=["geom", "bbox"])
    boxes = np.column_stack(
        [
            table["bbox"].combine_chunks().field(f).to_numpy()
            for f in ("xmin", "ymin", "xmax", "ymax")
        ]
    )
    geoms = shapely.from_wkb(table["geom"].to_numpy(zero_copy_only=False))
    np.testing.assert_allclose(boxes, shapely.bounds(geoms))

    # Spatially sorted in PostGIS: consecutive rows closer than in the source order.
    def mean_step(series):
        c = series.representative_point()
        return float(np.mean(np.hypot(np.diff(c.x), np.diff(c.y))))

    assert mean_step(back.geometry) < mean_step(original.geometry)
    assert mean_step(gpd.read_parquet(world).geometry) < mean_step(original.geometry)
    assert result.metadata.row_count == 177 and result.metadata.crs == "EPSG:4326"
    assert (result.null_geometries, result.empty_geometries, result.invalid_geometries) == (0, 0, 0)


@integration
def test_null_empty_and_invalid_geometries_are_counted(postgis, run_id, tmp_path: Path):
    import geopandas as gpd

    out = tmp_path / "mixed.parquet"
    with postgis.ephemeral_schema(run_id) as schema:
        with schema.connect() as conn:
            conn.execute(
                "CREATE TABLE t (id int, geom geometry(Geometry, 4326));"
                "INSERT INTO t VALUES "
                "(1, 'SRID=4326;POINT(1 2)'), "
                "(2, NULL), "
                "(3, 'SRID=4326;POLYGON EMPTY'), "
                "(4, 'SRID=4326;POLYGON((0 0, 1 1, 1 0, 0 1, 0 0))'), "  # bow tie
                "(5, 'SRID=4326;POINT(NaN 3)'), "
                "(6, 'SRID=4326;POLYGON((10 10, 11 10, 11 11, 10 10))')"
            )
            conn.commit()
        result = export_geoparquet(postgis, schema, "t", out, exclude=())

    assert result.null_geometries == 1
    assert result.empty_geometries == 1
    assert result.invalid_geometries == 2  # the bow tie and the NaN point
    assert result.metadata.geometry_types == ["Point", "Polygon"]
    # NaN does not leak into the dataset's bbox.
    assert result.metadata.bounds == pytest.approx([0.0, 0.0, 11.0, 11.0])
    back = gpd.read_parquet(out)
    assert sorted(back["id"]) == [1, 2, 3, 4, 5, 6]
    # NULL and empty geometries sort last.
    assert set(back["id"].iloc[-2:]) == {2, 3}


@integration
def test_validity_left_to_the_caller_counts_only_nonfinite(postgis, run_id, tmp_path: Path):
    """``check_validity=False`` (the recipe already knows): no GEOS test of polygons, the
    NaN point is still counted from its bbox, and the file is the same."""
    import pyarrow.parquet as pq

    with postgis.ephemeral_schema(run_id) as schema:
        with schema.connect() as conn:
            conn.execute(
                "CREATE TABLE t (id int, geom geometry(Geometry, 4326));"
                "INSERT INTO t VALUES "
                "(1, 'SRID=4326;POLYGON((0 0, 1 1, 1 0, 0 1, 0 0))'), "  # bow tie
                "(2, 'SRID=4326;POINT(NaN 3)'), "
                "(3, 'SRID=4326;POLYGON((10 10, 11 10, 11 11, 10 10))')"
            )
            conn.commit()
        checked = export_geoparquet(postgis, schema, "t", tmp_path / "a.parquet", exclude=())
        trusted = export_geoparquet(
            postgis, schema, "t", tmp_path / "b.parquet", exclude=(), check_validity=False
        )
    assert (checked.invalid_geometries, trusted.invalid_geometries) == (2, 1)
    assert checked.metadata == trusted.metadata
    a, b = (pq.read_table(tmp_path / f"{n}.parquet").sort_by("id") for n in "ab")
    assert a["geom"].equals(b["geom"]) and a["id"].equals(b["id"])
    assert repr(a["bbox"].to_pylist()) == repr(b["bbox"].to_pylist())  # NaN != NaN


@integration
def test_a_failed_export_leaves_no_file(postgis, run_id, tmp_path: Path, monkeypatch):
    out = tmp_path / "broken.parquet"

    def fail_after_first(reader, rows):
        yield from []
        raise RuntimeError("connection lost mid-stream")

    monkeypatch.setattr(geoparquet_stream, "_regroup", fail_after_first)
    with postgis.ephemeral_schema(run_id) as schema:
        with schema.connect() as conn:
            conn.execute(
                "CREATE TABLE t AS SELECT 1 AS id, 'SRID=4326;POINT(1 2)'::geometry AS geom"
            )
            conn.commit()
        with pytest.raises(RuntimeError, match="mid-stream"):
            export_geoparquet(postgis, schema, "t", out, exclude=())
    assert not out.exists()


@integration
def test_a_bbox_column_of_the_data_is_kept_and_the_covering_takes_another_name(
    postgis, run_id, tmp_path: Path
):
    import pyarrow.parquet as pq

    from etl_spatial.arrow_io import load_parquet
    from etl_spatial.geoparquet_stream import covering_column

    out = tmp_path / "x.parquet"
    with postgis.ephemeral_schema(run_id) as schema:
        with schema.connect() as conn:
            conn.execute(
                "CREATE TABLE t AS SELECT 'user box' AS bbox, 7 AS geom_bbox, "
                "'SRID=4326;POINT(1 2)'::geometry AS geom"
            )
            conn.commit()
        export_geoparquet(postgis, schema, "t", out, exclude=())
        load_parquet(postgis, schema, "back", out, geometry_column="geom")
        with schema.connect() as conn:
            back = conn.execute("SELECT bbox, geom_bbox FROM back").fetchall()
            (columns,) = conn.execute(
                "SELECT array_agg(column_name::text ORDER BY ordinal_position) FROM "
                "information_schema.columns WHERE table_schema = %s AND table_name = 'back'",
                (schema.name,),
            ).fetchone()
    table = pq.read_table(out)
    assert table.column_names == ["bbox", "geom_bbox", "geom", "geom_bbox_2"]
    assert table.column("bbox").to_pylist() == ["user box"]
    covering = json.loads(table.schema.metadata[b"geo"])["columns"]["geom"]["covering"]
    assert covering["bbox"]["xmin"] == ["geom_bbox_2", "xmin"]
    assert table.column("geom_bbox_2").to_pylist() == [
        {"xmin": 1.0, "ymin": 2.0, "xmax": 1.0, "ymax": 2.0}
    ]
    # Loaded back (the join lane's way in), the user's columns come back and the covering not.
    assert back == [("user box", 7)] and "geom_bbox_2" not in columns
    assert covering_column(["a", "geom"], "geom") == "bbox"


@integration
def test_streamed_geoparquet_loads_back_in_batches(
    postgis, run_id, natural_earth_shp: Path, tmp_path: Path
):
    """The join lane's way in: a lake GeoParquet file loaded batch by batch (here 50 rows)."""
    from etl_spatial.arrow_io import load_parquet

    out = tmp_path / "countries.parquet"
    source = VectorSource(path=str(natural_earth_shp), format="Shapefile")
    with postgis.ephemeral_schema(run_id) as schema:
        load_vector(postgis, schema, [source])
        export_geoparquet(postgis, schema, "raw_data", out)
        rows = load_parquet(postgis, schema, "back", out, geometry_column="geom", batch_rows=50)
        with schema.connect() as conn:
            srid, same, columns = conn.execute(
                "SELECT Find_SRID(%s, 'back', 'geom'), "
                "(SELECT count(*) FROM back b JOIN raw_data r USING (iso_a3, name) "
                " WHERE ST_Equals(b.geom, r.geom)), "
                "(SELECT array_agg(column_name::text ORDER BY ordinal_position) "
                " FROM information_schema.columns WHERE table_schema = %s "
                " AND table_name = 'back')",
                (schema.name, schema.name),
            ).fetchone()
    assert rows == 177 and srid == 4326 and same == 177
    assert "bbox" not in columns  # the covering column is derived data
