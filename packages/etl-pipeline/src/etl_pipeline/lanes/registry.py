"""The lanes of the platform, in one list. Routing (intent -> lane, one owner per manifest),
intake, recipe choice, the CLI's choices and both code locations' definitions derive from it.

Adding a lane is writing its module and adding it to :data:`LANES` (docs/architecture.md
walks through it).
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from functools import cache
from pathlib import PurePosixPath
from typing import TYPE_CHECKING, Any

from etl_pipeline.lanes import join, legacy, spatial, tabular
from etl_pipeline.lanes.declaration import FileFormats, Lane

if TYPE_CHECKING:
    from etl_models.manifest import Manifest
    from etl_transforms.registry import Recipe

LANES: tuple[Lane, ...] = (spatial.LANE, tabular.LANE, join.LANE, legacy.LANE)


@cache
def _by_intent() -> dict[str, Lane]:
    owners: dict[str, Lane] = {}
    for lane in LANES:
        for intent in lane.intents:
            if intent in owners:
                raise RuntimeError(
                    f"intent {intent!r} is declared by lanes {owners[intent].name!r} and "
                    f"{lane.name!r}; each intent has exactly one owner"
                )
            owners[intent] = lane
    return owners


def default_lane() -> Lane:
    """The lane that owns intents no lane declares."""
    (lane,) = (lane for lane in LANES if lane.takes_unknown_intents)
    return lane


def lane_named(name: str) -> Lane:
    for lane in LANES:
        if lane.name == name:
            return lane
    raise KeyError(f"no lane named {name!r}; lanes: {', '.join(lane_names())}")


def lane_names() -> list[str]:
    return [lane.name for lane in LANES]


def lane_for_intent(intent: str) -> Lane:
    """The lane that owns manifests with ``intent`` (unknown intents: the default lane)."""
    return _by_intent().get(intent) or default_lane()


def known_intents() -> list[str]:
    return sorted(_by_intent())


def closest_intent(intent: str) -> str | None:
    """The declared intent ``intent`` is most likely a typo of, if any ("ingest_vectr")."""
    matches = difflib.get_close_matches(intent, known_intents(), n=1, cutoff=0.8)
    return matches[0] if matches and matches[0] != intent else None


def lanes_of_location(code_location: str) -> list[Lane]:
    return [lane for lane in LANES if lane.code_location == code_location]


def parse_enabled_lanes(names: Iterable[str]) -> frozenset[str]:
    """Lane names from ``MANIFEST_ROUTER_ENABLED_LANES``, each checked against the registry."""
    known = set(lane_names())
    unknown = sorted(set(names) - known)
    if unknown:
        raise ValueError(
            f"MANIFEST_ROUTER_ENABLED_LANES names unknown lane {unknown[0]!r}; use a comma list "
            f"of {', '.join(lane_names())}"
        )
    return frozenset(names)


def intent_file_type(intent: str) -> str | None:
    """The file type a declared intent takes (``None``: any, or no files, as for joins)."""
    lane = _by_intent().get(intent)
    if lane is None:
        return None
    kind = lane.recipes[intent].kind
    return kind if kind in lane.file_types else None


# --- file types and formats (declared by the lanes that read them) ---------------------------


@cache
def _formats_by_type() -> dict[str, FileFormats]:
    tables: dict[str, FileFormats] = {}
    for lane in LANES:
        for file_type, formats in lane.file_formats.items():
            if tables.setdefault(file_type, formats) != formats:
                raise RuntimeError(
                    f"file type {file_type!r} is declared with different formats by two lanes "
                    f"(one is {lane.name!r}); a file type has one table of formats"
                )
    return tables


def file_types() -> tuple[str, ...]:
    """The manifest file types the platform reads, in the order the lanes declare them."""
    return tuple(_formats_by_type())


def file_formats(file_type: str) -> FileFormats | None:
    """The formats of ``file_type`` (``None``: no lane reads it)."""
    return _formats_by_type().get(file_type)


def formats_of(file_type: str) -> list[str]:
    """The canonical format names a file type accepts, sorted (none for an unknown type)."""
    formats = file_formats(file_type)
    return formats.canonical_names if formats else []


def extension(path: str) -> str:
    """The lower-case extension of a path or key (``''`` when it has none)."""
    return PurePosixPath(path).suffix.lower()


def declared_format(file_type: str, declared: str) -> str | None:
    """The canonical name of a format the user declared, or ``None`` if the type lacks it."""
    formats = file_formats(file_type)
    return formats.declared(declared) if formats else None


def inferred_format(file_type: str, path: str) -> str | None:
    """The canonical format implied by ``path``'s extension, if ``file_type`` accepts it."""
    formats = file_formats(file_type)
    return formats.inferred(extension(path)) if formats else None


def file_types_for_extension(suffix: str) -> frozenset[str]:
    """The file types that can read a file with extension ``suffix`` (``.csv``: two)."""
    return frozenset(t for t, f in _formats_by_type().items() if f.inferred(suffix) is not None)


def canonical_format(file_type: str, declared: str | None, path: str) -> str | None:
    """The canonical format of a manifest file: from its declared format, else its
    extension (``path`` is the zip member when it names one); ``None`` when unknown."""
    if declared is not None:
        return declared_format(file_type, declared)
    return inferred_format(file_type, path)


def canonical_manifest(manifest: Manifest) -> Manifest:
    """``manifest`` with each file's format in its canonical spelling (``shp`` -> ``ESRI
    Shapefile``, inferred from the extension when absent), as the lanes read it. Formats
    that cannot be resolved are left as given: ``preflight`` reports them. A ``.zip`` with
    neither format nor member keeps none: its member decides (``etl_spatial.archives``)."""
    files = []
    for f in manifest.files:
        if f.format is None and f.member is None and extension(f.path) == ".zip":
            # What a zip holds is found when it is opened (a Shapefile, else its one
            # dataset): its extension alone does not say.
            files.append(f)
            continue
        canonical = canonical_format(f.type, f.format, f.member or f.path)
        files.append(f.model_copy(update={"format": canonical or f.format}))
    return manifest.model_copy(update={"files": files})


def manifest_schema() -> dict[str, Any]:
    """The manifest JSON Schema with ``files[].type`` limited to the registry's file types."""
    from etl_models.json_schema import manifest_json_schema

    schema = manifest_json_schema()
    prop = schema["$defs"]["ManifestFile"]["properties"]["type"]
    prop["enum"] = list(file_types())
    prop["examples"] = list(file_types())
    return schema


def recipe_for_manifest(manifest: Manifest, lane: Lane | None = None) -> Recipe:
    """The effective recipe of a batch: its intent's recipe in the owning lane, else the
    generic recipe of its file type, plus the batch's allowed overrides."""
    from etl_transforms.registry import generic_recipe

    lane = lane or lane_for_intent(manifest.intent)
    recipe = lane.recipes.get(manifest.intent) or generic_recipe(manifest.file_type)
    file_type = manifest.file_type
    if file_type is not None and recipe.kind != file_type:
        from etl_transforms.errors import RecipeError

        raise RecipeError(
            f"intent {manifest.intent!r} takes only {recipe.kind} files (recipe "
            f"{recipe.name!r}), but the batch holds {file_type} files; change the intent or the "
            "file types"
        )
    file_options = manifest.files[0].options if manifest.files else None
    return recipe.with_overrides(manifest.metadata.tags).with_file_options(file_options)
