"""The one runner every lane uses: prepare -> dedupe -> load -> compute -> export -> check ->
publish.

1. The run's ledger record exists before any work (idempotent ``begin``) and the manifest is
   archived: the run durably exists, so intake is complete.
2. The content hash (inputs by ETag and size, or parent versions, plus the recipe) is computed
   first. Identical inputs with the same recipe match an existing version: no new version,
   the run records which asset it matched.
3. Work happens in a private temporary directory and, for lanes that compute in PostGIS, the
   run's own schema; both are removed on every exit path. The lake sees only finished files
   whose checks passed (see :mod:`etl_pipeline.lanes.publish`).
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from pathlib import Path
from typing import TYPE_CHECKING, Any

from etl_pipeline.lanes import publish as publishing
from etl_pipeline.lanes.batch import BatchRun, begin
from etl_pipeline.lanes.contract import LaneResult
from etl_pipeline.lanes.declaration import Lane, LaneSteps, Work

if TYPE_CHECKING:
    from etl_models.manifest import Manifest


@contextmanager
def _workdir() -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix="etl-run-") as tmp:
        yield Path(tmp)


def run_lane(run: BatchRun, lane: Lane, manifest: Manifest | None = None) -> LaneResult:
    """Process the run's batch with ``lane``'s steps for its recipe."""
    from etl_pipeline.lanes.registry import recipe_for_manifest

    manifest = begin(run, manifest)  # idempotent: the run start is recorded exactly once
    recipe = recipe_for_manifest(manifest, lane)
    steps: LaneSteps[Any] = lane.steps_for(recipe)

    run.phase("preparing")
    provenance = steps.prepare(run, manifest)
    record = publishing.recipe_record(recipe, dict(provenance.recipe_params))
    hash_ = publishing.content_hash(manifest, record, provenance)
    matched = publishing.matching_version(run, hash_, manifest.dataset_id)
    if matched is not None:
        return matched

    postgis = run.services.postgis
    with _workdir() as tmp:
        schema_scope = (
            postgis.ephemeral_schema(run.dagster_run_id) if steps.uses_postgis else nullcontext()
        )
        with schema_scope as schema:
            work = Work(run, manifest, recipe, provenance, tmp, tmp / steps.output.filename, schema)
            run.phase("loading")
            state = steps.load(work)
            run.phase("transforming")
            state = steps.compute(work, state)
            run.phase("exporting")
            output = steps.export(work, state)
        run.phase("checking", rows=output.row_count)
        problems = steps.check(work, output)
        if problems:
            raise publishing.contract_failure(manifest, problems)
        run.phase("publishing", rows=output.row_count)
        result = publishing.publish(
            run,
            manifest,
            output,
            steps.output,
            lane=lane.name,
            recipe=record,
            hash_=hash_,
            provenance=provenance,
            stac_properties=steps.stac_properties(work, output),
        )
    warnings = [*steps.warnings(work, output), *publishing.drift_warnings(result.drift)]
    run.services.ledger.add_manifest_warnings(manifest.batch_id, warnings)
    return result


def run_batch(run: BatchRun, lane_name: str) -> LaneResult:
    """Process the run's batch with the lane named ``lane_name`` (the registry's)."""
    from etl_pipeline.lanes.registry import lane_named

    return run_lane(run, lane_named(lane_name))
