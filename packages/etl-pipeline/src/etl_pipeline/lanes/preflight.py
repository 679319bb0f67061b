"""What can be known about a manifest before anything runs, without the object store or the
ledger: does its lane accept its files, are its declared CRSs real, is its intent a typo.

Intake rejects on the problems (and adds its own checks against the landing bucket and the
ledger); the CLI shows the same problems before it uploads anything, and both show the notes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from etl_models.manifest import FieldError

if TYPE_CHECKING:
    from etl_models.manifest import Manifest


@dataclass(frozen=True)
class Preflight:
    problems: list[FieldError] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # worth telling the user; not errors


def preflight(manifest: Manifest) -> Preflight:
    from etl_pipeline.lanes.registry import closest_intent, lane_for_intent, recipe_for_manifest
    from etl_transforms.errors import RecipeError

    problems: list[FieldError] = []
    notes: list[str] = []
    try:
        recipe = recipe_for_manifest(manifest)
    except RecipeError as exc:
        field_name = "metadata.tags" if "tags" in str(exc) else "intent"
        problems.append(FieldError(field_name, str(exc)))
        recipe = None
    problems.extend(_crs_problems(manifest))
    lane = lane_for_intent(manifest.intent)
    if lane.takes_unknown_intents and manifest.intent not in lane.intents:
        guess = closest_intent(manifest.intent)
        recipe_text = f" with the generic recipe {recipe.name!r}" if recipe else ""
        notes.append(
            f"intent {manifest.intent!r} is not declared by any lane, so the {lane.name!r} lane "
            f"takes it{recipe_text}" + (f"; did you mean {guess!r}?" if guess else "")
        )
    return Preflight(problems, notes)


def _crs_problems(manifest: Manifest) -> list[FieldError]:
    declared = [(i, f.crs) for i, f in enumerate(manifest.files) if f.crs]
    if not declared:
        return []
    from etl_spatial.crs import UnknownCrsError, validate_crs

    problems = []
    for index, crs in declared:
        try:
            validate_crs(crs)
        except UnknownCrsError as exc:
            problems.append(FieldError(f"files[{index}].crs", str(exc)))
    return problems
