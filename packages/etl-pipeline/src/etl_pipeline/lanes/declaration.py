"""The shape of a lane: what it declares and the steps it runs on the shared template.

A lane module (``etl_pipeline.lanes.spatial``, ``tabular``, ``join``, ``legacy``) builds one
:class:`Lane` and the :class:`LaneSteps` of each kind of batch it processes; the registry
collects the lanes, and routing, intake, the CLI and both code locations derive from it.
Lane modules import only light things at module level: sensors and the CLI read the
declarations, and heavy libraries are imported inside the steps that use them.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Generic, Literal, TypeVar

from etl_pipeline.lanes.contract import LaneOutput, OutputFormat

if TYPE_CHECKING:
    from etl_models.ledger_records import AssetRecord, InputFile, ParentAsset
    from etl_models.manifest import Manifest
    from etl_pipeline.lanes.batch import BatchRun
    from etl_spatial.postgis import RunSchema
    from etl_transforms.registry import Recipe

State = TypeVar("State")

CHECK_CRS = "crs_is_epsg4326"
CHECK_GEOMETRIES = "geometries_valid_and_non_empty"
CHECK_ROW_COUNT = "row_count_matches_source"
CHECK_SCHEMA_DRIFT = "schema_drift"
CHECK_JOIN_MATCH_RATE = "join_match_rate"
"""The kept side(s) of a join matched at least ``join_config.min_match_rate``."""

SPATIAL_CHECKS = (CHECK_CRS, CHECK_GEOMETRIES, CHECK_ROW_COUNT, CHECK_SCHEMA_DRIFT)
TABULAR_CHECKS = (CHECK_ROW_COUNT, CHECK_SCHEMA_DRIFT)
JOIN_CHECKS = (*SPATIAL_CHECKS, CHECK_JOIN_MATCH_RATE)
WARNING_CHECKS = frozenset({CHECK_SCHEMA_DRIFT, CHECK_JOIN_MATCH_RATE})
"""Checks that warn instead of blocking the materialization."""


@dataclass(frozen=True)
class Provenance:
    """What identifies a batch's output: raw inputs (by ETag and size) or parent versions."""

    inputs: list[InputFile] = field(default_factory=list)
    parents: list[ParentAsset] = field(default_factory=list)
    parent_assets: Mapping[str, AssetRecord] = field(default_factory=dict)  # by role
    recipe_params: Mapping[str, Any] = field(default_factory=dict)  # extra, hashed too


@dataclass(frozen=True)
class Work:
    """Everything a step may use: the run, its manifest and recipe, a private temporary
    directory and (for lanes that compute in PostGIS) the run's own schema."""

    run: BatchRun
    manifest: Manifest
    recipe: Recipe
    provenance: Provenance
    tmp: Path
    output_path: Path  # where export writes the lake object (inside ``tmp``)
    schema: RunSchema | None = None


class LaneSteps(ABC, Generic[State]):
    """The steps of one kind of batch (vector, raster, tabular, join) on the template:
    prepare -> (dedupe) -> load -> compute -> export -> check -> (publish).

    The template owns dedupe and publish; a lane writes the rest. ``State`` is whatever a
    lane hands from one step to the next.
    """

    kind: ClassVar[str]
    """The recipe kind these steps process; the recipe's params are of that kind."""
    output: ClassVar[OutputFormat]
    uses_postgis: ClassVar[bool] = False
    """Whether the template opens the run's PostGIS schema around load/compute/export."""

    def prepare(self, run: BatchRun, manifest: Manifest) -> Provenance:
        """The batch's provenance; by default its raw files in the landing bucket, plus what
        the manifest chose to read from them (zip member, layer, CRS, coordinate columns):
        the same bytes read differently are a different version, not a duplicate."""
        from etl_pipeline.lanes.contract import LaneError
        from etl_storage.errors import ObjectNotFound

        store = run.services.store
        inputs = []
        for index, item in enumerate(manifest.files):
            try:
                inputs.append(store.landing_object_metadata(item.key).to_input_file())
            except ObjectNotFound:
                raise LaneError(
                    f"files[{index}] ({item.path}) is no longer in the landing bucket: it was "
                    "removed after the manifest was taken in. Upload it again and submit the "
                    "batch under a new batch_id"
                ) from None
        choices = [reading_choices(item) for item in manifest.files]
        return Provenance(
            inputs=inputs,
            recipe_params={"file_reading": choices} if any(choices) else {},
        )

    @abstractmethod
    def load(self, work: Work) -> State:
        """Bring the inputs where the compute step works on them."""

    def compute(self, work: Work, state: State) -> State:
        """Apply the recipe (default: nothing to compute)."""
        return state

    @abstractmethod
    def export(self, work: Work, state: State) -> LaneOutput:
        """Write the lake object to ``work.output_path`` and measure it."""

    def check(self, work: Work, output: LaneOutput) -> list[str]:
        """Broken output contracts; any fails the batch before it reaches the lake."""
        return output.quality.violations()

    def stac_properties(self, work: Work, output: LaneOutput) -> dict[str, Any]:
        """Extra STAC item properties this lane adds (default: none)."""
        return {}

    def warnings(self, work: Work, output: LaneOutput) -> list[str]:
        """What the user should know about this output although nothing failed (rows
        repaired or dropped, a low match rate): one plain sentence each."""
        return []


