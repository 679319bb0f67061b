"""Checks intake makes before it queues a manifest, beyond the manifest's own rules: what the
lane accepts, whether the raw files and join inputs exist, and the notes worth telling."""

from __future__ import annotations

from typing import TYPE_CHECKING

from etl_models.manifest import FieldError, Manifest, ManifestValidationError

if TYPE_CHECKING:
    from etl_storage.ledger import Ledger
    from etl_storage.object_store import ObjectStore


def check_references(store: ObjectStore, ledger: Ledger, manifest: Manifest) -> list[str]:
    """Reject at intake what would certainly fail later: missing raw files, unknown join inputs,
    a recipe that does not fit the batch or invalid recipe overrides in the tags. Returns what
    preflight noticed without rejecting (an intent that looks like a typo): the intake record
    carries it as warnings, where ``etl status`` shows it."""
    from etl_pipeline.lanes.join import resolve_join
    from etl_pipeline.lanes.preflight import preflight
    from etl_pipeline.lanes.registry import canonical_manifest
    from etl_pipeline.raw_file_checks import raw_file_problems

    checked = preflight(manifest)
    errors: list[FieldError] = list(checked.problems)
    errors.extend(raw_file_problems(store, canonical_manifest(manifest)))
    join = manifest.metadata.join_config
    if join is not None:
        errors.extend(FieldError(p.field, p.message) for p in resolve_join(ledger, join).problems)
    if errors:
        raise ManifestValidationError(errors)
    return checked.notes
