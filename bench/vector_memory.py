"""Row 6: peak RSS of the run worker through the spatial lane on a 10x input against a 1x one.

The issue's target: a 20M-point GeoPackage and a 2 GB GeoJSON go through the spatial lane and
the run worker's peak RSS on them is <= 1.2x its peak on a tenth of the size. Two pairs, one
row each:

- ``6-vector-memory-gpkg``: points GeoPackage, 20M against 2M points (quick: 100k against
  10k), the columns of row 1's ``generate_points`` (id, name, value), written batch by batch;
- ``6-vector-memory-geojson``: a GeoJSON FeatureCollection of small polygons (a square of
  five coordinates, four properties), about 2 GB against about 200 MB (quick: 50 against
  5 MB), written feature by feature: the document is never built in memory.

Each lane run happens in its own child process (``python bench/vector_memory.py --child
CONFIG``), the way a run worker executes one batch: it rebuilds the platform clients from the
parent's throwaway servers, runs ``run_batch(run, "spatial")`` for a manifest the parent took
in, and reports its own peak RSS (``VmHWM``, see ``benchlib.peak_rss_mb``) and the peak after
each phase of the lane (GDAL's command-line tools and PostgreSQL work in their own processes
and are not the worker's memory). With a streaming lane the ratio large/small stays near 1;
anything that reads a whole file or table into the worker makes it grow with the input.

Files are generated in the bench's work directory, uploaded to the landing bucket and removed
locally before the lane runs; the landing object and the lake output are deleted after each
measurement. Free disk is checked first (the file, S3's copy, the lane's download of a
GeoPackage, PostGIS's tables and sort and the output all exist at once): when it is short the
large size is scaled down and the row says so.

Standalone: ``uv run python bench/vector_memory.py [--quick] [--points N] [--geojson-mb M]
[--pairs gpkg,geojson]`` (``--points`` / ``--geojson-mb`` set the large size, e.g. a medium
check at 2M points and 200 MB).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from benchlib import BenchServices, Row, disk_free_bytes, say, submit_and_take_in

TARGET_RATIO = 1.2
SMALL_SHARE = 0.1
FULL_POINTS = 20_000_000
FULL_GEOJSON_BYTES = 2_000_000_000
QUICK_POINTS = 100_000
QUICK_GEOJSON_BYTES = 50_000_000
GPKG_BYTES_PER_POINT = 125
"""Measured: 1M generated points make a 121 MB GeoPackage."""
DISK_FACTOR = 6
"""Disk per byte of the large file while it runs: S3's copy, the lane's download (GPKG), the
raw and transformed tables, the export's sort spill, the GeoParquet and its lake copy."""
DISK_MARGIN = 2_000_000_000
CHILD_TIMEOUT_BASE = 3600.0
CHILD_TIMEOUT_PER_MB = 2.0
PAIRS = ("gpkg", "geojson")


# --- generated data --------------------------------------------------------------------------


def generate_points_streamed(path: Path, rows: int, *, chunk: int = 500_000) -> int:
    """``rows`` random points in EPSG:4326 with an integer, a text and a float attribute (the
    columns of ``vector_ingest.generate_points``), written through one Arrow stream so the
    generator holds one chunk at a time; the number of rows."""
    import numpy as np
    import pyarrow as pa
    import pyogrio
    import shapely

    rng = np.random.default_rng(42)
    schema = pa.schema(
        [
            ("id", pa.int64()),
            ("name", pa.string()),
            ("value", pa.float64()),
            ("geometry", pa.binary()),
        ]
    )

    def batches() -> Iterator[pa.RecordBatch]:
        for start in range(0, rows, chunk):
            n = min(chunk, rows - start)
            ids = np.arange(start, start + n, dtype=np.int64)
            points = shapely.points(rng.uniform(-180, 180, n), rng.uniform(-85, 85, n))
            yield pa.record_batch(
                [
                    pa.array(ids),
                    pa.array(np.char.add("point-", ids.astype(str))),
                    pa.array(rng.normal(size=n)),
                    pa.array(shapely.to_wkb(points), pa.binary()),
                ],
                schema=schema,
            )

    pyogrio.write_arrow(
        pa.RecordBatchReader.from_batches(schema, batches()),
        path,
        layer="points",
        driver="GPKG",
        geometry_name="geometry",
        geometry_type="Point",
        crs="EPSG:4326",
    )
    return rows


_CATEGORIES = ("alpha", "beta", "gamma", "delta")


