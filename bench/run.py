"""The benchmark suite (``make bench``): every row a ratio against a baseline of the same run.

Rows (see docs/performance.md and each module's docstring):

1. vector ingest (``vector_ingest.py``): 1M points and 100k polygons, GPKG in S3 -> GeoParquet
   in the lake through the spatial lane, against "direct" (download + pyogrio + make_valid +
   to_crs + the same GeoParquet writer; target <= 1.3) and the floor (download + DuckDB
   spatial -> Parquet; informational).
2. small-batch latency (``small_batch.py``): upload -> ledger success through the deployed
   platform, against launch -> success of an empty one-step job.           target <= 1.5
3. sensor scaling (``sensor_scaling.py``): one tick with 5,000 pending manifests against a
   bare list + read; a second tick reads no manifest body.                target <= 1.5
4. tabular memory (``tabular_memory.py``): peak RSS on a 2 GB CSV against a 200 MB one.
                                                                            target <= 1.2
5. join (``join.py``): 1M rows onto 100k polygons against hand-written SQL (the floor).
6. vector memory (``vector_memory.py``): run-worker peak RSS through the spatial lane on a
   20M-point GPKG against 2M points, and on a ~2 GB GeoJSON against ~200 MB (quick: 100k
   against 10k points, ~50 against ~5 MB); one row each.                  target <= 1.2
7. small-batch drain (``small_batch_drain.py``): 200 small batches dropped at once on a deployed
   platform with default settings, batches per hour from the last upload to all ledger
   success, against the empty-job floor (max concurrent runs / empty-job time).
                                                                            target >= 0.8

Usage: ``uv run python bench/run.py [--quick] [--only 1,3] [--out DIR]``. It starts its own
throwaway S3 and Mongo servers (and, for rows 2 and 7, a whole platform each) on free ports,
uses the local PostgreSQL (``POSTGRES_*``, database ``spatial_compute_bench_<hex>``) and stops
everything at the end. Results: a table on stdout, ``results-{quick,full}.json`` and ``.md``
in ``--out``.
"""

from __future__ import annotations

import argparse
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from benchlib import BenchServices, Row, say, write_json

ROWS = ("1", "2", "3", "4", "5", "6", "7")
QUICK_SCALE = 0.05
DRAIN_BATCHES = 200  # row 7 (20 with --quick)
DRAIN_BATCHES_QUICK = 20


def machine() -> dict[str, Any]:
    """What the numbers were measured on (and how busy it was)."""
    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    memory_gb = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 1e9
    return {
        "nproc": os.cpu_count(),
        "cpu": cpu,
        "memory_gb": round(memory_gb, 1),
        "python": platform.python_version(),
        "kernel": platform.release(),
        "load_average_at_start": [round(x, 2) for x in os.getloadavg()],
    }


def _format(value: float, unit: str) -> str:
    return f"{value:.2f} {unit}" if unit == "s" else f"{value:.0f} {unit}"


def _target(row: Row) -> str:
    if row.target is None:
        return "floor (none)"
    return f"{'>=' if row.target_is_minimum else '<='} {row.target}"


