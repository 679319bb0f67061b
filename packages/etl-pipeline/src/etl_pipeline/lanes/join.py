"""The join lane: a tabular dataset joined onto a spatial dataset by key in PostGIS, written as
GeoParquet (intent ``join_datasets``).

:func:`resolve_join` is the one place join inputs are checked: intake calls it to reject a
join that cannot run, the lane to find its parents and key columns, the CLI before it submits.
Key columns may be named as in the source files or as in the lake, in any letter case
(:mod:`etl_pipeline.lanes.columns`); the join runs on the lake names.

Match rates are judged on the side(s) the user keeps (``keep``): under ``min_match_rate`` the
join warns (asset check, ledger warning); no match at all fails the run.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from etl_models.ledger_records import ParentAsset
from etl_pipeline.lanes.columns import resolve_column
from etl_pipeline.lanes.contract import LaneError, LaneOutput, QualityFacts, columns_of
from etl_pipeline.lanes.declaration import JOIN_CHECKS, Lane, LaneSteps, Provenance, Work
from etl_pipeline.lanes.join_match import join_warnings, match_summary, no_match_error
from etl_pipeline.lanes.spatial import GEOPARQUET
from etl_transforms.join import JoinOptions, JoinSpec
from etl_transforms.registry import make_recipe

if TYPE_CHECKING:
    from etl_models.ledger_records import AssetRecord
    from etl_models.manifest import JoinConfig
    from etl_pipeline.lanes.batch import BatchRun
    from etl_storage.ledger import Ledger

JOIN_INTENT = "join_datasets"
SPATIAL_FORMATS = frozenset({"geoparquet"})
TABULAR_FORMATS = frozenset({"parquet", "geoparquet"})


@dataclass(frozen=True)
class JoinProblem:
    """A join input that cannot be used: the manifest field, and what to do."""

    field: str
    message: str


@dataclass(frozen=True)
class JoinResolution:
    """The parent versions a join reads (by role) and what is wrong with its inputs."""

    parents: Mapping[str, AssetRecord] = field(default_factory=dict)
    problems: list[JoinProblem] = field(default_factory=list)
    keys: Mapping[str, str] = field(default_factory=dict)
    """Side -> the key column's lake name (what the join runs on)."""

    def spec(self, config: JoinConfig) -> JoinSpec:
        """The join to run: ``config`` with its key columns by their lake names."""
        spec = JoinSpec.from_join_config(config)
        return spec.model_copy(
            update={
                "left_key": self.keys.get("tabular", spec.left_key),
                "right_key": self.keys.get("spatial", spec.spatial_key),
            }
        )


def resolve_join(ledger: Ledger, config: JoinConfig) -> JoinResolution:
    """The spatial and tabular versions ``config`` names, checked for kind and key columns."""
    sides = (
        ("spatial", config.spatial_dataset_id, config.spatial_version,
         config.effective_right_key, "right_key", SPATIAL_FORMATS),
        ("tabular", config.tabular_dataset_id, config.tabular_version,
         config.left_key, "left_key", TABULAR_FORMATS),
    )  # fmt: skip
    parents: dict[str, AssetRecord] = {}
    problems: list[JoinProblem] = []
    keys: dict[str, str] = {}
    for side, dataset_id, version, key_column, key_field, formats in sides:
        prefix = f"metadata.join_config.{side}"
        asset = (
            ledger.get_asset(dataset_id, version)
            if version is not None
            else ledger.latest_asset(dataset_id)
        )
        if asset is None:
            wanted = f"version {version} of " if version is not None else ""
            problems.append(
                JoinProblem(
                    f"{prefix}_dataset_id" if version is None else f"{prefix}_version",
                    f"{wanted}dataset {dataset_id!r} does not exist in the lake; ingest it "
                    "first or fix the id",
                )
            )
            continue
        if asset.format.lower() not in formats:
            need = "a vector (GeoParquet)" if side == "spatial" else "a tabular (Parquet)"
            problems.append(
                JoinProblem(
                    f"{prefix}_dataset_id",
                    f"{side} dataset {dataset_id} v{asset.version} is {asset.format}; the "
                    f"{side} side of a join must be {need} dataset",
                )
            )
            continue
        if asset.column_schema:  # versions recorded without a schema are checked by the run
            match = resolve_column(key_column, asset.column_schema)
            if match.column is None:
                problems.append(
                    JoinProblem(
                        f"metadata.join_config.{key_field}",
                        f"{side} dataset {dataset_id} v{asset.version}: {match.problem}; name "
                        "the key column as in the source file or the lake",
                    )
                )
                continue
            keys[side] = match.column
        parents[side] = asset
    return JoinResolution(parents, problems, keys)


@dataclass(frozen=True)
class JoinState:
    geometry_column: str
    report: Any = None  # etl_transforms.join.JoinReport