def reading_choices(item: Any) -> dict[str, str]:
    """What a manifest file entry chooses to read beyond its bytes (unset choices left out,
    so batches that make none keep the content hash they always had)."""
    options = item.options
    chosen = {
        "member": getattr(item, "member", None),
        "layer": item.layer,
        "crs": item.crs,
        "x_column": options.x_column if options else None,
        "y_column": options.y_column if options else None,
        "wkt_column": options.wkt_column if options else None,
    }
    if options is not None and item.type == "vector":
        # The same bytes read in another encoding or with another delimiter are other data:
        # a batch that corrects them must not be taken for the version it corrects. (A
        # tabular recipe carries both in its params already.) Defaults are left out.
        chosen["encoding"] = options.encoding if options.encoding != "utf-8" else None
        chosen["delimiter"] = options.delimiter if options.delimiter != "," else None
    return {k: v for k, v in chosen.items() if v}


@dataclass(frozen=True)
class FileFormats:
    """How users spell the formats of one manifest file type a lane reads.

    ``aliases``: lower-case spelling -> canonical GDAL/driver name (every canonical name is
    also one of its own spellings); ``extensions``: lower-case extension (``.gpkg``) ->
    canonical name, used when ``files[].format`` is absent. ``max_files_per_batch``: how many
    files one batch of this type may list (``None``: up to the protocol's limit).
    """

    aliases: Mapping[str, str]
    extensions: Mapping[str, str]
    max_files_per_batch: int | None = None

    @property
    def canonical_names(self) -> list[str]:
        """The canonical format names of the type, sorted."""
        return sorted(set(self.aliases.values()))

    def declared(self, spelling: str) -> str | None:
        """The canonical name of a format the user declared, or ``None``."""
        return self.aliases.get(spelling.strip().lower())

    def inferred(self, suffix: str) -> str | None:
        """The canonical name implied by the extension ``suffix`` (``.TIF``), or ``None``."""
        return self.extensions.get(suffix.lower())


DagsterStyle = Literal["asset", "op_job"]


@dataclass(frozen=True)
class Lane:
    """One lane: its intents and recipes, the steps per kind of batch, and how Dagster
    serves it (one sensor, one job, one partitioned asset)."""

    name: str
    description: str
    code_location: str
    sensor: str
    job: str
    asset: str
    asset_kinds: frozenset[str]
    recipes: Mapping[str, Recipe]
    """Intent -> recipe: the intents this lane owns."""
    steps: Mapping[str, LaneSteps[Any]]
    """Recipe kind -> the steps that process it."""
    file_formats: Mapping[str, FileFormats] = field(default_factory=dict)
    """Manifest file type -> its formats: the ``files[].type`` values this lane reads (a
    file type and the recipe kind that processes it are the same word; joins read none)."""
    checks: tuple[str, ...] = TABULAR_CHECKS
    takes_unknown_intents: bool = False
    """The default lane: owns every intent no lane declares (the legacy lane)."""
    dagster_style: DagsterStyle = "asset"
    traffic_controlled: bool = False
    """Launches runs only when MANIFEST_ROUTER_ENABLED_LANES enables the lane."""

    def __post_init__(self) -> None:
        unread = sorted(set(self.file_formats) - set(self.steps))
        if unread:
            raise ValueError(f"lane {self.name!r} declares file type(s) {unread} without steps")

    @property
    def intents(self) -> frozenset[str]:
        return frozenset(self.recipes)

    @property
    def file_types(self) -> frozenset[str]:
        """The manifest file types this lane reads (joins have none)."""
        return frozenset(self.file_formats)

    @property
    def partitions_name(self) -> str:
        """Name of the lane's own dynamic partitions (one partition per dataset)."""
        return f"{self.name}_datasets"

    def steps_for(self, recipe: Recipe) -> LaneSteps[Any]:
        try:
            return self.steps[recipe.kind]
        except KeyError:
            raise ValueError(
                f"lane {self.name!r} has no steps for {recipe.kind} batches (recipe "
                f"{recipe.name!r})"
            ) from None
