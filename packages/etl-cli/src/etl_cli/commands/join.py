"""``etl join``: submit a join manifest (a tabular dataset joined onto a spatial one)."""

from __future__ import annotations

from typing import Annotated

import typer

from etl_cli.cli import EPILOG, app
from etl_cli.commands.submit import deliver, print_dry_run
from etl_cli.invocation import current, guarded
from etl_cli.options import (
    BatchIdOption,
    DatasetIdOption,
    DescriptionOption,
    DryRunOption,
    IntervalOption,
    JoinHow,
    JoinKeep,
    JsonOption,
    KeyMatch,
    ProjectOption,
    TagOption,
    TimeoutOption,
    TitleOption,
    UploaderOption,
    WaitOption,
    uploader_name,
)


@app.command(no_args_is_help=True, epilog=EPILOG)
@guarded
def join(
    spatial_dataset: Annotated[str, typer.Argument(help="Spatial dataset, DATASET[@vN].")],
    tabular_dataset: Annotated[str, typer.Argument(help="Tabular dataset, DATASET[@vN].")],
    left_key: Annotated[str, typer.Option("--left-key", help="Key column of the tabular dataset.")],
    right_key: Annotated[
        str | None,
        typer.Option("--right-key", help="Key column of the spatial dataset (default: left key)."),
    ] = None,
    keep: Annotated[
        JoinKeep | None,
        typer.Option(
            "--keep",
            case_sensitive=False,
            help="Rows kept: spatial (every feature; the default), tabular (every row), both, "
            "matched.",
        ),
    ] = None,
    how: Annotated[
        JoinHow | None,
        typer.Option(
            "--how",
            case_sensitive=False,
            help="Older form of --keep, tabular = left (left keeps every tabular row).",
        ),
    ] = None,
    key_match: Annotated[
        KeyMatch,
        typer.Option(
            "--key-match",
            case_sensitive=False,
            help="exact | trimmed | casefold | numeric ('01' = '1' = 1.0).",
        ),
    ] = KeyMatch.trimmed,
    min_match_rate: Annotated[
        float,
        typer.Option("--min-match-rate", min=0.0, max=1.0, help="Warn below this match rate."),
    ] = 0.9,
    dataset_id: DatasetIdOption = None,
    batch_id: BatchIdOption = None,
    title: TitleOption = None,
    description: DescriptionOption = None,
    project: ProjectOption = None,
    tags: TagOption = None,
    uploader: UploaderOption = None,
    wait: WaitOption = False,
    timeout: TimeoutOption = 3600.0,
    interval: IntervalOption = 2.0,
    dry_run: DryRunOption = False,
    json_output: JsonOption = False,
) -> None:
    """Submit a join manifest: a tabular dataset joined onto a spatial one.

    Keys may be named as in the source files or as in the lake, in any letter case. A version
    pinned as DATASET@vN is used as is; otherwise the platform takes the latest. Both datasets,
    their kinds and the key columns are checked first. The join is named SPATIAL_TABULAR
    unless --dataset-id says otherwise."""
    from etl_cli.catalog import check_join, parse_dataset_ref
    from etl_cli.submission import DescriptiveMetadata, parse_tags, plan_join

    spatial = parse_dataset_ref(spatial_dataset)
    tabular = parse_dataset_ref(tabular_dataset)
    invocation = current()
    plan = plan_join(
        spatial_dataset_id=spatial.dataset_id,
        tabular_dataset_id=tabular.dataset_id,
        spatial_version=spatial.version,
        tabular_version=tabular.version,
        left_key=left_key,
        right_key=right_key,
        keep=keep.value if keep else None,
        how=how.value if how else None,
        key_match=key_match.value,
        min_match_rate=min_match_rate,
        uploader=uploader_name(uploader),
        landing_bucket=invocation.environment.object_store_settings().landing_bucket,
        dataset_id=dataset_id,
        batch_id=batch_id,
        metadata=DescriptiveMetadata(title, description, project, parse_tags(tags)),
    )
    if dry_run:
        print_dry_run(plan, json_output)
        return
    check_join(invocation.services.ledger, plan.parsed.metadata.join_config)
    deliver(plan, wait=wait, timeout=timeout, interval=interval, json_output=json_output)
