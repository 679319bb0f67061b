"""Ledger against the real Mongo wire server of the harness (SecantusDB)."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from bson import ObjectId

from etl_devstack.services import free_port
from etl_models.ledger_records import (
    AssetRecord,
    ColumnInfo,
    InputFile,
    LineageEdge,
    Recipe,
    asset_content_hash,
)
from etl_models.status import ManifestStatus, RunStatus
from etl_storage import (
    AssetConflict,
    BatchIdConflict,
    InvalidStatusTransition,
    Ledger,
    LedgerError,
    LedgerUnavailable,
    RecordNotFound,
)
from etl_storage.migrations import MIGRATIONS

pytestmark = pytest.mark.integration

MANIFEST = {
    "batch_id": "roads_2026_11_22",
    "uploader": "jane",
    "intent": "ingest_vector",
    "files": [{"path": "s3://landing-zone/roads_2026_11_22/roads.gpkg", "type": "vector"}],
    "metadata": {"tags": {"dataset_id": "roads"}},
}


def intake(ledger: Ledger, batch_id: str = "roads_2026_11_22", **overrides):
    manifest = {**MANIFEST, "batch_id": batch_id}
    args = {
        "batch_id": batch_id,
        "manifest_key": f"manifests/{batch_id}.json",
        "archive_key": f"archive/manifests/{batch_id}.json",
        "manifest_etag": "0123abcd",
        "uploader": "jane",
        "intent": "ingest_vector",
        "lane": "spatial",
        "dataset_id": "roads",
        "status": "queued",
        "manifest": manifest,
        **overrides,
    }
    return ledger.record_manifest_intake(**args)


def asset(dataset_id: str, version: int, **overrides) -> AssetRecord:
    recipe = Recipe(name="vector_to_geoparquet", version="1", params={"simplify_m": None})
    inputs = [InputFile(path="s3://landing-zone/b/roads.gpkg", etag="e1", size=10)]
    fields = {
        "dataset_id": dataset_id,
        "version": version,
        "s3_key": f"{dataset_id}/v{version}/data.parquet",
        "uri": f"s3://data-lake/{dataset_id}/v{version}/data.parquet",
        "format": "geoparquet",
        "content_hash": asset_content_hash(dataset_id=dataset_id, recipe=recipe, inputs=inputs),
        "recipe": recipe,
        "inputs": inputs,
        "row_count": 3,
        "bounds": (144.0, -38.0, 145.0, -37.0),
        "crs": "EPSG:4326",
        "source_crs": "EPSG:28355",
        "geometry_types": ["LineString"],
        "column_schema": [ColumnInfo(name="name", type="string")],
        **overrides,
    }
    return AssetRecord(**fields)


# --- schema -----------------------------------------------------------------------------------


def test_migrations_create_the_indexes(ledger: Ledger) -> None:
    db = ledger.db
    assert {
        "manifests",
        "runs",
        "assets",
        "lineage",
        "activity_logs",
        "version_counters",
        "schema_migrations",
    } <= set(db.list_collection_names())
    manifests = db.manifests.index_information()
    assert manifests["batch_id_unique"]["unique"] is True
    assert db.runs.index_information()["dagster_run_id_unique"]["unique"] is True
    assets = db.assets.index_information()
    assert assets["dataset_version_unique"]["key"] == [("dataset_id", 1), ("version", 1)]
    assert assets["dataset_version_unique"]["unique"] is True
    assert assets["s3_key_unique"]["unique"] is True
    assert assets["content_hash"]["key"] == [("content_hash", 1)]
    unique_content = assets["dataset_content_hash_unique"]
    assert unique_content["key"] == [("dataset_id", 1), ("content_hash", 1)]
    assert unique_content["unique"] is True
    assert db.activity_logs.index_information()["key_unique"]["unique"] is True
    assert [m["_id"] for m in db.schema_migrations.find().sort("_id", 1)] == [
        m.number for m in MIGRATIONS
    ]
    assert ledger.migrate() == []  # applied once


def test_first_use_migrates_automatically(mongo_service, ledger_database) -> None:
    fresh = Ledger(connection_string=mongo_service.connection_string, database=ledger_database)
    try:
        intake(fresh)
        assert fresh.db.schema_migrations.count_documents({}) == len(MIGRATIONS)
    finally:
        fresh.close()


# --- manifests --------------------------------------------------------------------------------


def test_manifest_intake_is_idempotent_and_detects_reused_batch_ids(ledger: Ledger) -> None:
    first = intake(ledger)
    assert first.created and isinstance(first.manifest_id, ObjectId)
    record = ledger.get_manifest("roads_2026_11_22")
    assert record is not None
    assert record.status == ManifestStatus.QUEUED
    assert record.manifest == MANIFEST
    assert [h.status for h in record.status_history] == ["queued"]
    assert record.created_at.tzinfo is not None

    again = intake(ledger)  # the sensor re-evaluates the same manifest
    assert not again.created and again.manifest_id == first.manifest_id

    different = {**MANIFEST, "uploader": "mallory"}
    with pytest.raises(BatchIdConflict, match="give the new manifest a new batch_id") as info:
        intake(ledger, manifest=different, manifest_key="manifests/other.json")
    assert info.value.existing_manifest_key == "manifests/roads_2026_11_22.json"
    assert ledger.db.manifests.count_documents({}) == 1


def test_manifest_intakes_in_one_write_match_the_single_call(ledger: Ledger) -> None:
    """The intake tick's bulk write: new records, the same manifest again, a reused batch id
    and a broken manifest, each with what ``record_manifest_intake`` would give."""
    existing = intake(ledger, batch_id="roads_1")

    def args(batch_id: str, **overrides) -> dict:
        manifest = {**MANIFEST, "batch_id": batch_id}
        return {
            "batch_id": batch_id, "manifest_key": f"manifests/{batch_id}.json",
            "manifest_etag": "e", "uploader": "jane", "lane": "spatial", "status": "queued",
            "manifest": manifest, **overrides,
        }  # fmt: skip

    results = ledger.record_manifest_intakes(
        [
            args("roads_2"),
            args("roads_1", manifest_etag="0123abcd", manifest_key="manifests/roads_1.json"),
            args("roads_3"),
            args("roads_1", manifest={**MANIFEST, "uploader": "mallory"}),
            args("roads_4"),
        ]
    )
    new2, same, new3, conflict, new4 = results
    assert all(r.created for r in (new2, new3, new4))
    assert ledger.get_manifest("roads_3").id == new3.manifest_id == new3.record.id
    assert not same.created and same.manifest_id == existing.manifest_id
    assert isinstance(conflict, BatchIdConflict)
    assert conflict.existing_manifest_key == "manifests/roads_1.json"
    assert ledger.db.manifests.count_documents({}) == 4
    assert ledger.record_manifest_intakes([]) == []


def test_rejected_manifests_are_recorded_with_their_error(ledger: Ledger) -> None:
    rejected = intake(ledger, batch_id="bad_batch", status="rejected", error="files: required")
    assert rejected.record.status == ManifestStatus.REJECTED
    assert ledger.get_manifest("bad_batch").error == "files: required"

    # A manifest too broken to name a batch is recorded by key and etag, twice is once.
    for _ in range(2):
        unreadable = ledger.record_manifest_intake(
            manifest_key="manifests/garbage.json",
            manifest_etag="ffee",
            status="rejected",
            error="manifest is not valid JSON",
        )
    assert unreadable.record.intake_key == "object:manifests/garbage.json@ffee"
    assert not unreadable.created
    assert len(ledger.get_manifest_by_key("manifests/garbage.json")) == 1
    # Several batch-less records coexist (the unique batch_id index is partial).
    ledger.record_manifest_intake(
        manifest_key="manifests/garbage2.json", manifest_etag="aa", status="rejected", error="x"
    )

    with pytest.raises(LedgerError, match="needs the error text"):
        intake(ledger, batch_id="b2", status="rejected", error=None)
    with pytest.raises(LedgerError, match="'queued' or 'rejected'"):
        intake(ledger, batch_id="b3", status="running")


def test_manifest_lifecycle_and_history(ledger: Ledger) -> None:
    intake(ledger)
    run_1 = ledger.start_run(dagster_run_id="run-1", batch_id="roads_2026_11_22")
    ledger.set_manifest_status("roads_2026_11_22", "running", run_id=run_1)
    done = ledger.set_manifest_status("roads_2026_11_22", ManifestStatus.SUCCESS, run_id=run_1)

    assert done.status == ManifestStatus.SUCCESS
    assert done.current_run_id == run_1
    assert [h.status for h in done.status_history] == ["queued", "running", "success"]
    assert all(h.at.tzinfo is not None for h in done.status_history)
    assert done.status_history[1].run_id == run_1
    # Replaying the same event (a sensor tick re-run) changes nothing.
    again = ledger.set_manifest_status("roads_2026_11_22", "success", run_id=run_1)
    assert len(again.status_history) == 3


@pytest.mark.parametrize(
    ("path", "refused"),
    [
        (["rejected"], "running"),
        (["queued", "running", "success"], "queued"),
        (["queued"], "success"),
        (["queued", "running"], "queued"),
        (["queued", "running", "failure"], "rejected"),
        (["queued", "canceled"], "success"),
    ],
)
def test_nonsense_manifest_transitions_are_refused(
    ledger: Ledger, path: list[str], refused: str
) -> None:
    intake_status = path[0]
    error = "invalid" if intake_status == "rejected" else None
    intake(ledger, status=intake_status, error=error)
    for status in path[1:]:
        ledger.set_manifest_status("roads_2026_11_22", status)

    with pytest.raises(InvalidStatusTransition) as info:
        ledger.set_manifest_status("roads_2026_11_22", refused)

    assert info.value.current == path[-1] and info.value.new == refused
    assert ledger.get_manifest("roads_2026_11_22").status == path[-1]


def test_status_of_unknown_manifest(ledger: Ledger) -> None:
    with pytest.raises(RecordNotFound, match="nope"):
        ledger.set_manifest_status("nope", "running")


def test_a_batch_run_three_times_records_three_runs(ledger: Ledger) -> None:
    manifest_id = intake(ledger).manifest_id
    outcomes = [("failure", "ValueError: bad CRS"), ("failure", "timeout"), ("success", None)]
    run_ids = []
    for attempt, (status, error) in enumerate(outcomes, start=1):
        run_id = ledger.start_run(
            dagster_run_id=f"dagster-run-{attempt}",
            batch_id="roads_2026_11_22",
            lane="spatial",
            job_name="spatial_asset_job",
            tags={"batch_id": "roads_2026_11_22", "lane": "spatial"},
            partition_key="roads",
        )
        run_ids.append(run_id)
        ledger.set_manifest_status("roads_2026_11_22", "running", run_id=run_id)
        ledger.finish_run(f"dagster-run-{attempt}", status, error=error)
        ledger.set_manifest_status("roads_2026_11_22", status, run_id=run_id, error=error)

    runs = ledger.runs_for_batch("roads_2026_11_22")
    assert [r.dagster_run_id for r in runs] == ["dagster-run-1", "dagster-run-2", "dagster-run-3"]
    assert [r.status for r in runs] == [RunStatus.FAILURE, RunStatus.FAILURE, RunStatus.SUCCESS]
    assert runs[0].error == "ValueError: bad CRS"
    assert all(r.manifest_id == manifest_id for r in runs)
    assert all(r.started_at and r.finished_at for r in runs)
    manifest = ledger.get_manifest("roads_2026_11_22")
    assert manifest.run_ids == run_ids
    assert manifest.status == ManifestStatus.SUCCESS and manifest.error is None
    assert [h.status for h in manifest.status_history] == [
        "queued",
        "running",
        "failure",
        "running",
        "failure",
        "running",
        "success",
    ]


def test_events_of_an_older_run_do_not_overwrite_a_newer_run(ledger: Ledger) -> None:
    intake(ledger)
    old = ledger.start_run(dagster_run_id="old", batch_id="roads_2026_11_22")
    new = ledger.start_run(dagster_run_id="new", batch_id="roads_2026_11_22")
    ledger.set_manifest_status("roads_2026_11_22", "running", run_id=old)
    # The re-execution's start is seen before the old run's failure.
    ledger.set_manifest_status("roads_2026_11_22", "running", run_id=new)
    stale = ledger.set_manifest_status("roads_2026_11_22", "failure", run_id=old, error="boom")
    assert stale.status == ManifestStatus.RUNNING and stale.current_run_id == new
    assert stale.status_history[-1].status == "failure"
    final = ledger.set_manifest_status("roads_2026_11_22", "success", run_id=new)
    assert final.status == ManifestStatus.SUCCESS


def test_a_late_start_event_of_a_finished_run_does_not_reopen_the_manifest(
    ledger: Ledger,
) -> None:
    intake(ledger)
    run = ledger.start_run(dagster_run_id="quick", batch_id="roads_2026_11_22")
    ledger.set_manifest_status("roads_2026_11_22", "running", run_id=run)
    ledger.set_manifest_status("roads_2026_11_22", "success", run_id=run)
    # The run-started sensor handles the start after the run-success sensor handled the end.
    late = ledger.set_manifest_status("roads_2026_11_22", "running", run_id=run)
    assert late.status == ManifestStatus.SUCCESS
    assert [h.status for h in late.status_history] == ["queued", "running", "success"]
    # A re-execution (a new run) may still reopen it.
    again = ledger.start_run(dagster_run_id="again", batch_id="roads_2026_11_22")
    reopened = ledger.set_manifest_status("roads_2026_11_22", "running", run_id=again)
    assert reopened.status == ManifestStatus.RUNNING and reopened.current_run_id == again


def test_run_records(ledger: Ledger) -> None:
    run_id = ledger.start_run(dagster_run_id="r1", batch_id="unknown_batch", job_name="ingest_job")
    assert ledger.start_run(dagster_run_id="r1", batch_id="unknown_batch") == run_id
    assert ledger.run_object_id("r1") == run_id
    run = ledger.get_run("r1")
    assert run.status == RunStatus.RUNNING and run.manifest_id is None

    long_error = "Traceback ...\n" + "x" * 100_000 + "\nRuntimeError: the real cause"
    failed = ledger.finish_run("r1", "failure", error=long_error)
    assert failed.status == RunStatus.FAILURE
    assert failed.error.startswith("Traceback") and failed.error.endswith("the real cause")
    assert ledger.finish_run("r1", "failure").status == RunStatus.FAILURE  # replay: no-op
    with pytest.raises(InvalidStatusTransition):
        ledger.finish_run("r1", "success")
    with pytest.raises(InvalidStatusTransition):
        ledger.finish_run("r1", "running")
    # A start seen after the end keeps the end.
    assert ledger.start_run(dagster_run_id="r1") == run_id
    assert ledger.get_run("r1").status == RunStatus.FAILURE
    with pytest.raises(RecordNotFound):
        ledger.run_object_id("never-started")


def test_a_run_that_failed_before_starting_is_recorded(ledger: Ledger) -> None:
    intake(ledger)
    run = ledger.finish_run(
        "launch-failed", "failure", error="could not launch", batch_id="roads_2026_11_22"
    )
    assert run.id is not None and run.started_at is None
    assert ledger.get_run("launch-failed").error == "could not launch"
    assert ledger.get_manifest("roads_2026_11_22").run_ids == [run.id]


def test_link_run_assets(ledger: Ledger) -> None:
    ledger.start_run(dagster_run_id="r1")
    asset_id = ledger.register_asset(asset("roads", ledger.allocate_version("roads")))
    ledger.link_run_asset("r1", asset_id, deduplicated=False)
    ledger.link_run_asset("r1", asset_id, deduplicated=False)  # idempotent
    produced = ledger.get_run("r1").produced_assets
    assert [(p.asset_id, p.deduplicated) for p in produced] == [(asset_id, False)]
    with pytest.raises(RecordNotFound):
        ledger.link_run_asset("nope", asset_id)


# --- assets -----------------------------------------------------------------------------------


def test_ten_threads_allocate_versions_one_to_ten(ledger: Ledger) -> None:
    barrier = threading.Barrier(10)

    def allocate(_: int) -> int:
        barrier.wait()
        return ledger.allocate_version("roads")

    with ThreadPoolExecutor(max_workers=10) as pool:
        versions = list(pool.map(allocate, range(10)))

    assert sorted(versions) == list(range(1, 11))
    assert ledger.allocate_version("roads") == 11
    assert ledger.allocate_version("rivers") == 1


def test_concurrent_first_allocations_across_ledgers(mongo_service, ledger_database) -> None:
    """Separate clients (as separate processes would be) racing on a brand-new counter."""
    ledgers = [
        Ledger(connection_string=mongo_service.connection_string, database=ledger_database)
        for _ in range(5)
    ]
    try:
        ledgers[0].migrate()
        barrier = threading.Barrier(10)

        def allocate(i: int) -> int:
            barrier.wait()
            return ledgers[i % 5].allocate_version("fresh")

        with ThreadPoolExecutor(max_workers=10) as pool:
            assert sorted(pool.map(allocate, range(10))) == list(range(1, 11))
    finally:
        for each in ledgers:
            each.close()


def test_assets_register_and_look_up(ledger: Ledger) -> None:
    run_id = ledger.start_run(dagster_run_id="r1", batch_id="b1")
    ids = []
    for _ in range(3):
        version = ledger.allocate_version("roads")
        record = asset("roads", version, run_id=run_id, batch_id="b1", content_hash=f"h{version}")
        ids.append(ledger.register_asset(record))
    ledger.register_asset(asset("rivers", ledger.allocate_version("rivers")))

    latest = ledger.latest_asset("roads")
    assert latest.version == 3 and latest.id == ids[2] and latest.run_id == run_id
    assert latest.bounds == (144.0, -38.0, 145.0, -37.0)
    assert latest.inputs[0].etag == "e1"
    assert latest.recipe.name == "vector_to_geoparquet"
    assert ledger.get_asset("roads", 2).id == ids[1]
    assert ledger.get_asset("roads", 9) is None
    assert ledger.get_asset_by_id(ids[0]).version == 1
    assert ledger.latest_asset("nothing") is None
    assert ledger.versions("roads") == [1, 2, 3]
    assert ledger.list_datasets() == ["rivers", "roads"]

    found = ledger.asset_exists(latest.content_hash)
    assert found is not None and found.dataset_id == "roads"
    assert ledger.asset_exists(latest.content_hash, dataset_id="rivers") is None
    assert ledger.asset_exists("sha256:none") is None


def test_asset_collisions(ledger: Ledger) -> None:
    record = asset("roads", 1)
    asset_id = ledger.register_asset(record)
    assert ledger.register_asset(record) == asset_id  # retry of the same registration

    with pytest.raises(AssetConflict, match="allocate a new version") as info:
        ledger.register_asset(asset("roads", 1, s3_key="roads/v1/other.parquet", content_hash="x"))
    assert info.value.existing is None
    with pytest.raises(AssetConflict):
        ledger.register_asset(asset("roads", 2, s3_key="roads/v1/data.parquet", content_hash="y"))
    assert ledger.versions("roads") == [1]


def test_same_content_twice_in_a_dataset_is_a_conflict_naming_the_winner(ledger: Ledger) -> None:
    first = asset("roads", 1)
    first_id = ledger.register_asset(first)
    with pytest.raises(AssetConflict, match="already registered as v1") as info:
        ledger.register_asset(asset("roads", 2))  # same content hash, next version
    assert info.value.existing is not None and info.value.existing.id == first_id
    assert ledger.register_asset(asset("rivers", 1)) != first_id  # other datasets may share it


def test_concurrent_identical_registrations_exactly_one_wins(ledger: Ledger) -> None:
    barrier = threading.Barrier(8)

    def register(version: int) -> ObjectId | AssetConflict:
        record = asset("roads", version)  # identical content, each its own version and key
        barrier.wait()
        try:
            return ledger.register_asset(record)
        except AssetConflict as conflict:
            return conflict

    with ThreadPoolExecutor(max_workers=8) as pool:
        outcomes = list(pool.map(register, range(1, 9)))

    winners = [o for o in outcomes if isinstance(o, ObjectId)]
    conflicts = [o for o in outcomes if isinstance(o, AssetConflict)]
    assert len(winners) == 1 and len(conflicts) == 7
    assert {c.existing.id for c in conflicts if c.existing} == set(winners)
    assert len(ledger.versions("roads")) == 1


# --- lineage and activity ---------------------------------------------------------------------


def test_lineage_edges(ledger: Ledger) -> None:
    spatial = ledger.register_asset(asset("roads", 1))
    tabular = ledger.register_asset(asset("traffic", 1, format="parquet"))
    joined = ledger.register_asset(asset("roads_traffic", 1))
    inputs = [
        InputFile(path="s3://landing-zone/b/roads.gpkg", etag="e1", size=10),
        InputFile(path="s3://landing-zone/b/roads.prj", etag="e2", size=1),
    ]

    assert ledger.add_input_lineage(spatial, inputs) == 2
    assert ledger.add_input_lineage(spatial, inputs) == 0  # idempotent
    assert ledger.add_parent_lineage(joined, spatial, role="spatial")
    assert ledger.add_parent_lineage(joined, tabular, role="tabular")
    assert not ledger.add_parent_lineage(joined, tabular, role="tabular")

    upstream = ledger.lineage_for(spatial)
    assert sorted(e.input.path for e in upstream) == sorted(i.path for i in inputs)
    assert {(e.parent_asset_id, e.role) for e in ledger.lineage_for(joined)} == {
        (spatial, "spatial"),
        (tabular, "tabular"),
    }
    assert [e.asset_id for e in ledger.downstream_of(spatial)] == [joined]
    assert ledger.add_lineage(LineageEdge(kind="parent", asset_id=tabular, parent_asset_id=spatial))


def test_activity_logs_are_idempotent_by_key(ledger: Ledger) -> None:
    assert ledger.log_activity(
        actor="spatial_sensor",
        action="run_requested",
        subject="batch:roads",
        details={"run_key": "spatial:roads"},
        key="spatial:roads:run_requested",
    )
    assert not ledger.log_activity(
        actor="spatial_sensor",
        action="run_requested",
        subject="batch:roads",
        key="spatial:roads:run_requested",
    )
    assert ledger.log_activity(actor="jane", action="uploaded", subject="batch:roads")
    assert ledger.log_activity(actor="jane", action="uploaded", subject="batch:roads")
    entries = ledger.activity_for("batch:roads")
    assert [e.action for e in entries] == ["run_requested", "uploaded", "uploaded"]
    assert entries[0].details == {"run_key": "spatial:roads"}


def test_activity_logs_in_bulk_skip_existing_keys(ledger: Ledger) -> None:
    """One write for many entries (the intake tick); replaying it writes nothing twice."""
    from etl_models.ledger_records import ActivityLog

    def entries(keys: list[str]) -> list[ActivityLog]:
        return [
            ActivityLog(key=k, actor="sensor", action="manifest_queued", subject=f"batch:{k}")
            for k in keys
        ]

    assert ledger.log_activities([]) == 0
    assert ledger.log_activities(entries(["a", "b"])) == 2
    # "b" exists: the others (before and after it) are still written.
    assert ledger.log_activities(entries(["a0", "b", "c"])) == 2
    assert ledger.log_activities(entries(["a", "b", "c"])) == 0
    written = [e.subject for k in ("a", "a0", "b", "c") for e in ledger.activity_for(f"batch:{k}")]
    assert written == ["batch:a", "batch:a0", "batch:b", "batch:c"]


# --- connection -------------------------------------------------------------------------------


def test_ledger_works_after_the_server_restarts(ledger: Ledger, mongo_service) -> None:
    if mongo_service.process is None:
        pytest.fail("the restart test needs the harness-managed server (unset external services)")
    intake(ledger)
    assert ledger.allocate_version("roads") == 1
    pid_before = mongo_service.process.pid
    try:
        mongo_service.process.restart()
    finally:
        if not mongo_service.process.process or mongo_service.process.process.poll() is not None:
            mongo_service.process.start()

    assert mongo_service.process.pid != pid_before  # really a new server process
    # Same resource, same client: it reconnects, and the data survived.
    assert ledger.allocate_version("roads") == 2
    assert ledger.get_manifest("roads_2026_11_22").status == ManifestStatus.QUEUED
    ledger.set_manifest_status("roads_2026_11_22", "running")
    assert ledger.ping()


def test_from_settings_and_secret_hiding(mongo_service) -> None:
    ledger = Ledger.from_settings()
    assert ledger.connection_string == mongo_service.connection_string
    assert ledger.database == "spatial_etl"
    hidden = Ledger(connection_string="mongodb://user:hunter2@db:27017", database="x")
    assert "hunter2" not in repr(hidden)


def test_a_run_end_moves_the_manifest_along(ledger: Ledger) -> None:
    intake(ledger)
    # The success event handled before the start event: the manifest passes through running.
    run = ledger.finish_run("r-early", "success", batch_id="roads_2026_11_22")
    manifest = ledger.record_run_end_on_manifest("roads_2026_11_22", "success", run_id=run.id)
    assert manifest is not None and manifest.status == ManifestStatus.SUCCESS
    assert [c.status for c in manifest.status_history] == ["queued", "running", "success"]
    assert ledger.record_run_end_on_manifest("unknown", "failure") is None


def test_ledger_is_a_plain_object_with_one_client(ledger: Ledger) -> None:
    assert ledger.client is ledger.client
    assert not hasattr(Ledger, "from_env")


def test_manifest_queries_and_archive_key(ledger: Ledger) -> None:
    intake(ledger, batch_id="a1", archive_key=None)
    intake(ledger, batch_id="a2", status="rejected", error="bad")
    ledger.set_manifest_archive_key("a1", "archive/manifests/a1.json")
    assert ledger.get_manifest("a1").archive_key == "archive/manifests/a1.json"
    assert [m.batch_id for m in ledger.list_manifests(status="rejected")] == ["a2"]
    assert {m.batch_id for m in ledger.list_manifests()} == {"a1", "a2"}
    assert [m.batch_id for m in ledger.get_manifest_by_key("manifests/a1.json")] == ["a1"]
    with pytest.raises(RecordNotFound):
        ledger.set_manifest_archive_key("missing", "archive/x.json")


def test_unreachable_server_raises_a_typed_error() -> None:
    down = Ledger(
        connection_string=f"mongodb://127.0.0.1:{free_port()}",
        database="x",
        server_selection_timeout_ms=300,
    )
    try:
        with pytest.raises(LedgerUnavailable, match="MONGO_CONNECTION_STRING"):
            down.allocate_version("roads")
    finally:
        down.close()
