"""Benchmark: generated points (GPKG in S3) -> GeoParquet, PostGIS path vs direct conversion.

Both paths read the same GeoPackage from a throwaway S3 server (moto, started here) and write
GeoParquet with the same writer (Hilbert sort, zstd, bbox covering, 100k-row groups):

- baseline: pyogrio (in-process GDAL, Arrow) -> geopandas -> GeoParquet
- ours:     ogr2ogr /vsis3/ -> PostGIS run schema (UNLOGGED, COPY) -> ADBC -> geopandas
            -> GeoParquet, the path every spatial run takes

Usage: uv run python bench/vector_ingest.py [--rows 1000000]
Needs the local PostgreSQL with PostGIS (POSTGRES_* environment, default 127.0.0.1:5432).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
import uuid
from contextlib import contextmanager
from pathlib import Path

TARGET_RATIO = 1.2


@contextmanager
def timed(label: str, stages: dict[str, float]):
    start = time.perf_counter()
    yield
    stages[label] = time.perf_counter() - start


def generate_points(path: Path, rows: int) -> None:
    import geopandas as gpd
    import numpy as np
    import pyogrio
    import shapely

    rng = np.random.default_rng(42)
    frame = gpd.GeoDataFrame(
        {
            "id": np.arange(rows, dtype=np.int64),
            "name": np.char.add("point-", np.arange(rows).astype(str)),
            "value": rng.normal(size=rows),
        },
        geometry=shapely.points(rng.uniform(-180, 180, rows), rng.uniform(-85, 85, rows)),
        crs="EPSG:4326",
    )
    pyogrio.write_dataframe(frame, path, layer="points", driver="GPKG", use_arrow=True)


def baseline(vsis3_path: str, gdal_env: dict[str, str], out: Path) -> dict[str, float]:
    import pyogrio

    from etl_spatial.writers import write_geoparquet

    stages: dict[str, float] = {}
    # pyogrio's GDAL is in-process: S3 settings become process-wide config options.
    pyogrio.set_gdal_config_options(gdal_env)
    with timed("read (pyogrio arrow)", stages):
        frame = pyogrio.read_dataframe(vsis3_path, use_arrow=True)
    with timed("sort+write GeoParquet", stages):
        info = write_geoparquet(frame, out)
    assert info.row_count == len(frame)
    return stages


def ours(vsis3_path: str, gdal_env: dict[str, str], out: Path, postgis) -> dict[str, float]:
    from etl_spatial.arrow_io import export_geodataframe
    from etl_spatial.loader import VectorSource, load_vector
    from etl_spatial.writers import write_geoparquet

    stages: dict[str, float] = {}
    with postgis.ephemeral_schema(str(uuid.uuid4())) as schema:
        with timed("ogrinfo + ogr2ogr -> PostGIS", stages):
            report = load_vector(
                postgis, schema, [VectorSource(path=vsis3_path, format="GPKG")], gdal_env=gdal_env
            )
        with timed("ADBC export + WKB decode", stages):
            frame = export_geodataframe(postgis, schema, "raw_data")
        with timed("sort+write GeoParquet", stages):
            info = write_geoparquet(frame, out)
    assert info.row_count == report.row_count == len(frame)
    return stages


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--database", default="spatial_compute_bench")
    args = parser.parse_args()

    from etl_devstack.services import ensure_buckets, ensure_postgis_database, free_port, s3_server
    from etl_spatial.gdal import s3_environment
    from etl_spatial.postgis import PostgisResource

    postgis = PostgisResource(
        host=os.environ.get("POSTGRES_HOST", "127.0.0.1"),
        port=int(os.environ.get("POSTGRES_PORT", "5432")),
        user=os.environ.get("POSTGRES_USER", "postgres"),
        password=os.environ.get("POSTGRES_PASSWORD", ""),
        database=args.database,
    )
    ensure_postgis_database(
        postgis.database,
        host=postgis.host,
        port=postgis.port,
        user=postgis.user,
        password=postgis.password,
    )
    with tempfile.TemporaryDirectory(prefix="bench-vector-") as tmp:
        work = Path(tmp)
        gpkg = work / "points.gpkg"
        start = time.perf_counter()
        generate_points(gpkg, args.rows)
        print(
            f"generated {args.rows:,} points GPKG ({gpkg.stat().st_size / 1e6:.0f} MB) "
            f"in {time.perf_counter() - start:.1f}s",
            file=sys.stderr,
        )
        port = free_port()
        server = s3_server(port, work / "s3.log").start()
        try:
            endpoint, key, secret = f"127.0.0.1:{port}", "bench", "bench-secret"
            ensure_buckets(endpoint, key, secret, ["landing-zone"])
            from minio import Minio

            Minio(endpoint, access_key=key, secret_key=secret, secure=False).fput_object(
                "landing-zone", "bench/points.gpkg", str(gpkg)
            )
            gdal_env = s3_environment(endpoint, key, secret)
            path = "/vsis3/landing-zone/bench/points.gpkg"
            base = baseline(path, gdal_env, work / "baseline.parquet")
            our = ours(path, gdal_env, work / "ours.parquet", postgis)
        finally:
            server.stop()

    base_total, our_total = sum(base.values()), sum(our.values())
    ratio = our_total / base_total
    print("| work | baseline s | ours s | ratio | target |")
    print("|---|---|---|---|---|")
    print(
        f"| {args.rows:,} points GPKG (S3) -> GeoParquet | {base_total:.2f} | {our_total:.2f} "
        f"| {ratio:.2f} | <= {TARGET_RATIO} |"
    )
    print("\nwhere the time goes:")
    for name, stages in (("baseline", base), ("ours", our)):
        for stage, seconds in stages.items():
            print(f"  {name:9s} {stage:32s} {seconds:6.2f}s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
