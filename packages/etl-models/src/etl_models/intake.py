"""What a sensor derives from a valid manifest: lane, run key, partition and run tags.

One function for every sensor (asset lanes and legacy), so the run key, the partition, the
lake prefix and the ledger always agree.
"""

from __future__ import annotations

from dataclasses import dataclass

from etl_models.identity import run_key
from etl_models.landing import archive_key_for as archive_key_for  # re-exported
from etl_models.manifest import Manifest
from etl_models.settings import DEFAULT_HEAVY_BATCH_MB

# Tag names on every run (see ``docs/architecture.md``).
TAG_BATCH_ID = "batch_id"
TAG_UPLOADER = "uploader"
TAG_OPERATOR = "operator"
TAG_INTENT = "intent"
TAG_MANIFEST_KEY = "manifest_key"
TAG_LANE = "lane"
TAG_MANIFEST_ARCHIVE_KEY = "manifest_archive_key"
TAG_DATASET_ID = "dataset_id"
# The run's weight class, by the size of its raw files: the instance limits how many heavy
# runs go at once (``concurrency.runs.tag_concurrency_limits`` in infra/dagster.yaml) while
# light ones use every run slot. Not a manifest tag key (those cannot contain "/").
TAG_WEIGHT = "etl/weight"
WEIGHT_HEAVY = "heavy"
WEIGHT_LIGHT = "light"


def batch_weight(input_bytes: int | None, heavy_batch_mb: float = DEFAULT_HEAVY_BATCH_MB) -> str:
    """``heavy`` when the batch's raw files total at least ``heavy_batch_mb`` megabytes, or
    when their size is unknown (the safe side); otherwise ``light``."""
    if input_bytes is None or input_bytes >= heavy_batch_mb * 1_000_000:
        return WEIGHT_HEAVY
    return WEIGHT_LIGHT


@dataclass(frozen=True)
class RunPlan:
    """Everything needed to request the run of one manifest."""

    lane: str
    job_name: str
    run_key: str
    partition_key: str
    tags: dict[str, str]


def plan_run(
    manifest: Manifest,
    manifest_key: str,
    *,
    operator: str,
    lane: str,
    job_name: str,
    input_bytes: int | None = None,
    heavy_batch_mb: float = DEFAULT_HEAVY_BATCH_MB,
) -> RunPlan:
    """The run request for ``manifest`` found at ``manifest_key`` by sensor ``operator``, for
    the lane that owns it (``etl_pipeline.lanes.registry`` decides which). ``input_bytes``
    (the raw files' total size, None when unknown) sets the run's weight tag."""
    tags = {
        TAG_BATCH_ID: manifest.batch_id,
        TAG_UPLOADER: manifest.uploader,
        TAG_OPERATOR: operator,
        TAG_INTENT: manifest.intent,
        TAG_MANIFEST_KEY: manifest_key,
        TAG_LANE: lane,
        TAG_MANIFEST_ARCHIVE_KEY: archive_key_for(manifest_key),
        TAG_DATASET_ID: manifest.dataset_id,
        TAG_WEIGHT: batch_weight(input_bytes, heavy_batch_mb),
    }
    return RunPlan(
        lane=lane,
        job_name=job_name,
        run_key=run_key(lane, manifest.batch_id),
        partition_key=manifest.dataset_id,
        tags=tags,
    )
