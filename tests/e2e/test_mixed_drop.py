"""Both code locations on one instance and one landing prefix: a mixed drop of 40 manifests,
with each code server restarted mid-stream (issue 6).

The drop covers every lane (spatial, tabular, join, the legacy ingest lane), invalid manifests
owned by each location, and manifests for a disabled lane. It arrives in two waves:

- wave A while the ``asset_lanes`` code server is stopped: the legacy location processes its
  own manifests (runs and rejections) and leaves the asset lanes' manifests untouched in
  ``manifests/``; ``asset_lanes`` is started again and takes them in;
- wave B while the ``legacy_ingest`` code server is stopped: the asset lanes process theirs;
  the legacy server comes back with ``MANIFEST_ROUTER_ENABLED_LANES=spatial,tabular,join``, so
  the legacy lane is disabled: its manifests are recorded and archived with the reason, and get
  no run (its invalid manifests are still rejected for what is wrong with them).

Code servers are stopped only while none of their runs is queued or in flight: a run queued
for a location whose server is down fails at dequeue (the instance's run queue does not retry
unreachable code servers by default), which is a deployment setting, not intake.

Then every manifest must have been handled exactly once by its owner: one ledger record each,
archived once (with a rejection report exactly when rejected), one Dagster run per accepted
manifest with the right run key, lane and location, one ledger run per Dagster run, and the
counts of the three systems agree.
"""

from __future__ import annotations

import json
import uuid
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from etl_devstack import sample_data
from etl_devstack.drops import (
    dagster_runs_by_tag,
    file_entry,
    leftover_run_schemas,
    manifest_document,
    wait_for_batch,
    wait_for_manifests,
)

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

TIMEOUT = 600.0
ACTIVE = {"QUEUED", "NOT_STARTED", "STARTING", "STARTED", "CANCELING"}
LOCATION_OF_LANE = {
    "spatial": "asset_lanes",
    "tabular": "asset_lanes",
    "join": "asset_lanes",
    "ingest": "legacy_ingest",
}
JOB_OF_LANE = {
    "spatial": "spatial_asset_job",
    "tabular": "tabular_asset_job",
    "join": "join_asset_job",
    "ingest": "ingest_job",
}
LEGACY_INTENT = "ingest_field_survey"


def _points_geojson(n: int, tag: str) -> bytes:
    features = [
        {
            "type": "Feature",
            "properties": {"code": f"C{i}", "label": f"{tag} {i}"},
            "geometry": {"type": "Point", "coordinates": [10.0 + i, 45.0 + i / 10]},
        }
        for i in range(n)
    ]
    return json.dumps({"type": "FeatureCollection", "features": features}).encode()


def _stats_csv(n: int) -> bytes:
    rows = ["code,value"] + [f"C{i},{i * 1.5}" for i in range(n)]
    return ("\n".join(rows) + "\n").encode()


@dataclass(frozen=True)
class Expected:
    """One manifest of the drop and what must become of it."""

    key: str
    owner: str  # the lane that owns it (by intent; unreadable ones: the legacy lane)
    outcome: str  # run | rejected | disabled
    batch_id: str


