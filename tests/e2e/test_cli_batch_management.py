"""The `etl` command against the deployed platform, as a user runs it (./etl, no PATH set-up):
a followed batch shows its phases before success; a canceled batch is retried through Dagster
and a tabular batch is resubmitted with an extra column, both leaving linked ledger records;
`etl diff` reports the added column."""

from __future__ import annotations

import json
import os
import re
import subprocess
import uuid
from pathlib import Path

import pytest

from etl_devstack import sample_data

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
TIMEOUT = "420"


@pytest.fixture(scope="module")
def etl(deployed_platform, tmp_path_factory):
    """``etl(*args)``: ./etl in a fresh environment reading the deployment's settings."""
    settings = tmp_path_factory.mktemp("cli") / "platform.env"
    settings.write_text("".join(f"{k}={v}\n" for k, v in deployed_platform.env.items()))
    env = {
        "PATH": "/usr/local/bin:/usr/bin:/bin",
        "HOME": os.environ.get("HOME", "/tmp"),
        "ETL_PLATFORM_ENV": str(settings),
        "ETL_UPLOADER": "e2e-cli",
    }

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["./etl", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=900
        )

    return run


def test_wait_shows_phases_then_success(etl, tmp_path):
    token = uuid.uuid4().hex[:6]
    source = sample_data.countries_geojson(tmp_path)
    done = etl(
        "submit", str(source), "-i", "ingest_vector", "--dataset-id", f"cli_countries_{token}",
        "--wait", "--interval", "0.1", "--timeout", TIMEOUT,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    phases = re.findall(r"running · (\w+)", done.stderr)
    assert len(dict.fromkeys(phases)) >= 3, done.stderr
    assert "running (run" not in done.stderr
    assert re.search(r"run: http://\S+/runs/[0-9a-f-]{36}", done.stderr), done.stderr
    assert re.search(r": success after \d", done.stderr), done.stderr


def test_cancel_then_retry_and_resubmit_with_an_added_column(etl, deployed_platform, tmp_path):
    token = uuid.uuid4().hex[:6]
    dataset = f"cli_stats_{token}"
    csv = tmp_path / "stats.csv"
    csv.write_text("iso_a3,pop\nAUS,26\nNZL,5\n")
    batch = f"cli_stats_{token}"
    submitted = etl("submit", str(csv), "-i", "ingest_tabular", "--dataset-id", dataset,
                    "--batch-id", batch)  # fmt: skip
    assert submitted.returncode == 0, submitted.stderr
    # Cancel as soon as it is taken in: whether queued or running, the ledger ends canceled.
    for _ in range(300):  # each poll is a CLI start (about a second)
        if json.loads(etl("status", batch, "--json").stdout)["status"] != "submitted":
            break
    canceled = etl("cancel", batch, "--timeout", TIMEOUT, "--json")
    ledger = deployed_platform.ledger
    if canceled.returncode == 0 and json.loads(canceled.stdout)["status"] == "canceled":
        assert ledger.get_manifest(batch).status.value == "canceled"
        retried = etl("retry", batch, "--wait", "--timeout", TIMEOUT, "--json")
        assert retried.returncode == 0, retried.stderr
        body = json.loads(retried.stdout)
        assert body["status"] == "success"
        run = ledger.get_run(body["run_id"])
        assert run.batch_id == batch and run.tags["etl/retry_of"] == body["parent_run_id"]
        assert "retry_requested" in [a.action for a in ledger.activity_for(batch)]
    else:  # the run won the race and finished first: cancel says so
        assert "already ended" in canceled.stdout + canceled.stderr
        assert etl("status", batch, "--watch", "--timeout", TIMEOUT).returncode == 0

    wider = tmp_path / "stats.csv"
    wider.write_text("iso_a3,pop,gdp\nAUS,26,65\nNZL,5,48\n")
    new_batch = f"{batch}_r1"
    again = etl("resubmit", batch, "--file", str(wider), "--batch-id", new_batch,
                "--wait", "--timeout", TIMEOUT)  # fmt: skip
    assert again.returncode == 0, again.stderr
    record = ledger.get_manifest(new_batch)
    assert record.resubmit_of == batch and record.status.value == "success"
    assert "resubmitted" in [a.action for a in ledger.activity_for(batch)]

    versions = json.loads(etl("versions", dataset, "--json").stdout)
    first, last = versions[0]["version"], versions[-1]["version"]
    diff = etl("diff", f"{dataset}@v{first}", f"{dataset}@v{last}", "--json")
    assert diff.returncode == 0, diff.stderr
    assert [c["name"] for c in json.loads(diff.stdout)["columns_added"]] == ["gdp"]
