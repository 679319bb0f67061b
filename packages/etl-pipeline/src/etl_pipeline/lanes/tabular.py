"""The tabular lane: a CSV streamed to Parquet, headers normalised with the mapping kept and
leading-zero codes kept as text (intent ``ingest_tabular``)."""

from __future__ import annotations

from pathlib import Path

from etl_pipeline.lanes.contract import LaneOutput, OutputFormat, QualityFacts, columns_of
from etl_pipeline.lanes.declaration import TABULAR_CHECKS, FileFormats, Lane, LaneSteps, Work
from etl_transforms.registry import make_recipe
from etl_transforms.tabular import TabularOptions

PARQUET_MEDIA_TYPE = "application/vnd.apache.parquet"
PARQUET = OutputFormat("data.parquet", PARQUET_MEDIA_TYPE, "parquet")


class TabularSteps(LaneSteps[Path]):
    kind = "tabular"
    output = PARQUET

    def load(self, work: Work) -> Path:
        """Download the CSV (named as the user named it, so messages name their file)."""
        source = work.manifest.files[0]
        local = work.tmp / "source" / Path(source.key).name
        local.parent.mkdir()
        work.run.services.store.download_from_landing(source.key, local)
        return local

    def export(self, work: Work, state: Path) -> LaneOutput:
        from etl_transforms.tabular import csv_to_parquet
        from etl_transforms.tabular_reader import count_csv_records

        options = work.recipe.params
        name = f"files[0] ({work.manifest.files[0].path})"  # the user's name for the file
        report = csv_to_parquet(state, work.output_path, options, name=name)
        work.run.log(f"converted {report.row_count} rows, {len(report.column_schema)} columns")
        return LaneOutput(
            path=work.output_path,
            row_count=report.row_count,
            bounds=None,
            crs=None,
            source_crs=None,
            geometry_types=[],
            columns=columns_of(report.column_schema),
            quality=QualityFacts(
                crs=None,
                output_rows=report.row_count,
                source_rows=count_csv_records(state, options, name=name),
                kind="tabular",
            ),
            report={
                "header_mapping": report.header_mapping.as_records(),
                "string_id_columns": list(report.string_id_columns),
            },
        )


STEPS = {"tabular": TabularSteps()}
TABULAR_FORMATS = FileFormats(
    aliases={"csv": "CSV", "tsv": "CSV", "txt": "CSV"},
    extensions={".csv": "CSV", ".tsv": "CSV", ".txt": "CSV"},
    max_files_per_batch=1,  # one CSV is one table
)
FILE_FORMATS = {"tabular": TABULAR_FORMATS}

LANE = Lane(
    name="tabular",
    description=(
        "One version of a tabular dataset per batch: a CSV streamed to Parquet with headers "
        "normalised (mapping kept) and leading-zero codes kept as text."
    ),
    code_location="asset_lanes",
    sensor="tabular_sensor",
    job="tabular_asset_job",
    asset="raw_tabular_asset",
    asset_kinds=frozenset({"csv", "parquet"}),
    recipes={
        "ingest_tabular": make_recipe(
            "csv_to_parquet",
            "tabular",
            TabularOptions(),
            "streamed CSV -> Parquet, normalised headers, leading-zero codes kept as text",
        )
    },
    steps=STEPS,
    file_formats=FILE_FORMATS,
    checks=TABULAR_CHECKS,
)