class MixedDrop:
    def __init__(self, platform: Any, token: str, data: Path) -> None:
        self.platform = platform
        self.token = token
        self.data = data
        self.expected: list[Expected] = []
        self.raster = sample_data.elevation_geotiff(data / "small.tif", cell_degrees=10.0)
        self.counter = 0

    def _ids(self, label: str) -> tuple[str, str]:
        self.counter += 1
        batch_id = f"mx-{self.token}-{self.counter:02d}-{label}"
        return batch_id, f"mx{self.token}-{self.counter:02d}"

    def _drop(self, name: str, body: dict[str, Any] | bytes, owner: str, outcome: str,
              batch_id: str) -> None:  # fmt: skip
        key = self.platform.landing.drop_manifest(f"{name}.json", body)
        self.expected.append(Expected(key, owner, outcome, batch_id))

    def ingest(self, lane: str, outcome: str = "run", *, raster: bool = False) -> None:
        """A valid ingest manifest of ``lane`` (spatial vector or raster, tabular, ingest)."""
        landing = self.platform.landing
        kind = {"spatial": "vector", "tabular": "tabular", "ingest": "vector"}[lane]
        if raster:
            kind = "raster"
        batch_id, dataset_id = self._ids(f"{lane}-{kind}")
        if kind == "vector":
            uri = landing.upload(f"{batch_id}/points.geojson", _points_geojson(5, batch_id))
        elif kind == "raster":
            uri = landing.upload(f"{batch_id}/small.tif", self.raster)
        else:
            uri = landing.upload(f"{batch_id}/stats.csv", _stats_csv(8))
        intent = {
            "vector": "ingest_vector",
            "raster": "ingest_raster",
            "tabular": "ingest_tabular",
        }[kind]
        if lane == "ingest":
            intent = LEGACY_INTENT
        document = manifest_document(
            batch_id, intent, [file_entry(uri, kind)], dataset_id=dataset_id
        )
        self._drop(batch_id, document, lane, outcome, batch_id)

    def join(self, how: str, spatial: str, tabular: str) -> None:
        batch_id, dataset_id = self._ids(f"join-{how}")
        document = manifest_document(
            batch_id,
            "join_datasets",
            dataset_id=dataset_id,
            join_config={
                "spatial_dataset_id": spatial,
                "tabular_dataset_id": tabular,
                "left_key": "code",
                "how": how,
            },
        )
        self._drop(batch_id, document, "join", "run", batch_id)

    def invalid(self, kind: str) -> None:
        batch_id, _ = self._ids(f"invalid-{kind}")
        bucket = self.platform.landing.bucket
        missing = f"s3://{bucket}/{batch_id}/nothing-here.geojson"
        bodies: dict[str, tuple[str, dict[str, Any] | bytes]] = {
            "missing-file": ("spatial", manifest_document(
                batch_id, "ingest_vector", [file_entry(missing, "vector")])),
            "outside-landing": ("tabular", manifest_document(
                batch_id, "ingest_tabular",
                [file_entry("s3://data-lake/elsewhere/stats.csv", "tabular")])),
            "unknown-join-dataset": ("join", manifest_document(
                batch_id, "join_datasets", join_config={
                    "spatial_dataset_id": f"mx{self.token}-never-ingested",
                    "tabular_dataset_id": f"mx{self.token}-never-ingested-either",
                    "left_key": "code"})),
            "type-mismatch": ("spatial", manifest_document(
                batch_id, "ingest_raster", [file_entry(missing, "vector")])),
            "legacy-no-files": ("ingest", manifest_document(batch_id, LEGACY_INTENT, [])),
            "not-json": ("ingest", b"{ this is not json"),
            "json-array": ("ingest", b'["not", "an", "object"]'),
            "no-intent": ("ingest", {"batch_id": batch_id, "uploader": "e2e", "files": []}),
        }  # fmt: skip
        owner, body = bodies[kind]
        self._drop(batch_id, body, owner, "rejected", batch_id)

    def keys(self, *, owners: set[str] | None = None) -> list[str]:
        return [e.key for e in self.expected if owners is None or e.owner in owners]


def _wait_location_idle(platform: Any, location: str) -> None:
    """Wait until no run of ``location`` is queued or in flight (see the module docstring)."""
    platform.wait_until(
        lambda: not [r for r in platform.runs() if r.location == location and r.status in ACTIVE],
        TIMEOUT,
        interval=2.0,
        describe=f"runs of {location} still queued or in flight",
    )


