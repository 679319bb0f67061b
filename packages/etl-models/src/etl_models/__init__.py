"""Pydantic contracts of the platform: manifest protocol, identity rules,
ledger records, sensor cursor and settings. No I/O.
"""

from etl_models.cursor import CursorError, ManifestCursor
from etl_models.identity import derive_dataset_id, lake_prefix, run_key, validate_dataset_id
from etl_models.intake import RunPlan, plan_run
from etl_models.landing import (
    ARCHIVE_PREFIX,
    MANIFEST_PREFIX,
    archive_key_for,
    rejection_report_key_for,
)
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
from etl_models.manifest_bytes import MANIFEST_MAX_BYTES, decode_manifest_bytes
from etl_models.status import ManifestStatus, RunStatus

__all__ = [
    "ARCHIVE_PREFIX",
    "MANIFEST_MAX_BYTES",
    "MANIFEST_PREFIX",
    "CursorError",
    "FieldError",
    "JoinConfig",
    "Manifest",
    "ManifestCursor",
    "ManifestFile",
    "ManifestStatus",
    "ManifestValidationError",
    "RunPlan",
    "RunStatus",
    "archive_key_for",
    "decode_manifest_bytes",
    "derive_dataset_id",
    "lake_prefix",
    "landing_key",
    "parse_manifest",
    "parse_manifest_bytes",
    "plan_run",
    "rejection_report_key_for",
    "run_key",
    "validate_dataset_id",
]