class JoinSteps(LaneSteps[JoinState]):
    kind = "join"
    output = GEOPARQUET
    uses_postgis = True

    def prepare(self, run: BatchRun, manifest: Any) -> Provenance:
        config = manifest.metadata.join_config
        if config is None:  # guaranteed by the manifest rules; kept for type narrowing
            raise LaneError("a join manifest needs metadata.join_config")
        resolution = resolve_join(run.services.ledger, config)
        if resolution.problems:
            raise LaneError("; ".join(p.message for p in resolution.problems))
        parents = [
            ParentAsset(asset_id=a.id, dataset_id=a.dataset_id, version=a.version, role=role)
            for role, a in resolution.parents.items()
        ]
        return Provenance(
            parents=parents,
            parent_assets=resolution.parents,
            recipe_params={"join": resolution.spec(config).fingerprint()},
        )

    def load(self, work: Work) -> JoinState:
        import pyarrow.parquet as pq

        from etl_spatial.arrow_io import load_parquet
        from etl_spatial.geoparquet import primary_geometry_column

        store, postgis = work.run.services.store, work.run.services.postgis
        spatial = work.provenance.parent_assets["spatial"]
        tabular = work.provenance.parent_assets["tabular"]
        store.download_from_lake(spatial.s3_key, work.tmp / "spatial.parquet")
        store.download_from_lake(tabular.s3_key, work.tmp / "tabular.parquet")
        # Streamed file -> PostGIS in batches: memory does not grow with the parents' size.
        geometry_column = primary_geometry_column(pq.read_schema(work.tmp / "spatial.parquet"))
        load_parquet(
            postgis,
            work.schema,
            "spatial",
            work.tmp / "spatial.parquet",
            geometry_column=geometry_column,
        )
        load_parquet(postgis, work.schema, "tabular", work.tmp / "tabular.parquet")
        return JoinState(geometry_column)

    def compute(self, work: Work, state: JoinState) -> JoinState:
        from etl_transforms.join import run_join

        spec = JoinSpec.model_validate(work.provenance.recipe_params["join"])
        with work.schema.connect() as conn:
            report = run_join(
                conn, work.schema, tabular_table="tabular", spatial_table="spatial", spec=spec,
                options=work.recipe.params, geom=state.geometry_column,
            )  # fmt: skip
            conn.commit()
        work.run.log(
            f"join {spec.how} (key_match {spec.key_match}): {report.rows_out} rows, "
            f"{report.matched_tabular_rows}/{report.tabular_rows} tabular rows and "
            f"{report.matched_spatial_rows}/{report.spatial_rows} spatial rows matched"
        )
        failure = no_match_error(report)
        if failure:
            raise LaneError(failure)
        return JoinState(state.geometry_column, report)

    def export(self, work: Work, state: JoinState) -> LaneOutput:
        from etl_spatial.geoparquet_stream import export_geoparquet

        # Streamed and sorted in PostGIS: the run worker never holds the joined table.
        written = export_geoparquet(
            work.run.services.postgis,
            work.schema,
            "joined",
            work.output_path,
            geometry_column=state.geometry_column,
        )
        meta = written.metadata
        missing = written.null_geometries  # unmatched tabular rows of left/outer joins
        report = state.report
        return LaneOutput(
            path=work.output_path,
            row_count=meta.row_count,
            bounds=meta.bounds,
            crs=meta.crs,
            source_crs=work.provenance.parent_assets["spatial"].crs,
            geometry_types=meta.geometry_types,
            columns=columns_of(meta.column_schema, joined_source_names(work, report)),
            quality=QualityFacts(
                crs=meta.crs,
                output_rows=meta.row_count,
                source_rows=report.rows_out,
                invalid_geometries=written.invalid_geometries,
                empty_geometries=written.empty_geometries,
            ),
            report={
                "join": report.model_dump(mode="json"),
                "match": match_summary(work.manifest.metadata.join_config, report),
                "rows_without_geometry": missing,
            },
        )

    def warnings(self, work: Work, output: LaneOutput) -> list[str]:
        return join_warnings(output.report)

    def stac_properties(self, work: Work, output: LaneOutput) -> dict[str, Any]:
        match = output.report["match"]
        return {"etl:join": {k: match[k] for k in ("keep", "key_match", "rates")}}


def joined_source_names(work: Work, report: Any) -> dict[str, str]:
    """Output column -> source name, from both parents (tabular columns renamed on a
    collision keep their source name)."""
    parents = work.provenance.parent_assets
    names = {c.name: c.source_name for c in parents["spatial"].column_schema if c.source_name}
    for column in parents["tabular"].column_schema:
        if column.source_name:
            names.setdefault(
                report.column_renames.get(column.name, column.name), column.source_name
            )
    return names


LANE = Lane(
    name="join",
    description=(
        "A tabular dataset joined onto a spatial dataset by key in PostGIS; keeps the rows "
        "join_config.keep says, the geometry and every attribute of both sides; records the "
        "versions used and the match rates, and warns when they are low."
    ),
    code_location="asset_lanes",
    sensor="join_sensor",
    job="join_asset_job",
    asset="joined_spatial_asset",
    asset_kinds=frozenset({"postgis", "geoparquet"}),
    recipes={
        JOIN_INTENT: make_recipe(
            "tabular_spatial_join",
            "join",
            JoinOptions(),
            "tabular joined onto spatial by key in PostGIS (key rule: join_config.key_match)",
        )
    },
    steps={"join": JoinSteps()},
    checks=JOIN_CHECKS,
)