@pytest.fixture(scope="module")
def join_parents(deployed_platform) -> tuple[str, str]:
    """A spatial and a tabular dataset for the drop's joins (taken in before the drop)."""
    token = uuid.uuid4().hex[:6]
    landing = deployed_platform.landing
    parents = []
    for lane, kind, intent, body, name in (
        ("spatial", "vector", "ingest_vector", _points_geojson(6, "parent"), "points.geojson"),
        ("tabular", "tabular", "ingest_tabular", _stats_csv(4), "stats.csv"),
    ):
        batch_id = f"mxp-{token}-{lane}"
        uri = landing.upload(f"{batch_id}/{name}", body)
        dataset_id = f"mxp{token}-{lane}"
        landing.drop_manifest(
            f"{batch_id}.json",
            manifest_document(batch_id, intent, [file_entry(uri, kind)], dataset_id=dataset_id),
        )
        parents.append((batch_id, dataset_id))
    for batch_id, _ in parents:
        record = wait_for_batch(deployed_platform.ledger, batch_id, TIMEOUT)
        assert record.status.value == "success", record.error
    return parents[0][1], parents[1][1]


def test_mixed_drop_of_40_is_processed_exactly_once_across_restarts(
    deployed_platform, join_parents, tmp_path
):
    platform = deployed_platform
    ledger = platform.ledger
    spatial, tabular = join_parents
    drop = MixedDrop(platform, uuid.uuid4().hex[:6], tmp_path)
    asset_lanes = {"spatial", "tabular", "join"}

    # Wave A: the asset_lanes server is down while its manifests arrive.
    _wait_location_idle(platform, "asset_lanes")
    platform.stack.stop_code_server("asset_lanes")
    try:
        for lane in ("spatial", "tabular", "ingest") * 3 + ("ingest",):
            drop.ingest(lane)
        drop.ingest("spatial", raster=True)
        drop.join("left", spatial, tabular)
        drop.join("inner", spatial, tabular)
        for kind in ("missing-file", "outside-landing", "not-json", "legacy-no-files"):
            drop.invalid(kind)
        assert len(drop.expected) == 17
        wait_for_manifests(ledger, drop.keys(owners={"ingest"}), TIMEOUT)
        # Nothing of the stopped location's was taken in by anyone else, nothing is lost.
        wave_a_assets = drop.keys(owners=asset_lanes)
        assert platform.landing.pending_manifests(wave_a_assets) == wave_a_assets
        assert all(not ledger.get_manifest_by_key(k) for k in wave_a_assets)
    finally:
        platform.stack.start_code_server("asset_lanes")

    # Wave B: the legacy server is down; it returns with its lane disabled. (Wave A's asset
    # lane runs may still be going: only the stopped location must be idle.)
    _wait_location_idle(platform, "legacy_ingest")
    platform.stack.stop_code_server("legacy_ingest")
    try:
        wave_b_start = len(drop.expected)
        for lane in ("spatial", "tabular", "spatial", "tabular"):
            drop.ingest(lane)
        drop.ingest("spatial", raster=True)
        drop.join("outer", spatial, tabular)
        for _ in range(12):
            drop.ingest("ingest", outcome="disabled")
        for kind in ("unknown-join-dataset", "type-mismatch", "not-json", "json-array",
                     "no-intent"):  # fmt: skip
            drop.invalid(kind)
        assert len(drop.expected) == 40
        wave_b = drop.expected[wave_b_start:]
        wait_for_manifests(ledger, [e.key for e in wave_b if e.owner in asset_lanes], TIMEOUT)
        legacy_b = [e.key for e in wave_b if e.owner == "ingest"]
        assert platform.landing.pending_manifests(legacy_b) == legacy_b
        assert all(not ledger.get_manifest_by_key(k) for k in legacy_b)
    finally:
        platform.stack.start_code_server(
            "legacy_ingest", env_overrides={"MANIFEST_ROUTER_ENABLED_LANES": "spatial,tabular,join"}
        )
    try:
        records = wait_for_manifests(ledger, drop.keys(), TIMEOUT)
        # Let the run-status sensors finish mirroring (manifest terminal means they have).
        batch_ids = [e.batch_id for e in drop.expected if e.outcome == "run"]
        for batch_id in batch_ids:
            wait_for_batch(ledger, batch_id, TIMEOUT, statuses=("success", "failure", "canceled"))
    finally:
        platform.restart_code_server("legacy_ingest")

    _assert_exactly_once(platform, drop, records)


