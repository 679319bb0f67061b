"""``etl submit``: upload files and their manifest as a batch, optionally follow it."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from etl_cli.cli import EPILOG, app
from etl_cli.follow import final_fields, follow
from etl_cli.invocation import current, guarded
from etl_cli.options import (
    BatchIdOption,
    DatasetIdOption,
    DescriptionOption,
    DryRunOption,
    FileTypeOption,
    IntervalOption,
    JsonOption,
    ProjectOption,
    TagOption,
    TimeoutOption,
    TitleOption,
    UploaderOption,
    WaitOption,
    uploader_name,
)
from etl_cli.output import print_json, stderr_console

if TYPE_CHECKING:
    from etl_cli.submission import SubmissionPlan


def deliver(
    plan: SubmissionPlan,
    *,
    wait: bool,
    timeout: float,
    interval: float,
    json_output: bool,
    after_upload=None,
) -> None:
    """Upload ``plan`` (files, then manifest), print the batch id, optionally follow it.

    ``after_upload(plan)`` runs once the manifest is in the landing zone (``resubmit`` links
    the new batch to the old one there)."""
    from etl_cli.output import byte_progress, human_bytes
    from etl_cli.transfers import ensure_batch_id_free, upload_batch

    services = current().services
    err = stderr_console()
    for note in plan.notes:
        err.print(f"[yellow]note:[/] {note}")
    store, ledger = services.store, services.ledger

    def file_done(item) -> None:
        if not err.is_terminal:
            err.print(f"uploaded s3://{store.landing_bucket}/{item.key} ({human_bytes(item.size)})")

    # Refuse a taken batch id before the progress bar appears.
    earlier = ensure_batch_id_free(store, ledger, plan.batch_id)
    with byte_progress(err, plan.total_bytes, f"uploading {len(plan.uploads)} file(s)") as sink:
        submitted = upload_batch(store, ledger, plan, sink, file_done, earlier)
    if after_upload is not None:
        after_upload(plan)
    summary = plan.summary()
    if not json_output:
        typer.echo(plan.batch_id)
        err.print(
            f"submitted s3://{store.landing_bucket}/{plan.manifest_key} "
            f"(dataset {plan.dataset_id}, lane {plan.lane})"
        )
    if not wait:
        if json_output:
            print_json(summary)
        return
    status = follow(
        plan.batch_id,
        timeout=timeout,
        interval=interval,
        json_output=json_output,
        ignore_intakes=submitted.earlier_intake_ids,
        on_timeout=(lambda last: {**summary, **final_fields(last), "timed_out": True})
        if json_output
        else None,
    )
    if json_output:
        print_json({**summary, **final_fields(status), "timed_out": False})
    else:
        from etl_cli.output import render_status

        render_status(err, status)
    raise typer.Exit(int(status.exit_code))


def print_dry_run(plan: SubmissionPlan, json_output: bool) -> None:
    """Show what a submission would upload, and the manifest (nothing is uploaded)."""
    if json_output:
        print_json({**plan.summary(), "manifest": plan.manifest, "dry_run": True})
        return
    err = stderr_console()
    for note in plan.notes:
        err.print(f"[yellow]note:[/] {note}")
    for item in plan.uploads:
        err.print(f"would upload {item.local_path} -> {item.key}")
    err.print(f"would write {plan.manifest_key} (dataset {plan.dataset_id}, lane {plan.lane}):")
    sys.stdout.write(plan.manifest_bytes().decode("utf-8"))


@app.command(no_args_is_help=True, epilog=EPILOG)
@guarded
def submit(
    paths: Annotated[
        list[Path],
        typer.Argument(
            exists=True, dir_okay=False, readable=True, help="Files of the batch (one dataset)."
        ),
    ],
    intent: Annotated[
        str,
        typer.Option(
            "--intent",
            "-i",
            help="ingest_vector | ingest_raster | ingest_tabular, or another (legacy) intent.",
        ),
    ],
    file_type: FileTypeOption = None,
    dataset_id: DatasetIdOption = None,
    batch_id: BatchIdOption = None,
    crs: Annotated[
        str | None, typer.Option("--crs", help="Declare the source CRS, e.g. EPSG:28355.")
    ] = None,
    file_format: Annotated[
        str | None, typer.Option("--format", help="GDAL format when the extension is unusual.")
    ] = None,
    layer: Annotated[str | None, typer.Option("--layer", help="Layer to read (GPKG).")] = None,
    x_column: Annotated[str | None, typer.Option("--x-column", help="CSV points: x.")] = None,
    y_column: Annotated[str | None, typer.Option("--y-column", help="CSV points: y.")] = None,
    wkt_column: Annotated[str | None, typer.Option("--wkt-column", help="CSV: WKT.")] = None,
    delimiter: Annotated[str | None, typer.Option("--delimiter", help="CSV delimiter.")] = None,
    encoding: Annotated[
        str | None,
        typer.Option(
            "--encoding",
            help="Text encoding of a CSV, GeoJSON or Shapefile .dbf that is not UTF-8 "
            "(e.g. cp1252, latin-1); overrides a Shapefile's .cpg.",
        ),
    ] = None,
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
    """Upload files as a batch (validated first; manifest last) and print the batch id.

    Shapefile sidecars (.shx .dbf .prj .cpg ...) beside a .shp are uploaded too. The file type
    comes from --type, else the intent, else the extension (CSV needs --type with other
    intents). --wait follows the batch: exit 0 on success, 1 on failure/rejection/cancel."""
    from etl_cli.submission import (
        DescriptiveMetadata,
        FileOptionsInput,
        parse_tags,
        plan_submission,
    )

    env = current().environment
    plan = plan_submission(
        paths,
        intent=intent,
        uploader=uploader_name(uploader),
        landing_bucket=env.object_store_settings().landing_bucket,
        file_type=file_type,
        dataset_id=dataset_id,
        batch_id=batch_id,
        crs=crs,
        file_format=file_format,
        layer=layer,
        options=FileOptionsInput(delimiter, encoding, x_column, y_column, wkt_column),
        metadata=DescriptiveMetadata(title, description, project, parse_tags(tags)),
    )
    if dry_run:
        print_dry_run(plan, json_output)
        return
    deliver(plan, wait=wait, timeout=timeout, interval=interval, json_output=json_output)
