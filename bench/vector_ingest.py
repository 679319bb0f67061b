"""Row 1: generated vector data (GPKG in S3) -> GeoParquet in the lake, PostGIS path vs direct.

Both paths read the same GeoPackage from the throwaway S3 server and write GeoParquet with the
same writer (Hilbert sort, zstd, bbox covering, 100k-row groups):

- baseline: pyogrio (in-process GDAL, Arrow) -> geopandas -> GeoParquet (a local file)
- ours:     the spatial lane's runner (``etl_pipeline.lanes.process_spatial``) for a manifest
            taken in by a real intake tick: ledger start, content hash, ogrinfo + ogr2ogr
            /vsis3/ -> PostGIS run schema (UNLOGGED, COPY), the recipe (repair, reprojection,
            type normalisation: one materialisation), ADBC export, GeoParquet, the quality
            facts, then the write-once lake upload, STAC item and ledger records.

Two data sets: points (id, name, value) and polygons of about 20 vertices, 1% of them
self-intersecting (bow ties), which the recipe repairs. Phases of ours are timed by wrapping
the functions the lane runner calls.

Standalone: ``uv run python bench/vector_ingest.py [--quick]`` (also part of ``make bench``).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path
from typing import Any

from benchlib import (
    BenchServices,
    PhaseTimer,
    Row,
    batch_run,
    patched,
    say,
    submit_and_take_in,
    timed_function,
)

TARGET_RATIO = 1.2
FULL_POINTS = 1_000_000
FULL_POLYGONS = 100_000
VERTICES = 20
SELF_INTERSECTING_SHARE = 0.01


def generate_points(path: Path, rows: int) -> None:
    """``rows`` random points in EPSG:4326 with an integer, a text and a float attribute."""
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


def polygon_frame(rows: int, *, seed: int = 7, key_column: str = "zone_id") -> Any:
    """``rows`` star-shaped polygons of ``VERTICES`` vertices (a few bow ties), EPSG:4326."""
    import geopandas as gpd
    import numpy as np
    import shapely

    rng = np.random.default_rng(seed)
    centres = np.column_stack([rng.uniform(-170, 170, rows), rng.uniform(-80, 80, rows)])
    angles = np.sort(rng.uniform(0, 2 * np.pi, (rows, VERTICES)), axis=1)
    radii = rng.uniform(0.02, 0.2, (rows, VERTICES))
    ring = np.empty((rows, VERTICES + 1, 2))
    ring[:, :VERTICES, 0] = centres[:, :1] + radii * np.cos(angles)
    ring[:, :VERTICES, 1] = centres[:, 1:] + radii * np.sin(angles)
    # Self-intersections: swap two non-adjacent vertices of a few rings (a bow tie).
    broken = rng.choice(rows, size=max(1, int(rows * SELF_INTERSECTING_SHARE)), replace=False)
    ring[broken, 2], ring[broken, VERTICES // 2] = (
        ring[broken, VERTICES // 2].copy(),
        ring[broken, 2].copy(),
    )
    ring[:, VERTICES] = ring[:, 0]
    geometries = shapely.polygons(ring)
    return gpd.GeoDataFrame(
        {
            key_column: np.char.add("Z", np.arange(rows).astype(str)),
            "name": np.char.add("zone ", np.arange(rows).astype(str)),
            "area_class": rng.integers(1, 6, rows).astype(np.int32),
        },
        geometry=geometries,
        crs="EPSG:4326",
    )


def generate_polygons(path: Path, rows: int) -> int:
    """Write the polygons to a GeoPackage; the number of invalid (self-intersecting) ones."""
    import pyogrio

    frame = polygon_frame(rows)
    pyogrio.write_dataframe(frame, path, layer="polygons", driver="GPKG", use_arrow=True)
    return int((~frame.geometry.is_valid).sum())


def baseline(vsis3_path: str, gdal_env: dict[str, str], out: Path) -> PhaseTimer:
    """Direct conversion: pyogrio (Arrow) -> geopandas -> GeoParquet."""
    import pyogrio

    from etl_spatial.writers import write_geoparquet

    timer = PhaseTimer()
    # pyogrio's GDAL is in-process: S3 settings become process-wide config options.
    pyogrio.set_gdal_config_options(gdal_env)
    with timer("read (pyogrio arrow)"):
        frame = pyogrio.read_dataframe(vsis3_path, use_arrow=True)
    with timer("sort+write GeoParquet"):
        info = write_geoparquet(frame, out)
    assert info.row_count == len(frame)
    return timer


def ours(services: Any, plan: Any) -> tuple[PhaseTimer, Any]:
    """The spatial lane runner with its phases timed."""
    import etl_spatial.arrow_io as arrow_io
    import etl_spatial.loader as loader
    import etl_spatial.writers as writers
    import etl_transforms.vector as vector
    from etl_pipeline import lanes

    timer = PhaseTimer()
    with (
        patched(loader, "load_vector", timed_function(timer, "ogrinfo+ogr2ogr -> PostGIS")),
        patched(vector, "apply_vector_steps", timed_function(timer, "recipe (one CTAS)")),
        patched(arrow_io, "export_geodataframe", timed_function(timer, "ADBC export + WKB")),
        patched(writers, "write_geoparquet", timed_function(timer, "sort+write GeoParquet")),
        patched(lanes, "_publish", timed_function(timer, "lake upload+STAC+ledger")),
        timer("total"),
    ):
        result = lanes.process_spatial(batch_run(services, plan))
    total = timer.phases.pop("total")
    timer.phases["other (ledger, hash, quality facts)"] = total - timer.total
    return timer, result


def run_dataset(bench: BenchServices, work: Path, kind: str, rows: int, *, repeat: int = 1) -> Row:
    """Generate one data set, upload it, and measure baseline and ours on it."""
    from etl_devstack.drops import Landing, file_entry, manifest_document

    gpkg = work / f"{kind}.gpkg"
    note = ""
    if kind == "points":
        generate_points(gpkg, rows)
    else:
        invalid = generate_polygons(gpkg, rows)
        note = f"{invalid} self-intersecting polygons in the source (repaired by ours)"
    say(f"row 1: generated {rows:,} {kind} GPKG ({gpkg.stat().st_size / 1e6:.0f} MB)")
    services = bench.platform()
    uri = Landing(services.store).upload(f"bench/{kind}/{kind}.gpkg", gpkg)
    gpkg.unlink()
    gdal_env = services.store.gdal_s3_env()
    vsis3 = services.store.vsis3_path(uri)
    base_runs, our_runs = [], []
    for attempt in range(repeat):
        # Alternate the order so neither side always runs on a warm page cache.
        base = baseline(vsis3, gdal_env, work / f"baseline-{kind}-{attempt}.parquet")
        say(f"row 1 {kind}: baseline {base.total:.2f}s {base.rounded()}")
        plan = submit_and_take_in(
            services,
            f"bench-{kind}-{attempt}.json",
            manifest_document(
                f"bench-{kind}-{attempt}",
                "ingest_vector",
                [file_entry(uri, "vector", format="GPKG")],
                dataset_id=f"bench-{kind}-{attempt}",
                uploader="bench",
            ),
        )
        our, result = ours(services, plan)
        say(f"row 1 {kind}: ours {our.total:.2f}s {our.rounded()}")
        if result.asset.row_count != rows:
            raise RuntimeError(f"{kind}: ours wrote {result.asset.row_count} rows of {rows}")
        base_runs.append(base)
        our_runs.append(our)
    best_base = min(base_runs, key=lambda t: t.total)
    best_ours = min(our_runs, key=lambda t: t.total)
    row = Row(
        key=f"1-{kind}",
        work=f"vector ingest: {rows:,} {kind} GPKG (S3) -> GeoParquet in the lake",
        baseline_label="pyogrio+geopandas -> GeoParquet",
        baseline=best_base.total,
        ours=best_ours.total,
        unit="s",
        target=TARGET_RATIO,
        phases={"baseline": best_base.rounded(), "ours": best_ours.rounded()},
    )
    if note:
        row.notes.append(note)
    if repeat > 1:
        row.notes.append(f"best of {repeat} runs each")
    return row


def run(bench: BenchServices, work: Path, *, scale: float, repeat: int = 1) -> list[Row]:
    """Row 1 for points and polygons at ``scale`` of the full sizes."""
    return [
        run_dataset(bench, work, "points", int(FULL_POINTS * scale), repeat=repeat),
        run_dataset(bench, work, "polygons", int(FULL_POLYGONS * scale), repeat=repeat),
    ]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="1/20th of the full sizes")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-vector-") as tmp:
        bench = BenchServices(Path(tmp)).start()
        try:
            rows = run(bench, Path(tmp), scale=0.05 if args.quick else 1.0)
        finally:
            bench.stop()
    for row in rows:
        print(f"{row.work}: {row.baseline:.2f}s vs {row.ours:.2f}s, ratio {row.ratio:.2f}")
        for side, phases in row.phases.items():
            print(f"  {side}: {phases}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