def _assert_exactly_once(platform: Any, drop: MixedDrop, records: dict[str, list]) -> None:
    ledger, store = platform.ledger, platform.object_store
    expected = {e.key: e for e in drop.expected}
    outcomes = Counter(e.outcome for e in drop.expected)
    assert outcomes == {"run": 19, "rejected": 9, "disabled": 12}
    assert {e.owner for e in drop.expected} == {"spatial", "tabular", "join", "ingest"}

    # Ledger: exactly one manifest record per key, with the expected outcome.
    seen = Counter()
    for key, recs in records.items():
        e = expected[key]
        assert len(recs) == 1, (key, [(r.status, r.error) for r in recs])
        record = recs[0]
        if e.outcome == "run":
            assert record.status.value == "success", (key, record.error)
            assert record.batch_id == e.batch_id
            assert record.lane == e.owner
            seen["ledger_success"] += 1
        elif e.outcome == "disabled":
            assert record.status.value == "rejected"
            assert "disabled by MANIFEST_ROUTER_ENABLED_LANES" in record.error
            assert record.lane == "ingest"
            seen["ledger_disabled"] += 1
        else:
            assert record.status.value == "rejected"
            assert "disabled" not in record.error, record.error
            seen["ledger_rejected"] += 1

    # Archive: every manifest archived once, none pending, a report exactly when rejected.
    for key, e in expected.items():
        archive_key = f"archive/{key}"
        assert not store.landing_object_exists(key), f"{key} still pending"
        assert store.landing_object_exists(archive_key), f"{key} not archived"
        has_report = store.landing_object_exists(archive_key + ".rejection.json")
        assert has_report == (e.outcome != "run"), key
        assert store.archive_history(key) == [], f"{key} archived more than once"
        seen["archived"] += 1
        seen["reports"] += has_report

    # Dagster: one run per accepted manifest (right run key, lane, job, location), none for
    # the others; the ledger has exactly those runs.
    run_batches = [e.batch_id for e in drop.expected if e.outcome == "run"]
    other_batches = [e.batch_id for e in drop.expected if e.outcome != "run"]
    runs = dagster_runs_by_tag(platform.client, "batch_id", run_batches + other_batches)
    run_ids = []
    for e in drop.expected:
        if e.outcome != "run":
            assert runs[e.batch_id] == [], (e.key, runs[e.batch_id])
            continue
        [run] = runs[e.batch_id]
        assert run.status == "SUCCESS", (e.key, platform.run_errors(run.run_id))
        assert run.tags["dagster/run_key"] == f"{e.owner}:{e.batch_id}"
        assert run.tags["lane"] == e.owner
        assert run.tags["manifest_key"] == e.key
        assert run.job_name == JOB_OF_LANE[e.owner]
        assert run.location == LOCATION_OF_LANE[e.owner]
        [ledger_run] = ledger.runs_for_batch(e.batch_id)
        assert ledger_run.dagster_run_id == run.run_id
        assert ledger_run.status.value == "success"
        [produced] = ledger_run.produced_assets
        asset = ledger.get_asset_by_id(produced.asset_id)
        assert asset is not None and asset.version == 1 and not produced.deduplicated
        assert store.lake_object_exists(asset.s3_key)
        run_ids.append(run.run_id)
        seen["dagster_runs"] += 1
        seen["ledger_runs"] += 1
    assert leftover_run_schemas(platform.compute_conninfo, run_ids) == []

    # The three systems agree, with counts.
    assert dict(seen) == {
        "ledger_success": 19,
        "ledger_rejected": 9,
        "ledger_disabled": 12,
        "archived": 40,
        "reports": 21,
        "dagster_runs": 19,
        "ledger_runs": 19,
    }
