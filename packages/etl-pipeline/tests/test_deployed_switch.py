"""A development instance (``dg dev``) does not act on shared buckets or the shared ledger
unless told to: every automation that does defaults to STOPPED unless ``ETL_DEPLOYED=1``."""

from __future__ import annotations

import dagster as dg
import pytest

from etl_pipeline.orchestration.platform import location_definitions

pytestmark = pytest.mark.unit

LOCATIONS = ["asset_lanes", "legacy_ingest"]


def _automation(name: str) -> dict[str, object]:
    defs = location_definitions(name)
    statuses: dict[str, object] = {s.name: s.default_status for s in defs.sensors or []}
    statuses.update({s.name: s.default_status for s in defs.schedules or []})
    return statuses


@pytest.mark.parametrize("location", LOCATIONS)
def test_a_development_instance_starts_with_every_sensor_and_schedule_stopped(
    location: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("ETL_DEPLOYED", raising=False)
    monkeypatch.setenv("ETL_ALERT_WEBHOOK_URL", "https://hooks.example.com/x")
    statuses = _automation(location)
    assert statuses, "the location declares no sensors"
    running = [n for n, s in statuses.items() if s != dg.DefaultSensorStatus.STOPPED
               and s != dg.DefaultScheduleStatus.STOPPED]  # fmt: skip
    assert running == []


@pytest.mark.parametrize("location", LOCATIONS)
def test_the_deployed_instance_runs_its_intake_and_recovery_sensors(
    location: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ETL_DEPLOYED", "1")
    statuses = _automation(location)
    intake = {"asset_lanes": "spatial_sensor", "legacy_ingest": "manifest_sensor"}[location]
    for name in (intake, f"{location}_run_started_sensor", f"{location}_schema_janitor",
                 f"{location}_run_retry_sensor"):  # fmt: skip
        assert statuses[name] == dg.DefaultSensorStatus.RUNNING, name