def table(rows: list[Row]) -> str:
    lines = [
        "| row | work | baseline | baseline value | ours | ratio | target | met? |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for row in rows:
        target = _target(row)
        met = {True: "yes", False: "NO", None: "-"}[row.met]
        checks = "".join(
            f"<br>{'ok' if ok else 'FAILED'}: {name}" for name, ok in row.checks.items()
        )
        lines.append(
            f"| {row.key} | {row.work}{checks} | {row.baseline_label} | "
            f"{_format(row.baseline, row.unit)} | {_format(row.ours, row.unit)} | "
            f"{row.ratio:.2f} | {target} | {met} |"
        )
    return "\n".join(lines)


def details(rows: list[Row]) -> str:
    out = []
    for row in rows:
        out.append(f"- **{row.key}**")
        for side, phases in row.phases.items():
            parts = ", ".join(f"{k} {v}" for k, v in phases.items())
            out.append(f"  - {side}: {parts}")
        for note in row.notes:
            out.append(f"  - {note}")
    return "\n".join(out)


def main() -> int:
    parser = argparse.ArgumentParser(description="Platform benchmark suite (ratios vs baselines).")
    parser.add_argument("--quick", action="store_true", help=f"sizes x{QUICK_SCALE} (minutes)")
    parser.add_argument("--only", default=",".join(ROWS), help="rows to run, e.g. 1,3")
    parser.add_argument("--out", type=Path, default=Path("bench/results"), help="result folder")
    parser.add_argument(
        "--batches", type=int, default=10, help="row 2: batches (median); row 7: empty-job runs"
    )
    args = parser.parse_args()
    only = [r.strip() for r in args.only.split(",") if r.strip()]
    unknown = sorted(set(only) - set(ROWS))
    if unknown:
        parser.error(f"--only: unknown row(s) {unknown}; choose from {', '.join(ROWS)}")
    scale = QUICK_SCALE if args.quick else 1.0
    info = machine()
    say(f"machine: {info}")
    rows: list[Row] = []
    failures: list[str] = []
    started = time.time()
    with tempfile.TemporaryDirectory(prefix="etl-bench-") as tmp:
        work = Path(tmp)
        needs_services = any(r in only for r in ("1", "3", "5", "6"))
        bench = BenchServices(work).start() if needs_services else None
        try:
            for key in only:
                say(f"row {key}: start")
                try:
                    rows.extend(_run_row(key, bench, work, scale, args.batches, args.quick))
                except Exception as exc:  # one broken row must not hide the others
                    rows.extend(getattr(exc, "rows", []))  # what a partly failed row finished
                    failures.append(f"row {key}: {type(exc).__name__}: {exc}")
                    say(failures[-1])
        finally:
            if bench is not None:
                bench.stop()
    elapsed = time.time() - started
    command = "uv run python bench/run.py " + " ".join(sys.argv[1:])
    text = table(rows)
    print(text)
    print()
    print(details(rows))
    for failure in failures:
        print(f"\nERROR {failure}")
    args.out.mkdir(parents=True, exist_ok=True)
    name = "quick" if args.quick else "full"
    write_json(
        args.out / f"results-{name}.json",
        {
            "command": command,
            "machine": info,
            "load_average_at_end": [round(x, 2) for x in os.getloadavg()],
            "elapsed_s": round(elapsed, 1),
            "git": _git_revision(),
            "rows": [r.as_dict() for r in rows],
            "errors": failures,
        },
    )
    (args.out / f"results-{name}.md").write_text(
        f"`{command}` ({elapsed:.0f} s) on {info['nproc']} x {info['cpu']}, "
        f"{info['memory_gb']} GB, load {info['load_average_at_start']}\n\n{text}\n\n"
        f"{details(rows)}\n" + "".join(f"\nERROR {f}\n" for f in failures)
    )
    say(f"results in {args.out}/results-{name}.json and .md ({elapsed:.0f} s)")
    return 1 if failures else 0


def _run_row(
    key: str, bench: BenchServices | None, work: Path, scale: float, batches: int, quick: bool
) -> list[Row]:
    if key == "1":
        import vector_ingest

        return vector_ingest.run(bench, work, scale=scale)
    if key == "2":
        import small_batch

        return small_batch.run(work, batches=3 if quick else batches)
    if key == "3":
        import sensor_scaling

        return sensor_scaling.run(bench, work, scale=scale)
    if key == "4":
        import tabular_memory

        return tabular_memory.run(work, scale=scale)
    if key == "7":
        import small_batch_drain

        return small_batch_drain.run(
            work,
            batches=DRAIN_BATCHES_QUICK if quick else DRAIN_BATCHES,
            floor_runs=3 if quick else batches,
        )
    if key == "6":
        import vector_memory

        return vector_memory.run(bench, work, scale=scale)
    import join

    return join.run(bench, work, scale=scale)


def _git_revision() -> str:
    try:
        return subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            timeout=10,
            check=False,
        ).stdout.strip()
    except OSError:
        return "unknown"


if __name__ == "__main__":
    sys.exit(main())
