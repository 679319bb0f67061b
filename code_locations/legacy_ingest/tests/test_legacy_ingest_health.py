"""The GDAL health check job of ``legacy_ingest``, run for real against the installed GDAL tools."""

from __future__ import annotations

import subprocess
from pathlib import Path

import dagster as dg
import pytest

from legacy_ingest.definitions import defs
from legacy_ingest.defs.platform.health import legacy_ingest_gdal_health_job

pytestmark = pytest.mark.unit


def _installed_version(tool: str) -> str:
    completed = subprocess.run(
        [tool, "--version"], capture_output=True, text=True, check=True, timeout=30
    )
    return completed.stdout.strip()


def _output_metadata(result: dg.ExecuteInProcessResult) -> dict[str, object]:
    (output,) = [
        event
        for event in result.events_for_node("check_gdal_tools")
        if event.event_type == dg.DagsterEventType.STEP_OUTPUT
    ]
    return {key: value.value for key, value in output.step_output_data.metadata.items()}


def test_health_job_records_the_tool_versions() -> None:
    job = defs().resolve_job_def("legacy_ingest_gdal_health_job")
    with dg.DagsterInstance.ephemeral() as instance:
        result = job.execute_in_process(instance=instance)

    assert result.success
    metadata = _output_metadata(result)
    assert metadata["gdalinfo_version"] == _installed_version("gdalinfo")
    assert metadata["ogr2ogr_version"] == _installed_version("ogr2ogr")
    assert str(metadata["ogr2ogr_version"]).startswith("GDAL ")
    # Op-based and value-less: the check must not create assets in this location.
    assert result.get_asset_materialization_events() == []


def test_health_job_fails_clearly_when_gdal_is_missing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    empty_bin = tmp_path / "bin"
    empty_bin.mkdir()
    monkeypatch.setenv("PATH", str(empty_bin))

    with dg.DagsterInstance.ephemeral() as instance:
        result = legacy_ingest_gdal_health_job.execute_in_process(
            instance=instance, raise_on_error=False
        )

    assert not result.success
    (failure,) = result.get_step_failure_events()
    assert failure.step_key == "check_gdal_tools"
    user_failure = failure.step_failure_data.user_failure_data
    assert user_failure is not None
    assert "'gdalinfo' was not found on PATH" in user_failure.description
    assert "apt-get install gdal-bin" in user_failure.description
    assert user_failure.metadata["tool"].value == "gdalinfo"
    assert user_failure.metadata["tool_missing"].value is True
    cause = failure.step_failure_data.error.cause
    assert cause is not None and cause.cls_name == "GdalToolMissing"


def test_health_job_raises_a_non_retryable_failure(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # raise_on_error=True is how scripts and tests see it: the dg.Failure with the reason.
    monkeypatch.setenv("PATH", str(tmp_path))
    with (
        dg.DagsterInstance.ephemeral() as instance,
        pytest.raises(dg.Failure, match="apt-get install gdal-bin") as raised,
    ):
        legacy_ingest_gdal_health_job.execute_in_process(instance=instance)
    assert raised.value.allow_retries is False
