"""The definitions of one code location, derived from the lane registry: every lane it serves plus
the platform-wide sensors (run status into the ledger, retries, schema janitor, alerts), the
nightly reconciliation (in one location) and the resources. Nothing here is a hand-kept list: a
lane added to the registry appears in its location with its asset, job and sensor, and in the
retry sensor's jobs."""

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import dagster as dg

from etl_pipeline.lanes.registry import lanes_of_location
from etl_pipeline.orchestration.alert_sensors import alert_sensors
from etl_pipeline.orchestration.lane_assets import LaneDefinitions, lane_definitions
from etl_pipeline.orchestration.reconciliation_job import reconciliation_definitions
from etl_pipeline.orchestration.recovery import run_retry_sensor, schema_janitor_sensor
from etl_pipeline.orchestration.resources import platform_resources
from etl_pipeline.orchestration.run_status import run_status_sensors


@dataclass(frozen=True)
class Location:
    """A code location's definitions before resources are bound (tests bind their own)."""

    name: str
    lanes: list[LaneDefinitions]
    platform_sensors: list[dg.SensorDefinition]

    @property
    def jobs(self) -> list[Any]:
        return [lane.job for lane in self.lanes]

    @property
    def sensors(self) -> list[dg.SensorDefinition]:
        return [*(lane.sensor for lane in self.lanes), *self.platform_sensors]

    def asset(self, lane_name: str) -> Any:
        """The asset (or, for an op-job lane, the asset spec) of lane ``lane_name``."""
        (lane,) = (d for d in self.lanes if d.lane.name == lane_name)
        return lane.assets[0]

    def job(self, name: str) -> Any:
        (job,) = (j for j in self.jobs if j.name == name)
        return job

    def sensor(self, name: str) -> dg.SensorDefinition:
        (sensor,) = (s for s in self.sensors if s.name == name)
        return sensor

    def definitions(self, resources: dict[str, Any]) -> dg.Definitions:
        lanes = dg.Definitions(
            assets=[asset for lane in self.lanes for asset in lane.assets],
            jobs=self.jobs,
            sensors=self.sensors,
            resources=resources,
        )
        return dg.Definitions.merge(lanes, reconciliation_definitions(self.name))


def build_location(name: str) -> Location:
    """The lanes of location ``name`` (from the registry) and the sensors every location runs
    for its own jobs: run status into the ledger, retries and the schema janitor."""
    served = [lane_definitions(lane) for lane in lanes_of_location(name)]
    if not served:
        raise ValueError(f"no lane is served by code location {name!r}")
    jobs = [d.job for d in served]
    platform = [
        *run_status_sensors(name),
        run_retry_sensor(name, jobs),
        schema_janitor_sensor(name),
        *alert_sensors(name),
    ]
    return Location(name, served, platform)


def location_definitions(name: str, project_dir: Path | None = None) -> dg.Definitions:
    """Location ``name``'s definitions with the platform's resources bound; with
    ``project_dir`` (a location's package folder) merged with what its ``defs/`` holds (the dg
    project config is found by walking up from there)."""
    definitions = build_location(name).definitions(platform_resources())
    if project_dir is None:
        return definitions
    own = dg.load_from_defs_folder(path_within_project=project_dir)
    return dg.Definitions.merge(own, definitions)
