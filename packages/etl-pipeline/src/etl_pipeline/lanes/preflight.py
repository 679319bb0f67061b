"""What can be known about a manifest before anything runs, without the object store or the
ledger: are its file types and formats ones a lane reads (and as many files as the type
takes), does its lane accept its files, are its declared CRSs real, is its intent a typo.

Intake rejects on the problems (and adds its own checks against the landing bucket and the
ledger); the CLI shows the same problems before it uploads anything, and both show the notes.
"""

from __future__ import annotations

from collections.abc import Sequence
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

    problems: list[FieldError] = _type_problems(manifest)
    notes: list[str] = []
    if problems:  # no recipe, format or lane can be judged for a file type nobody reads
        return Preflight([*problems, *_crs_problems(manifest)], notes)
    problems.extend(_format_problems(manifest))
    problems.extend(_option_problems(manifest))
    problems.extend(_count_problems(manifest))
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


def _one_of(values: Sequence[str]) -> str:
    """``'a', 'b' or 'c'`` (the way the manifest's other choices are listed)."""
    quoted = [repr(v) for v in values]
    return quoted[0] if len(quoted) == 1 else f"{', '.join(quoted[:-1])} or {quoted[-1]}"


def _type_problems(manifest: Manifest) -> list[FieldError]:
    from etl_pipeline.lanes.registry import file_types

    known = file_types()
    return [
        FieldError(f"files[{i}].type", f"{f.type!r} is not allowed; use one of {_one_of(known)}")
        for i, f in enumerate(manifest.files)
        if f.type not in known
    ]


def _format_problems(manifest: Manifest) -> list[FieldError]:
    from etl_pipeline.lanes.registry import canonical_format, extension, formats_of

    problems = []
    for i, f in enumerate(manifest.files):
        path = f.member or f.path
        if canonical_format(f.type, f.format, path) is not None:
            continue
        allowed = ", ".join(formats_of(f.type))
        if f.format is not None:
            message = f"format '{f.format}' is not a {f.type} format; use one of {allowed}"
        else:
            message = (
                f"cannot infer a {f.type} format from extension '{extension(path) or '(none)'}'; "
                f"set files[].format (one of {allowed})"
            )
        problems.append(FieldError(f"files[{i}].format", message))
    return problems


# Reader options a file's format cannot use would be ignored, so they are refused.
_GEOMETRY_COLUMNS = ("x_column", "y_column", "wkt_column")


def _option_problems(manifest: Manifest) -> list[FieldError]:
    """Fields and ``files[].options`` a file cannot use (a layer outside vector files, a CRS for
    a table, geometry columns outside a vector CSV, a delimiter outside CSV, an encoding for
    binary formats): named, not silently ignored."""
    from etl_pipeline.lanes.registry import canonical_format
    from etl_spatial.vector_text import DELIMITED_DRIVERS, ENCODED_DRIVERS, is_utf8

    problems = []
    for i, f in enumerate(manifest.files):
        if f.layer is not None and f.type != "vector":
            problems.append(FieldError(
                f"files[{i}].layer", f"layers exist in vector files only, and this is a {f.type} "
                "file; remove it",
            ))  # fmt: skip
        if f.crs is not None and f.type == "tabular":
            problems.append(FieldError(
                f"files[{i}].crs", "a tabular file has no geometry for a CRS to apply to; remove "
                "it, or give a CSV with coordinate columns the type 'vector'",
            ))  # fmt: skip
        fmt = canonical_format(f.type, f.format, f.member or f.path)
        if f.options is None or fmt is None:
            continue
        given = f.options.model_fields_set
        what = f"a {f.type} {fmt} file"
        for name in _GEOMETRY_COLUMNS:
            if name in given and not (f.type == "vector" and fmt == "CSV"):
                problems.append(FieldError(
                    f"files[{i}].options.{name}",
                    f"geometry columns apply to vector CSV files only, and this is {what}; "
                    "remove it",
                ))  # fmt: skip
        if "delimiter" in given and fmt not in DELIMITED_DRIVERS and f.options.delimiter != ",":
            problems.append(FieldError(
                f"files[{i}].options.delimiter",
                f"a delimiter applies to CSV files only, and this is {what}; remove it",
            ))  # fmt: skip
        if "encoding" in given and fmt not in ENCODED_DRIVERS and not is_utf8(f.options.encoding):
            problems.append(FieldError(
                f"files[{i}].options.encoding",
                f"an encoding applies to CSV, GeoJSON and Shapefile files only, and this is "
                f"{what}, whose text is UTF-8 by definition; remove it",
            ))  # fmt: skip
    return problems


def _count_problems(manifest: Manifest) -> list[FieldError]:
    from etl_pipeline.lanes.registry import file_formats

    kind, count = manifest.file_type, len(manifest.files)
    formats = file_formats(kind) if kind else None
    limit = formats.max_files_per_batch if formats else None
    if limit is None or count <= limit:
        return []
    if limit == 1:
        rule, fix = "exactly one file", "submit one batch per file"
    else:
        rule, fix = f"at most {limit} files", f"split it into batches of at most {limit} files"
    return [FieldError("files", f"a {kind} batch takes {rule} (got {count}); {fix}")]


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
