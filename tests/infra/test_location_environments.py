"""Each code location deploys on its own: its image installs ``uv sync --frozen --no-dev
--package <location>`` (infra/images/code_location.Dockerfile). These tests build that same
environment here, from the same lock and offline (from uv's cache), and check in it that

- the location's definitions load and every job resolves: no module of the location needs a
  package that only the workspace's dev group brings;
- a run worker's lane modules, and pyogrio as a vector run uses it, import neither geopandas nor
  pandas. pyogrio's package init imports whichever of them is installed, which cost every
  vector run worker about a second of start-up; the lanes need neither, so the deployed
  environment does not have them (``etl-spatial[geodataframe]`` is for scripts and tests).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

LOCATIONS = {"asset_lanes": "asset-lanes", "legacy_ingest": "legacy-ingest"}

# What a vector run worker imports on its way through a batch (the lanes import pyogrio and
# the GDAL-facing modules inside the functions that use them).
RUN_WORKER_MODULES = [
    "etl_pipeline.lanes.spatial",
    "etl_pipeline.lanes.join",
    "etl_pipeline.lanes.tabular",
    "etl_spatial.loader",
    "etl_spatial.arrow_load",
    "etl_spatial.vector_inspection",
    "etl_spatial.geoparquet_stream",
    "etl_transforms.vector",
    "pyogrio",
]

CHECK = """
import importlib, json, sys
location, modules = sys.argv[1], sys.argv[2:]
definitions = importlib.import_module(f"{location}.definitions").defs()
jobs = sorted(job.name for job in definitions.resolve_all_job_defs())
for name in modules:
    importlib.import_module(name)
import pyogrio
pyogrio.read_info(sys.stdin.readline().strip())
print(json.dumps({
    "jobs": jobs,
    "heavy": sorted(m for m in ("geopandas", "pandas") if m in sys.modules),
    "installed": sorted(
        m for m in ("geopandas", "pandas", "pytest") if importlib.util.find_spec(m) is not None
    ),
}))
"""


def _uv() -> str:
    local = ROOT / ".local" / "bin" / "uv"
    found = str(local) if local.exists() else shutil.which("uv")
    if found is None:
        pytest.fail("uv is not installed: run `bash scripts/bootstrap.sh`")
    return found


@pytest.fixture(scope="module")
def sample_geojson(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("data") / "points.geojson"
    feature = {"type": "Feature", "properties": {"k": 1}}
    feature["geometry"] = {"type": "Point", "coordinates": [144.9, -37.8]}
    path.write_text(json.dumps({"type": "FeatureCollection", "features": [feature]}))
    return path


@pytest.mark.parametrize("location", sorted(LOCATIONS))
def test_location_loads_in_its_deployed_environment_without_geopandas_or_pandas(
    location: str, tmp_path: Path, sample_geojson: Path
) -> None:
    venv = tmp_path / "venv"
    env = {**os.environ, "UV_PROJECT_ENVIRONMENT": str(venv)}
    env.pop("VIRTUAL_ENV", None)
    argv = [_uv(), "sync", "--frozen", "--offline", "--no-dev", "--python", sys.executable]
    sync = subprocess.run(
        [*argv, "--package", LOCATIONS[location]],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert sync.returncode == 0, sync.stderr[-3000:]

    check = subprocess.run(
        [str(venv / "bin" / "python"), "-c", CHECK, location, *RUN_WORKER_MODULES],
        cwd=tmp_path,
        env={k: v for k, v in env.items() if k != "PYTHONPATH"},
        input=f"{sample_geojson}\n",
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert check.returncode == 0, check.stderr[-3000:]
    result = json.loads(check.stdout.strip().splitlines()[-1])
    assert result["jobs"], f"{location} defines no job"
    assert result["installed"] == [], f"dev-only packages in {location}'s environment"
    assert result["heavy"] == [], f"a run worker of {location} imported {result['heavy']}"
