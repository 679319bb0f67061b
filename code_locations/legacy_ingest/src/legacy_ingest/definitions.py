"""Entry point of the ``legacy_ingest`` code location: the attribute ``defs`` of this module.

Code servers load it as ``dagster api grpc -m legacy_ingest.definitions`` (or
``dagster code-server start -m ...``); ``dg`` finds it through ``code_location_target_module``.
Thin on purpose: every job, op and sensor lives in a domain folder under ``defs/`` and is
autoloaded; location-wide policy (executor limits, resource bindings) is merged in here.
"""

from __future__ import annotations

from pathlib import Path

import dagster as dg


@dg.definitions
def defs() -> dg.Definitions:
    """All definitions of the location, autoloaded from ``legacy_ingest/defs/``."""
    # The dg project config (pyproject.toml with [tool.dg]) is found by walking up from here.
    return dg.load_from_defs_folder(path_within_project=Path(__file__).parent)
