"""Nightly reconciliation against the real S3 and Mongo servers (fixtures ``store``,
``ledger``): every check finds what it should, nothing is deleted unless retention with delete
is configured, the report lands in the ledger, and the Dagster job reports it as metadata."""

import io
import json
from datetime import UTC, datetime, timedelta

import dagster as dg
import pytest

from etl_models.ledger_records import AssetRecord, Recipe
from etl_pipeline.orchestration.reconciliation_job import reconciliation_definitions
from etl_pipeline.orchestration.resources import LedgerResource, ObjectStoreResource
from etl_pipeline.reconciliation import (
    ReconciliationSettings,
    reconcile,
    save_report,
)
from etl_storage.reconciliation_reports import latest_reconciliation_report


def _asset(store, ledger, dataset_id: str, *, stac: bool = True, size_delta: int = 0):
    version = ledger.allocate_version(dataset_id)
    prefix = f"{dataset_id}/v{version}/"
    meta = store.put_lake_bytes(prefix + "data.parquet", b"PAR1" + dataset_id.encode() + b"PAR1")
    stats = {}
    if stac:
        item = store.put_lake_bytes(prefix + "item.json", json.dumps({"id": dataset_id}).encode())
        stats["stac_item"] = store.lake_uri(item.key)
    ledger.register_asset(
        AssetRecord(
            dataset_id=dataset_id,
            version=version,
            s3_key=meta.key,
            uri=store.lake_uri(meta.key),
            format="geoparquet",
            content_hash=f"hash-{dataset_id}",
            recipe=Recipe(name="test", version="1"),
            size_bytes=meta.size + size_delta,
            lake_etag=meta.etag,
            stats=stats,
        )
    )
    return meta.key


def _landing(store, key: str) -> None:
    store.client.put_object(store.landing_bucket, key, io.BytesIO(b"raw"), 3)


@pytest.mark.unit
def test_settings_never_delete_without_a_retention_period():
    assert ReconciliationSettings.from_env({}) == ReconciliationSettings()
    with pytest.raises(ValueError, match="ETL_LANDING_RETENTION_DAYS"):
        ReconciliationSettings.from_env({"ETL_LANDING_RETENTION_DELETE": "true"})
    settings = ReconciliationSettings.from_env(
        {"ETL_LANDING_RETENTION_DAYS": "30", "ETL_RECONCILE_QUEUED_MAX_AGE_HOURS": "6"}
    )
    assert settings.landing_retention == timedelta(days=30)
    assert settings.queued_max_age == timedelta(hours=6)
    assert not settings.delete_expired_landing


@pytest.mark.integration
def test_every_check_finds_its_problem_and_nothing_else(store, ledger):
    healthy = _asset(store, ledger, "roads")
    wrong_size = _asset(store, ledger, "rivers", size_delta=7)
    _asset(store, ledger, "parcels", stac=False)
    gone = _asset(store, ledger, "lakes")
    store.client.remove_object(store.lake_bucket, gone)
    store.put_lake_bytes("stray/v1/data.parquet", b"orphan")
    ledger.record_manifest_intake(
        manifest_key="manifests/stuck.json", status="queued", batch_id="stuck-1"
    )
    _landing(store, "old-batch/file.geojson")
    _landing(store, "stuck-1/input.csv")  # a queued batch's input: never expired
    _landing(store, "manifests/pending.json")  # a pending manifest: never expired

    later = datetime.now(UTC) + timedelta(days=3)
    settings = ReconciliationSettings(
        queued_max_age=timedelta(hours=24), landing_retention=timedelta(days=2)
    )
    report = reconcile(store, ledger, settings, now=later)

    assert report.assets_checked == 4
    lake = {f.subject: f.detail for f in report.of("lake_object")}
    assert set(lake) == {wrong_size, gone}
    assert "size" in lake[wrong_size] and "missing" in lake[gone]
    assert healthy not in lake
    assert [f.subject for f in report.of("stac_item")] == ["parcels/v1/item.json"]
    assert [f.subject for f in report.of("untracked_lake_object")] == ["stray/v1/data.parquet"]
    assert [f.subject for f in report.of("stuck_queued")] == ["stuck-1"]
    assert [f.subject for f in report.of("landing_retention")] == ["old-batch/file.geojson"]
    assert report.deleted == []
    assert store.landing_object_exists("old-batch/file.geojson")  # reported, not deleted

    # Not stuck yet one hour after intake; no retention configured: landing not checked.
    fresh = reconcile(store, ledger, ReconciliationSettings())
    assert fresh.of("stuck_queued") == [] and fresh.of("landing_retention") == []

    report_id = save_report(ledger, report, dagster_run_id="run-1")
    stored = latest_reconciliation_report(ledger)
    assert stored["_id"] == report_id and stored["dagster_run_id"] == "run-1"
    assert stored["counts"]["lake_object"] == 2 and stored["ok"] is False


@pytest.mark.integration
def test_expired_landing_files_are_deleted_only_when_enabled(store, ledger):
    _landing(store, "old-batch/a.geojson")
    _landing(store, "manifests/pending.json")
    later = datetime.now(UTC) + timedelta(days=10)
    settings = ReconciliationSettings(
        landing_retention=timedelta(days=7), delete_expired_landing=True
    )

    report = reconcile(store, ledger, settings, now=later)

    assert report.deleted == ["old-batch/a.geojson"]
    assert not store.landing_object_exists("old-batch/a.geojson")
    assert store.landing_object_exists("manifests/pending.json")


@pytest.mark.integration
def test_the_job_stores_the_report_and_shows_each_check(store, ledger, monkeypatch):
    monkeypatch.delenv("ETL_LANDING_RETENTION_DAYS", raising=False)
    monkeypatch.setenv("ETL_DEPLOYED", "1")  # the schedule runs on the deployed platform
    _asset(store, ledger, "roads")
    store.put_lake_bytes("stray/data.bin", b"x")
    defs = dg.Definitions.merge(
        reconciliation_definitions("asset_lanes", enabled=True),
        dg.Definitions(
            resources={
                "object_store": ObjectStoreResource.like(store),
                "ledger": LedgerResource.like(ledger),
            }
        ),
    )
    job = defs.resolve_job_def("asset_lanes_reconciliation_job")
    schedule = defs.resolve_schedule_def("asset_lanes_nightly_reconciliation_schedule")
    assert schedule.cron_schedule == "30 2 * * *"
    assert schedule.default_status == dg.DefaultScheduleStatus.RUNNING

    with dg.instance_for_test() as instance:
        result = job.execute_in_process(instance=instance)
    assert result.success
    [output] = [e for e in result.all_events if e.event_type == dg.DagsterEventType.STEP_OUTPUT]
    metadata = output.step_output_data.metadata
    assert metadata["check/lake_object"].value == "passed"
    assert metadata["check/untracked_lake_object"].value == "1 finding(s)"
    assert metadata["ok"].value is False
    stored = latest_reconciliation_report(ledger)
    assert str(stored["_id"]) == metadata["ledger_report_id"].value
    assert stored["dagster_run_id"] == result.run_id


@pytest.mark.unit
def test_only_one_location_carries_the_job(monkeypatch):
    monkeypatch.delenv("ETL_RECONCILE_LOCATION", raising=False)
    assert not list(reconciliation_definitions("legacy_ingest").jobs or [])
    assert list(reconciliation_definitions("asset_lanes").jobs or [])