def generate_geojson(path: Path, target_bytes: int, *, seed: int = 11, chunk: int = 20_000) -> int:
    """A GeoJSON FeatureCollection of about ``target_bytes`` (whole chunks of ``chunk``
    features, so it ends up to ~5 MB larger): small valid squares in EPSG:4326 with an id, a
    name, a value and a category, one feature per line. Written chunk by chunk, never built
    in memory; the number of features."""
    import numpy as np

    rng = np.random.default_rng(seed)
    rows = 0
    with path.open("w", encoding="utf-8", newline="\n") as out:
        out.write('{"type":"FeatureCollection","features":[\n')
        while rows == 0 or out.tell() < target_bytes:
            x, y = rng.uniform(-179, 179, chunk), rng.uniform(-84, 84, chunk)
            side = rng.uniform(0.001, 0.05, chunk)
            value = rng.normal(100, 15, chunk)
            category = rng.integers(0, len(_CATEGORIES), chunk)
            lines = []
            for i in range(chunk):
                x0, y0, x1, y1 = x[i], y[i], x[i] + side[i], y[i] + side[i]
                lines.append(
                    f'{{"type":"Feature","properties":{{"id":{rows + i},"name":"zone {rows + i}",'
                    f'"value":{value[i]:.3f},"category":"{_CATEGORIES[category[i]]}"}},'
                    f'"geometry":{{"type":"Polygon","coordinates":[[[{x0:.6f},{y0:.6f}],'
                    f"[{x1:.6f},{y0:.6f}],[{x1:.6f},{y1:.6f}],[{x0:.6f},{y1:.6f}],"
                    f"[{x0:.6f},{y0:.6f}]]]}}}}"
                )
            out.write(("" if rows == 0 else ",\n") + ",\n".join(lines))
            rows += chunk
        out.write("\n]}\n")
    return rows


# --- the child: one run worker ---------------------------------------------------------------


def child(config_path: str) -> int:
    """Child process: run the queued batch through the spatial lane, print peak RSS as JSON."""
    from etl_pipeline.lanes import BatchRun, Services, run_batch
    from etl_spatial.postgis import Postgis
    from etl_storage.ledger import Ledger
    from etl_storage.object_store import ObjectStore

    config = json.loads(Path(config_path).read_text())
    services = Services(
        ObjectStore(**config["store"]), Ledger(**config["ledger"]), Postgis(**config["postgis"])
    )
    run = BatchRun(
        services=services,
        dagster_run_id=str(uuid.uuid4()),
        job_name=config["job_name"],
        tags=config["tags"],
        log=lambda message: None,
    )
    from benchlib import patched
    from benchlib import peak_rss_mb as peak_mb

    import etl_spatial.geoparquet_stream as stream
    import etl_spatial.loader as loader
    import etl_transforms.vector as vector
    from etl_pipeline.lanes import publish
    from etl_pipeline.lanes import spatial as spatial_lane

    # Peak RSS after each phase (first call) and the phase's seconds: where the worker's
    # memory and time go ("load" includes "inspect").
    after: dict[str, float] = {"start": round(peak_mb(), 1)}
    took: dict[str, float] = {}

    def record(phase: str) -> Any:
        def wrap(func: Any) -> Any:
            def inner(*args: Any, **kwargs: Any) -> Any:
                began = time.perf_counter()
                try:
                    return func(*args, **kwargs)
                finally:
                    after.setdefault(phase, round(peak_mb(), 1))
                    took.setdefault(phase, round(time.perf_counter() - began, 2))

            return inner

        return wrap

    start = time.perf_counter()
    with (
        patched(spatial_lane, "local_or_vsis3", record("source")),
        patched(loader, "inspect_layer", record("inspect")),
        patched(loader, "load_vector", record("load")),
        patched(vector, "apply_vector_steps", record("recipe")),
        patched(stream, "export_geoparquet", record("export")),
        patched(publish, "publish", record("publish")),
    ):
        result = run_batch(run, "spatial")
    seconds = time.perf_counter() - start
    print(
        json.dumps(
            {
                "peak_mb": peak_mb(),
                "seconds": seconds,
                "rows": result.asset.row_count,
                "lake_key": result.asset.s3_key,
                "peak_after": after,
                "phase_seconds": took,
            }
        )
    )
    return 0


