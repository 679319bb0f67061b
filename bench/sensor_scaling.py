"""Row 3: one manifest-sensor tick with N pending manifests against a bare listing plus read.

- baseline: ``minio`` client ``list_objects`` of ``manifests/`` plus ``get_object`` of every
  listed manifest, with the same number of reader threads as the intake
  (``etl_pipeline.intake.READ_THREADS``), so the ratio measures what the tick adds (parsing,
  validation, the raw-file existence checks, the ledger records), not parallelism.
- ours: ``etl_pipeline.intake.evaluate_intake`` for the spatial lane with every manifest taken
  in in this one tick (``max_per_tick`` = N), each manifest naming its own raw file.
- check: a second tick with nothing new (its cursor is the first tick's, bounded to 500 keys,
  so thousands of pending manifests are not in it) must read no manifest body; reads are
  counted by wrapping ``ObjectStore.read_manifest_with_metadata``.
"""

from __future__ import annotations

import io
import json
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from benchlib import BenchServices, PhaseTimer, Row, say

TARGET_RATIO = 1.5
FULL_MANIFESTS = 5_000
UPLOAD_THREADS = 8


def _counting_store(services: BenchServices) -> Any:
    from etl_storage.object_store import ObjectStore

    class CountingObjectStore(ObjectStore):
        """The real store, counting manifest body reads."""

        def read_manifest_with_metadata(self, key: str, *args: Any, **kwargs: Any) -> Any:
            with _lock:
                _reads[0] += 1
            return super().read_manifest_with_metadata(key, *args, **kwargs)

    _reads = [0]
    _lock = threading.Lock()
    base = services.object_store()
    store = CountingObjectStore(
        endpoint=base.endpoint,
        access_key=base.access_key,
        secret_key=base.secret_key,
        landing_bucket=base.landing_bucket,
        lake_bucket=base.lake_bucket,
    )
    return store, _reads


def _upload(store: Any, count: int) -> list[str]:
    """``count`` manifests, each with its own (tiny) raw GeoJSON file."""
    from etl_devstack.drops import file_entry, manifest_document

    client, bucket = store.client, store.landing_bucket
    raw = json.dumps(
        {
            "type": "FeatureCollection",
            "features": [
                {
                    "type": "Feature",
                    "properties": {"id": 1},
                    "geometry": {"type": "Point", "coordinates": [1.0, 2.0]},
                }
            ],
        }
    ).encode()

    def put(index: int) -> str:
        raw_key = f"bench-sensor/b{index:05d}/data.geojson"
        client.put_object(bucket, raw_key, io.BytesIO(raw), len(raw))
        document = manifest_document(
            f"bench-sensor-{index:05d}",
            "ingest_vector",
            [file_entry(f"s3://{bucket}/{raw_key}", "vector", format="GeoJSON")],
            uploader="bench",
        )
        body = json.dumps(document).encode()
        key = f"manifests/bench-{index:05d}.json"
        client.put_object(bucket, key, io.BytesIO(body), len(body))
        return key

    with ThreadPoolExecutor(UPLOAD_THREADS) as pool:
        return list(pool.map(put, range(count)))


def baseline(store: Any, *, stat_raw_files: bool = False) -> PhaseTimer:
    """Bare listing plus read of every manifest with the minio client.

    With ``stat_raw_files`` also one HEAD of the raw file each manifest names: the least I/O
    the manifest protocol allows a tick (a manifest naming a missing file is rejected at
    intake), reported beside the row as the protocol floor.
    """
    from etl_pipeline.intake import READ_THREADS

    timer = PhaseTimer()
    client, bucket = store.client, store.landing_bucket
    with timer("list"):
        keys = [
            o.object_name
            for o in client.list_objects(bucket, prefix="manifests/", recursive=True)
            if o.object_name and o.object_name.endswith(".json")
        ]

    def read(key: str) -> int:
        response = client.get_object(bucket, key)
        try:
            body = response.read()
        finally:
            response.close()
            response.release_conn()
        if stat_raw_files:
            for item in json.loads(body)["files"]:
                client.stat_object(bucket, item["path"].split("/", 3)[3])
        return len(body)

    with (
        timer("read + stat raw" if stat_raw_files else "read"),
        ThreadPoolExecutor(READ_THREADS) as pool,
    ):
        total = sum(pool.map(read, keys))
    assert total > 0
    return timer


def run(bench: BenchServices, work: Path, *, scale: float) -> list[Row]:
    from etl_models.cursor import ManifestCursor
    from etl_pipeline.intake import evaluate_intake

    count = max(20, int(FULL_MANIFESTS * scale))
    store, reads = _counting_store(bench)
    ledger = bench.ledger()
    ledger.migrate()  # not part of a tick: a deployed ledger is migrated once
    keys = _upload(store, count)
    say(f"row 3: uploaded {len(keys):,} manifests (+ one raw file each)")
    base = baseline(store)
    say(f"row 3: baseline {base.total:.2f}s {base.rounded()}")
    floor = baseline(store, stat_raw_files=True)
    say(f"row 3: protocol floor {floor.total:.2f}s {floor.rounded()}")

    def tick(cursor: ManifestCursor) -> tuple[float, Any]:
        timer = PhaseTimer()
        with timer("tick"):
            result = evaluate_intake(
                store=store,
                ledger=ledger,
                cursor=cursor,
                owned_lanes={"spatial"},
                operator="spatial_sensor",
                max_per_tick=count,
                on_event=lambda message: None,
            )
        return timer.total, result

    first_seconds, first = tick(ManifestCursor([], 500))
    first_reads = reads[0]
    say(f"row 3: first tick {first_seconds:.2f}s ({first.summary()}, {first_reads} reads)")
    reads[0] = 0
    second_seconds, second = tick(first.cursor)
    second_reads = reads[0]
    say(f"row 3: second tick {second_seconds:.2f}s ({second.summary()}, {second_reads} reads)")
    row = Row(
        key="3-sensor",
        work=f"sensor tick: {count:,} pending manifests taken in",
        baseline_label="minio list + read of the same objects",
        baseline=base.total,
        ours=first_seconds,
        unit="s",
        target=TARGET_RATIO,
        phases={
            "baseline": base.rounded(),
            "protocol floor (list + read + HEAD of each raw file)": floor.rounded(),
            "ours": {
                "first tick": round(first_seconds, 3),
                "second tick": round(second_seconds, 3),
            },
        },
        checks={
            f"first tick queued all {count}": len(first.queued) == count,
            "second tick reads no manifest body": second_reads == 0,
        },
        notes=[
            f"against the protocol floor (list + read + one HEAD of each raw file, "
            f"{floor.total:.2f}s): ratio {first_seconds / floor.total:.2f}",
            f"first tick: {first_reads} body reads; second tick: {second_reads} body reads, "
            f"{second_seconds:.2f}s, cursor holds {len(first.cursor.keys)} keys",
        ],
    )
    return [row]
