"""Row 6: peak RSS of the run worker through the spatial lane on a 10x input against a 1x one.

Each lane run happens in its own child process (``python bench/vector_memory.py --child
CONFIG``), the way a run worker executes one batch: it rebuilds the platform clients from the
parent's throwaway servers, runs ``run_batch(run, "spatial")`` for a manifest the parent took
in, and reports its own peak RSS (``VmHWM``, see ``benchlib.peak_rss_mb``; the GDAL and
PostgreSQL processes are not the worker's memory). With the streamed export the ratio
large/small stays near 1; a whole-table export in the worker makes it grow with the input.

Sizes: 100k and 1M points (quick: 10k and 100k), the generator of row 1.
"""

from __future__ import annotations

import json
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

from benchlib import BenchServices, Row, say, submit_and_take_in

TARGET_RATIO = 1.2
FULL_SMALL_POINTS = 100_000
CHILD_TIMEOUT = 3600


def child(config_path: str) -> int:
    """Child process: run the queued batch through the spatial lane, print peak RSS as JSON."""
    import time

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

    # Peak RSS after each phase: where the worker's memory goes.
    after: dict[str, float] = {"start": round(peak_mb(), 1)}

    def record(phase: str) -> Any:
        def wrap(func: Any) -> Any:
            def inner(*args: Any, **kwargs: Any) -> Any:
                try:
                    return func(*args, **kwargs)
                finally:
                    after[phase] = round(peak_mb(), 1)

            return inner

        return wrap

    start = time.perf_counter()
    with (
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
                "peak_after": after,
            }
        )
    )
    return 0


def measure(config: dict[str, Any], work: Path, label: str) -> dict[str, float]:
    path = work / f"vector-memory-{label}.json"
    path.write_text(json.dumps(config))
    try:
        completed = subprocess.run(
            [sys.executable, __file__, "--child", str(path)],
            capture_output=True,
            text=True,
            timeout=CHILD_TIMEOUT,
            check=False,
        )
    finally:
        path.unlink(missing_ok=True)  # it holds the throwaway servers' keys
    if completed.returncode != 0:
        raise RuntimeError(f"spatial lane child failed:\n{completed.stderr[-3000:]}")
    return json.loads(completed.stdout.strip().splitlines()[-1])


def run(bench: BenchServices, work: Path, *, scale: float) -> list[Row]:
    from vector_ingest import generate_points

    from etl_devstack.drops import Landing, file_entry, manifest_document
    from etl_pipeline.lanes import Services
    from etl_storage.ledger import Ledger

    small = max(10_000, int(FULL_SMALL_POINTS * scale))
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
    results = {}
    for label, rows in (("small", small), ("large", small * 10)):
        gpkg = work / f"memory-{label}.gpkg"
        generate_points(gpkg, rows)
        size_mb = gpkg.stat().st_size / 1e6
        uri = Landing(store).upload(f"bench/memory/{label}.gpkg", gpkg)
        gpkg.unlink()
        plan = submit_and_take_in(
            services,
            f"bench-memory-{label}.json",
            manifest_document(
                f"bench-memory-{label}",
                "ingest_vector",
                [file_entry(uri, "vector", format="GPKG")],
                dataset_id=f"bench-memory-{label}",
                uploader="bench",
            ),
        )
        measured = measure(
            {**config, "job_name": plan.job_name, "tags": dict(plan.tags)}, work, label
        )
        results[label] = {**measured, "mb": size_mb}
        say(f"row 6: {label} ({rows:,} points, {size_mb:.0f} MB): {measured}")
    s, big = results["small"], results["large"]
    return [
        Row(
            key="6-vector-memory",
            work=f"spatial lane: run-worker peak RSS on {small * 10:,} points "
            f"({big['mb']:.0f} MB GPKG in S3)",
            baseline_label=f"same on {small:,} points ({s['mb']:.0f} MB)",
            baseline=s["peak_mb"],
            ours=big["peak_mb"],
            unit="MB",
            target=TARGET_RATIO,
            phases={
                side: {
                    "seconds": round(r["seconds"], 2),
                    **{f"peak MB after {k}": v for k, v in r["peak_after"].items()},
                }
                for side, r in (("baseline", s), ("ours", big))
            },
            checks={"rows as generated": s["rows"] == small and big["rows"] == small * 10},
        )
    ]


if __name__ == "__main__" and len(sys.argv) == 3 and sys.argv[1] == "--child":
    sys.exit(child(sys.argv[2]))
