"""Checks shared by the end-to-end tests: what a successful, failed or rejected batch must
leave behind in the lake, the ledger, the archive, Dagster and PostGIS.

Everything is read back from the deployed platform's own services (the ``deployed_platform``
fixture of ``etl_devstack.pytest_plugin``); nothing is taken from the code under test.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest

from etl_devstack.drops import BatchEvidence, collect_batch_evidence

# Generous: two CPU cores run the platform, four concurrent runs and the tests themselves.
BATCH_TIMEOUT = 420.0


class PlatformChecks:
    """Read-back checks against one deployed platform."""

    def __init__(self, platform: Any, workdir: Path) -> None:
        self.platform = platform
        self.workdir = workdir

    def evidence(self, batch_id: str) -> BatchEvidence:
        p = self.platform
        return collect_batch_evidence(
            store=p.object_store,
            ledger=p.ledger,
            client=p.client,
            conninfo=p.compute_conninfo,
            batch_id=batch_id,
        )

    # -- lake objects, read back -------------------------------------------------------------

    def download(self, s3_key: str) -> Path:
        path = self.workdir / s3_key.replace("/", "__")
        self.platform.object_store.download_from_lake(s3_key, path)
        return path

    def read_geoparquet(self, s3_key: str) -> tuple[Any, dict[str, Any]]:
        """The lake object as an Arrow table and its GeoParquet ``geo`` metadata."""
        import pyarrow.parquet as pq

        table = pq.read_table(self.download(s3_key))
        raw = (table.schema.metadata or {}).get(b"geo")
        assert raw, f"{s3_key} has no GeoParquet 'geo' metadata"
        return table, json.loads(raw)

    def read_parquet(self, s3_key: str) -> Any:
        import pyarrow.parquet as pq

        return pq.read_table(self.download(s3_key))

    def raster_info(self, s3_key: str) -> dict[str, Any]:
        """``gdalinfo -json`` of the downloaded raster."""
        path = self.download(s3_key)
        done = subprocess.run(
            ["gdalinfo", "-json", str(path)], capture_output=True, text=True, timeout=60, check=True
        )
        return json.loads(done.stdout)

    # -- whole-batch checks ------------------------------------------------------------------

    def assert_succeeded(
        self, batch_id: str, *, lane: str, job: str, runs: int = 1, deduplicated: bool = False
    ) -> BatchEvidence:
        """A batch that ended in success: ledger manifest, runs and asset agree with Dagster,
        its manifest is archived (not pending, no rejection report) and its run schemas are
        gone. Returns the evidence for batch-specific checks."""
        ev = self.evidence(batch_id)
        m = ev.manifest
        assert m is not None, f"no ledger manifest for {batch_id}"
        assert m.status.value == "success", (m.status, m.error)
        assert m.lane == lane
        assert [h.status for h in m.status_history][:1] == ["queued"]
        assert m.status_history[-1].status == "success"
        assert m.archive_key == f"archive/{m.manifest_key}"
        assert ev.archive == {
            "pending": False,
            "archived": True,
            "rejection_report": False,
            "history": False,
        }, ev.archive
        # Ledger runs and Dagster runs: one to one, same ids, statuses and tags.
        assert len(ev.runs) == runs, [r.dagster_run_id for r in ev.runs]
        assert len(ev.dagster_runs) == runs, [r.run_id for r in ev.dagster_runs]
        dagster = {r.run_id: r for r in ev.dagster_runs}
        assert {r.dagster_run_id for r in ev.runs} == set(dagster)
        final = ev.runs[-1]
        assert final.status.value == "success", final.error
        assert dagster[final.dagster_run_id].status == "SUCCESS"
        for record in ev.runs:
            run = dagster[record.dagster_run_id]
            assert run.job_name == job
            assert run.tags["batch_id"] == batch_id
            assert run.tags["lane"] == lane
            assert run.tags["manifest_key"] == m.manifest_key
            assert run.tags["manifest_archive_key"] == f"archive/{m.manifest_key}"
            assert record.status.value == run.status.lower()
        first = dagster[ev.runs[0].dagster_run_id]
        assert first.tags["dagster/run_key"] == f"{lane}:{batch_id}"
        # The asset the batch produced (or matched), registered with its provenance.
        asset = ev.asset
        produced = [p for r in ev.runs for p in r.produced_assets]
        assert produced[-1].deduplicated is deduplicated
        assert asset.dataset_id == m.dataset_id
        assert asset.uri == f"s3://{self.platform.object_store.lake_bucket}/{asset.s3_key}"
        assert self.platform.object_store.lake_object_exists(asset.s3_key)
        assert ev.leftover_schemas == [], ev.leftover_schemas
        return ev

    def assert_rejected(self, manifest_key: str) -> Any:
        """An invalid manifest: a ``rejected`` ledger record with the reason, archived with a
        rejection report naming the fields, and no Dagster run. Returns (record, report)."""
        p = self.platform
        records = p.ledger.get_manifest_by_key(manifest_key)
        assert len(records) == 1, records
        record = records[0]
        assert record.status.value == "rejected"
        assert record.error
        assert [h.status for h in record.status_history] == ["rejected"]
        state = {
            "pending": p.object_store.landing_object_exists(manifest_key),
            "archived": p.object_store.landing_object_exists(f"archive/{manifest_key}"),
        }
        assert state == {"pending": False, "archived": True}
        report_key = f"archive/{manifest_key}.rejection.json"
        response = p.object_store.client.get_object(p.object_store.landing_bucket, report_key)
        try:
            report = json.loads(response.read())
        finally:
            response.close()
            response.release_conn()
        assert report["status"] == "rejected"
        assert report["manifest_key"] == manifest_key
        assert report["errors"], report
        assert p.client.runs(tags={"manifest_key": manifest_key}) == []
        return record, report


@pytest.fixture(scope="module")
def checks(deployed_platform, tmp_path_factory) -> PlatformChecks:
    return PlatformChecks(deployed_platform, tmp_path_factory.mktemp("lake-readback"))
