"""Faults, in-process against the real servers: the Mongo wire server stopped in the middle of
a run and restarted. The failed run publishes nothing (no lake object, no schema, no asset) and
the batch is re-executable: the re-execution produces exactly one version.

The deployed-platform faults (kill -9 of a run worker, daemon and code-server restarts, S3
outage during sensor ticks) are described in docs/reliability.md with what is and is not
covered yet.
"""

from __future__ import annotations

import json

import pytest

from etl_models.status import ManifestStatus, RunStatus
from etl_pipeline.lifecycle import RunContext, record_run_finished
from etl_spatial.postgis import schema_name_for_run

from .conftest import Lab

pytestmark = pytest.mark.integration

POINTS = json.dumps(
    {
        "type": "FeatureCollection",
        "features": [
            {
                "type": "Feature",
                "properties": {"k": i},
                "geometry": {"type": "Point", "coordinates": [144.9 + i / 100, -37.8]},
            }
            for i in range(10)
        ],
    }
)


def test_mongo_stopped_mid_run_then_restarted(lab: Lab, mongo_service) -> None:
    if mongo_service.process is None:
        pytest.fail("needs the harness's own Mongo wire server (not ETL_TEST_EXTERNAL_SERVICES)")
    lab.submit("fault_1", "ingest_vector", {"p.geojson": ("vector", POINTS)}, dataset_id="fault")
    [queued] = lab.tick().queued
    run = lab.run_for(queued)
    stopped = []

    def log(message: str) -> None:
        # Stop the ledger right after the data is in PostGIS: mid-run, before any version.
        if message.startswith("loaded") and not stopped:
            mongo_service.process.stop()
            stopped.append(message)

    run = type(run)(run.services, run.dagster_run_id, run.job_name, run.tags, log=log)
    try:
        with pytest.raises(Exception) as failure:
            lab.process(run)
    finally:
        if stopped:
            mongo_service.process.restart()
    assert stopped, "the run never reached the load step"
    assert (
        "Mongo" in type(failure.value).__name__
        or "ledger" in str(failure.value).lower()
        or "timeout" in str(failure.value).lower()
    ), repr(failure.value)
    assert schema_name_for_run(run.dagster_run_id) not in lab.run_schemas()
    assert lab.lake_keys() == []
    assert lab.ledger.versions("fault") == []
    # The failure is visible (what the run-failure sensor records) and the batch re-executable.
    context = RunContext(run.dagster_run_id, run.job_name, run.tags)
    record_run_finished(lab.store, lab.ledger, context, RunStatus.FAILURE, str(failure.value))
    assert lab.ledger.get_manifest("fault_1").status == ManifestStatus.FAILURE
    retry = lab.run_for(queued)
    result = lab.process(retry)
    record_run_finished(
        lab.store,
        lab.ledger,
        RunContext(retry.dagster_run_id, retry.job_name, retry.tags),
        RunStatus.SUCCESS,
    )
    assert result.asset.version == 1 and lab.ledger.versions("fault") == [1]
    assert lab.lake_keys() == ["fault/v1/data.parquet", "fault/v1/item.json"]
    assert lab.ledger.get_manifest("fault_1").status == ManifestStatus.SUCCESS
    assert len(lab.ledger.runs_for_batch("fault_1")) == 2
