"""The GDAL health check of ``asset_lanes``, run for real against the installed GDAL tools."""

from __future__ import annotations

import subprocess
from pathlib import Path

import dagster as dg
import pytest

from asset_lanes.asset_keys import domain_key_prefix
from asset_lanes.definitions import defs
from asset_lanes.defs.platform.health import gdal_health

pytestmark = pytest.mark.unit

HEALTH_KEY = dg.AssetKey(["asset_lanes", "platform", "gdal_health"])


def _installed_version(tool: str) -> str:
    completed = subprocess.run(
        [tool, "--version"], capture_output=True, text=True, check=True, timeout=30
    )
    return completed.stdout.strip()


def test_health_job_materializes_the_tool_versions() -> None:
    job = defs().resolve_job_def("asset_lanes_gdal_health_job")
    with dg.DagsterInstance.ephemeral() as instance:
        result = job.execute_in_process(instance=instance)

    assert result.success
    (event,) = result.get_asset_materialization_events()
    materialization = event.materialization
    assert materialization.asset_key == HEALTH_KEY
    assert materialization.metadata["gdalinfo_version"].value == _installed_version("gdalinfo")
    assert materialization.metadata["ogr2ogr_version"].value == _installed_version("ogr2ogr")
    assert materialization.metadata["gdalinfo_version"].value.startswith("GDAL ")


def test_health_asset_fails_clearly_when_gdal_is_missing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    empty_bin = tmp_path / "bin"
    empty_bin.mkdir()
    monkeypatch.setenv("PATH", str(empty_bin))

    result = dg.materialize([gdal_health], raise_on_error=False)

    assert not result.success
    assert result.get_asset_materialization_events() == []
    (failure,) = result.get_step_failure_events()
    user_failure = failure.step_failure_data.user_failure_data
    assert user_failure is not None
    assert "'gdalinfo' was not found on PATH" in user_failure.description
    assert "apt-get install gdal-bin" in user_failure.description
    assert user_failure.metadata["tool"].value == "gdalinfo"
    assert user_failure.metadata["tool_missing"].value is True
    # The typed library error is kept as the cause, for the stack trace in the run logs.
    cause = failure.step_failure_data.error.cause
    assert cause is not None and cause.cls_name == "GdalToolMissing"


def test_domain_key_prefix_names_location_and_domain() -> None:
    assert domain_key_prefix("spatial") == ["asset_lanes", "spatial"]
    with pytest.raises(ValueError, match="defs/<domain>/ folder"):
        domain_key_prefix("Spatial Lane")


def test_health_asset_reports_a_broken_gdal_tool(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A gdalinfo that exists but fails, as a broken install (missing shared library) would.
    fake_bin = tmp_path / "bin"
    fake_bin.mkdir()
    fake_gdalinfo = fake_bin / "gdalinfo"
    fake_gdalinfo.write_text(
        "#!/bin/sh\necho 'ERROR 1: libgdal.so.32: cannot open' >&2\nexit 127\n"
    )
    fake_gdalinfo.chmod(0o755)
    monkeypatch.setenv("PATH", str(fake_bin))

    result = dg.materialize([gdal_health], raise_on_error=False)

    assert not result.success
    (failure,) = result.get_step_failure_events()
    user_failure = failure.step_failure_data.user_failure_data
    assert user_failure is not None
    assert "gdalinfo failed with exit code 127" in user_failure.description
    assert "libgdal.so.32: cannot open" in user_failure.description
    assert user_failure.metadata["tool_missing"].value is False
