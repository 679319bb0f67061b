"""The join lane: a tabular dataset joined onto a spatial dataset by key in PostGIS, written as
GeoParquet (intent ``join_datasets``).

:func:`resolve_join` is the one place join inputs are checked: intake calls it to reject a
join that cannot run, the lane to find its parents and the CLI before it submits.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from etl_models.ledger_records import ParentAsset
from etl_pipeline.lanes.contract import LaneError, LaneOutput, QualityFacts, columns_of
from etl_pipeline.lanes.declaration import SPATIAL_CHECKS, Lane, LaneSteps, Provenance, Work
from etl_pipeline.lanes.spatial import GEOPARQUET
from etl_transforms.join import JoinOptions
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
        if asset.format not in formats:
            need = "a vector (GeoParquet)" if side == "spatial" else "a tabular (Parquet)"
            problems.append(
                JoinProblem(
                    f"{prefix}_dataset_id",
                    f"{side} dataset {dataset_id} v{asset.version} is {asset.format}; the "
                    f"{side} side of a join must be {need} dataset",
                )
            )
            continue
        columns = [c.name for c in asset.column_schema]
        if columns and key_column not in columns:
            problems.append(
                JoinProblem(
                    f"metadata.join_config.{key_field}",
                    f"column {key_column!r} is not in {side} dataset {dataset_id} "
                    f"v{asset.version}; available columns: {', '.join(columns)}",
                )
            )
            continue
        parents[side] = asset
    return JoinResolution(parents, problems)


@dataclass(frozen=True)
class JoinState:
    geometry_column: str
    report: Any = None  # etl_transforms.join.JoinReport


class JoinSteps(LaneSteps[JoinState]):
    kind = "join"
    output = GEOPARQUET
    uses_postgis = True

    def prepare(self, run: BatchRun, manifest: Any) -> Provenance:
        from etl_transforms.join import JoinSpec

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
        spec = JoinSpec.from_join_config(config)
        return Provenance(
            parents=parents,
            parent_assets=resolution.parents,
            recipe_params={"join": spec.model_dump(mode="json")},
        )

    def load(self, work: Work) -> JoinState:
        import pyarrow.parquet as pq

        from etl_spatial.arrow_io import load_arrow_table
        from etl_spatial.geoparquet import primary_geometry_column

        store, postgis = work.run.services.store, work.run.services.postgis
        spatial = work.provenance.parent_assets["spatial"]
        tabular = work.provenance.parent_assets["tabular"]
        store.download_from_lake(spatial.s3_key, work.tmp / "spatial.parquet")
        store.download_from_lake(tabular.s3_key, work.tmp / "tabular.parquet")
        spatial_table = pq.read_table(work.tmp / "spatial.parquet")
        geometry_column = primary_geometry_column(spatial_table.schema)
        load_arrow_table(
            postgis, work.schema, "spatial", spatial_table, geometry_column=geometry_column
        )
        del spatial_table
        tabular_table = pq.read_table(work.tmp / "tabular.parquet")
        load_arrow_table(postgis, work.schema, "tabular", tabular_table)
        return JoinState(geometry_column)

    def compute(self, work: Work, state: JoinState) -> JoinState:
        from etl_transforms.join import JoinSpec, run_join

        spec = JoinSpec.from_join_config(work.manifest.metadata.join_config)
        with work.schema.connect() as conn:
            report = run_join(
                conn, work.schema, tabular_table="tabular", spatial_table="spatial", spec=spec,
                options=work.recipe.params, geom=state.geometry_column,
            )  # fmt: skip
            conn.commit()
        work.run.log(
            f"join {spec.how}: {report.rows_out} rows, match rate {report.match_rate:.1%}, "
            f"{report.unmatched_tabular_keys.count} unmatched tabular keys"
        )
        return JoinState(state.geometry_column, report)

    def export(self, work: Work, state: JoinState) -> LaneOutput:
        from etl_spatial.arrow_io import export_geodataframe
        from etl_spatial.writers import write_geoparquet

        frame = export_geodataframe(
            work.run.services.postgis, work.schema, "joined", geometry_column=state.geometry_column
        )
        meta = write_geoparquet(frame, work.output_path)
        geoms = frame.geometry
        missing = int(geoms.isna().sum())  # unmatched tabular rows of left/outer joins
        report = state.report
        return LaneOutput(
            path=work.output_path,
            row_count=meta.row_count,
            bounds=meta.bounds,
            crs=meta.crs,
            source_crs=work.provenance.parent_assets["spatial"].crs,
            geometry_types=meta.geometry_types,
            columns=columns_of(meta.column_schema),
            quality=QualityFacts(
                crs=meta.crs,
                output_rows=meta.row_count,
                source_rows=report.rows_out,
                invalid_geometries=int((~geoms.is_valid & geoms.notna()).sum()),
                empty_geometries=int(geoms.is_empty.sum()),
            ),
            report={"join": report.model_dump(mode="json"), "rows_without_geometry": missing},
        )


LANE = Lane(
    name="join",
    description=(
        "A tabular dataset (left side) joined onto a spatial dataset by key in PostGIS; keeps "
        "the geometry and every attribute of both sides, records versions used and match rate."
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
            "tabular (left) joined onto spatial by a text key in PostGIS",
        )
    },
    steps={"join": JoinSteps()},
    checks=SPATIAL_CHECKS,
)
