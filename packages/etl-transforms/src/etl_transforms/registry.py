"""Recipes: versioned transformations with their parameters.

A :class:`Recipe` names a kind of transformation (vector, raster, tabular, join), its version
and its parameters. ``recipe.fingerprint()`` goes into the content hash of a dataset version, so
changing a recipe's parameters must bump its ``version``: identical inputs processed by a
different recipe are a different version, never deduplicated against the old one.

Each lane declares the recipes of its intents (``etl_pipeline.lanes``); intents no lane declares
get a generic recipe chosen by the batch's file type (:data:`DEFAULT_RECIPES`). A few parameters
may be overridden per batch from ``metadata.tags`` (:data:`OVERRIDE_TAGS`); overrides are
validated and become part of the params, hence of the fingerprint. Unknown tags are ignored:
tags carry other things too.

This module is imported by sensors: it must stay light (no pyarrow, no psycopg connections)."""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from etl_transforms.errors import RecipeError, RecipeOverrideError
from etl_transforms.join import JoinOptions
from etl_transforms.raster import RasterOptions
from etl_transforms.tabular import TabularOptions
from etl_transforms.vector_sql import VectorSteps

RecipeKind = str
"""The kind of batch a recipe processes; also the manifest file type its lane reads (joins
have none). A lane may declare a kind of its own with a params model of its own."""

_PARAMS_BY_KIND: dict[str, type[BaseModel]] = {
    "vector": VectorSteps,
    "raster": RasterOptions,
    "tabular": TabularOptions,
    "join": JoinOptions,
}

OVERRIDE_TAGS: Mapping[str, Mapping[str, str]] = MappingProxyType(
    {
        "vector": MappingProxyType(
            {
                "simplify_m": "simplification tolerance in metres (> 0), 0 to switch it off",
                "keep_source_names": "true keeps attribute names as in the file (STATE_FIPS)",
            }
        ),
        "raster": MappingProxyType(
            {
                "target_crs": "reproject to this CRS, e.g. 'EPSG:4326'",
                "resampling": "resampling method, e.g. 'nearest' for categorical rasters",
            }
        ),
        "tabular": MappingProxyType(
            {"keep_source_names": "true keeps headers as in the file where they are valid names"}
        ),
        "join": MappingProxyType({}),
    }
)
"""Per recipe kind: the ``metadata.tags`` keys that may override a parameter."""

ADDED_PARAMS: Mapping[str, object] = MappingProxyType({"keep_source_names": False})
"""Params added after recipes were first fingerprinted, with their default: left out of the
fingerprint while at the default, so existing datasets keep their content hash."""