def measure(config: dict[str, Any], work: Path, label: str, size_mb: float) -> dict[str, Any]:
    path = work / f"vector-memory-{label}.json"
    path.write_text(json.dumps(config))
    try:
        completed = subprocess.run(
            [sys.executable, __file__, "--child", str(path)],
            capture_output=True,
            text=True,
            timeout=CHILD_TIMEOUT_BASE + CHILD_TIMEOUT_PER_MB * size_mb,
            check=False,
        )
    finally:
        path.unlink(missing_ok=True)  # it holds the throwaway servers' keys
    if completed.returncode != 0:
        raise RuntimeError(f"spatial lane child failed:\n{completed.stderr[-3000:]}")
    return json.loads(completed.stdout.strip().splitlines()[-1])


# --- the parent ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Pair:
    """One row: a data kind measured at ``large`` and ``large * SMALL_SHARE``."""

    name: str  # gpkg | geojson
    large: int  # points (gpkg) or bytes (geojson)

    @property
    def format(self) -> str:
        return "GPKG" if self.name == "gpkg" else "GeoJSON"

    @property
    def suffix(self) -> str:
        return ".gpkg" if self.name == "gpkg" else ".geojson"

    def size_bytes(self, size: int) -> int:
        return size * GPKG_BYTES_PER_POINT if self.name == "gpkg" else size

    def from_bytes(self, size_bytes: int) -> int:
        return size_bytes // GPKG_BYTES_PER_POINT if self.name == "gpkg" else size_bytes

    def generate(self, path: Path, size: int) -> int:
        if self.name == "gpkg":
            return generate_points_streamed(path, size)
        return generate_geojson(path, size)

    def describe(self, rows: int, size_mb: float) -> str:
        if self.name == "gpkg":
            return f"{rows:,} points ({size_mb:,.0f} MB GPKG)"
        return f"{rows:,} polygons ({size_mb:,.0f} MB GeoJSON)"


