"""Entry point of the ``asset_lanes`` code location: the attribute ``defs`` of this module.

Code servers load it as ``dagster api grpc -m asset_lanes.definitions`` (or
``dagster code-server start -m ...``); ``dg`` finds it through ``code_location_target_module``.
Thin on purpose: every asset, job and sensor lives in a domain folder under ``defs/`` and is
autoloaded; location-wide policy (executor limits, resource bindings) is merged in here.
"""

from __future__ import annotations

from pathlib import Path

import dagster as dg


@dg.definitions
def defs() -> dg.Definitions:
    """All definitions of the location, autoloaded from ``asset_lanes/defs/``."""
    # The dg project config (pyproject.toml with [tool.dg]) is found by walking up from here.
    return dg.load_from_defs_folder(path_within_project=Path(__file__).parent)
