"""Recipes: generic ones by file type, fingerprints, controlled overrides, params by kind.

Which recipe an intent gets is the lanes' business (``etl_pipeline.lanes``, tested there).
"""

from __future__ import annotations

import json

import pytest
from pydantic import ValidationError

from etl_models.manifest import FileOptions
from etl_transforms.errors import RecipeError, RecipeOverrideError
from etl_transforms.raster import RasterOptions
from etl_transforms.registry import DEFAULT_RECIPES, Recipe, generic_recipe, make_recipe
from etl_transforms.tabular import TabularOptions
from etl_transforms.vector_sql import VectorSteps

pytestmark = pytest.mark.unit


def test_generic_recipes_by_file_type():
    assert generic_recipe("vector").name == "generic_vector"
    assert generic_recipe("raster").name == "generic_raster"
    assert generic_recipe("tabular").name == "generic_tabular"
    assert generic_recipe(None) is DEFAULT_RECIPES["vector"]
    assert set(DEFAULT_RECIPES) == {"vector", "raster", "tabular"}
    with pytest.raises(RecipeError, match="file type 'video'"):
        generic_recipe("video")


def test_fingerprints_are_json_and_distinguish_recipes():
    fingerprints = [r.fingerprint() for r in DEFAULT_RECIPES.values()]
    encoded = {json.dumps(f, sort_keys=True) for f in fingerprints}
    assert len(encoded) == len(fingerprints)
    recipe = make_recipe("vector_to_geoparquet", "vector", VectorSteps(), "test")
    assert recipe.fingerprint() == {
        "name": "vector_to_geoparquet",
        "version": 1,
        "kind": "vector",
        "params": {
            "target_srid": 4326,
            "make_valid": True,
            "drop_empty": True,
            "simplify_tolerance_m": None,
            "normalize_types": True,
        },
    }


def test_simplify_override_from_tags():
    base = generic_recipe("vector")
    tuned = base.with_overrides({"dataset_id": "roads", "simplify_m": 5})
    assert isinstance(tuned.params, VectorSteps)
    assert tuned.params.simplify_tolerance_m == 5.0
    assert tuned.fingerprint() != base.fingerprint()
    assert base.params.simplify_tolerance_m is None  # the declared recipe is untouched
    assert base.with_overrides({"simplify_m": 0}).params == base.params
    assert base.with_overrides({"unrelated": "x"}) is base
    with pytest.raises(RecipeOverrideError, match=r"simplify_m.*'five'"):
        base.with_overrides({"simplify_m": "five"})
    with pytest.raises(RecipeOverrideError, match="negative"):
        base.with_overrides({"simplify_m": -1})
    with pytest.raises(RecipeOverrideError, match="simplify_m"):
        base.with_overrides({"simplify_m": True})


def test_raster_overrides_are_validated():
    base = generic_recipe("raster")
    tuned = base.with_overrides({"target_crs": "EPSG:4326", "resampling": "bilinear"})
    assert isinstance(tuned.params, RasterOptions)
    assert tuned.params.target_crs == "EPSG:4326"
    assert tuned.params.writer_arguments()["overview_resampling"] == "bilinear"
    with pytest.raises(RecipeOverrideError, match=r"tags.resampling"):
        base.with_overrides({"resampling": "smooth"})
    with pytest.raises(RecipeOverrideError, match=r"tags.target_crs"):
        base.with_overrides({"target_crs": "WGS84"})
    # Overrides of another kind are ignored: a raster tag does not touch a vector recipe.
    vector = generic_recipe("vector")
    assert vector.with_overrides({"target_crs": "EPSG:3857"}) is vector


def test_tabular_file_options_flow_into_the_recipe():
    base = generic_recipe("tabular")
    recipe = base.with_file_options(FileOptions(delimiter=";", encoding="latin-1"))
    assert isinstance(recipe.params, TabularOptions)
    assert recipe.params.delimiter == ";"
    assert recipe.params.encoding == "iso8859-1"
    assert recipe.fingerprint() != base.fingerprint()


def test_recipe_params_must_match_kind():
    with pytest.raises(ValidationError, match="needs VectorSteps"):
        Recipe(name="broken", version=1, kind="vector", params=TabularOptions())
    with pytest.raises(ValidationError):
        Recipe(name="broken", version=0, kind="vector", params=VectorSteps())