def fit_to_disk(pair: Pair, work: Path) -> tuple[Pair, list[str]]:
    """``pair``, its large size scaled down when the work directory's disk cannot hold it."""
    free = disk_free_bytes(work)
    needed = pair.size_bytes(pair.large) * DISK_FACTOR + DISK_MARGIN
    if needed <= free:
        return pair, []
    shrunk = max(pair.from_bytes(10_000_000), pair.from_bytes((free - DISK_MARGIN) // DISK_FACTOR))
    unit = "points" if pair.name == "gpkg" else "bytes"
    message = (
        f"only {free / 1e9:.1f} GB free in {work} (needs ~{needed / 1e9:.1f} GB): large "
        f"{pair.format} scaled down from {pair.large:,} to {shrunk:,} {unit}"
    )
    say(f"row 6 {pair.name}: {message}")
    return Pair(pair.name, shrunk), [message]


def run_pair(bench: BenchServices, work: Path, pair: Pair) -> Row:
    from etl_devstack.drops import Landing, file_entry, manifest_document
    from etl_pipeline.lanes import Services
    from etl_storage.ledger import Ledger

    pair, notes = fit_to_disk(pair, work)
    store = bench.object_store()
    ledger_db = f"bench_{uuid.uuid4().hex[:8]}"
    services = Services(
        store, Ledger(connection_string=bench.mongo_uri, database=ledger_db), bench.postgis()
    )
    config = {
        "store": {
            "endpoint": bench.s3_endpoint,
            "access_key": bench.access_key,
            "secret_key": bench.secret_key,
            "landing_bucket": store.landing_bucket,
            "lake_bucket": store.lake_bucket,
        },
        "ledger": {"connection_string": bench.mongo_uri, "database": ledger_db},
        "postgis": {"database": bench.database, **bench.postgres_settings()},
    }
    results: dict[str, dict[str, Any]] = {}
    for label, size in (("small", int(pair.large * SMALL_SHARE)), ("large", pair.large)):
        source = work / f"memory-{pair.name}-{label}{pair.suffix}"
        started = time.perf_counter()
        rows = pair.generate(source, size)
        size_mb = source.stat().st_size / 1e6
        say(
            f"row 6 {pair.name}: generated {pair.describe(rows, size_mb)} "
            f"in {time.perf_counter() - started:.0f}s"
        )
        key = f"bench/memory/{pair.name}-{label}{pair.suffix}"
        try:
            uri = Landing(store).upload(key, source)
        finally:
            source.unlink(missing_ok=True)
        batch = f"bench-memory-{pair.name}-{label}"
        try:
            plan = submit_and_take_in(
                services,
                f"{batch}.json",
                manifest_document(
                    batch,
                    "ingest_vector",
                    [file_entry(uri, "vector", format=pair.format)],
                    dataset_id=batch,
                    uploader="bench",
                ),
            )
            measured = measure(
                {**config, "job_name": plan.job_name, "tags": dict(plan.tags)},
                work,
                f"{pair.name}-{label}",
                size_mb,
            )
        finally:
            store.client.remove_object(store.landing_bucket, key)
        store.delete_lake_object(measured["lake_key"])
        results[label] = {**measured, "mb": size_mb, "generated": rows}
        say(f"row 6 {pair.name}: {label}: {measured}")
    s, big = results["small"], results["large"]
    notes.append(
        f"throughput: small {s['mb'] / s['seconds']:.1f} MB/s, "
        f"large {big['mb'] / big['seconds']:.1f} MB/s"
    )
    return Row(
        key=f"6-vector-memory-{pair.name}",
        work=f"spatial lane: run-worker peak RSS on {pair.describe(big['generated'], big['mb'])}"
        " in S3",
        baseline_label=f"same on {pair.describe(s['generated'], s['mb'])}",
        baseline=s["peak_mb"],
        ours=big["peak_mb"],
        unit="MB",
        target=TARGET_RATIO,
        phases={
            side: {
                "seconds": round(r["seconds"], 2),
                **{f"peak MB after {k}": v for k, v in r["peak_after"].items()},
                **{f"{k} s": v for k, v in r["phase_seconds"].items()},
            }
            for side, r in (("baseline", s), ("ours", big))
        },
        checks={
            "rows as generated": s["rows"] == s["generated"] and big["rows"] == big["generated"]
        },
        notes=notes,
    )


def pairs_for(
    scale: float, *, points: int | None = None, geojson_bytes: int | None = None
) -> list[Pair]:
    """The two pairs: full sizes at ``scale`` 1, the quick ones below it; explicit large
    sizes win."""
    quick = scale < 1
    return [
        Pair("gpkg", points or (QUICK_POINTS if quick else FULL_POINTS)),
        Pair("geojson", geojson_bytes or (QUICK_GEOJSON_BYTES if quick else FULL_GEOJSON_BYTES)),
    ]


def run(
    bench: BenchServices,
    work: Path,
    *,
    scale: float,
    points: int | None = None,
    geojson_bytes: int | None = None,
    only: tuple[str, ...] = PAIRS,
) -> list[Row]:
    """Row 6: one row per pair (GeoPackage points, GeoJSON polygons). A pair that fails does
    not stop the other: the error is raised at the end and carries the finished rows
    (``error.rows``, which ``run.py`` reports)."""
    rows: list[Row] = []
    errors: list[str] = []
    for pair in pairs_for(scale, points=points, geojson_bytes=geojson_bytes):
        if pair.name not in only:
            continue
        try:
            rows.append(run_pair(bench, work, pair))
        except Exception as exc:
            errors.append(f"{pair.name}: {type(exc).__name__}: {exc}")
            say(f"row 6 {errors[-1]}")
    if errors:
        failure = RuntimeError("; ".join(errors))
        failure.rows = rows  # type: ignore[attr-defined]
        raise failure
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="quick sizes (100k points, 50 MB)")
    parser.add_argument("--points", type=int, help="large GeoPackage size in points")
    parser.add_argument("--geojson-mb", type=float, help="large GeoJSON size in MB")
    parser.add_argument("--pairs", default=",".join(PAIRS), help="gpkg, geojson or both")
    args = parser.parse_args()
    only = tuple(p.strip() for p in args.pairs.split(",") if p.strip())
    if set(only) - set(PAIRS):
        parser.error(f"--pairs: choose from {', '.join(PAIRS)}")
    geojson_bytes = int(args.geojson_mb * 1e6) if args.geojson_mb else None
    with tempfile.TemporaryDirectory(prefix="bench-vector-memory-") as tmp:
        bench = BenchServices(Path(tmp)).start()
        failed = None
        try:
            rows = run(
                bench,
                Path(tmp),
                scale=0.05 if args.quick else 1.0,
                points=args.points,
                geojson_bytes=geojson_bytes,
                only=only,
            )
        except RuntimeError as exc:
            rows, failed = getattr(exc, "rows", []), exc
        finally:
            bench.stop()
    for row in rows:
        print(
            f"{row.key}: {row.work}: {row.baseline:.0f} MB -> {row.ours:.0f} MB, "
            f"ratio {row.ratio:.2f} (target <= {row.target}), checks {row.checks}"
        )
        for side, phases in row.phases.items():
            print(f"  {side}: {phases}")
        for note in row.notes:
            print(f"  {note}")
    if failed is not None:
        print(f"ERROR {failed}")
    return 0 if failed is None and all(row.met for row in rows) else 1


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--child":
        sys.exit(child(sys.argv[2]))
    sys.exit(main())
