"""The lane registry: one owner per intent, recipes by intent, routing and typo hints."""

from __future__ import annotations

import pytest

from etl_models.manifest import parse_manifest
from etl_pipeline.lanes.declaration import LaneSteps
from etl_pipeline.lanes.registry import (
    LANES,
    closest_intent,
    default_lane,
    intent_file_type,
    known_intents,
    lane_for_intent,
    lane_named,
    lanes_of_location,
    parse_enabled_lanes,
    recipe_for_manifest,
)
from etl_transforms.errors import RecipeError
from etl_transforms.join import JoinOptions
from etl_transforms.vector_sql import VectorSteps

pytestmark = pytest.mark.unit


def manifest(intent: str, file_type: str | None = "vector", **metadata):
    doc = {"batch_id": "b_1", "uploader": "jane", "intent": intent, "metadata": metadata}
    if file_type:
        ext = {"vector": "gpkg", "raster": "tif", "tabular": "csv"}[file_type]
        doc["files"] = [{"path": f"s3://landing-zone/b_1/x.{ext}", "type": file_type}]
    return parse_manifest(doc)


@pytest.mark.parametrize(
    ("intent", "file_type", "lane", "kind", "name"),
    [
        ("ingest_vector", "vector", "spatial", "vector", "vector_to_geoparquet"),
        ("ingest_raster", "raster", "spatial", "raster", "raster_to_cog"),
        ("ingest_tabular", "tabular", "tabular", "tabular", "csv_to_parquet"),
        ("ingest_building_footprints", "vector", "ingest", "vector", "building_footprints"),
        ("ingest_road_network", "vector", "ingest", "vector", "road_network"),
        ("ingest_parcels", "vector", "ingest", "vector", "generic_vector"),
        ("ingest_parcels", "raster", "ingest", "raster", "generic_raster"),
        ("ingest_parcels", "tabular", "ingest", "tabular", "generic_tabular"),
    ],
)
def test_intents_route_to_one_lane_and_recipe(intent, file_type, lane, kind, name):
    m = manifest(intent, file_type)
    assert lane_for_intent(intent).name == lane
    recipe = recipe_for_manifest(m)
    assert (recipe.kind, recipe.name) == (kind, name)
    assert isinstance(lane_for_intent(intent).steps_for(recipe), LaneSteps)


def test_every_intent_has_exactly_one_owner_and_one_default_lane():
    owners = [intent for lane in LANES for intent in lane.intents]
    assert len(owners) == len(set(owners)) == len(known_intents())
    assert default_lane().name == "ingest"
    assert lane_for_intent("ingest_vectr") is default_lane()


def test_every_lane_has_steps_for_each_of_its_recipes_and_unique_dagster_names():
    for lane in LANES:
        for recipe in lane.recipes.values():
            assert lane.steps_for(recipe).kind == recipe.kind
    for attribute in ("name", "sensor", "job", "asset", "partitions_name"):
        values = [getattr(lane, attribute) for lane in LANES]
        assert len(values) == len(set(values)), attribute
    assert [lane.name for lane in lanes_of_location("asset_lanes")] == [
        "spatial",
        "tabular",
        "join",
    ]
    assert [lane.name for lane in lanes_of_location("legacy_ingest")] == ["ingest"]


def test_legacy_recipes_repair_and_do_not_simplify():
    legacy = lane_named("ingest")
    for intent in ("ingest_building_footprints", "ingest_road_network"):
        params = legacy.recipes[intent].params
        assert isinstance(params, VectorSteps)
        assert params.make_valid and params.target_srid == 4326
        assert params.simplify_tolerance_m is None


def test_known_intent_with_the_wrong_file_type_is_an_error():
    with pytest.raises(RecipeError, match=r"ingest_road_network.*takes only vector files"):
        recipe_for_manifest(manifest("ingest_road_network", "raster"))
    with pytest.raises(RecipeError, match=r"'ingest_raster' takes only raster files"):
        recipe_for_manifest(manifest("ingest_raster", "vector"))
    assert intent_file_type("ingest_raster") == "raster"
    assert intent_file_type("join_datasets") is None
    assert intent_file_type("ingest_parcels") is None


def test_enabled_lanes_are_checked_against_the_registry():
    assert parse_enabled_lanes({"ingest", "spatial"}) == {"ingest", "spatial"}
    with pytest.raises(ValueError, match="MANIFEST_ROUTER_ENABLED_LANES names unknown lane 'x'"):
        parse_enabled_lanes({"ingest", "x"})


def test_overrides_from_tags_reach_the_lane_recipe():
    recipe = recipe_for_manifest(
        manifest("ingest_road_network", "vector", tags={"dataset_id": "roads", "simplify_m": 2.5})
    )
    assert recipe.name == "road_network"
    assert recipe.params.simplify_tolerance_m == 2.5


def test_join_recipe():
    join = manifest(
        "join_datasets",
        None,
        join_config={
            "spatial_dataset_id": "suburbs",
            "tabular_dataset_id": "census",
            "left_key": "code",
        },
    )
    recipe = recipe_for_manifest(join)
    assert recipe.kind == "join"
    assert isinstance(recipe.params, JoinOptions)
    assert lane_for_intent("join_datasets").steps_for(recipe).uses_postgis


def test_closest_intent_names_the_likely_typo():
    assert closest_intent("ingest_vectr") == "ingest_vector"
    assert closest_intent("ingest_vector") is None
    assert closest_intent("ingest_raster_") == "ingest_raster"
    assert closest_intent("something_else_entirely") is None
