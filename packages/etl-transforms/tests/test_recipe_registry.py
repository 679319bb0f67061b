"""Recipe registry: intents, defaults, versions, fingerprints and controlled overrides."""

from __future__ import annotations

import json

import pytest
from pydantic import ValidationError

from etl_models.manifest import FileOptions, parse_manifest
from etl_transforms.errors import RecipeError, RecipeOverrideError
from etl_transforms.join import JoinOptions
from etl_transforms.raster import RasterOptions
from etl_transforms.registry import (
    DEFAULT_RECIPE,
    DEFAULT_RECIPES,
    RECIPES,
    Recipe,
    recipe_for,
    recipe_for_manifest,
    resolve_recipe,
)
from etl_transforms.tabular import TabularOptions
from etl_transforms.vector import VectorSteps

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(
    ("intent", "file_type", "kind", "name"),
    [
        ("ingest_vector", "vector", "vector", "vector_to_geoparquet"),
        ("ingest_raster", "raster", "raster", "raster_to_cog"),
        ("ingest_tabular", "tabular", "tabular", "csv_to_parquet"),
        ("join_datasets", None, "join", "tabular_spatial_join"),
        ("ingest_building_footprints", "vector", "vector", "building_footprints"),
        ("ingest_road_network", "vector", "vector", "road_network"),
    ],
)
def test_known_intents(intent, file_type, kind, name):
    recipe = recipe_for(intent, file_type)
    assert (recipe.kind, recipe.name) == (kind, name)
    assert recipe.version >= 1
    assert recipe is RECIPES[intent]


def test_legacy_recipes_repair_and_do_not_simplify():
    for intent in ("ingest_building_footprints", "ingest_road_network"):
        params = RECIPES[intent].params
        assert isinstance(params, VectorSteps)
        assert params.make_valid and params.target_srid == 4326
        assert params.simplify_tolerance_m is None


def test_unknown_intents_get_the_generic_recipe_for_their_file_type():
    assert recipe_for("ingest_parcels", "vector").name == "generic_vector"
    assert recipe_for("ingest_parcels", "raster").name == "generic_raster"
    assert recipe_for("ingest_parcels", "tabular").name == "generic_tabular"
    assert recipe_for("ingest_parcels") is DEFAULT_RECIPE
    assert set(DEFAULT_RECIPES) == {"vector", "raster", "tabular"}
    with pytest.raises(RecipeError, match="file type 'video'"):
        recipe_for("ingest_parcels", "video")


def test_known_intent_with_the_wrong_file_type_is_an_error():
    with pytest.raises(RecipeError, match=r"ingest_road_network.*raster"):
        recipe_for("ingest_road_network", "raster")


def test_fingerprints_are_json_and_distinguish_recipes():
    fingerprints = [r.fingerprint() for r in [*RECIPES.values(), *DEFAULT_RECIPES.values()]]
    encoded = {json.dumps(f, sort_keys=True) for f in fingerprints}
    assert len(encoded) == len(fingerprints)
    vector = RECIPES["ingest_vector"].fingerprint()
    assert vector == {
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
    base = recipe_for("ingest_vector", "vector")
    tuned = base.with_overrides({"dataset_id": "roads", "simplify_m": 5})
    assert isinstance(tuned.params, VectorSteps)
    assert tuned.params.simplify_tolerance_m == 5.0
    assert tuned.fingerprint() != base.fingerprint()
    assert base.params.simplify_tolerance_m is None  # the registry entry is untouched
    assert base.with_overrides({"simplify_m": 0}).params == base.params
    assert base.with_overrides({"unrelated": "x"}) is base
    with pytest.raises(RecipeOverrideError, match=r"simplify_m.*'five'"):
        base.with_overrides({"simplify_m": "five"})
    with pytest.raises(RecipeOverrideError, match="negative"):
        base.with_overrides({"simplify_m": -1})
    with pytest.raises(RecipeOverrideError, match="simplify_m"):
        base.with_overrides({"simplify_m": True})


def test_raster_overrides_are_validated():
    base = recipe_for("ingest_raster", "raster")
    tuned = base.with_overrides({"target_crs": "EPSG:4326", "resampling": "bilinear"})
    assert isinstance(tuned.params, RasterOptions)
    assert tuned.params.target_crs == "EPSG:4326"
    assert tuned.params.writer_arguments()["overview_resampling"] == "bilinear"
    with pytest.raises(RecipeOverrideError, match=r"tags.resampling"):
        base.with_overrides({"resampling": "smooth"})
    with pytest.raises(RecipeOverrideError, match=r"tags.target_crs"):
        base.with_overrides({"target_crs": "WGS84"})
    # Overrides of another kind are ignored: a raster tag does not touch a vector recipe.
    vector = recipe_for("ingest_vector")
    assert vector.with_overrides({"target_crs": "EPSG:3857"}) is vector


def test_tabular_file_options_flow_into_the_recipe():
    recipe = resolve_recipe(
        "ingest_tabular",
        "tabular",
        file_options=FileOptions(delimiter=";", encoding="latin-1"),
    )
    assert isinstance(recipe.params, TabularOptions)
    assert recipe.params.delimiter == ";"
    assert recipe.params.encoding == "iso8859-1"
    assert recipe.fingerprint() != RECIPES["ingest_tabular"].fingerprint()


def test_recipe_for_manifest():
    manifest = parse_manifest(
        {
            "batch_id": "roads_2026_11_22",
            "uploader": "jane",
            "intent": "ingest_road_network",
            "files": [{"path": "s3://landing-zone/roads_2026_11_22/roads.gpkg", "type": "vector"}],
            "metadata": {"tags": {"dataset_id": "roads", "simplify_m": 2.5}},
        }
    )
    recipe = recipe_for_manifest(manifest)
    assert recipe.name == "road_network"
    assert isinstance(recipe.params, VectorSteps)
    assert recipe.params.simplify_tolerance_m == 2.5

    join = parse_manifest(
        {
            "batch_id": "join_1",
            "uploader": "jane",
            "intent": "join_datasets",
            "metadata": {
                "join_config": {
                    "spatial_dataset_id": "suburbs",
                    "tabular_dataset_id": "census",
                    "left_key": "code",
                }
            },
        }
    )
    assert recipe_for_manifest(join).kind == "join"
    assert isinstance(recipe_for_manifest(join).params, JoinOptions)


def test_recipe_params_must_match_kind():
    with pytest.raises(ValidationError, match="needs VectorSteps"):
        Recipe(name="broken", version=1, kind="vector", params=TabularOptions())
    with pytest.raises(ValidationError):
        Recipe(name="broken", version=0, kind="vector", params=VectorSteps())
