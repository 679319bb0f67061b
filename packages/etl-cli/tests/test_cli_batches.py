"""Batch management against the real test services: list, retry, resubmit, cancel, and the
live progress of a followed batch."""

from __future__ import annotations

import io
import json

import pytest
from rich.console import Console

from etl_cli.batch_status import follow_batch, load_batch_status
from etl_cli.progress import ProgressDisplay
from etl_devstack.services import free_port
from etl_models.status import ManifestStatus, RunStatus

pytestmark = pytest.mark.integration


def _queue(ledger, batch_id, *, uploader="jane", dataset="roads", manifest=None):
    return ledger.record_manifest_intake(
        manifest_key=f"manifests/{batch_id}.json", status="queued", batch_id=batch_id,
        uploader=uploader, intent="ingest_vector", lane="spatial", dataset_id=dataset,
        manifest=manifest or {"batch_id": batch_id},
    )  # fmt: skip


def _fail(ledger, batch_id, run_id, error):
    run = ledger.start_run(dagster_run_id=run_id, batch_id=batch_id, lane="spatial")
    ledger.set_manifest_status(batch_id, ManifestStatus.RUNNING, run_id=run)
    ledger.finish_run(run_id, RunStatus.FAILURE, error=error)
    ledger.set_manifest_status(batch_id, ManifestStatus.FAILURE, run_id=run, error=error)


@pytest.fixture
def no_dagster(monkeypatch):
    port = free_port()
    monkeypatch.setenv("DAGSTER_UI_HOST", "127.0.0.1")
    monkeypatch.setenv("DAGSTER_UI_PORT", str(port))
    monkeypatch.setenv("ETL_CLI_TIMEOUT_S", "1")
    return port


def test_batches_lists_and_filters(run_cli, ledger):
    _queue(ledger, "b-one", uploader="jane", dataset="roads")
    _queue(ledger, "b-two", uploader="omar", dataset="rivers")
    _fail(ledger, "b-two", "run-two", "step: ogr2ogr crashed")

    rows = json.loads(run_cli("batches", "--json").stdout)
    assert [r["batch_id"] for r in rows] == ["b-two", "b-one"]
    failed = json.loads(run_cli("batches", "--status", "failure", "--json").stdout)
    assert [(r["batch_id"], r["error"]) for r in failed] == [("b-two", "step: ogr2ogr crashed")]

    def ids(*args: str) -> list[str]:
        return [r["batch_id"] for r in json.loads(run_cli("batches", *args, "--json").stdout)]

    assert ids("--uploader", "jane") == ["b-one"]
    assert ids("--dataset", "rivers") == ["b-two"]
    assert json.loads(run_cli("batches", "--since", "2999-01-01", "--json").stdout) == []
    assert len(json.loads(run_cli("batches", "--since", "1d", "--json").stdout)) == 2

    # Piped: a header and one tab-separated line per batch, identifiers never broken.
    lines = run_cli("batches").stdout.splitlines()
    assert lines[0].split("\t")[:3] == ["batch", "status", "dataset"]
    assert lines[1].split("\t")[:3] == ["b-two", "failure", "rivers"]
    bad = run_cli("batches", "--status", "done")
    assert bad.exit_code == 2 and "--status 'done' is unknown" in bad.stderr


def test_retry_refuses_input_errors_and_unfinished_batches(run_cli, ledger, no_dagster):
    _queue(ledger, "b-bad")
    _fail(ledger, "b-bad", "run-bad", "load_vector: VectorLoadError: roads.gpkg has no layer")
    refused = run_cli("retry", "b-bad")
    assert refused.exit_code == 2
    assert "failed because of its input (VectorLoadError)" in refused.stderr
    assert "etl resubmit b-bad" in refused.stderr

    _queue(ledger, "b-wait")
    waiting = run_cli("retry", "b-wait", "--json")
    body = json.loads(waiting.stdout)
    assert waiting.exit_code == 2 and body["exit_code"] == 2
    assert "only a failed or canceled batch can be retried" in body["error"]
    assert body["meaning"].startswith("bad arguments")

    # A failure that was not the input's goes to Dagster, which is down here: exit 4, fast.
    _queue(ledger, "b-lost")
    _fail(ledger, "b-lost", "run-lost", "run worker stopped heartbeating")
    down = run_cli("retry", "b-lost")
    assert down.exit_code == 4
    assert f"cannot use the Dagster webserver at http://127.0.0.1:{no_dagster}" in down.stderr


def test_cancel_queued_batch_marks_ledger_canceled(run_cli, ledger, no_dagster):
    _queue(ledger, "b-q")
    result = run_cli("cancel", "b-q", "--json")
    assert result.exit_code == 0, result.output
    body = json.loads(result.stdout)
    assert body["status"] == "canceled" and body["marked_canceled"] is True
    assert "Dagster webserver is unreachable" in body["note"]
    record = ledger.get_manifest("b-q")
    assert record.status == ManifestStatus.CANCELED and "etl cancel" in record.error
    assert [a.action for a in ledger.activity_for("b-q")] == ["cancel_requested"]
    again = run_cli("cancel", "b-q")
    assert again.exit_code == 2 and "already ended (canceled)" in again.stderr


