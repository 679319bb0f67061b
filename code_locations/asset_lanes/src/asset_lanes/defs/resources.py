"""Resource bindings of the location, in one place; secrets resolve from the environment."""

import dagster as dg

from etl_pipeline.orchestration import platform_resources


@dg.definitions
def resources() -> dg.Definitions:
    return dg.Definitions(resources=platform_resources())