class Recipe(BaseModel):
    """A versioned transformation recipe."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = Field(pattern=r"^[a-z][a-z0-9_]{0,63}$")
    version: int = Field(ge=1, description="bump whenever the behaviour or params change")
    kind: RecipeKind = Field(pattern=r"^[a-z][a-z0-9_]{0,31}$")
    params: BaseModel = Field(description="frozen pydantic params; the built-in kinds' own models")
    description: str = ""

    @model_validator(mode="after")
    def _params_match_kind(self) -> Recipe:
        expected = _PARAMS_BY_KIND.get(self.kind)
        if expected is not None and not isinstance(self.params, expected):
            raise ValueError(
                f"recipe {self.name!r} of kind {self.kind!r} needs {expected.__name__} params, "
                f"got {type(self.params).__name__}"
            )
        return self

    def fingerprint(self) -> dict[str, Any]:
        """JSON-able identity of the recipe for content hashes and ledger records."""
        return {
            "name": self.name,
            "version": self.version,
            "kind": self.kind,
            "params": {
                name: value
                for name, value in self.params.model_dump(mode="json").items()
                if name not in ADDED_PARAMS or value != ADDED_PARAMS[name]
            },
        }

    def with_params(self, **changes: Any) -> Recipe:
        """A copy with some params changed (validated)."""
        model = type(self.params)
        try:
            params = model.model_validate({**self.params.model_dump(), **changes})
        except ValidationError as exc:
            raise RecipeOverrideError(
                f"invalid parameters for recipe {self.name!r}: {exc.errors(include_url=False)}"
            ) from None
        return self.model_copy(update={"params": params})

    def with_overrides(self, tags: Mapping[str, Any] | None) -> Recipe:
        """Apply the allowed ``metadata.tags`` overrides for this recipe kind."""
        if not tags:
            return self
        changes: dict[str, Any] = {}
        if self.kind == "vector" and "simplify_m" in tags:
            changes["simplify_tolerance_m"] = _simplify_tolerance(tags["simplify_m"])
        if self.kind in ("vector", "tabular") and "keep_source_names" in tags:
            changes["keep_source_names"] = _tag_flag(tags, "keep_source_names")
        if self.kind == "raster":
            if "target_crs" in tags:
                changes["target_crs"] = _tag_text(tags, "target_crs", "'EPSG:4326'")
            if "resampling" in tags:
                changes["resampling"] = _tag_text(tags, "resampling", "'nearest'")
        if not changes:
            return self
        try:
            params = type(self.params).model_validate({**self.params.model_dump(), **changes})
        except ValidationError as exc:
            first = exc.errors(include_url=False)[0]
            field = first["loc"][0] if first["loc"] else "?"
            tag = {"simplify_tolerance_m": "simplify_m"}.get(str(field), str(field))
            raise RecipeOverrideError(
                f"metadata.tags.{tag} = {tags.get(tag)!r} is invalid for recipe "
                f"{self.name!r}: {first['msg']}; {OVERRIDE_TAGS[self.kind].get(tag, '')}"
            ) from None
        return self.model_copy(update={"params": params})

    def with_file_options(self, options: Any | None) -> Recipe:
        """Apply a tabular file's reader options (``files[].options``: delimiter, encoding)."""
        if options is None or self.kind != "tabular":
            return self
        changes = {}
        for name in ("delimiter", "encoding"):
            value = getattr(options, name, None)
            if value is None and isinstance(options, Mapping):
                value = options.get(name)
            if value is not None:
                changes[name] = value
        return self.with_params(**changes) if changes else self


def _simplify_tolerance(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise RecipeOverrideError(
            f"metadata.tags.simplify_m must be a number of metres, e.g. 5 (got {value!r}); "
            "use 0 to switch simplification off"
        )
    if value < 0:
        raise RecipeOverrideError(
            f"metadata.tags.simplify_m must not be negative (got {value!r}); use a tolerance "
            "in metres such as 5, or 0 to switch simplification off"
        )
    return float(value) if value > 0 else None


def _tag_flag(tags: Mapping[str, Any], key: str) -> bool:
    value = tags[key]
    if isinstance(value, bool):
        return value
    # ``etl submit --tag`` can only send text.
    if isinstance(value, str) and value.lower() in ("true", "false"):
        return value.lower() == "true"
    raise RecipeOverrideError(f"metadata.tags.{key} must be true or false (got {value!r})")


def _tag_text(tags: Mapping[str, Any], key: str, example: str) -> str:
    value = tags[key]
    if not isinstance(value, str):
        raise RecipeOverrideError(
            f"metadata.tags.{key} must be text such as {example} (got {value!r})"
        )
    return value


def make_recipe(name: str, kind: RecipeKind, params: BaseModel, description: str) -> Recipe:
    """A version-1 recipe; lanes declare theirs with it (``etl_pipeline.lanes``)."""
    return Recipe(name=name, version=1, kind=kind, params=params, description=description)


DEFAULT_RECIPES: Mapping[str, Recipe] = MappingProxyType(
    {
        "vector": make_recipe(
            "generic_vector", "vector", VectorSteps(), "default recipe for unknown intents"
        ),
        "raster": make_recipe(
            "generic_raster", "raster", RasterOptions(), "default recipe for unknown intents"
        ),
        "tabular": make_recipe(
            "generic_tabular", "tabular", TabularOptions(), "default recipe for unknown intents"
        ),
    }
)
"""File type -> recipe for intents no lane declares."""


def generic_recipe(file_type: str | None) -> Recipe:
    """The recipe for an intent no lane declares, by the batch's file type (vector if none).

    Raises :class:`RecipeError` when the file type has no recipe.
    """
    if file_type is None:
        return DEFAULT_RECIPES["vector"]
    try:
        return DEFAULT_RECIPES[file_type]
    except KeyError:
        raise RecipeError(
            f"file type {file_type!r} has no recipe; use one of {sorted(DEFAULT_RECIPES)}"
        ) from None
