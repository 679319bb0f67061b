"""``make up``'s sample batch against the deployed platform: submitted with ``etl`` through the
landing bucket, summarised from the ledger, and idempotent when run again."""

from __future__ import annotations

import uuid

import pytest

from etl_devstack import sample_data
from etl_devstack.drops import dagster_runs_by_tag
from etl_devstack.sample import format_report, run_sample, sample_ids

pytestmark = pytest.mark.e2e


def test_sample_batch_through_the_etl_cli_and_again_idempotently(
    deployed_platform, checks, tmp_path
):
    platform = deployed_platform
    generation = f"e2e{uuid.uuid4().hex[:6]}"
    ids = sample_ids(generation)

    report = run_sample(platform.env, tmp_path / "first", generation, timeout=600, log=print)

    assert report.ok, format_report(report)
    assert [r.batch.name for r in report.results] == [
        "countries", "country_stats", "elevation", "countries_stats",
    ]  # fmt: skip
    assert all(r.submitted for r in report.results)
    rows = {d.dataset_id: d for d in report.datasets}
    assert set(rows) == {dataset_id for _, dataset_id in ids.values()}
    assert all(d.in_lake and d.version == 1 for d in rows.values())
    countries = sample_data.unique_country_codes()
    assert rows[ids["countries"][1]].rows == "177 rows"
    assert rows[ids["country_stats"][1]].rows == f"{len(countries)} rows"
    assert rows[ids["countries_stats"][1]].rows == f"{len(countries)} rows"
    assert rows[ids["elevation"][1]].rows == "180x90 px"
    assert rows[ids["countries_stats"][1]].uri.endswith(
        f"{ids['countries_stats'][1]}/v1/data.parquet"
    )
    # Each batch went through the landing bucket and the lanes like any other.
    lanes = {"countries": "spatial", "country_stats": "tabular", "elevation": "spatial",
             "countries_stats": "join"}  # fmt: skip
    for name, (batch_id, _) in ids.items():
        lane = lanes[name]
        job = {"spatial": "spatial_asset_job", "tabular": "tabular_asset_job",
               "join": "join_asset_job"}[lane]  # fmt: skip
        ev = checks.assert_succeeded(batch_id, lane=lane, job=job)
        assert ev.manifest.uploader == "make-up-sample"
    joined, _ = checks.read_geoparquet(
        platform.ledger.latest_asset(ids["countries_stats"][1]).s3_key
    )
    assert {"iso_a3", "population_millions", "continent"} <= set(joined.column_names)

    # `make up` again: nothing is resubmitted, the summary is the same.
    again = run_sample(platform.env, tmp_path / "second", generation, timeout=600, log=print)

    assert again.ok, format_report(again)
    assert not any(r.submitted for r in again.results)
    assert again.datasets == report.datasets
    runs = dagster_runs_by_tag(platform.client, "batch_id", [b for b, _ in ids.values()])
    assert {b: len(r) for b, r in runs.items()} == {b: 1 for b, _ in ids.values()}
    assert "already submitted" in format_report(again)
