"""From a real file to transformed and joined tables: etl_spatial's loader and run schema, then
the transformation steps of this package, all on the real PostGIS."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from psycopg import sql

from etl_spatial.loader import VectorSource, load_vector
from etl_transforms.join import JoinSpec, run_join
from etl_transforms.tabular import csv_to_parquet
from etl_transforms.vector import apply_vector_steps
from etl_transforms.vector_sql import VectorSteps

pytestmark = pytest.mark.integration

X0, Y0 = 320000, 5810000


def _square(x: float, y: float, size: float = 100) -> list[list[float]]:
    return [[x, y], [x + size, y], [x + size, y + size], [x, y + size], [x, y]]


def _feature(code: str, geometry: dict | None) -> dict:
    return {"type": "Feature", "properties": {"code": code}, "geometry": geometry}


@pytest.fixture
def suburbs_geojson(tmp_path: Path) -> Path:
    """Legacy GeoJSON with an EPSG:28355 'crs' member: a Polygon, a MultiPolygon, a bow-tie,
    an empty polygon and a feature without geometry."""
    bowtie = [[X0, Y0], [X0 + 100, Y0 + 100], [X0 + 100, Y0], [X0, Y0 + 100], [X0, Y0]]
    document = {
        "type": "FeatureCollection",
        "crs": {"type": "name", "properties": {"name": "urn:ogc:def:crs:EPSG::28355"}},
        "features": [
            _feature("001", {"type": "Polygon", "coordinates": [_square(X0, Y0)]}),
            _feature(
                "002",
                {
                    "type": "MultiPolygon",
                    "coordinates": [[_square(X0 + 200, Y0)], [_square(X0 + 400, Y0)]],
                },
            ),
            _feature("003", {"type": "Polygon", "coordinates": [bowtie]}),
            _feature("004", {"type": "Polygon", "coordinates": []}),
            _feature("005", None),
        ],
    }
    path = tmp_path / "suburbs.geojson"
    path.write_text(json.dumps(document), encoding="utf-8")
    return path


def test_loaded_file_is_transformed_then_joined(postgis, suburbs_geojson, tmp_path):
    # Census table with leading-zero codes, one without a suburb.
    census_csv = tmp_path / "census.csv"
    census_csv.write_text("Suburb Code,Population\n001,120\n003,75\n009,8\n", encoding="utf-8")
    census_parquet = tmp_path / "census.parquet"
    tabular = csv_to_parquet(census_csv, census_parquet)
    assert tabular.string_id_columns == ("suburb_code",)

    # the legacy lane's building-footprints recipe
    steps = VectorSteps(make_valid=True, drop_empty=True, simplify_tolerance_m=None)
    assert isinstance(steps, VectorSteps)
    with postgis.ephemeral_schema(str(uuid.uuid4())) as run_schema:
        loaded = load_vector(postgis, run_schema, [VectorSource(path=str(suburbs_geojson))])
        assert loaded.row_count == 5

        with run_schema.connect(autocommit=True) as conn:
            report = apply_vector_steps(conn, run_schema, steps)
            assert report.source_crs == "EPSG:28355"
            assert report.rows_in == 5
            assert report.rows_out == 3
            assert report.repaired_count == 1
            # GDAL may read the empty polygon as NULL or as empty; either way it is dropped.
            assert report.dropped_null_count + report.dropped_empty_count == 2
            assert report.collapsed_count == 0
            assert report.geometry_types == ("MULTIPOLYGON",)
            invalid = conn.execute(
                sql.SQL(
                    "SELECT count(*) FILTER (WHERE NOT ST_IsValid(geom)), "
                    "count(*) FILTER (WHERE ST_SRID(geom) <> 4326) FROM {}"
                ).format(run_schema.table("transformed"))
            ).fetchone()
            assert invalid == (0, 0)

            # The tabular dataset, as the join lane would load it from the lake.
            census = pq.read_table(census_parquet).to_pylist()
            conn.execute(
                sql.SQL("CREATE TABLE {} (suburb_code text, population bigint)").format(
                    run_schema.table("census")
                )
            )
            with conn.cursor() as cur:
                cur.executemany(
                    sql.SQL("INSERT INTO {} VALUES (%s, %s)").format(run_schema.table("census")),
                    [(r["suburb_code"], r["population"]) for r in census],
                )
            joined = run_join(
                conn,
                run_schema,
                tabular_table="census",
                spatial_table="transformed",
                spec=JoinSpec(left_key="suburb_code", right_key="code", how="left"),
            )
            rows = conn.execute(
                sql.SQL(
                    "SELECT suburb_code, population, code, GeometryType(geom) FROM {} "
                    "ORDER BY suburb_code"
                ).format(run_schema.table("joined"))
            ).fetchall()
        assert rows == [
            ("001", 120, "001", "MULTIPOLYGON"),
            ("003", 75, "003", "MULTIPOLYGON"),
            ("009", 8, None, None),
        ]
        assert joined.match_rate == pytest.approx(2 / 3)
        assert joined.unmatched_tabular_keys.sample == ("009",)
        assert joined.unmatched_spatial_keys.sample == ("002",)
