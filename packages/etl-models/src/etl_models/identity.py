"""Identity rules: one id per concept, used everywhere.

``dataset_id`` is the Dagster partition key and the lake prefix. When the manifest does not
name it, it is derived from ``batch_id`` by a hash, so every component that evaluates the same
manifest (sensor, asset, ledger) arrives at the same id and a re-evaluated tick yields the same
run.
"""

from __future__ import annotations

import hashlib
import re

BATCH_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$"
DATASET_ID_PATTERN = r"^[a-z0-9][a-z0-9_-]{0,63}$"
DERIVED_DATASET_PREFIX = "dataset_"

_BATCH_ID = re.compile(BATCH_ID_PATTERN)
_DATASET_ID = re.compile(DATASET_ID_PATTERN)


def validate_batch_id(batch_id: str) -> str:
    """Return ``batch_id`` if it is a valid batch id, else raise ``ValueError`` with the fix."""
    return _matching(
        "batch_id",
        batch_id,
        _BATCH_ID,
        "use 1-128 letters, digits, '.', '_' or '-', starting with a letter or digit, "
        "e.g. 'roads_2026_11_22'",
    )


def validate_dataset_id(dataset_id: str) -> str:
    """Return ``dataset_id`` if valid, else raise ``ValueError`` naming the rule and the fix."""
    return _matching(
        "dataset_id",
        dataset_id,
        _DATASET_ID,
        "use 1-64 lowercase letters, digits, '_' or '-', starting with a letter or digit, "
        "e.g. 'roads' or 'census_2021'",
    )


def _matching(field: str, value: str, pattern: re.Pattern[str], rule: str) -> str:
    if not isinstance(value, str) or not pattern.fullmatch(value):
        raise ValueError(f"{field} {value!r} is invalid; {rule}")
    return value


def derive_dataset_id(batch_id: str) -> str:
    """The deterministic ``dataset_{12 hex}`` id for a batch without a ``dataset_id`` tag."""
    validate_batch_id(batch_id)
    digest = hashlib.sha256(batch_id.encode("utf-8")).hexdigest()
    return f"{DERIVED_DATASET_PREFIX}{digest[:12]}"


def run_key(lane: str, batch_id: str) -> str:
    """The Dagster ``run_key`` of a batch: used once, forever (retries re-execute)."""
    validate_batch_id(batch_id)
    return f"{lane}:{batch_id}"


def lake_prefix(dataset_id: str, version: int) -> str:
    """``{dataset_id}/v{version}/``: where one dataset version lives in the lake bucket."""
    validate_dataset_id(dataset_id)
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise ValueError(f"version must be a positive integer (got {version!r})")
    return f"{dataset_id}/v{version}/"
