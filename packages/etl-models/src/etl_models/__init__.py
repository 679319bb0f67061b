"""Pydantic contracts of the platform: manifest protocol, identity rules, routing table,
ledger records, sensor cursor and settings. No I/O.
"""

from etl_models.cursor import CursorError, ManifestCursor
from etl_models.identity import derive_dataset_id, lake_prefix, run_key, validate_dataset_id
from etl_models.intake import RunPlan, archive_key_for, plan_run
from etl_models.manifest import (
    FieldError,
    JoinConfig,
    Manifest,
    ManifestFile,
    ManifestValidationError,
    landing_key,
    parse_manifest,
    parse_manifest_bytes,
)
from etl_models.routing import LANES, ROUTING_TABLE, Lane, LaneSpec, lane_for_intent
from etl_models.status import ManifestStatus, RunStatus

__all__ = [
    "LANES",
    "ROUTING_TABLE",
    "CursorError",
    "FieldError",
    "JoinConfig",
    "Lane",
    "LaneSpec",
    "Manifest",
    "ManifestCursor",
    "ManifestFile",
    "ManifestStatus",
    "ManifestValidationError",
    "RunPlan",
    "RunStatus",
    "archive_key_for",
    "derive_dataset_id",
    "lake_prefix",
    "landing_key",
    "lane_for_intent",
    "parse_manifest",
    "parse_manifest_bytes",
    "plan_run",
    "run_key",
    "validate_dataset_id",
]
