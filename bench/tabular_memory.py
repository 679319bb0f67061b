"""Row 4: peak RSS of ``csv_to_parquet`` on a large generated CSV against a 10x smaller one.

Each conversion runs in its own child process (``python bench/tabular_memory.py --child SRC
DST``), which reports its own peak RSS (``VmHWM``, see ``benchlib.peak_rss_mb``): the ratio
large/small is ~1 when memory is bounded by the streaming block size and ~10 when it grows
with the file. The CSVs (an id with leading zeros, a date, a category, two numbers and a free
text column) are generated on local disk; free space is checked first and the sizes scaled
down, with a message, when the disk cannot hold them.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

from benchlib import Row, disk_free_bytes, say

TARGET_RATIO = 1.2
FULL_LARGE_BYTES = 2_000_000_000
SMALL_SHARE = 0.1
CHILD_TIMEOUT = 3600


def generate_csv(path: Path, target_bytes: int, *, seed: int = 3) -> int:
    """Write a CSV of about ``target_bytes``; its row count."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.csv as pacsv

    rng = np.random.default_rng(seed)
    chunk = 200_000
    rows = 0
    with pacsv.CSVWriter(
        str(path),
        pa.schema(
            [
                ("Record ID", pa.string()),
                ("Sample Date", pa.string()),
                ("Category", pa.string()),
                ("Value A", pa.float64()),
                ("Count B", pa.int64()),
                ("Comment", pa.string()),
            ]
        ),
    ) as writer:
        while path.stat().st_size < target_bytes:
            ids = np.char.zfill(np.arange(rows, rows + chunk).astype(str), 9)
            days = rng.integers(0, 3650, chunk)
            dates = (np.datetime64("2015-01-01") + days).astype(str)
            table = pa.table(
                {
                    "Record ID": ids,
                    "Sample Date": dates,
                    "Category": np.array(["alpha", "beta", "gamma", "delta"])[
                        rng.integers(0, 4, chunk)
                    ],
                    "Value A": rng.normal(100, 15, chunk).round(3),
                    "Count B": rng.integers(0, 10_000, chunk),
                    "Comment": np.char.add(
                        "note number ", rng.integers(0, 10**6, chunk).astype(str)
                    ),
                }
            )
            writer.write_table(table)
            rows += chunk
    return rows


def child(src: str, dst: str) -> int:
    """Child process: convert and print peak RSS (MB) and seconds as JSON."""
    from benchlib import peak_rss_mb

    from etl_transforms.tabular import csv_to_parquet

    start = time.perf_counter()
    report = csv_to_parquet(src, dst)
    seconds = time.perf_counter() - start
    print(json.dumps({"peak_mb": peak_rss_mb(), "seconds": seconds, "rows": report.row_count}))
    return 0


def measure(src: Path, dst: Path) -> dict[str, float]:
    completed = subprocess.run(
        [sys.executable, __file__, "--child", str(src), str(dst)],
        capture_output=True,
        text=True,
        timeout=CHILD_TIMEOUT,
        check=False,
    )
    if completed.returncode != 0:
        raise RuntimeError(f"csv_to_parquet child failed:\n{completed.stderr[-3000:]}")
    return json.loads(completed.stdout.strip().splitlines()[-1])


def run(work: Path, *, scale: float) -> list[Row]:
    large = int(FULL_LARGE_BYTES * scale)
    free = disk_free_bytes(work)
    notes: list[str] = []
    # Both CSVs, both Parquet outputs (smaller than the CSVs) and a margin must fit.
    needed = int(large * (1 + SMALL_SHARE) * 2) + 1_000_000_000
    if needed > free:
        shrunk = max(50_000_000, int((free - 1_000_000_000) / ((1 + SMALL_SHARE) * 2)))
        message = (
            f"only {free / 1e9:.1f} GB free in {work}: large CSV scaled down from "
            f"{large / 1e9:.2f} GB to {shrunk / 1e9:.2f} GB"
        )
        say(f"row 4: {message}")
        notes.append(message)
        large = shrunk
    small = int(large * SMALL_SHARE)
    results = {}
    for label, size in (("small", small), ("large", large)):
        csv = work / f"tabular-{label}.csv"
        rows = generate_csv(csv, size)
        actual = csv.stat().st_size
        say(f"row 4: generated {label} CSV {actual / 1e6:.0f} MB ({rows:,} rows)")
        results[label] = {**measure(csv, work / f"tabular-{label}.parquet"), "mb": actual / 1e6}
        say(f"row 4: {label}: {results[label]}")
        csv.unlink()
        (work / f"tabular-{label}.parquet").unlink(missing_ok=True)
    s, big = results["small"], results["large"]
    notes.append(
        f"throughput: small {s['mb'] / s['seconds']:.0f} MB/s, "
        f"large {big['mb'] / big['seconds']:.0f} MB/s"
    )
    return [
        Row(
            key="4-tabular-memory",
            work=f"tabular: peak RSS converting a {big['mb'] / 1000:.2f} GB CSV",
            baseline_label=f"same on a {s['mb']:.0f} MB CSV",
            baseline=s["peak_mb"],
            ours=big["peak_mb"],
            unit="MB",
            target=TARGET_RATIO,
            phases={
                "baseline": {"peak_mb": round(s["peak_mb"], 1), "seconds": round(s["seconds"], 2)},
                "ours": {"peak_mb": round(big["peak_mb"], 1), "seconds": round(big["seconds"], 2)},
            },
            checks={"row counts as generated": s["rows"] > 0 and big["rows"] > s["rows"]},
            notes=notes,
        )
    ]


if __name__ == "__main__" and len(sys.argv) == 4 and sys.argv[1] == "--child":
    sys.exit(child(sys.argv[2], sys.argv[3]))