def test_resubmit_creates_a_linked_batch(run_cli, store, ledger, cli_env, tmp_path):
    landing = cli_env.landing
    store.client.put_object(landing, "b-old/roads.geojson", io.BytesIO(b"{}"), 2)
    store.client.put_object(landing, "b-old/roads.prj", io.BytesIO(b"x"), 1)
    manifest = {
        "batch_id": "b-old",
        "uploader": "jane",
        "intent": "ingest_vector",
        "files": [{"path": f"s3://{landing}/b-old/roads.geojson", "type": "vector"}],
        "metadata": {"tags": {"dataset_id": "roads"}},
    }
    _queue(ledger, "b-old", manifest=manifest)
    _fail(ledger, "b-old", "run-old", "VectorLoadError: no CRS")

    result = run_cli(
        "resubmit", "b-old", "--set", "files.0.crs=EPSG:28355", "--batch-id", "b-new", "--json"
    )
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["batch_id"] == "b-new"
    uploaded = store.read_manifest("manifests/b-new.json")
    assert uploaded["batch_id"] == "b-new" and uploaded["uploader"] == "tester"
    assert uploaded["files"][0] == {
        "path": f"s3://{landing}/b-new/roads.geojson", "type": "vector", "crs": "EPSG:28355",
    }  # fmt: skip
    assert uploaded["metadata"]["tags"] == {"dataset_id": "roads", "resubmit_of": "b-old"}
    assert store.landing_object_exists("b-new/roads.geojson")
    assert store.landing_object_exists("b-new/roads.prj")  # sidecars travel too
    activity = ledger.activity_for("b-old")
    assert [(a.action, a.details["new_batch_id"]) for a in activity] == [("resubmitted", "b-new")]
    # The intake of the new manifest links it to the old batch.
    intake = ledger.record_manifest_intake(
        manifest_key="manifests/b-new.json", status="queued", batch_id="b-new", manifest=uploaded
    )
    assert intake.record.resubmit_of == "b-old"
    assert ledger.get_manifest("b-new").resubmit_of == "b-old"

    replacement = tmp_path / "roads.geojson"
    replacement.write_text('{"type": "FeatureCollection", "features": []}')
    second = run_cli("resubmit", "b-old", "--file", str(replacement), "--batch-id", "b-new2")
    assert second.exit_code == 0, second.output
    data = store.client.get_object(landing, "b-new2/roads.geojson").read()
    assert data == replacement.read_bytes()
    unknown = run_cli("resubmit", "b-old", "--file", str(tmp_path / "empty.env"))
    assert unknown.exit_code == 2 and "has no file of that name" in unknown.stderr
    bad = run_cli("resubmit", "b-old", "--set", "intent=ingest_raster", "--batch-id", "b-x")
    assert bad.exit_code == 2 and "invalid" in bad.stderr


def test_follow_shows_phases_warnings_and_one_consistent_state(ledger, store):
    """Each poll applies the next ledger event; the plain display shows every phase with its
    counts, each warning once, and never 'running' next to an ended run."""
    _queue(ledger, "b-live")
    events = iter(
        [
            lambda: None,
            lambda: ledger.set_manifest_status(
                "b-live",
                ManifestStatus.RUNNING,
                run_id=ledger.start_run(dagster_run_id="run-live", batch_id="b-live"),
            ),
            lambda: ledger.record_run_phase("run-live", "preparing"),
            lambda: ledger.record_run_phase("run-live", "loading", {"features": 105000}),
            lambda: ledger.add_manifest_warnings("b-live", ["3 geometries were repaired"]),
            lambda: ledger.record_run_phase("run-live", "publishing", {"rows": 105000}),
            lambda: ledger.finish_run("run-live", RunStatus.SUCCESS),  # the race window
            lambda: ledger.set_manifest_status(
                "b-live", ManifestStatus.SUCCESS, run_id=ledger.get_run("run-live").id
            ),
        ]
    )

    def load():
        next(events)()
        return load_batch_status(ledger, store, "b-live")

    out = io.StringIO()
    display = ProgressDisplay(Console(file=out, force_terminal=False, width=80), "b-live")
    final = follow_batch(load, timeout_s=60, interval_s=0.01, on_change=display.update)
    display.close()
    text = out.getvalue()
    assert final.status == "success"
    assert "b-live: queued" in text
    for phase in ("running · preparing", "running · loading (105,000 features)",
                  "running · publishing (105,000 rows)", "running · finishing"):  # fmt: skip
        assert phase in text, text
    assert text.count("warning: 3 geometries were repaired") == 1
    assert "success" not in text.split("running · finishing")[0]
    assert text.strip().splitlines()[-1].startswith("b-live: success after ")
