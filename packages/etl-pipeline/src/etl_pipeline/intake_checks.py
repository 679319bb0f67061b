"""Checks intake makes before it queues a manifest, beyond the manifest's own rules: what the
lane accepts, whether the raw files and join inputs exist, and the notes worth telling."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from etl_models.manifest import FieldError, Manifest, ManifestValidationError

if TYPE_CHECKING:
    from etl_storage.ledger import Ledger
    from etl_storage.object_store import ObjectStore


@dataclass(frozen=True)
class ReferencesChecked:
    notes: list[str]
    """What preflight noticed without rejecting (an intent that looks like a typo)."""
    input_bytes: int
    """Total size of the batch's raw files."""


def check_references(store: ObjectStore, ledger: Ledger, manifest: Manifest) -> ReferencesChecked:
    """Reject at intake what would certainly fail later: missing raw files, unknown join inputs,
    a recipe that does not fit the batch or invalid recipe overrides in the tags. Returns
    preflight's notes (the intake record carries them as warnings, where ``etl status`` shows
    them) and the raw files' total size (the run's weight class)."""
    from etl_pipeline.lanes.join import resolve_join
    from etl_pipeline.lanes.preflight import preflight
    from etl_pipeline.lanes.registry import canonical_manifest
    from etl_pipeline.raw_file_checks import check_raw_files

    checked = preflight(manifest)
    errors: list[FieldError] = list(checked.problems)
    raw = check_raw_files(store, canonical_manifest(manifest))
    errors.extend(raw.problems)
    join = manifest.metadata.join_config
    if join is not None:
        errors.extend(FieldError(p.field, p.message) for p in resolve_join(ledger, join).problems)
    if errors:
        raise ManifestValidationError(errors)
    return ReferencesChecked(list(checked.notes), raw.input_bytes)
