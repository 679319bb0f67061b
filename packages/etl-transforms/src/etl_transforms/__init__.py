"""Transformation recipes: versioned recipes, vector/raster/tabular steps, joins.

Modules: :mod:`~etl_transforms.registry` (versioned recipes, generic ones by file type),
:mod:`~etl_transforms.vector` (PostGIS vector steps; their SQL in
:mod:`~etl_transforms.vector_sql`, database facts in :mod:`~etl_transforms.vector_profile`),
:mod:`~etl_transforms.tabular` (CSV -> Parquet), :mod:`~etl_transforms.headers`
(column-name normalisation), :mod:`~etl_transforms.raster` (raster -> COG),
:mod:`~etl_transforms.join` (tabular onto spatial join). Importing the package is cheap:
pyarrow is imported only when a CSV is converted.
"""

from etl_transforms.errors import (
    IdentifierError,
    JoinDuplicateKeyError,
    JoinKeyError,
    RecipeError,
    RecipeOverrideError,
    SourceCrsError,
    TabularEncodingError,
    TabularParseError,
    TransformError,
    VectorSchemaError,
)
from etl_transforms.headers import HeaderMapping, normalize_headers
from etl_transforms.join import JoinOptions, JoinReport, JoinSpec, build_join_sql, run_join
from etl_transforms.raster import RasterOptions, raster_to_lake_cog
from etl_transforms.registry import DEFAULT_RECIPES, Recipe, generic_recipe, make_recipe
from etl_transforms.tabular import TabularOptions, TabularReport, csv_to_parquet
from etl_transforms.vector import VectorTransformReport, apply_vector_steps
from etl_transforms.vector_sql import VectorSteps, build_vector_transform

__all__ = [
    "DEFAULT_RECIPES",
    "HeaderMapping",
    "IdentifierError",
    "JoinDuplicateKeyError",
    "JoinKeyError",
    "JoinOptions",
    "JoinReport",
    "JoinSpec",
    "RasterOptions",
    "Recipe",
    "RecipeError",
    "RecipeOverrideError",
    "SourceCrsError",
    "TabularEncodingError",
    "TabularOptions",
    "TabularParseError",
    "TabularReport",
    "TransformError",
    "VectorSchemaError",
    "VectorSteps",
    "VectorTransformReport",
    "apply_vector_steps",
    "build_join_sql",
    "build_vector_transform",
    "csv_to_parquet",
    "generic_recipe",
    "make_recipe",
    "normalize_headers",
    "raster_to_lake_cog",
    "run_join",
]
