"""Load and concurrency against the real services.

Load: many manifests of every lane dropped at once and taken in by the four sensors' intake
ticks (each with its own committed cursor, as the daemon runs them), the queued runs' starts and
ends mirrored by the lifecycle (what the run-status sensors do): exactly one ledger record per
manifest, every valid one queued exactly once, everything archived, nothing duplicated.

Concurrency: ten batches of one dataset processed at once by the lane runners (distinct Dagster
run ids, threads): versions exactly 1..10, ten distinct lake objects matching the ledger.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import pytest

from etl_models.cursor import ManifestCursor
from etl_models.ledger_records import asset_content_hash
from etl_models.status import ManifestStatus, RunStatus
from etl_pipeline.lifecycle import RunContext, record_run_finished, record_run_started
from etl_spatial.postgis import schema_name_for_run

from .conftest import Lab, ci, full_only

pytestmark = pytest.mark.integration

GEOJSON = json.dumps(
    {
        "type": "FeatureCollection",
        "features": [
            {
                "type": "Feature",
                "properties": {"road_id": "R1"},
                "geometry": {"type": "Point", "coordinates": [144.9, -37.8]},
            }
        ],
    }
)
SENSORS = {
    "spatial_sensor": {"spatial"},
    "tabular_sensor": {"tabular"},
    "join_sensor": {"join"},
    "manifest_sensor": {"ingest"},
}


def drop_mixed(lab: Lab, count: int) -> tuple[set[str], set[str]]:
    """``count`` manifests over every lane, a fifth of them invalid; (valid, invalid) keys."""
    lab.put("shared/roads.geojson", GEOJSON)
    lab.put("shared/counts.csv", "road,n\nR1,1\n")
    lab.register_fake_dataset("roads", "geoparquet", ["road_id"])
    lab.register_fake_dataset("counts", "parquet", ["road", "n"])
    vector = [{"path": lab.uri("shared/roads.geojson"), "type": "vector"}]
    tabular = [{"path": lab.uri("shared/counts.csv"), "type": "tabular"}]
    join = {
        "spatial_dataset_id": "roads",
        "tabular_dataset_id": "counts",
        "left_key": "road",
        "right_key": "road_id",
    }
    valid, invalid = set(), set()
    bodies = []
    for i in range(count):
        batch = f"load_{i:04d}"
        kind = i % 10
        doc: dict = {"batch_id": batch, "uploader": "loader", "metadata": {"tags": {}}}
        if kind < 4:
            doc.update(intent="ingest_vector", files=vector)
        elif kind < 6:
            doc.update(intent="ingest_tabular", files=tabular)
        elif kind == 6:
            doc.update(intent="join_datasets")
            doc["metadata"]["join_config"] = join
        elif kind == 7:
            doc.update(intent="ingest_legacy_roads", files=vector)
        elif kind == 8:
            doc.update(intent="ingest_vector", files=tabular)  # type mismatch
        else:
            doc = b"{broken"  # type: ignore[assignment]
        key = f"manifests/{batch}.json"
        (invalid if kind >= 8 else valid).add(key)
        bodies.append((key, doc))
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda kv: lab.put(*kv), bodies))
    return valid, invalid


@pytest.mark.parametrize("count", [ci(40, id="40"), full_only(500, id="500")])
def test_mass_drop_every_manifest_taken_in_exactly_once(lab: Lab, count: int) -> None:
    valid, invalid = drop_mixed(lab, count)
    cursors = {name: ManifestCursor() for name in SENSORS}
    run_keys: list[str] = []
    queued_by_key: dict[str, object] = {}
    rejected: list[str] = []
    for _ in range(20):  # ticks until every sensor is idle
        busy = False
        for name, lanes in SENSORS.items():
            result = lab.tick(lanes, cursors[name], operator=name, max_per_tick=200)
            cursors[name] = result.cursor  # committed with the run requests
            run_keys += [q.plan.run_key for q in result.queued]
            queued_by_key.update({q.key: q for q in result.queued})
            rejected += [r.key for r in result.rejected]
            busy = busy or result.processed > 0 or result.deferred > 0
        if not busy:
            break
    assert len(run_keys) == len(set(run_keys)), "a run was requested twice"
    assert set(queued_by_key) == valid and set(rejected) == invalid
    # Each queued run starts and ends (the run-status sensors' work), replayed once for good
    # measure: the lifecycle is idempotent.
    for index, queued in enumerate(queued_by_key.values()):
        run = RunContext(str(uuid.uuid4()), queued.plan.job_name, queued.plan.tags)
        for _ in range(2 if index < 5 else 1):
            record_run_started(lab.store, lab.ledger, run)
            record_run_finished(lab.store, lab.ledger, run, RunStatus.SUCCESS)

    manifests = list(lab.ledger.db["manifests"].find({}))
    assert len(manifests) == count
    assert Counter(d["manifest_key"] for d in manifests) == Counter(valid | invalid)
    statuses = Counter(d["status"] for d in manifests)
    assert statuses == {
        ManifestStatus.SUCCESS.value: len(valid),
        ManifestStatus.REJECTED.value: len(invalid),
    }
    assert lab.ledger.db["runs"].count_documents({}) == len(valid)
    assert lab.store.list_manifest_keys() == []
    archived = set(lab.landing_keys("archive/manifests/"))
    assert {f"archive/{k}" for k in valid | invalid} <= archived
    assert {f"archive/{k}.rejection.json" for k in invalid} <= archived
    # A re-tick with fresh cursors (cursor lost) finds nothing left to take in.
    assert all(lab.tick(lanes).processed == 0 for lanes in SENSORS.values())


def _csv(i: int) -> str:
    return "road,n\n" + "".join(f"R{j},{i * 100 + j}\n" for j in range(5 + i))


def _vector(i: int) -> str:
    return json.dumps(
        {
            "type": "FeatureCollection",
            "features": [
                {
                    "type": "Feature",
                    "properties": {"k": j, "batch": i},
                    "geometry": {"type": "Point", "coordinates": [144 + i / 10, -37 - j / 10]},
                }
                for j in range(3 + i)
            ],
        }
    )


@pytest.mark.parametrize(
    ("intent", "file_type", "name", "body"),
    [
        ci("ingest_tabular", "tabular", "c.csv", _csv, id="tabular"),
        full_only("ingest_vector", "vector", "v.geojson", _vector, id="spatial"),
    ],
)
def test_ten_concurrent_batches_of_one_dataset(lab: Lab, intent, file_type, name, body) -> None:
    for i in range(10):
        lab.submit(f"conc_{i}", intent, {name: (file_type, body(i))}, dataset_id="shared")
    intake = lab.tick()
    assert len(intake.queued) == 10 and not intake.rejected
    runs = [lab.run_for(q) for q in intake.queued]
    with ThreadPoolExecutor(10) as pool:
        results = list(pool.map(lab.process, runs))

    assert sorted(r.asset.version for r in results) == list(range(1, 11))
    assert lab.ledger.versions("shared") == list(range(1, 11))
    data_keys = {r.asset.s3_key for r in results}
    assert len(data_keys) == 10
    assert {k for k in lab.lake_keys() if not k.endswith("item.json")} == data_keys
    for result in results:
        asset = lab.ledger.get_asset("shared", result.asset.version)
        meta = lab.store.lake_object_metadata(asset.s3_key)
        assert (meta.etag, meta.size) == (asset.lake_etag, asset.size_bytes)
        assert asset.content_hash == asset_content_hash(
            dataset_id="shared", recipe=asset.recipe, inputs=asset.inputs, parents=asset.parents
        )
        # The asset's input is exactly the batch's own raw file.
        [raw] = asset.inputs
        landing = lab.store.landing_object_metadata(raw.path)
        assert (raw.etag, raw.size) == (landing.etag, landing.size)
    assert len({r.asset.content_hash for r in results}) == 10
    digests = set()
    for key in data_keys:
        body = lab.store.client.get_object(lab.store.lake_bucket, key).read()
        digests.add(hashlib.sha256(body).hexdigest())
    assert len(digests) == 10
    left = lab.run_schemas()
    assert not {schema_name_for_run(r.dagster_run_id) for r in runs} & left
